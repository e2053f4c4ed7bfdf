//! The I/O shell around [`missive_smtp::Client`]: it owns the socket and the
//! receive buffer, applies the timeouts, runs TLS, and writes the transcript.
//! All protocol decisions stay in the client state machine.

use std::io::Read;
use std::time::{Duration, Instant};

use missive_smtp::client::{Client, ClientConfig, Event, Next, Stage, TlsMode};
use missive_smtp::data::{DataEncoder, DataStats};
use missive_smtp::{Envelope, TransactionOutcome};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::body::{read_message, BdatChunks, CHUNK};
use super::net::{self, ServerAddr, Stream};
use super::proxy::Proxy;
use super::tls::{self, TlsContext, TlsInfo};
use super::transcript::Transcript;
use crate::error::{AppError, Result};

/// What runs (and is awaited) as the end of a message is about to go out.
/// An error stops the message before its end goes out.
pub type OnCommit<'a> =
    dyn Fn() -> futures_util::future::BoxFuture<'a, Result<()>> + Send + Sync + 'a;

/// How the session is to run.
pub struct SessionOptions {
    /// The server's name (verified in its certificate) and port.
    pub server: ServerAddr,
    /// Addresses to connect to, already resolved (direct delivery); empty:
    /// resolve `server.host` with the system resolver.
    pub addrs: Vec<std::net::SocketAddr>,
    /// Timeout for each connection attempt (bounded by `timeout` too).
    pub connect_timeout: Duration,
    pub smtp: ClientConfig,
    pub tls: TlsContext,
    /// `--timeout`: an upper bound on every wait (each whole reply, each
    /// TLS handshake, each write), if given.
    pub timeout: Option<Duration>,
    /// Connect through this proxy (unless it bypasses the server's host).
    pub proxy: Option<Proxy>,
    /// When everything must be over (direct delivery's overall deadline):
    /// no wait goes past it.
    pub deadline: Option<Instant>,
}

/// A connected SMTP session.
pub struct Session {
    client: Client,
    stream: Stream,
    rbuf: Vec<u8>,
    tls_ctx: TlsContext,
    server: ServerAddr,
    timeout: Option<Duration>,
    deadline: Option<Instant>,
    /// When the reply being read must be complete, and the limit it came
    /// from (seconds): set at the first read for a reply, cleared when the
    /// reply is whole, so a server dripping a line at a time cannot stretch
    /// one reply past its timeout.
    reply_due: Option<(Instant, AppError)>,
    pub transcript: Transcript,
    pub tls: Option<TlsInfo>,
    /// The end of a message went out in this session's current transaction
    /// and its reply may not have come: resending could duplicate it.
    committed: bool,
    /// Transactions completed in this session.
    pub messages: usize,
    quit_after: Option<QuitAfter>,
    progress: Progress,
    /// The peer's address, once connected.
    pub peer: Option<std::net::SocketAddr>,
    /// The body's read buffer, kept for the session's next message.
    body_in: Vec<u8>,
    /// The body's encoded bytes (DATA), kept likewise.
    body_out: Vec<u8>,
    /// Hold the end of the message being sent back, to go out in one write
    /// with the next transaction's commands (RFC 2920 §3.1).
    hold_end: bool,
    /// Bytes held back for the next write (or read, whichever comes first).
    held: Vec<u8>,
}

/// The connect timeout (RFC 5321 gives none; 30 s is common practice).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

mod pipeline;
mod quit_after;
pub use pipeline::{Item, OnCommitAt};
use quit_after::Progress;
pub use quit_after::QuitAfter;

impl Session {
    /// Connects (with implicit TLS when asked) and runs the session up to
    /// `Ready`: greeting, EHLO, STARTTLS, AUTH.
    pub async fn open(opts: SessionOptions, transcript: Transcript) -> Result<Session> {
        Session::open_until(opts, transcript, None).await
    }

