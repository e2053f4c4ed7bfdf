//! Transactions pipelined behind each other (RFC 2920 §3.1): after the end
//! of a message, the next MAIL, RCPT and DATA go out before its final
//! reply; the replies are matched in order and each message keeps its own
//! outcome, whatever the chunking of the server's bytes.

use missive_smtp::{Error, Next, Stage};

use crate::util::*;

#[test]
fn the_next_transaction_goes_out_before_the_final_reply() {
    for mode in ALL_CHUNKINGS {
        let mut d = ready(mode, &["PIPELINING"]);
        assert!(!d.c.can_pipeline_next(), "nothing under way yet");
        d.c.send_mail(envelope(&["bob@x.test"])).unwrap();
        assert_eq!(d.poll(), Ok(read(Stage::Mail)));
        d.writes.clear();
        assert_eq!(
            d.server("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 go\r\n"),
            Ok(Next::SendBody)
        );
        send_body(&mut d, b"one\r\n");
        assert!(d.c.can_pipeline_next());
        // The second message's envelope, before the first one's final reply.
        d.c.send_mail(envelope(&["carol@x.test"])).unwrap();
        assert!(!d.c.can_pipeline_next(), "one message in flight at a time");
        assert_eq!(d.poll(), Ok(read(Stage::DataEnd)));
        d.expect_writes(&["MAIL FROM:<alice@example.test>\r\nRCPT TO:<carol@x.test>\r\nDATA\r\n"]);
        assert_eq!(
            d.server("550 5.7.1 first refused\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 go\r\n"),
            Ok(Next::SendBody)
        );
        let first =
            d.c.take_outcome()
                .expect("the first outcome, before the second body");
        assert_eq!(first.envelope.to, ["bob@x.test"]);
        assert_eq!(code(first.final_reply.as_ref()), Some(550));
        assert!(d.c.take_outcome().is_none());
        send_body(&mut d, b"two\r\n");
        assert_eq!(d.server("250 2.0.0 Ok: queued as B\r\n"), Ok(Next::Ready));
        let second = d.c.take_outcome().unwrap();
        assert_eq!(second.envelope.to, ["carol@x.test"]);
        assert_eq!(code(second.final_reply.as_ref()), Some(250));
        let rs = second.recipients();
        assert!(rs[0].accepted);
    }
}

#[test]
fn a_refused_next_transaction_does_not_disturb_the_previous_outcome() {
    let mut d = ready(Chunking::Whole, &["PIPELINING"]);
    d.c.send_mail(envelope(&["bob@x.test"])).unwrap();
    d.poll().unwrap();
    d.server("250 Ok\r\n250 Ok\r\n354 go\r\n").unwrap();
    send_body(&mut d, b"one\r\n");
    d.c.send_mail(envelope(&["nobody@x.test"])).unwrap();
    d.poll().unwrap();
    // First accepted; the second's only recipient refused: no body, RSET.
    let next = d.server("250 2.0.0 queued as A\r\n250 Ok\r\n550 5.1.1 no such user\r\n554 5.5.1 no valid recipients\r\n");
    assert!(
        matches!(next, Ok(Next::Read { .. }) | Ok(Next::Ready)),
        "{next:?}"
    );
    let first = d.c.take_outcome().unwrap();
    assert_eq!(code(first.final_reply.as_ref()), Some(250));
    let second = d.c.take_outcome().unwrap();
    assert!(!second.recipients()[0].accepted);
    assert!(second.final_reply.is_none());
}

#[test]
fn without_pipelining_or_before_the_end_there_is_no_next() {
    let mut d = ready(Chunking::Whole, &[]);
    d.c.send_mail(envelope(&["bob@x.test"])).unwrap();
    d.poll().unwrap();
    d.server("250 Ok\r\n").unwrap();
    d.server("250 Ok\r\n").unwrap();
    d.server("354 go\r\n").unwrap();
    send_body(&mut d, b"one\r\n");
    assert!(!d.c.can_pipeline_next(), "the server does not pipeline");
    assert_eq!(
        d.c.send_mail(envelope(&["carol@x.test"])),
        Err(Error::Misuse("send_mail while not ready"))
    );
    let mut d = ready(Chunking::Whole, &["PIPELINING"]);
    d.c.send_mail(envelope(&["bob@x.test"])).unwrap();
    d.poll().unwrap();
    assert!(!d.c.can_pipeline_next(), "its replies are still due");
}

#[test]
fn a_connection_lost_after_the_end_loses_both_and_says_so() {
    let mut d = ready(Chunking::Whole, &["PIPELINING"]);
    d.c.send_mail(envelope(&["bob@x.test"])).unwrap();
    d.poll().unwrap();
    d.server("250 Ok\r\n250 Ok\r\n354 go\r\n").unwrap();
    send_body(&mut d, b"one\r\n");
    d.c.send_mail(envelope(&["carol@x.test"])).unwrap();
    d.poll().unwrap();
    d.c.connection_closed();
    assert!(matches!(
        d.poll(),
        Err(Error::ConnectionLost {
            stage: Stage::DataEnd
        })
    ));
    assert!(d.c.take_outcome().is_none(), "no outcome is made up");
}
