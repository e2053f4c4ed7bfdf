//! A mock OAuth2 authorization server (a minimal HTTP/1.1 server on
//! 127.0.0.1): the device authorization grant (RFC 8628), the authorization
//! code grant with PKCE (RFC 7636) and refresh, with one registered client.
//! It records every request and every secret it handed out or received, so
//! that tests can check none of them leaks. [`http_get`] plays the browser.

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;

use super::unique;
use super::xoauth2_smtp::Validator;

/// The one client registered at the mock.
pub const CLIENT_ID: &str = "missive-test-client";
pub const CLIENT_SECRET: &str = "CS-client-secret-5d1c7e9a0b";
pub const SCOPES: &str = "smtp.send offline_access";
pub const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// The user code of every device authorization.
pub const USER_CODE: &str = "WDJB-MJHT";
/// The longest the mock (and the browser) wait for bytes.
const IO_WAIT: Duration = Duration::from_secs(10);

/// A token or code no other run or test will produce (mixed case, as real
/// ones are).
pub fn secret(prefix: &str) -> String {
    format!("{}Zq", unique(prefix))
}

pub fn pct(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn unpct(s: &str) -> String {
    let bytes = s.as_bytes();
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `a=1&b=2` (application/x-www-form-urlencoded, or a URL query).
pub fn parse_form(s: &str) -> Vec<(String, String)> {
    s.split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => (unpct(k), unpct(v)),
            None => (unpct(kv), String::new()),
        })
        .collect()
}

pub fn lookup<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// BASE64URL(SHA256(verifier)), RFC 7636 §4.2.
pub fn s256(verifier: &str) -> String {
    B64URL.encode(ring::digest::digest(
        &ring::digest::SHA256,
        verifier.as_bytes(),
    ))
}

// ---- the mock authorization server ---------------------------------------------------

/// One HTTP request the mock received.
#[derive(Debug, Clone)]
pub struct Req {
    pub at: Instant,
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    pub form: Vec<(String, String)>,
}

impl Req {
    pub fn param(&self, key: &str) -> Option<&str> {
        lookup(&self.form, key).or_else(|| lookup(&self.query, key))
    }

    pub fn header(&self, key: &str) -> Option<&str> {
        lookup(&self.headers, &key.to_ascii_lowercase())
    }

    pub fn grant(&self) -> Option<&str> {
        self.param("grant_type")
    }
}

/// What the authorization endpoint handed out for a code.
#[derive(Debug, Clone)]
pub struct Issued {
    pub challenge: String,
    pub method: String,
    pub redirect_uri: String,
    pub client_id: String,
}

/// The mock's state: what it issued, what is valid, what it was sent.
#[derive(Debug)]
pub struct AuthState {
    pub port: u16,
    pub requests: Vec<Req>,
    /// The device flow: `interval` in the device answer, and the answers to
    /// successive polls (an error code, or "grant").
    pub device_interval: Option<u64>,
    pub device_steps: VecDeque<&'static str>,
    pub device_code: Option<String>,
    pub codes: HashMap<String, Issued>,
    /// The current access token and whether the SMTP server accepts it.
    pub access: Option<String>,
    pub access_valid: bool,
    /// The current refresh token and whether the token endpoint accepts it.
    pub refresh: Option<String>,
    pub refresh_valid: bool,
    /// A refresh answer carries a new refresh token.
    pub rotate: bool,
    pub expires_in: u64,
    /// Every secret handed out or received (tokens, codes, verifiers).
    pub secrets: Vec<String>,
    /// Why the token endpoint last refused, for failure messages.
    pub refusals: Vec<String>,
}

/// A minimal HTTP/1.1 authorization server on 127.0.0.1.
pub struct MockAuth {
    pub port: u16,
    state: Arc<Mutex<AuthState>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl MockAuth {
    pub fn start() -> MockAuth {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind mock");
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let state = Arc::new(Mutex::new(AuthState {
            port,
            requests: Vec::new(),
            device_interval: Some(1),
            device_steps: VecDeque::from(["grant"]),
            device_code: None,
            codes: HashMap::new(),
            access: None,
            access_valid: false,
            refresh: None,
            refresh_valid: false,
            rotate: true,
            expires_in: 3600,
            secrets: vec![CLIENT_SECRET.to_string()],
            refusals: Vec::new(),
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let (st, sp) = (state.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !sp.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((s, _)) => serve_http(s, &st),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(5))
                    }
                    Err(_) => return,
                }
            }
        });
        MockAuth {
            port,
            state,
            stop,
            thread: Some(thread),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn state(&self) -> MutexGuard<'_, AuthState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn requests(&self) -> Vec<Req> {
        self.state().requests.clone()
    }

    pub fn token_requests(&self) -> Vec<Req> {
        self.requests()
            .into_iter()
            .filter(|r| r.path == "/token")
            .collect()
    }

