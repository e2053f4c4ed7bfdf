//! What each client command does (RFC 5321 §4.1, RFC 4954 for AUTH):
//! checked against the session's state, answered, and the state moved on.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;

use super::{glob, Action, AuthStep, FaultStage, Server, State, NON_ASCII};
use crate::auth::Secret;
use crate::command::Command;
use crate::data::DataDecoder;
use crate::envelope::validate_received_path;

impl Server {
    pub(super) fn auth_offered(&self) -> bool {
        self.tls || self.config.auth_without_tls
    }

    pub(super) fn command(&mut self, line: &[u8]) {
        let cmd = match Command::parse(line) {
            Ok(c) => c,
            Err(e) => {
                self.reply(501, &format!("5.5.4 {e}"));
                return;
            }
        };
        match cmd {
            Command::Ehlo(name) | Command::Helo(name) if name.chars().any(char::is_control) => {
                self.reply(501, "5.5.4 Invalid HELO/EHLO name");
            }
            Command::Ehlo(name) => {
                self.helo = Some(name);
                self.reset_transaction();
                let mut lines = vec![
                    self.config.hostname.clone(),
                    "PIPELINING".into(),
                    format!("SIZE {}", self.config.max_size),
                    "8BITMIME".into(),
                    "SMTPUTF8".into(),
                    "CHUNKING".into(),
                    "ENHANCEDSTATUSCODES".into(),
                ];
                if self.config.starttls && !self.tls {
                    lines.push("STARTTLS".into());
                }
                if self.auth_offered() {
                    lines.push("AUTH PLAIN LOGIN".into());
                }
                let f = &self.config.faults;
                if f.fail_at.iter().any(|(s, _)| *s == FaultStage::Ehlo)
                    || f.drop_at.contains(&FaultStage::Ehlo)
                    || f.delay.iter().any(|(s, _)| *s == FaultStage::Ehlo)
                {
                    self.reply_at(FaultStage::Ehlo, 250, &lines[0].clone());
                    return;
                }
                let n = lines.len();
                for (i, l) in lines.iter().enumerate() {
                    let sep = if i + 1 == n { ' ' } else { '-' };
                    self.out
                        .extend_from_slice(format!("250{sep}{l}\r\n").as_bytes());
                }
            }
            Command::Helo(name) => {
                self.helo = Some(name);
                self.reset_transaction();
                let host = self.config.hostname.clone();
                self.reply_at(FaultStage::Ehlo, 250, &host);
            }
            Command::StartTls => {
                if !self.config.starttls || self.tls {
                    return self.reply(502, "5.5.1 STARTTLS not available");
                }
                self.reply(220, "2.0.0 Ready to start TLS");
                // Anything pipelined after STARTTLS was sent in plaintext:
                // drop it (CVE-2011-0411).
                self.parser.take_buffered();
                self.flush();
                self.actions.push_back(Action::StartTls);
                self.state = State::Handshake;
            }
            Command::Auth { mechanism, initial } => self.auth(&mechanism, initial),
            Command::Mail { from, params } => {
                if self.helo.is_none() {
                    return self.reply(503, "5.5.1 Error: send HELO/EHLO first");
                }
                if self.mail.is_some() {
                    return self.reply(503, "5.5.1 Error: nested MAIL command");
                }
                if self.config.auth_required && self.auth_user.is_none() {
                    return self.reply(530, "5.7.0 Authentication required");
                }
                for p in &params {
                    let (k, v) = p.split_once('=').unwrap_or((p, ""));
                    match k.to_ascii_uppercase().as_str() {
                        "SIZE" => {
                            if v.parse::<u64>().is_ok_and(|n| n > self.config.max_size) {
                                return self.reply(552, "5.3.4 Message size exceeds fixed limit");
                            }
                        }
                        "BODY" | "SMTPUTF8" | "AUTH" => {}
                        _ => return self.reply(555, "5.5.4 Unsupported option"),
                    }
                }
                let smtputf8 = params.iter().any(|p| p.eq_ignore_ascii_case("SMTPUTF8"));
                let from = match from.as_str() {
                    "" => from,
                    path => match validate_received_path(path) {
                        Ok(mailbox) => mailbox.to_string(),
                        Err(_) => return self.reply(553, "5.1.7 Bad sender address syntax"),
                    },
                };
                if !smtputf8 && !from.is_ascii() {
                    return self.reply(553, NON_ASCII);
                }
                if self.reply_at(FaultStage::Mail, 250, "2.1.0 Ok") {
                    self.smtputf8 = smtputf8;
                    self.mail = Some(from);
                }
            }
            Command::Rcpt { to, .. } => {
                if self.mail.is_none() {
                    return self.reply(503, "5.5.1 Error: need MAIL command");
                }
                if self.rcpts.len() >= self.config.max_recipients {
                    return self.reply(452, "4.5.3 Error: too many recipients");
                }
                // RFC 5321 §4.1.1.3: <Postmaster> without a domain is always accepted.
                let to = match validate_received_path(&to) {
                    _ if to.eq_ignore_ascii_case("postmaster") => to,
                    Ok(mailbox) => mailbox.to_string(),
                    Err(_) => return self.reply(501, "5.1.3 Bad recipient address syntax"),
                };
                if !self.smtputf8 && !to.is_ascii() {
                    return self.reply(553, NON_ASCII);
                }
                let rejected = self
                    .config
                    .faults
                    .reject_rcpt
                    .iter()
                    .find(|(p, _)| glob(p, &to))
                    .map(|(_, c)| *c);
                if let Some(code) = rejected {
                    let class = code / 100;
                    let text = format!("{class}.1.1 <{to}>: recipient rejected");
                    return self.reply(code, &text);
                }
                if self.reply_at(FaultStage::Rcpt, 250, "2.1.5 Ok") {
                    self.rcpts.push(to);
                }
            }
            Command::Data => {
                if self.mail.is_none() || self.rcpts.is_empty() {
                    return self.reply(554, "5.5.1 Error: no valid recipients");
                }
                if self.message_started || self.bdat_error.is_some() {
                    // RFC 3030 §3: DATA after BDAT in one transaction is 503.
                    return self.reply(503, "5.5.1 Error: DATA after BDAT");
                }
                // (A delay fault flushes `out` first: ask reply_at, not `out`.)
                if self.reply_at(FaultStage::Data, 354, "End data with <CR><LF>.<CR><LF>") {
                    self.flush();
                    self.actions
                        .push_back(Action::MessageStart(self.envelope()));
                    self.message_started = true;
                    self.data = Some(DataDecoder::new(self.config.max_size as usize));
                    self.state = State::Data;
                }
            }
            Command::Bdat { size, last } => {
                if self.mail.is_none() || self.rcpts.is_empty() {
                    // The chunk must still be read, to stay in step; this is
                    // its only reply.
                    self.reply(554, "5.5.1 Error: no valid recipients");
                    self.bdat_discard = true;
                    self.state = State::Bdat {
                        remaining: size,
                        last: false,
                    };
                    return;
                }
                let first =
                    !self.message_started && self.bdat_error.is_none() && !self.bdat_refused;
                if first && self.refuses_at(FaultStage::Data) {
                    // The first BDAT stands where DATA would: its faults apply
                    // once the chunk is read (to stay in step).
                    self.bdat_refused = true;
                } else if first {
                    self.actions
                        .push_back(Action::MessageStart(self.envelope()));
                    self.message_started = true;
                }
                self.state = State::Bdat {
                    remaining: size,
                    last,
                };
            }
            Command::Rset => {
                self.reset_transaction();
                self.reply(250, "2.0.0 Ok");
            }
            Command::Noop => self.reply(250, "2.0.0 Ok"),
            Command::Vrfy(_) => self.reply(252, "2.0.0 Cannot VRFY user"),
            Command::Quit => {
                self.reply(221, "2.0.0 Bye");
                self.state = State::Closing;
            }
            Command::Unknown(_) => self.reply(502, "5.5.2 Error: command not recognized"),
        }
    }

