//! Temporary directories and files, removed when dropped.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::unique;

/// A fresh directory, removed (with its contents) when dropped.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// A new directory in the system's temporary directory.
    pub fn new(tag: &str) -> TempDir {
        TempDir::new_in(&std::env::temp_dir(), tag)
    }

    /// A new directory in `base`: `missive-test-<unique tag>`.
    pub fn new_in(base: &Path, tag: &str) -> TempDir {
        let path = base.join(format!("missive-test-{}", unique(tag)));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
        TempDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn join(&self, name: impl AsRef<Path>) -> PathBuf {
        self.path.join(name)
    }

    /// Writes `name` in the directory and returns its path as a string.
    pub fn write(&self, name: &str, contents: &[u8]) -> String {
        let p = self.join(name);
        std::fs::write(&p, contents)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", p.display()));
        p.to_str().expect("UTF-8 temp path").to_string()
    }

    /// A file of `n` random octets (from /dev/urandom), without holding it in memory.
    pub fn random_file(&self, name: &str, n: u64) -> String {
        let p = self.join(name);
        let mut src = File::open("/dev/urandom").expect("/dev/urandom").take(n);
        let mut dst = File::create(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        let copied = std::io::copy(&mut src, &mut dst).expect("copying random bytes");
        assert_eq!(copied, n);
        p.to_str().expect("UTF-8 temp path").to_string()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// A file in the temporary directory, removed when dropped.
pub struct TempFile {
    pub path: PathBuf,
}

impl TempFile {
    pub fn new(contents: &[u8]) -> TempFile {
        let path = std::env::temp_dir().join(format!("missive-test-{}", unique("body")));
        std::fs::write(&path, contents)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        TempFile { path }
    }

    pub fn path_str(&self) -> &str {
        self.path.to_str().expect("temp path is UTF-8")
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Sets the permission bits of `path`.
pub fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
}

/// The permission bits of `path`.
pub fn mode_of(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("stat {}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// Writes `text` to `path` (creating its directory) with this mode.
pub fn write_mode(path: &Path, text: &str, mode: u32) {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).unwrap();
    }
    std::fs::write(path, text).unwrap();
    set_mode(path, mode);
}
