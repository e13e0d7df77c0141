//! Whether two paths name the same file, however they are spelled
//! (relative vs absolute, `./x`, `a/../x`, a symlink, a hard link).

use std::path::{Path, PathBuf};

/// The file `p` names, for comparison: its device and inode if it exists,
/// else its canonical parent folder joined with its name.
enum Identity {
    /// An existing file.
    Inode(u64, u64),
    /// A file that does not exist yet.
    Path(PathBuf),
}

fn identity(p: &Path) -> Option<Identity> {
    use std::os::unix::fs::MetadataExt;
    if let Ok(m) = std::fs::metadata(p) {
        return Some(Identity::Inode(m.dev(), m.ino()));
    }
    let name = p.file_name()?;
    let parent = p.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    Some(Identity::Path(std::fs::canonicalize(parent).ok()?.join(name)))
}

/// True when `a` and `b` are the same file (or would be once created).
pub fn same_file(a: &Path, b: &Path) -> bool {
    match (identity(a), identity(b)) {
        (Some(Identity::Inode(d1, i1)), Some(Identity::Inode(d2, i2))) => d1 == d2 && i1 == i2,
        (Some(Identity::Path(x)), Some(Identity::Path(y))) => x == y,
        // One exists and the other does not: different files.
        (Some(_), Some(_)) => false,
        // Unresolvable (no file name): fall back to the spelling.
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_file_is_recognised_through_other_spellings_and_links() {
        let dir = tempfile::tempdir().unwrap();
        let x = dir.path().join("x.wav");
        std::fs::write(&x, b"RIFF").unwrap();
        let link = dir.path().join("link.wav");
        std::os::unix::fs::symlink(&x, &link).unwrap();
        let hard = dir.path().join("hard.wav");
        std::fs::hard_link(&x, &hard).unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        let dotted = dir.path().join("sub/../x.wav");
        assert!(same_file(&x, &x));
        assert!(same_file(&x, &link));
        assert!(same_file(&x, &hard));
        assert!(same_file(&x, &dotted));
        assert!(!same_file(&x, &dir.path().join("y.wav")));
        let new = dir.path().join("new.wav");
        assert!(same_file(&new, &dir.path().join("sub/../new.wav")));
    }
}
