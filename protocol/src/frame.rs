//! Framing: `cobs([PROTOCOL_VERSION, postcard(msg).., crc16_le]) ++ [0x00]`.
//!
//! The CRC covers the version byte and the postcard body. A receiver that
//! joins mid-stream, or sees garbage, loses at most the frame in progress: the
//! next `0x00` starts a fresh frame.

use crate::{cobs, crc::crc16, PROTOCOL_VERSION};
use serde::{de::DeserializeOwned, Serialize};

/// Largest raw (unstuffed) frame: version + body + CRC. The largest message,
/// [`crate::HeadMsg::Telemetry`], is about 110 bytes.
pub const MAX_RAW: usize = 160;
/// Largest encoded frame, delimiter included. Also the decoder's buffer size.
pub const MAX_FRAME: usize = cobs::max_encoded_len(MAX_RAW) + 1;

/// What went wrong with a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// The message does not fit in [`MAX_RAW`] (encoder side).
    TooLarge,
    /// The COBS stuffing is broken.
    Cobs,
    /// Shorter than version + CRC.
    TooShort,
    /// The CRC does not match.
    Crc,
    /// The version byte is not [`PROTOCOL_VERSION`].
    Version(u8),
    /// The body is not a valid message (or has trailing bytes).
    Decode,
    /// More than [`MAX_FRAME`] bytes without a delimiter; dropped.
    Overflow,
}

impl core::fmt::Display for FrameError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            FrameError::TooLarge => write!(f, "message too large for a frame"),
            FrameError::Cobs => write!(f, "broken COBS stuffing"),
            FrameError::TooShort => write!(f, "frame shorter than header and CRC"),
            FrameError::Crc => write!(f, "CRC mismatch"),
            FrameError::Version(v) => {
                write!(f, "protocol version {v} in frame, expected {PROTOCOL_VERSION}")
            }
            FrameError::Decode => write!(f, "frame body is not a valid message"),
            FrameError::Overflow => write!(f, "frame longer than {MAX_FRAME} bytes"),
        }
    }
}

/// Encodes `msg` as one frame (with trailing `0x00`) into `out`; returns the
/// number of bytes written.
pub fn encode_frame<T: Serialize>(msg: &T, out: &mut [u8; MAX_FRAME]) -> Result<usize, FrameError> {
    let mut raw = [0u8; MAX_RAW];
    raw[0] = PROTOCOL_VERSION;
    let body_len = postcard::to_slice(msg, &mut raw[1..MAX_RAW - 2])
        .map_err(|_| FrameError::TooLarge)?
        .len();
    let n = 1 + body_len;
    let crc = crc16(&raw[..n]).to_le_bytes();
    raw[n] = crc[0];
    raw[n + 1] = crc[1];
    let enc = cobs::encode(&raw[..n + 2], &mut out[..MAX_FRAME - 1]).ok_or(FrameError::TooLarge)?;
    out[enc] = 0;
    Ok(enc + 1)
}

/// Counts of what the decoder has seen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DecoderStats {
    /// Valid frames.
    pub frames_ok: u32,
    /// Broken COBS.
    pub cobs_errors: u32,
    /// Too short to hold header + CRC.
    pub short_errors: u32,
    /// CRC mismatches.
    pub crc_errors: u32,
    /// Foreign protocol versions.
    pub version_errors: u32,
    /// Undecodable bodies.
    pub decode_errors: u32,
    /// Over-long frames.
    pub overflows: u32,
}

impl DecoderStats {
    /// All errors together.
    pub fn errors(&self) -> u32 {
        self.cobs_errors
            .saturating_add(self.short_errors)
            .saturating_add(self.crc_errors)
            .saturating_add(self.version_errors)
            .saturating_add(self.decode_errors)
            .saturating_add(self.overflows)
    }
}