    fn auth(&mut self, mechanism: &str, initial: Option<String>) {
        if !self.auth_offered() {
            return self.reply(503, "5.5.1 Error: authentication not enabled");
        }
        if self.auth_user.is_some() {
            return self.reply(503, "5.5.1 Error: already authenticated");
        }
        match (mechanism, initial) {
            ("PLAIN", Some(r)) => self.auth_step(AuthStep::PlainResponse, r.as_bytes()),
            ("PLAIN", None) => {
                self.reply(334, "");
                self.state = State::AuthStep(AuthStep::PlainResponse);
            }
            ("LOGIN", Some(r)) => self.auth_step(AuthStep::LoginUser, r.as_bytes()),
            ("LOGIN", None) => {
                self.reply(334, "VXNlcm5hbWU6");
                self.state = State::AuthStep(AuthStep::LoginUser);
            }
            _ => self.reply(504, "5.5.4 Unrecognized authentication type"),
        }
    }

    pub(super) fn auth_step(&mut self, step: AuthStep, line: &[u8]) {
        self.state = State::Command;
        if line == b"*" {
            return self.reply(501, "5.7.0 Authentication aborted");
        }
        let Some(decoded) = B64
            .decode(line)
            .ok()
            .and_then(|d| String::from_utf8(d).ok())
        else {
            return self.reply(501, "5.5.2 Cannot decode response");
        };
        match step {
            AuthStep::PlainResponse => {
                let mut parts = decoded.splitn(3, '\0');
                let (_authz, user, pass) = (parts.next(), parts.next(), parts.next());
                match (user, pass) {
                    (Some(u), Some(p)) => self.check_auth(u.to_string(), p.to_string()),
                    _ => self.reply(501, "5.5.2 Invalid PLAIN response"),
                }
            }
            AuthStep::LoginUser => {
                self.login_user = decoded;
                self.reply(334, "UGFzc3dvcmQ6");
                self.state = State::AuthStep(AuthStep::LoginPassword);
            }
            AuthStep::LoginPassword => {
                let user = std::mem::take(&mut self.login_user);
                self.check_auth(user, decoded);
            }
        }
    }

    fn check_auth(&mut self, user: String, password: String) {
        self.flush();
        self.actions.push_back(Action::Authenticate {
            user,
            password: Secret::new(password),
        });
        self.state = State::CheckingAuth;
    }
}
