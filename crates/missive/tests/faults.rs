//! Faults a real server (Postfix) will not produce, from scripted fake
//! servers, against the real `missive` binary: missing or refused STARTTLS,
//! STARTTLS response injection, HELO-only servers, 421 mid-session, stalls,
//! dropped connections, refusals at the end of DATA, pipelining, SASL
//! exchanges checked on the server side, and malformed replies.

mod fake;
#[path = "common/support.rs"]
mod support;

use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use fake::{ca_file, Log, Run, Script, Server, Step, FROM, TO};
use hmac::{Hmac, Mac};
use missive_smtp::Command;

const PASSWORD: &str = "correct horse battery staple";

/// `--user alice --password-env FAKE_PW`, the password set in the environment.
fn with_password(m: fake::Missive, password: &str) -> fake::Missive {
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

// ---- HELO fallback ----------------------------------------------------------------

fn helo_fallback(code: u16) {
    let script = Script::new().on(move |c, cmd| match cmd {
        Command::Ehlo(_) => {
            c.reply(&format!("{code} 5.5.1 Error: command not recognized"));
            Step::Next
        }
        _ => Step::Default,
    });
    let server = Server::start(script);
    let run = server.client().args(&["--tls", "none"]).run();
    let log = server.finish();
    assert_eq!(run.code, 0, "{run}");
    assert_eq!(
        &log.lines[..2],
        ["EHLO client.test", "HELO client.test"],
        "{:?}",
        log.lines
    );
    assert!(log.has_verb("MAIL") && log.has_verb("RCPT"));
    // HELO means no extensions: no SIZE= on MAIL even though 8BITMIME/SIZE
    // would have been offered to EHLO.
    let mail = &log.lines[log.position("MAIL").unwrap()];
    assert_eq!(mail, &format!("MAIL FROM:<{FROM}>"));
    assert!(message(&log).contains("Hello from missive."));
}

#[test]
fn helo_fallback_after_ehlo_502() {
    helo_fallback(502);
}

#[test]
fn helo_fallback_after_ehlo_500() {
    helo_fallback(500);
}

// ---- 421 -------------------------------------------------------------------------

fn closing_at(verb: &'static str, caps: &[&str]) {
    let script = Script::new().caps(caps).on(move |c, cmd| {
        let hit = matches!(
            (verb, cmd),
            ("MAIL", Command::Mail { .. }) | ("RCPT", Command::Rcpt { .. })
        );
        if hit {
            c.reply("421 4.3.2 Service shutting down, closing transmission channel");
            Step::Close
        } else {
            Step::Default
        }
    });
    let server = Server::start(script);
    let run = server.client().args(&["--tls", "none"]).run();
    let log = server.finish();
    assert_eq!(run.code, 75, "{run}");
    assert!(run.one_error_line().contains("421"), "{run}");
    assert!(log.messages.is_empty());
}

#[test]
fn service_closing_421_at_mail() {
    closing_at("MAIL", &["8BITMIME"]);
}

#[test]
fn service_closing_421_at_rcpt() {
    closing_at("RCPT", &["8BITMIME"]);
}

#[test]
fn service_closing_421_at_pipelined_mail() {
    closing_at("MAIL", &["PIPELINING"]);
}

#[test]
fn greeting_421_is_temporary() {
    let server =
        Server::start(Script::new().greeting(Some("421 4.3.2 fake.test too busy, try later\r\n")));
    let run = server.client().args(&["--tls", "none"]).run();
    let log = server.finish();
    assert_eq!(run.code, 75, "{run}");
    assert!(run.one_error_line().contains("421"), "{run}");
    assert!(!log.has_verb("MAIL"));
}

#[test]
fn greeting_554_is_permanent() {
    let server = Server::start(Script::new().greeting(Some("554 5.7.1 go away\r\n")));
    let run = server.client().args(&["--tls", "none"]).run();
    let log = server.finish();
    assert_eq!(run.code, 69, "{run}");
    assert!(run.one_error_line().contains("554"), "{run}");
    assert!(!log.has_verb("MAIL"));
}

// ---- stalls ----------------------------------------------------------------------

#[test]
fn server_stalls_after_ehlo_times_out() {
    let script = Script::new().on(|_, cmd| match cmd {
        Command::Ehlo(_) => Step::Stall,
        _ => Step::Default,
    });
    let server = Server::start(script);
    let run = server
        .client()
        .args(&["--tls", "none", "--timeout", "2"])
        .run();
    let log = server.finish();
    assert_eq!(run.code, 75, "{run}");
    let line = run.one_error_line();
    assert!(line.contains("timed out") && line.contains("EHLO"), "{run}");
    assert!(run.elapsed < Duration::from_secs(15), "{run}");
    assert_eq!(log.verbs(), ["EHLO"]);
}

#[test]
fn server_never_greets_times_out() {
    let server = Server::start(Script::new().greeting(None));
    let run = server
        .client()
        .args(&["--tls", "none", "--timeout", "2"])
        .run();
    let log = server.finish();
    assert_eq!(run.code, 75, "{run}");
    let line = run.one_error_line();
    assert!(
        line.contains("timed out") && line.contains("greeting"),
        "{run}"
    );
    assert!(run.elapsed < Duration::from_secs(15), "{run}");
    assert!(
        log.lines.is_empty(),
        "the client spoke first: {:?}",
        log.lines
    );
}

#[test]
fn server_stalls_after_data_terminator_times_out() {
    let script = Script::new().on(|c, cmd| match cmd {
        Command::Data => {
            c.reply("354 go ahead");
            let _ = c.read_body();
            Step::Stall
        }
        _ => Step::Default,
    });
    let server = Server::start(script);
    let run = server
        .client()
        .args(&["--tls", "none", "--timeout", "2"])
        .run();
    server.finish();
    assert_eq!(run.code, 75, "{run}");
    assert!(run.one_error_line().contains("timed out"), "{run}");
    assert!(run.elapsed < Duration::from_secs(15), "{run}");
}

// ---- the connection drops during DATA ---------------------------------------------

/// The whole (small) body arrives, then the server closes instead of answering.
#[test]
fn connection_closed_after_body_before_final_reply() {
    let script = Script::new().on(|c, cmd| match cmd {
        Command::Data => {
            c.reply("354 go ahead");
            c.read_raw(10);
            Step::Close
        }
        _ => Step::Default,
    });
    let server = Server::start(script);
    let run = server.client().args(&["--tls", "none"]).run();
    let log = server.finish();
    assert_eq!(run.code, 75, "{run}");
    let line = run.one_error_line().to_ascii_lowercase();
    assert!(
        line.contains("connection") && (line.contains("lost") || line.contains("closed")),
        "{run}"
    );
    assert!(log.raw_body_bytes > 0);
    assert!(!run.stdout.contains("sent"), "{run}");
}

/// A large body: the server reads 64 KiB of it and hangs up mid-stream.
#[test]
fn connection_dropped_mid_body() {
    let path = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("missive-fault-body-{}.txt", std::process::id()));
    let line = "The quick brown fox jumps over the lazy dog, again and again.\n";
    std::fs::write(&path, line.repeat(8 * 1024 * 1024 / line.len())).unwrap();
    let script = Script::new().on(|c, cmd| match cmd {
        Command::Data => {
            c.reply("354 go ahead");
            c.read_raw(64 * 1024);
            Step::Close
        }
        _ => Step::Default,
    });
    let server = Server::start(script);
    let run = server
        .client()
        .body_file(&path)
        .args(&["--tls", "none"])
        .run();
    let log = server.finish();
    let _ = std::fs::remove_file(&path);
    assert_eq!(run.code, 75, "{run}");
    let line = run.one_error_line().to_ascii_lowercase();
    assert!(
        line.contains("connection") && (line.contains("lost") || line.contains("closed")),
        "{run}"
    );
    assert!(log.raw_body_bytes >= 64 * 1024);
    assert!(log.messages.is_empty());
}

