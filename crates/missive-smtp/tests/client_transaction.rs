//! Mail transactions in the client: recipients refused in part or in
//! whole, with and without PIPELINING, large recipient lists, and the
//! envelope checks made before anything is sent.

use missive_smtp::{Envelope, Error, Event, Next, Reply, Stage};

use crate::util::*;

/// Recipients refused with 550 and 450, one accepted: the message goes to that one.
#[test]
fn some_recipients_refused() {
    for pipelining in [true, false] {
        for mode in ALL_CHUNKINGS {
            let kw: &[&str] = if pipelining { &["PIPELINING"] } else { &[] };
            let mut d = ready(mode, kw);
            let env = envelope(&["nobody@x.test", "grey@x.test", "bob@x.test"]);
            d.c.send_mail(env).unwrap();
            let replies = [
                "250 2.1.0 Ok\r\n",
                "550 5.1.1 <nobody@x.test>: Recipient address rejected\r\n",
                "450 4.2.0 <grey@x.test>: Greylisted\r\n",
                "250 2.1.5 Ok\r\n",
                "354 go\r\n",
            ];
            if pipelining {
                assert_eq!(d.poll(), Ok(read(Stage::Mail)));
                d.expect_writes(&["MAIL FROM:<alice@example.test>\r\n\
                                   RCPT TO:<nobody@x.test>\r\n\
                                   RCPT TO:<grey@x.test>\r\n\
                                   RCPT TO:<bob@x.test>\r\n\
                                   DATA\r\n"]);
                assert_eq!(d.server(replies.concat()), Ok(Next::SendBody));
            } else {
                let writes = [
                    "RCPT TO:<nobody@x.test>\r\n",
                    "RCPT TO:<grey@x.test>\r\n",
                    "RCPT TO:<bob@x.test>\r\n",
                    "DATA\r\n",
                ];
                assert_eq!(d.poll(), Ok(read(Stage::Mail)));
                d.expect_writes(&["MAIL FROM:<alice@example.test>\r\n"]);
                for (reply, write) in replies.iter().zip(writes) {
                    d.server(reply).unwrap();
                    d.expect_writes(&[write]);
                }
                assert_eq!(d.server(replies[4]), Ok(Next::SendBody));
            }
            d.expect_writes(&[]);
            send_body(&mut d, b"hello\r\n");
            assert_eq!(
                d.server("250 2.0.0 Ok: queued as ABC123\r\n"),
                Ok(Next::Ready)
            );
            d.expect_writes(&[]);
            let out = d.c.take_outcome().unwrap();
            let rs = out.recipients();
            let summary: Vec<(&str, bool, Option<u16>)> = rs
                .iter()
                .map(|r| (r.address, r.accepted, code(r.reply)))
                .collect();
            assert_eq!(
                summary,
                vec![
                    ("nobody@x.test", false, Some(550)),
                    ("grey@x.test", false, Some(450)),
                    ("bob@x.test", true, Some(250)),
                ],
                "pipelining {pipelining}, {mode:?}"
            );
            assert_eq!(
                rs[0].reply.unwrap().text(),
                "<nobody@x.test>: Recipient address rejected"
            );
            assert_eq!(rs[1].reply.unwrap().text(), "<grey@x.test>: Greylisted");
            assert_eq!(rs[2].reply, out.final_reply.as_ref());
            assert_eq!(
                out.final_reply.unwrap().queue_id().as_deref(),
                Some("ABC123")
            );
            d.check_transcript();
        }
    }
}

#[test]
fn all_recipients_refused_pipelined() {
    for mode in ALL_CHUNKINGS {
        let mut d = ready(mode, &["PIPELINING"]);
        d.c.send_mail(envelope(&["a@x.test", "b@x.test"])).unwrap();
        assert_eq!(d.poll(), Ok(read(Stage::Mail)));
        d.expect_writes(&["MAIL FROM:<alice@example.test>\r\n\
                           RCPT TO:<a@x.test>\r\n\
                           RCPT TO:<b@x.test>\r\n\
                           DATA\r\n"]);
        let r = d.server(
            "250 2.1.0 Ok\r\n550 5.1.1 no such user\r\n450 4.7.1 try later\r\n554 5.5.1 Error: no valid recipients\r\n",
        );
        assert_eq!(r, Ok(read(Stage::Rset)));
        d.expect_writes(&["RSET\r\n"]);
        assert_eq!(d.server("250 2.0.0 Ok\r\n"), Ok(Next::Ready));
        d.expect_writes(&[]);
        let out = d.c.take_outcome().unwrap();
        assert_eq!(code(out.data.as_ref()), Some(554));
        assert_eq!(out.final_reply, None);
        let rs = out.recipients();
        assert!(rs.iter().all(|r| !r.accepted));
        assert_eq!(
            rs.iter().map(|r| code(r.reply)).collect::<Vec<_>>(),
            vec![Some(550), Some(450)]
        );
        assert!(!d
            .events
            .iter()
            .any(|e| matches!(e, Event::Sent(s) if s == ".")));
        d.check_transcript();
    }
}

