//! What the integration tests share (ripgrep's `tests/util.rs`, grown into a
//! folder):
//!
//! * [`process`]: [`Cmd`] and [`run`] run `missive` (or another program)
//!   under a deadline with arguments, environment and standard input, and
//!   capture its [`Output`]. The child never sees the caller's `MISSIVE_*`
//!   settings, nor a proxy. [`pty`]: [`in_pty`] runs it on a terminal;
//!   [`proxies`]: real SOCKS5 and HTTP proxies on loopback.
//! * [`unique`] and [`unique_addr`]: names no other test (or run) uses.
//! * [`tempdir`]: [`TempDir`] and [`TempFile`], removed when dropped.
//! * [`home`]: [`Home`], a HOME and XDG directories of one test's own, and
//!   helpers that read `config show`.
//! * [`testbed`]: the real Postfix, Dovecot and dnsmasq of `testbed/`; the
//!   `testbed!()` macro returns from a test (skipped) when they are not
//!   running, unless `MISSIVE_TESTBED` is set.
//! * [`mail`]: delivered messages read back with code of the tests' own;
//!   [`report`]: missive's `--json` report.
//! * [`capture`]: [`Capture`], a `missive serve` on a port the test
//!   chooses, its Maildir counted by Message-ID; [`web`]: [`Web`], one with
//!   its web side (`--http`) and a client for its API; [`chromium`]:
//!   [`Browser`], headless Chromium driven through its DevTools protocol.
//! * Scripted servers: [`fake_smtp`] (an SMTP server whose every reply a
//!   test can script), [`oauth_mock`] (an OAuth2 authorization server) and
//!   [`xoauth2_smtp`] (an SMTP server that takes only the mock's token).

pub mod capture;
pub mod chromium;
pub mod fake_smtp;
pub mod fake_tls;
pub mod home;
pub mod mail;
pub mod oauth_mock;
pub mod policy_server;
pub mod postfix_log;
pub mod process;
pub mod proxies;
pub mod pty;
pub mod report;
pub mod tempdir;
pub mod testbed;
pub mod web;
pub mod xoauth2_smtp;

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

pub use capture::{free_port, Capture};
pub use home::{assert_shown, entry, head, shown, Home};
pub use mail::*;
pub use postfix_log::sessions_for;
pub use process::{run, Cmd, Output, MISSIVE, PYTHON};
pub use pty::in_pty;
pub use report::{recipient, str_of};
pub use tempdir::{mode_of, set_mode, write_mode, TempDir, TempFile};
pub use testbed::{Testbed, DELIVERY_WAIT};
pub use web::Web;

/// The testbed, or return from the test (skipped) when it is not running and
/// not required. `testbed!(dns)`: the testbed with its DNS server.
macro_rules! testbed {
    () => {
        match $crate::support::testbed::testbed() {
            Some(tb) => tb,
            None => return,
        }
    };
    (dns) => {
        match $crate::support::testbed::testbed_with_dns() {
            Some(tb) => tb,
            None => return,
        }
    };
}

/// A name that no other test or run uses: `prefix-<pid>-<time>-<n>`. Give
/// a lowercase prefix for a local part: the testbed's Maildir paths are
/// lowercase.
pub fn unique(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "{prefix}-{}-{:x}-{n}",
        std::process::id(),
        nanos % (1 << 48)
    )
}

/// A unique address at example.test.
pub fn unique_addr(prefix: &str) -> String {
    format!("{}@example.test", unique(prefix))
}
