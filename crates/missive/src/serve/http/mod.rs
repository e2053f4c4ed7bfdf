//! `missive serve --http`: a web page and a JSON API (shaped like
//! Mailpit's) for the mail the capture server stores, read from the same
//! Maildir.
//!
//! It runs on a thread and a runtime of its own, so a flood of SMTP
//! sessions on the server's runtime cannot starve it, and it bounds what it
//! takes: connections, requests at once, long waits and event streams at
//! once, and request bodies. Captured mail is hostile input: the page shows
//! it with `textContent` only, HTML bodies are served from their own URL
//! with a CSP `sandbox` into a sandboxed frame (no scripts, no requests but
//! `data:` images unless the user asks for remote images), and downloads
//! are always `Content-Disposition: attachment` with a clean name.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use missive_smtp::Secret;
use tokio::sync::{broadcast, Semaphore};

use crate::error::{AppError, Result};
use store::Store;

mod api;
mod filter;
mod listener;
pub(crate) mod store;
pub(crate) mod view;

/// Requests handled at once (event streams and waits not counted).
const MAX_REQUESTS: usize = 64;
/// Event streams and waits open at once.
const MAX_STREAMS: usize = 32;
/// Connections open at once; more wait to be accepted.
const MAX_CONNECTIONS: usize = 256;
/// The largest request body (the one with a body is a delete by ids).
const MAX_BODY: usize = 64 * 1024;

pub struct HttpOptions {
    pub addr: SocketAddr,
    /// Required for every request (HTTP Basic), when set.
    pub login: Option<(String, Secret)>,
    pub maildir: PathBuf,
}

/// What the page and the event stream are told.
#[derive(Debug, Clone)]
pub enum Event {
    New(String),
    Deleted(Vec<String>),
    DeletedAll,
}

/// The web server, running on its own thread.
pub struct HttpRunning {
    pub addr: SocketAddr,
    events: broadcast::Sender<Event>,
}

impl HttpRunning {
    /// Tells the page and any waiting client that a message was stored.
    pub fn stored(&self, path: &Path) {
        if let Some(name) = path.file_name() {
            let _ = self
                .events
                .send(Event::New(name.to_string_lossy().into_owned()));
        }
    }
}

struct App {
    store: Store,
    events: broadcast::Sender<Event>,
    login: Option<(String, Secret)>,
    /// Host names a request may name (against DNS rebinding).
    host: String,
    requests: Arc<Semaphore>,
    streams: Arc<Semaphore>,
}

/// Binds `opts.addr` and serves on a thread of its own.
pub fn start(opts: HttpOptions) -> Result<HttpRunning> {
    let std_listener = std::net::TcpListener::bind(opts.addr)
        .and_then(|l| l.set_nonblocking(true).map(|()| l))
        .map_err(|e| {
            AppError::Network(format!(
                "cannot listen on {} for HTTP: {}",
                opts.addr,
                crate::transport::net::short_io(&e)
            ))
        })?;
    let addr = std_listener.local_addr().unwrap_or(opts.addr);
    let (events, _) = broadcast::channel(1024);
    let app = Arc::new(App {
        store: Store::new(&opts.maildir),
        events: events.clone(),
        login: opts.login,
        host: opts.addr.ip().to_string(),
        requests: Arc::new(Semaphore::new(MAX_REQUESTS)),
        streams: Arc::new(Semaphore::new(MAX_STREAMS)),
    });
    let router = api::router(app.clone())
        .layer(axum::middleware::from_fn_with_state(app, guard))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| AppError::Io(format!("cannot start the HTTP runtime: {e}")))?;
    std::thread::Builder::new()
        .name("missive-http".into())
        .spawn(move || {
            runtime.block_on(async move {
                let Ok(tcp) = tokio::net::TcpListener::from_std(std_listener) else {
                    return;
                };
                let listener = listener::Bounded::new(tcp, MAX_CONNECTIONS);
                let _ = axum::serve(listener, router).await;
            })
        })
        .map_err(|e| AppError::Io(format!("cannot start the HTTP thread: {e}")))?;
    Ok(HttpRunning { addr, events })
}

/// Every request: the Host it names, the login, the bound on requests at
/// once; every response: headers that keep a browser careful.
async fn guard(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    if !host_allowed(&app, &req) {
        return (
            StatusCode::MISDIRECTED_REQUEST,
            "this server answers to its address, localhost or an IP address only\n",
        )
            .into_response();
    }
    if let Some((user, password)) = &app.login {
        if !authorized(&req, user, password) {
            let mut r = (StatusCode::UNAUTHORIZED, "login required\n").into_response();
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"missive\", charset=\"UTF-8\""),
            );
            return r;
        }
    }
    // waits and event streams have their own bound (MAX_STREAMS)
    let long = matches!(req.uri().path(), "/api/v1/wait" | "/api/v1/events");
    let _permit = match long {
        true => None,
        false => match app.requests.clone().try_acquire_owned() {
            Ok(p) => Some(p),
            Err(_) => {
                return (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "too many requests at once\n",
                )
                    .into_response()
            }
        },
    };
    let mut r = next.run(req).await;
    let h = r.headers_mut();
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.entry("content-security-policy")
        .or_insert(HeaderValue::from_static("sandbox; default-src 'none'"));
    r
}

/// Whether the Host header names this server: an IP address, `localhost`
/// (or a name under it), or the address it listens on. A web page on some
/// other name that resolves to 127.0.0.1 (DNS rebinding) gets nothing.
fn host_allowed(app: &App, req: &Request) -> bool {
    let Some(host) = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
    else {
        return true; // HTTP/1.0 without Host: not a browser
    };
    let name = match host.rsplit_once(':') {
        Some((n, port)) if port.bytes().all(|b| b.is_ascii_digit()) => n,
        _ => host,
    };
    let name = name.trim_start_matches('[').trim_end_matches(']');
    name.parse::<std::net::IpAddr>().is_ok()
        || name.eq_ignore_ascii_case("localhost")
        || name.to_ascii_lowercase().ends_with(".localhost")
        || name.eq_ignore_ascii_case(&app.host)
}

/// HTTP Basic, compared in constant time.
fn authorized(req: &Request, user: &str, password: &Secret) -> bool {
    let Some(v) = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
    else {
        return false;
    };
    let Some(b64) = v
        .split_once(' ')
        .filter(|(s, _)| s.eq_ignore_ascii_case("basic"))
        .map(|(_, b)| b.trim())
    else {
        return false;
    };
    let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(b64) else {
        return false;
    };
    let want = format!("{user}:{}", password.expose());
    crate::serve::same_secret(&raw, want.as_bytes())
}
