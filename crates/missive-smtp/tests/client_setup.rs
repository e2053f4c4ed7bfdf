//! Setting a client session up: the greeting, EHLO and the HELO fallback,
//! and the TLS policy (STARTTLS required, opportunistic, implicit).

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use missive_smtp::{Error, Next, Stage, TlsMode};

use crate::util::*;

#[test]
fn helo_fallback_when_ehlo_is_unknown() {
    for mode in ALL_CHUNKINGS {
        for refusal in ["502 5.5.1 Command not implemented\r\n", "500 what?\r\n"] {
            let mut d = Driver::new(config(TlsMode::None, None), mode);
            assert_eq!(hello(&mut d, refusal), Ok(read(Stage::Ehlo)));
            d.expect_writes(&["HELO client.test\r\n"]);
            assert_eq!(d.server("250 mx.test\r\n"), Ok(Next::Ready));
            assert!(d.c.used_helo());
            assert_eq!(d.c.capabilities().domain, "mx.test");
            assert!(!d.c.capabilities().pipelining);

            // no extensions: one command per write
            d.c.send_mail(envelope(&["bob@example.test", "carol@example.test"]))
                .unwrap();
            assert_eq!(d.poll(), Ok(read(Stage::Mail)));
            d.expect_writes(&["MAIL FROM:<alice@example.test>\r\n"]);
            assert_eq!(d.server("250 ok\r\n"), Ok(read(Stage::Rcpt)));
            d.expect_writes(&["RCPT TO:<bob@example.test>\r\n"]);
            d.check_transcript();
        }
    }
}

#[test]
fn helo_fallback_with_starttls_required_is_tls_unavailable() {
    for mode in ALL_CHUNKINGS {
        let mut d = Driver::new(config(TlsMode::StartTls, Some(password())), mode);
        assert_eq!(
            hello(&mut d, "502 5.5.2 Error: command not recognized\r\n"),
            Ok(read(Stage::Ehlo))
        );
        d.expect_writes(&["HELO client.test\r\n"]);
        assert_eq!(d.server("250 mx.test\r\n"), Err(Error::TlsUnavailable));
        d.expect_writes(&[]);
        assert_eq!(d.poll(), Err(Error::TlsUnavailable));
    }
}

#[test]
fn ehlo_refused_otherwise_is_rejected() {
    let mut d = Driver::new(config(TlsMode::None, None), Chunking::Whole);
    let r = hello(&mut d, "550 5.7.1 go away\r\n");
    assert!(
        matches!(&r, Err(Error::Rejected { stage: Stage::Ehlo, reply }) if reply.code.value() == 550),
        "{r:?}"
    );
    d.expect_writes(&[]);
}

#[test]
fn negative_greeting_is_rejected() {
    let mut d = Driver::new(config(TlsMode::None, None), Chunking::Whole);
    let r = d.server("554 5.7.1 no service for you\r\n");
    assert!(
        matches!(&r, Err(Error::Rejected { stage: Stage::Greeting, reply }) if reply.code.value() == 554),
        "{r:?}"
    );
    d.expect_writes(&[]);
    assert!(d.c.greeting().is_none());

    let mut d = Driver::new(config(TlsMode::None, None), Chunking::Whole);
    let r = d.server("421 4.3.2 too busy\r\n");
    assert!(matches!(r, Err(Error::ServiceClosing(_))), "{r:?}");
    d.expect_writes(&[]);
}

#[test]
fn multiline_greeting_is_kept() {
    let mut d = Driver::new(config(TlsMode::None, None), Chunking::Bytes);
    assert_eq!(
        d.server("220-mx.test ESMTP\r\n220 no UCE\r\n"),
        Ok(read(Stage::Ehlo))
    );
    assert_eq!(
        d.c.greeting().unwrap().lines,
        vec!["mx.test ESMTP", "no UCE"]
    );
    d.expect_writes(&["EHLO client.test\r\n"]);
}

