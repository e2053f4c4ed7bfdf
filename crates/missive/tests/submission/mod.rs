//! Sending through a real server: the `missive` binary against the Postfix
//! testbed on loopback (testbed/README.md), on its submission ports
//! (STARTTLS and implicit TLS, AUTH required) and its MX-style port. Every
//! test uses recipients that no other test uses, so they run in parallel,
//! and checks what the server received on disk, not only what missive says.
//!
//! Without a running testbed the tests print "skipped: testbed not running"
//! and pass, unless MISSIVE_TESTBED is set (test.sh sets it), in which case
//! they fail.

mod content;
mod credentials;
mod errors;
mod sessions;
mod tls;
mod verdicts;

use serde_json::Value;

use crate::support::*;

/// The environment variable the tests hand passwords through.
const PASS_VAR: &str = "MISSIVE_TEST_PASSWORD";

/// `missive send` through the submission port as user 1 (password in
/// [`PASS_VAR`]), trusting the testbed CA.
fn submit(tb: &Testbed, server: &str, rcpt: &str) -> Cmd {
    Cmd::new([
        "send",
        "--server",
        server,
        "--cafile",
        tb.ca(),
        "--user",
        tb.user(),
        "--password-env",
        PASS_VAR,
        "--from",
        tb.user(),
        "--to",
        rcpt,
    ])
    .env(PASS_VAR, tb.pass())
}

/// `missive send` to the MX-style port, no AUTH, STARTTLS with the testbed CA.
fn mx_send(tb: &Testbed, rcpt: &str) -> Cmd {
    Cmd::new([
        "send",
        "--server",
        &tb.mx(),
        "--cafile",
        tb.ca(),
        "--from",
        "sender@client.test",
        "--to",
        rcpt,
    ])
}

/// Every form in which a password could leak: as is, and in base64 alone and
/// inside an AUTH PLAIN response (with and without an authorization identity).
fn secret_forms(user: &str, password: &str) -> Vec<String> {
    vec![
        password.to_string(),
        base64_encode(password.as_bytes()),
        base64_encode(format!("\0{user}\0{password}").as_bytes()),
        base64_encode(format!("{user}\0{user}\0{password}").as_bytes()),
    ]
}

#[track_caller]
fn assert_no_secret(out: &Output, user: &str, password: &str) {
    out.assert_no_secret(&secret_forms(user, password));
}
