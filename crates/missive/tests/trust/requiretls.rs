//! REQUIRETLS (RFC 8689): `MAIL … REQUIRETLS` over verified TLS to a server
//! that offers it; exit 77 with nothing sent otherwise; `TLS-Required: No`.

use crate::support::fake_smtp::{self, Script, Server};
use crate::support::*;

fn offering(requiretls: bool) -> Script {
    let mut caps = vec!["STARTTLS", "8BITMIME", "SIZE 10240000"];
    if requiretls {
        caps.push("REQUIRETLS");
    }
    Script::new().caps(&caps)
}

fn mail_line(log: &fake_smtp::Log) -> Option<String> {
    log.lines
        .iter()
        .find(|l| l.to_ascii_uppercase().starts_with("MAIL FROM:"))
        .cloned()
}

#[test]
fn a_server_that_offers_requiretls_gets_it_on_mail_from_after_verified_starttls() {
    let server = Server::start(offering(true));
    let run = server
        .client()
        .args(&["--cafile", &fake_smtp::ca_file(), "--require-tls"])
        .run();
    let log = server.finish();
    assert_eq!(run.code, 0, "{run}");
    let mail = mail_line(&log).expect("MAIL sent");
    assert!(mail.ends_with(" REQUIRETLS"), "{mail}");
    let tls_at = log.tls_at.expect("STARTTLS happened");
    assert!(
        log.position("MAIL").unwrap() >= tls_at,
        "MAIL before TLS: {:?}",
        log.lines
    );
    assert_eq!(log.messages.len(), 1);
}

#[test]
fn the_setting_comes_from_the_environment_or_the_account_too() {
    let server = Server::start(offering(true));
    let run = server
        .client()
        .args(&["--cafile", &fake_smtp::ca_file()])
        .env("MISSIVE_REQUIRE_TLS", "true")
        .run();
    let log = server.finish();
    assert_eq!(run.code, 0, "{run}");
    assert!(mail_line(&log).unwrap().ends_with(" REQUIRETLS"));

    let server = Server::start(offering(true));
    let home = Home::new("requiretls-account");
    home.config(
        &format!(
            "[accounts.strict]\nserver = \"127.0.0.1:{}\"\ncafile = \"{}\"\nrequire_tls = true\n",
            server.port,
            fake_smtp::ca_file()
        ),
        0o600,
    );
    let out = home
        .cmd(&[
            "send",
            "--account",
            "strict",
            "--from",
            fake_smtp::FROM,
            "--to",
            fake_smtp::TO,
        ])
        .args(["--ehlo", "client.test", "--body", "x"])
        .run();
    let log = server.finish();
    out.assert_code(0);
    assert!(
        mail_line(&log).unwrap().ends_with(" REQUIRETLS"),
        "{:?}",
        log.lines
    );

    // without it, no REQUIRETLS
    let server = Server::start(offering(true));
    let run = server
        .client()
        .args(&["--cafile", &fake_smtp::ca_file()])
        .run();
    let log = server.finish();
    assert_eq!(run.code, 0, "{run}");
    assert!(!mail_line(&log).unwrap().contains("REQUIRETLS"));
}

#[test]
fn a_server_that_does_not_offer_requiretls_gets_nothing_exit_77() {
    let server = Server::start(offering(false));
    let run = server
        .client()
        .args(&["--cafile", &fake_smtp::ca_file(), "--require-tls"])
        .run();
    let log = server.finish();
    assert_eq!(run.code, 77, "{run}");
    assert!(run.stderr.contains("does not offer REQUIRETLS"), "{run}");
    assert!(mail_line(&log).is_none(), "{:?}", log.lines);
    assert!(log.messages.is_empty());
}

#[test]
fn routes_that_cannot_verify_tls_are_refused_before_connecting() {
    // nothing listens on this port: a connection attempt would be a
    // different error (exit 75), so 77 proves nothing was tried
    let port = free_port().to_string();
    let server = format!("127.0.0.1:{port}");
    for extra in [
        &["--tls", "opportunistic"][..],
        &["--tls", "none"][..],
        &["--insecure"][..],
    ] {
        let out = Cmd::new(["send", "--server", &server, "--from", "a@example.test"])
            .args(["--to", "b@example.test", "--body", "x", "--require-tls"])
            .args(extra)
            .run();
        out.assert_code(77);
        assert!(
            out.stderr.contains("--require-tls"),
            "{extra:?}: {}",
            out.stderr
        );
    }
    let out = Cmd::new(["send", "--direct", "--from", "a@example.test"])
        .args(["--to", "b@example.test", "--body", "x", "--require-tls"])
        .args([
            "--dns-server",
            &format!("127.0.0.1:{port}"),
            "--direct-deadline",
            "2",
        ])
        .run();
    out.assert_code(77);
    assert!(
        out.stderr.contains("no MTA-STS enforce policy"),
        "{}",
        out.stderr
    );
}

#[test]
fn tls_required_no_adds_the_header_and_no_requiretls() {
    let server = Server::start(offering(true));
    let run = server
        .client()
        .args(&["--cafile", &fake_smtp::ca_file(), "--tls-required-no"])
        .run();
    let log = server.finish();
    assert_eq!(run.code, 0, "{run}");
    let msg = String::from_utf8_lossy(&log.messages[0]).into_owned();
    let head = msg.split("\r\n\r\n").next().unwrap_or_default();
    assert!(head.lines().any(|l| l == "TLS-Required: No"), "{msg}");
    assert!(!mail_line(&log).unwrap().contains("REQUIRETLS"));
    // both at once make no sense
    let out = Cmd::new([
        "send",
        "--server",
        "127.0.0.1:1",
        "--from",
        "a@example.test",
    ])
    .args([
        "--to",
        "b@example.test",
        "--body",
        "x",
        "--require-tls",
        "--tls-required-no",
    ])
    .run();
    out.assert_code(64);
}

#[test]
fn a_queued_message_keeps_requiretls_for_later_attempts() {
    let dir = TempDir::new("requiretls-queue");
    let out = Cmd::new([
        "send",
        "--server",
        "127.0.0.1:1",
        "--from",
        "a@example.test",
    ])
    .args(["--to", "b@example.test", "--body", "x", "--require-tls"])
    .args(["--queue", "always"])
    .env("MISSIVE_QUEUE_DIR", dir.path())
    .run();
    out.assert_code(0);
    let entry = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "json"))
        .expect("an entry");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(entry).unwrap()).unwrap();
    assert_eq!(json["require_tls"], serde_json::Value::Bool(true), "{json}");
}
