//! attune's dialogue engine: the attunement-first turn pipeline that every arm
//! (robot, voice, chatbot) shares, so that embodiment is the only difference
//! between study conditions.
//!
//! # Layout
//! - [`text`] — input sanitising, streaming sentence splitting.
//! - [`crisis`] — deterministic risk grading and crisis state (runs first).
//! - [`reasoner`] — what the participant did this turn.
//! - [`strategy`] — ESConv strategy coder for replies.
//! - [`validator`] — checks each draft before it is spoken.
//! - [`reflect`] — deterministic reflective-listening fallback.

pub mod config;
pub mod crisis;
pub mod reasoner;
pub mod reflect;
pub mod strategy;
pub mod text;
pub mod validator;
