//! The client state machine, driven by scripted server bytes.
//!
//! Every server turn is fed through a [`Driver`] that cuts it up the way a
//! socket might (whole, byte by byte, at every CR so CRLF is split, odd
//! sizes) and polls after each piece, as a real caller loop would.

use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use missive_smtp::data::DataEncoder;
use missive_smtp::{
    Capabilities, Client, ClientConfig, Credentials, Envelope, Error, Event, Mechanism, Next,
    Reply, Secret, Stage, TlsMode, TransactionOutcome,
};
use proptest::prelude::*;

const USER: &str = "alice@example.test";
const PASSWORD: &str = "hunter2-Sup3r/s3cret";
const TOKEN: &str = "ya29.a0AfH6SMBx-oauth-token";

// ---- harness ------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunking {
    Whole,
    Bytes,
    /// Cut after every CR, so each CRLF arrives in two reads.
    SplitCrlf,
    /// Sizes 3, 1, 4, 1, 5, 9, 2, 6, repeating.
    Odd,
}

const ALL_CHUNKINGS: [Chunking; 4] = [
    Chunking::Whole,
    Chunking::Bytes,
    Chunking::SplitCrlf,
    Chunking::Odd,
];

fn cut_sizes(bytes: &[u8], sizes: &[usize]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut rest = bytes;
    for &n in sizes.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let n = n.clamp(1, rest.len());
        out.push(rest[..n].to_vec());
        rest = &rest[n..];
    }
    out
}

fn cut(bytes: &[u8], mode: Chunking) -> Vec<Vec<u8>> {
    match mode {
        Chunking::Whole => vec![bytes.to_vec()],
        Chunking::Bytes => bytes.chunks(1).map(<[u8]>::to_vec).collect(),
        Chunking::SplitCrlf => {
            let mut out = Vec::new();
            let mut start = 0;
            for (i, &b) in bytes.iter().enumerate() {
                if b == b'\r' {
                    out.push(bytes[start..=i].to_vec());
                    start = i + 1;
                }
            }
            if start < bytes.len() {
                out.push(bytes[start..].to_vec());
            }
            out
        }
        Chunking::Odd => cut_sizes(bytes, &[3, 1, 4, 1, 5, 9, 2, 6]),
    }
}

type Splitter = Box<dyn Fn(&[u8]) -> Vec<Vec<u8>>>;

fn splitter(mode: Chunking) -> Splitter {
    Box::new(move |b| cut(b, mode))
}

struct Driver {
    c: Client,
    split: Splitter,
    /// Writes since the last `expect_writes`.
    writes: Vec<Vec<u8>>,
    /// Every write of the session.
    all_writes: Vec<Vec<u8>>,
    events: Vec<Event>,
    /// Every error `poll` returned.
    errors: Vec<Error>,
}

impl Driver {
    fn new(config: ClientConfig, mode: Chunking) -> Driver {
        Driver::with_splitter(config, splitter(mode))
    }

    fn with_splitter(config: ClientConfig, split: Splitter) -> Driver {
        Driver {
            c: Client::new(config),
            split,
            writes: Vec::new(),
            all_writes: Vec::new(),
            events: Vec::new(),
            errors: Vec::new(),
        }
    }

    /// Polls until the answer is not a `Write`, collecting writes and events.
    fn poll(&mut self) -> Result<Next, Error> {
        loop {
            let next = self.c.poll();
            while let Some(e) = self.c.poll_event() {
                self.events.push(e);
            }
            match next {
                Ok(Next::Write(bytes)) => {
                    assert!(!bytes.is_empty(), "an empty Write");
                    self.writes.push(bytes.clone());
                    self.all_writes.push(bytes);
                }
                Err(e) => {
                    self.errors.push(e.clone());
                    return Err(e);
                }
                other => return other,
            }
        }
    }

    /// The server sends `bytes`, cut up; the caller polls after each read.
    fn server(&mut self, bytes: impl AsRef<[u8]>) -> Result<Next, Error> {
        for chunk in (self.split)(bytes.as_ref()) {
            self.c.receive(&chunk);
            let _ = self.poll();
        }
        self.poll()
    }

    /// Asserts the writes since the last call, one string per `Next::Write`.
    fn expect_writes(&mut self, want: &[&str]) {
        let got: Vec<String> = std::mem::take(&mut self.writes)
            .into_iter()
            .map(|b| String::from_utf8(b).expect("writes are UTF-8 here"))
            .collect();
        assert_eq!(got, want);
    }

