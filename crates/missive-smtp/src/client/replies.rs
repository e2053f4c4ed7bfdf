//! What each reply does to the client's state: the transitions of the
//! conversation drawn in the module's docs, one reply at a time, in the
//! order the commands went out (RFC 2920 §3.1: replies match commands in
//! order).

use super::{Client, Event, Expect, Phase, TlsMode, PIPELINE_GROUP};
use crate::auth::{self, SaslClient};
use crate::capabilities::Capabilities;
use crate::command::Command;
use crate::reply::{Reply, ReplyCode};
use crate::transaction::{Stage, TransactionOutcome};
use crate::Error;

impl Client {
    pub(super) fn handle(&mut self, reply: Reply) -> Result<(), Error> {
        let Some(expect) = self.expect.pop_front() else {
            if reply.code == ReplyCode::SERVICE_UNAVAILABLE {
                // RFC 5321 §3.8: a server may close at any time. Right after
                // a transaction (in the same read as its last reply) that ends
                // the session, not the transaction: its outcome stands.
                if self.phase == Phase::Ready && !self.done.is_empty() {
                    self.phase = Phase::Closed;
                    return Ok(());
                }
                return Err(Error::ServiceClosing(reply));
            }
            return Err(Error::Protocol(format!("unexpected reply: {reply}")));
        };
        if reply.code == ReplyCode::SERVICE_UNAVAILABLE && expect != Expect::Quit {
            return Err(Error::ServiceClosing(reply));
        }
        // 3yz asks for more: right for DATA (354) and AUTH (334) only.
        let wants_more = matches!(expect, Expect::Data | Expect::Auth);
        if reply.code.is_intermediate() && !wants_more && expect != Expect::Quit {
            return Err(Error::Protocol(format!(
                "the server answered {} with {reply}, which asks for more",
                expect.stage()
            )));
        }
        match expect {
            Expect::Greeting => {
                if reply.code != ReplyCode::SERVICE_READY {
                    return Err(Error::Rejected {
                        stage: Stage::Greeting,
                        reply,
                    });
                }
                self.greeting = Some(reply);
                self.send_ehlo();
            }
            Expect::Ehlo => match reply.code.value() {
                250 => {
                    self.caps = Capabilities::from_ehlo(&reply);
                    self.after_hello()?;
                }
                // RFC 5321 §3.2: a server that does not know EHLO.
                500 | 502 => {
                    let helo = Command::Helo(self.config.ehlo_name.clone());
                    self.send(&helo, Expect::Helo);
                }
                _ => {
                    return Err(Error::Rejected {
                        stage: Stage::Ehlo,
                        reply,
                    })
                }
            },
            Expect::Helo => {
                if reply.code != ReplyCode::OK {
                    return Err(Error::Rejected {
                        stage: Stage::Ehlo,
                        reply,
                    });
                }
                self.helo_only = true;
                self.caps = Capabilities {
                    domain: reply.lines.first().cloned().unwrap_or_default(),
                    ..Capabilities::default()
                };
                self.after_hello()?;
            }
            Expect::StartTls => {
                if reply.code == ReplyCode::SERVICE_READY {
                    // Anything already buffered was sent before the handshake:
                    // it must not be read as if it came over TLS.
                    if self.parser.has_buffered() {
                        return Err(Error::DataBeforeTls);
                    }
                    self.phase = Phase::Handshake;
                } else if self.config.tls == TlsMode::StartTls {
                    return Err(Error::StartTlsRefused(reply));
                } else {
                    self.after_tls_decision()?;
                }
            }
            Expect::Auth => self.on_auth_reply(reply)?,
            Expect::Mail => {
                let ok = reply.code.is_positive();
                self.txn_mut()?.mail = Some(reply);
                if ok || self.caps.pipelining {
                    self.pump_rcpts();
                } else {
                    self.finish_transaction(false);
                }
            }
            Expect::Rcpt(i) => {
                self.txn_mut()?.rcpt[i] = Some(reply);
                self.pump_rcpts();
            }
            Expect::Data => {
                let go = reply.code == ReplyCode::START_DATA;
                let mail_ok = self.mail_accepted();
                self.txn_mut()?.data = Some(reply);
                if go && mail_ok && self.any_accepted() {
                    self.phase = Phase::Body;
                } else if go {
                    // RFC 2920 §3.1: a pipelined DATA got 354 though no
                    // recipient was accepted; end it with an empty body.
                    self.events.push_back(Event::Sent(".".into()));
                    self.out.extend_from_slice(b".\r\n");
                    self.expect.push_back(Expect::DataEnd);
                    self.unsent += 1;
                } else {
                    self.finish_transaction(mail_ok);
                }
            }
            Expect::DataEnd | Expect::Bdat { last: true } if self.finishing.is_some() => {
                // The final reply of the message before the one under way.
                if let Some(mut t) = self.finishing.take() {
                    let accepted = t.rcpt.iter().flatten().any(|r| r.code.is_positive());
                    let mail_ok = t.mail.as_ref().is_some_and(|m| m.code.is_positive());
                    if accepted && mail_ok {
                        t.final_reply = Some(reply);
                    }
                    self.done.push_back(t);
                }
            }
            Expect::DataEnd => {
                if self.any_accepted() && self.mail_accepted() {
                    self.txn_mut()?.final_reply = Some(reply);
                }
                self.finish_transaction(false);
            }
            Expect::Bdat { last } => {
                let ok = reply.code.is_positive();
                if ok && !last {
                    self.phase = Phase::Body;
                } else {
                    self.txn_mut()?.final_reply = Some(reply);
                    // A refused chunk ends the transaction; RSET tidies the server.
                    self.finish_transaction(!last);
                }
            }
            Expect::Rset => {
                if self.expect.is_empty() {
                    self.phase = Phase::Ready;
                }
            }
            Expect::Quit => {
                self.phase = Phase::Closed;
            }
        }
        Ok(())
    }

