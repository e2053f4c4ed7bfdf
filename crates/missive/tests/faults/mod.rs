//! Faults a real server (Postfix) will not produce, from scripted fake
//! servers ([`crate::support::fake_smtp`]), against the real `missive`
//! binary: missing or refused STARTTLS, STARTTLS response injection,
//! HELO-only servers, 421 mid-session, stalls, dropped connections, refusals
//! at the end of DATA, pipelining, SASL exchanges checked on the server
//! side, and malformed replies.

mod replies;
mod sasl;
mod session;
mod tls;
mod transaction;

use std::time::Duration;

use crate::support::fake_smtp::{self, ca_file, Log, Script, Server, Step, FROM, TO};
use crate::support::*;
use missive_smtp::Command;

const PASSWORD: &str = "correct horse battery staple";

/// `--user alice --password-env FAKE_PW`, the password set in the environment.
fn with_password(m: fake_smtp::Missive, password: &str) -> fake_smtp::Missive {
    m.args(&["--user", FROM, "--password-env", "FAKE_PW"])
        .env("FAKE_PW", password)
}

/// The message text as the server decoded it.
fn message(log: &Log) -> String {
    assert_eq!(log.messages.len(), 1, "expected one message: {log:?}");
    String::from_utf8_lossy(&log.messages[0]).into_owned()
}

/// No command of the mail transaction or of AUTH reached the server.
fn assert_nothing_sensitive(log: &Log) {
    for verb in ["AUTH", "MAIL", "RCPT", "DATA"] {
        assert!(!log.has_verb(verb), "{verb} was sent: {:?}", log.lines);
    }
    assert!(
        !log.lines.iter().any(|l| l.contains(PASSWORD)),
        "{:?}",
        log.lines
    );
}
