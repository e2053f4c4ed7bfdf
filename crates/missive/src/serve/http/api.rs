//! The routes: the page and its assets, the JSON API (Mailpit's paths
//! where they fit), the event stream and the wait.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;

use super::filter::{time_us, Filter};
use super::store::{Store, Summary};
use super::view::{disposition, safe_token, Parsed};
use super::{App, Event};

/// The longest a wait may be asked to last.
const MAX_WAIT: Duration = Duration::from_secs(300);

const PAGE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; connect-src 'self'; frame-src 'self'; base-uri 'none'; \
    form-action 'none'; frame-ancestors 'none'";

pub(super) fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/app.js", get(script))
        .route("/app.css", get(style))
        .route("/api/v1/messages", get(list).delete(delete))
        .route("/api/v1/search", get(search).delete(delete_matching))
        .route("/api/v1/message/{id}", get(message))
        .route("/api/v1/message/{id}/raw", get(raw))
        .route("/api/v1/message/{id}/headers", get(headers))
        .route("/api/v1/message/{id}/part/{part}", get(part))
        .route("/api/v1/wait", get(wait))
        .route("/api/v1/events", get(events))
        .route("/view/{file}", get(frame))
        .fallback(|| async { (StatusCode::NOT_FOUND, "not found\n") })
        .with_state(app)
}

fn asset(body: &'static str, ctype: &'static str) -> Response {
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    h.insert(
        "content-security-policy",
        HeaderValue::from_static(PAGE_CSP),
    );
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    r
}

async fn page() -> Response {
    asset(
        include_str!("assets/index.html"),
        "text/html; charset=utf-8",
    )
}

async fn script() -> Response {
    asset(
        include_str!("assets/app.js"),
        "text/javascript; charset=utf-8",
    )
}

async fn style() -> Response {
    asset(include_str!("assets/app.css"), "text/css; charset=utf-8")
}