// ---- the reply to "." ---------------------------------------------------------------

fn final_reply(reply: &'static str) -> (Run, Log) {
    let script = Script::new().on(move |c, cmd| match cmd {
        Command::Data => {
            c.reply("354 go ahead");
            if c.read_body().is_none() {
                return Step::Close;
            }
            c.reply(reply);
            Step::Next
        }
        _ => Step::Default,
    });
    let server = Server::start(script);
    let run = server.client().args(&["--tls", "none"]).run();
    (run, server.finish())
}

#[test]
fn final_reply_554_is_permanent() {
    let (run, log) = final_reply("554 5.7.1 Message rejected: looks like spam");
    assert_eq!(run.code, 69, "{run}");
    assert!(run.stderr.contains("554"), "{run}");
    assert!(run.stderr.contains(TO), "{run}");
    assert!(!run.stdout.contains("sent"), "{run}");
    assert!(log.has_verb("DATA"));
}

#[test]
fn final_reply_451_is_temporary() {
    let (run, _) = final_reply("451 4.3.0 Error: queue file write error");
    assert_eq!(run.code, 75, "{run}");
    assert!(run.stderr.contains("451"), "{run}");
    assert!(!run.stdout.contains("sent"), "{run}");
}

// ---- PIPELINING ----------------------------------------------------------------------

