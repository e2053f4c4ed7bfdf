//! The server side of an SMTP session, as a state machine without I/O: the
//! engine of `missive serve`, the sandbox, and test servers.
//!
//! # Driving it
//!
//! The caller owns the socket, TLS, the clock and the storage. It loops on
//! [`Server::poll`]:
//! - `Write(bytes)`: write them (replies to a pipelined group come together).
//! - `Read { timeout }`: read, pass bytes to [`Server::receive`], or call
//!   [`Server::connection_closed`] at end of stream; on timeout, close.
//! - `Delay(d)`: wait `d` before polling again (fault injection).
//! - `StartTls`: the 220 was written; handshake, then [`Server::tls_established`].
//! - `Authenticate { .. }`: check the credentials, answer with [`Server::auth_result`].
//! - `MessageStart` / `MessageData` / `MessageEnd` / `MessageAbort`: store the
//!   message as it streams in; after `MessageEnd` make it durable, then call
//!   [`Server::message_stored`]. The 250 is sent only after that.
//! - `Close`: close the connection.
//!
//! Limits (line length, command count, recipients, message size) keep a
//! misbehaving client from exhausting the server.
//!
//! # What is refused
//!
//! - A bare LF or bare CR in a DATA body: RFC 5321 §2.3.8 and §4.1.1.4 allow
//!   CRLF only, and say `<LF>.<LF>` must not end the data. Such a client and
//!   this server can disagree on where the message ends, which is how SMTP
//!   smuggling (2023) hides a second message after a fake end: so the server
//!   answers `550 5.5.2` and closes the session at once, and nothing received
//!   after the bare line end is executed or stored (Postfix's
//!   `smtpd_forbid_bare_newline`, which also disconnects; chasquid and
//!   sendmail do the same). Reading on to a proper CRLF `.` CRLF would also
//!   discard the hidden message, but would still trust a framing the client
//!   has just shown it does not share.
//! - A path in MAIL FROM or RCPT TO that is not RFC 5321 §4.1.2 syntax, or
//!   has any control character (a CR would become a header line of the stored
//!   message): `553 5.1.7` for the sender, `501 5.1.3` for a recipient
//!   ([`crate::envelope::validate_received_path`]). A source route is
//!   dropped. A HELO/EHLO name with a control character: `501 5.5.4`.
//! - A non-ASCII path in a transaction whose MAIL did not carry SMTPUTF8:
//!   `553 5.6.7` (RFC 6531 §3.4).

use std::collections::VecDeque;
use std::time::Duration;

use crate::auth::Secret;
use crate::command::{CommandLine, CommandParser};
use crate::data::{DataDecoder, DataError};

mod commands;

/// A point in the session where a fault can be injected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FaultStage {
    Greeting,
    Ehlo,
    Mail,
    Rcpt,
    Data,
    EndOfData,
}

impl FaultStage {
    pub fn parse(s: &str) -> Option<FaultStage> {
        Some(match s.to_ascii_lowercase().as_str() {
            "greeting" | "connect" => FaultStage::Greeting,
            "ehlo" | "helo" => FaultStage::Ehlo,
            "mail" => FaultStage::Mail,
            "rcpt" => FaultStage::Rcpt,
            "data" => FaultStage::Data,
            "end-of-data" | "eod" | "dot" => FaultStage::EndOfData,
            _ => return None,
        })
    }
}

/// What goes wrong on purpose.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Answer this code instead of the normal reply.
    pub fail_at: Vec<(FaultStage, u16)>,
    /// Close the connection instead of replying.
    pub drop_at: Vec<FaultStage>,
    /// Wait before replying.
    pub delay: Vec<(FaultStage, Duration)>,
    /// Refuse recipients matching a pattern (`*` wildcards) with a code.
    pub reject_rcpt: Vec<(String, u16)>,
}

/// How the server behaves.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The name in the greeting and EHLO reply.
    pub hostname: String,
    /// Largest message accepted, advertised as SIZE.
    pub max_size: u64,
    /// STARTTLS can be offered (a certificate is there).
    pub starttls: bool,
    /// The connection is TLS from the start (implicit TLS).
    pub implicit_tls: bool,
    /// MAIL needs a successful AUTH first.
    pub auth_required: bool,
    /// AUTH is offered without TLS too (otherwise only after it, as Postfix's smtpd_tls_auth_only).
    pub auth_without_tls: bool,
    pub max_recipients: usize,
    /// Commands in one session before the server gives up on the client.
    pub max_commands: usize,
    /// Wait for each command (RFC 5321 §4.5.3.2.7: at least 5 minutes).
    pub command_timeout: Duration,
    pub faults: Faults,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            hostname: "localhost".into(),
            max_size: 64 * 1024 * 1024,
            starttls: false,
            implicit_tls: false,
            auth_required: false,
            auth_without_tls: false,
            max_recipients: 1000,
            max_commands: 10_000,
            command_timeout: Duration::from_secs(300),
            faults: Faults::default(),
        }
    }
}