    fn take_writes(&mut self) -> Vec<String> {
        std::mem::take(&mut self.writes)
            .into_iter()
            .map(|b| String::from_utf8(b).unwrap())
            .collect()
    }

    fn sent(&self) -> Vec<&str> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Sent(s) => Some(s.as_str()),
                Event::Received(_) => None,
            })
            .collect()
    }

    fn received(&self) -> Vec<&Reply> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Received(r) => Some(r),
                Event::Sent(_) => None,
            })
            .collect()
    }

    fn all_written(&self) -> String {
        String::from_utf8(self.all_writes.concat()).unwrap()
    }

    /// The transcript's `Sent` events are the written lines, in order, with
    /// AUTH data replaced by `<redacted>`.
    fn check_transcript(&self) {
        let written = self.all_written();
        let lines: Vec<&str> = written
            .strip_suffix("\r\n")
            .map(|w| w.split("\r\n").collect())
            .unwrap_or_default();
        let sent = self.sent();
        assert_eq!(lines.len(), sent.len(), "{lines:?} vs {sent:?}");
        for (line, sent) in lines.iter().zip(&sent) {
            match sent.strip_suffix("<redacted>") {
                Some(prefix) => {
                    assert!(line.starts_with(prefix), "{line:?} vs {sent:?}");
                    assert_ne!(line, sent);
                }
                None => assert_eq!(line, sent),
            }
        }
    }

    /// Neither the transcript nor any error shows a secret in any form.
    fn check_no_secret(&self) {
        let forms = secret_forms();
        for e in &self.events {
            let shown = match e {
                Event::Sent(s) => s.clone(),
                Event::Received(r) => r.to_string(),
            };
            let debug = format!("{e:?}");
            for f in &forms {
                assert!(!shown.contains(f.as_str()), "{f:?} in event {shown:?}");
                assert!(!debug.contains(f.as_str()), "{f:?} in event {debug:?}");
            }
        }
        for err in &self.errors {
            let debug = format!("{err:?}");
            let display = err.to_string();
            for f in &forms {
                assert!(!debug.contains(f.as_str()), "{f:?} in error {debug:?}");
                assert!(!display.contains(f.as_str()), "{f:?} in error {display}");
            }
        }
        let debug = format!("{:?}", self.c);
        for f in &forms {
            assert!(!debug.contains(f.as_str()), "{f:?} in the client's Debug");
        }
    }
}

/// Every form in which the secrets could leak.
fn secret_forms() -> Vec<String> {
    vec![
        PASSWORD.to_string(),
        B64.encode(PASSWORD),
        B64.encode(format!("\0{USER}\0{PASSWORD}")),
        TOKEN.to_string(),
        B64.encode(TOKEN),
        B64.encode(format!("user={USER}\x01auth=Bearer {TOKEN}\x01\x01")),
    ]
}

fn password() -> Credentials {
    Credentials::Password {
        user: USER.into(),
        password: Secret::new(PASSWORD),
    }
}

fn token() -> Credentials {
    Credentials::Token {
        user: USER.into(),
        token: Secret::new(TOKEN),
    }
}

fn config(tls: TlsMode, credentials: Option<Credentials>) -> ClientConfig {
    ClientConfig {
        ehlo_name: "client.test".into(),
        tls,
        credentials,
        mechanism: None,
        allow_plaintext_auth: false,
        server_host: "mx.test".into(),
        server_port: 587,
        chunking: false,
    }
}

fn mins(n: u64) -> Duration {
    Duration::from_secs(n * 60)
}

fn read(stage: Stage) -> Next {
    Next::Read {
        stage,
        timeout: stage.timeout(),
    }
}

/// A 250 EHLO reply with these keywords.
fn ehlo(keywords: &[&str]) -> String {
    let mut s = String::from("250");
    if keywords.is_empty() {
        return s + " mx.test\r\n";
    }
    s.push_str("-mx.test\r\n");
    for (i, k) in keywords.iter().enumerate() {
        let sep = if i + 1 == keywords.len() { ' ' } else { '-' };
        s.push_str(&format!("250{sep}{k}\r\n"));
    }
    s
}

fn envelope(to: &[&str]) -> Envelope {
    Envelope {
        from: "alice@example.test".into(),
        to: to.iter().map(|s| s.to_string()).collect(),
        eight_bit: false,
        size: None,
        dsn: Default::default(),
    }
}

