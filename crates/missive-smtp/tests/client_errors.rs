//! How a client session ends badly: 421 at any point, the connection lost,
//! malformed, oversized or unsolicited replies, 3xx where 2xx is due, and
//! misuse of the API.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use missive_smtp::{
    Client, ClientConfig, Envelope, Error, Next, Stage, TlsMode, TransactionOutcome,
};

use crate::util::*;

#[test]
fn service_closing_mid_session() {
    for pipelining in [true, false] {
        for mode in ALL_CHUNKINGS {
            let kw: &[&str] = if pipelining { &["PIPELINING"] } else { &[] };
            let mut d = ready(mode, kw);
            d.c.send_mail(envelope(&["a@x.test", "b@x.test"])).unwrap();
            d.poll().unwrap();
            d.take_writes();
            d.server("250 ok\r\n").unwrap();
            let next_rcpt = if pipelining {
                vec![]
            } else {
                vec!["RCPT TO:<a@x.test>\r\n"]
            };
            d.expect_writes(&next_rcpt);
            let r = d.server("421 4.3.2 Service shutting down\r\n");
            match &r {
                Err(Error::ServiceClosing(reply)) => {
                    assert_eq!(reply.code.value(), 421);
                    assert_eq!(reply.text(), "Service shutting down");
                }
                other => panic!("{other:?}"),
            }
            // nothing after the 421 goes out, and the error stays
            d.expect_writes(&[]);
            d.c.receive(b"250 ok\r\n");
            assert_eq!(d.poll(), r);
            d.expect_writes(&[]);
        }
    }
}

#[test]
fn unsolicited_421_while_ready() {
    let mut d = ready(Chunking::Bytes, &[]);
    let r = d.server("421 4.4.2 idle timeout\r\n");
    assert!(matches!(r, Err(Error::ServiceClosing(_))), "{r:?}");
}

#[test]
fn unsolicited_reply_is_a_protocol_error() {
    let mut d = ready(Chunking::Whole, &[]);
    let r = d.server("250 surprise\r\n");
    assert!(matches!(r, Err(Error::Protocol(_))), "{r:?}");
}

#[test]
fn connection_lost_mid_transaction() {
    // waiting for RCPT replies
    let mut d = ready(Chunking::Whole, &["PIPELINING"]);
    d.c.send_mail(envelope(&["a@x.test"])).unwrap();
    d.poll().unwrap();
    d.server("250 ok\r\n25").unwrap();
    d.c.connection_closed();
    assert_eq!(d.poll(), Err(Error::ConnectionLost { stage: Stage::Rcpt }));

    // while the body is being written
    let mut d = ready(Chunking::Whole, &["PIPELINING"]);
    d.c.send_mail(envelope(&["a@x.test"])).unwrap();
    d.poll().unwrap();
    assert_eq!(d.server("250 a\r\n250 b\r\n354 c\r\n"), Ok(Next::SendBody));
    d.c.connection_closed();
    assert_eq!(
        d.poll(),
        Err(Error::ConnectionLost {
            stage: Stage::DataBlock
        })
    );

    // waiting for the final reply
    let mut d = ready(Chunking::Whole, &[]);
    d.c.send_mail(envelope(&["a@x.test"])).unwrap();
    d.poll().unwrap();
    d.server("250 a\r\n").unwrap();
    d.server("250 b\r\n").unwrap();
    d.server("354 c\r\n").unwrap();
    send_body(&mut d, b"x");
    d.c.connection_closed();
    assert_eq!(
        d.poll(),
        Err(Error::ConnectionLost {
            stage: Stage::DataEnd
        })
    );
    assert!(d.c.take_outcome().is_none());

    // before the greeting
    let mut d = Driver::new(config(TlsMode::None, None), Chunking::Whole);
    d.c.connection_closed();
    assert_eq!(
        d.poll(),
        Err(Error::ConnectionLost {
            stage: Stage::Greeting
        })
    );
}

#[test]
fn connection_closed_when_nothing_is_due_is_not_an_error() {
    let mut d = ready(Chunking::Whole, &[]);
    d.c.connection_closed();
    assert_eq!(d.poll(), Ok(Next::Closed));

    // closing instead of answering QUIT is fine too
    let mut d = ready(Chunking::Whole, &[]);
    d.c.quit();
    d.poll().unwrap();
    d.expect_writes(&["QUIT\r\n"]);
    d.c.connection_closed();
    assert_eq!(d.poll(), Ok(Next::Closed));
}

