//! Support shared by the protocol tests: a client [`Driver`] that cuts every
//! server turn the way a socket might (whole, byte by byte, at every CR so
//! CRLF is split, odd sizes) and polls after each piece, as a real caller
//! loop would; a scripted server ([`run`]); and stream-cutting helpers for
//! the codecs.

use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use missive_smtp::command::{CommandLine, CommandParser};
use missive_smtp::data::DataEncoder;
use missive_smtp::server::{Action, Server, ServerConfig};
use missive_smtp::{
    Client, ClientConfig, Credentials, Envelope, Error, Event, Next, Reply, Secret, Stage, TlsMode,
};
use proptest::sample::Index;

// ---- the client driver -------------------------------------------------------

pub const USER: &str = "alice@example.test";
pub const PASSWORD: &str = "hunter2-Sup3r/s3cret";
pub const TOKEN: &str = "ya29.a0AfH6SMBx-oauth-token";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chunking {
    Whole,
    Bytes,
    /// Cut after every CR, so each CRLF arrives in two reads.
    SplitCrlf,
    /// Sizes 3, 1, 4, 1, 5, 9, 2, 6, repeating.
    Odd,
}

pub const ALL_CHUNKINGS: [Chunking; 4] = [
    Chunking::Whole,
    Chunking::Bytes,
    Chunking::SplitCrlf,
    Chunking::Odd,
];

