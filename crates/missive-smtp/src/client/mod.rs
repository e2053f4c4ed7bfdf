//! The client side of an SMTP session, as a state machine without I/O.
//!
//! # The conversation
//!
//! ```text
//! greeting ─▶ EHLO ─┬─▶ STARTTLS ─▶ (handshake) ─▶ EHLO ─┐
//!    (HELO on 500/502) └───────────────────────────────────┴─▶ [AUTH …] ─▶ Ready
//! Ready ─▶ MAIL ─▶ RCPT × n ─┬─▶ DATA ─▶ (body) ─▶ "." ─────┬─▶ Ready ─▶ … ─▶ QUIT ─▶ Closed
//!                            └─▶ BDAT n … BDAT n LAST ─────┘   (CHUNKING, RFC 3030)
//! ```
//!
//! With PIPELINING (RFC 2920) MAIL, every RCPT and DATA leave in one write
//! (in groups of at most 100 RCPTs) and their replies are matched in order.
//! When some recipients are refused the message goes to the others; when none
//! is accepted the body is never sent and the transaction is reset. A 421 at
//! any point ends the session, except right after a finished transaction,
//! whose outcome stands. Once the end of a message has gone out, the next
//! transaction may start before its final reply ([`Client::can_pipeline_next`],
//! RFC 2920 §3.1): the outcomes come out of [`Client::take_outcome`] in order.
//!
//! # Driving it
//!
//! The caller owns the socket, the TLS library and the clock. It loops:
//!
//! 1. [`Client::poll`] says what to do next ([`Next`]):
//!    - `Write(bytes)`: write them, all in one write (one command group).
//!    - `Read { timeout, .. }`: read from the socket and pass what arrives to
//!      [`Client::receive`]; give up after `timeout` (RFC 5321 §4.5.3.2).
//!      At end of stream call [`Client::connection_closed`].
//!    - `StartTls`: discard anything still unread, run the TLS handshake,
//!      then call [`Client::tls_established`] (or
//!      [`Client::tls_established_unverified`] when the certificate did not
//!      verify: the session then never sends credentials).
//!    - `Ready`: the session is set up, or a transaction has ended (take its
//!      [`TransactionOutcome`] with [`Client::take_outcome`]). Call
//!      [`Client::send_mail`] for a transaction or [`Client::quit`] to end.
//!    - `SendBody`: the server waits for the body. With DATA (354), stream the
//!      message through a [`crate::data::DataEncoder`] (its `finish` writes
//!      the terminator), then call [`Client::body_sent`]. With BDAT
//!      ([`Client::uses_bdat`]), for each chunk call [`Client::bdat_command`]
//!      and write its bytes and the chunk together; `SendBody` comes again
//!      after each chunk's reply until the `last` one.
//!    - `Closed`: QUIT was answered; close the socket.
//! 2. [`Client::poll_event`] yields what to show in a transcript: commands as
//!    sent (AUTH data replaced by `<redacted>`) and replies as received.
//!
//! Errors are sticky: once `poll` returns an [`Error`], it returns it again.
//!
//! Implicit TLS (RFC 8314) is the caller's business: it handshakes before
//! the greeting and builds the client with [`TlsMode::Implicit`].

use std::collections::VecDeque;
use std::fmt;
use std::time::Duration;

use crate::auth::{Credentials, SaslClient};
use crate::capabilities::{Capabilities, Mechanism};
use crate::command::Command;
use crate::envelope::Envelope;
use crate::reply::{Reply, ReplyParser};
pub use crate::transaction::{RecipientResult, Stage, TransactionOutcome};
use crate::Error;

mod replies;

/// How the session gets TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// Never: plaintext throughout.
    None,
    /// STARTTLS when offered, plaintext otherwise (port-25 style delivery).
    Opportunistic,
    /// STARTTLS is required: without it nothing more is sent.
    StartTls,
    /// TLS from the first byte (RFC 8314), set up by the caller.
    Implicit,
}

