//! attune head-link protocol: the messages between host and head firmware and
//! their framing. `no_std`, shared by `firmware/` and `hardware/`.
//!
//! # Layout
//! - [`msg`] — the message types: [`HostFrame`] (host → head) and [`HeadMsg`]
//!   (head → host), poses in degrees, telemetry, typed command errors.
//! - [`frame`] — framing: `[version | postcard(msg) | crc16-le]`, COBS-encoded,
//!   terminated by `0x00`; [`FrameDecoder`] works in a fixed buffer, never
//!   panics and re-synchronises on the next `0x00` after garbage.
//! - [`crc`] — CRC-16/CCITT-FALSE used by the frame trailer.
//! - [`cobs`] — consistent-overhead byte stuffing, encode and in-place decode.
//! - [`fuzzing`] — the decoder fuzz body, shared by `fuzz/` (cargo-fuzz,
//!   nightly) and a stable proptest in this crate.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

pub mod cobs;
pub mod crc;
pub mod frame;
pub mod fuzzing;
pub mod msg;

pub use frame::{encode_frame, DecoderStats, FrameDecoder, FrameError, MAX_FRAME};
pub use msg::*;

/// Wire protocol version. Sent in every frame header and in the handshake;
/// a frame with another version is rejected and counted.
pub const PROTOCOL_VERSION: u8 = 1;
