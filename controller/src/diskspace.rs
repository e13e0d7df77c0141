//! Free space before a session: a robot on a full SD card must refuse to
//! start a session, saying why, instead of failing mid-turn when SQLite can
//! no longer write (a turn the participant said but nobody stored).

use std::path::{Path, PathBuf};

/// `[store] min_free_mb` when the site config does not set it. Design: a
/// day's sessions take a few MiB of SQLite (text turns and events) plus WAL
/// headroom; 256 MiB leaves room for the WAL, alert logs and the journal
/// while still starting on a small card that `attune doctor` warns about.
pub const DEFAULT_MIN_FREE_MB: u64 = 256;

/// Why a session may not start.
#[derive(Debug, thiserror::Error)]
pub enum DiskError {
    #[error("refusing to start a session: only {free_mb} MiB free on the file system holding {path} (at least {min_mb} MiB needed, [store] min_free_mb); free some space (old exports, audio files, logs) and start again")]
    Full { path: PathBuf, free_mb: u64, min_mb: u64 },
    #[error("refusing to start a session: cannot read the free space of {path}: {source}")]
    Unreadable { path: PathBuf, source: nix::Error },
}

/// The nearest existing directory that will hold `store` (the store's own
/// folder may not exist yet; it is created on open).
fn existing_dir(store: &Path) -> PathBuf {
    let mut dir = store.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."));
    if dir.as_os_str().is_empty() {
        dir = PathBuf::from(".");
    }
    while !dir.is_dir() {
        match dir.parent() {
            Some(p) if !p.as_os_str().is_empty() => dir = p.to_path_buf(),
            _ => return PathBuf::from("."),
        }
    }
    dir
}

/// Free MiB (for an unprivileged process) on the file system holding `store`.
pub fn free_mb(store: &Path) -> Result<(PathBuf, u64), DiskError> {
    let dir = existing_dir(store);
    let st = nix::sys::statvfs::statvfs(&dir).map_err(|source| DiskError::Unreadable { path: dir.clone(), source })?;
    #[allow(clippy::useless_conversion)] // the field widths differ between targets
    let bytes = u64::from(st.blocks_available()).saturating_mul(u64::from(st.fragment_size()));
    Ok((dir, bytes / (1024 * 1024)))
}

/// Ok when at least `min_mb` MiB are free where `store` lives.
pub fn ensure_room(store: &Path, min_mb: u64) -> Result<(), DiskError> {
    let (_, free) = free_mb(store)?;
    if free < min_mb {
        return Err(DiskError::Full { path: store.to_path_buf(), free_mb: free, min_mb });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_on_a_disk_with_room_may_start() {
        let dir = tempfile::tempdir().unwrap();
        assert!(ensure_room(&dir.path().join("a.db"), 0).is_ok());
    }

    #[test]
    fn a_disk_with_less_room_than_required_is_refused_naming_the_path_and_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let (_, free) = free_mb(&dir.path().join("a.db")).unwrap();
        let err = ensure_room(&dir.path().join("a.db"), free + 1_000_000).unwrap_err().to_string();
        assert!(err.contains("refusing to start a session"), "{err}");
        assert!(err.contains("a.db") && err.contains("[store] min_free_mb"), "{err}");
        assert!(err.contains(&format!("at least {} MiB needed", free + 1_000_000)), "{err}");
    }

    #[test]
    fn a_store_in_a_folder_not_yet_created_is_measured_on_its_nearest_existing_parent() {
        let dir = tempfile::tempdir().unwrap();
        let deep = dir.path().join("x/y/z/a.db");
        let (measured, _) = free_mb(&deep).unwrap();
        assert_eq!(measured, dir.path());
    }
}
