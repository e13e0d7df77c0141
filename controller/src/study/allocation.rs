//! Concealed, seeded block randomisation.
//!
//! Design: the allocation table is never written down. Each stratum's slot
//! `n` lies in block `n / block_size`; the block's order is a Fisher–Yates
//! shuffle of `block_size / arms` copies of every arm, driven by
//! HMAC-SHA256(secret, "study|stratum|block|counter"). The 32-byte secret
//! (the seed) is created at `study init` and kept *outside* the study folder
//! (see [`key_path`]); the study folder holds only its SHA-256 so the wrong
//! key is detected. So nothing in the study folder can reveal the next arm:
//! an arm exists on disk only once a participant is enrolled into its slot.
//! Staff who hold the key could recompute the table — keep it with the
//! study's data manager, not the staff who enrol.

use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// Length of the secret in bytes.
pub const SECRET_LEN: usize = 32;

/// HMAC-SHA256 (RFC 2104) with a key of at most one block.
pub fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut ipad = [0x36u8; 64];
    let mut opad = [0x5cu8; 64];
    for i in 0..64 {
        ipad[i] ^= k[i];
        opad[i] ^= k[i];
    }
    let inner = Sha256::new().chain_update(ipad).chain_update(msg).finalize();
    Sha256::new().chain_update(opad).chain_update(inner).finalize().into()
}

/// A stream of pseudo-random u64s from the secret and a label.
struct Prf<'a> {
    key: &'a [u8],
    label: String,
    counter: u64,
}

impl Prf<'_> {
    fn next_u64(&mut self) -> u64 {
        let d = hmac_sha256(self.key, format!("{}|{}", self.label, self.counter).as_bytes());
        self.counter += 1;
        u64::from_le_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]])
    }
    /// Uniform in 0..n (rejection sampling, no modulo bias).
    fn below(&mut self, n: u64) -> u64 {
        let zone = u64::MAX - (u64::MAX % n);
        loop {
            let v = self.next_u64();
            if v < zone {
                return v % n;
            }
        }
    }
}

/// The arm index for slot `slot` (0-based) of `stratum`, for `arms` arms.
pub fn arm_for_slot(secret: &[u8], study_id: &str, stratum: &str, slot: u32, block_size: u32, arms: usize) -> usize {
    let block = slot / block_size;
    let mut order: Vec<usize> = (0..block_size as usize).map(|i| i % arms).collect();
    let mut prf = Prf { key: secret, label: format!("attune-allocation|{study_id}|{stratum}|{block}"), counter: 0 };
    for i in (1..order.len()).rev() {
        let j = prf.below(i as u64 + 1) as usize;
        order.swap(i, j);
    }
    order[(slot % block_size) as usize]
}

/// Folder where allocation keys live: `$ATTUNE_STUDY_KEYS`, else
/// `<attune data dir>/study-keys` (never inside a study folder).
pub fn key_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("ATTUNE_STUDY_KEYS") {
        return PathBuf::from(p);
    }
    crate::config::data_dir().join("study-keys")
}

/// The key file of one study folder, named by study, site, robot and the
/// key's own id (so two folders of one study never share a file by accident).
pub fn key_path(study: &str, site: &str, robot: &str, key_id: &str) -> PathBuf {
    key_dir().join(format!("{study}.{site}.{robot}.{key_id}.key"))
}

/// SHA-256 of the secret, hex: stored in the study folder to check the key.
pub fn key_id(secret: &[u8]) -> String {
    hex::encode(&Sha256::digest(secret)[..8])
}

/// A fresh secret from the OS.
pub fn new_secret() -> std::io::Result<[u8; SECRET_LEN]> {
    use std::io::Read;
    let mut s = [0u8; SECRET_LEN];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut s)?;
    Ok(s)
}

/// Writes the key file (mode 0600, atomically, refusing to overwrite).
pub fn write_key(path: &Path, secret: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d)?;
    }
    let tmp = path.with_extension("key.tmp");
    {
        let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
        f.write_all(hex::encode(secret).as_bytes())?;
        f.write_all(b"\n")?;
        f.sync_all()?;
    }
    if path.exists() {
        let _ = std::fs::remove_file(&tmp);
        return Err(std::io::Error::new(std::io::ErrorKind::AlreadyExists, format!("{} already exists", path.display())));
    }
    std::fs::rename(&tmp, path)
}

/// Reads a key file and checks it against the expected id.
pub fn read_key(path: &Path, expected_id: &str) -> Result<Vec<u8>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        format!(
            "allocation key {} cannot be read ({e}); enrolment needs the study's key, which is kept outside the study folder (set ATTUNE_STUDY_KEYS to its folder)",
            path.display()
        )
    })?;
    let secret = hex::decode(text.trim()).map_err(|_| format!("allocation key {} is not hex", path.display()))?;
    if secret.len() != SECRET_LEN || key_id(&secret) != expected_id {
        return Err(format!("allocation key {} does not belong to this study folder (key id {expected_id} expected)", path.display()));
    }
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_the_rfc_4231_test_case_2() {
        let d = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(hex::encode(d), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    }

    #[test]
    fn every_block_holds_each_arm_equally_often() {
        let secret = [7u8; 32];
        for block in 0..20u32 {
            let mut counts = [0usize; 4];
            for i in 0..8 {
                counts[arm_for_slot(&secret, "s", "all", block * 8 + i, 8, 4)] += 1;
            }
            assert_eq!(counts, [2, 2, 2, 2], "block {block}");
        }
    }

    #[test]
    fn different_secrets_give_different_tables_and_the_same_secret_the_same() {
        let a: Vec<usize> = (0..48).map(|s| arm_for_slot(&[1u8; 32], "s", "all", s, 8, 4)).collect();
        let a2: Vec<usize> = (0..48).map(|s| arm_for_slot(&[1u8; 32], "s", "all", s, 8, 4)).collect();
        let b: Vec<usize> = (0..48).map(|s| arm_for_slot(&[2u8; 32], "s", "all", s, 8, 4)).collect();
        assert_eq!(a, a2);
        assert_ne!(a, b);
    }

    #[test]
    fn strata_are_randomised_independently() {
        let a: Vec<usize> = (0..48).map(|s| arm_for_slot(&[1u8; 32], "s", "young", s, 8, 4)).collect();
        let b: Vec<usize> = (0..48).map(|s| arm_for_slot(&[1u8; 32], "s", "old", s, 8, 4)).collect();
        assert_ne!(a, b);
    }

    #[test]
    fn the_first_slot_is_spread_over_all_arms_across_secrets() {
        // Not a fixed pattern: over many secrets, slot 0 lands on every arm
        // roughly equally often.
        let mut counts = [0usize; 4];
        for i in 0..400u32 {
            let mut s = [0u8; 32];
            s[..4].copy_from_slice(&i.to_le_bytes());
            counts[arm_for_slot(&s, "s", "all", 0, 8, 4)] += 1;
        }
        for c in counts {
            assert!((60..=140).contains(&c), "{counts:?}");
        }
    }

    #[test]
    fn a_key_with_the_wrong_id_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k.key");
        write_key(&p, &[3u8; 32]).unwrap();
        assert!(read_key(&p, &key_id(&[3u8; 32])).is_ok());
        assert!(read_key(&p, &key_id(&[4u8; 32])).unwrap_err().contains("does not belong"));
        assert!(write_key(&p, &[5u8; 32]).is_err(), "an existing key is never overwritten");
    }
}
