//! TLS faults: STARTTLS missing, refused, injected into, or stalling; an
//! untrusted certificate; implicit TLS against a plaintext server.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;

use super::*;

// ---- TLS required -------------------------------------------------------------

#[test]
fn required_tls_without_starttls_offered_stops_after_ehlo() {
    let server = Server::start(Script::new().caps(&["PIPELINING", "AUTH PLAIN LOGIN"]));
    let run = with_password(server.client(), PASSWORD).run();
    let log = server.finish();
    assert_eq!(run.code, 77, "{run}");
    assert!(run.one_error_line().contains("STARTTLS"), "{run}");
    assert_eq!(
        log.lines.first().map(String::as_str),
        Some("EHLO client.test")
    );
    let verbs = log.verbs();
    assert!(
        verbs.iter().all(|v| v == "EHLO" || v == "QUIT"),
        "only EHLO (and QUIT) may be sent: {verbs:?}"
    );
    assert_nothing_sensitive(&log);
}

#[test]
fn required_tls_with_starttls_refused_454() {
    let script = Script::new()
        .caps(&["STARTTLS", "AUTH PLAIN"])
        .on(|c, cmd| match cmd {
            Command::StartTls => {
                c.reply("454 4.7.0 TLS not available due to local problem");
                Step::Next
            }
            _ => Step::Default,
        });
    let server = Server::start(script);
    let run = with_password(server.client(), PASSWORD)
        .args(&["--cafile", &ca_file()])
        .run();
    let log = server.finish();
    assert_eq!(run.code, 77, "{run}");
    let line = run.one_error_line();
    assert!(line.contains("STARTTLS") && line.contains("454"), "{run}");
    assert!(log.has_verb("STARTTLS"), "{:?}", log.lines);
    assert!(log.tls_at.is_none());
    let verbs = log.verbs();
    assert!(
        verbs
            .iter()
            .all(|v| v == "EHLO" || v == "STARTTLS" || v == "QUIT"),
        "{verbs:?}"
    );
    assert_nothing_sensitive(&log);
}

/// A server that does not know EHLO cannot offer STARTTLS: required TLS stops there.
#[test]
fn required_tls_with_helo_only_server_stops() {
    let script = Script::new().on(|c, cmd| match cmd {
        Command::Ehlo(_) => {
            c.reply("502 5.5.1 Error: command not implemented");
            Step::Next
        }
        _ => Step::Default,
    });
    let server = Server::start(script);
    let run = with_password(server.client(), PASSWORD).run();
    let log = server.finish();
    assert_eq!(run.code, 77, "{run}");
    assert!(run.one_error_line().contains("STARTTLS"), "{run}");
    assert_nothing_sensitive(&log);
}

/// STARTTLS that works: a positive control for the fake server's TLS, and the
/// client must forget the pre-TLS session and say EHLO again (RFC 3207 §4.2).
#[test]
fn starttls_then_ehlo_again_then_auth_plain() {
    let server = Server::start(Script::new().caps(&["STARTTLS", "AUTH PLAIN", "PIPELINING"]));
    let run = with_password(server.client(), PASSWORD)
        .args(&["--cafile", &ca_file()])
        .run();
    let log = server.finish();
    assert_eq!(run.code, 0, "{run}");
    let tls_at = log.tls_at.expect("TLS was established");
    assert_eq!(&log.verbs()[..tls_at], ["EHLO", "STARTTLS"]);
    assert_eq!(log.lines[tls_at], "EHLO client.test");
    let auth = log.position("AUTH").expect("AUTH sent");
    assert!(auth > tls_at);
    let plain = log.lines[auth].strip_prefix("AUTH PLAIN ").expect("PLAIN");
    assert_eq!(
        B64.decode(plain).unwrap(),
        format!("\0{FROM}\0{PASSWORD}").into_bytes()
    );
    assert!(!log.buffered_at_starttls);
    assert!(message(&log).contains("Hello from missive."));
}