/// What the state machine needs to know before it starts.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The EHLO/HELO argument: an FQDN or an address literal (RFC 5321 §4.1.4).
    pub ehlo_name: String,
    pub tls: TlsMode,
    /// Credentials for AUTH; `None` skips AUTH.
    pub credentials: Option<Credentials>,
    /// The mechanism to use; `None` picks the best offered one that fits.
    pub mechanism: Option<Mechanism>,
    /// Permit AUTH on a connection that is not encrypted.
    pub allow_plaintext_auth: bool,
    /// The server's host name and port, for OAUTHBEARER's GS2 header.
    pub server_host: String,
    pub server_port: u16,
    /// Send bodies with BDAT when the server offers CHUNKING (RFC 3030).
    pub chunking: bool,
}

/// What the caller should do next. See the module docs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    Write(Vec<u8>),
    Read { stage: Stage, timeout: Duration },
    StartTls,
    Ready,
    SendBody,
    Closed,
}

/// Something worth showing in a transcript.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A command line as sent, without CRLF; credentials are `<redacted>`.
    Sent(String),
    /// A reply as received.
    Received(Reply),
}

/// A reply the client is waiting for, in the order the commands went out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Greeting,
    Ehlo,
    Helo,
    StartTls,
    Auth,
    Mail,
    Rcpt(usize),
    Data,
    DataEnd,
    /// The reply to a BDAT chunk (RFC 3030).
    Bdat {
        last: bool,
    },
    Rset,
    Quit,
}

impl Expect {
    fn stage(self) -> Stage {
        match self {
            Expect::Greeting => Stage::Greeting,
            Expect::Ehlo | Expect::Helo => Stage::Ehlo,
            Expect::StartTls => Stage::StartTls,
            Expect::Auth => Stage::Auth,
            Expect::Mail => Stage::Mail,
            Expect::Rcpt(_) => Stage::Rcpt,
            Expect::Data => Stage::Data,
            Expect::DataEnd | Expect::Bdat { .. } => Stage::DataEnd,
            Expect::Rset => Stage::Rset,
            Expect::Quit => Stage::Quit,
        }
    }
}

/// Where the session is between replies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Replies are due; see `expect`.
    Waiting,
    /// STARTTLS was accepted; the caller must handshake.
    Handshake,
    Ready,
    /// DATA got 354; the caller streams the body.
    Body,
    Closed,
}

/// The SMTP client state machine. See the module docs for the order of calls.
pub struct Client {
    config: ClientConfig,
    phase: Phase,
    expect: VecDeque<Expect>,
    parser: ReplyParser,
    out: Vec<u8>,
    events: VecDeque<Event>,
    error: Option<Error>,
    secure: bool,
    /// The TLS peer's certificate verified (always, unless opportunistic).
    verified: bool,
    greeting: Option<Reply>,
    caps: Capabilities,
    /// What EHLO offered before STARTTLS, kept for diagnosis only.
    caps_before_tls: Option<Capabilities>,
    /// EHLO was refused and HELO used: no extensions.
    helo_only: bool,
    authenticated: bool,
    sasl: Option<SaslClient>,
    txn: Option<TransactionOutcome>,
    /// The next recipient to send RCPT for.
    next_rcpt: usize,
    /// This transaction sends its body with BDAT (CHUNKING offered and allowed).
    bdat: bool,
    /// This transaction stops before the body ([`Client::send_envelope`]).
    envelope_only: bool,
    /// Commands in `out` that `poll` has not handed out yet.
    unsent: usize,
    /// A transaction whose end went out and whose final reply is due while
    /// the next one has already started (RFC 2920 §3.1).
    finishing: Option<TransactionOutcome>,
    /// Finished transactions, oldest first, until taken.
    done: VecDeque<TransactionOutcome>,
}

/// Shows the state, never the pending output (it may hold AUTH data).
impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("phase", &self.phase)
            .field("expect", &self.expect)
            .field("secure", &self.secure)
            .field("authenticated", &self.authenticated)
            .field("capabilities", &self.caps)
            .field(
                "pending_output",
                &format_args!("<{} octets>", self.out.len()),
            )
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

/// Most RCPT commands in one pipelined group.
const PIPELINE_GROUP: usize = 100;

impl Client {
    /// A client that waits for the server's greeting.
    pub fn new(config: ClientConfig) -> Client {
        let secure = config.tls == TlsMode::Implicit;
        Client {
            config,
            phase: Phase::Waiting,
            expect: VecDeque::from([Expect::Greeting]),
            parser: ReplyParser::new(),
            out: Vec::new(),
            events: VecDeque::new(),
            error: None,
            secure,
            verified: secure,
            greeting: None,
            caps: Capabilities::default(),
            caps_before_tls: None,
            helo_only: false,
            authenticated: false,
            sasl: None,
            txn: None,
            next_rcpt: 0,
            bdat: false,
            envelope_only: false,
            unsent: 0,
            finishing: None,
            done: VecDeque::new(),
        }
    }

