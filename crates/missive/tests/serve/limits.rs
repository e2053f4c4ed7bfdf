//! Limits the server enforces: command line length, message size, bare LF
//! in DATA, and BDAT chunks.

use super::*;

#[test]
fn over_long_command_line_gets_500_and_the_session_continues() {
    let srv = Server::start(&[]);
    let mut c = Raw::connect(&srv.addr);
    assert!(c.cmd("EHLO raw.test").starts_with("250-"));
    let long = format!("NOOP {}", "a".repeat(13 * 1024));
    let r = c.cmd(&long);
    assert!(r.starts_with("500 "), "{r:?}");
    // exactly one reply: the next command's reply is the next thing read
    assert!(c.cmd("NOOP").starts_with("250 2.0.0"));
    assert!(c.cmd("MAIL FROM:<a@x.test>").starts_with("250 2.1.0"));
    assert!(c.cmd("RCPT TO:<b@y.test>").starts_with("250 2.1.5"));
    assert!(c.cmd("DATA").starts_with("354 "));
    c.send(b"Subject: after a long line\r\n\r\nstill here\r\n.\r\n");
    assert!(c.reply().starts_with("250 2.0.0 Ok: queued"));
    assert!(c.cmd("QUIT").starts_with("221 "));
    assert_eq!(srv.one_message().body(), b"still here\r\n");
}

/// The tail of an over-long line that arrives in a later read is still part
/// of that line: one 500, and the tail is never run as a command.
#[test]
fn over_long_command_line_split_across_reads_gets_one_reply() {
    let srv = Server::start(&[]);
    let mut c = Raw::connect(&srv.addr);
    assert!(c.cmd("EHLO raw.test").starts_with("250-"));
    c.send(format!("NOOP {}", "a".repeat(13 * 1024)).as_bytes());
    thread::sleep(Duration::from_millis(300));
    // the tail of the same line: it must not be executed
    c.send(b"MAIL FROM:<smuggled@x.test>\r\n");
    let r = c.reply();
    assert!(r.starts_with("500 "), "{r:?}");
    let r = c.cmd("NOOP");
    assert!(
        r.starts_with("250 2.0.0"),
        "a second reply to the long line: {r:?}"
    );
    let r = c.cmd("MAIL FROM:<a@x.test>");
    assert!(
        r.starts_with("250 2.1.0"),
        "the tail of the long line was taken as MAIL: {r:?}"
    );
}

#[test]
fn max_size_refused_up_front_by_the_client() {
    let srv = Server::start(&["--max-size", "1000"]);
    let mut args = srv.send();
    args.extend(strings(&[
        "--from",
        "alice@x.test",
        "--to",
        "bob@y.test",
        "--subject",
        "too big",
        "--body",
        &"x".repeat(2000),
    ]));
    let out = missive(&args, None);
    out.assert_code(69);
    assert!(out.stderr.contains("1000"), "{}", out);
    assert!(srv.messages().is_empty());
    assert_eq!(srv.files_in("tmp"), 0);
}

#[test]
fn max_size_enforced_by_the_server() {
    let srv = Server::start(&["--max-size", "1000"]);
    let mut c = Raw::connect(&srv.addr);
    let ehlo = c.cmd("EHLO raw.test");
    assert!(ehlo.contains("250-SIZE 1000\r\n"), "{ehlo:?}");
    let r = c.cmd("MAIL FROM:<a@x.test> SIZE=2000");
    assert!(r.starts_with("552 5.3.4"), "{r:?}");
    // declared small, sent big
    assert!(c
        .cmd("MAIL FROM:<a@x.test> SIZE=500")
        .starts_with("250 2.1.0"));
    assert!(c.cmd("RCPT TO:<b@y.test>").starts_with("250 2.1.5"));
    assert!(c.cmd("DATA").starts_with("354 "));
    let mut body = b"Subject: big\r\n\r\n".to_vec();
    for _ in 0..40 {
        body.extend_from_slice(&[b'y'; 78]);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b".\r\n");
    c.send(&body);
    let r = c.reply();
    assert!(r.starts_with("552 5.3.4"), "{r:?}");
    // the session goes on, and a small message still fits
    assert!(c
        .cmd("MAIL FROM:<a@x.test> SIZE=100")
        .starts_with("250 2.1.0"));
    assert!(c.cmd("RCPT TO:<b@y.test>").starts_with("250 2.1.5"));
    assert!(c.cmd("DATA").starts_with("354 "));
    c.send(b"Subject: small\r\n\r\nok\r\n.\r\n");
    assert!(c.reply().starts_with("250 2.0.0 Ok: queued"));
    let m = srv.one_message();
    assert_eq!(m.body(), b"ok\r\n");
    assert_eq!(srv.files_in("tmp"), 0);
}