/// Greeting and EHLO; returns what `poll` says after the EHLO reply.
fn hello(d: &mut Driver, ehlo_reply: &str) -> Result<Next, Error> {
    assert_eq!(
        d.poll(),
        Ok(Next::Read {
            stage: Stage::Greeting,
            timeout: mins(5)
        })
    );
    assert_eq!(
        d.server("220 mx.test ESMTP ready\r\n"),
        Ok(Next::Read {
            stage: Stage::Ehlo,
            timeout: mins(5)
        })
    );
    d.expect_writes(&["EHLO client.test\r\n"]);
    d.server(ehlo_reply)
}

/// A plaintext session without AUTH, ready for mail.
fn ready(mode: Chunking, keywords: &[&str]) -> Driver {
    let mut d = Driver::new(config(TlsMode::None, None), mode);
    assert_eq!(hello(&mut d, &ehlo(keywords)), Ok(Next::Ready));
    d.expect_writes(&[]);
    d
}

/// Streams a body the way a caller does, then tells the client.
fn send_body(d: &mut Driver, body: &[u8]) {
    assert_eq!(d.poll(), Ok(Next::SendBody));
    let mut enc = DataEncoder::new();
    let mut wire = Vec::new();
    enc.encode(body, &mut wire);
    enc.finish(&mut wire);
    assert!(wire.ends_with(b"\r\n.\r\n"));
    d.c.body_sent();
}

fn code(r: Option<&Reply>) -> Option<u16> {
    r.map(|r| r.code.value())
}

// ---- the full session -----------------------------------------------------------

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

// ---- HELO, TLS policy -------------------------------------------------------------

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

// ---- AUTH ----------------------------------------------------------------------------

fn implicit(creds: Credentials, mechanism: Option<Mechanism>, mode: Chunking) -> Driver {
    let mut cfg = config(TlsMode::Implicit, Some(creds));
    cfg.mechanism = mechanism;
    Driver::new(cfg, mode)
}

#[test]
fn auth_login_exchange() {
    for mode in ALL_CHUNKINGS {
        let mut d = implicit(password(), None, mode);
        assert_eq!(
            hello(&mut d, &ehlo(&["AUTH LOGIN", "PIPELINING"])),
            Ok(read(Stage::Auth))
        );
        d.expect_writes(&["AUTH LOGIN\r\n"]);
        assert_eq!(d.server("334 VXNlcm5hbWU6\r\n"), Ok(read(Stage::Auth)));
        d.expect_writes(&[&format!("{}\r\n", B64.encode(USER))]);
        assert_eq!(d.server("334 UGFzc3dvcmQ6\r\n"), Ok(read(Stage::Auth)));
        d.expect_writes(&[&format!("{}\r\n", B64.encode(PASSWORD))]);
        assert_eq!(
            d.server("235 2.7.0 Authentication successful\r\n"),
            Ok(Next::Ready)
        );
        assert!(d.c.is_authenticated());
        assert_eq!(
            d.sent(),
            vec!["EHLO client.test", "AUTH LOGIN", "<redacted>", "<redacted>"]
        );
        d.check_transcript();
        d.check_no_secret();
    }
}

#[test]
fn auth_cram_md5_exchange() {
    // RFC 2195 §2
    let creds = Credentials::Password {
        user: "tim".into(),
        password: Secret::new("tanstaaftanstaaf"),
    };
    for mode in ALL_CHUNKINGS {
        let mut d = implicit(creds.clone(), Some(Mechanism::CramMd5), mode);
        assert_eq!(
            hello(&mut d, &ehlo(&["AUTH PLAIN LOGIN CRAM-MD5"])),
            Ok(read(Stage::Auth))
        );
        d.expect_writes(&["AUTH CRAM-MD5\r\n"]);
        let challenge = B64.encode("<1896.697170952@postoffice.reston.mci.net>");
        assert_eq!(
            d.server(format!("334 {challenge}\r\n")),
            Ok(read(Stage::Auth))
        );
        d.expect_writes(&["dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw\r\n"]);
        assert_eq!(d.server("235 ok\r\n"), Ok(Next::Ready));
        assert!(!d
            .sent()
            .iter()
            .any(|s| s.contains("dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw")));
        d.check_transcript();
    }
}

