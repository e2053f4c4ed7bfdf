//! `--quit-after STAGE`: a session to the relay that stops cleanly after a
//! stage (QUIT; RSET first inside a transaction) and says how far it got.
//! The fastest answer to "does my login work?" without sending anything.

use std::time::Instant;

use missive_smtp::{Envelope, Reply};

use super::{relay, Mailer, Route};
use crate::error::{AppError, Result};
use crate::transport::session::QuitAfter;
use crate::transport::tls::TlsInfo;

/// What a session stopped by `--quit-after` saw.
#[derive(Debug, Clone)]
pub struct Diagnosis {
    /// The stage it was asked to stop after.
    pub quit_after: QuitAfter,
    /// The relay, `host:port`, and the address connected to.
    pub server: String,
    pub peer: Option<String>,
    pub greeting: Option<Reply>,
    /// EHLO keywords (after TLS, when TLS was used).
    pub ehlo: Vec<String>,
    pub tls: Option<TlsInfo>,
    pub authenticated: bool,
    /// `mail` and `rcpt`: the reply to MAIL FROM.
    pub mail: Option<Reply>,
    /// `rcpt`: each recipient and its reply to RCPT TO (`None`: none came).
    pub recipients: Vec<(String, Option<Reply>)>,
    /// QUIT went out as asked (false: the session ended otherwise).
    pub stopped: bool,
}

impl Mailer {
    /// Runs a session to the relay up to `quit_after` and QUITs there;
    /// `envelope` is for `mail` and `rcpt` (no message is sent). `Err`: a stage before it failed (connection, TLS,
    /// login), as in a send.
    pub async fn quit_after(
        &self,
        envelope: Option<&Envelope>,
        quit_after: QuitAfter,
    ) -> Result<Diagnosis> {
        let engine = self.engine();
        if !matches!(engine.options.route, Route::Relay(_)) {
            return Err(AppError::Usage(
                "--quit-after needs a server (--server, --account or --preset)".into(),
            ));
        }
        // The same deadline as a message of no size: a server that answers
        // each reply just in time cannot hold the diagnosis for an hour.
        let allowed = engine.options.deadline_for(0);
        let end = Instant::now() + allowed;
        let late = |e: AppError| {
            match relay::ran_out(&e, end) {
            None => e,
            Some(during) => AppError::Network(format!(
                "the deadline ({} s) ran out {during}, before --quit-after {} was reached: the server answers too slowly; allow more time with --deadline SECS",
                allowed.as_secs(),
                quit_after.name()
            )),
        }
        };
        let mut session = relay::open(engine, self.transcript(), Some(quit_after), Some(end))
            .await
            .map_err(late)?;
        let client = session.client();
        let caps = client.capabilities();
        let mut d = Diagnosis {
            quit_after,
            server: session.server().display(),
            peer: session.peer.map(|p| p.to_string()),
            greeting: client.greeting().cloned(),
            ehlo: match quit_after {
                QuitAfter::Connect | QuitAfter::Greeting => Vec::new(),
                _ => caps.keywords(),
            },
            tls: session.tls.clone(),
            authenticated: client.is_authenticated(),
            mail: None,
            recipients: Vec::new(),
            stopped: session.stopped(),
        };
        if quit_after >= QuitAfter::Mail {
            let envelope = envelope.ok_or_else(|| {
                AppError::Usage(
                    "--quit-after mail and rcpt need the envelope (--from, --to)".into(),
                )
            })?;
            let tx = session
                .try_envelope(envelope.clone(), quit_after == QuitAfter::Rcpt)
                .await
                .map_err(late)?;
            d.mail = tx.mail.clone();
            if quit_after == QuitAfter::Rcpt {
                d.recipients = tx
                    .envelope
                    .to
                    .iter()
                    .cloned()
                    .zip(tx.rcpt.clone())
                    .collect();
            }
            d.stopped = session.stopped();
        }
        Ok(d)
    }
}
