//! `--quit-after`: a session that stops cleanly after a stage (QUIT; RSET
//! first after MAIL/RCPT), for diagnosis without sending anything.

use std::time::Duration;

use missive_smtp::client::{Next, Stage};
use missive_smtp::{Envelope, TransactionOutcome};

use super::Session;
use crate::error::{AppError, Result};

/// Where `--quit-after` stops a session: after that stage it QUITs (after
/// `Connect`, it just closes), and nothing of a message is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum QuitAfter {
    /// The TCP connection (and implicit TLS) is up; no SMTP is read.
    Connect,
    /// The server's greeting.
    Greeting,
    /// The first EHLO (or HELO) reply.
    Ehlo,
    /// STARTTLS, the handshake and the EHLO after it (or implicit TLS and its EHLO).
    Tls,
    /// AUTH (when a login is configured).
    Auth,
    /// MAIL FROM, then RSET.
    Mail,
    /// MAIL FROM and every RCPT TO, then RSET.
    Rcpt,
}

impl QuitAfter {
    pub fn name(self) -> &'static str {
        match self {
            QuitAfter::Connect => "connect",
            QuitAfter::Greeting => "greeting",
            QuitAfter::Ehlo => "ehlo",
            QuitAfter::Tls => "tls",
            QuitAfter::Auth => "auth",
            QuitAfter::Mail => "mail",
            QuitAfter::Rcpt => "rcpt",
        }
    }
}

/// How far a session stopped by `--quit-after` got.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Progress {
    /// Stopped as asked: QUIT went out (or, after connect, nothing did).
    pub(super) stopped: bool,
    /// An EHLO/HELO reply came, and one came over TLS.
    pub(super) ehlo: bool,
    pub(super) ehlo_secure: bool,
}

impl Session {
    /// `--quit-after` stopped it: QUIT was answered (or, after connect, the
    /// connection just closed).
    pub fn stopped(&self) -> bool {
        self.progress.stopped
    }

    /// `--quit-after mail|rcpt`: MAIL (and every RCPT) for `envelope`, then
    /// RSET and QUIT; no DATA, nothing of a message.
    pub async fn try_envelope(
        &mut self,
        envelope: Envelope,
        rcpts: bool,
    ) -> Result<TransactionOutcome> {
        self.client.send_envelope(envelope, rcpts)?;
        self.flush_events();
        let next = self.drive().await;
        let outcome = self.client.take_outcome();
        match (next, outcome) {
            (Ok(Next::Ready), Some(tx)) => {
                self.stop_now().await;
                Ok(tx)
            }
            (_, Some(tx)) => Ok(tx),
            (Err(e), None) => Err(e),
            (Ok(other), None) => Err(AppError::Smtp(missive_smtp::Error::Protocol(format!(
                "unexpected state {other:?} after the envelope"
            )))),
        }
    }

    /// QUIT now and wait for its answer (briefly), keeping the session.
    pub(super) async fn stop_now(&mut self) {
        if self.client.quit_early() {
            self.progress.stopped = true;
            let wait = self
                .limit(Stage::Quit.timeout())
                .min(Duration::from_secs(5));
            let _ = tokio::time::timeout(wait, self.drive()).await;
            self.flush_events();
        }
    }

    /// Whether `--quit-after` asks to stop now (between replies).
    pub(super) fn stage_reached(&self) -> bool {
        let Some(q) = self.quit_after else {
            return false;
        };
        match q {
            QuitAfter::Connect => true,
            QuitAfter::Greeting => self.client.greeting().is_some(),
            QuitAfter::Ehlo => self.progress.ehlo,
            QuitAfter::Tls => self.progress.ehlo_secure,
            QuitAfter::Auth => self.client.is_authenticated(),
            QuitAfter::Mail | QuitAfter::Rcpt => false,
        }
    }
}
