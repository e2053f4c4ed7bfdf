//! The `hint:` line (and the JSON `hint`) for real providers' refusals, from
//! scripted fake servers, and for TLS mode and certificate name mistakes
//! against the Postfix testbed, each run with a configuration of its own
//! ([`Home`]).

use std::time::Duration;

use crate::support::fake_smtp::{self, Script, Server, Step};
use crate::support::testbed::loopback_name_not_in_certificate;
use missive_smtp::Command;

use crate::support::*;

// ======================================================================================
// Hints for real provider replies, from scripted fake servers
// ======================================================================================

/// A fake submission server (STARTTLS, then AUTH) that answers AUTH with `reply` (raw).
fn auth_refusing(reply: &'static str) -> Server {
    Server::start(
        Script::new()
            .caps(&[
                "STARTTLS",
                "AUTH PLAIN LOGIN",
                "ENHANCEDSTATUSCODES",
                "PIPELINING",
            ])
            .on(move |c, cmd| match cmd {
                Command::Auth { .. } if c.is_secure() => {
                    c.send(reply);
                    Step::Next
                }
                _ => Step::Default,
            }),
    )
}

/// `send` to a fake server with a user and a password from the environment.
fn send_to(home: &Home, port: u16, extra: &[&str]) -> Cmd {
    let server = format!("127.0.0.1:{port}");
    let ca = fake_smtp::ca_file();
    let mut args = vec![
        "send".to_string(),
        "--server".into(),
        server,
        "--cafile".into(),
        ca,
        "--ehlo".into(),
        "client.test".into(),
        "--from".into(),
        fake_smtp::FROM.into(),
        "--to".into(),
        fake_smtp::TO.into(),
        "--body".into(),
        fake_smtp::BODY.into(),
        "--timeout".into(),
        "20".into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    home.cmd(&a)
}

/// Runs the case twice (text, then --json) and checks the exit code, the
/// `hint:` line right after the error, and the JSON `hint`.
fn check_auth_hint(reply: &'static str, code: i32, expect: &[&str], not: &[&str]) {
    let home = Home::new("hint");
    let login = ["--user", fake_smtp::FROM, "--password-env", "FAKE_PW"];
    let server = auth_refusing(reply);
    let out = send_to(&home, server.port, &login)
        .env("FAKE_PW", "fake-pw-9")
        .run();
    let log = server.finish();
    assert!(
        log.has_verb("AUTH"),
        "AUTH reached the server: {:?}",
        log.lines
    );
    assert!(!log.has_verb("MAIL"), "{:?}", log.lines);
    check_hint(&out, code, expect, not);
    let first_reply_line = reply.lines().next().unwrap();
    let (err, _) = out.error_and_next();
    assert!(
        err.contains(&first_reply_line[..3]),
        "the error shows the reply\n{out}"
    );

    let server = auth_refusing(reply);
    let mut json = login.to_vec();
    json.push("--json");
    let out = send_to(&home, server.port, &json)
        .env("FAKE_PW", "fake-pw-9")
        .run();
    server.finish();
    check_json_hint(&out, code, expect, not);
}

#[track_caller]
fn check_hint(out: &Output, code: i32, expect: &[&str], not: &[&str]) {
    assert_eq!(out.code, code, "{out}");
    let (_, next) = out.error_and_next();
    let hint = next
        .and_then(|l| l.strip_prefix("hint: "))
        .unwrap_or_else(|| panic!("the line after the error is not a hint\n{out}"));
    for e in expect {
        assert!(hint.contains(e), "hint should mention {e:?}\n{out}");
    }
    for n in not {
        assert!(!hint.contains(n), "hint should not mention {n:?}\n{out}");
    }
    assert!(!out.all().contains("fake-pw-9"), "{out}");
}

#[track_caller]
fn check_json_hint(out: &Output, code: i32, expect: &[&str], not: &[&str]) {
    assert_eq!(out.code, code, "{out}");
    let j = out.json();
    assert_eq!(j["exit_code"], code, "{j:#}");
    let hint = j["hint"]
        .as_str()
        .unwrap_or_else(|| panic!("no hint in the JSON report: {j:#}"));
    for e in expect {
        assert!(hint.contains(e), "JSON hint should mention {e:?}: {j:#}");
    }
    for n in not {
        assert!(
            !hint.contains(n),
            "JSON hint should not mention {n:?}: {j:#}"
        );
    }
    assert!(j["error"].as_str().is_some(), "{j:#}");
    assert!(!out.all().contains("fake-pw-9"), "{out}");
}

#[test]
fn hint_office365_smtp_auth_disabled_for_the_tenant() {
    check_auth_hint(
        "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. Visit https://aka.ms/smtp_auth_disabled for more information. [AM0PR02CA0002.eurprd02.prod.outlook.com]\r\n",
        77,
        &["Authenticated SMTP", "--auth xoauth2"],
        &[],
    );
}

#[test]
fn hint_office365_basic_authentication_retired() {
    check_auth_hint(
        "550 5.7.30 Basic authentication is not supported for Client Submission. Visit https://aka.ms/smtp_auth_basic for more information. [AM0PR02CA0002.eurprd02.prod.outlook.com]\r\n",
        77,
        &["OAuth2", "--auth xoauth2", "--oauth-token-cmd"],
        &[],
    );
}

#[test]
fn hint_gmail_application_specific_password_required() {
    check_auth_hint(
        "534-5.7.9 Application-specific password required. For more information, go to\r\n534 5.7.9  https://support.google.com/mail/?p=InvalidSecondFactor d9443c01a7336-21f7e4f0f7fsm1234567b3b.95 - gsmtp\r\n",
        77,
        &["Gmail", "app password"],
        &[],
    );
}

#[test]
fn hint_gmail_bad_credentials() {
    // BadCredentials is on the second line of Gmail's reply.
    check_auth_hint(
        "535-5.7.8 Username and Password not accepted. For more information, go to\r\n535 5.7.8  https://support.google.com/mail/?p=BadCredentials 5b1f17b1804b1-43a8d0b1234sm123456f8f.12 - gsmtp\r\n",
        77,
        &["Gmail", "app password"],
        &["many providers"],
    );
}

#[test]
fn hint_yahoo_too_many_bad_auth_attempts() {
    check_auth_hint(
        "535 5.7.0 (#AUTH005) Too many bad auth attempts.\r\n",
        77,
        &["Yahoo/AOL", "app password"],
        &[],
    );
}

#[test]
fn hint_must_issue_starttls_first_when_auth_goes_in_plaintext() {
    // A server that advertises AUTH in plaintext but wants TLS first; the client
    // was told --tls none --allow-plaintext-auth.
    let mk = || {
        Server::start(
            Script::new()
                .caps(&["AUTH PLAIN LOGIN", "ENHANCEDSTATUSCODES"])
                .on(|c, cmd| match cmd {
                    Command::Auth { .. } | Command::Mail { .. } => {
                        c.reply("530 5.7.0 Must issue a STARTTLS command first");
                        Step::Next
                    }
                    _ => Step::Default,
                }),
        )
    };
    let home = Home::new("hint-530");
    let args = [
        "--tls",
        "none",
        "--allow-plaintext-auth",
        "--user",
        fake_smtp::FROM,
        "--password-env",
        "FAKE_PW",
    ];
    let server = mk();
    let out = send_to(&home, server.port, &args)
        .env("FAKE_PW", "fake-pw-9")
        .run();
    let log = server.finish();
    assert!(log.has_verb("AUTH"), "{:?}", log.lines);
    check_hint(&out, 77, &["--tls starttls"], &[]);
    assert!(out.error_and_next().0.contains("530"), "{out}");
    let server = mk();
    let mut json = args.to_vec();
    json.push("--json");
    let out = send_to(&home, server.port, &json)
        .env("FAKE_PW", "fake-pw-9")
        .run();
    server.finish();
    check_json_hint(&out, 77, &["--tls starttls"], &[]);
}

#[test]
fn hint_must_issue_starttls_first_from_postfix() {
    let tb = testbed!();
    // No user, no TLS: Postfix's submission port answers MAIL with 530.
    let home = Home::new("hint-530-postfix");
    let local = unique("acct-530");
    let rcpt = format!("{local}@example.test");
    for json in [false, true] {
        let mut args = vec![
            "send",
            "--server",
            "127.0.0.1:5870",
            "--tls",
            "none",
            "--from",
            "tester@example.test",
            "--to",
            &rcpt,
            "--body",
            "x",
        ];
        if json {
            args.push("--json");
        }
        let out = home.cmd(&args).run();
        assert_eq!(out.code, 69, "{out}");
        if json {
            let j = out.json();
            let rcpt_hint = j["recipients"][0]["hint"].as_str().unwrap_or_default();
            let hint = j["hint"].as_str().unwrap_or(rcpt_hint);
            assert!(hint.contains("--tls starttls"), "{j:#}");
        } else {
            let (err, next) = out.error_and_next();
            assert!(err.contains("530"), "{out}");
            let hint = next.and_then(|l| l.strip_prefix("hint: "));
            assert!(hint.is_some_and(|h| h.contains("--tls starttls")), "{out}");
        }
    }
    tb.assert_not_delivered(&format!("{local}@example.test"));
}

#[test]
fn hint_invalid_domain_name_in_helo() {
    let mk = || {
        Server::start(Script::new().on(|c, cmd| match cmd {
            Command::Ehlo(_) | Command::Helo(_) => {
                c.reply("501 5.5.4 Invalid domain name in HELO");
                Step::Next
            }
            _ => Step::Default,
        }))
    };
    let home = Home::new("hint-501");
    let server = mk();
    let out = send_to(&home, server.port, &[]).run();
    let log = server.finish();
    assert!(log.has_verb("EHLO"), "{:?}", log.lines);
    assert!(!log.has_verb("MAIL"), "{:?}", log.lines);
    check_hint(&out, 69, &["--ehlo"], &[]);
    assert!(out.error_and_next().0.contains("501"), "{out}");
    let server = mk();
    let out = send_to(&home, server.port, &["--json"]).run();
    server.finish();
    check_json_hint(&out, 69, &["--ehlo"], &[]);
}

// ======================================================================================
// TLS mode mismatches and certificate names, against Postfix
// ======================================================================================

#[test]
fn starttls_to_the_implicit_tls_port_times_out_with_a_hint() {
    let tb = testbed!();
    let home = Home::new("mismatch-465");
    let out = home
        .cmd(&[
            "send",
            "--server",
            "127.0.0.1:4650",
            "--tls",
            "starttls",
            "--timeout",
            "3",
            "--cafile",
            tb.ca(),
            "--from",
            "tester@example.test",
            "--to",
            "nobody@example.test",
            "--body",
            "x",
        ])
        .run();
    assert_eq!(out.code, 75, "{out}");
    assert!(out.elapsed < Duration::from_secs(10), "{out}");
    assert!(out.hint().contains("--tls implicit"), "{out}");
}

#[test]
fn implicit_tls_to_the_starttls_port_fails_with_a_hint() {
    let tb = testbed!();
    let home = Home::new("mismatch-587");
    let out = home
        .cmd(&[
            "send",
            "--server",
            "127.0.0.1:5870",
            "--tls",
            "implicit",
            "--timeout",
            "5",
            "--cafile",
            tb.ca(),
            "--from",
            "tester@example.test",
            "--to",
            "nobody@example.test",
            "--body",
            "x",
        ])
        .run();
    assert_eq!(out.code, 77, "{out}");
    assert!(out.elapsed < Duration::from_secs(10), "{out}");
    assert!(out.hint().contains("STARTTLS"), "{out}");
}

#[test]
fn a_certificate_name_mismatch_lists_the_certificates_names() {
    let tb = testbed!();
    let Some(host) = loopback_name_not_in_certificate() else {
        eprintln!("skipped: no host name resolves to 127.0.0.1 outside the certificate");
        return;
    };
    let home = Home::new("mismatch-name");
    for (port, tls) in [("5870", "starttls"), ("4650", "implicit")] {
        let server = format!("{host}:{port}");
        let out = home
            .cmd(&[
                "send",
                "--server",
                &server,
                "--tls",
                tls,
                "--timeout",
                "5",
                "--cafile",
                tb.ca(),
                "--user",
                "tester@example.test",
                "--password-env",
                "P",
                "--from",
                "tester@example.test",
                "--to",
                "nobody@example.test",
                "--body",
                "x",
            ])
            .env("P", "testpass")
            .run();
        assert_eq!(out.code, 77, "{out}");
        let (err, _) = out.error_and_next();
        assert!(err.contains(&host), "{out}");
        for name in ["mx.testbed.test", "localhost", "127.0.0.1"] {
            assert!(err.contains(name), "the message lists {name}\n{out}");
        }
        assert!(!out.all().contains("testpass"), "{out}");
    }
    // probe shows the same problem.
    let out = home
        .cmd(&["probe", &format!("{host}:5870"), "--cafile", tb.ca()])
        .run();
    assert_eq!(out.code, 77, "{out}");
    assert!(head(&out, "verified").starts_with("NO"), "{out}");
}