/// The envelope of a received message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReceivedEnvelope {
    pub helo: String,
    pub from: String,
    pub to: Vec<String>,
    /// The AUTH identity, when the client logged in.
    pub auth_user: Option<String>,
    pub tls: bool,
}

/// What the caller should do next. See the module docs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Write(Vec<u8>),
    Read { timeout: Duration },
    Delay(Duration),
    StartTls,
    Authenticate { user: String, password: Secret },
    MessageStart(ReceivedEnvelope),
    MessageData(Vec<u8>),
    MessageEnd { size: u64 },
    MessageAbort,
    Close,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading commands.
    Command,
    /// Reading a DATA body.
    Data,
    /// Reading `remaining` octets of a BDAT chunk.
    Bdat {
        remaining: u64,
        last: bool,
    },
    /// Waiting for the caller: TLS handshake, credentials check, storage.
    Handshake,
    CheckingAuth,
    Storing,
    /// AUTH LOGIN/PLAIN waiting for a response line.
    AuthStep(AuthStep),
    Closing,
    Closed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AuthStep {
    PlainResponse,
    LoginUser,
    LoginPassword,
}

/// RFC 6531 §3.4 (with RFC 6533's code): a non-ASCII address in a
/// transaction that did not ask for SMTPUTF8.
const NON_ASCII: &str = "5.6.7 Non-ASCII address needs MAIL FROM with SMTPUTF8";

/// The SMTP server state machine. See the module docs.
#[derive(Debug)]
pub struct Server {
    config: ServerConfig,
    state: State,
    parser: CommandParser,
    out: Vec<u8>,
    actions: VecDeque<Action>,
    tls: bool,
    helo: Option<String>,
    auth_user: Option<String>,
    login_user: String,
    mail: Option<String>,
    /// The transaction's MAIL had SMTPUTF8 (RFC 6531 §3.4).
    smtputf8: bool,
    rcpts: Vec<String>,
    data: Option<DataDecoder>,
    /// BDAT: the message has started (MessageStart sent) and its size so far.
    bdat_size: u64,
    bdat_error: Option<DataError>,
    /// A `data` fault is injected: the first chunk is read and refused.
    bdat_refused: bool,
    /// The chunk being read was refused when its command came (no transaction).
    bdat_discard: bool,
    /// MessageStart was emitted and neither MessageEnd nor MessageAbort yet:
    /// `reset_transaction` (RSET, EHLO, STARTTLS, a refusal) and the end of
    /// the session abort it, so every started message ends exactly once.
    message_started: bool,
    commands: usize,
    /// A fault that closes the connection once the pending output is written.
    drop_after_write: bool,
}

impl Server {
    /// A server session for a new connection; the greeting is queued.
    pub fn new(config: ServerConfig) -> Server {
        let tls = config.implicit_tls;
        let mut s = Server {
            config,
            state: State::Command,
            parser: CommandParser::new(),
            out: Vec::new(),
            actions: VecDeque::new(),
            tls,
            helo: None,
            auth_user: None,
            login_user: String::new(),
            mail: None,
            smtputf8: false,
            rcpts: Vec::new(),
            data: None,
            bdat_size: 0,
            bdat_error: None,
            bdat_refused: false,
            bdat_discard: false,
            message_started: false,
            commands: 0,
            drop_after_write: false,
        };
        let greeting = format!("{} ESMTP missive", s.config.hostname);
        s.reply_at(FaultStage::Greeting, 220, &greeting);
        s
    }

    /// What to do next.
    pub fn poll(&mut self) -> Action {
        if let Some(a) = self.actions.pop_front() {
            return a;
        }
        if !self.out.is_empty() {
            return Action::Write(std::mem::take(&mut self.out));
        }
        let closing = matches!(self.state, State::Closing | State::Closed);
        if self.drop_after_write || closing {
            // A BDAT message still open (QUIT or a 421 between chunks) is
            // abandoned: say so before closing, so nothing half-received stays.
            if std::mem::take(&mut self.message_started) {
                return Action::MessageAbort;
            }
            self.state = State::Closed;
            return Action::Close;
        }
        match self.state {
            State::Data | State::Bdat { .. } => Action::Read {
                timeout: self.config.command_timeout * 2,
            },
            _ => Action::Read {
                timeout: self.config.command_timeout,
            },
        }
    }

