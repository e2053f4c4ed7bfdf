//! What a hostile client of `missive serve` cannot do (issue 14, defects 5
//! and 6): leave partial messages in tmp/, hold the server with a slow
//! trickle, or take every connection.

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