    // ---- state -------------------------------------------------------------

    /// The server's greeting, once received.
    pub fn greeting(&self) -> Option<&Reply> {
        self.greeting.as_ref()
    }

    /// The capabilities of the latest EHLO (empty after HELO, and reset by STARTTLS).
    pub fn capabilities(&self) -> &Capabilities {
        &self.caps
    }

    /// What EHLO offered before STARTTLS (for diagnosis; never used to decide anything).
    pub fn capabilities_before_tls(&self) -> Option<&Capabilities> {
        self.caps_before_tls.as_ref()
    }

    /// True when the session runs over TLS.
    pub fn is_secure(&self) -> bool {
        self.secure
    }

    /// True when the session can take a transaction or QUIT: set up, no
    /// transaction under way, no error.
    pub fn is_ready(&self) -> bool {
        self.phase == Phase::Ready && self.error.is_none()
    }

    /// True once AUTH succeeded.
    pub fn is_authenticated(&self) -> bool {
        self.authenticated
    }

    /// True when EHLO was refused and the session fell back to HELO.
    pub fn used_helo(&self) -> bool {
        self.helo_only
    }

    /// The stage whose reply is awaited, if any.
    pub fn stage(&self) -> Option<Stage> {
        match self.phase {
            Phase::Body => Some(Stage::DataBlock),
            _ => self.expect.front().map(|e| e.stage()),
        }
    }

    // ---- output ------------------------------------------------------------