#[test]
fn auth_xoauth2_error_challenge() {
    let json = r#"{"status":"400","schemes":"Bearer","scope":"https://mail.google.com/"}"#;
    for mode in ALL_CHUNKINGS {
        let mut d = implicit(token(), None, mode);
        assert_eq!(
            hello(&mut d, &ehlo(&["AUTH LOGIN PLAIN XOAUTH2 OAUTHBEARER"])),
            Ok(read(Stage::Auth))
        );
        let initial = B64.encode(format!("user={USER}\x01auth=Bearer {TOKEN}\x01\x01"));
        d.expect_writes(&[&format!("AUTH XOAUTH2 {initial}\r\n")]);
        assert_eq!(
            d.server(format!("334 {}\r\n", B64.encode(json))),
            Ok(read(Stage::Auth))
        );
        d.expect_writes(&["\r\n"]);
        let r = d.server("535-5.7.8 Username and Password not accepted.\r\n535 5.7.8 https://support.google.com/mail/?p=BadCredentials\r\n");
        match &r {
            Err(Error::AuthFailed { reply, detail }) => {
                assert_eq!(reply.code.value(), 535);
                assert_eq!(detail.as_deref(), Some(json));
            }
            other => panic!("{other:?}"),
        }
        assert!(r.unwrap_err().to_string().contains(json));
        d.expect_writes(&[]);
        assert!(!d.c.is_authenticated());
        assert_eq!(
            d.sent(),
            vec!["EHLO client.test", "AUTH XOAUTH2 <redacted>", "<redacted>"]
        );
        d.check_transcript();
        d.check_no_secret();
    }
}

#[test]
fn auth_oauthbearer_error_challenge() {
    let json = r#"{"status":"invalid_token"}"#;
    let mut d = implicit(token(), Some(Mechanism::OAuthBearer), Chunking::Odd);
    assert_eq!(
        hello(&mut d, &ehlo(&["AUTH XOAUTH2 OAUTHBEARER"])),
        Ok(read(Stage::Auth))
    );
    let w = d.take_writes();
    assert_eq!(w.len(), 1);
    let initial = w[0]
        .strip_prefix("AUTH OAUTHBEARER ")
        .and_then(|s| s.strip_suffix("\r\n"))
        .unwrap();
    assert_eq!(
        B64.decode(initial).unwrap(),
        format!("n,a={USER},\x01host=mx.test\x01port=587\x01auth=Bearer {TOKEN}\x01\x01")
            .as_bytes()
    );
    assert_eq!(
        d.server(format!("334 {}\r\n", B64.encode(json))),
        Ok(read(Stage::Auth))
    );
    d.expect_writes(&["AQ==\r\n"]);
    let r = d.server("535 5.7.8 bad token\r\n");
    assert!(
        matches!(&r, Err(Error::AuthFailed { detail: Some(j), .. }) if j == json),
        "{r:?}"
    );
    d.check_no_secret();
}

#[test]
fn auth_plain_refused() {
    let mut d = implicit(password(), None, Chunking::Bytes);
    assert_eq!(hello(&mut d, &ehlo(&["AUTH PLAIN"])), Ok(read(Stage::Auth)));
    d.take_writes();
    let r = d.server("535 5.7.8 Error: authentication failed\r\n");
    assert!(
        matches!(&r, Err(Error::AuthFailed { reply, detail: None }) if reply.code.value() == 535),
        "{r:?}"
    );
    d.expect_writes(&[]);
    assert_eq!(
        d.c.send_mail(envelope(&["b@x.test"])).map_err(|_| ()),
        Err(())
    );
    d.check_no_secret();
}

#[test]
fn auth_unavailable() {
    // no mechanism fits
    let mut d = implicit(token(), None, Chunking::Whole);
    let r = hello(&mut d, &ehlo(&["AUTH PLAIN LOGIN"]));
    assert_eq!(
        r,
        Err(Error::AuthUnavailable {
            offered: vec![Mechanism::Plain, Mechanism::Login],
            wanted: None
        })
    );
    d.expect_writes(&[]);

    // the one asked for is not offered
    let mut d = implicit(password(), Some(Mechanism::CramMd5), Chunking::Whole);
    let r = hello(&mut d, &ehlo(&["AUTH PLAIN LOGIN"]));
    assert!(
        matches!(
            &r,
            Err(Error::AuthUnavailable {
                wanted: Some(Mechanism::CramMd5),
                ..
            })
        ),
        "{r:?}"
    );
    d.expect_writes(&[]);

    // no AUTH at all
    let mut d = implicit(password(), None, Chunking::Whole);
    let r = hello(&mut d, &ehlo(&["PIPELINING"]));
    assert!(matches!(&r, Err(Error::AuthUnavailable { offered, .. }) if offered.is_empty()));
    d.check_no_secret();
}

// ---- transactions --------------------------------------------------------------------

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

// ---- errors and the end of the connection -----------------------------------------------

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
