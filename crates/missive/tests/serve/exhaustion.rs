//! What a hostile client of `missive serve` cannot do (issue 14, defects 5,
//! 6 and 10): leave partial messages in tmp/, hold the server with a slow
//! trickle, take every connection, or read its password in the process list.

use super::*;

/// Polls until tmp/ is empty (the server cleans up as the connection ends).
fn tmp_empties(srv: &Server) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if srv.files_in("tmp") == 0 {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// EHLO, MAIL, RCPT and a first BDAT chunk: a message file is in tmp/.
fn half_a_message(srv: &Server) -> Raw {
    let mut c = Raw::connect(&srv.addr);
    assert!(c.cmd("EHLO raw.test").starts_with("250-"));
    assert!(c.cmd("MAIL FROM:<a@x.test>").starts_with("250 "));
    assert!(c.cmd("RCPT TO:<b@y.test>").starts_with("250 "));
    c.send(b"BDAT 10\r\nSubject: x");
    assert!(c.reply().starts_with("250 "));
    assert_eq!(srv.files_in("tmp"), 1, "the message has started");
    c
}

#[test]
fn ehlo_mid_transaction_leaves_nothing_in_tmp() {
    let srv = Server::start(&[]);
    let mut c = half_a_message(&srv);
    assert!(c.cmd("EHLO again.test").starts_with("250-"));
    assert!(c.cmd("QUIT").starts_with("221"));
    assert!(tmp_empties(&srv), "a partial message stayed in tmp/");
    assert!(srv.messages().is_empty());
}

#[test]
fn a_failed_starttls_handshake_mid_transaction_leaves_nothing_in_tmp() {
    let srv = Server::start(&[]);
    let mut c = half_a_message(&srv);
    assert!(c.cmd("STARTTLS").starts_with("220"));
    c.send(b"this is not a TLS client hello\r\n");
    drop(c);
    assert!(tmp_empties(&srv), "a partial message stayed in tmp/");
}

#[test]
fn a_dropped_connection_mid_data_leaves_nothing_in_tmp() {
    let srv = Server::start(&[]);
    let mut c = Raw::connect(&srv.addr);
    assert!(c.cmd("EHLO raw.test").starts_with("250-"));
    assert!(c.cmd("MAIL FROM:<a@x.test>").starts_with("250 "));
    assert!(c.cmd("RCPT TO:<b@y.test>").starts_with("250 "));
    assert!(c.cmd("DATA").starts_with("354 "));
    c.send(b"Subject: half\r\n\r\nsome of the body");
    drop(c);
    assert!(tmp_empties(&srv), "a partial message stayed in tmp/");
}

/// Sends `bytes` one at a time, `every` apart, until the server closes the
/// connection; returns how long it held on (or `None` if it never closed
/// within `give_up`).
fn trickle(c: &mut Raw, bytes: &[u8], every: Duration, give_up: Duration) -> Option<Duration> {
    let start = Instant::now();
    for b in bytes.iter().cycle() {
        if start.elapsed() > give_up {
            return None;
        }
        if c.w.write_all(&[*b]).is_err() {
            return Some(start.elapsed());
        }
        std::thread::sleep(every);
        // Closed (the 421 and EOF are waiting): stop.
        c.w.set_nonblocking(true).unwrap();
        let mut peek = [0u8; 64];
        let closed = c.w.peek(&mut peek).is_ok();
        c.w.set_nonblocking(false).unwrap();
        if closed {
            return Some(start.elapsed());
        }
    }
    None
}

#[test]
fn a_command_trickled_a_byte_at_a_time_is_bounded_by_the_timeout() {
    let srv = Server::start(&["--timeout", "2"]);
    let mut c = Raw::connect(&srv.addr);
    let held = trickle(
        &mut c,
        b"EHLO slow.client.test",
        Duration::from_millis(300),
        Duration::from_secs(10),
    );
    let held = held.expect("the server let a trickling client hold it for 10 s");
    assert!(held < Duration::from_secs(4), "held for {held:?}");
    assert!(c.reply().starts_with("421 "));
}

#[test]
fn a_session_of_quick_commands_is_bounded_too() {
    let srv = Server::start(&["--timeout", "5", "--session-timeout", "2"]);
    let mut c = Raw::connect(&srv.addr);
    let start = Instant::now();
    loop {
        c.send(b"NOOP\r\n");
        let mut line = String::new();
        match c.r.read_line(&mut line) {
            Ok(n) if n > 0 && line.starts_with("250") => {}
            _ => break,
        }
        assert!(
            start.elapsed() < Duration::from_secs(8),
            "the session went on past its limit"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        start.elapsed() < Duration::from_secs(4),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn connections_over_the_limit_are_answered_421() {
    let srv = Server::start(&["--max-connections", "2"]);
    let _a = Raw::connect(&srv.addr);
    let _b = Raw::connect(&srv.addr);
    let s = TcpStream::connect(&srv.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut greeting = String::new();
    BufReader::new(s).read_line(&mut greeting).unwrap();
    assert!(greeting.starts_with("421 "), "{greeting:?}");
    // A freed slot serves the next client.
    drop(_a);
    std::thread::sleep(Duration::from_millis(200));
    let _c = Raw::connect(&srv.addr);
}

#[test]
fn serve_takes_no_password_on_the_command_line() {
    let dir = TempDir::new("serve-auth");
    let out = Cmd::new([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--auth-user",
        "u:secret-pw",
    ])
    .arg("--maildir")
    .arg(dir.path().join("mail"))
    .timeout(Duration::from_secs(20))
    .run();
    assert_eq!(out.code, 64, "{out}");
    assert!(
        out.one_error_line().contains("MISSIVE_SERVE_PASSWORD"),
        "{out}"
    );
    assert!(!out.stderr.contains("secret-pw"), "{out}");
}

#[test]
fn serve_takes_the_password_from_a_file() {
    let dir = TempDir::new("serve-auth-file");
    let pw = dir.write("pw", b"file-password\n");
    let srv = Server::start(&["--auth-user", "u", "--auth-password-file", &pw]);
    let mut args = srv.send();
    args.extend(strings(&[
        "--from",
        "a@x.test",
        "--to",
        "b@y.test",
        "--body",
        "x",
        "--user",
        "u",
        "--password-env",
        PASSWORD_VAR,
    ]));
    missive(&args, Some("file-password")).assert_code(0);
    missive(&args, Some("pw")).assert_code(77);
}

#[test]
fn a_client_cannot_put_control_characters_in_the_log() {
    let srv = Server::start(&[]);
    let mut c = Raw::connect(&srv.addr);
    assert!(c.cmd("EHLO raw.test").starts_with("250-"));
    // Refused as an address, or stored and logged escaped: never raw.
    let _ = c.cmd("MAIL FROM:<\"a\x1b[2K\"@x.test>");
    let _ = c.cmd("MAIL FROM:<a@x.test>");
    assert!(c.cmd("RCPT TO:<b@y.test>").starts_with("250 "));
    assert!(c.cmd("DATA").starts_with("354 "));
    c.send(b"Subject: \x1b[2Kfake\r\n\r\nbody\r\n.\r\n");
    assert!(c.reply().starts_with("250 "));
    srv.one_message();
    std::thread::sleep(Duration::from_millis(200));
    let log = srv.stdout();
    assert!(log.contains("subject="), "{log}");
    assert!(!log.contains('\x1b'), "{log:?}");
}
