//! A whole client session (greeting to QUIT) in every chunking, with and
//! without PIPELINING, and the RFC 5321 §4.5.3.2 timeouts.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use missive_smtp::{Capabilities, Envelope, Mechanism, Next, Stage, TlsMode};
use proptest::prelude::*;

use crate::util::*;

/// greeting → EHLO → STARTTLS → TLS → EHLO → AUTH PLAIN → MAIL/RCPT/DATA → body → QUIT.
fn full_session(split: Splitter, pipelining: bool) -> Driver {
    let mut d = Driver::with_splitter(config(TlsMode::StartTls, Some(password())), split);
    let pre_tls = ehlo(&[
        "PIPELINING",
        "SIZE 1000",
        "8BITMIME",
        "SMTPUTF8",
        "AUTH LOGIN",
        "STARTTLS",
    ]);
    assert_eq!(hello(&mut d, &pre_tls), Ok(read(Stage::StartTls)));
    d.expect_writes(&["STARTTLS\r\n"]);
    assert!(d.c.capabilities().starttls && d.c.capabilities().pipelining);
    assert!(!d.c.is_secure());

    assert_eq!(
        d.server("220 2.0.0 Ready to start TLS\r\n"),
        Ok(Next::StartTls)
    );
    d.expect_writes(&[]);
    assert_eq!(
        d.poll(),
        Ok(Next::StartTls),
        "StartTls until the handshake is done"
    );
    d.c.tls_established();
    assert!(d.c.is_secure());
    // RFC 3207 §4.2: nothing learnt before TLS survives it
    assert_eq!(*d.c.capabilities(), Capabilities::default());
    assert_eq!(d.poll(), Ok(read(Stage::Ehlo)));
    d.expect_writes(&["EHLO client.test\r\n"]);

    let mut post_tls = vec!["AUTH PLAIN", "ENHANCEDSTATUSCODES"];
    if pipelining {
        post_tls.insert(0, "PIPELINING");
    }
    assert_eq!(d.server(ehlo(&post_tls)), Ok(read(Stage::Auth)));
    let caps = d.c.capabilities().clone();
    assert_eq!(caps.pipelining, pipelining);
    assert!(!caps.starttls && !caps.eight_bit_mime && !caps.smtputf8);
    assert_eq!(caps.size, None);
    assert_eq!(caps.auth, vec![Mechanism::Plain]);
    let plain = B64.encode(format!("\0{USER}\0{PASSWORD}"));
    d.expect_writes(&[&format!("AUTH PLAIN {plain}\r\n")]);
    assert!(!d.c.is_authenticated());

    assert_eq!(
        d.server("235 2.7.0 Authentication successful\r\n"),
        Ok(Next::Ready)
    );
    assert!(d.c.is_authenticated());
    d.expect_writes(&[]);

    // SIZE and 8BITMIME were offered only before TLS: no parameters now
    let env = Envelope {
        from: "alice@example.test".into(),
        to: vec!["bob@example.test".into(), "carol@example.test".into()],
        eight_bit: true,
        size: Some(5000),
        dsn: Default::default(),
        require_tls: false,
    };
    d.c.send_mail(env.clone()).unwrap();
    if pipelining {
        assert_eq!(d.poll(), Ok(read(Stage::Mail)));
        d.expect_writes(&["MAIL FROM:<alice@example.test>\r\n\
                           RCPT TO:<bob@example.test>\r\n\
                           RCPT TO:<carol@example.test>\r\n\
                           DATA\r\n"]);
        assert_eq!(
            d.server("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n"),
            Ok(Next::Read {
                stage: Stage::Data,
                timeout: mins(2)
            })
        );
        d.expect_writes(&[]);
        assert_eq!(
            d.server("354 End data with <CR><LF>.<CR><LF>\r\n"),
            Ok(Next::SendBody)
        );
    } else {
        assert_eq!(d.poll(), Ok(read(Stage::Mail)));
        d.expect_writes(&["MAIL FROM:<alice@example.test>\r\n"]);
        assert_eq!(
            d.server("250 2.1.0 Ok\r\n"),
            Ok(Next::Read {
                stage: Stage::Rcpt,
                timeout: mins(5)
            })
        );
        d.expect_writes(&["RCPT TO:<bob@example.test>\r\n"]);
        assert_eq!(d.server("250 2.1.5 Ok\r\n"), Ok(read(Stage::Rcpt)));
        d.expect_writes(&["RCPT TO:<carol@example.test>\r\n"]);
        assert_eq!(
            d.server("250 2.1.5 Ok\r\n"),
            Ok(Next::Read {
                stage: Stage::Data,
                timeout: mins(2)
            })
        );
        d.expect_writes(&["DATA\r\n"]);
        assert_eq!(d.server("354 go ahead\r\n"), Ok(Next::SendBody));
    }
    d.expect_writes(&[]);
    assert_eq!(d.c.stage(), Some(Stage::DataBlock));
    send_body(&mut d, b"Subject: hi\n\n.hello\n");
    assert_eq!(
        d.poll(),
        Ok(Next::Read {
            stage: Stage::DataEnd,
            timeout: mins(10)
        })
    );
    assert_eq!(
        d.server("250 2.0.0 Ok: queued as 3642D9945C3\r\n"),
        Ok(Next::Ready)
    );
    d.expect_writes(&[]);

    let out = d.c.take_outcome().expect("an outcome once Ready");
    assert!(d.c.take_outcome().is_none(), "the outcome is taken once");
    assert_eq!(out.envelope, env);
    assert_eq!(code(out.mail.as_ref()), Some(250));
    assert_eq!(
        out.rcpt
            .iter()
            .map(|r| code(r.as_ref()))
            .collect::<Vec<_>>(),
        vec![Some(250), Some(250)]
    );
    assert_eq!(code(out.data.as_ref()), Some(354));
    let fin = out.final_reply.clone().unwrap();
    assert_eq!(fin.queue_id().as_deref(), Some("3642D9945C3"));
    let rs = out.recipients();
    assert_eq!(rs.len(), 2);
    for (r, addr) in rs.iter().zip(["bob@example.test", "carol@example.test"]) {
        assert_eq!(r.address, addr);
        assert!(r.accepted);
        assert_eq!(r.reply, Some(&fin));
    }

    d.c.quit();
    let next = d.poll();
    assert!(
        matches!(next, Ok(Next::Read { stage: Stage::Quit, timeout }) if timeout <= mins(5)),
        "{next:?}"
    );
    d.expect_writes(&["QUIT\r\n"]);
    assert_eq!(d.server("221 2.0.0 Bye\r\n"), Ok(Next::Closed));
    assert_eq!(d.poll(), Ok(Next::Closed));

    assert!(d.sent().contains(&"AUTH PLAIN <redacted>"));
    assert_eq!(d.received().len(), 11);
    d.check_transcript();
    d.check_no_secret();
    d
}