const RCPTS: [&str; 3] = [
    "bob@example.test",
    "carol@example.test",
    "dave@example.test",
];

#[test]
fn pipelining_sends_mail_rcpts_and_data_in_one_write() {
    let server = Server::start(Script::new().caps(&["PIPELINING", "SIZE 10240000"]));
    let run = server.client().to(&RCPTS).args(&["--tls", "none"]).run();
    let log = server.finish();
    assert_eq!(run.code, 0, "{run}");
    let groups = log.read_lines();
    let group = groups
        .iter()
        .find(|g| g.iter().any(|l| l.starts_with("MAIL FROM:")))
        .expect("MAIL was sent");
    let verbs: Vec<&str> = group
        .iter()
        .map(|l| l.split([' ', ':']).next().unwrap())
        .collect();
    assert_eq!(
        verbs,
        ["MAIL", "RCPT", "RCPT", "RCPT", "DATA"],
        "not one group: {:?}",
        log.reads
    );
    for (line, rcpt) in group[1..4].iter().zip(RCPTS) {
        assert_eq!(line, &format!("RCPT TO:<{rcpt}>"));
    }
    assert!(message(&log).contains("Hello from missive."));
}

#[test]
fn without_pipelining_one_command_per_round_trip() {
    let server = Server::start(Script::new().caps(&["SIZE 10240000"]));
    let run = server.client().to(&RCPTS).args(&["--tls", "none"]).run();
    let log = server.finish();
    assert_eq!(run.code, 0, "{run}");
    let transaction: Vec<Vec<String>> = log
        .read_lines()
        .into_iter()
        .filter(|g| {
            g.iter()
                .any(|l| l.starts_with("MAIL") || l.starts_with("RCPT") || l == "DATA")
        })
        .collect();
    assert_eq!(transaction.len(), 5, "{:?}", log.reads);
    for g in &transaction {
        assert_eq!(g.len(), 1, "several commands in one write: {g:?}");
    }
    assert!(message(&log).contains("Hello from missive."));
}

#[test]
fn pipelined_all_recipients_refused_sends_no_body() {
    let script = Script::new().caps(&["PIPELINING"]).on(|c, cmd| match cmd {
        Command::Rcpt { .. } => {
            c.reply("550 5.1.1 <x>: Recipient address rejected: User unknown");
            Step::Next
        }
        Command::Data => {
            c.reply("554 5.5.1 Error: no valid recipients");
            Step::Next
        }
        _ => Step::Default,
    });
    let server = Server::start(script);
    let run = server.client().to(&RCPTS).args(&["--tls", "none"]).run();
    let log = server.finish();
    assert_eq!(run.code, 69, "{run}");
    assert!(log.messages.is_empty());
    let data = log.position("DATA").expect("DATA was pipelined");
    let after: Vec<String> = log.verbs()[data + 1..].to_vec();
    assert!(
        after.iter().all(|v| v == "RSET" || v == "QUIT"),
        "the body (or more) was sent after a refused DATA: {:?}",
        &log.lines[data + 1..]
    );
    assert!(!after.is_empty(), "neither RSET nor QUIT was sent");
    for rcpt in RCPTS {
        assert!(run.stderr.contains(rcpt), "{run}");
    }
}