/// CVE-2011-0411: bytes after the 220 to STARTTLS, in the same write, must not
/// be taken as if they came over TLS.
#[test]
fn starttls_response_injection_is_refused() {
    let script = Script::new()
        .caps(&["STARTTLS", "AUTH PLAIN"])
        .on(|c, cmd| match cmd {
            Command::StartTls => {
                c.send("220 2.0.0 go ahead\r\n250-evil.test\r\n250 AUTH PLAIN\r\n");
                c.start_tls();
                Step::Stall
            }
            _ => Step::Default,
        });
    let server = Server::start(script);
    let run = with_password(server.client(), PASSWORD)
        .args(&["--cafile", &ca_file()])
        .run();
    let log = server.finish();
    assert_eq!(run.code, 76, "{run}");
    let line = run.one_error_line();
    assert!(
        line.contains("STARTTLS") && line.contains("injection"),
        "{run}"
    );
    assert!(log.tls_at.is_none(), "the handshake completed: {log:?}");
    assert!(log.handshake_error.is_some());
    assert_nothing_sensitive(&log);
}

// ---- more TLS faults -------------------------------------------------------------------

/// A certificate the client cannot verify: required TLS stops, nothing sensitive is sent.
#[test]
fn untrusted_certificate_under_required_tls() {
    let server = Server::start(Script::new().caps(&["STARTTLS", "AUTH PLAIN"]));
    // No --cafile: the fake CA is not trusted.
    let run = with_password(server.client(), PASSWORD).run();
    let log = server.finish();
    assert_eq!(run.code, 77, "{run}");
    assert!(run.one_error_line().contains("TLS"), "{run}");
    assert!(log.tls_at.is_none());
    assert!(log.handshake_error.is_some());
    assert_nothing_sensitive(&log);
}

#[test]
fn implicit_tls_delivers() {
    let server = Server::start(Script::new().implicit_tls().caps(&["AUTH PLAIN"]));
    let run = with_password(server.client(), PASSWORD)
        .args(&["--tls", "implicit", "--cafile", &ca_file()])
        .run();
    let log = server.finish();
    assert_eq!(run.code, 0, "{run}");
    assert_eq!(log.tls_at, Some(0), "TLS must come before any command");
    assert!(!log.has_verb("STARTTLS"));
    assert!(log.has_verb("AUTH"));
    assert!(message(&log).contains("Hello from missive."));
}

/// `--tls implicit` against a server that greets in plaintext fails fast as a TLS error.
#[test]
fn implicit_tls_against_plaintext_server() {
    let server = Server::start(Script::new().caps(&["AUTH PLAIN"]));
    let run = with_password(server.client(), PASSWORD)
        .args(&["--tls", "implicit", "--cafile", &ca_file()])
        .run();
    let log = server.finish();
    assert_eq!(run.code, 77, "{run}");
    assert!(run.one_error_line().contains("TLS"), "{run}");
    assert!(run.elapsed < Duration::from_secs(15), "{run}");
    assert_nothing_sensitive(&log);
}

/// A server that accepts STARTTLS and then never starts the handshake.
#[test]
fn starttls_accepted_then_handshake_stalls() {
    let script = Script::new()
        .caps(&["STARTTLS", "AUTH PLAIN"])
        .on(|c, cmd| match cmd {
            Command::StartTls => {
                c.reply("220 2.0.0 Ready to start TLS");
                Step::Stall
            }
            _ => Step::Default,
        });
    let server = Server::start(script);
    let run = with_password(server.client(), PASSWORD)
        .args(&["--cafile", &ca_file(), "--timeout", "2"])
        .run();
    let log = server.finish();
    assert!(run.code == 75 || run.code == 77, "{run}");
    assert!(run.one_error_line().contains("timed out"), "{run}");
    assert!(run.elapsed < Duration::from_secs(15), "{run}");
    assert_nothing_sensitive(&log);
}

/// Opportunistic TLS tolerates a certificate it cannot verify, but a password
/// must not go to a peer whose certificate did not verify (README: AUTH never
/// over an unprotected connection; 77 for TLS "unavailable or unverified").
#[test]
fn opportunistic_tls_with_unverified_certificate_does_not_send_the_password() {
    let server = Server::start(Script::new().caps(&["STARTTLS", "AUTH PLAIN"]));
    let run = with_password(server.client(), PASSWORD)
        .args(&["--tls", "opportunistic"])
        .run();
    let log = server.finish();
    assert!(log.tls_at.is_some(), "{log:?}");
    assert!(
        !log.has_verb("AUTH"),
        "credentials sent over unverified TLS:\n{run}\n{:?}",
        log.lines
    );
}