#[test]
fn full_session_with_pipelining() {
    let reference = full_session(splitter(Chunking::Whole), true);
    for mode in ALL_CHUNKINGS {
        let d = full_session(splitter(mode), true);
        assert_eq!(d.all_writes, reference.all_writes, "{mode:?}");
        assert_eq!(d.events, reference.events, "{mode:?}");
    }
}

#[test]
fn full_session_without_pipelining() {
    let reference = full_session(splitter(Chunking::Whole), false);
    for mode in ALL_CHUNKINGS {
        let d = full_session(splitter(mode), false);
        assert_eq!(d.all_writes, reference.all_writes, "{mode:?}");
        assert_eq!(d.events, reference.events, "{mode:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn full_session_in_any_chunking(
        pipelining in any::<bool>(),
        sizes in prop::collection::vec(1usize..16, 1..12),
    ) {
        let reference = full_session(splitter(Chunking::Whole), pipelining);
        let d = full_session(Box::new(move |b| cut_sizes(b, &sizes)), pipelining);
        prop_assert_eq!(&d.all_writes, &reference.all_writes);
        prop_assert_eq!(&d.events, &reference.events);
    }
}

#[test]
fn rfc5321_timeouts() {
    // §4.5.3.2
    assert_eq!(Stage::Greeting.timeout(), mins(5));
    assert_eq!(Stage::Mail.timeout(), mins(5));
    assert_eq!(Stage::Rcpt.timeout(), mins(5));
    assert_eq!(Stage::Data.timeout(), mins(2));
    assert_eq!(Stage::DataBlock.timeout(), mins(3));
    assert_eq!(Stage::DataEnd.timeout(), mins(10));
    for s in [Stage::Ehlo, Stage::StartTls, Stage::Auth, Stage::Rset] {
        assert!(s.timeout() >= mins(5), "{s:?}");
    }
}
