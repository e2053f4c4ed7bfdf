//! The sender when none is given: the login user when it is an address,
//! else the local user at a fully qualified host name, else an error that
//! says what to set.

use crate::support::fake_smtp::{self, Script, Server};
use crate::support::*;

fn sendmail(server: &Server, env: &[(&str, &str)]) -> Output {
    let mut cmd = Cmd::new(["sendmail", "-i", "bob@x.test"])
        .stdin("Subject: no from\n\nhi\n")
        .env("MISSIVE_SERVER", format!("127.0.0.1:{}", server.port))
        .env("MISSIVE_TLS", "none");
    for (k, v) in env {
        cmd = cmd.env(k, v);
    }
    cmd.run()
}

fn mail_from(log: &fake_smtp::Log) -> String {
    log.lines
        .iter()
        .find(|l| l.to_ascii_uppercase().starts_with("MAIL FROM:"))
        .cloned()
        .unwrap_or_default()
}

#[test]
fn login_user_that_is_an_address_is_the_default_sender() {
    let server = Server::start(Script::new());
    let out = sendmail(
        &server,
        &[
            ("MISSIVE_USER", "alice@corp.test"),
            ("MISSIVE_AUTH", "none"),
        ],
    );
    out.assert_code(0);
    let log = server.finish();
    assert!(
        mail_from(&log).starts_with("MAIL FROM:<alice@corp.test>"),
        "{:?}",
        log.lines
    );
    let message = String::from_utf8_lossy(&log.messages[0]).to_string();
    assert!(message.contains("From: alice@corp.test"), "{message}");
}

#[test]
fn without_any_sender_the_host_name_must_be_fully_qualified() {
    let server = Server::start(Script::new());
    // A login that is not an address: a provider would check the sender.
    let out = sendmail(
        &server,
        &[
            ("MISSIVE_USER", "alice"),
            ("MISSIVE_PASSWORD", "pw-not-shown"),
            ("USER", "alice"),
        ],
    );
    let fqdn = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap_or_default()
        .trim()
        .contains('.');
    if out.code == 64 {
        // This host has no fully qualified name: the error says what to set.
        let line = out.one_error_line();
        assert!(line.contains("no sender"), "{line}");
        for what in ["--from", "MISSIVE_FROM", "from"] {
            assert!(line.contains(what), "{line}");
        }
        assert!(!fqdn, "a dotted host name is fully qualified: {line}");
        drop(server);
    } else {
        // It has one: the sender is alice@ that name (AUTH over plaintext
        // then stops the send, after the sender was chosen).
        assert!(!out.stderr.contains("no sender"), "{}", out.stderr);
    }
    // Without a login, a local relay takes the local user as before.
    let server = Server::start(Script::new());
    let out = sendmail(&server, &[("USER", "carol")]);
    out.assert_code(0);
    let log = server.finish();
    assert!(
        mail_from(&log).starts_with("MAIL FROM:<carol@"),
        "{:?}",
        log.lines
    );
}