/// Runs file work off the runtime's thread.
async fn blocking<T: Send + 'static>(
    app: &Arc<App>,
    f: impl FnOnce(&Store) -> T + Send + 'static,
) -> T {
    let app = app.clone();
    match tokio::task::spawn_blocking(move || f(&app.store)).await {
        Ok(t) => t,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

fn bad(why: impl Into<String>) -> Response {
    (StatusCode::BAD_REQUEST, format!("{}\n", why.into())).into_response()
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "no such message\n").into_response()
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct ListQuery {
    start: Option<usize>,
    limit: Option<usize>,
    query: Option<String>,
    to: Option<String>,
    from: Option<String>,
    subject: Option<String>,
    since: Option<String>,
    /// Seconds a wait may last.
    timeout: Option<f64>,
}

impl ListQuery {
    fn filter(&self) -> Result<Filter, String> {
        let mut f = Filter::parse(self.query.as_deref().unwrap_or_default())?;
        f.to.extend(self.to.iter().map(|s| s.to_lowercase()));
        f.from.extend(self.from.iter().map(|s| s.to_lowercase()));
        f.subject
            .extend(self.subject.iter().map(|s| s.to_lowercase()));
        if let Some(s) = &self.since {
            f.since_us = Some(time_us(s)?);
        }
        Ok(f)
    }
}

/// `GET /api/v1/messages?start=&limit=&to=&from=&subject=&since=&query=`
async fn list(State(app): State<Arc<App>>, Query(q): Query<ListQuery>) -> Response {
    let filter = match q.filter() {
        Ok(f) => f,
        Err(e) => return bad(e),
    };
    let start = q.start.unwrap_or(0);
    let limit = q.limit.unwrap_or(50).clamp(1, 1000);
    let all = blocking(&app, |s| s.summaries()).await;
    let unread = all.iter().filter(|s| !s.read).count();
    let total = all.len();
    let matched: Vec<_> = all.into_iter().filter(|s| filter.matches(s)).collect();
    let page: Vec<&Summary> = matched
        .iter()
        .skip(start)
        .take(limit)
        .map(|s| &**s)
        .collect();
    Json(json!({
        "total": total,
        "unread": unread,
        "count": page.len(),
        "messages_count": matched.len(),
        "messages_unread": matched.iter().filter(|s| !s.read).count(),
        "start": start,
        "tags": [],
        "messages": page,
    }))
    .into_response()
}

/// `GET /api/v1/search?query=…` (Mailpit's): the list, filtered.
async fn search(state: State<Arc<App>>, Query(q): Query<ListQuery>) -> Response {
    if q.query.as_deref().unwrap_or_default().trim().is_empty() {
        return bad("search needs a query");
    }
    list(state, Query(q)).await
}

#[derive(Debug, Default, Deserialize)]
struct DeleteBody {
    #[serde(rename = "IDs", default)]
    ids: Vec<String>,
}

/// `DELETE /api/v1/messages` with `{"IDs": [...]}`, or without a body (or
/// an empty list): every message.
async fn delete(State(app): State<Arc<App>>, body: Bytes) -> Response {
    let ids = match body.iter().all(u8::is_ascii_whitespace) {
        true => Vec::new(),
        false => match serde_json::from_slice::<DeleteBody>(&body) {
            Ok(b) => b.ids,
            Err(e) => return bad(format!("expected {{\"IDs\": [...]}}: {e}")),
        },
    };
    if ids.is_empty() {
        blocking(&app, |s| s.delete_all()).await;
        let _ = app.events.send(Event::DeletedAll);
    } else {
        let done = blocking(&app, move |s| s.delete(&ids)).await;
        let _ = app.events.send(Event::Deleted(done));
    }
    "ok".into_response()
}

/// `DELETE /api/v1/search?query=…` (Mailpit's): every message that matches.
async fn delete_matching(State(app): State<Arc<App>>, Query(q): Query<ListQuery>) -> Response {
    let filter = match q.filter() {
        Ok(f) if q.query.as_deref().is_some_and(|q| !q.trim().is_empty()) => f,
        Ok(_) => return bad("search needs a query"),
        Err(e) => return bad(e),
    };
    let done = blocking(&app, move |s| {
        let ids: Vec<String> = s
            .summaries()
            .iter()
            .filter(|m| filter.matches(m))
            .map(|m| m.id.clone())
            .collect();
        s.delete(&ids)
    })
    .await;
    let _ = app.events.send(Event::Deleted(done));
    "ok".into_response()
}

/// Reads a message by id (`latest`: the newest, as Mailpit has it): its
/// id, its file parsed, whether it was read.
async fn load(app: &Arc<App>, id: String, mark_read: bool) -> Option<(Parsed, bool)> {
    blocking(app, move |s| {
        let id = match id.as_str() {
            "latest" => s.summaries().first()?.id.clone(),
            _ => id,
        };
        let e = s.entry(&id)?;
        let bytes = std::fs::read(&e.path).ok()?;
        if mark_read {
            s.mark_read(&e);
        }
        Some((Parsed::new(bytes, e.id), e.read))
    })
    .await
}

/// `GET /api/v1/message/{ID}`: the message, which is then marked read.
async fn message(State(app): State<Arc<App>>, Path(id): Path<String>) -> Response {
    match load(&app, id, true).await {
        Some((p, _)) => Json(p.detail(true)).into_response(),
        None => not_found(),
    }
}

/// `GET /api/v1/message/{ID}/raw`: the message as received.
async fn raw(State(app): State<Arc<App>>, Path(id): Path<String>) -> Response {
    let Some((p, _)) = load(&app, id, false).await else {
        return not_found();
    };
    let mut r = Body::from(p.message_bytes().to_vec()).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// `GET /api/v1/message/{ID}/headers`: every header, by name, in order.
async fn headers(State(app): State<Arc<App>>, Path(id): Path<String>) -> Response {
    let Some((p, _)) = load(&app, id, false).await else {
        return not_found();
    };
    Json(p.headers()).into_response()
}

/// `GET /api/v1/message/{ID}/part/{PartID}`: one part, decoded, always as
/// a download.
async fn part(State(app): State<Arc<App>>, Path((id, part)): Path<(String, String)>) -> Response {
    let Some((p, _)) = load(&app, id, false).await else {
        return not_found();
    };
    let Some((bytes, ctype, name)) = p.part(&part) else {
        return (StatusCode::NOT_FOUND, "no such part\n").into_response();
    };
    let ctype = match safe_token(ctype.split(';').next().unwrap_or_default()) {
        true => ctype,
        false => "application/octet-stream".into(),
    };
    let mut r = Body::from(bytes).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&ctype)
            .unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    if let Ok(v) = HeaderValue::from_str(&disposition(&name)) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    r
}

#[derive(Debug, Default, Deserialize)]
struct FrameQuery {
    remote: Option<String>,
}

/// `GET /view/{ID}.txt`: the text body. `GET /view/{ID}.html[?remote=1]`:
/// the HTML body for the sandboxed frame.
/// The CSP `sandbox` holds even when it is opened on its own: no scripts,
/// an origin of its own, and nothing loaded but `data:` (inline images,
/// already put in) unless remote images were asked for.
async fn frame(
    State(app): State<Arc<App>>,
    Path(file): Path<String>,
    Query(q): Query<FrameQuery>,
) -> Response {
    if let Some(id) = file.strip_suffix(".txt") {
        // Mailpit's text view
        return match load(&app, id.to_string(), false).await {
            Some((p, _)) => {
                let mut r = p.detail(false).text.into_response();
                r.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; charset=utf-8"),
                );
                r
            }
            None => not_found(),
        };
    }
    let Some(id) = file.strip_suffix(".html") else {
        return not_found();
    };
    let Some((p, _)) = load(&app, id.to_string(), false).await else {
        return not_found();
    };
    let Some(html) = p.html_for_frame() else {
        return (StatusCode::NOT_FOUND, "this message has no HTML body\n").into_response();
    };
    let img = match q.remote.as_deref() {
        Some("1") => "data: http: https:",
        _ => "data:",
    };
    let csp = format!(
        "sandbox; default-src 'none'; style-src 'unsafe-inline' data:; font-src data:; \
         img-src {img}; media-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'self'"
    );
    let mut r = html.into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&csp) {
        h.insert("content-security-policy", v);
    }
    r
}