#[test]
fn all_recipients_refused_without_pipelining() {
    for mode in ALL_CHUNKINGS {
        let mut d = ready(mode, &[]);
        d.c.send_mail(envelope(&["a@x.test", "b@x.test"])).unwrap();
        d.poll().unwrap();
        d.expect_writes(&["MAIL FROM:<alice@example.test>\r\n"]);
        d.server("250 ok\r\n").unwrap();
        d.expect_writes(&["RCPT TO:<a@x.test>\r\n"]);
        d.server("550 no\r\n").unwrap();
        d.expect_writes(&["RCPT TO:<b@x.test>\r\n"]);
        assert_eq!(d.server("550 no either\r\n"), Ok(read(Stage::Rset)));
        d.expect_writes(&["RSET\r\n"]);
        assert_eq!(d.server("250 ok\r\n"), Ok(Next::Ready));
        let out = d.c.take_outcome().unwrap();
        assert_eq!(out.data, None, "DATA was never sent");
        assert!(out.recipients().iter().all(|r| !r.accepted));
        assert_eq!(
            out.recipients()
                .iter()
                .map(|r| r.reply.map(Reply::text))
                .collect::<Vec<_>>(),
            vec![Some("no".to_string()), Some("no either".to_string())]
        );
        assert!(!d.all_written().contains("DATA"));
        d.check_transcript();
    }
}

/// RFC 2920 §3.1: a pipelined DATA that gets 354 though every RCPT was
/// refused is ended with an empty body, not a message.
#[test]
fn all_recipients_refused_pipelined_data_354() {
    for mode in ALL_CHUNKINGS {
        let mut d = ready(mode, &["PIPELINING"]);
        d.c.send_mail(envelope(&["a@x.test"])).unwrap();
        d.poll().unwrap();
        d.take_writes();
        let r = d.server("250 ok\r\n550 5.1.1 unknown\r\n354 go ahead\r\n");
        assert_eq!(r, Ok(read(Stage::DataEnd)));
        d.expect_writes(&[".\r\n"]);
        assert_eq!(
            d.server("554 5.5.1 no valid recipients\r\n"),
            Ok(Next::Ready)
        );
        d.expect_writes(&[]);
        let out = d.c.take_outcome().unwrap();
        assert_eq!(out.final_reply, None);
        let rs = out.recipients();
        assert!(!rs[0].accepted);
        assert_eq!(code(rs[0].reply), Some(550));
        d.check_transcript();
    }
}

#[test]
fn mail_refused_pipelined() {
    for mode in ALL_CHUNKINGS {
        let mut d = ready(mode, &["PIPELINING"]);
        d.c.send_mail(envelope(&["a@x.test", "b@x.test"])).unwrap();
        d.poll().unwrap();
        d.take_writes();
        let r = d.server(
            "553 5.7.1 <alice@example.test>: Sender address rejected\r\n\
             503 5.5.1 Error: need MAIL command\r\n\
             503 5.5.1 Error: need MAIL command\r\n\
             503 5.5.1 Error: need RCPT command\r\n",
        );
        assert_eq!(r, Ok(Next::Ready));
        d.expect_writes(&[]);
        let out = d.c.take_outcome().unwrap();
        assert_eq!(code(out.mail.as_ref()), Some(553));
        for r in out.recipients() {
            assert!(!r.accepted);
            assert_eq!(code(r.reply), Some(553), "MAIL's refusal decides");
        }
        assert!(!d
            .events
            .iter()
            .any(|e| matches!(e, Event::Sent(s) if s == "." )));
    }
}

#[test]
fn mail_refused_without_pipelining() {
    for mode in ALL_CHUNKINGS {
        let mut d = ready(mode, &["SIZE 1000000"]);
        d.c.send_mail(envelope(&["a@x.test", "b@x.test"])).unwrap();
        d.poll().unwrap();
        d.expect_writes(&["MAIL FROM:<alice@example.test>\r\n"]);
        assert_eq!(d.server("550 5.7.1 sender rejected\r\n"), Ok(Next::Ready));
        d.expect_writes(&[]);
        let out = d.c.take_outcome().unwrap();
        assert_eq!(out.rcpt, vec![None, None], "no RCPT was sent");
        for r in out.recipients() {
            assert!(!r.accepted);
            assert_eq!(code(r.reply), Some(550));
        }
        assert_eq!(
            d.all_written(),
            "EHLO client.test\r\nMAIL FROM:<alice@example.test>\r\n"
        );

        // the session is still usable
        d.c.send_mail(envelope(&["a@x.test"])).unwrap();
        d.poll().unwrap();
        d.expect_writes(&["MAIL FROM:<alice@example.test>\r\n"]);
    }
}