    /// [`open`](Session::open), stopping at `quit_after` when it comes
    /// before the session is ready (see [`Session::stopped`]). Stages from
    /// `Mail` on are [`Session::try_envelope`]'s.
    pub async fn open_until(
        opts: SessionOptions,
        transcript: Transcript,
        quit_after: Option<QuitAfter>,
    ) -> Result<Session> {
        let limit = |d: Duration| bound(opts.timeout, opts.deadline, d);
        let wait = limit(opts.connect_timeout);
        let proxy = opts
            .proxy
            .as_ref()
            .filter(|p| !p.bypasses(&opts.server.host));
        let tcp = match proxy {
            Some(proxy) => {
                let tcp = proxy.connect(&opts.server, &opts.addrs, wait).await?;
                transcript.info(&format!(
                    "connected to {} through the proxy {}",
                    opts.server.display(),
                    proxy.display()
                ));
                tcp
            }
            None => {
                let addrs = match opts.addrs.is_empty() {
                    true => net::resolve(&opts.server, wait).await?,
                    false => opts.addrs.clone(),
                };
                let tcp = net::connect_any(&opts.server, &addrs, wait).await?;
                if let Ok(peer) = tcp.peer_addr() {
                    transcript.info(&format!("connected to {} ({peer})", opts.server.display()));
                }
                tcp
            }
        };
        let peer = tcp.peer_addr().ok();
        let mut ehlo = opts.smtp;
        if ehlo.ehlo_name.is_empty() {
            ehlo.ehlo_name = super::hostname::ehlo_name(tcp.local_addr().ok());
        }
        let implicit = ehlo.tls == TlsMode::Implicit;
        let mut session = Session {
            client: Client::new(ehlo),
            stream: Stream::Plain(tcp),
            rbuf: vec![0; CHUNK],
            tls_ctx: opts.tls,
            server: opts.server,
            timeout: opts.timeout,
            deadline: opts.deadline,
            reply_due: None,
            transcript,
            tls: None,
            committed: false,
            messages: 0,
            quit_after,
            progress: Progress::default(),
            peer,
            body_in: Vec::new(),
            body_out: Vec::new(),
            hold_end: false,
            held: Vec::new(),
        };
        if implicit {
            session.start_tls(Stage::Greeting).await?;
        }
        if quit_after == Some(QuitAfter::Connect) {
            session.transcript.info("stopping after connect, as asked");
            session.progress.stopped = true;
            let _ = tokio::time::timeout(Duration::from_secs(1), session.stream.shutdown()).await;
            return Ok(session);
        }
        match session.drive().await? {
            Next::Ready if quit_after.is_some_and(|q| q <= QuitAfter::Auth) => {
                // Every setup stage is done (some, like TLS or AUTH, may
                // not have happened at all): stop here.
                session.stop_now().await;
                Ok(session)
            }
            Next::Ready => Ok(session),
            Next::Closed if session.progress.stopped => Ok(session),
            other => Err(AppError::Smtp(missive_smtp::Error::Protocol(format!(
                "session setup ended in {other:?}"
            )))),
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Whether the end of the last message went out without its reply
    /// coming back (RFC 1047): the server may have taken it.
    pub fn in_doubt(&self) -> bool {
        self.committed
    }

    /// Sets when everything must be over (`None`: only the timeouts
    /// bound the waits): a pooled session gets each message's own deadline.
    pub fn set_deadline(&mut self, deadline: Option<Instant>) {
        self.deadline = deadline;
    }

    /// The server this session is connected to.
    pub fn server(&self) -> &ServerAddr {
        &self.server
    }

    /// Whether another transaction can start on this session now.
    pub fn is_ready(&self) -> bool {
        self.client.is_ready()
    }

    /// Ends the session after an error: QUIT when the session can still
    /// take it (a message refused before anything was sent, RFC 5321
    /// §4.1.1.10), else just closes.
    pub async fn close_after_error(self) {
        if self.client.is_ready() {
            self.quit().await;
        }
    }

    fn limit(&self, d: Duration) -> Duration {
        bound(self.timeout, self.deadline, d)
    }

    /// The error for a wait of `limit` in `stage` that ran out; `None`:
    /// the overall deadline ran out.
    fn expired(&self, stage: Stage, limit: Option<Duration>) -> AppError {
        match limit {
            None => AppError::Deadline { stage },
            Some(limit) => AppError::Timeout {
                stage,
                secs: limit.as_secs(),
            },
        }
    }

    /// Runs the state machine until it needs the application: `Ready`,
    /// `SendBody` or `Closed`.
    async fn drive(&mut self) -> Result<Next> {
        loop {
            if !self.progress.stopped && self.stage_reached() && self.client.quit_early() {
                let stage = self.quit_after.map_or("", QuitAfter::name);
                self.flush_events();
                self.transcript
                    .info(&format!("stopping after {stage}, as asked"));
                self.progress.stopped = true;
            }
            let next = self.client.poll();
            self.flush_events();
            match next? {
                Next::Write(bytes) => {
                    let stage = self.client.stage().unwrap_or(Stage::Quit);
                    self.write(&bytes, stage).await?
                }
                Next::Read { stage, timeout } => {
                    if !self.held.is_empty() {
                        self.write(&[], stage).await?;
                    }
                    self.stream.quick_ack();
                    let now = Instant::now();
                    if self.reply_due.is_none() {
                        let limit = self.timeout.map_or(timeout, |t| t.min(timeout));
                        self.reply_due = Some(match self.deadline {
                            Some(end) if end < now + limit => (end, self.expired(stage, None)),
                            _ => (now + limit, self.expired(stage, Some(limit))),
                        });
                    }
                    let wait = self
                        .reply_due
                        .as_ref()
                        .map_or(Duration::ZERO, |d| d.0.saturating_duration_since(now));
                    let n = match tokio::time::timeout(wait, self.stream.read(&mut self.rbuf)).await
                    {
                        Err(_) => {
                            let why = self.reply_due.take().map(|d| d.1);
                            return Err(why.unwrap_or(AppError::Timeout { stage, secs: 0 }));
                        }
                        Ok(Err(e)) => return Err(lost(stage, &e)),
                        Ok(Ok(n)) => n,
                    };
                    if n == 0 {
                        self.client.connection_closed();
                    } else {
                        self.client.receive(&self.rbuf[..n]);
                    }
                    if stage == Stage::Ehlo && self.client.stage() != Some(Stage::Ehlo) {
                        self.progress.ehlo = true;
                        self.progress.ehlo_secure |= self.client.is_secure();
                    }
                }
                Next::StartTls => {
                    self.start_tls(Stage::StartTls).await?;
                    // An unverified certificate (opportunistic TLS) encrypts
                    // but does not authenticate: the state machine then keeps
                    // credentials back, unless the user chose --insecure.
                    match self.tls.as_ref().is_some_and(|t| t.verified) || self.tls_ctx.insecure {
                        true => self.client.tls_established(),
                        false => self.client.tls_established_unverified(),
                    }
                }
                other => return Ok(other),
            }
        }
    }

    fn flush_events(&mut self) {
        while let Some(ev) = self.client.poll_event() {
            match ev {
                Event::Sent(line) => self.transcript.sent(&line),
                Event::Received(reply) => {
                    self.reply_due = None;
                    self.transcript.received(&reply)
                }
            }
        }
    }

    /// Writes `bytes` after any held back, and flushes.
    async fn write(&mut self, bytes: &[u8], stage: Stage) -> Result<()> {
        let mut held = std::mem::take(&mut self.held);
        let out = match held.is_empty() {
            true => bytes,
            false => {
                held.extend_from_slice(bytes);
                &held[..]
            }
        };
        let wait = self.limit(Stage::DataBlock.timeout());
        let stream = &mut self.stream;
        let write = async move {
            stream.write_all(out).await?;
            stream.flush().await
        };
        let result = match tokio::time::timeout(wait, write).await {
            Err(_) => Err(AppError::Timeout {
                stage,
                secs: wait.as_secs(),
            }),
            Ok(Err(e)) => Err(lost(stage, &e)),
            Ok(Ok(())) => Ok(()),
        };
        held.clear();
        self.held = held;
        result
    }

    /// Writes the end of a message, or holds it back for the next write
    /// when another transaction follows at once.
    async fn write_end(&mut self, bytes: &[u8]) -> Result<()> {
        match self.hold_end {
            true => {
                self.held.extend_from_slice(bytes);
                Ok(())
            }
            false => self.write(bytes, Stage::DataBlock).await,
        }
    }

    /// Replaces the plain stream by a TLS one. Nothing read before the
    /// handshake survives: the receive buffer is not carried over, and the
    /// state machine already refused any bytes it had buffered.
    async fn start_tls(&mut self, stage: Stage) -> Result<()> {
        let Stream::Plain(tcp) = std::mem::replace(&mut self.stream, Stream::Detached) else {
            return Err(AppError::Smtp(missive_smtp::Error::Misuse(
                "TLS started twice",
            )));
        };
        let name = ServerName::try_from(self.server.host.clone()).map_err(|_| {
            AppError::Usage(format!(
                "{:?} is not a valid TLS server name",
                self.server.host
            ))
        })?;
        let connector = tokio_rustls::TlsConnector::from(self.tls_ctx.config.clone());
        let wait = self.limit(stage.timeout());
        let tls = match tokio::time::timeout(wait, connector.connect(name.clone(), tcp)).await {
            Err(_) => {
                return Err(AppError::Network(format!(
                    "TLS handshake with {} timed out after {} s{}",
                    self.server.display(),
                    wait.as_secs(),
                    if stage == Stage::Greeting {
                        " (does this port speak implicit TLS? try --tls starttls)"
                    } else {
                        ""
                    }
                )))
            }
            Ok(Err(e)) => return Err(handshake_error(&self.server, stage, &e)),
            Ok(Ok(t)) => t,
        };
        let conn = tls.get_ref().1;
        let problem = self.tls_ctx.problem_with(conn.peer_certificates(), &name);
        let info = TlsInfo {
            version: conn
                .protocol_version()
                .map(|v| format!("{v:?}").replace("TLSv1_", "TLSv1."))
                .unwrap_or_default(),
            cipher: conn
                .negotiated_cipher_suite()
                .map(|c| format!("{:?}", c.suite()))
                .unwrap_or_default(),
            verified: problem.is_none(),
            problem,
            certificate: conn
                .peer_certificates()
                .and_then(|c| c.first())
                .and_then(tls::describe_cert),
            chain: conn
                .peer_certificates()
                .map(|c| c.iter().skip(1).filter_map(tls::describe_cert).collect())
                .unwrap_or_default(),
        };
        self.transcript.tls(&info);
        self.tls = Some(info);
        self.stream = Stream::Tls(Box::new(tls));
        Ok(())
    }

    /// Runs one mail transaction, streaming `body` (the message in RFC 5322
    /// form, any line endings) when the server is ready for it.
    /// `on_commit` runs just before the end of the message goes out: from
    /// then on the server may have it even if no reply comes (RFC 1047).
    pub async fn send_mail(
        &mut self,
        envelope: Envelope,
        body: &mut (dyn Read + Send),
        on_commit: &OnCommit<'_>,
    ) -> Result<TransactionOutcome> {
        self.check_eight_bit(&envelope)?;
        let bar = self.transcript.progress_bar(envelope.size);
        self.client.send_mail(envelope)?;
        self.flush_events();
        self.committed = false;
        let mut chunks = BdatChunks::new();
        loop {
            let next = match self.drive().await {
                Ok(n) => n,
                // The transaction had already ended (say, RSET or a stray
                // line failed after it): its per-recipient result stands.
                Err(e) => return self.client.take_outcome().ok_or(e),
            };
            match next {
                Next::SendBody if self.client.uses_bdat() => {
                    self.bdat_chunk(&mut chunks, body, on_commit, bar.as_ref())
                        .await?;
                }
                Next::SendBody => {
                    let stats = self.send_body(body, on_commit, bar.as_ref()).await?;
                    self.transcript.body_done(&stats, true);
                    self.client.body_sent();
                }
                // Closed: the server said 421 right after the transaction ended.
                Next::Ready | Next::Closed => {
                    if let Some(bar) = &bar {
                        // The last frame stays, as curl's does; then a new line.
                        bar.finish();
                        if !bar.is_hidden() {
                            eprintln!();
                        }
                    }
                    self.messages += 1;
                    self.committed = false;
                    return self
                        .client
                        .take_outcome()
                        .ok_or(AppError::Smtp(missive_smtp::Error::Misuse("no outcome")));
                }
                other => {
                    return Err(AppError::Smtp(missive_smtp::Error::Protocol(format!(
                        "unexpected state {other:?} during the transaction"
                    ))))
                }
            }
        }
    }

    /// One BDAT chunk, its command and its octets in one write; `Ok(true)`
    /// when it was the last (the hook runs just before that one goes out).
    async fn bdat_chunk(
        &mut self,
        chunks: &mut BdatChunks,
        body: &mut (dyn Read + Send),
        on_commit: &OnCommit<'_>,
        bar: Option<&indicatif::ProgressBar>,
    ) -> Result<bool> {
        let (mut wire, last) = chunks.next(body)?;
        let cmd = self.client.bdat_command(wire.len() as u64, last)?;
        self.flush_events();
        self.transcript.body_chunk(&wire);
        let octets = wire.len() as u64;
        wire.splice(0..0, cmd);
        if last {
            on_commit().await?;
            self.committed = true;
        }
        match last {
            true => self.write_end(&wire).await?,
            false => self.write(&wire, Stage::DataBlock).await?,
        }
        if let Some(bar) = bar {
            bar.inc(octets);
        }
        if last {
            let stats = chunks.stats.unwrap_or(DataStats {
                octets: 0,
                longest_line: 0,
            });
            self.transcript.body_done(&stats, false);
        }
        Ok(last)
    }

    /// RFC 6152 §3: 8-bit data only to a server that offers 8BITMIME (a
    /// ready-made message is sent as it is, not converted).
    fn check_eight_bit(&self, envelope: &Envelope) -> Result<()> {
        match envelope.eight_bit && !self.client.capabilities().eight_bit_mime {
            true => Err(AppError::Data(format!(
                "the message has 8-bit data and {} does not offer 8BITMIME: encode it (quoted-printable or base64) or use another server",
                self.server.display()
            ))),
            false => Ok(()),
        }
    }

    /// Streams the body in bounded chunks: read, encode, write. The last
    /// chunk goes out with the terminator in one write (no small segment
    /// of its own for Nagle to hold back).
    async fn send_body(
        &mut self,
        body: &mut (dyn Read + Send),
        on_commit: &OnCommit<'_>,
        bar: Option<&indicatif::ProgressBar>,
    ) -> Result<DataStats> {
        let mut encoder = DataEncoder::new();
        let mut input = std::mem::take(&mut self.body_in);
        input.resize(CHUNK, 0);
        let mut out = std::mem::take(&mut self.body_out);
        out.clear();
        loop {
            let n = read_message(body, &mut input)?;
            if n == 0 {
                break;
            }
            if !out.is_empty() {
                self.transcript.body_chunk(&out);
                self.write(&out, Stage::DataBlock).await?;
                if let Some(bar) = bar {
                    bar.inc(out.len() as u64);
                }
                out.clear();
            }
            encoder.encode(&input[..n], &mut out);
        }
        self.body_in = input;
        let stats = encoder.finish(&mut out);
        self.transcript.body_chunk(&out);
        on_commit().await?;
        self.committed = true;
        self.write_end(&out).await?;
        if let Some(bar) = bar {
            bar.inc(out.len() as u64);
        }
        self.body_out = out;
        Ok(stats)
    }

    /// Sends QUIT and waits briefly for the answer. Failures here do not
    /// matter: the message's fate was decided at the reply to `.`.
    pub async fn quit(mut self) {
        self.client.quit();
        let wait = self
            .limit(Stage::Quit.timeout())
            .min(Duration::from_secs(5));
        let _ = tokio::time::timeout(wait, self.drive()).await;
        self.flush_events();
        let _ = tokio::time::timeout(Duration::from_secs(1), self.stream.shutdown()).await;
    }
}

/// `d`, shortened to `timeout` and to what is left before `deadline`.
fn bound(timeout: Option<Duration>, deadline: Option<Instant>, d: Duration) -> Duration {
    let d = timeout.map_or(d, |t| t.min(d));
    match deadline {
        Some(end) => d.min(end.saturating_duration_since(Instant::now())),
        None => d,
    }
}

/// A connection error in a stage, as the user should read it.
fn lost(stage: Stage, e: &std::io::Error) -> AppError {
    AppError::Network(format!(
        "connection lost during {stage}: {}",
        net::short_io(e)
    ))
}

fn handshake_error(server: &ServerAddr, stage: Stage, e: &std::io::Error) -> AppError {
    let why = match e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        Some(tls_err) => tls::describe_tls_error(tls_err),
        None => net::short_io(e),
    };
    let after = match stage {
        Stage::StartTls => " after STARTTLS",
        _ => "",
    };
    AppError::Tls(format!(
        "TLS with {}{after} failed: {why}",
        server.display()
    ))
}
