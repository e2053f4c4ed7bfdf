//! Opening a session to the relay (with one token refresh when the server
//! rejects an OAuth2 token), and the outcome of a transaction there.

use missive_smtp::client::ClientConfig;
use missive_smtp::{Credentials, Reply, TransactionOutcome};

use super::engine::Engine;
use super::{Outcome, Route};
use crate::error::{AppError, Result};
use crate::transport::session::{QuitAfter, Session, SessionOptions, CONNECT_TIMEOUT};
use crate::transport::transcript::Transcript;

/// Connects and runs the session up to `Ready` (greeting, EHLO, STARTTLS,
/// AUTH), or only up to `quit_after`'s stage.
pub(super) async fn open(
    engine: &Engine,
    transcript: Transcript,
    quit_after: Option<QuitAfter>,
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
        deadline: None,
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
