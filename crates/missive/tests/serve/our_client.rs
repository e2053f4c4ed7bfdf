//! `missive send` against `missive serve`: STARTTLS, AUTH, implicit TLS,
//! IPv6, pipelining, big bodies and UTF-8 subjects.

use super::*;

#[test]
fn starttls_and_auth_plain_with_required_login() {
    let srv = Server::start(&["--auth-user", "u"]);
    let mut args = srv.send();
    args.extend(strings(&[
        "--user",
        "u",
        "--password-env",
        PASSWORD_VAR,
        "--auth",
        "plain",
        "--from",
        "alice@x.test",
        "--to",
        "bob@y.test",
        "--subject",
        "plain auth",
        "--body",
        "hello over STARTTLS",
        "-v",
    ]));
    let out = missive(&args, Some("pw"));
    out.assert_code(0);
    for want in [
        "C: STARTTLS",
        "C: AUTH PLAIN <redacted>",
        "S: 235 ",
        "(verified)",
    ] {
        assert!(out.stderr.contains(want), "no {want:?}:\n{}", out);
    }
    assert!(!out.stderr.contains("AHUAcHc"), "credentials leaked");
    let m = srv.one_message();
    assert_eq!(m.return_path, "alice@x.test");
    assert_eq!(m.envelope_to, ["bob@y.test"]);
    assert_eq!(m.header("Subject").as_deref(), Some("plain auth"));
    assert_eq!(m.body(), b"hello over STARTTLS\r\n");
    // the server's one line per message
    let log = srv.stdout();
    assert!(
        log.contains("alice@x.test -> bob@y.test subject=\"plain auth\"")
            && log.contains(&m.path.display().to_string()),
        "server stdout: {log}"
    );
    assert_eq!(srv.files_in("tmp"), 0);
}

#[test]
fn wrong_password_exits_77_and_nothing_is_stored() {
    let srv = Server::start(&["--auth-user", "u"]);
    let mut args = srv.send();
    args.extend(strings(&[
        "--user",
        "u",
        "--password-env",
        PASSWORD_VAR,
        "--from",
        "alice@x.test",
        "--to",
        "bob@y.test",
        "--subject",
        "s",
        "--body",
        "b",
    ]));
    let out = missive(&args, Some("not-the-password"));
    out.assert_code(77);
    assert!(out.stderr.contains("535"), "{}", out);
    assert!(!out.stderr.contains("not-the-password"), "{}", out);
    assert!(srv.messages().is_empty());
}

#[test]
fn no_login_when_one_is_required_is_refused() {
    let srv = Server::start(&["--auth-user", "u"]);
    let mut args = srv.send();
    args.extend(strings(&[
        "--from",
        "alice@x.test",
        "--to",
        "bob@y.test",
        "--body",
        "b",
    ]));
    let out = missive(&args, None);
    assert_ne!(out.code, 0, "{}", out);
    assert!(out.stderr.contains("530"), "{}", out);
    assert!(srv.messages().is_empty());
}

#[test]
fn auth_login() {
    let srv = Server::start(&["--auth-user", "u"]);
    let mut args = srv.send();
    args.extend(strings(&[
        "--user",
        "u",
        "--password-env",
        PASSWORD_VAR,
        "--auth",
        "login",
        "--from",
        "alice@x.test",
        "--to",
        "bob@y.test",
        "--subject",
        "login",
        "--body",
        "via AUTH LOGIN",
        "-v",
    ]));
    let out = missive(&args, Some("pw"));
    out.assert_code(0);
    assert!(out.stderr.contains("C: AUTH LOGIN"), "{}", out);
    assert!(out.stderr.contains("S: 235 "), "{}", out);
    assert!(!out.stderr.contains("cHc="), "password leaked: {}", out);
    assert_eq!(srv.one_message().body(), b"via AUTH LOGIN\r\n");

    // and a wrong password through LOGIN
    let out = missive(&args, Some("nope"));
    out.assert_code(77);
    assert_eq!(srv.messages().len(), 1);
}

#[test]
fn implicit_tls_listener() {
    let srv = Server::start_on(Listen::V4AndImplicit, &["--auth-user", "u"]);
    let tls_addr = srv.tls_addr.clone().unwrap();
    assert!(
        srv.stderr()
            .contains(&format!("listening on {tls_addr} (implicit TLS)")),
        "{}",
        srv.stderr()
    );
    let args = strings(&[
        "send",
        "--server",
        &tls_addr,
        "--tls",
        "implicit",
        "--cafile",
        &srv.ca_str(),
        "--user",
        "u",
        "--password-env",
        PASSWORD_VAR,
        "--from",
        "alice@x.test",
        "--to",
        "bob@y.test",
        "--subject",
        "implicit",
        "--body",
        "TLS from the first byte",
        "-v",
    ]);
    let out = missive(&args, Some("pw"));
    out.assert_code(0);
    let tls = line_index(&out.stderr, "* TLS ");
    let greeting = line_index(&out.stderr, "S: 220 ");
    assert!(
        tls < greeting,
        "TLS must come before the greeting:\n{}",
        out.stderr
    );
    assert!(out.stderr.contains("(verified)"), "{}", out);
    assert!(!out.stderr.contains("C: STARTTLS"), "{}", out);
    assert!(!out.stderr.contains("250-STARTTLS"), "{}", out);
    assert_eq!(srv.one_message().body(), b"TLS from the first byte\r\n");

    // The implicit-TLS port does not talk plaintext SMTP: a STARTTLS client gets no greeting.
    let mut plain = srv.send();
    plain[2] = tls_addr.clone();
    plain.extend(strings(&[
        "--timeout",
        "3",
        "--from",
        "alice@x.test",
        "--to",
        "bob@y.test",
        "--body",
        "x",
    ]));
    let out = missive(&plain, None);
    assert_ne!(out.code, 0, "{}", out);
    assert_eq!(srv.messages().len(), 1);
}