#[test]
fn malformed_replies_are_protocol_errors() {
    for garbage in [
        "hello there\r\n",
        "2\r\n",
        "250_oops\r\n",
        "250-mx.test\r\n220 mixed codes\r\n",
        "999 out of range\r\n",
    ] {
        for mode in ALL_CHUNKINGS {
            let mut d = Driver::new(config(TlsMode::None, None), mode);
            d.server("220 mx.test\r\n").unwrap();
            d.take_writes();
            let r = d.server(garbage);
            assert!(
                matches!(r, Err(Error::Protocol(_))),
                "{garbage:?} {mode:?}: {r:?}"
            );
            d.expect_writes(&[]);
        }
    }
}

#[test]
fn oversized_reply_is_a_protocol_error() {
    let mut d = Driver::new(config(TlsMode::None, None), Chunking::Whole);
    d.server("220 mx.test\r\n").unwrap();
    d.take_writes();
    // an endless multiline EHLO reply
    let line = format!("250-{}\r\n", "X".repeat(200));
    let mut r = Ok(Next::Ready);
    for _ in 0..2000 {
        r = d.server(&line);
        if r.is_err() {
            break;
        }
    }
    assert!(matches!(r, Err(Error::Protocol(_))), "{r:?}");
    d.expect_writes(&[]);

    // a line that never ends
    let mut d = Driver::new(config(TlsMode::None, None), Chunking::Whole);
    let r = d.server(vec![b'2'; 100_000]);
    assert!(matches!(r, Err(Error::Protocol(_))), "{r:?}");
}

#[test]
fn misuse_is_reported() {
    let mut d = ready(Chunking::Whole, &[]);
    d.c.body_sent();
    assert!(matches!(d.poll(), Err(Error::Misuse(_))));
    d.expect_writes(&[]);

    let mut d = Driver::new(config(TlsMode::None, None), Chunking::Whole);
    assert!(matches!(
        d.c.send_mail(envelope(&["a@x.test"])),
        Err(Error::Misuse(_))
    ));
    d.c.quit();
    assert_eq!(d.poll(), Ok(read(Stage::Greeting)));
    d.expect_writes(&[]);
}

#[test]
fn outcome_recipients_without_replies() {
    // an outcome built by hand: nothing answered yet
    let out = TransactionOutcome {
        envelope: envelope(&["a@x.test"]),
        mail: None,
        rcpt: vec![None],
        data: None,
        final_reply: None,
    };
    let rs = out.recipients();
    assert_eq!(rs.len(), 1);
    assert!(!rs[0].accepted);
    assert_eq!(rs[0].reply, None);
}

#[test]
fn opportunistic_starttls_refused_with_credentials_is_plaintext_auth() {
    let mut d = Driver::new(
        config(TlsMode::Opportunistic, Some(password())),
        Chunking::Odd,
    );
    assert_eq!(
        hello(&mut d, &ehlo(&["STARTTLS", "AUTH PLAIN"])),
        Ok(read(Stage::StartTls))
    );
    d.expect_writes(&["STARTTLS\r\n"]);
    assert_eq!(
        d.server("454 4.7.0 TLS not available\r\n"),
        Err(Error::PlaintextAuth)
    );
    d.expect_writes(&[]);
    assert!(!d.sent().iter().any(|s| s.contains("AUTH")));
    d.check_no_secret();
}

#[test]
fn quit_answered_with_421_closes() {
    let mut d = ready(Chunking::Whole, &[]);
    d.c.quit();
    d.poll().unwrap();
    d.expect_writes(&["QUIT\r\n"]);
    assert_eq!(d.server("421 4.3.2 bye anyway\r\n"), Ok(Next::Closed));
}

/// The client's `Debug` must not show the credentials, in any encoding,
/// at any point (callers log `{client:?}` on errors).
#[test]
fn client_debug_never_shows_pending_credentials() {
    let mut c = Client::new(config(TlsMode::Implicit, Some(password())));
    c.receive(b"220 mx.test\r\n");
    assert!(matches!(c.poll(), Ok(Next::Write(_))));
    c.receive(ehlo(&["AUTH PLAIN"]).as_bytes());
    // the AUTH line is queued, not yet taken with poll()
    let debug = format!("{c:?}");
    let plain = B64.encode(format!("\0{USER}\0{PASSWORD}"));
    let as_list = format!("{:?}", plain.as_bytes());
    let as_list = &as_list[1..as_list.len() - 1]; // "65, 71, …" without the brackets
    assert!(!debug.contains(&plain), "base64 credentials in {debug}");
    assert!(
        !debug.contains(as_list),
        "base64 credentials, as bytes, in the client's Debug"
    );
}