    /// Bytes from the client. Ignored once the session is closing: nothing
    /// after QUIT, a 421 or a broken DATA body is read.
    pub fn receive(&mut self, bytes: &[u8]) {
        if matches!(self.state, State::Closing | State::Closed) {
            return;
        }
        self.parser.feed(bytes);
        self.process();
    }

    /// End of stream from the client.
    pub fn connection_closed(&mut self) {
        self.reset_transaction();
        self.state = State::Closed;
    }

    /// The handshake after `Action::StartTls` succeeded.
    pub fn tls_established(&mut self) {
        // RFC 3207 §4.2: the session starts over; nothing sent before counts.
        self.tls = true;
        self.helo = None;
        self.reset_transaction();
        self.parser = CommandParser::new();
        self.state = State::Command;
    }

    /// The caller's verdict on `Action::Authenticate`.
    pub fn auth_result(&mut self, user: &str, ok: bool) {
        if ok {
            self.auth_user = Some(user.to_string());
            self.reply(235, "2.7.0 Authentication successful");
        } else {
            self.reply(535, "5.7.8 Authentication credentials invalid");
        }
        self.state = State::Command;
        self.process();
    }

    /// The caller stored the message after `Action::MessageEnd` (durably), or could not.
    pub fn message_stored(&mut self, result: Result<String, String>) {
        self.state = State::Command;
        match result {
            Ok(id) => {
                let text = format!("2.0.0 Ok: queued as {id}");
                self.reply_at(FaultStage::EndOfData, 250, &text);
            }
            Err(why) => self.reply(451, &format!("4.3.0 cannot store the message: {why}")),
        }
        self.reset_transaction();
        self.process();
    }

    // ---- internals ---------------------------------------------------------

    /// Queues the pending replies as a write, ahead of an action that must
    /// follow them (never an empty write).
    fn flush(&mut self) {
        if !self.out.is_empty() {
            self.actions
                .push_back(Action::Write(std::mem::take(&mut self.out)));
        }
    }

    fn reply(&mut self, code: u16, text: &str) {
        self.out
            .extend_from_slice(format!("{code} {text}\r\n").as_bytes());
    }

    /// Replies, unless a fault is configured for this stage.
    /// Returns true when the normal reply went out (no failure injected).
    fn reply_at(&mut self, stage: FaultStage, code: u16, text: &str) -> bool {
        let delay = self.config.faults.delay.iter().find(|(s, _)| *s == stage);
        if let Some(&(_, d)) = delay {
            self.flush();
            self.actions.push_back(Action::Delay(d));
        }
        let f = &self.config.faults;
        if f.drop_at.contains(&stage) {
            self.drop_after_write = true;
            self.state = State::Closing;
            return false;
        }
        if let Some(&(_, fail)) = f.fail_at.iter().find(|(s, _)| *s == stage) {
            let class = fail / 100;
            self.reply(
                fail,
                &format!("{class}.0.0 missive: injected failure at {stage:?}"),
            );
            if stage == FaultStage::Greeting || fail == 421 {
                self.state = State::Closing;
            }
            if stage == FaultStage::EndOfData {
                self.reset_transaction();
            }
            return false;
        }
        self.reply(code, text);
        true
    }

    /// A failure or drop is injected at this stage.
    fn refuses_at(&self, stage: FaultStage) -> bool {
        let f = &self.config.faults;
        f.drop_at.contains(&stage) || f.fail_at.iter().any(|(s, _)| *s == stage)
    }

    /// The body is complete: store it, or, when the end of data is set to
    /// fail, drop it (the client is told it failed, so it must not be kept).
    fn end_of_message(&mut self, size: u64) {
        if self.refuses_at(FaultStage::EndOfData) {
            self.state = State::Command;
            self.reset_transaction(); // aborts the message
            self.reply_at(FaultStage::EndOfData, 250, "");
        } else {
            self.message_started = false;
            self.actions.push_back(Action::MessageEnd { size });
            self.state = State::Storing;
        }
    }

    /// Forgets the transaction; a message started and not yet ended is aborted.
    fn reset_transaction(&mut self) {
        if std::mem::take(&mut self.message_started) {
            self.actions.push_back(Action::MessageAbort);
        }
        self.mail = None;
        self.rcpts.clear();
        self.data = None;
        self.bdat_size = 0;
        self.bdat_error = None;
        self.bdat_refused = false;
    }

    fn envelope(&self) -> ReceivedEnvelope {
        ReceivedEnvelope {
            helo: self.helo.clone().unwrap_or_default(),
            from: self.mail.clone().unwrap_or_default(),
            to: self.rcpts.clone(),
            auth_user: self.auth_user.clone(),
            tls: self.tls,
        }
    }