    pub fn secrets(&self) -> Vec<String> {
        self.state().secrets.clone()
    }

    pub fn access(&self) -> String {
        self.state()
            .access
            .clone()
            .expect("an access token was issued")
    }

    pub fn refresh(&self) -> String {
        self.state()
            .refresh
            .clone()
            .expect("a refresh token was issued")
    }

    /// Tokens issued earlier (the test writes them to the store itself).
    pub fn set_tokens(&self, access: &str, refresh: &str) {
        let mut s = self.state();
        s.access = Some(access.to_string());
        s.access_valid = true;
        s.refresh = Some(refresh.to_string());
        s.refresh_valid = true;
        s.secrets.push(access.to_string());
        s.secrets.push(refresh.to_string());
    }

    /// The device flow: the answers to successive polls.
    pub fn device_script(&self, interval: Option<u64>, steps: &[&'static str]) {
        let mut s = self.state();
        s.device_interval = interval;
        s.device_steps = steps.iter().copied().collect();
    }

    /// A validator for the SMTP server: the mock's current, unrevoked access token.
    pub fn validator(&self) -> Validator {
        let state = self.state.clone();
        Arc::new(move |token: &str| {
            let s = state.lock().unwrap_or_else(|e| e.into_inner());
            s.access_valid && s.access.as_deref() == Some(token)
        })
    }
}

impl Drop for MockAuth {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Method, target, headers (names lower-cased), body.
type HttpRequest = (String, String, Vec<(String, String)>, Vec<u8>);

/// Reads one HTTP/1.1 request.
fn read_http_request(stream: &TcpStream) -> Option<HttpRequest> {
    let mut r = BufReader::new(stream);
    let mut line = String::new();
    r.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let target = parts.next()?.to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if r.read_line(&mut h).ok()? == 0 {
            break;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let mut body = Vec::new();
    if let Some(len) = lookup(&headers, "content-length") {
        let len: usize = len.parse().ok()?;
        body.resize(len, 0);
        r.read_exact(&mut body).ok()?;
    } else if lookup(&headers, "transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        loop {
            let mut size = String::new();
            r.read_line(&mut size).ok()?;
            let size = usize::from_str_radix(size.trim().split(';').next()?, 16).ok()?;
            if size == 0 {
                let mut t = String::new();
                while r.read_line(&mut t).ok()? > 2 {
                    t.clear();
                }
                break;
            }
            let mut chunk = vec![0u8; size + 2];
            r.read_exact(&mut chunk).ok()?;
            body.extend_from_slice(&chunk[..size]);
        }
    }
    Some((method, target, headers, body))
}

fn write_http(mut stream: &TcpStream, status: &str, headers: &[(&str, String)], body: &str) {
    let mut out = format!("HTTP/1.1 {status}\r\n");
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    ));
    let _ = stream.write_all(out.as_bytes());
    let _ = stream.flush();
}

fn write_json(stream: &TcpStream, status: &str, v: serde_json::Value) {
    write_http(
        stream,
        status,
        &[
            ("Content-Type", "application/json".into()),
            ("Cache-Control", "no-store".into()),
        ],
        &v.to_string(),
    );
}

fn oauth_error(stream: &TcpStream, s: &mut AuthState, code: &str, why: &str) {
    s.refusals.push(format!("{code}: {why}"));
    write_json(
        stream,
        "400 Bad Request",
        serde_json::json!({ "error": code, "error_description": why }),
    );
}

/// Issues a new access token (and a refresh token when asked), and answers with them.
fn issue(stream: &TcpStream, s: &mut AuthState, with_refresh: bool) {
    let access = secret("AT");
    s.secrets.push(access.clone());
    s.access = Some(access.clone());
    s.access_valid = true;
    let mut v = serde_json::json!({
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": s.expires_in,
        "scope": SCOPES,
    });
    if with_refresh {
        let refresh = secret("RT");
        s.secrets.push(refresh.clone());
        s.refresh = Some(refresh.clone());
        s.refresh_valid = true;
        v["refresh_token"] = serde_json::Value::String(refresh);
    }
    write_json(stream, "200 OK", v);
}

