//! Behavior planner (gaze, nods, posture). Filled by the robot-arm issue; the
//! crate exists now so the dependency picture in CONVENTIONS.md holds.
#![cfg_attr(not(test), no_std)]
