//! Consistent-overhead byte stuffing: removes every `0x00` from a block so that
//! `0x00` can delimit frames on the wire.

/// Worst-case encoded length of `n` bytes (one code byte per 254 data bytes,
/// plus the leading code byte).
pub const fn max_encoded_len(n: usize) -> usize {
    n + n / 254 + 1
}

/// Encodes `src` into `dst` (no trailing delimiter). Returns the encoded
/// length, or `None` when `dst` is too small.
pub fn encode(src: &[u8], dst: &mut [u8]) -> Option<usize> {
    if dst.len() < max_encoded_len(src.len()) {
        return None;
    }
    let mut code_idx = 0usize;
    let mut w = 1usize;
    let mut code: u8 = 1;
    for &b in src {
        if b == 0 {
            *dst.get_mut(code_idx)? = code;
            code_idx = w;
            w += 1;
            code = 1;
        } else {
            *dst.get_mut(w)? = b;
            w += 1;
            code += 1;
            if code == 0xFF {
                *dst.get_mut(code_idx)? = code;
                code_idx = w;
                w += 1;
                code = 1;
            }
        }
    }
    *dst.get_mut(code_idx)? = code;
    Some(w)
}

/// Decodes a COBS block (without its delimiter) in place. Returns the decoded
/// length, or `None` if the block is malformed (a zero byte inside, or a code
/// that runs past the end).
// Design: the write index never overtakes the read index (each code byte
// yields at most one zero), so decoding in the receive buffer is safe and the
// decoder needs no second buffer.
pub fn decode_in_place(buf: &mut [u8]) -> Option<usize> {
    let n = buf.len();
    let mut r = 0usize;
    let mut w = 0usize;
    while r < n {
        let code = buf[r];
        if code == 0 {
            return None;
        }
        r += 1;
        let run = code as usize - 1;
        if r + run > n {
            return None;
        }
        for i in 0..run {
            let b = buf[r + i];
            if b == 0 {
                return None;
            }
            buf[w + i] = b;
        }
        w += run;
        r += run;
        if code != 0xFF && r < n {
            buf[w] = 0;
            w += 1;
        }
    }
    Some(w)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn encoding_known_vectors_matches_the_cobs_paper() {
        let mut out = [0u8; 16];
        let n = encode(&[0x11, 0x22, 0x00, 0x33], &mut out).unwrap();
        assert_eq!(&out[..n], &[0x03, 0x11, 0x22, 0x02, 0x33]);
        let n = encode(&[0x00], &mut out).unwrap();
        assert_eq!(&out[..n], &[0x01, 0x01]);
    }

    #[test]
    fn a_too_small_destination_is_refused() {
        let mut out = [0u8; 2];
        assert_eq!(encode(&[1, 2, 3], &mut out), None);
    }

    proptest! {
        #[test]
        fn any_block_round_trips_and_has_no_zero(data in proptest::collection::vec(any::<u8>(), 0..600)) {
            let mut enc = vec![0u8; max_encoded_len(data.len())];
            let n = encode(&data, &mut enc).unwrap();
            prop_assert!(!enc[..n].contains(&0));
            let mut buf = enc[..n].to_vec();
            let m = decode_in_place(&mut buf).unwrap();
            prop_assert_eq!(&buf[..m], &data[..]);
        }

        #[test]
        fn decoding_arbitrary_bytes_never_panics(mut data in proptest::collection::vec(any::<u8>(), 0..300)) {
            if let Some(n) = decode_in_place(&mut data) {
                prop_assert!(n <= data.len());
            }
        }
    }
}
