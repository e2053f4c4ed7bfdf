//! Files that hold secrets (the configuration, OAuth2 tokens): private to
//! their owner and replaced atomically, so a crash or a full disk leaves the
//! old file or the new one, never a truncated one.

use std::io::Write;
use std::path::Path;

use crate::error::{AppError, Result};

/// Writes `data` to `path`, readable only by its owner (0600): to a
/// temporary file beside it, synced, renamed over the old one, and the
/// directory synced.
pub(crate) fn write_private(path: &Path, data: &[u8]) -> Result<()> {
    let err = |e: std::io::Error| AppError::Config(format!("cannot write {}: {e}", path.display()));
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let write = || -> std::io::Result<()> {
        let mut f = opts.open(&tmp)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        }
        f.write_all(data)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        err(e)
    })
}