    fn txn_mut(&mut self) -> Result<&mut TransactionOutcome, Error> {
        self.txn.as_mut().ok_or(Error::Protocol(
            "transaction reply with no transaction".into(),
        ))
    }

    fn any_accepted(&self) -> bool {
        self.txn.as_ref().is_some_and(|t| {
            t.rcpt
                .iter()
                .any(|r| r.as_ref().is_some_and(|r| r.code.is_positive()))
        })
    }

    fn mail_accepted(&self) -> bool {
        self.txn
            .as_ref()
            .and_then(|t| t.mail.as_ref())
            .is_some_and(|m| m.code.is_positive())
    }

    fn outstanding_rcpts(&self) -> bool {
        self.expect.iter().any(|e| matches!(e, Expect::Rcpt(_)))
    }

    /// Sends the next RCPT commands, then DATA. Without PIPELINING one at a
    /// time; with it, groups of [`PIPELINE_GROUP`] so unread replies cannot
    /// fill the TCP window (RFC 2920 §3.1), DATA closing the last group.
    pub(super) fn pump_rcpts(&mut self) {
        if self.outstanding_rcpts() {
            return;
        }
        let Some(txn) = self.txn.as_ref() else { return };
        let n = txn.rcpt.len();
        let pipelining = self.caps.pipelining;
        if pipelining && txn.mail.as_ref().is_some_and(|m| !m.code.is_positive()) {
            // MAIL failed: send no more; replies still due finish the transaction.
            self.next_rcpt = n;
        }
        if self.next_rcpt < n {
            let group = if pipelining { PIPELINE_GROUP } else { 1 };
            let end = (self.next_rcpt + group).min(n);
            for i in self.next_rcpt..end {
                self.send_rcpt(i);
            }
            self.next_rcpt = end;
            if end < n || !pipelining || self.bdat || self.envelope_only {
                return;
            }
            self.send(&Command::Data, Expect::Data);
        } else if self.expect.contains(&Expect::Data) {
            // pipelined: DATA's reply finishes the transaction
        } else if pipelining && !self.mail_accepted() {
            self.finish_transaction(false);
        } else if self.envelope_only {
            // No body: RSET ends the transaction the server has open.
            self.finish_transaction(self.mail_accepted());
        } else if self.any_accepted() && self.bdat {
            self.phase = Phase::Body;
        } else if self.any_accepted() {
            self.send(&Command::Data, Expect::Data);
        } else {
            self.finish_transaction(true);
        }
    }

    /// Records the outcome. With `reset`, tidies the server's transaction
    /// state with RSET before becoming ready again.
    fn finish_transaction(&mut self, reset: bool) {
        self.done.extend(self.txn.take());
        if reset {
            self.send(&Command::Rset, Expect::Rset);
        } else if self.expect.is_empty() {
            self.phase = Phase::Ready;
        }
    }

    /// After EHLO/HELO: STARTTLS if wanted and possible, then AUTH.
    fn after_hello(&mut self) -> Result<(), Error> {
        if !self.secure {
            match self.config.tls {
                TlsMode::StartTls if !self.caps.starttls => return Err(Error::TlsUnavailable),
                TlsMode::StartTls | TlsMode::Opportunistic if self.caps.starttls => {
                    self.send(&Command::StartTls, Expect::StartTls);
                    return Ok(());
                }
                _ => {}
            }
        }
        self.after_tls_decision()
    }

    fn after_tls_decision(&mut self) -> Result<(), Error> {
        let Some(creds) = self.config.credentials.clone() else {
            self.phase = Phase::Ready;
            return Ok(());
        };
        if !self.config.allow_plaintext_auth {
            if !self.secure {
                return Err(Error::PlaintextAuth);
            }
            if !self.verified {
                return Err(Error::UnverifiedTlsAuth);
            }
        }
        let offered = &self.caps.auth;
        let mechanism = match &self.config.mechanism {
            Some(m) if offered.contains(m) && creds.fits(m) => m.clone(),
            Some(m) => {
                return Err(Error::AuthUnavailable {
                    offered: offered.clone(),
                    wanted: Some(m.clone()),
                })
            }
            None => auth::choose(offered, &creds).ok_or_else(|| Error::AuthUnavailable {
                offered: offered.clone(),
                wanted: None,
            })?,
        };
        let mut sasl = SaslClient::new(
            mechanism.clone(),
            creds,
            &self.config.server_host,
            self.config.server_port,
        );
        let initial = sasl.initial_response();
        self.sasl = Some(sasl);
        self.send(
            &Command::Auth {
                mechanism: mechanism.name().to_string(),
                initial,
            },
            Expect::Auth,
        );
        Ok(())
    }

    fn on_auth_reply(&mut self, reply: Reply) -> Result<(), Error> {
        let sasl = self
            .sasl
            .as_mut()
            .ok_or(Error::Misuse("AUTH reply without SASL state"))?;
        if reply.code == ReplyCode::AUTH_CONTINUE {
            let answer = sasl.respond(&reply.lines.join(""))?;
            self.events.push_back(Event::Sent("<redacted>".into()));
            self.out.extend_from_slice(answer.as_bytes());
            self.out.extend_from_slice(b"\r\n");
            self.expect.push_back(Expect::Auth);
            self.unsent += 1;
        } else if reply.code == ReplyCode::AUTH_OK {
            self.authenticated = true;
            self.sasl = None;
            self.phase = Phase::Ready;
        } else {
            let detail = sasl.error_challenge().map(str::to_string);
            self.sasl = None;
            return Err(Error::AuthFailed { reply, detail });
        }
        Ok(())
    }
}
