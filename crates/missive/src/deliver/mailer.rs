//! The [`Mailer`]: one delivery engine under every front end.
//!
//! Relay sessions are pooled: a send takes an idle session (the next MAIL
//! goes out on it, RFC 5321 §4.1.4) or opens one, up to
//! [`MailerOptions::connections`] at once; after the transaction the
//! session goes back to the pool unless it has carried
//! [`MailerOptions::max_messages_per_connection`] messages or the server
//! ended it (421). A pooled session that the server closed while it was
//! idle, or that answers 421, is replaced and the message sent on a fresh
//! one, as long as the end of the message had not gone out on the old one.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use missive_smtp::client::TlsMode;
use tokio::sync::Semaphore;

use super::engine::Engine;
use super::{direct, relay, MailerOptions, Outcome, Route};
use crate::error::{AppError, Result};
use crate::message::Mail;
use crate::transport::session::{OnCommit, Session};
use crate::transport::tls::{TlsContext, TlsOptions};
use crate::transport::transcript::Transcript;

/// Sends mail: built once from [`MailerOptions`], shared by any number of
/// tasks (it is a cheap handle: clone it), each [`send`](Mailer::send)
/// returning every recipient's result.
///
/// Methods, in the order a program uses them:
/// - [`Mailer::new`] checks the options, loads the trust anchors and
///   resolves the login's secret (runs a password command once);
/// - [`Mailer::send`] sends one message, reusing an idle session;
/// - [`Mailer::close`] QUITs the idle sessions.
///
/// ```no_run
/// # async fn f() -> missive::Result<()> {
/// use missive::{Login, Mail, Mailer, MailerOptions, MessageBuilder, Relay, Route, SecretSource};
///
/// let relay = Relay::new("smtp.example.com:587")?
///     .login(Login::password("me@example.com", SecretSource::Env("SMTP_PASSWORD".into())));
/// let mailer = Mailer::new(MailerOptions::new(Route::Relay(relay)))?;
/// for i in 1..=2 {
///     let built = MessageBuilder::new("me@example.com")?
///         .to("you@example.com")?
///         .subject(format!("message {i} of 2"))
///         .text("Both go over one connection.")
///         .build()?;
///     let mail = Mail::new(&built.from_address, &["you@example.com"], built.message)?;
///     let outcome = mailer.send(&mail).await?;
///     assert!(outcome.all_accepted());
/// }
/// mailer.close().await;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Mailer {
    inner: Arc<Inner>,
}

struct Inner {
    engine: Engine,
    idle: Mutex<Vec<Session>>,
    slots: Semaphore,
}

impl Mailer {
    /// Checks the options and prepares what every session needs.
    pub fn new(options: MailerOptions) -> Result<Mailer> {
        if options.connections == 0 || options.max_messages_per_connection == 0 {
            return Err(AppError::Usage(
                "connections and messages per connection must be at least 1".into(),
            ));
        }
        let tls = TlsContext::new(&TlsOptions {
            cafile: options.trust.cafile.clone(),
            insecure: options.trust.insecure,
            no_system_roots: options.trust.no_system_roots,
            extra_roots: options.trust.extra_roots.clone(),
        })?;
        let credentials = match &options.route {
            Route::Relay(r) => match &r.login {
                Some(login) => Some(login.credentials(r.mechanism.as_ref(), false)?),
                None => None,
            },
            Route::Direct(_) => None,
        };
        let tls = match &options.route {
            Route::Relay(r) if r.tls == TlsMode::Opportunistic => tls.tolerant(),
            _ => tls,
        };
        let slots = Semaphore::new(options.connections);
        Ok(Mailer {
            inner: Arc::new(Inner {
                engine: Engine {
                    options,
                    tls,
                    credentials: Mutex::new(credentials),
                },
                idle: Mutex::new(Vec::new()),
                slots,
            }),
        })
    }

    /// The options it was built from.
    pub fn options(&self) -> &MailerOptions {
        &self.inner.engine.options
    }

    /// Sends `mail`. `Ok` carries every recipient's result, refusals
    /// included; `Err` means the message was not sent at all (the relay
    /// could not be reached, TLS or the login failed, the message was
    /// refused as a whole before any recipient).
    pub async fn send(&self, mail: &Mail) -> Result<Outcome> {
        self.send_with_commit(mail, &|| Box::pin(async { Ok(()) }))
            .await
    }