/// STARTTLS required and not offered: nothing more goes out, ever.
#[test]
fn starttls_required_but_not_offered() {
    for mode in ALL_CHUNKINGS {
        let mut d = Driver::new(config(TlsMode::StartTls, Some(password())), mode);
        let r = hello(
            &mut d,
            &ehlo(&["PIPELINING", "AUTH PLAIN LOGIN", "SIZE 100"]),
        );
        assert_eq!(r, Err(Error::TlsUnavailable));
        d.expect_writes(&[]);
        assert_eq!(d.poll(), Err(Error::TlsUnavailable), "sticky");

        // whatever happens next, no byte is written
        assert_eq!(
            d.c.send_mail(envelope(&["bob@example.test"])),
            Err(Error::Misuse("send_mail while not ready"))
        );
        d.c.quit();
        d.c.receive(b"250 ok\r\n334 VXNlcm5hbWU6\r\n");
        d.c.connection_closed();
        assert_eq!(d.poll(), Err(Error::TlsUnavailable));
        d.expect_writes(&[]);
        assert_eq!(d.all_written(), "EHLO client.test\r\n");
        assert!(!d
            .sent()
            .iter()
            .any(|s| s.starts_with("AUTH") || s.starts_with("MAIL") || s.starts_with("QUIT")));
        d.check_no_secret();
    }
}

#[test]
fn starttls_required_and_refused() {
    let mut d = Driver::new(config(TlsMode::StartTls, Some(password())), Chunking::Odd);
    assert_eq!(
        hello(&mut d, &ehlo(&["STARTTLS", "AUTH PLAIN"])),
        Ok(read(Stage::StartTls))
    );
    d.expect_writes(&["STARTTLS\r\n"]);
    let r = d.server("454 4.7.0 TLS not available due to temporary reason\r\n");
    assert!(
        matches!(&r, Err(Error::StartTlsRefused(reply)) if reply.code.value() == 454),
        "{r:?}"
    );
    d.expect_writes(&[]);
    assert_eq!(d.all_written(), "EHLO client.test\r\nSTARTTLS\r\n");
}

#[test]
fn opportunistic_without_starttls_goes_on_in_plaintext() {
    for mode in ALL_CHUNKINGS {
        let mut d = Driver::new(config(TlsMode::Opportunistic, None), mode);
        assert_eq!(
            hello(&mut d, &ehlo(&["PIPELINING", "8BITMIME"])),
            Ok(Next::Ready)
        );
        d.expect_writes(&[]);
        assert!(!d.c.is_secure());
        d.c.send_mail(envelope(&["bob@example.test"])).unwrap();
        assert_eq!(d.poll(), Ok(read(Stage::Mail)));
        d.expect_writes(&[
            "MAIL FROM:<alice@example.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n",
        ]);
    }
}

#[test]
fn opportunistic_with_starttls_uses_it() {
    let mut d = Driver::new(config(TlsMode::Opportunistic, None), Chunking::SplitCrlf);
    assert_eq!(
        hello(&mut d, &ehlo(&["STARTTLS"])),
        Ok(read(Stage::StartTls))
    );
    d.expect_writes(&["STARTTLS\r\n"]);
    assert_eq!(d.server("220 go\r\n"), Ok(Next::StartTls));
    d.c.tls_established();
    assert_eq!(d.poll(), Ok(read(Stage::Ehlo)));
    d.expect_writes(&["EHLO client.test\r\n"]);
    // STARTTLS offered again after TLS is not used again
    assert_eq!(d.server(ehlo(&["STARTTLS"])), Ok(Next::Ready));
    d.expect_writes(&[]);
    assert!(d.c.is_secure());
}

#[test]
fn opportunistic_starttls_refused_goes_on_in_plaintext() {
    let mut d = Driver::new(config(TlsMode::Opportunistic, None), Chunking::Bytes);
    assert_eq!(
        hello(&mut d, &ehlo(&["STARTTLS"])),
        Ok(read(Stage::StartTls))
    );
    d.expect_writes(&["STARTTLS\r\n"]);
    assert_eq!(d.server("454 4.7.0 TLS not available\r\n"), Ok(Next::Ready));
    d.expect_writes(&[]);
    assert!(!d.c.is_secure());
}