/// Streaming frame decoder over a fixed buffer.
///
/// Feed it one byte at a time; it yields a result at each delimiter. It never
/// allocates and never panics; after an error it starts over at the next
/// `0x00`.
#[derive(Debug, Clone)]
pub struct FrameDecoder {
    /// Bytes of the frame in progress (stuffed).
    buf: [u8; MAX_FRAME],
    /// Bytes used in `buf`.
    len: usize,
    /// The frame in progress outgrew `buf`; it is discarded at the delimiter.
    overflow: bool,
    /// What has been seen so far.
    pub stats: DecoderStats,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl FrameDecoder {
    /// An empty decoder.
    pub const fn new() -> Self {
        FrameDecoder {
            buf: [0; MAX_FRAME],
            len: 0,
            overflow: false,
            stats: DecoderStats {
                frames_ok: 0,
                cobs_errors: 0,
                short_errors: 0,
                crc_errors: 0,
                version_errors: 0,
                decode_errors: 0,
                overflows: 0,
            },
        }
    }

    /// Drops the frame in progress (e.g. after a reconnect).
    pub fn reset(&mut self) {
        self.len = 0;
        self.overflow = false;
    }

    /// Feeds one byte. Returns `Some` at a delimiter that ended a non-empty
    /// frame: the message, or why the frame was dropped.
    pub fn push<T: DeserializeOwned>(&mut self, byte: u8) -> Option<Result<T, FrameError>> {
        if byte != 0 {
            if self.len < self.buf.len() {
                self.buf[self.len] = byte;
                self.len += 1;
            } else {
                self.overflow = true;
            }
            return None;
        }
        if self.overflow {
            self.reset();
            self.stats.overflows = self.stats.overflows.saturating_add(1);
            return Some(Err(FrameError::Overflow));
        }
        if self.len == 0 {
            // Back-to-back delimiters: senders may emit one to flush a
            // partial frame on the other side; not an error.
            return None;
        }
        let n = self.len;
        self.len = 0;
        let r = self.decode_body(n);
        let s = &mut self.stats;
        match r {
            Ok(_) => s.frames_ok = s.frames_ok.saturating_add(1),
            Err(FrameError::Cobs) => s.cobs_errors = s.cobs_errors.saturating_add(1),
            Err(FrameError::TooShort) => s.short_errors = s.short_errors.saturating_add(1),
            Err(FrameError::Crc) => s.crc_errors = s.crc_errors.saturating_add(1),
            Err(FrameError::Version(_)) => s.version_errors = s.version_errors.saturating_add(1),
            Err(_) => s.decode_errors = s.decode_errors.saturating_add(1),
        }
        Some(r)
    }

    fn decode_body<T: DeserializeOwned>(&mut self, n: usize) -> Result<T, FrameError> {
        let raw_len = cobs::decode_in_place(&mut self.buf[..n]).ok_or(FrameError::Cobs)?;
        if raw_len < 3 {
            return Err(FrameError::TooShort);
        }
        let raw = &self.buf[..raw_len];
        let (data, crc_bytes) = raw.split_at(raw_len - 2);
        let got = u16::from_le_bytes([crc_bytes[0], crc_bytes[1]]);
        if crc16(data) != got {
            return Err(FrameError::Crc);
        }
        if data[0] != PROTOCOL_VERSION {
            return Err(FrameError::Version(data[0]));
        }
        match postcard::take_from_bytes::<T>(&data[1..]) {
            Ok((msg, [])) => Ok(msg),
            _ => Err(FrameError::Decode),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msg::*;
    use proptest::prelude::*;

    fn decode_all<T: DeserializeOwned>(d: &mut FrameDecoder, bytes: &[u8]) -> Vec<Result<T, FrameError>> {
        bytes.iter().filter_map(|&b| d.push::<T>(b)).collect()
    }

    fn enc<T: Serialize>(m: &T) -> Vec<u8> {
        let mut out = [0u8; MAX_FRAME];
        let n = encode_frame(m, &mut out).unwrap();
        out[..n].to_vec()
    }

    fn big_telemetry() -> HeadMsg {
        HeadMsg::Telemetry(Telemetry {
            t_ms: u32::MAX,
            angles: Pose::from_array([f32::MAX; 4]),
            targets: Pose::from_array([f32::MIN; 4]),
            pulse_us: [u16::MAX; 4],
            mode: Mode::EStop,
            faults: Faults(u16::MAX),
            heartbeat_age_ms: u32::MAX,
            counters: Counters {
                frames_ok: u32::MAX,
                cobs_errors: u32::MAX,
                crc_errors: u32::MAX,
                version_errors: u32::MAX,
                decode_errors: u32::MAX,
                overflows: u32::MAX,
                clamped: u32::MAX,
                rejected: u32::MAX,
                watchdog_trips: u32::MAX,
                tx_errors: u32::MAX,
            },
        })
    }

    #[test]
    fn the_largest_message_fits_in_a_frame() {
        let bytes = enc(&big_telemetry());
        assert!(bytes.len() <= MAX_FRAME);
        let mut d = FrameDecoder::new();
        let out = decode_all::<HeadMsg>(&mut d, &bytes);
        assert_eq!(out, vec![Ok(big_telemetry())]);
    }

    #[test]
    fn a_flipped_bit_is_caught_by_the_crc() {
        let mut bytes = enc(&HostFrame { seq: 7, msg: HostMsg::Park });
        bytes[2] ^= 0x10;
        if bytes[2] == 0 {
            bytes[2] = 0x55;
        }
        let mut d = FrameDecoder::new();
        let out = decode_all::<HostFrame>(&mut d, &bytes);
        assert_eq!(out.len(), 1);
        assert!(out[0].is_err());
        assert_eq!(d.stats.frames_ok, 0);
        assert_eq!(d.stats.errors(), 1);
    }

    #[test]
    fn a_frame_from_another_protocol_version_is_rejected_by_name() {
        let mut raw = vec![PROTOCOL_VERSION + 1];
        raw.extend_from_slice(&postcard::to_allocvec_shim(&HostFrame { seq: 1, msg: HostMsg::Heartbeat }));
        let crc = crc16(&raw).to_le_bytes();
        raw.extend_from_slice(&crc);
        let mut stuffed = vec![0u8; cobs::max_encoded_len(raw.len())];
        let n = cobs::encode(&raw, &mut stuffed).unwrap();
        stuffed.truncate(n);
        stuffed.push(0);
        let mut d = FrameDecoder::new();
        let out = decode_all::<HostFrame>(&mut d, &stuffed);
        assert_eq!(out, vec![Err(FrameError::Version(PROTOCOL_VERSION + 1))]);
    }

    #[test]
    fn an_oversized_frame_is_dropped_and_the_next_one_decodes() {
        let mut bytes = vec![0x42u8; MAX_FRAME * 3];
        let good = HostFrame { seq: 9, msg: HostMsg::Stop };
        bytes.push(0);
        bytes.extend(enc(&good));
        let mut d = FrameDecoder::new();
        let out = decode_all::<HostFrame>(&mut d, &bytes);
        assert_eq!(out, vec![Err(FrameError::Overflow), Ok(good)]);
        assert_eq!(d.stats.overflows, 1);
    }

    #[test]
    fn a_truncated_frame_spoils_only_itself() {
        let a = enc(&HostFrame { seq: 1, msg: HostMsg::Park });
        let b = HostFrame { seq: 2, msg: HostMsg::Heartbeat };
        let mut bytes = a[..a.len() / 2].to_vec();
        bytes.push(0);
        bytes.extend(enc(&b));
        let mut d = FrameDecoder::new();
        let out = decode_all::<HostFrame>(&mut d, &bytes);
        assert_eq!(out.len(), 2);
        assert!(out[0].is_err());
        assert_eq!(out[1], Ok(b));
    }

    // postcard's alloc helpers need its `alloc` feature; tests build the raw
    // body through to_slice instead so the crate keeps a single feature set.
    mod postcard {
        pub fn to_allocvec_shim<T: serde::Serialize>(v: &T) -> Vec<u8> {
            let mut buf = [0u8; 256];
            ::postcard::to_slice(v, &mut buf).unwrap().to_vec()
        }
    }

    pub(crate) fn arb_f32() -> impl Strategy<Value = f32> {
        prop_oneof![-1000.0f32..1000.0, Just(f32::NAN), Just(f32::INFINITY), any::<f32>()]
    }

    fn arb_target() -> impl Strategy<Value = PoseTarget> {
        proptest::array::uniform4(proptest::option::of(arb_f32())).prop_map(PoseTarget::from_array)
    }

    fn arb_host_msg() -> impl Strategy<Value = HostMsg> {
        prop_oneof![
            any::<u8>().prop_map(|protocol| HostMsg::Hello { protocol }),
            Just(HostMsg::Heartbeat),
            (arb_target(), any::<u16>()).prop_map(|(target, duration_ms)| HostMsg::SetPose { target, duration_ms }),
            prop_oneof![Just(GestureKind::Nod), Just(GestureKind::Shake), Just(GestureKind::Tilt)]
                .prop_map(|kind| HostMsg::Gesture { kind }),
            Just(HostMsg::Park),
            Just(HostMsg::Stop),
            Just(HostMsg::EStop),
            Just(HostMsg::Resume),
            any::<u8>().prop_map(|every_ticks| HostMsg::Subscribe { every_ticks }),
        ]
    }

    fn arb_head_msg() -> impl Strategy<Value = HeadMsg> {
        prop_oneof![
            (any::<u16>(), any::<u8>(), "[a-z0-9 .-]{0,30}").prop_map(|(seq, protocol, s)| HeadMsg::Hello {
                seq,
                protocol,
                firmware: FirmwareId::new(&s)
            }),
            (any::<u16>(), any::<u8>()).prop_map(|(seq, m)| HeadMsg::Ack { seq, clamped: JointMask(m) }),
            (any::<u16>(), any::<u32>(), proptest::array::uniform4(arb_f32()), any::<[u16; 4]>()).prop_map(
                |(seq, t, a, p)| {
                    let _ = seq;
                    HeadMsg::Telemetry(Telemetry {
                        t_ms: t,
                        angles: Pose::from_array(a),
                        targets: Pose::from_array(a),
                        pulse_us: p,
                        mode: Mode::Moving,
                        faults: Faults(t as u16),
                        heartbeat_age_ms: t / 3,
                        counters: Counters { frames_ok: t, ..Counters::default() },
                    })
                }
            ),
        ]
    }

    /// NaN != NaN, so compare through the encoding.
    fn same<T: Serialize>(a: &T, b: &T) -> bool {
        enc(a) == enc(b)
    }

    proptest! {
        #[test]
        fn every_host_command_round_trips(seq in any::<u16>(), msg in arb_host_msg()) {
            let f = HostFrame { seq, msg };
            let bytes = enc(&f);
            prop_assert!(!bytes[..bytes.len() - 1].contains(&0));
            let mut d = FrameDecoder::new();
            let out = decode_all::<HostFrame>(&mut d, &bytes);
            prop_assert_eq!(out.len(), 1);
            let got = out[0].as_ref().map_err(|e| TestCaseError::fail(format!("{e}")))?;
            prop_assert!(same(got, &f));
        }

        #[test]
        fn every_head_message_round_trips(msg in arb_head_msg()) {
            let bytes = enc(&msg);
            let mut d = FrameDecoder::new();
            let out = decode_all::<HeadMsg>(&mut d, &bytes);
            prop_assert_eq!(out.len(), 1);
            let got = out[0].as_ref().map_err(|e| TestCaseError::fail(format!("{e}")))?;
            prop_assert!(same(got, &msg));
        }

        #[test]
        fn garbage_never_panics_and_the_decoder_resyncs_at_the_next_delimiter(
            garbage in proptest::collection::vec(any::<u8>(), 0..600),
            seq in any::<u16>(),
            msg in arb_host_msg(),
        ) {
            let f = HostFrame { seq, msg };
            let mut d = FrameDecoder::new();
            let _ = decode_all::<HostFrame>(&mut d, &garbage);
            // One delimiter ends whatever the garbage left half-done.
            let mut tail = vec![0u8];
            tail.extend(enc(&f));
            let out = decode_all::<HostFrame>(&mut d, &tail);
            let last = out.last().cloned();
            prop_assert!(matches!(last, Some(Ok(ref g)) if same(g, &f)), "got {:?}", out);
        }

        #[test]
        fn the_shared_fuzz_body_holds_on_arbitrary_input(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
            crate::fuzzing::decode_stream(&data);
        }
    }
}