    /// Handles whatever complete input there is, as long as the state allows.
    fn process(&mut self) {
        loop {
            match self.state {
                State::Data => {
                    if !self.process_data() {
                        return;
                    }
                }
                State::Bdat { .. } => {
                    if !self.process_bdat() {
                        return;
                    }
                }
                State::Command | State::AuthStep(_) => {
                    let Some(line) = self.parser.next_line() else {
                        return;
                    };
                    self.commands += 1;
                    if self.commands > self.config.max_commands {
                        self.reply(421, "4.7.0 too many commands; closing");
                        self.state = State::Closing;
                        return;
                    }
                    match line {
                        CommandLine::TooLong => self.reply(500, "5.5.6 line too long"),
                        CommandLine::BareLf => self.reply(500, "5.5.2 bare <LF> received"),
                        CommandLine::Line(l) => match self.state {
                            State::AuthStep(step) => self.auth_step(step, &l),
                            _ => self.command(&l),
                        },
                    }
                }
                _ => return,
            }
        }
    }

    fn process_data(&mut self) -> bool {
        let input = self.parser.take_buffered();
        if input.is_empty() {
            return false;
        }
        let Some(dec) = self.data.as_mut() else {
            return false;
        };
        let used = dec.feed(&input);
        let chunk = dec.take_decoded();
        let done = dec.is_done();
        if let Some(e @ (DataError::BareLf | DataError::BareCr)) = dec.error() {
            // The client's line ends are not ours: where it thinks the data
            // ends is unknown, and what follows may be a smuggled command
            // (RFC 5321 §4.1.1.4). Answer, close, and read nothing more.
            self.data = None;
            self.refuse_data(e);
            self.parser = CommandParser::new();
            self.state = State::Closing;
            return false;
        }
        if !chunk.is_empty() && dec.error().is_none() {
            self.actions.push_back(Action::MessageData(chunk));
        }
        self.parser.feed(&input[used..]);
        if !done {
            return false;
        }
        let dec = self.data.take().expect("decoder present");
        let size = dec.size() as u64;
        match dec.into_result() {
            Ok(_) => {
                self.end_of_message(size);
                self.state == State::Command
            }
            Err(e) => {
                self.refuse_data(e);
                self.state = State::Command;
                true
            }
        }
    }

    fn refuse_data(&mut self, e: DataError) {
        match e {
            DataError::BareLf => self.reply(550, "5.5.2 Error: bare <LF> received"),
            DataError::BareCr => self.reply(550, "5.5.2 Error: bare <CR> received"),
            DataError::TooBig => self.reply(552, "5.3.4 Message size exceeds fixed limit"),
        }
        self.reset_transaction();
    }

    fn process_bdat(&mut self) -> bool {
        let State::Bdat { remaining, last } = self.state else {
            return false;
        };
        let mut input = self.parser.take_buffered();
        if input.is_empty() && remaining > 0 {
            return false;
        }
        let take = (remaining as usize).min(input.len());
        let rest = input.split_off(take);
        self.parser.feed(&rest);
        if !self.bdat_discard {
            self.bdat_size += take as u64;
        }
        if self.bdat_size > self.config.max_size {
            self.bdat_error = Some(DataError::TooBig);
        }
        if self.bdat_error.is_none()
            && !self.bdat_refused
            && !self.bdat_discard
            && !input.is_empty()
        {
            self.actions.push_back(Action::MessageData(input));
        }
        let remaining = remaining - take as u64;
        if remaining > 0 {
            self.state = State::Bdat { remaining, last };
            return false;
        }
        self.state = State::Command;
        if std::mem::take(&mut self.bdat_discard) {
            return true; // refused when the command came: no second reply
        }
        if std::mem::take(&mut self.bdat_refused) {
            self.reply_at(FaultStage::Data, 250, "");
            self.reset_transaction();
            return self.state == State::Command;
        }
        if let Some(e) = self.bdat_error {
            if last {
                self.refuse_data(e);
            } else {
                self.reply(552, "5.3.4 Message size exceeds fixed limit");
            }
            return true;
        }
        if last {
            self.end_of_message(self.bdat_size);
            return self.state == State::Command;
        }
        let text = format!("2.0.0 {} octets received", self.bdat_size);
        self.reply(250, &text);
        true
    }
}

/// `*` matches any run of characters; case-insensitive.
pub fn glob(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.to_ascii_lowercase(), text.to_ascii_lowercase());
    let parts: Vec<&str> = p.split('*').collect();
    if parts.len() == 1 {
        return p == t;
    }
    let mut rest = t.as_str();
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            let Some(r) = rest.strip_prefix(part) else {
                return false;
            };
            rest = r;
        } else if i + 1 == parts.len() {
            return rest.ends_with(part);
        } else {
            match rest.find(part) {
                Some(j) => rest = &rest[j + part.len()..],
                None => return false,
            }
        }
    }
    true
}