// ---- SASL, checked by the server ----------------------------------------------------

fn cram_md5_digest(password: &str, challenge: &str) -> String {
    let mut mac = Hmac::<md5::Md5>::new_from_slice(password.as_bytes()).unwrap();
    mac.update(challenge.as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn cram_md5_server() -> Script {
    let challenge = format!(
        "<{}.{}@fake.test>",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    Script::new()
        .caps(&["STARTTLS", "AUTH CRAM-MD5"])
        .on(move |c, cmd| match cmd {
            Command::Auth { mechanism, initial } if mechanism == "CRAM-MD5" => {
                assert!(initial.is_none(), "CRAM-MD5 has no initial response");
                c.reply(&format!("334 {}", B64.encode(&challenge)));
                let Some(answer) = c.read_line() else {
                    return Step::Close;
                };
                let decoded = B64.decode(answer.trim()).unwrap_or_default();
                let expected = format!("{FROM} {}", cram_md5_digest(PASSWORD, &challenge));
                if decoded == expected.as_bytes() {
                    c.reply("235 2.7.0 Authentication successful");
                } else {
                    c.reply("535 5.7.8 Error: authentication failed: bad response");
                }
                Step::Next
            }
            _ => Step::Default,
        })
}

#[test]
fn auth_cram_md5_verified_by_server() {
    let server = Server::start(cram_md5_server());
    let run = with_password(server.client(), PASSWORD)
        .args(&["--cafile", &ca_file(), "--auth", "cram-md5"])
        .run();
    let log = server.finish();
    assert_eq!(run.code, 0, "{run}");
    let auth = log.position("AUTH").unwrap();
    assert!(auth > log.tls_at.unwrap());
    assert_eq!(log.lines[auth], "AUTH CRAM-MD5");
    assert!(message(&log).contains("Hello from missive."));
}

#[test]
fn auth_cram_md5_wrong_password_is_535() {
    let server = Server::start(cram_md5_server());
    let run = with_password(server.client(), "not the password")
        .args(&["--cafile", &ca_file()])
        .run();
    let log = server.finish();
    assert_eq!(run.code, 77, "{run}");
    assert!(run.one_error_line().contains("535"), "{run}");
    assert!(!log.has_verb("MAIL"));
}

#[test]
fn auth_login_verified_by_server() {
    const ODD_PASSWORD: &str = "pä$$ wörd:€ 1";
    let script = Script::new()
        .caps(&["STARTTLS", "AUTH LOGIN"])
        .on(|c, cmd| match cmd {
            Command::Auth { mechanism, initial } if mechanism == "LOGIN" => {
                let user = match initial {
                    Some(u) => u.clone(),
                    None => {
                        c.reply("334 VXNlcm5hbWU6");
                        match c.read_line() {
                            Some(u) => u,
                            None => return Step::Close,
                        }
                    }
                };
                c.reply("334 UGFzc3dvcmQ6");
                let Some(pass) = c.read_line() else {
                    return Step::Close;
                };
                let ok = B64.decode(user).unwrap_or_default() == FROM.as_bytes()
                    && B64.decode(pass).unwrap_or_default() == ODD_PASSWORD.as_bytes();
                c.reply(if ok {
                    "235 2.7.0 Authentication successful"
                } else {
                    "535 5.7.8 Error: authentication failed"
                });
                Step::Next
            }
            _ => Step::Default,
        });
    let server = Server::start(script);
    let run = with_password(server.client(), ODD_PASSWORD)
        .args(&["--cafile", &ca_file(), "-v"])
        .run();
    let log = server.finish();
    assert_eq!(run.code, 0, "{run}");
    assert!(log.position("AUTH").unwrap() > log.tls_at.unwrap());
    assert!(!run.stderr.contains(ODD_PASSWORD), "{run}");
    assert!(!run.stderr.contains(&B64.encode(ODD_PASSWORD)), "{run}");
    assert!(message(&log).contains("Hello from missive."));
}

#[test]
fn auth_xoauth2_error_challenge_then_535() {
    const TOKEN: &str = "ya29.FAKE-token-0123456789abcdef";
    let error_json = r#"{"status":"401","schemes":"bearer","scope":"https://mail.google.com/"}"#;
    let script = Script::new()
        .caps(&["STARTTLS", "AUTH XOAUTH2 PLAIN"])
        .on(move |c, cmd| match cmd {
            Command::Auth { mechanism, initial } if mechanism == "XOAUTH2" => {
                let ir = B64
                    .decode(initial.as_deref().unwrap_or_default())
                    .unwrap_or_default();
                if ir != format!("user={FROM}\x01auth=Bearer {TOKEN}\x01\x01").as_bytes() {
                    c.reply("501 5.5.2 bad XOAUTH2 initial response");
                    return Step::Next;
                }
                c.reply(&format!("334 {}", B64.encode(error_json)));
                if c.read_line().is_none() {
                    return Step::Close;
                }
                c.reply("535-5.7.8 Username and Password not accepted.\r\n535 5.7.8 https://support.example/?p=BadCredentials");
                Step::Next
            }
            _ => Step::Default,
        });
    let server = Server::start(script);
    let run = server
        .client()
        .args(&[
            "--user",
            FROM,
            "--oauth-token-cmd",
            &format!("printf '%s\\n' '{TOKEN}'"),
            "--cafile",
            &ca_file(),
            "-v",
        ])
        .run();
    let log = server.finish();
    assert_eq!(run.code, 77, "{run}");
    let auth = log.position("AUTH").expect("AUTH sent");
    assert!(auth > log.tls_at.unwrap());
    assert_eq!(
        log.lines.get(auth + 1).map(String::as_str),
        Some(""),
        "the error challenge must be answered with an empty line: {:?}",
        log.lines
    );
    assert!(!log.has_verb("MAIL"));
    let initial = log.lines[auth].strip_prefix("AUTH XOAUTH2 ").unwrap();
    for output in [&run.stdout, &run.stderr] {
        assert!(!output.contains(TOKEN), "the token leaked:\n{run}");
        assert!(!output.contains(initial), "the token leaked:\n{run}");
    }
    let last = run
        .stderr
        .lines()
        .rfind(|l| !l.starts_with("hint: "))
        .unwrap_or_default();
    assert!(
        last.starts_with("missive: ") && last.contains("535"),
        "{run}"
    );
    assert!(
        last.contains("401"),
        "the error challenge is not reported: {run}"
    );
}

// ---- malformed replies -----------------------------------------------------------------

#[test]
fn endless_reply_line_is_a_protocol_error() {
    let script = Script::new().on(|c, cmd| match cmd {
        Command::Ehlo(_) => {
            c.send(&format!("250-{}", "x".repeat(100 * 1024)));
            Step::Stall
        }
        _ => Step::Default,
    });
    let server = Server::start(script);
    let run = server.client().args(&["--tls", "none"]).run();
    let log = server.finish();
    assert_eq!(run.code, 76, "{run}");
    assert!(run.one_error_line().contains("protocol"), "{run}");
    assert!(run.elapsed < Duration::from_secs(15), "{run}");
    assert_eq!(log.verbs(), ["EHLO"]);
}

#[test]
fn reply_with_too_many_lines_is_a_protocol_error() {
    let script = Script::new().on(|c, cmd| match cmd {
        Command::Ehlo(_) => {
            let lines: Vec<String> = (0..2000).map(|i| format!("X-CAP-{i}")).collect();
            c.send(&fake::multiline(250, &lines));
            Step::Stall
        }
        _ => Step::Default,
    });
    let server = Server::start(script);
    let run = server.client().args(&["--tls", "none"]).run();
    server.finish();
    assert_eq!(run.code, 76, "{run}");
    assert!(run.elapsed < Duration::from_secs(15), "{run}");
}

#[test]
fn greeting_without_a_code_is_a_protocol_error() {
    let server = Server::start(Script::new().greeting(Some("hello\r\n")));
    let run = server.client().args(&["--tls", "none"]).run();
    let log = server.finish();
    assert_eq!(run.code, 76, "{run}");
    assert!(run.one_error_line().contains("malformed"), "{run}");
    assert!(run.elapsed < Duration::from_secs(15), "{run}");
    assert!(log.lines.is_empty(), "{:?}", log.lines);
}

#[test]
fn reply_code_changing_mid_reply_is_a_protocol_error() {
    let script = Script::new().on(|c, cmd| match cmd {
        Command::Ehlo(_) => {
            c.send("250-fake.test\r\n220 surprise\r\n");
            Step::Stall
        }
        _ => Step::Default,
    });
    let server = Server::start(script);
    let run = server.client().args(&["--tls", "none"]).run();
    server.finish();
    assert_eq!(run.code, 76, "{run}");
}

/// Postfix's smtp-sink style: a multi-line greeting, and an EHLO list that ends
/// with a bare `250 ` line. Both are legal; PIPELINING must still be seen.
#[test]
fn multiline_greeting_and_bare_last_ehlo_line_are_accepted() {
    let script = Script::new()
        .greeting(Some(
            "220-fake.test ESMTP\r\n220-Unauthorized use prohibited.\r\n220 ready\r\n",
        ))
        .on(|c, cmd| match cmd {
            Command::Ehlo(_) => {
                c.send("250-fake.test\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 \r\n");
                Step::Next
            }
            _ => Step::Default,
        });
    let server = Server::start(script);
    let run = server.client().args(&["--tls", "none"]).run();
    let log = server.finish();
    assert_eq!(run.code, 0, "{run}");
    assert_eq!(
        log.lines.first().map(String::as_str),
        Some("EHLO client.test")
    );
    let text = message(&log);
    assert!(text.contains("Hello from missive."), "{text}");
    assert!(text.contains(&format!("From: {FROM}")), "{text}");
    let piped = log.read_lines().iter().any(|g| {
        g.len() == 3 && g[0].starts_with("MAIL") && g[1].starts_with("RCPT") && g[2] == "DATA"
    });
    assert!(piped, "PIPELINING was not used: {:?}", log.reads);
    assert!(run.stdout.contains("sent"), "{run}");
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

// ---- more transaction faults -------------------------------------------------------------

/// RFC 2920 §3.1: a pipelined DATA that gets 354 though every RCPT was refused
/// is ended with "." alone, no body.
#[test]
fn pipelined_data_354_after_all_recipients_refused_gets_only_the_dot() {
    let script = Script::new().caps(&["PIPELINING"]).on(|c, cmd| match cmd {
        Command::Rcpt { .. } => {
            c.reply("550 5.1.1 User unknown");
            Step::Next
        }
        Command::Data => {
            c.reply("354 go ahead anyway");
            if c.read_line().is_none() {
                return Step::Close;
            }
            c.reply("554 5.5.1 Error: no valid recipients");
            Step::Next
        }
        _ => Step::Default,
    });
    let server = Server::start(script);
    let run = server.client().to(&RCPTS).args(&["--tls", "none"]).run();
    let log = server.finish();
    assert_eq!(run.code, 69, "{run}");
    let data = log.position("DATA").expect("DATA");
    assert_eq!(
        log.lines.get(data + 1).map(String::as_str),
        Some("."),
        "{:?}",
        log.lines
    );
    let rest = &log.verbs()[data + 2..];
    assert!(
        rest.iter().all(|v| v == "RSET" || v == "QUIT"),
        "{:?}",
        log.lines
    );
    assert!(log.messages.is_empty());
}

/// A pipelined MAIL refused: RCPT and DATA get 503, no body goes out.
#[test]
fn pipelined_mail_refused_sends_no_body() {
    let script = Script::new().caps(&["PIPELINING"]).on(|c, cmd| match cmd {
        Command::Mail { .. } => {
            c.reply("553 5.7.1 <alice@example.test>: Sender address rejected");
            Step::Next
        }
        Command::Rcpt { .. } | Command::Data => {
            c.reply("503 5.5.1 Error: need MAIL command");
            Step::Next
        }
        _ => Step::Default,
    });
    let server = Server::start(script);
    let run = server.client().to(&RCPTS).args(&["--tls", "none"]).run();
    let log = server.finish();
    assert_eq!(run.code, 69, "{run}");
    assert!(run.stderr.contains("553"), "{run}");
    let data = log.position("DATA").expect("DATA was pipelined");
    assert!(
        log.verbs()[data + 1..]
            .iter()
            .all(|v| v == "RSET" || v == "QUIT"),
        "{:?}",
        log.lines
    );
}

/// SIZE smaller than the message: refused before MAIL is sent.
#[test]
fn message_over_the_size_limit_is_not_sent() {
    let server = Server::start(Script::new().caps(&["SIZE 100", "PIPELINING"]));
    let run = server.client().args(&["--tls", "none"]).run();
    let log = server.finish();
    assert_eq!(run.code, 69, "{run}");
    assert!(run.one_error_line().contains("100"), "{run}");
    assert!(!log.has_verb("MAIL"), "{:?}", log.lines);
}

#[test]
fn auth_454_is_temporary() {
    let script = Script::new()
        .caps(&["STARTTLS", "AUTH PLAIN"])
        .on(|c, cmd| match cmd {
            Command::Auth { .. } => {
                c.reply("454 4.7.0 Temporary authentication failure");
                Step::Next
            }
            _ => Step::Default,
        });
    let server = Server::start(script);
    let run = with_password(server.client(), PASSWORD)
        .args(&["--cafile", &ca_file()])
        .run();
    let log = server.finish();
    assert_eq!(run.code, 75, "{run}");
    assert!(run.one_error_line().contains("454"), "{run}");
    assert!(!log.has_verb("MAIL"));
}

/// Dot-stuffing survives the wire: lines that are or start with "." arrive intact.
#[test]
fn dots_at_line_starts_survive() {
    let server = Server::start(Script::new());
    let run = server
        .client()
        .body("a\n.\n..b\n.c\nend")
        .args(&["--tls", "none"])
        .run();
    let log = server.finish();
    assert_eq!(run.code, 0, "{run}");
    let text = message(&log);
    assert!(text.ends_with("a\r\n.\r\n..b\r\n.c\r\nend\r\n"), "{text:?}");
}

/// The server closes after greeting and reading EHLO, answering nothing.
#[test]
fn connection_closed_during_ehlo() {
    let script = Script::new().on(|_, cmd| match cmd {
        Command::Ehlo(_) => Step::Close,
        _ => Step::Default,
    });
    let server = Server::start(script);
    let run = server.client().args(&["--tls", "none"]).run();
    server.finish();
    assert_eq!(run.code, 75, "{run}");
    let line = run.one_error_line();
    assert!(
        line.contains("connection") && line.contains("EHLO"),
        "{run}"
    );
}

/// The error for a connection the server closed should read as a sentence
/// naming the stage ("... closed the connection during EHLO").
#[test]
fn connection_closed_message_is_readable() {
    for verb in ["EHLO", "DATA-END"] {
        let script = Script::new().on(move |c, cmd| match (verb, cmd) {
            ("EHLO", Command::Ehlo(_)) => Step::Close,
            ("DATA-END", Command::Data) => {
                c.reply("354 go ahead");
                let _ = c.read_body();
                Step::Close
            }
            _ => Step::Default,
        });
        let server = Server::start(script);
        let run = server.client().args(&["--tls", "none"]).run();
        server.finish();
        assert_eq!(run.code, 75, "{run}");
        let line = run.one_error_line();
        assert!(
            [
                "connection lost during",
                "closed the connection during",
                "closed the connection while"
            ]
            .iter()
            .any(|p| line.contains(p)),
            "{run}"
        );
    }
}

/// The server stops reading in the middle of a large body (without closing):
/// the per-write timeout ends the session.
#[test]
fn server_stops_reading_mid_body_times_out() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let path = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "missive-fault-stuck-body-{}.txt",
        std::process::id()
    ));
    let line = "The quick brown fox jumps over the lazy dog, once more with feeling.\n";
    std::fs::write(&path, line.repeat(32 * 1024 * 1024 / line.len())).unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let server_done = done.clone();
    // No SIZE: the client must not refuse the message before sending it.
    let script = Script::new()
        .caps(&["8BITMIME"])
        .on(move |c, cmd| match cmd {
            Command::Data => {
                c.reply("354 go ahead");
                while !server_done.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Step::Close
            }
            _ => Step::Default,
        });
    let server = Server::start(script);
    let run = server
        .client()
        .body_file(&path)
        .args(&["--tls", "none", "--timeout", "2"])
        .run();
    done.store(true, Ordering::SeqCst);
    server.finish();
    let _ = std::fs::remove_file(&path);
    assert_eq!(run.code, 75, "{run}");
    assert!(run.one_error_line().contains("timed out"), "{run}");
    assert!(run.elapsed < Duration::from_secs(15), "{run}");
}

// ---- after the message was accepted ------------------------------------------------------

/// The server hangs up right after accepting the message, without answering QUIT.
#[test]
fn close_after_final_250_without_quit_reply_is_success() {
    let script = Script::new().on(|_, cmd| match cmd {
        Command::Quit => Step::Close,
        _ => Step::Default,
    });
    let server = Server::start(script);
    let run = server.client().args(&["--tls", "none"]).run();
    let log = server.finish();
    assert_eq!(run.code, 0, "{run}");
    assert_eq!(log.messages.len(), 1);
}

/// The server never answers QUIT: the message was accepted, so success, and soon.
#[test]
fn quit_never_answered_is_success() {
    let script = Script::new().on(|_, cmd| match cmd {
        Command::Quit => Step::Stall,
        _ => Step::Default,
    });
    let server = Server::start(script);
    let run = server.client().args(&["--tls", "none"]).run();
    server.finish();
    assert_eq!(run.code, 0, "{run}");
    assert!(run.elapsed < Duration::from_secs(15), "{run}");
}

/// RFC 5321 §3.8: a server may send 421 and close at any time. Here it does
/// so in the same write as its 250 to ".": the message was accepted, and
/// reporting a failure would make the user send it again.
#[test]
fn final_250_then_unsolicited_421_in_the_same_write_is_success() {
    let script = Script::new().on(|c, cmd| match cmd {
        Command::Data => {
            c.reply("354 go ahead");
            if let Some(Ok(_)) = c.read_body() {
                c.send("250 2.0.0 Ok: queued as FAKEQ2\r\n421 4.3.2 Shutting down\r\n");
            }
            Step::Close
        }
        _ => Step::Default,
    });
    let server = Server::start(script);
    let run = server.client().args(&["--tls", "none"]).run();
    server.finish();
    assert_eq!(
        run.code, 0,
        "the accepted message was reported as failed:\n{run}"
    );
    assert!(run.stdout.contains("FAKEQ2"), "{run}");
}

/// A reply nobody asked for, in the same write as the EHLO reply: the
/// conversation is out of step, which is a protocol error.
#[test]
fn unsolicited_reply_after_ehlo_is_a_protocol_error() {
    let script = Script::new().on(|c, cmd| match cmd {
        Command::Ehlo(_) => {
            let r = c.ehlo_reply();
            c.send(&format!("{r}250 2.1.0 Ok\r\n"));
            Step::Next
        }
        _ => Step::Default,
    });
    let server = Server::start(script);
    let run = server.client().args(&["--tls", "none"]).run();
    let log = server.finish();
    assert_eq!(run.code, 76, "{run}");
    assert!(log.messages.is_empty());
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