pub fn cut_sizes(bytes: &[u8], sizes: &[usize]) -> Vec<Vec<u8>> {
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

pub fn cut(bytes: &[u8], mode: Chunking) -> Vec<Vec<u8>> {
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

pub type Splitter = Box<dyn Fn(&[u8]) -> Vec<Vec<u8>>>;

pub fn splitter(mode: Chunking) -> Splitter {
    Box::new(move |b| cut(b, mode))
}

pub struct Driver {
    pub c: Client,
    pub split: Splitter,
    /// Writes since the last `expect_writes`.
    pub writes: Vec<Vec<u8>>,
    /// Every write of the session.
    pub all_writes: Vec<Vec<u8>>,
    pub events: Vec<Event>,
    /// Every error `poll` returned.
    pub errors: Vec<Error>,
}

impl Driver {
    pub fn new(config: ClientConfig, mode: Chunking) -> Driver {
        Driver::with_splitter(config, splitter(mode))
    }

    pub fn with_splitter(config: ClientConfig, split: Splitter) -> Driver {
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
    pub fn poll(&mut self) -> Result<Next, Error> {
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
    pub fn server(&mut self, bytes: impl AsRef<[u8]>) -> Result<Next, Error> {
        for chunk in (self.split)(bytes.as_ref()) {
            self.c.receive(&chunk);
            let _ = self.poll();
        }
        self.poll()
    }

    /// Asserts the writes since the last call, one string per `Next::Write`.
    pub fn expect_writes(&mut self, want: &[&str]) {
        let got: Vec<String> = std::mem::take(&mut self.writes)
            .into_iter()
            .map(|b| String::from_utf8(b).expect("writes are UTF-8 here"))
            .collect();
        assert_eq!(got, want);
    }

    pub fn take_writes(&mut self) -> Vec<String> {
        std::mem::take(&mut self.writes)
            .into_iter()
            .map(|b| String::from_utf8(b).unwrap())
            .collect()
    }

    pub fn sent(&self) -> Vec<&str> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Sent(s) => Some(s.as_str()),
                Event::Received(_) => None,
            })
            .collect()
    }

    pub fn received(&self) -> Vec<&Reply> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Received(r) => Some(r),
                Event::Sent(_) => None,
            })
            .collect()
    }

    pub fn all_written(&self) -> String {
        String::from_utf8(self.all_writes.concat()).unwrap()
    }

    /// The transcript's `Sent` events are the written lines, in order, with
    /// AUTH data replaced by `<redacted>`.
    pub fn check_transcript(&self) {
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
    pub fn check_no_secret(&self) {
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
pub fn secret_forms() -> Vec<String> {
    vec![
        PASSWORD.to_string(),
        B64.encode(PASSWORD),
        B64.encode(format!("\0{USER}\0{PASSWORD}")),
        TOKEN.to_string(),
        B64.encode(TOKEN),
        B64.encode(format!("user={USER}\x01auth=Bearer {TOKEN}\x01\x01")),
    ]
}

pub fn password() -> Credentials {
    Credentials::Password {
        user: USER.into(),
        password: Secret::new(PASSWORD),
    }
}

pub fn token() -> Credentials {
    Credentials::Token {
        user: USER.into(),
        token: Secret::new(TOKEN),
    }
}

pub fn config(tls: TlsMode, credentials: Option<Credentials>) -> ClientConfig {
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

pub fn mins(n: u64) -> Duration {
    Duration::from_secs(n * 60)
}

pub fn read(stage: Stage) -> Next {
    Next::Read {
        stage,
        timeout: stage.timeout(),
    }
}

/// A 250 EHLO reply with these keywords.
pub fn ehlo(keywords: &[&str]) -> String {
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

pub fn envelope(to: &[&str]) -> Envelope {
    Envelope {
        from: "alice@example.test".into(),
        to: to.iter().map(|s| s.to_string()).collect(),
        eight_bit: false,
        size: None,
        dsn: Default::default(),
        require_tls: false,
    }
}

/// Greeting and EHLO; returns what `poll` says after the EHLO reply.
pub fn hello(d: &mut Driver, ehlo_reply: &str) -> Result<Next, Error> {
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
pub fn ready(mode: Chunking, keywords: &[&str]) -> Driver {
    let mut d = Driver::new(config(TlsMode::None, None), mode);
    assert_eq!(hello(&mut d, &ehlo(keywords)), Ok(Next::Ready));
    d.expect_writes(&[]);
    d
}

/// Streams a body the way a caller does, then tells the client.
pub fn send_body(d: &mut Driver, body: &[u8]) {
    assert_eq!(d.poll(), Ok(Next::SendBody));
    let mut enc = DataEncoder::new();
    let mut wire = Vec::new();
    enc.encode(body, &mut wire);
    enc.finish(&mut wire);
    assert!(wire.ends_with(b"\r\n.\r\n"));
    d.c.body_sent();
}

pub fn code(r: Option<&Reply>) -> Option<u16> {
    r.map(|r| r.code.value())
}

// ---- the scripted server -------------------------------------------------------

/// Runs a client script through a server, answering storage and auth.
pub fn run(config: ServerConfig, input: &[&[u8]]) -> (String, Vec<Action>) {
    let mut s = Server::new(config);
    let mut out = String::new();
    let mut seen = Vec::new();
    let mut inputs = input.iter();
    loop {
        match s.poll() {
            Action::Write(b) => out.push_str(&String::from_utf8_lossy(&b)),
            Action::Read { .. } => match inputs.next() {
                Some(i) => s.receive(i),
                None => break,
            },
            Action::Authenticate { user, password } => {
                let ok = password.expose() == "pw";
                s.auth_result(&user, ok)
            }
            Action::MessageEnd { size } => {
                seen.push(Action::MessageEnd { size });
                s.message_stored(Ok("Q1".into()))
            }
            Action::StartTls => s.tls_established(),
            Action::Close => {
                seen.push(Action::Close);
                break;
            }
            a => seen.push(a),
        }
    }
    (out, seen)
}

pub fn count(seen: &[Action], f: impl Fn(&Action) -> bool) -> usize {
    seen.iter().filter(|a| f(a)).count()
}

/// The reply lines the server wrote, in order.
pub fn replies(out: &str) -> Vec<&str> {
    out.lines().collect()
}

// ---- cutting streams -------------------------------------------------------------

/// Cuts `bytes` at the given points (any order, duplicates allowed).
pub fn split_at<'a>(bytes: &'a [u8], points: &[Index]) -> Vec<&'a [u8]> {
    let mut cuts: Vec<usize> = points.iter().map(|p| p.index(bytes.len() + 1)).collect();
    cuts.sort_unstable();
    cuts.dedup();
    let mut out = Vec::new();
    let mut start = 0;
    for cut in cuts {
        out.push(&bytes[start..cut]);
        start = cut;
    }
    out.push(&bytes[start..]);
    out
}

pub fn bytes_one_by_one(bytes: &[u8]) -> Vec<&[u8]> {
    bytes.chunks(1).collect()
}

/// Feeds `chunks` to a command parser; returns the lines and what is left buffered.
pub fn command_lines(chunks: &[&[u8]]) -> (Vec<CommandLine>, Vec<u8>) {
    let mut p = CommandParser::new();
    let mut out = Vec::new();
    for c in chunks {
        p.feed(c);
        while let Some(l) = p.next_line() {
            out.push(l);
        }
    }
    (out, p.take_buffered())
}