#[test]
fn bare_lf_in_data_is_refused() {
    let srv = Server::start(&[]);
    let mut c = Raw::connect(&srv.addr);
    assert!(c.cmd("EHLO raw.test").starts_with("250-"));
    assert!(c.cmd("MAIL FROM:<a@x.test>").starts_with("250 2.1.0"));
    assert!(c.cmd("RCPT TO:<b@y.test>").starts_with("250 2.1.5"));
    assert!(c.cmd("DATA").starts_with("354 "));
    c.send(b"Subject: smuggle\r\n\r\nline one\nline two\r\n.\r\n");
    let r = c.reply();
    assert!(r.starts_with("550 5.5.2"), "{r:?}");
    // As Postfix does: the session ends, so nothing after it is read as a command.
    assert!(c.closed());
    assert!(srv.messages().is_empty());
    assert_eq!(srv.files_in("tmp"), 0);
}

#[test]
fn smuggling_attempt_with_bare_lf_dot_is_not_an_end_of_data() {
    let srv = Server::start(&[]);
    let mut c = Raw::connect(&srv.addr);
    assert!(c.cmd("EHLO raw.test").starts_with("250-"));
    assert!(c.cmd("MAIL FROM:<a@x.test>").starts_with("250 2.1.0"));
    assert!(c.cmd("RCPT TO:<b@y.test>").starts_with("250 2.1.5"));
    assert!(c.cmd("DATA").starts_with("354 "));
    // "\n.\n" is not the end of the data: no second transaction may start.
    c.send(
        b"Subject: one\r\n\r\nbody\n.\nMAIL FROM:<evil@x.test>\r\nRCPT TO:<victim@y.test>\r\nDATA\r\nSubject: two\r\n\r\nx\r\n.\r\n",
    );
    let r = c.reply();
    assert!(r.starts_with("550 5.5.2"), "{r:?}");
    assert!(c.closed(), "the smuggled commands must not be executed");
    std::thread::sleep(Duration::from_millis(200));
    assert!(srv.messages().is_empty());
    assert_eq!(srv.files_in("tmp"), 0);
}

#[test]
fn bdat_chunks_are_stored_as_sent() {
    let srv = Server::start(&[]);
    let mut c = Raw::connect(&srv.addr);
    let ehlo = c.cmd("EHLO raw.test");
    assert!(ehlo.contains("250-CHUNKING\r\n"), "{ehlo:?}");
    assert!(c.cmd("MAIL FROM:<a@x.test>").starts_with("250 2.1.0"));
    assert!(c.cmd("RCPT TO:<b@y.test>").starts_with("250 2.1.5"));
    // BDAT is not dot-stuffed: a line with a leading dot is sent as it is.
    let first: &[u8] = b"Subject: chunked\r\n\r\n.dot line\r\n";
    let last: &[u8] = b"..two dots\r\n.\r\nend\r\n";
    c.send(format!("BDAT {}\r\n", first.len()).as_bytes());
    c.send(first);
    let r = c.reply();
    assert!(r.starts_with("250 "), "{r:?}");
    c.send(format!("BDAT {} LAST\r\n", last.len()).as_bytes());
    c.send(last);
    let r = c.reply();
    assert!(r.starts_with("250 2.0.0 Ok: queued"), "{r:?}");
    assert!(c.cmd("QUIT").starts_with("221 "));
    let m = srv.one_message();
    assert_bytes_eq(&m.message, &[first, last].concat(), "the BDAT message");
}