/// `GET /api/v1/wait?to=&from=&subject=&since=&query=&timeout=SECS`: the
/// newest message that matches, as soon as there is one (200), or 408
/// after the timeout (default 30 s, at most 300).
async fn wait(State(app): State<Arc<App>>, Query(q): Query<ListQuery>) -> Response {
    let filter = match q.filter() {
        Ok(f) => f,
        Err(e) => return bad(e),
    };
    let secs = q.timeout.unwrap_or(30.0);
    if !secs.is_finite() || secs < 0.0 {
        return bad("timeout is a number of seconds");
    }
    let limit = Duration::from_secs_f64(secs).min(MAX_WAIT);
    let Ok(_slot) = app.streams.clone().try_acquire_owned() else {
        return (StatusCode::SERVICE_UNAVAILABLE, "too many waits at once\n").into_response();
    };
    // listen first, then look: a message stored in between is not missed
    let mut rx = app.events.subscribe();
    let deadline = tokio::time::Instant::now() + limit;
    let mut look = true;
    loop {
        if look {
            let f = filter.clone();
            let found = blocking(&app, move |s| {
                s.summaries().into_iter().find(|m| f.matches(m))
            })
            .await;
            if let Some(m) = found {
                return Json(&*m).into_response();
            }
            look = false;
        }
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Ok(Event::New(_))) | Ok(Err(RecvError::Lagged(_))) => look = true,
            Ok(Ok(_)) => {}
            Ok(Err(RecvError::Closed)) | Err(_) => break,
        }
    }
    (
        StatusCode::REQUEST_TIMEOUT,
        Json(json!({ "Error": format!("no message matched within {} s", limit.as_secs_f64()) })),
    )
        .into_response()
}

/// `GET /api/v1/events`: server-sent events: `new` (a message's summary),
/// `delete` (`{"IDs": [...]}` or `{"All": true}`) and `reload` (events
/// were missed: list again).
async fn events(State(app): State<Arc<App>>) -> Response {
    let Ok(slot) = app.streams.clone().try_acquire_owned() else {
        return (StatusCode::SERVICE_UNAVAILABLE, "too many event streams\n").into_response();
    };
    let rx = app.events.subscribe();
    let stream = futures_util::stream::unfold((rx, app, slot), |(mut rx, app, slot)| async move {
        let ev = loop {
            match rx.recv().await {
                Ok(Event::New(name)) => {
                    let id = name.split(":2,").next().unwrap_or_default().to_string();
                    let Some(s) = blocking(&app, move |s| s.summary(&id)).await else {
                        continue;
                    };
                    let data = serde_json::to_string(&*s).unwrap_or_default();
                    break SseEvent::default().event("new").data(data);
                }
                Ok(Event::Deleted(ids)) => {
                    let data = json!({ "IDs": ids }).to_string();
                    break SseEvent::default().event("delete").data(data);
                }
                Ok(Event::DeletedAll) => {
                    break SseEvent::default().event("delete").data(r#"{"All":true}"#)
                }
                Err(RecvError::Lagged(_)) => break SseEvent::default().event("reload").data("{}"),
                Err(RecvError::Closed) => return None,
            }
        };
        Some((Ok::<_, Infallible>(ev), (rx, app, slot)))
    });
    let mut r = Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response();
    // the page reads it: its own origin, not sandboxed
    r.headers_mut().insert(
        "content-security-policy",
        HeaderValue::from_static("default-src 'none'"),
    );
    r
}