#[test]
fn ipv6_loopback() {
    let srv = Server::start_on(Listen::V6, &[]);
    assert!(srv.addr.starts_with("[::1]:"));
    let mut args = srv.send();
    args.extend(strings(&[
        "--from",
        "alice@x.test",
        "--to",
        "bob@y.test",
        "--subject",
        "v6",
        "--body",
        "over ::1",
        "-v",
    ]));
    let out = missive(&args, None);
    out.assert_code(0);
    assert!(out.stderr.contains("(verified)"), "{}", out);
    assert!(out.stderr.contains("[::1]"), "{}", out);
    assert_eq!(srv.one_message().body(), b"over ::1\r\n");
}

#[test]
fn pipelining_and_recipients_in_the_envelope() {
    let srv = Server::start(&[]);
    let mut args = srv.send();
    args.extend(strings(&[
        "--from",
        "Alice <alice@x.test>",
        "--to",
        "bob@y.test,carol@y.test",
        "--cc",
        "dave@z.test",
        "--bcc",
        "eve@secret.test",
        "--subject",
        "pipelined",
        "--body",
        "one round trip",
        // DATA closes the pipelined group; with BDAT (the default when
        // CHUNKING is offered) the group is MAIL and RCPTs only.
        "--no-chunking",
        "-v",
    ]));
    let out = missive(&args, None);
    out.assert_code(0);
    let t = &out.stderr;
    assert!(t.contains("S: 250-PIPELINING"), "{t}");
    let mail = line_index(t, "C: MAIL FROM:<alice@x.test>");
    let data = line_index(t, "C: DATA");
    let mail_reply = line_index(t, "S: 250 2.1.0");
    let rcpt_reply = line_index(t, "S: 250 2.1.5");
    let rcpts: Vec<usize> = t
        .lines()
        .enumerate()
        .filter(|(_, l)| l.starts_with("C: RCPT TO:"))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(rcpts.len(), 4, "{t}");
    assert!(
        mail < rcpts[0] && rcpts[3] < data && data < mail_reply && mail_reply < rcpt_reply,
        "MAIL, RCPT and DATA must all be sent before their replies:\n{t}"
    );
    let m = srv.one_message();
    assert_eq!(
        m.envelope_to,
        [
            "bob@y.test",
            "carol@y.test",
            "dave@z.test",
            "eve@secret.test"
        ]
    );
    let headers = m.headers();
    assert!(
        !headers.contains("eve@secret.test"),
        "Bcc in headers: {headers}"
    );
    assert!(!headers.to_ascii_lowercase().contains("bcc:"), "{headers}");
    assert_eq!(m.header("From").as_deref(), Some("Alice <alice@x.test>"));
    assert_eq!(m.header("Cc").as_deref(), Some("dave@z.test"));
}

/// A deterministic ~5 MiB ASCII text with lines that need dot-stuffing.
fn big_body() -> String {
    let mut s = String::with_capacity(5 * 1024 * 1024 + 4096);
    let mut x: u32 = 12345;
    let mut i = 0u32;
    while s.len() < 5 * 1024 * 1024 {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        match i % 97 {
            0 => s.push('.'),
            1 => s.push_str(".."),
            2 => s.push_str(".leading dot"),
            3 => {}
            _ => {
                let len = (x >> 16) % 200;
                for k in 0..len {
                    s.push((b' ' + ((x >> 3).wrapping_add(k * 7) % 94) as u8) as char);
                }
            }
        }
        s.push('\n');
        i += 1;
    }
    s.push_str("the very last line\n");
    s
}

#[test]
fn five_megabyte_body_arrives_byte_exact() {
    let srv = Server::start(&[]);
    let dir = TempDir::new("body");
    let body = big_body();
    assert!(body.len() >= 5 * 1024 * 1024);
    let file = dir.path().join("body.txt");
    std::fs::write(&file, &body).unwrap();
    let mut args = srv.send();
    args.extend(strings(&[
        "--from",
        "alice@x.test",
        "--to",
        "bob@y.test",
        "--subject",
        "big",
        "--body-file",
        &file.display().to_string(),
    ]));
    let out = missive(&args, None);
    out.assert_code(0);
    let m = srv.one_message();
    assert_eq!(
        m.header("Content-Transfer-Encoding").as_deref(),
        Some("7bit")
    );
    assert_bytes_eq(m.body(), &crlf(body.as_bytes()), "the 5 MB body");
    // the serve line reports the size of the whole message
    assert!(
        srv.stdout().contains(&format!("size={} ", m.message.len())),
        "{}",
        srv.stdout()
    );
}

#[test]
fn utf8_subject() {
    let srv = Server::start(&[]);
    let subject =
        "Grüße aus Köln — 日本語のテスト, with enough text to need several encoded words ✓";
    let mut args = srv.send();
    args.extend(strings(&[
        "--from",
        "alice@x.test",
        "--to",
        "bob@y.test",
        "--subject",
        subject,
        "--body",
        "Prüfung: ünïcödé body",
    ]));
    let out = missive(&args, None);
    out.assert_code(0);
    let m = srv.one_message();
    let raw = m.header("Subject").expect("a Subject header");
    assert!(raw.is_ascii(), "the Subject must be encoded: {raw:?}");
    assert_eq!(decode_words(&raw), subject);
    for line in m.text().split("\r\n") {
        assert!(line.len() <= 998, "line too long: {}", line.len());
    }
    assert!(
        m.header("Content-Type")
            .is_some_and(|c| c.contains("utf-8")),
        "{}",
        m.headers()
    );
}