fn serve_http(stream: TcpStream, state: &Arc<Mutex<AuthState>>) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(IO_WAIT));
    let Some((method, target, headers, body)) = read_http_request(&stream) else {
        return;
    };
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_string(), parse_form(q)),
        None => (target.clone(), Vec::new()),
    };
    let form = parse_form(&String::from_utf8_lossy(&body));
    let req = Req {
        at: Instant::now(),
        method: method.clone(),
        path: path.clone(),
        query,
        headers,
        form,
    };
    let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
    s.requests.push(req.clone());
    for key in [
        "code",
        "code_verifier",
        "refresh_token",
        "device_code",
        "client_secret",
    ] {
        if let Some(v) = req.param(key) {
            if !v.is_empty() && !s.secrets.iter().any(|x| x == v) {
                s.secrets.push(v.to_string());
            }
        }
    }
    let s = &mut *s;
    match (method.as_str(), path.as_str()) {
        ("GET", "/authorize") => {
            let p = |k: &str| req.param(k).unwrap_or_default().to_string();
            if p("response_type") != "code" || p("client_id") != CLIENT_ID {
                return write_http(&stream, "400 Bad Request", &[], "bad authorization request");
            }
            let code = secret("CODE");
            s.secrets.push(code.clone());
            s.codes.insert(
                code.clone(),
                Issued {
                    challenge: p("code_challenge"),
                    method: p("code_challenge_method"),
                    redirect_uri: p("redirect_uri"),
                    client_id: p("client_id"),
                },
            );
            let location = format!(
                "{}{}code={}&state={}",
                p("redirect_uri"),
                if p("redirect_uri").contains('?') {
                    "&"
                } else {
                    "?"
                },
                pct(&code),
                pct(&p("state"))
            );
            write_http(&stream, "302 Found", &[("Location", location)], "");
        }
        ("POST", "/device") => {
            if req.param("client_id") != Some(CLIENT_ID) {
                return oauth_error(&stream, s, "invalid_client", "unknown client");
            }
            let device_code = secret("DEVICE");
            s.secrets.push(device_code.clone());
            s.device_code = Some(device_code.clone());
            let mut v = serde_json::json!({
                "device_code": device_code,
                "user_code": USER_CODE,
                "verification_uri": format!("http://127.0.0.1:{}/activate", s.port),
                "expires_in": 600,
            });
            if let Some(i) = s.device_interval {
                v["interval"] = i.into();
            }
            write_json(&stream, "200 OK", v);
        }
        ("POST", "/token") => {
            if req.param("client_id") != Some(CLIENT_ID) {
                return oauth_error(&stream, s, "invalid_client", "unknown client");
            }
            if req.param("client_secret") != Some(CLIENT_SECRET) {
                return oauth_error(&stream, s, "invalid_client", "wrong client secret");
            }
            match req.grant() {
                Some(DEVICE_GRANT) => {
                    if req.param("device_code").is_none()
                        || req.param("device_code") != s.device_code.as_deref()
                    {
                        return oauth_error(&stream, s, "invalid_grant", "unknown device code");
                    }
                    match s.device_steps.pop_front().unwrap_or("grant") {
                        "grant" => {
                            s.device_code = None;
                            issue(&stream, s, true)
                        }
                        step => {
                            s.refusals.push(step.to_string());
                            write_json(
                                &stream,
                                "400 Bad Request",
                                serde_json::json!({ "error": step }),
                            )
                        }
                    }
                }
                Some("authorization_code") => {
                    let code = req.param("code").unwrap_or_default();
                    // One use only (RFC 6749 §4.1.2).
                    let Some(issued) = s.codes.remove(code) else {
                        return oauth_error(&stream, s, "invalid_grant", "unknown or used code");
                    };
                    let verifier = req.param("code_verifier").unwrap_or_default();
                    if issued.method != "S256" || s256(verifier) != issued.challenge {
                        return oauth_error(
                            &stream,
                            s,
                            "invalid_grant",
                            "PKCE verification failed",
                        );
                    }
                    if !(43..=128).contains(&verifier.len()) {
                        return oauth_error(&stream, s, "invalid_grant", "verifier length");
                    }
                    if req.param("redirect_uri") != Some(issued.redirect_uri.as_str()) {
                        return oauth_error(&stream, s, "invalid_grant", "redirect_uri mismatch");
                    }
                    if issued.client_id != CLIENT_ID {
                        return oauth_error(&stream, s, "invalid_grant", "client mismatch");
                    }
                    issue(&stream, s, true)
                }
                Some("refresh_token") => {
                    let given = req.param("refresh_token");
                    if !s.refresh_valid || given.is_none() || given != s.refresh.as_deref() {
                        return oauth_error(
                            &stream,
                            s,
                            "invalid_grant",
                            "the refresh token is expired or revoked",
                        );
                    }
                    let rotate = s.rotate;
                    issue(&stream, s, rotate)
                }
                _ => oauth_error(&stream, s, "unsupported_grant_type", "unknown grant"),
            }
        }
        _ => write_http(&stream, "404 Not Found", &[], "not found"),
    }
}

// ---- a browser ------------------------------------------------------------------------

/// What a GET answered.
pub struct Page {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

/// A GET of an `http://127.0.0.1:PORT/...` address, as a browser would.
pub fn http_get(url: &str) -> Page {
    let rest = url.strip_prefix("http://").expect("an http address");
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let mut s = TcpStream::connect(authority).expect("connect for GET");
    s.set_read_timeout(Some(IO_WAIT)).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: test-browser\r\nAccept: text/html\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            // A close with unread data comes as a reset; keep what came.
            Err(_) => break,
        }
    }
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Page {
        status,
        headers,
        body: body.to_string(),
    }
}