/// A server that refuses MAIL yet accepts RCPT and DATA (pipelined): the
/// transaction has no sender, so the message must not be sent.
#[test]
fn mail_refused_but_data_354_sends_no_body() {
    for mode in ALL_CHUNKINGS {
        let mut d = ready(mode, &["PIPELINING"]);
        d.c.send_mail(envelope(&["a@x.test"])).unwrap();
        d.poll().unwrap();
        d.take_writes();
        let r = d.server("550 5.7.1 sender refused\r\n250 2.1.5 ok\r\n354 go\r\n");
        assert_eq!(r, Ok(read(Stage::DataEnd)), "{mode:?}");
        d.expect_writes(&[".\r\n"]);
        assert_eq!(
            d.server("503 5.5.1 no valid recipients\r\n"),
            Ok(Next::Ready)
        );
        let out = d.c.take_outcome().unwrap();
        assert_eq!(out.final_reply, None);
        let rs = out.recipients();
        assert!(!rs[0].accepted);
        assert_eq!(code(rs[0].reply), Some(550));
    }
}

// ---- replies that are not what is due (a plain driver without chunking) ---------------

fn plain_client() -> Client {
    Client::new(ClientConfig {
        ehlo_name: "client.test".into(),
        tls: TlsMode::None,
        credentials: None,
        mechanism: None,
        allow_plaintext_auth: false,
        server_host: "mx.test".into(),
        server_port: 25,
        chunking: false,
    })
}

fn pump_writes(c: &mut Client) -> Result<Next, Error> {
    loop {
        match c.poll()? {
            Next::Write(_) => {}
            other => return Ok(other),
        }
    }
}

/// Greeting and EHLO without extensions, then MAIL/RCPT/DATA answered.
fn at_body(c: &mut Client) {
    pump_writes(c).unwrap();
    c.receive(b"220 mx ESMTP\r\n250 mx\r\n");
    assert_eq!(pump_writes(c).unwrap(), Next::Ready);
    c.send_mail(Envelope {
        from: "a@x.test".into(),
        to: vec!["b@x.test".into()],
        ..Envelope::default()
    })
    .unwrap();
    pump_writes(c).unwrap();
    c.receive(b"250 ok\r\n");
    pump_writes(c).unwrap();
    c.receive(b"250 ok\r\n");
    pump_writes(c).unwrap();
    c.receive(b"354 go\r\n");
    assert_eq!(pump_writes(c).unwrap(), Next::SendBody);
    c.body_sent();
}

#[test]
fn an_accepted_message_survives_garbage_in_the_same_read() {
    let mut c = plain_client();
    at_body(&mut c);
    c.receive(b"250 2.0.0 queued as ABC\r\n\r\n");
    assert!(matches!(pump_writes(&mut c), Err(Error::Protocol(_))));
    let outcome = c.take_outcome().expect("the accepted transaction is kept");
    assert!(outcome.recipients()[0].accepted);
}

#[test]
fn intermediate_replies_are_not_success() {
    let mut c = plain_client();
    pump_writes(&mut c).unwrap();
    c.receive(b"220 mx ESMTP\r\n250 mx\r\n");
    pump_writes(&mut c).unwrap();
    c.send_mail(Envelope {
        from: "a@x.test".into(),
        to: vec!["b@x.test".into()],
        ..Envelope::default()
    })
    .unwrap();
    pump_writes(&mut c).unwrap();
    c.receive(b"250 ok\r\n");
    pump_writes(&mut c).unwrap();
    c.receive(b"354 huh\r\n");
    assert!(matches!(pump_writes(&mut c), Err(Error::Protocol(_))));

    let mut c = plain_client();
    at_body(&mut c);
    c.receive(b"354 not really\r\n");
    assert!(matches!(pump_writes(&mut c), Err(Error::Protocol(_))));
    assert!(c.take_outcome().is_none());
}
