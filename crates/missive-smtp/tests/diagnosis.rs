//! Stopping early for diagnosis (`--quit-after`): `Client::quit_early`
//! between replies, and `Client::send_envelope`, a transaction without a body.

use missive_smtp::{Client, ClientConfig, Envelope, Event, Next, TlsMode};

fn client() -> Client {
    Client::new(ClientConfig {
        ehlo_name: "client.test".into(),
        tls: TlsMode::None,
        credentials: None,
        mechanism: None,
        allow_plaintext_auth: false,
        server_host: "mx.test".into(),
        server_port: 25,
        chunking: true,
    })
}

/// Polls until the machine wants input or the application; returns the bytes written.
fn pump(c: &mut Client) -> (String, Next) {
    let mut out = String::new();
    loop {
        match c.poll().expect("no error") {
            Next::Write(b) => out.push_str(&String::from_utf8(b).unwrap()),
            other => return (out, other),
        }
    }
}

fn sent_events(c: &mut Client) -> Vec<String> {
    std::iter::from_fn(|| c.poll_event())
        .filter_map(|e| match e {
            Event::Sent(s) => Some(s),
            Event::Received(_) => None,
        })
        .collect()
}

const EHLO: &[u8] = b"250-mx.test\r\n250-PIPELINING\r\n250 CHUNKING\r\n";

#[test]
fn quit_after_the_greeting_drops_the_unsent_ehlo() {
    let mut c = client();
    assert!(matches!(pump(&mut c).1, Next::Read { .. }));
    assert!(!c.quit_early(), "the greeting is due");
    c.receive(b"220 mx.test ESMTP\r\n");
    // EHLO is queued but not handed out: it is dropped for QUIT.
    assert!(c.quit_early());
    assert_eq!(sent_events(&mut c), ["QUIT"]);
    let (written, next) = pump(&mut c);
    assert_eq!(written, "QUIT\r\n");
    assert!(matches!(next, Next::Read { .. }));
    assert!(!c.quit_early(), "QUIT's reply is due");
    c.receive(b"221 bye\r\n");
    assert_eq!(pump(&mut c).1, Next::Closed);
}

#[test]
fn not_while_a_reply_is_due() {
    let mut c = client();
    pump(&mut c);
    c.receive(b"220 mx.test ESMTP\r\n");
    let (written, _) = pump(&mut c);
    assert_eq!(written, "EHLO client.test\r\n");
    assert!(!c.quit_early(), "EHLO went out; its reply is due");
    c.receive(EHLO);
    assert_eq!(pump(&mut c).1, Next::Ready);
    assert!(c.quit_early(), "at Ready it is QUIT");
    assert_eq!(pump(&mut c).0, "QUIT\r\n");
}

#[test]
fn envelope_only_transaction_ends_with_rset_not_data() {
    for rcpts in [true, false] {
        let mut c = client();
        pump(&mut c);
        c.receive(b"220 mx.test ESMTP\r\n");
        pump(&mut c);
        c.receive(EHLO);
        assert_eq!(pump(&mut c).1, Next::Ready);
        let envelope = Envelope {
            from: "a@x.test".into(),
            to: vec!["b@x.test".into(), "c@x.test".into()],
            eight_bit: false,
            size: None,
            dsn: Default::default(),
            require_tls: false,
        };
        c.send_envelope(envelope, rcpts).unwrap();
        let (written, _) = pump(&mut c);
        if rcpts {
            assert_eq!(
                written,
                "MAIL FROM:<a@x.test>\r\nRCPT TO:<b@x.test>\r\nRCPT TO:<c@x.test>\r\n"
            );
            c.receive(b"250 ok\r\n250 ok\r\n550 no\r\n");
        } else {
            assert_eq!(written, "MAIL FROM:<a@x.test>\r\n");
            c.receive(b"250 ok\r\n");
        }
        let (written, _) = pump(&mut c);
        assert_eq!(written, "RSET\r\n");
        c.receive(b"250 reset\r\n");
        assert_eq!(pump(&mut c).1, Next::Ready);
        let tx = c.take_outcome().expect("an outcome");
        assert!(tx.data.is_none() && tx.final_reply.is_none());
        assert_eq!(
            tx.rcpt.iter().filter(|r| r.is_some()).count(),
            if rcpts { 2 } else { 0 }
        );
    }
}