    /// What to do next. See the module docs.
    pub fn poll(&mut self) -> Result<Next, Error> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        if !self.out.is_empty() {
            self.unsent = 0;
            return Ok(Next::Write(std::mem::take(&mut self.out)));
        }
        Ok(match self.phase {
            Phase::Handshake => Next::StartTls,
            Phase::Body => Next::SendBody,
            Phase::Ready => Next::Ready,
            Phase::Closed => Next::Closed,
            Phase::Waiting => {
                let stage = self
                    .expect
                    .front()
                    .map(|e| e.stage())
                    .ok_or(Error::Misuse("waiting with nothing expected"))?;
                Next::Read {
                    stage,
                    timeout: stage.timeout(),
                }
            }
        })
    }

    /// The next transcript event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The outcome of the oldest transaction that ended and was not taken
    /// yet: once `poll` says `Ready`, or (pipelining transactions) as soon
    /// as the final reply of a message came.
    pub fn take_outcome(&mut self) -> Option<TransactionOutcome> {
        self.done.pop_front()
    }

    /// True when the next transaction may start before this one's final
    /// reply: the end of its message went out, the server offers
    /// PIPELINING, and nothing else is awaited (RFC 2920 §3.1: the message
    /// content may be the first command of a group). [`Client::send_mail`]
    /// then sends MAIL, RCPT and DATA behind the end of the message.
    pub fn can_pipeline_next(&self) -> bool {
        self.error.is_none()
            && self.caps.pipelining
            && self.phase == Phase::Waiting
            && self.txn.is_some()
            && self.finishing.is_none()
            && !self.envelope_only
            && self.out.is_empty()
            && matches!(
                self.expect.iter().collect::<Vec<_>>().as_slice(),
                [Expect::DataEnd] | [Expect::Bdat { last: true }]
            )
    }

    // ---- input -------------------------------------------------------------

    /// Bytes read from the server.
    pub fn receive(&mut self, bytes: &[u8]) {
        if self.error.is_some() {
            return;
        }
        // Replies completed before a malformed line are still handled (a
        // message accepted just before the garbage stays accepted); the
        // error takes effect after them.
        let fed = self.parser.feed(bytes);
        while let Some(reply) = self.parser.next_reply() {
            self.events.push_back(Event::Received(reply.clone()));
            if let Err(e) = self.handle(reply) {
                self.error = Some(e);
                return;
            }
        }
        if let Err(e) = fed {
            self.error = Some(e);
        }
    }

    /// The server closed the connection (end of stream).
    pub fn connection_closed(&mut self) {
        if self.error.is_some() {
            return;
        }
        match self.expect.front() {
            Some(Expect::Quit) | None if self.phase != Phase::Body => {
                self.phase = Phase::Closed;
                self.expect.clear();
            }
            _ => {
                let stage = self.stage().unwrap_or(Stage::Quit);
                self.error = Some(Error::ConnectionLost { stage });
            }
        }
    }

    /// The TLS handshake after `Next::StartTls` succeeded, but the
    /// certificate did not verify (opportunistic TLS goes on regardless).
    /// The session is encrypted, not authenticated: no credentials are sent
    /// on it unless plaintext AUTH is allowed.
    pub fn tls_established_unverified(&mut self) {
        self.tls_established();
        self.verified = false;
    }

    /// The TLS handshake the caller ran after `Next::StartTls` succeeded,
    /// with the server's certificate verified.
    pub fn tls_established(&mut self) {
        if self.phase != Phase::Handshake {
            self.error
                .get_or_insert(Error::Misuse("tls_established without STARTTLS"));
            return;
        }
        // RFC 3207 §4.2: forget everything learnt before TLS.
        self.secure = true;
        self.verified = true;
        self.caps_before_tls = Some(std::mem::take(&mut self.caps));
        self.parser = ReplyParser::new();
        self.send_ehlo();
    }

    /// Starts a mail transaction. Only when `poll` says `Ready`.
    ///
    /// Refuses, without sending anything, an envelope with an invalid path,
    /// an internationalised one the server cannot take, or a size over the
    /// server's limit; the session stays ready.
    pub fn send_mail(&mut self, envelope: Envelope) -> Result<(), Error> {
        self.envelope_only = false;
        self.start_transaction(envelope, true)
    }

    /// For diagnosis: a transaction that stops before the body. MAIL, then
    /// (with `rcpts`) every RCPT, then RSET instead of DATA; `Ready` comes
    /// back with the [`TransactionOutcome`] (no DATA reply, no final reply).
    /// Nothing of a message is ever sent.
    pub fn send_envelope(&mut self, envelope: Envelope, rcpts: bool) -> Result<(), Error> {
        self.envelope_only = true;
        self.start_transaction(envelope, rcpts)
    }

    /// Ends the session at once instead of going on (`--quit-after`): the
    /// commands `poll` has not handed out yet are dropped (and their
    /// transcript events), and QUIT goes instead. Only between replies:
    /// false, and nothing changes, while a reply to a command already
    /// written is due, during a body, or after an error.
    pub fn quit_early(&mut self) -> bool {
        if self.error.is_some() || self.expect.len() != self.unsent {
            return false;
        }
        match self.phase {
            Phase::Ready => {
                self.quit();
                return true;
            }
            Phase::Waiting => {}
            _ => return false,
        }
        let mut drop_events = self.unsent;
        let mut kept = VecDeque::with_capacity(self.events.len());
        while let Some(ev) = self.events.pop_back() {
            match ev {
                Event::Sent(_) if drop_events > 0 => drop_events -= 1,
                ev => kept.push_front(ev),
            }
        }
        self.events = kept;
        self.out.clear();
        self.expect.clear();
        self.unsent = 0;
        self.sasl = None;
        self.send(&Command::Quit, Expect::Quit);
        true
    }

    fn start_transaction(&mut self, envelope: Envelope, rcpts: bool) -> Result<(), Error> {
        let pipelined = rcpts && self.can_pipeline_next();
        if self.error.is_some() || (self.phase != Phase::Ready && !pipelined) {
            return Err(Error::Misuse("send_mail while not ready"));
        }
        let utf8 = envelope.validate()?;
        if utf8 && !self.caps.smtputf8 {
            let addr = std::iter::once(&envelope.from)
                .chain(&envelope.to)
                .find(|a| !a.is_ascii())
                .cloned()
                .unwrap_or_default();
            return Err(Error::Utf8NotSupported(addr));
        }
        // RFC 8689 §4.2.1: only over TLS whose certificate verified, only
        // to a server that offers REQUIRETLS.
        if envelope.require_tls {
            if !self.secure {
                return Err(Error::RequireTls("the connection is not encrypted".into()));
            }
            if !self.verified {
                return Err(Error::RequireTls(
                    "the server's certificate did not verify".into(),
                ));
            }
            if !self.caps.requiretls {
                return Err(Error::RequireTls(
                    "the server does not offer REQUIRETLS".into(),
                ));
            }
        }
        let mut params = Vec::new();
        if let (Some(limit), Some(size)) = (self.caps.size, envelope.size) {
            if limit > 0 && size > limit {
                return Err(Error::MessageTooBig { size, limit });
            }
            params.push(format!("SIZE={size}"));
        }
        if envelope.eight_bit && self.caps.eight_bit_mime {
            params.push("BODY=8BITMIME".into());
        }
        if utf8 {
            params.push("SMTPUTF8".into());
        }
        if envelope.require_tls {
            params.push("REQUIRETLS".into());
        }
        if self.caps.dsn {
            if let Some(ret) = &envelope.dsn.ret {
                params.push(format!("RET={ret}"));
            }
            if let Some(id) = &envelope.dsn.envid {
                params.push(format!("ENVID={}", crate::envelope::xtext(id)));
            }
        }
        self.bdat = self.config.chunking && self.caps.chunking;
        let mail = Command::Mail {
            from: envelope.from.clone(),
            params,
        };
        let n = envelope.to.len();
        self.next_rcpt = 0;
        if pipelined {
            self.finishing = self.txn.take();
        }
        self.txn = Some(TransactionOutcome {
            envelope,
            mail: None,
            rcpt: vec![None; n],
            data: None,
            final_reply: None,
        });
        self.phase = Phase::Waiting;
        self.send(&mail, Expect::Mail);
        if !rcpts {
            // MAIL only: its reply ends the transaction (see pump_rcpts).
            self.next_rcpt = n;
        } else if self.caps.pipelining {
            self.pump_rcpts();
        }
        Ok(())
    }

    /// True when the body goes with BDAT chunks rather than DATA.
    pub fn uses_bdat(&self) -> bool {
        self.bdat
    }

    /// With BDAT, after `Next::SendBody`: the command for the next chunk of
    /// `size` octets. Write it and the chunk together, then poll for the reply.
    pub fn bdat_command(&mut self, size: u64, last: bool) -> Result<Vec<u8>, Error> {
        if self.phase != Phase::Body || !self.bdat {
            return Err(Error::Misuse("bdat_command outside a BDAT body"));
        }
        let cmd = Command::Bdat { size, last };
        self.events.push_back(Event::Sent(cmd.to_string()));
        self.expect.push_back(Expect::Bdat { last });
        self.phase = Phase::Waiting;
        Ok(cmd.to_bytes())
    }

    /// The body and its terminator have been written after `Next::SendBody`.
    pub fn body_sent(&mut self) {
        if self.phase != Phase::Body {
            self.error
                .get_or_insert(Error::Misuse("body_sent without SendBody"));
            return;
        }
        self.phase = Phase::Waiting;
        self.expect.push_back(Expect::DataEnd);
    }

    /// Ends the session politely. Only when `poll` says `Ready`.
    pub fn quit(&mut self) {
        if self.phase == Phase::Ready && self.error.is_none() {
            self.phase = Phase::Waiting;
            self.send(&Command::Quit, Expect::Quit);
        }
    }

    // ---- internals ---------------------------------------------------------

    fn send(&mut self, cmd: &Command, expect: Expect) {
        self.events.push_back(Event::Sent(cmd.redacted()));
        self.out.extend_from_slice(&cmd.to_bytes());
        self.expect.push_back(expect);
        self.unsent += 1;
    }

    fn send_ehlo(&mut self) {
        self.phase = Phase::Waiting;
        self.send(&Command::Ehlo(self.config.ehlo_name.clone()), Expect::Ehlo);
    }

    fn send_rcpt(&mut self, i: usize) {
        let Some(txn) = self.txn.as_ref() else { return };
        let to = txn.envelope.to[i].clone();
        let mut params = Vec::new();
        if let (true, Some(notify)) = (self.caps.dsn, &txn.envelope.dsn.notify) {
            params.push(format!("NOTIFY={notify}"));
            let orcpt = crate::envelope::xtext(&to);
            let kind = if to.is_ascii() { "rfc822" } else { "utf-8" };
            params.push(format!("ORCPT={kind};{orcpt}"));
        }
        self.send(&Command::Rcpt { to, params }, Expect::Rcpt(i));
    }
}
