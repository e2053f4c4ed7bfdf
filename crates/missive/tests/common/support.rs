//! Helpers that need no testbed: a temporary directory removed on drop, and
//! running a process to its end under a deadline while capturing its output.
//!
//! `common/mod.rs` re-exports all of this. Test files that do not use the
//! testbed helpers include this file alone, with
//! `#[path = "common/support.rs"] mod support;`, so that `common`'s own
//! self-tests do not run (and count) in their test binaries as well.

#![allow(dead_code)]

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

// ---- temporary directories -----------------------------------------------------

/// A fresh directory, removed (with its contents) when dropped.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// A new directory in the system's temporary directory.
    pub fn new(tag: &str) -> TempDir {
        TempDir::new_in(&std::env::temp_dir(), tag)
    }

    /// A new directory in `base`: `missive-test-<tag>-<pid>-<n>-<nanos>`.
    pub fn new_in(base: &Path, tag: &str) -> TempDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .subsec_nanos();
        let path = base.join(format!(
            "missive-test-{tag}-{}-{}-{nanos:08x}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
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

// ---- running a process under a deadline ------------------------------------------

/// How often a running child is polled.
const POLL: Duration = Duration::from_millis(5);

/// How a process ended.
#[derive(Debug)]
pub struct Finished {
    /// None when it was killed at the deadline.
    pub status: Option<ExitStatus>,
    pub stdout: String,
    pub stderr: String,
    /// From just before it was started until it ended (or was killed).
    pub elapsed: Duration,
}

impl Finished {
    pub fn timed_out(&self) -> bool {
        self.status.is_none()
    }

    /// The exit code; None when killed by a signal or at the deadline.
    pub fn code(&self) -> Option<i32> {
        self.status.and_then(|s| s.code())
    }

    /// Panics, naming `what` ran and showing its output, if it was killed at
    /// the deadline `limit`; else returns itself.
    #[track_caller]
    pub fn expect_finished(self, what: &dyn std::fmt::Debug, limit: Duration) -> Finished {
        if self.timed_out() {
            panic!(
                "{what:?} hung: killed after {limit:?}\n--- stdout\n{}\n--- stderr\n{}",
                self.stdout, self.stderr
            );
        }
        self
    }
}

/// Reads `pipe` to its end in a thread (lossily as UTF-8).
pub fn drain(mut pipe: impl Read + Send + 'static) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = pipe.read_to_end(&mut v);
        String::from_utf8_lossy(&v).into_owned()
    })
}

/// Waits for `child`, started at `start` with stdout and stderr piped, until
/// `limit` has passed since `start`, then kills it; collects its output.
/// `stderr`: a thread already reading its stderr, if the caller started one.
pub fn collect(
    child: &mut Child,
    stderr: Option<JoinHandle<String>>,
    start: Instant,
    limit: Duration,
) -> Finished {
    let out = drain(child.stdout.take().expect("stdout piped"));
    let err = stderr.unwrap_or_else(|| drain(child.stderr.take().expect("stderr piped")));
    let status = loop {
        if let Some(s) = child.try_wait().expect("waiting for the child") {
            break Some(s);
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(POLL);
    };
    let elapsed = start.elapsed();
    Finished {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
        elapsed,
    }
}

/// Runs `cmd` to its end, killing it after `limit`: `stdin` is written to it
/// from a thread (else it reads /dev/null), stdout and stderr are captured.
pub fn run_to_end(cmd: &mut Command, stdin: Option<Vec<u8>>, limit: Duration) -> Finished {
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let start = Instant::now();
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let writer = match (child.stdin.take(), stdin) {
        (Some(mut pipe), Some(bytes)) => Some(std::thread::spawn(move || {
            // the child may exit before reading it all; that is not our failure
            let _ = pipe.write_all(&bytes);
        })),
        _ => None,
    };
    let finished = collect(&mut child, None, start, limit);
    if let Some(w) = writer {
        let _ = w.join();
    }
    finished
}

/// [`run_to_end`], panicking (showing what ran and its output) if `cmd` had
/// to be killed at the deadline.
#[track_caller]
pub fn run_finished(cmd: &mut Command, stdin: Option<Vec<u8>>, limit: Duration) -> Finished {
    run_to_end(cmd, stdin, limit).expect_finished(&*cmd, limit)
}