#[test]
fn plaintext_auth_is_refused_without_permission() {
    for tls in [TlsMode::None, TlsMode::Opportunistic] {
        for mode in ALL_CHUNKINGS {
            let mut d = Driver::new(config(tls, Some(password())), mode);
            let r = hello(&mut d, &ehlo(&["PIPELINING", "AUTH PLAIN LOGIN"]));
            assert_eq!(r, Err(Error::PlaintextAuth), "{tls:?}");
            d.expect_writes(&[]);
            assert_eq!(d.all_written(), "EHLO client.test\r\n");
            assert!(!d.sent().iter().any(|s| s.contains("AUTH")));
            assert!(!d.c.is_authenticated());
            d.check_no_secret();
        }
    }
}

#[test]
fn plaintext_auth_when_allowed() {
    let mut cfg = config(TlsMode::None, Some(password()));
    cfg.allow_plaintext_auth = true;
    let mut d = Driver::new(cfg, Chunking::Whole);
    assert_eq!(hello(&mut d, &ehlo(&["AUTH PLAIN"])), Ok(read(Stage::Auth)));
    let plain = B64.encode(format!("\0{USER}\0{PASSWORD}"));
    d.expect_writes(&[&format!("AUTH PLAIN {plain}\r\n")]);
    assert_eq!(d.server("235 ok\r\n"), Ok(Next::Ready));
    d.check_no_secret();
}

/// CVE-2011-0411: bytes after the STARTTLS 220 in the same read.
#[test]
fn data_after_starttls_reply_is_refused() {
    let injections: [&[&str]; 4] = [
        // one read: the 220 and an injected reply
        &["220 2.0.0 Ready\r\n250-injected\r\n250 AUTH PLAIN\r\n"],
        // one read: the 220 and a partial line
        &["220 2.0.0 Ready\r\n2"],
        // the 220 split; its end and the injection in one read
        &["220 2.0.0 Re", "ady\r\n250 x\r\n"],
        // the 220's CR in one read, its LF and the injection in the next
        &["220 2.0.0 Ready\r", "\n250 x"],
    ];
    for reads in injections {
        let mut d = Driver::new(config(TlsMode::StartTls, None), Chunking::Whole);
        assert_eq!(
            hello(&mut d, &ehlo(&["STARTTLS"])),
            Ok(read(Stage::StartTls))
        );
        d.expect_writes(&["STARTTLS\r\n"]);
        let mut last = Ok(Next::Ready);
        for r in reads {
            last = d.server(r);
        }
        assert_eq!(last, Err(Error::DataBeforeTls), "{reads:?}");
        d.expect_writes(&[]);
        assert!(!d.c.is_secure());
        d.c.tls_established();
        assert_eq!(d.poll(), Err(Error::DataBeforeTls), "sticky");
        d.expect_writes(&[]);
    }
}

#[test]
fn tls_established_without_starttls_is_misuse() {
    let mut d = ready(Chunking::Whole, &[]);
    d.c.tls_established();
    assert!(matches!(d.poll(), Err(Error::Misuse(_))));
    d.expect_writes(&[]);
    assert!(!d.c.is_secure());
}

#[test]
fn implicit_tls_is_secure_from_the_start() {
    let mut d = Driver::new(config(TlsMode::Implicit, Some(password())), Chunking::Whole);
    assert!(d.c.is_secure());
    // STARTTLS offered on an implicit-TLS port is ignored
    assert_eq!(
        hello(&mut d, &ehlo(&["STARTTLS", "AUTH PLAIN"])),
        Ok(read(Stage::Auth))
    );
    let w = d.take_writes();
    assert_eq!(w.len(), 1);
    assert!(w[0].starts_with("AUTH PLAIN "));
}
