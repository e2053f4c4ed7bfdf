//! Opening a session to the relay (with one token refresh when the server
//! rejects an OAuth2 token), and the outcome of a transaction there.

use std::time::{Duration, Instant};

use missive_smtp::client::ClientConfig;
use missive_smtp::{Credentials, Reply, TransactionOutcome};

use super::engine::Engine;
use super::{Outcome, Route};
use crate::error::{AppError, Result};
use crate::transport::session::{QuitAfter, Session, SessionOptions, CONNECT_TIMEOUT};
use crate::transport::transcript::Transcript;

/// Connects and runs the session up to `Ready` (greeting, EHLO, STARTTLS,
/// AUTH), or only up to `quit_after`'s stage; no wait goes past `deadline`.
pub(super) async fn open(
    engine: &Engine,
    transcript: Transcript,
    quit_after: Option<QuitAfter>,
    deadline: Option<Instant>,
) -> Result<Session> {
    let Route::Relay(relay) = &engine.options.route else {
        return Err(AppError::Smtp(missive_smtp::Error::Misuse("not a relay")));
    };
    let options = |credentials: Option<Credentials>| SessionOptions {
        server: relay.server.clone(),
        addrs: Vec::new(),
        connect_timeout: CONNECT_TIMEOUT,
        smtp: ClientConfig {
            ehlo_name: engine.options.ehlo.clone().unwrap_or_default(),
            tls: relay.tls,
            credentials,
            mechanism: relay.mechanism.clone(),
            allow_plaintext_auth: relay.allow_plaintext_auth,
            server_host: relay.server.host.clone(),
            server_port: relay.server.port,
            chunking: engine.options.chunking,
        },
        tls: engine.tls.clone(),
        timeout: engine.options.timeout,
        proxy: engine.options.proxy.clone(),
        deadline,
    };
    let credentials = engine.credentials.lock().ok().and_then(|c| c.clone());
    let first =
        Session::open_until(options(credentials.clone()), transcript.clone(), quit_after).await;
    let refreshable = relay.login.as_ref().filter(|l| l.secret.refreshable());
    match (first, refreshable, credentials) {
        // The server rejected the token (XOAUTH2/OAUTHBEARER error
        // challenge, then 535): refresh once, try again on a new connection.
        (
            Err(AppError::Smtp(missive_smtp::Error::AuthFailed { .. })),
            Some(login),
            Some(Credentials::Token { .. }),
        ) => {
            let fresh = login.credentials(relay.mechanism.as_ref(), true)?;
            transcript.info("the server rejected the access token; refreshed it, trying again");
            if let Ok(mut c) = engine.credentials.lock() {
                *c = Some(fresh.clone());
            }
            Session::open_until(options(Some(fresh)), transcript, quit_after).await
        }
        (result, _, _) => result,
    }
}

/// Each recipient's result of a transaction, and what the session was.
pub(super) fn outcome(session: &Session, tx: &TransactionOutcome) -> Outcome {
    Outcome {
        message_id: String::new(),
        server: Some(session.server().display()),
        tls: session.tls.clone(),
        authenticated: session.client().is_authenticated(),
        queue_id: tx.final_reply.as_ref().and_then(Reply::queue_id),
        recipients: Outcome::from_transaction(tx),
    }
}

/// When `e` came because the deadline ending at `end` ran out, where it
/// ran out ("during the reply to DATA", or the cut-short wait's own error
/// in brackets); `None` when it came in time. A connect or TLS handshake
/// cut short by the deadline fails with its own words, so any error past
/// the deadline is the deadline's.
pub(super) fn ran_out(e: &AppError, end: Instant) -> Option<String> {
    // Each wait ends at the deadline itself: a little slack for the timer.
    if Instant::now() + Duration::from_millis(20) < end {
        return None;
    }
    Some(match e {
        AppError::Deadline { stage } => format!("during {stage}"),
        other => format!("({other})"),
    })
}

/// `e`, or when it came because the message's deadline (`allowed`, ending
/// at `end`) ran out, the error that says so: every recipient is a
/// temporary failure, and once the end of the message went out
/// (`in_doubt`) the server may have it (RFC 1047).
pub(super) fn past_deadline(
    e: AppError,
    end: Instant,
    allowed: Duration,
    in_doubt: bool,
) -> AppError {
    let Some(during) = ran_out(&e, end) else {
        return e;
    };
    let secs = allowed.as_secs();
    if in_doubt {
        return AppError::Network(format!(
            "the message's deadline ({secs} s) ran out after its end went out and before the server's reply: it may have been delivered; check before sending it again (or allow more time with --deadline SECS)"
        ));
    }
    AppError::Network(format!(
        "the message's deadline ({secs} s) ran out {during}; nothing was accepted: try again later, or allow more time with --deadline SECS"
    ))
}
