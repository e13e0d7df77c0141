//! Proof that an LLM server is the one a supervisor started.
//!
//! The supervisor makes a random secret ([`new_secret`]) and hands it to the
//! `attune-llm` child in the environment ([`TOKEN_ENV`]; never on the command
//! line, where `ps` shows it). The child then
//! - answers `GET /health?challenge=C` with `"proof": health_proof(secret, C)`,
//!   which only a holder of the secret can compute, and
//! - requires `Authorization: Bearer <secret>` on every API request.
//!
//! A client checks the proof for a fresh challenge *before* it sends any
//! participant text, so a stranger that took the port (after the child died)
//! learns neither the secret nor a word of the conversation.

use sha2::{Digest, Sha256};

/// Environment variable carrying the secret from supervisor to child.
pub const TOKEN_ENV: &str = "ATTUNE_LLM_TOKEN";

/// 32 random bytes from the kernel, hex-encoded.
pub fn new_secret() -> std::io::Result<String> {
    random_hex(32)
}

/// `n` random bytes from the kernel, hex-encoded (challenges, secrets).
pub fn random_hex(n: usize) -> std::io::Result<String> {
    use std::io::Read;
    let mut buf = vec![0u8; n];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut buf)?;
    Ok(hex::encode(buf))
}

/// HMAC-SHA256 (RFC 2104) of `msg` under `key`.
fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut k = [0u8; BLOCK];
    if key.len() > BLOCK {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let pad = |b: u8| k.map(|x| x ^ b);
    let inner = Sha256::new().chain_update(pad(0x36)).chain_update(msg).finalize();
    Sha256::new().chain_update(pad(0x5c)).chain_update(inner).finalize().into()
}

/// What the genuine server answers to `challenge` (hex HMAC-SHA256).
pub fn health_proof(secret: &str, challenge: &str) -> String {
    hex::encode(hmac_sha256(secret.as_bytes(), format!("attune-llm health {challenge}").as_bytes()))
}

/// Equality that takes the same time wherever the inputs differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_the_rfc_4231_test_vectors() {
        // RFC 4231, test cases 2 and 6 (a key longer than one block).
        assert_eq!(
            hex::encode(hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(
            hex::encode(hmac_sha256(&[0xaa; 131], b"Test Using Larger Than Block-Size Key - Hash Key First")),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn a_proof_depends_on_both_the_secret_and_the_challenge() {
        let s = new_secret().unwrap();
        assert_eq!(s.len(), 64);
        assert_ne!(s, new_secret().unwrap());
        assert_eq!(health_proof(&s, "c1"), health_proof(&s, "c1"));
        assert_ne!(health_proof(&s, "c1"), health_proof(&s, "c2"));
        assert_ne!(health_proof(&s, "c1"), health_proof("other", "c1"));
        assert!(constant_time_eq(b"abc", b"abc") && !constant_time_eq(b"abc", b"abd") && !constant_time_eq(b"ab", b"abc"));
    }
}
