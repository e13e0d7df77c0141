//! The decoder fuzz body. `fuzz/fuzz_targets/decode.rs` (cargo-fuzz, needs
//! nightly) and the stable proptest `the_shared_fuzz_body_holds_on_arbitrary_input`
//! both call [`decode_stream`], so CI on stable exercises the same checks.

use crate::frame::{encode_frame, FrameDecoder, MAX_FRAME};
use crate::msg::{HeadMsg, HostFrame};
use serde::{de::DeserializeOwned, Serialize};

/// Feeds `data` to a host-side and a head-side decoder. Panics (which is what
/// a fuzzer reports) only if an invariant breaks:
/// - every yielded result is counted exactly once in the stats;
/// - every decoded message re-encodes and decodes to the same bytes.
pub fn decode_stream(data: &[u8]) {
    check::<HostFrame>(data);
    check::<HeadMsg>(data);
}

fn check<T: DeserializeOwned + Serialize>(data: &[u8]) {
    let mut d = FrameDecoder::new();
    let mut results: u32 = 0;
    for &b in data {
        if let Some(r) = d.push::<T>(b) {
            results += 1;
            if let Ok(msg) = r {
                let mut out = [0u8; MAX_FRAME];
                let n = match encode_frame(&msg, &mut out) {
                    Ok(n) => n,
                    Err(e) => panic!("a decoded message failed to re-encode: {e}"),
                };
                let mut d2 = FrameDecoder::new();
                let mut again = None;
                for &b2 in &out[..n] {
                    if let Some(r2) = d2.push::<T>(b2) {
                        again = Some(r2);
                    }
                }
                match again {
                    Some(Ok(m2)) => {
                        let mut out2 = [0u8; MAX_FRAME];
                        let n2 = encode_frame(&m2, &mut out2).unwrap_or(0);
                        assert_eq!(&out[..n], &out2[..n2], "re-encoding is not stable");
                    }
                    other => panic!("a re-encoded message did not decode: {:?}", other.map(|r| r.err())),
                }
            }
        }
    }
    assert_eq!(d.stats.frames_ok + d.stats.errors(), results, "stats miscount results");
}
