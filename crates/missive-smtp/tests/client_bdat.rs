//! BDAT (RFC 3030) and DSN (RFC 3461) in the client state machine.

use missive_smtp::envelope::Dsn;
use missive_smtp::{Client, ClientConfig, Envelope, Next, TlsMode};

fn config(chunking: bool) -> ClientConfig {
    ClientConfig {
        ehlo_name: "client.test".into(),
        tls: TlsMode::None,
        credentials: None,
        mechanism: None,
        allow_plaintext_auth: false,
        server_host: "mx.test".into(),
        server_port: 25,
        chunking,
    }
}

/// Polls until the machine wants input or the application; returns all written bytes.
fn pump(c: &mut Client) -> (String, Next) {
    let mut out = String::new();
    loop {
        match c.poll().expect("no error") {
            Next::Write(b) => out.push_str(&String::from_utf8(b).unwrap()),
            other => return (out, other),
        }
    }
}

fn ready(c: &mut Client, ehlo: &str) {
    pump(c);
    c.receive(b"220 mx.test ESMTP\r\n");
    pump(c);
    c.receive(ehlo.as_bytes());
    assert_eq!(pump(c).1, Next::Ready);
}

fn envelope(to: &[&str]) -> Envelope {
    Envelope {
        from: "a@x.test".into(),
        to: to.iter().map(|s| s.to_string()).collect(),
        ..Envelope::default()
    }
}

#[test]
fn bdat_replaces_data_and_chunks_are_answered_in_turn() {
    let mut c = Client::new(config(true));
    ready(&mut c, "250-mx.test\r\n250-PIPELINING\r\n250 CHUNKING\r\n");
    c.send_mail(envelope(&["b@x.test", "c@x.test"])).unwrap();
    let (sent, _) = pump(&mut c);
    assert_eq!(
        sent, "MAIL FROM:<a@x.test>\r\nRCPT TO:<b@x.test>\r\nRCPT TO:<c@x.test>\r\n",
        "no DATA with BDAT"
    );
    c.receive(b"250 ok\r\n550 no such user\r\n250 ok\r\n");
    assert_eq!(pump(&mut c).1, Next::SendBody);
    assert!(c.uses_bdat());
    assert_eq!(c.bdat_command(5, false).unwrap(), b"BDAT 5\r\n");
    assert!(matches!(pump(&mut c).1, Next::Read { .. }));
    c.receive(b"250 5 octets\r\n");
    assert_eq!(pump(&mut c).1, Next::SendBody);
    assert_eq!(c.bdat_command(0, true).unwrap(), b"BDAT 0 LAST\r\n");
    c.receive(b"250 2.0.0 queued as X1\r\n");
    assert_eq!(pump(&mut c).1, Next::Ready);
    let o = c.take_outcome().unwrap();
    let r = o.recipients();
    assert!(!r[0].accepted && r[1].accepted);
    assert_eq!(o.final_reply.unwrap().queue_id().as_deref(), Some("X1"));
}

#[test]
fn refused_chunk_ends_the_transaction_with_rset() {
    let mut c = Client::new(config(true));
    ready(&mut c, "250-mx.test\r\n250 CHUNKING\r\n");
    c.send_mail(envelope(&["b@x.test"])).unwrap();
    pump(&mut c);
    c.receive(b"250 ok\r\n");
    pump(&mut c);
    c.receive(b"250 ok\r\n");
    assert_eq!(pump(&mut c).1, Next::SendBody);
    c.bdat_command(10, false).unwrap();
    c.receive(b"552 5.3.4 too big\r\n");
    let (sent, next) = pump(&mut c);
    assert_eq!(sent, "RSET\r\n");
    assert!(matches!(next, Next::Read { .. }));
    c.receive(b"250 ok\r\n");
    assert_eq!(pump(&mut c).1, Next::Ready);
    let o = c.take_outcome().unwrap();
    assert!(!o.recipients()[0].accepted);
    assert_eq!(o.recipients()[0].reply.unwrap().code.value(), 552);
}

#[test]
fn chunking_not_used_when_disabled_or_not_offered() {
    for (allow, ehlo) in [
        (false, "250-mx.test\r\n250 CHUNKING\r\n"),
        (true, "250 mx.test\r\n"),
    ] {
        let mut c = Client::new(config(allow));
        ready(&mut c, ehlo);
        c.send_mail(envelope(&["b@x.test"])).unwrap();
        pump(&mut c);
        c.receive(b"250 ok\r\n");
        pump(&mut c);
        c.receive(b"250 ok\r\n");
        let (sent, _) = pump(&mut c);
        assert_eq!(sent, "DATA\r\n");
        assert!(!c.uses_bdat());
        assert!(c.bdat_command(1, true).is_err());
    }
}

#[test]
fn dsn_parameters_only_when_offered() {
    let dsn = Dsn {
        ret: Some("HDRS".into()),
        envid: Some("id+1 x".into()),
        notify: Some("SUCCESS,FAILURE".into()),
    };
    let mut c = Client::new(config(false));
    ready(&mut c, "250-mx.test\r\n250-PIPELINING\r\n250 DSN\r\n");
    c.send_mail(Envelope {
        dsn: dsn.clone(),
        ..envelope(&["b+c@x.test"])
    })
    .unwrap();
    let (sent, _) = pump(&mut c);
    assert!(
        sent.starts_with("MAIL FROM:<a@x.test> RET=HDRS ENVID=id+2B1+20x\r\n"),
        "{sent}"
    );
    assert!(
        sent.contains("RCPT TO:<b+c@x.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;b+2Bc@x.test\r\n"),
        "{sent}"
    );

    let mut c = Client::new(config(false));
    ready(&mut c, "250-mx.test\r\n250 PIPELINING\r\n");
    c.send_mail(Envelope {
        dsn,
        ..envelope(&["b@x.test"])
    })
    .unwrap();
    let (sent, _) = pump(&mut c);
    assert!(
        !sent.contains("RET=") && !sent.contains("NOTIFY="),
        "{sent}"
    );
}
