//! Regressions for defects found in review: replies completed before a
//! malformed line, 3xx where 2xx is due, and the server's BDAT bookkeeping.

use missive_smtp::server::{Action, Server, ServerConfig};
use missive_smtp::{Client, ClientConfig, Envelope, Error, Next, TlsMode};

fn client() -> Client {
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

fn pump(c: &mut Client) -> Result<Next, Error> {
    loop {
        match c.poll()? {
            Next::Write(_) => {}
            other => return Ok(other),
        }
    }
}

/// Greeting and EHLO without extensions, then MAIL/RCPT/DATA answered.
fn at_body(c: &mut Client) {
    pump(c).unwrap();
    c.receive(b"220 mx ESMTP\r\n250 mx\r\n");
    assert_eq!(pump(c).unwrap(), Next::Ready);
    c.send_mail(Envelope {
        from: "a@x.test".into(),
        to: vec!["b@x.test".into()],
        ..Envelope::default()
    })
    .unwrap();
    pump(c).unwrap();
    c.receive(b"250 ok\r\n");
    pump(c).unwrap();
    c.receive(b"250 ok\r\n");
    pump(c).unwrap();
    c.receive(b"354 go\r\n");
    assert_eq!(pump(c).unwrap(), Next::SendBody);
    c.body_sent();
}

#[test]
fn an_accepted_message_survives_garbage_in_the_same_read() {
    let mut c = client();
    at_body(&mut c);
    c.receive(b"250 2.0.0 queued as ABC\r\n\r\n");
    assert!(matches!(pump(&mut c), Err(Error::Protocol(_))));
    let outcome = c.take_outcome().expect("the accepted transaction is kept");
    assert!(outcome.recipients()[0].accepted);
}

#[test]
fn intermediate_replies_are_not_success() {
    let mut c = client();
    pump(&mut c).unwrap();
    c.receive(b"220 mx ESMTP\r\n250 mx\r\n");
    pump(&mut c).unwrap();
    c.send_mail(Envelope {
        from: "a@x.test".into(),
        to: vec!["b@x.test".into()],
        ..Envelope::default()
    })
    .unwrap();
    pump(&mut c).unwrap();
    c.receive(b"250 ok\r\n");
    pump(&mut c).unwrap();
    c.receive(b"354 huh\r\n");
    assert!(matches!(pump(&mut c), Err(Error::Protocol(_))));

    let mut c = client();
    at_body(&mut c);
    c.receive(b"354 not really\r\n");
    assert!(matches!(pump(&mut c), Err(Error::Protocol(_))));
    assert!(c.take_outcome().is_none());
}

/// Drives a server over a script; returns what it wrote and its actions.
fn serve(input: &[u8]) -> (String, Vec<Action>) {
    let mut s = Server::new(ServerConfig::default());
    let (mut out, mut actions, mut fed) = (String::new(), Vec::new(), false);
    loop {
        match s.poll() {
            Action::Write(b) => out.push_str(&String::from_utf8_lossy(&b)),
            Action::Read { .. } if !fed => {
                fed = true;
                s.receive(input);
            }
            Action::Read { .. } | Action::Close => break,
            Action::MessageEnd { size } => {
                actions.push(Action::MessageEnd { size });
                s.message_stored(Ok("Q".into()));
            }
            a => actions.push(a),
        }
    }
    (out, actions)
}

#[test]
fn bdat_without_recipients_gets_one_reply() {
    let (out, actions) = serve(b"EHLO c\r\nMAIL FROM:<a@x.test>\r\nBDAT 3 LAST\r\nabcNOOP\r\n");
    let replies: Vec<&str> = out
        .lines()
        .skip_while(|l| !l.starts_with("250 2.1.0"))
        .collect();
    assert_eq!(
        replies,
        [
            "250 2.1.0 Ok",
            "554 5.5.1 Error: no valid recipients",
            "250 2.0.0 Ok"
        ],
        "{out}"
    );
    assert!(!actions.iter().any(|a| matches!(a, Action::MessageStart(_))));
}

#[test]
fn empty_bdat_chunks_start_one_message_and_rset_aborts_it() {
    let (_, actions) = serve(
        b"EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@x.test>\r\nBDAT 0\r\nBDAT 0\r\nBDAT 0\r\nRSET\r\n",
    );
    let starts = actions
        .iter()
        .filter(|a| matches!(a, Action::MessageStart(_)))
        .count();
    let aborts = actions
        .iter()
        .filter(|a| matches!(a, Action::MessageAbort))
        .count();
    assert_eq!((starts, aborts), (1, 1), "{actions:?}");
}
