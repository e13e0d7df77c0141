//! attune head-link protocol: the messages between host and head firmware and
//! their framing. `no_std`, shared by `firmware/` and `hardware/`.
//!
//! # Layout
//! (filled by the servo-head issue)
#![cfg_attr(not(test), no_std)]