#[test]
fn data_refused_after_accepted_recipient() {
    let mut d = ready(Chunking::Odd, &[]);
    d.c.send_mail(envelope(&["a@x.test"])).unwrap();
    d.poll().unwrap();
    d.server("250 ok\r\n").unwrap();
    d.server("250 ok\r\n").unwrap();
    assert_eq!(d.server("451 4.3.0 try again\r\n"), Ok(read(Stage::Rset)));
    let w = d.take_writes();
    assert_eq!(w.last().map(String::as_str), Some("RSET\r\n"));
    assert_eq!(d.server("250 ok\r\n"), Ok(Next::Ready));
    let out = d.c.take_outcome().unwrap();
    let rs = out.recipients();
    assert!(!rs[0].accepted);
    assert_eq!(code(rs[0].reply), Some(451));
}

#[test]
fn message_refused_at_end_of_data() {
    let mut d = ready(Chunking::Bytes, &["PIPELINING"]);
    d.c.send_mail(envelope(&["a@x.test", "b@x.test"])).unwrap();
    d.poll().unwrap();
    assert_eq!(
        d.server("250 ok\r\n250 ok\r\n550 no b\r\n354 go\r\n"),
        Ok(Next::SendBody)
    );
    send_body(&mut d, b"spam\n");
    assert_eq!(d.server("554 5.7.1 looks like spam\r\n"), Ok(Next::Ready));
    let out = d.c.take_outcome().unwrap();
    let rs: Vec<_> = out
        .recipients()
        .iter()
        .map(|r| (r.accepted, code(r.reply)))
        .collect();
    assert_eq!(rs, vec![(false, Some(554)), (false, Some(550))]);
}

#[test]
fn two_transactions_in_one_session() {
    let mut d = ready(Chunking::SplitCrlf, &["PIPELINING"]);
    for i in 0..2 {
        let to = format!("r{i}@x.test");
        d.c.send_mail(envelope(&[&to])).unwrap();
        d.poll().unwrap();
        d.expect_writes(&[&format!(
            "MAIL FROM:<alice@example.test>\r\nRCPT TO:<{to}>\r\nDATA\r\n"
        )]);
        assert_eq!(d.server("250 a\r\n250 b\r\n354 c\r\n"), Ok(Next::SendBody));
        send_body(&mut d, b"x");
        assert_eq!(d.server(format!("250 queued as Q{i}\r\n")), Ok(Next::Ready));
        let out = d.c.take_outcome().unwrap();
        assert_eq!(out.envelope.to, vec![to]);
        assert_eq!(out.final_reply.unwrap().queue_id(), Some(format!("Q{i}")));
    }
}

fn many(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("r{i}@x.test")).collect()
}

/// RFC 2920 §3.1: RCPTs go out in groups, so unread replies cannot fill the window.
#[test]
fn many_recipients_are_pipelined_in_groups() {
    for (n, groups) in [
        (100usize, vec![100usize]),
        (101, vec![100, 1]),
        (250, vec![100, 100, 50]),
    ] {
        for mode in [Chunking::Whole, Chunking::Odd] {
            let mut d = ready(mode, &["PIPELINING"]);
            let to = many(n);
            d.c.send_mail(Envelope {
                to: to.clone(),
                ..envelope(&[])
            })
            .unwrap();
            assert_eq!(d.poll(), Ok(read(Stage::Mail)));
            let mut all_rcpts = Vec::new();
            for (g, &size) in groups.iter().enumerate() {
                let w = d.take_writes();
                assert_eq!(w.len(), 1, "group {g} is one write");
                let lines: Vec<&str> = w[0].strip_suffix("\r\n").unwrap().split("\r\n").collect();
                let rcpts: Vec<&str> = lines
                    .iter()
                    .copied()
                    .filter(|l| l.starts_with("RCPT TO:"))
                    .collect();
                assert_eq!(rcpts.len(), size, "n = {n}, group {g}");
                assert!(rcpts.len() <= 100);
                assert_eq!(lines[0].starts_with("MAIL FROM:"), g == 0);
                let last = g + 1 == groups.len();
                assert_eq!(*lines.last().unwrap() == "DATA", last, "n = {n}, group {g}");
                all_rcpts.extend(rcpts.iter().map(|s| s.to_string()));

                let mut replies = String::new();
                if g == 0 {
                    replies.push_str("250 sender ok\r\n");
                }
                replies.push_str(&"250 rcpt ok\r\n".repeat(size));
                if last {
                    replies.push_str("354 go\r\n");
                    assert_eq!(d.server(replies), Ok(Next::SendBody));
                } else {
                    assert_eq!(d.server(replies), Ok(read(Stage::Rcpt)));
                }
            }
            let expected: Vec<String> = to.iter().map(|t| format!("RCPT TO:<{t}>")).collect();
            assert_eq!(all_rcpts, expected, "envelope order");
            send_body(&mut d, b"hi");
            assert_eq!(d.server("250 ok\r\n"), Ok(Next::Ready));
            let out = d.c.take_outcome().unwrap();
            assert_eq!(out.recipients().iter().filter(|r| r.accepted).count(), n);
        }
    }
}