    /// [`send`](Mailer::send), calling `on_commit` just before the end of
    /// the message goes out (for each MX domain in direct delivery): from
    /// then on the server may have the message even if no reply comes
    /// (RFC 1047), so a journal that records it there never sends it twice.
    pub async fn send_committing(
        &self,
        mail: &Mail,
        on_commit: &(dyn Fn() + Send + Sync),
    ) -> Result<Outcome> {
        let hook = || -> futures_util::future::BoxFuture<'_, Result<()>> {
            on_commit();
            Box::pin(async { Ok(()) })
        };
        self.send_with_commit(mail, &hook).await
    }

    /// [`send_committing`](Mailer::send_committing) with a hook the session
    /// awaits: the end of the message goes out once its future is done
    /// (a journal that syncs several sessions' records at once), and not at
    /// all when it fails (the send fails with its error).
    pub async fn send_with_commit(&self, mail: &Mail, on_commit: &OnCommit<'_>) -> Result<Outcome> {
        let engine = &self.inner.engine;
        let mut outcome = match &engine.options.route {
            Route::Direct(d) => direct::deliver(engine, d, mail, on_commit).await?,
            Route::Relay(_) => self.send_relay(mail, on_commit).await?,
        };
        outcome.message_id = mail.message_id.clone();
        Ok(outcome)
    }

    /// A place among the `connections` sessions.
    pub(super) async fn slot(&self) -> Result<tokio::sync::SemaphorePermit<'_>> {
        self.inner
            .slots
            .acquire()
            .await
            .map_err(|_| AppError::Smtp(missive_smtp::Error::Misuse("mailer closed")))
    }

    /// An idle pooled session, if there is one.
    pub(super) fn take_idle(&self) -> Option<Session> {
        self.inner.idle.lock().map(|mut v| v.pop()).ok().flatten()
    }

    /// One message through the relay, within its deadline: it starts once
    /// a session is free (a message waiting for its turn is not late), and
    /// bounds the connection, TLS, AUTH, every reply and the body alike.
    async fn send_relay(&self, mail: &Mail, on_commit: &OnCommit<'_>) -> Result<Outcome> {
        let inner = &*self.inner;
        let _slot = self.slot().await?;
        let allowed = inner.engine.options.deadline_for(mail.message.size());
        let end = Instant::now() + allowed;
        let late = |e, in_doubt| relay::past_deadline(e, end, allowed, in_doubt);
        loop {
            let idle = self.take_idle();
            let reused = idle.is_some();
            let mut session = match idle {
                Some(s) => s,
                None => relay::open(&inner.engine, self.transcript(), None, Some(end))
                    .await
                    .map_err(|e| late(e, false))?,
            };
            session.set_deadline(Some(end));
            let body = &mut mail.message.open();
            match session
                .send_mail(mail.envelope.clone(), body, on_commit)
                .await
            {
                Ok(tx) => {
                    let outcome = relay::outcome(&session, &tx);
                    self.put_back(session).await;
                    return Ok(outcome);
                }
                Err(e) if reused && !session.in_doubt() && stale(&e) && Instant::now() < end => {
                    session.transcript.info(&format!(
                        "the idle session ended ({e}); sending on a new one"
                    ));
                }
                Err(e) => {
                    let in_doubt = session.in_doubt();
                    session.close_after_error().await;
                    return Err(late(e, in_doubt));
                }
            }
        }
    }

    pub(super) fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    pub(super) fn transcript(&self) -> Transcript {
        Transcript {
            progress_over: self.inner.engine.options.progress_over,
            ..Transcript::new(self.inner.engine.options.verbosity)
        }
    }

    /// Keeps a session for the next send, or ends it.
    pub(super) async fn put_back(&self, mut session: Session) {
        let inner = &*self.inner;
        // An idle session waits without a deadline; the next message sets its own.
        session.set_deadline(None);
        if session.is_ready() && session.messages < inner.engine.options.max_messages_per_connection
        {
            if let Ok(mut idle) = inner.idle.lock() {
                idle.push(session);
                return;
            }
        }
        if session.is_ready() {
            session.quit().await;
        }
    }

    /// QUITs every idle session. Sends after this open new ones.
    pub async fn close(&self) {
        let sessions: Vec<Session> = match self.inner.idle.lock() {
            Ok(mut idle) => idle.drain(..).collect(),
            Err(_) => Vec::new(),
        };
        for s in sessions {
            s.quit().await;
        }
    }
}

/// Errors of a pooled session that the server ended while it was idle:
/// the message is sent again on a new session.
pub(super) fn stale(e: &AppError) -> bool {
    use missive_smtp::Error as Smtp;
    matches!(
        e,
        AppError::Network(_)
            | AppError::Smtp(Smtp::ServiceClosing(_) | Smtp::ConnectionLost { .. })
    )
}
