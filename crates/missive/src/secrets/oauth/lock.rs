//! One token refresh at a time per account, across processes: two at once
//! would both spend the same refresh token, and with a provider that
//! rotates it the second is refused (or the grant revoked).

use super::token_dir;
use crate::error::{AppError, Result};

/// An account's refresh lock (an exclusive lock on a file beside its
/// tokens), released when dropped.
pub(super) struct RefreshLock(#[allow(dead_code)] std::fs::File);

/// The longest a refresh waits for another one (each is bounded by the
/// HTTP timeout, 30 s).
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

impl RefreshLock {
    pub(super) fn take(account: &str) -> Result<RefreshLock> {
        let dir = token_dir()?;
        let err = |e: std::io::Error| {
            AppError::Config(format!(
                "cannot lock the tokens of account {account} in {}: {e}",
                dir.display()
            ))
        };
        std::fs::create_dir_all(&dir).map_err(err)?;
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(false);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let file = opts
            .open(dir.join(format!("{account}.lock")))
            .map_err(err)?;
        let start = std::time::Instant::now();
        loop {
            match try_lock(&file) {
                Ok(true) => return Ok(RefreshLock(file)),
                Ok(false) if start.elapsed() < LOCK_WAIT => {
                    std::thread::sleep(std::time::Duration::from_millis(20))
                }
                Ok(false) => {
                    return Err(AppError::Config(format!(
                        "another missive has been refreshing the tokens of account {account} for over {} s",
                        LOCK_WAIT.as_secs()
                    )))
                }
                Err(e) => return Err(err(e)),
            }
        }
    }
}

/// An exclusive flock(2) on `file` without waiting: false when another
/// process holds it. The kernel drops it when the process ends, so a crash
/// leaves no stale lock.
#[cfg(unix)]
fn try_lock(file: &std::fs::File) -> std::io::Result<bool> {
    use std::os::unix::io::AsRawFd;
    // SAFETY: flock on a descriptor this File owns for the whole call.
    let r = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if r == 0 {
        return Ok(true);
    }
    let e = std::io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::EWOULDBLOCK) => Ok(false),
        Some(libc::EINTR) => Ok(false),
        _ => Err(e),
    }
}

/// Elsewhere: no lock (one refresh at a time is then up to the user).
#[cfg(not(unix))]
fn try_lock(_file: &std::fs::File) -> std::io::Result<bool> {
    Ok(true)
}