#[test]
fn many_recipients_mail_refused_stops_after_first_group() {
    let mut d = ready(Chunking::Whole, &["PIPELINING"]);
    d.c.send_mail(Envelope {
        to: many(150),
        ..envelope(&[])
    })
    .unwrap();
    d.poll().unwrap();
    let w = d.take_writes();
    assert_eq!(w[0].matches("RCPT TO:").count(), 100);
    let replies = format!("550 sender refused\r\n{}", "503 need MAIL\r\n".repeat(100));
    assert_eq!(d.server(replies), Ok(Next::Ready));
    d.expect_writes(&[]);
    let out = d.c.take_outcome().unwrap();
    assert_eq!(out.rcpt.iter().filter(|r| r.is_none()).count(), 50);
    assert!(out
        .recipients()
        .iter()
        .all(|r| !r.accepted && code(r.reply) == Some(550)));
}

// ---- envelope checks before sending --------------------------------------------------

#[test]
fn invalid_envelopes_send_nothing() {
    let mut d = ready(Chunking::Whole, &["PIPELINING", "SIZE 1000"]);
    let bad = [
        envelope(&[]),
        envelope(&["bob@x.test\r\nRCPT TO:<evil@x.test>"]),
        envelope(&["no-at-sign"]),
        Envelope {
            from: "a b@x.test".into(),
            ..envelope(&["bob@x.test"])
        },
    ];
    for env in bad {
        let r = d.c.send_mail(env.clone());
        assert!(matches!(r, Err(Error::InvalidAddress(_))), "{env:?}: {r:?}");
        assert_eq!(d.poll(), Ok(Next::Ready), "the session stays ready");
        d.expect_writes(&[]);
    }
    let r = d.c.send_mail(Envelope {
        size: Some(1001),
        ..envelope(&["bob@x.test"])
    });
    assert_eq!(
        r,
        Err(Error::MessageTooBig {
            size: 1001,
            limit: 1000
        })
    );
    let r = d.c.send_mail(envelope(&["jörg@exämple.test"]));
    assert_eq!(r, Err(Error::Utf8NotSupported("jörg@exämple.test".into())));
    assert_eq!(d.poll(), Ok(Next::Ready));
    d.expect_writes(&[]);
    assert!(d.c.take_outcome().is_none());
}

#[test]
fn mail_parameters_follow_capabilities() {
    let mut d = ready(Chunking::Whole, &["SIZE 1000", "8BITMIME", "SMTPUTF8"]);
    d.c.send_mail(Envelope {
        from: "jörg@exämple.test".into(),
        to: vec!["bob@x.test".into()],
        eight_bit: true,
        size: Some(1000),
        dsn: Default::default(),
        require_tls: false,
    })
    .unwrap();
    d.poll().unwrap();
    d.expect_writes(&["MAIL FROM:<jörg@exämple.test> SIZE=1000 BODY=8BITMIME SMTPUTF8\r\n"]);

    let mut d = ready(Chunking::Whole, &["SIZE"]);
    d.c.send_mail(Envelope {
        eight_bit: true,
        size: Some(1 << 40),
        ..envelope(&["bob@x.test"])
    })
    .unwrap();
    d.poll().unwrap();
    d.expect_writes(&["MAIL FROM:<alice@example.test> SIZE=1099511627776\r\n"]);

    let mut d = ready(Chunking::Whole, &[]);
    d.c.send_mail(Envelope {
        from: String::new(),
        eight_bit: true,
        size: Some(10),
        ..envelope(&["bob@x.test"])
    })
    .unwrap();
    d.poll().unwrap();
    d.expect_writes(&["MAIL FROM:<>\r\n"]);
}

#[test]
fn requiretls_is_refused_without_tls_and_nothing_is_written() {
    let mut d = ready(Chunking::Whole, &["REQUIRETLS"]);
    let r = d.c.send_mail(Envelope {
        require_tls: true,
        ..envelope(&["bob@x.test"])
    });
    assert!(
        matches!(r, Err(Error::RequireTls(ref why)) if why.contains("not encrypted")),
        "{r:?}"
    );
    assert_eq!(d.poll(), Ok(Next::Ready));
    d.expect_writes(&[]);
}
