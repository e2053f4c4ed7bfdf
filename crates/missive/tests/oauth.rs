//! OAuth2 end to end: the real `missive` binary, with a HOME, XDG_CONFIG_HOME
//! and XDG_STATE_HOME of its own, signs in against a mock authorization
//! server written here (device authorization grant, authorization code with
//! PKCE and a loopback redirect), refreshes and rotates tokens, and sends
//! with XOAUTH2 to a small SMTP server that accepts only the mock's current
//! access token. Every run is checked for leaked secrets: no access token,
//! refresh token, client secret, authorization code, device code or PKCE
//! verifier may appear in what missive prints (except the token that
//! `account token` prints on stdout, because it was asked for).

#[path = "common/support.rs"]
mod support;

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command as Process, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{mpsc, Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::{STANDARD as B64, URL_SAFE_NO_PAD as B64URL};
use base64::Engine;
use missive_smtp::command::{CommandLine, CommandParser};
use missive_smtp::Command;
use support::{collect, TempDir};

const ACCOUNT: &str = "work";
const USER: &str = "alice@example.test";
const TO: &str = "bob@example.test";
const CLIENT_ID: &str = "missive-test-client";
const CLIENT_SECRET: &str = "CS-client-secret-5d1c7e9a0b";
const SCOPES: &str = "smtp.send offline_access";
const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
const USER_CODE: &str = "WDJB-MJHT";
/// The longest one run of `missive` may take before it is killed.
const RUN_DEADLINE: Duration = Duration::from_secs(60);
/// The longest the servers here wait for bytes.
const IO_WAIT: Duration = Duration::from_secs(10);

// ---- small helpers ------------------------------------------------------------------

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A string no other run or test will produce, for tokens and codes.
fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{prefix}-{}-{n}-{nanos:08x}Zq", std::process::id())
}

fn pct(s: &str) -> String {
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
fn parse_form(s: &str) -> Vec<(String, String)> {
    s.split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => (unpct(k), unpct(v)),
            None => (unpct(kv), String::new()),
        })
        .collect()
}

fn lookup<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// BASE64URL(SHA256(verifier)), RFC 7636 §4.2.
fn s256(verifier: &str) -> String {
    B64URL.encode(ring::digest::digest(
        &ring::digest::SHA256,
        verifier.as_bytes(),
    ))
}

// ---- the mock authorization server ---------------------------------------------------

/// One HTTP request the mock received.
#[derive(Debug, Clone)]
struct Req {
    at: Instant,
    method: String,
    path: String,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    form: Vec<(String, String)>,
}

impl Req {
    fn param(&self, key: &str) -> Option<&str> {
        lookup(&self.form, key).or_else(|| lookup(&self.query, key))
    }

    fn header(&self, key: &str) -> Option<&str> {
        lookup(&self.headers, &key.to_ascii_lowercase())
    }

    fn grant(&self) -> Option<&str> {
        self.param("grant_type")
    }
}

/// What the authorization endpoint handed out for a code.
#[derive(Debug, Clone)]
struct Issued {
    challenge: String,
    method: String,
    redirect_uri: String,
    client_id: String,
}

/// The mock's state: what it issued, what is valid, what it was sent.
#[derive(Debug)]
struct AuthState {
    port: u16,
    requests: Vec<Req>,
    /// The device flow: `interval` in the device answer, and the answers to
    /// successive polls (an error code, or "grant").
    device_interval: Option<u64>,
    device_steps: VecDeque<&'static str>,
    device_code: Option<String>,
    codes: HashMap<String, Issued>,
    /// The current access token and whether the SMTP server accepts it.
    access: Option<String>,
    access_valid: bool,
    /// The current refresh token and whether the token endpoint accepts it.
    refresh: Option<String>,
    refresh_valid: bool,
    /// A refresh answer carries a new refresh token.
    rotate: bool,
    expires_in: u64,
    /// Every secret handed out or received (tokens, codes, verifiers).
    secrets: Vec<String>,
    /// Why the token endpoint last refused, for failure messages.
    refusals: Vec<String>,
}

/// A minimal HTTP/1.1 authorization server on 127.0.0.1.
struct MockAuth {
    port: u16,
    state: Arc<Mutex<AuthState>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl MockAuth {
    fn start() -> MockAuth {
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

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn state(&self) -> MutexGuard<'_, AuthState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn requests(&self) -> Vec<Req> {
        self.state().requests.clone()
    }

    fn token_requests(&self) -> Vec<Req> {
        self.requests()
            .into_iter()
            .filter(|r| r.path == "/token")
            .collect()
    }

    fn secrets(&self) -> Vec<String> {
        self.state().secrets.clone()
    }

    fn access(&self) -> String {
        self.state()
            .access
            .clone()
            .expect("an access token was issued")
    }

    fn refresh(&self) -> String {
        self.state()
            .refresh
            .clone()
            .expect("a refresh token was issued")
    }

    /// Tokens issued earlier (the test writes them to the store itself).
    fn set_tokens(&self, access: &str, refresh: &str) {
        let mut s = self.state();
        s.access = Some(access.to_string());
        s.access_valid = true;
        s.refresh = Some(refresh.to_string());
        s.refresh_valid = true;
        s.secrets.push(access.to_string());
        s.secrets.push(refresh.to_string());
    }

    /// The device flow: the answers to successive polls.
    fn device_script(&self, interval: Option<u64>, steps: &[&'static str]) {
        let mut s = self.state();
        s.device_interval = interval;
        s.device_steps = steps.iter().copied().collect();
    }

    /// A validator for the SMTP server: the mock's current, unrevoked access token.
    fn validator(&self) -> Validator {
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
    let access = unique("AT");
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
        let refresh = unique("RT");
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
            let code = unique("CODE");
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
            let device_code = unique("DEVICE");
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
struct Page {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

/// A GET of an `http://127.0.0.1:PORT/...` address, as a browser would.
fn http_get(url: &str) -> Page {
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

// ---- the SMTP server -------------------------------------------------------------------

type Validator = Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// One AUTH attempt the SMTP server saw.
#[derive(Debug, Clone)]
struct AuthAttempt {
    connection: usize,
    user: String,
    token: String,
    accepted: bool,
    /// After the error challenge: the client's line (empty, as XOAUTH2 wants).
    answer_to_challenge: Option<String>,
}

#[derive(Debug, Default, Clone)]
struct SmtpLog {
    connections: usize,
    /// Every line received, with its connection number (AUTH data redacted).
    lines: Vec<(usize, String)>,
    auths: Vec<AuthAttempt>,
    messages: Vec<String>,
}

/// An SMTP server offering only AUTH XOAUTH2, accepting only the tokens its
/// validator accepts; any number of connections, one after the other.
struct SmtpServer {
    port: u16,
    log: Arc<Mutex<SmtpLog>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl SmtpServer {
    fn start(valid: Validator) -> SmtpServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind smtp");
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let log = Arc::new(Mutex::new(SmtpLog::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (lg, sp) = (log.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !sp.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((s, _)) => {
                        let n = {
                            let mut l = lg.lock().unwrap();
                            l.connections += 1;
                            l.connections
                        };
                        smtp_session(s, n, &lg, &valid);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(5))
                    }
                    Err(_) => return,
                }
            }
        });
        SmtpServer {
            port,
            log,
            stop,
            thread: Some(thread),
        }
    }

    fn log(&self) -> SmtpLog {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct LineReader {
    stream: TcpStream,
    parser: CommandParser,
}

impl LineReader {
    fn line(&mut self) -> Option<String> {
        loop {
            match self.parser.next_line() {
                Some(CommandLine::Line(l)) => {
                    return Some(String::from_utf8_lossy(&l).into_owned())
                }
                Some(_) => return Some("<malformed>".into()),
                None => {}
            }
            let mut buf = [0u8; 8192];
            match self.stream.read(&mut buf) {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.parser.feed(&buf[..n]),
            }
        }
    }

    fn send(&mut self, s: &str) {
        let _ = self.stream.write_all(s.as_bytes());
        let _ = self.stream.flush();
    }
}

/// `user=U\x01auth=Bearer T\x01\x01` → (U, T).
fn decode_xoauth2(b64: &str) -> Option<(String, String)> {
    let raw = String::from_utf8(B64.decode(b64.trim()).ok()?).ok()?;
    let rest = raw.strip_suffix("\x01\x01")?;
    let (user, auth) = rest.split_once('\x01')?;
    Some((
        user.strip_prefix("user=")?.to_string(),
        auth.strip_prefix("auth=Bearer ")?.to_string(),
    ))
}

fn smtp_session(stream: TcpStream, n: usize, log: &Arc<Mutex<SmtpLog>>, valid: &Validator) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(IO_WAIT));
    let mut c = LineReader {
        stream,
        parser: CommandParser::new(),
    };
    let record = |line: &str| log.lock().unwrap().lines.push((n, line.to_string()));
    c.send("220 smtp.test ESMTP oauth test server\r\n");
    let mut authenticated = false;
    while let Some(line) = c.line() {
        let cmd = match Command::parse(line.as_bytes()) {
            Ok(cmd) => cmd,
            Err(_) => {
                record(&line);
                c.send("500 5.5.2 syntax error\r\n");
                continue;
            }
        };
        record(&cmd.redacted());
        match cmd {
            Command::Ehlo(_) => c.send("250-smtp.test\r\n250-AUTH XOAUTH2\r\n250 8BITMIME\r\n"),
            Command::Helo(_) => c.send("250 smtp.test\r\n"),
            Command::Auth { mechanism, initial } => {
                if !mechanism.eq_ignore_ascii_case("XOAUTH2") {
                    c.send("504 5.5.4 unrecognized authentication type\r\n");
                    continue;
                }
                let initial = match initial {
                    Some(i) => i,
                    None => {
                        c.send("334 \r\n");
                        match c.line() {
                            Some(l) => l,
                            None => return,
                        }
                    }
                };
                let (user, token) = decode_xoauth2(&initial).unwrap_or_default();
                let ok = user == USER && valid(&token);
                let mut attempt = AuthAttempt {
                    connection: n,
                    user,
                    token,
                    accepted: ok,
                    answer_to_challenge: None,
                };
                if ok {
                    authenticated = true;
                    c.send("235 2.7.0 Accepted\r\n");
                } else {
                    // Google's and Microsoft's way: an error challenge, then 535.
                    let err = B64.encode(
                        r#"{"status":"401","schemes":"Bearer","scope":"https://mail.google.com/"}"#,
                    );
                    c.send(&format!("334 {err}\r\n"));
                    attempt.answer_to_challenge = c.line();
                    c.send("535 5.7.8 Username and Password not accepted\r\n");
                }
                log.lock().unwrap().auths.push(attempt);
            }
            Command::Mail { .. } if !authenticated => {
                c.send("530 5.7.0 Authentication required\r\n")
            }
            Command::Mail { .. } | Command::Rcpt { .. } => c.send("250 2.1.0 Ok\r\n"),
            Command::Data => {
                c.send("354 End data with <CR><LF>.<CR><LF>\r\n");
                let mut body = String::new();
                loop {
                    let Some(l) = c.line() else { return };
                    if l == "." {
                        break;
                    }
                    body.push_str(l.strip_prefix('.').unwrap_or(&l));
                    body.push_str("\r\n");
                }
                log.lock().unwrap().messages.push(body);
                c.send("250 2.0.0 Ok: queued as OAUTHQ1\r\n");
            }
            Command::Rset | Command::Noop => c.send("250 2.0.0 Ok\r\n"),
            Command::Quit => {
                c.send("221 2.0.0 Bye\r\n");
                return;
            }
            _ => c.send("502 5.5.2 command not recognized\r\n"),
        }
    }
}

// ---- an isolated environment and the binary ----------------------------------------------

/// HOME, XDG_CONFIG_HOME and XDG_STATE_HOME of one test; removed when dropped.
struct Env {
    root: TempDir,
}

/// How a run of `missive` ended.
struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

impl fmt::Display for Out {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Kills a child that is still running when the test gives up.
struct Running(Option<Child>);

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(c) = self.0.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Env {
    fn new(tag: &str) -> Env {
        let root = TempDir::new_in(
            Path::new(env!("CARGO_TARGET_TMPDIR")),
            &format!("oauth-{tag}"),
        );
        for d in ["home", "config", "state"] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        Env { root }
    }

    fn config_path(&self) -> PathBuf {
        self.root.join("config/missive/config.toml")
    }

    fn token_dir(&self) -> PathBuf {
        self.root.join("state/missive/tokens")
    }

    fn token_path(&self) -> PathBuf {
        self.token_dir().join(format!("{ACCOUNT}.json"))
    }

    /// The account `work` with a custom provider pointing at `mock`.
    fn configure(&self, mock: &MockAuth) {
        let text = format!(
            "[accounts.{ACCOUNT}]\nuser = \"{USER}\"\nfrom = \"{USER}\"\n\n\
             [accounts.{ACCOUNT}.oauth]\nprovider = \"custom\"\nclient_id = \"{CLIENT_ID}\"\n\
             client_secret = \"{CLIENT_SECRET}\"\nscopes = \"{SCOPES}\"\n\
             authorize_url = \"{}\"\ntoken_url = \"{}\"\ndevice_url = \"{}\"\n",
            mock.url("/authorize"),
            mock.url("/token"),
            mock.url("/device"),
        );
        let path = self.config_path();
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        set_mode(&path, 0o600);
    }

    /// Writes the token store by hand: a file of `mode` in a 0700 directory.
    fn store_tokens(
        &self,
        access: Option<&str>,
        refresh: Option<&str>,
        expires_at: u64,
        mode: u32,
    ) {
        let dir = self.token_dir();
        std::fs::create_dir_all(&dir).unwrap();
        set_mode(&dir, 0o700);
        let v = serde_json::json!({
            "access_token": access,
            "refresh_token": refresh,
            "expires_at": expires_at,
        });
        std::fs::write(self.token_path(), v.to_string()).unwrap();
        set_mode(&self.token_path(), mode);
    }

    /// The token store as JSON.
    fn stored(&self) -> serde_json::Value {
        let text = std::fs::read_to_string(self.token_path()).expect("the token file exists");
        serde_json::from_str(&text).expect("the token file is JSON")
    }

    fn command(&self, args: &[&str]) -> Process {
        let mut cmd = Process::new(env!("CARGO_BIN_EXE_missive"));
        cmd.args(args)
            .env("HOME", self.root.join("home"))
            .env("XDG_CONFIG_HOME", self.root.join("config"))
            .env("XDG_STATE_HOME", self.root.join("state"));
        for (k, _) in std::env::vars_os() {
            let k = k.to_string_lossy().into_owned();
            if k.starts_with("MISSIVE_") || k.to_ascii_lowercase().ends_with("_proxy") {
                cmd.env_remove(&k);
            }
        }
        cmd.env("NO_PROXY", "127.0.0.1,localhost")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    /// Runs `missive ARGS` to its end (killed, and the test failed, after a minute).
    fn run(&self, args: &[&str]) -> Out {
        let child = self.command(args).spawn().expect("spawn missive");
        finish(Running(Some(child)), None)
    }

    /// `missive send` through `smtp` with the account `work`, and `extra` options.
    fn send(&self, smtp: &SmtpServer, extra: &[&str]) -> Out {
        let server = format!("127.0.0.1:{}", smtp.port);
        let mut args = vec![
            "send",
            "--account",
            ACCOUNT,
            "--server",
            &server,
            "--tls",
            "none",
            "--allow-plaintext-auth",
            "--ehlo",
            "client.test",
            "--from",
            USER,
            "--to",
            TO,
            "--subject",
            "oauth test",
            "--body",
            "Hello over XOAUTH2.\n",
        ];
        args.extend_from_slice(extra);
        self.run(&args)
    }
}

/// Waits for the child (killed, and the test failed, after a minute);
/// `stderr_thread`: a thread already reading its stderr.
fn finish(mut running: Running, stderr_thread: Option<JoinHandle<String>>) -> Out {
    let child = running.0.as_mut().unwrap();
    let f = collect(child, stderr_thread, Instant::now(), RUN_DEADLINE);
    running.0 = None;
    let f = f.expect_finished(&"missive", RUN_DEADLINE);
    Out {
        code: f.code().unwrap_or(-1),
        stdout: f.stdout,
        stderr: f.stderr,
    }
}

/// A running `missive` whose stderr is read line by line as it comes.
struct Live {
    running: Running,
    lines: mpsc::Receiver<String>,
    stderr: Option<JoinHandle<String>>,
}

impl Live {
    fn spawn(env: &Env, args: &[&str]) -> Live {
        let mut child = env.command(args).spawn().expect("spawn missive");
        let err = child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel();
        let t = std::thread::spawn(move || {
            let mut all = String::new();
            for line in BufReader::new(err).lines() {
                let Ok(line) = line else { break };
                all.push_str(&line);
                all.push('\n');
                let _ = tx.send(line);
            }
            all
        });
        Live {
            running: Running(Some(child)),
            lines: rx,
            stderr: Some(t),
        }
    }

    /// The first stderr line that starts with `prefix` (waiting up to 10 s).
    fn line_starting(&mut self, prefix: &str) -> String {
        let deadline = Instant::now() + IO_WAIT;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) if l.starts_with(prefix) => return l,
                Ok(l) => seen.push(l),
                Err(_) => panic!("no stderr line starting with {prefix:?}; saw {seen:?}"),
            }
        }
    }

    fn finish(mut self) -> Out {
        let t = self.stderr.take();
        finish(std::mem::replace(&mut self.running, Running(None)), t)
    }
}

fn set_mode(path: &std::path::Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn mode_of(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// No secret in stdout or stderr.
fn assert_no_secrets(out: &Out, secrets: &[String]) {
    assert_no_secrets_in(&out.stdout, "stdout", secrets, out);
    assert_no_secrets_in(&out.stderr, "stderr", secrets, out);
}

fn assert_no_secrets_in(text: &str, what: &str, secrets: &[String], out: &Out) {
    for s in secrets {
        assert!(
            !text.contains(s.as_str()),
            "a secret ({}…) appears on {what}\n{out}",
            &s[..s.len().min(6)]
        );
    }
}

/// Signs in with the device flow (no waiting: interval 0, granted at once).
fn login_device(env: &Env, mock: &MockAuth) {
    mock.device_script(Some(0), &["grant"]);
    let out = env.run(&["account", "login", ACCOUNT]);
    assert_eq!(out.code, 0, "login\n{out}");
    assert_no_secrets(&out, &mock.secrets());
}

// ---- device authorization grant (RFC 8628) ----------------------------------------------

#[test]
fn device_flow_pending_then_slow_down_then_tokens() {
    let env = Env::new("device-ok");
    let mock = MockAuth::start();
    env.configure(&mock);
    mock.device_script(Some(1), &["authorization_pending", "slow_down", "grant"]);
    let started = Instant::now();
    let out = env.run(&["account", "login", ACCOUNT, "--flow", "device"]);
    let took = started.elapsed();
    assert_eq!(out.code, 0, "{out}");

    // The user is told where to go and what to type.
    let verification = mock.url("/activate");
    assert!(
        out.stderr.contains(&verification),
        "no verification URL\n{out}"
    );
    assert!(out.stderr.contains(USER_CODE), "no user code\n{out}");
    assert!(out.stderr.contains("signed in"), "{out}");

    let reqs = mock.requests();
    let device: Vec<&Req> = reqs.iter().filter(|r| r.path == "/device").collect();
    assert_eq!(device.len(), 1, "{reqs:#?}");
    assert_eq!(device[0].method, "POST");
    assert_eq!(device[0].param("client_id"), Some(CLIENT_ID));
    assert_eq!(device[0].param("scope"), Some(SCOPES));
    assert!(
        device[0]
            .header("content-type")
            .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded")),
        "{:?}",
        device[0].headers
    );

    // Three polls, each with the device_code grant and the issued device code.
    let polls: Vec<&Req> = reqs.iter().filter(|r| r.path == "/token").collect();
    assert_eq!(
        polls.len(),
        3,
        "pending, slow_down, then tokens: {polls:#?}"
    );
    let issued_device_code = mock
        .secrets()
        .into_iter()
        .find(|s| s.starts_with("DEVICE-"))
        .unwrap();
    for p in &polls {
        assert_eq!(p.method, "POST");
        assert_eq!(p.grant(), Some(DEVICE_GRANT), "{p:#?}");
        assert_eq!(p.param("device_code"), Some(issued_device_code.as_str()));
        assert_eq!(p.param("client_id"), Some(CLIENT_ID));
    }
    // The interval is honoured, and slow_down adds 5 s to it (RFC 8628 §3.5).
    let gap = |a: &Req, b: &Req| b.at.duration_since(a.at);
    assert!(
        gap(device[0], polls[0]) >= Duration::from_millis(900),
        "first poll came before the interval: {:?}",
        gap(device[0], polls[0])
    );
    assert!(
        gap(polls[0], polls[1]) >= Duration::from_millis(900),
        "{:?}",
        gap(polls[0], polls[1])
    );
    assert!(
        gap(polls[1], polls[2]) >= Duration::from_millis(5900),
        "slow_down did not add 5 s: {:?}",
        gap(polls[1], polls[2])
    );
    assert!(took < Duration::from_secs(30), "{took:?}");

    // The tokens are stored privately.
    let stored = env.stored();
    assert_eq!(stored["access_token"], mock.access().as_str());
    assert_eq!(stored["refresh_token"], mock.refresh().as_str());
    let exp = stored["expires_at"].as_u64().unwrap();
    assert!(
        exp > now() + 3000 && exp <= now() + 3600,
        "expires_at {exp}"
    );
    assert_eq!(mode_of(&env.token_path()), 0o600);
    assert_eq!(mode_of(&env.token_dir()), 0o700);
    assert_no_secrets(&out, &mock.secrets());

    // The fresh token is handed out without asking the mock again.
    let before = mock.requests().len();
    let tok = env.run(&["account", "token", ACCOUNT]);
    assert_eq!(tok.code, 0, "{tok}");
    assert_eq!(tok.stdout.trim_end(), mock.access());
    assert_eq!(
        mock.requests().len(),
        before,
        "a valid token needs no request"
    );
    assert_no_secrets_in(&tok.stderr, "stderr", &mock.secrets(), &tok);
}

#[test]
fn device_flow_expired_token_says_to_sign_in_again() {
    let env = Env::new("device-expired");
    let mock = MockAuth::start();
    env.configure(&mock);
    mock.device_script(Some(0), &["authorization_pending", "expired_token"]);
    let out = env.run(&["account", "login", ACCOUNT]);
    assert_eq!(out.code, 77, "{out}");
    assert!(
        out.stderr
            .contains(&format!("missive account login {ACCOUNT}")),
        "{out}"
    );
    assert!(out.stderr.contains("expired"), "{out}");
    assert!(out.stderr.contains(USER_CODE), "{out}");
    assert_eq!(mock.token_requests().len(), 2);
    assert!(!env.token_path().exists(), "nothing may be stored");
    assert_no_secrets(&out, &mock.secrets());
}

#[test]
fn device_flow_access_denied_is_declined_exit_77() {
    let env = Env::new("device-denied");
    let mock = MockAuth::start();
    env.configure(&mock);
    mock.device_script(Some(0), &["access_denied"]);
    let out = env.run(&["account", "login", ACCOUNT]);
    assert_eq!(out.code, 77, "{out}");
    assert!(out.stderr.contains("declined"), "{out}");
    assert_eq!(mock.token_requests().len(), 1);
    assert!(!env.token_path().exists(), "nothing may be stored");
    assert_no_secrets(&out, &mock.secrets());
}

// ---- authorization code with PKCE and a loopback redirect ----------------------------------

/// Starts `account login --flow browser --no-browser` and reads the address it prints.
fn start_browser_login(env: &Env, mock: &MockAuth) -> (Live, String, Vec<(String, String)>) {
    let mut live = Live::spawn(
        env,
        &[
            "account",
            "login",
            ACCOUNT,
            "--flow",
            "browser",
            "--no-browser",
        ],
    );
    let url = live.line_starting(&mock.url("/authorize"));
    let query = parse_form(url.split_once('?').expect("a query").1);
    (live, url, query)
}

#[test]
fn browser_flow_with_pkce_signs_in() {
    let env = Env::new("browser-ok");
    let mock = MockAuth::start();
    env.configure(&mock);
    let (live, url, q) = start_browser_login(&env, &mock);

    let get = |k: &str| lookup(&q, k).unwrap_or_default().to_string();
    assert_eq!(get("response_type"), "code", "{url}");
    assert_eq!(get("client_id"), CLIENT_ID, "{url}");
    assert_eq!(get("scope"), SCOPES, "{url}");
    assert_eq!(get("code_challenge_method"), "S256", "{url}");
    assert_eq!(
        get("code_challenge").len(),
        43,
        "a SHA-256 in base64url: {url}"
    );
    assert!(get("state").len() >= 16, "state: {url}");
    let redirect = get("redirect_uri");
    let port: u16 = redirect
        .strip_prefix("http://127.0.0.1:")
        .and_then(|r| r.strip_suffix('/'))
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("redirect_uri is not http://127.0.0.1:PORT/: {redirect:?}"));
    assert_ne!(port, 0);
    assert!(
        !url.contains(CLIENT_SECRET),
        "the client secret is in the address"
    );

    // The browser: the authorization endpoint redirects back with a code.
    let authz = http_get(&url);
    assert_eq!(authz.status, 302, "{}", authz.body);
    let location = lookup(&authz.headers, "location").unwrap().to_string();
    assert!(location.starts_with(&redirect), "{location}");
    let back = http_get(&location);
    assert_eq!(back.status, 200, "{}", back.body);
    assert!(
        back.body.to_ascii_lowercase().contains("close this tab"),
        "{}",
        back.body
    );

    let out = live.finish();
    assert_eq!(out.code, 0, "{out}\nrefusals: {:?}", mock.state().refusals);

    // The code was exchanged with the verifier and the same redirect_uri.
    let t = mock.token_requests();
    assert_eq!(t.len(), 1, "{t:#?}");
    assert_eq!(t[0].grant(), Some("authorization_code"));
    assert_eq!(t[0].param("redirect_uri"), Some(redirect.as_str()));
    assert_eq!(t[0].param("client_id"), Some(CLIENT_ID));
    assert_eq!(t[0].param("client_secret"), Some(CLIENT_SECRET));
    let verifier = t[0].param("code_verifier").unwrap();
    assert_eq!(s256(verifier), get("code_challenge"), "PKCE S256");
    assert!(mock.state().codes.is_empty(), "the code was used");
    let code = lookup(&parse_form(location.split_once('?').unwrap().1), "code")
        .unwrap()
        .to_string();
    assert_eq!(t[0].param("code"), Some(code.as_str()));

    let stored = env.stored();
    assert_eq!(stored["access_token"], mock.access().as_str());
    assert_eq!(stored["refresh_token"], mock.refresh().as_str());
    assert_eq!(mode_of(&env.token_path()), 0o600);
    assert_eq!(mode_of(&env.token_dir()), 0o700);
    assert_no_secrets(&out, &mock.secrets());
    for s in mock.secrets() {
        assert!(!back.body.contains(&s), "a secret in the browser page");
    }
}

/// Drives a browser sign-in whose redirect carries a forged state.
fn forged_state_login(env: &Env, mock: &MockAuth) -> (Out, Page) {
    let (live, url, _) = start_browser_login(env, mock);
    let authz = http_get(&url);
    assert_eq!(authz.status, 302);
    let location = lookup(&authz.headers, "location").unwrap().to_string();
    let (base, query) = location.split_once('?').unwrap();
    let forged: Vec<String> = parse_form(query)
        .into_iter()
        .map(|(k, v)| match k.as_str() {
            "state" => format!("state={}", pct("forged-state-0000")),
            _ => format!("{k}={}", pct(&v)),
        })
        .collect();
    let page = http_get(&format!("{base}?{}", forged.join("&")));
    (live.finish(), page)
}

#[test]
fn browser_flow_with_a_wrong_state_stores_nothing() {
    let env = Env::new("browser-state");
    let mock = MockAuth::start();
    env.configure(&mock);
    let (out, page) = forged_state_login(&env, &mock);
    assert_eq!(out.code, 77, "{out}");
    assert!(out.stderr.contains("state"), "{out}");
    assert!(
        mock.token_requests().is_empty(),
        "a code from a forged redirect must not be exchanged"
    );
    assert!(!env.token_path().exists(), "nothing may be stored");
    assert!(
        !env.token_dir().exists() || std::fs::read_dir(env.token_dir()).unwrap().next().is_none()
    );
    assert!(page.status != 0, "the browser got an answer");
    assert_no_secrets(&out, &mock.secrets());
}

#[test]
fn browser_page_does_not_claim_success_for_a_wrong_state() {
    let env = Env::new("browser-state-page");
    let mock = MockAuth::start();
    env.configure(&mock);
    let (out, page) = forged_state_login(&env, &mock);
    assert_eq!(out.code, 77, "{out}");
    assert!(
        !page.body.contains("Signed in"),
        "the browser is told the refused sign-in worked: {} {}",
        page.status,
        page.body
    );
    assert_ne!(page.status, 200, "{}", page.body);
}

// ---- refresh -------------------------------------------------------------------------------

#[test]
fn refresh_rotates_the_refresh_token() {
    let env = Env::new("refresh");
    let mock = MockAuth::start();
    env.configure(&mock);
    let (old_access, old_refresh) = (unique("AT-old"), unique("RT-old"));
    mock.set_tokens(&old_access, &old_refresh);
    env.store_tokens(Some(&old_access), Some(&old_refresh), now() - 10, 0o600);

    let out = env.run(&["account", "token", ACCOUNT]);
    assert_eq!(out.code, 0, "{out}\nrefusals: {:?}", mock.state().refusals);
    let t = mock.token_requests();
    assert_eq!(t.len(), 1, "{t:#?}");
    assert_eq!(t[0].grant(), Some("refresh_token"));
    assert_eq!(t[0].param("refresh_token"), Some(old_refresh.as_str()));
    assert_eq!(t[0].param("client_id"), Some(CLIENT_ID));
    assert_eq!(t[0].param("client_secret"), Some(CLIENT_SECRET));
    assert_eq!(t[0].param("scope"), Some(SCOPES));

    let (new_access, new_refresh) = (mock.access(), mock.refresh());
    assert_ne!(new_access, old_access);
    assert_ne!(new_refresh, old_refresh);
    assert_eq!(out.stdout, format!("{new_access}\n"));
    assert!(!out.stdout.contains(&new_refresh) && !out.stdout.contains(CLIENT_SECRET));
    assert_no_secrets_in(&out.stderr, "stderr", &mock.secrets(), &out);

    let stored = env.stored();
    assert_eq!(stored["access_token"], new_access.as_str());
    assert_eq!(stored["refresh_token"], new_refresh.as_str(), "rotated");
    assert!(stored["expires_at"].as_u64().unwrap() > now() + 3000);
    assert_eq!(mode_of(&env.token_path()), 0o600);

    // Within the validity: the same token, and no request.
    let again = env.run(&["account", "token", ACCOUNT]);
    assert_eq!(again.code, 0, "{again}");
    assert_eq!(again.stdout, format!("{new_access}\n"));
    assert_eq!(
        mock.token_requests().len(),
        1,
        "no refresh for a valid token"
    );
    assert_no_secrets_in(&again.stderr, "stderr", &mock.secrets(), &again);
}

#[test]
fn refresh_without_rotation_keeps_the_refresh_token() {
    let env = Env::new("refresh-keep");
    let mock = MockAuth::start();
    env.configure(&mock);
    mock.state().rotate = false;
    let (old_access, old_refresh) = (unique("AT-old"), unique("RT-old"));
    mock.set_tokens(&old_access, &old_refresh);
    env.store_tokens(Some(&old_access), Some(&old_refresh), now() - 10, 0o600);
    let out = env.run(&["account", "token", ACCOUNT]);
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(out.stdout.trim_end(), mock.access());
    let stored = env.stored();
    assert_eq!(stored["refresh_token"], old_refresh.as_str());
    assert_eq!(stored["access_token"], mock.access().as_str());
}

#[test]
fn refresh_when_the_token_expires_within_60_seconds() {
    let env = Env::new("refresh-margin");
    let mock = MockAuth::start();
    env.configure(&mock);
    let (access, refresh) = (unique("AT-cur"), unique("RT-cur"));
    mock.set_tokens(&access, &refresh);

    // Five minutes left: used as it is.
    env.store_tokens(Some(&access), Some(&refresh), now() + 300, 0o600);
    let out = env.run(&["account", "token", ACCOUNT]);
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(out.stdout.trim_end(), access);
    assert!(mock.token_requests().is_empty());

    // Thirty seconds left: refreshed.
    env.store_tokens(Some(&access), Some(&refresh), now() + 30, 0o600);
    let out = env.run(&["account", "token", ACCOUNT]);
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(mock.token_requests().len(), 1);
    assert_eq!(out.stdout.trim_end(), mock.access());
    assert_ne!(out.stdout.trim_end(), access);

    // No access token at all: refreshed.
    let refresh = mock.refresh();
    env.store_tokens(None, Some(&refresh), now() + 3000, 0o600);
    let out = env.run(&["account", "token", ACCOUNT]);
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(mock.token_requests().len(), 2);
    assert_eq!(out.stdout.trim_end(), mock.access());
}

#[test]
fn invalid_grant_on_refresh_exits_77_with_the_login_command() {
    let env = Env::new("invalid-grant");
    let mock = MockAuth::start();
    env.configure(&mock);
    let (access, refresh) = (unique("AT-old"), unique("RT-revoked"));
    mock.set_tokens(&access, &refresh);
    mock.state().refresh_valid = false;
    env.store_tokens(Some(&access), Some(&refresh), now() - 100, 0o600);
    let before = std::fs::read_to_string(env.token_path()).unwrap();

    let out = env.run(&["account", "token", ACCOUNT]);
    assert_eq!(out.code, 77, "{out}");
    assert!(
        out.stderr
            .contains(&format!("missive account login {ACCOUNT}")),
        "{out}"
    );
    assert!(out.stderr.contains("invalid_grant"), "{out}");
    assert!(out.stdout.is_empty(), "no token on stdout: {out}");
    assert_eq!(mock.token_requests().len(), 1);
    assert_eq!(mock.token_requests()[0].grant(), Some("refresh_token"));
    assert_eq!(
        std::fs::read_to_string(env.token_path()).unwrap(),
        before,
        "the store is left as it was"
    );
    assert_no_secrets(&out, &mock.secrets());
}

#[test]
fn account_token_before_login_says_to_sign_in() {
    let env = Env::new("no-login");
    let mock = MockAuth::start();
    env.configure(&mock);
    let out = env.run(&["account", "token", ACCOUNT]);
    assert_eq!(out.code, 77, "{out}");
    assert!(
        out.stderr
            .contains(&format!("missive account login {ACCOUNT}")),
        "{out}"
    );
    assert!(mock.requests().is_empty());
}

// ---- the token store ------------------------------------------------------------------------

#[test]
fn a_token_file_others_can_read_is_refused() {
    let env = Env::new("mode");
    let mock = MockAuth::start();
    env.configure(&mock);
    let (access, refresh) = (unique("AT-open"), unique("RT-open"));
    mock.set_tokens(&access, &refresh);
    env.store_tokens(Some(&access), Some(&refresh), now() + 3000, 0o644);
    let out = env.run(&["account", "token", ACCOUNT]);
    assert_eq!(out.code, 78, "{out}");
    assert!(out.stderr.contains("chmod 600"), "{out}");
    assert!(
        out.stderr.contains(&env.token_path().display().to_string()),
        "the message names the file: {out}"
    );
    assert!(out.stdout.is_empty(), "{out}");
    assert!(mock.requests().is_empty());
    assert_no_secrets(&out, &mock.secrets());
    assert_eq!(
        mode_of(&env.token_path()),
        0o644,
        "left for the user to fix"
    );
}

#[test]
fn config_show_redacts_the_client_secret() {
    let env = Env::new("show");
    let mock = MockAuth::start();
    env.configure(&mock);
    for json in [false, true] {
        let mut args = vec!["config", "show", "--account", ACCOUNT];
        if json {
            args.push("--json");
        }
        let out = env.run(&args);
        assert_eq!(out.code, 0, "{out}");
        assert!(out.stdout.contains("OAuth2"), "{out}");
        assert!(out.stdout.contains("<redacted>"), "{out}");
        assert_no_secrets(&out, &mock.secrets());
    }
}

// ---- sending with XOAUTH2 -----------------------------------------------------------------------

#[test]
fn send_uses_the_stored_access_token() {
    let env = Env::new("send");
    let mock = MockAuth::start();
    env.configure(&mock);
    login_device(&env, &mock);
    let smtp = SmtpServer::start(mock.validator());

    let out = env.send(&smtp, &[]);
    assert_eq!(out.code, 0, "{out}\nsmtp: {:#?}", smtp.log());
    let log = smtp.log();
    assert_eq!(log.connections, 1);
    assert_eq!(log.auths.len(), 1, "{log:#?}");
    assert!(log.auths[0].accepted);
    assert_eq!(log.auths[0].user, USER);
    assert_eq!(log.auths[0].token, mock.access());
    assert_eq!(log.messages.len(), 1);
    assert!(log.messages[0].contains("Hello over XOAUTH2."));
    assert!(
        mock.token_requests().len() == 1,
        "only the sign-in: no refresh"
    );
    assert_no_secrets(&out, &mock.secrets());

    // -v shows the conversation, --json the report: neither shows a secret.
    let out = env.send(&smtp, &["-v"]);
    assert_eq!(out.code, 0, "{out}");
    assert!(out.stderr.contains("AUTH XOAUTH2"), "a transcript: {out}");
    assert_no_secrets(&out, &mock.secrets());
    let out = env.send(&smtp, &["--json", "-v"]);
    assert_eq!(out.code, 0, "{out}");
    let report: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON report");
    assert_eq!(report["authenticated"], true, "{out}");
    assert_no_secrets(&out, &mock.secrets());
    assert_eq!(smtp.log().connections, 3);
}

#[test]
fn send_refreshes_once_when_the_server_rejects_the_token() {
    let env = Env::new("send-refresh");
    let mock = MockAuth::start();
    env.configure(&mock);
    login_device(&env, &mock);
    let smtp = SmtpServer::start(mock.validator());
    let (revoked, refresh) = (mock.access(), mock.refresh());
    // Revoked at the server, while the stored token still looks valid.
    mock.state().access_valid = false;
    assert!(env.stored()["expires_at"].as_u64().unwrap() > now() + 3000);

    let out = env.send(&smtp, &["-v"]);
    assert_eq!(out.code, 0, "{out}\nsmtp: {:#?}", smtp.log());
    let log = smtp.log();
    assert_eq!(
        log.connections, 2,
        "a second connection after the refresh: {log:#?}"
    );
    assert_eq!(log.auths.len(), 2, "{log:#?}");
    assert!(!log.auths[0].accepted);
    assert_eq!(log.auths[0].connection, 1);
    assert_eq!(log.auths[0].token, revoked);
    assert_eq!(
        log.auths[0].answer_to_challenge.as_deref(),
        Some(""),
        "XOAUTH2 answers the error challenge with an empty line"
    );
    assert!(log.auths[1].accepted);
    assert_eq!(log.auths[1].connection, 2);
    assert_eq!(log.auths[1].token, mock.access());
    assert_ne!(log.auths[1].token, revoked);
    assert_eq!(log.messages.len(), 1, "sent once");

    let t = mock.token_requests();
    let refreshes: Vec<&Req> = t
        .iter()
        .filter(|r| r.grant() == Some("refresh_token"))
        .collect();
    assert_eq!(refreshes.len(), 1, "refreshed once: {t:#?}");
    assert_eq!(refreshes[0].param("refresh_token"), Some(refresh.as_str()));
    let stored = env.stored();
    assert_eq!(stored["access_token"], mock.access().as_str());
    assert_eq!(stored["refresh_token"], mock.refresh().as_str());
    assert_no_secrets(&out, &mock.secrets());
}

#[test]
fn send_refreshes_only_once_when_the_new_token_is_rejected_too() {
    let env = Env::new("send-twice");
    let mock = MockAuth::start();
    env.configure(&mock);
    login_device(&env, &mock);
    // A server that accepts no token at all.
    let smtp = SmtpServer::start(Arc::new(|_: &str| false));
    let out = env.send(&smtp, &["--json"]);
    assert_eq!(out.code, 77, "{out}");
    let log = smtp.log();
    assert_eq!(log.connections, 2, "one retry, not a loop: {log:#?}");
    assert!(log.messages.is_empty());
    let refreshes = mock
        .token_requests()
        .iter()
        .filter(|r| r.grant() == Some("refresh_token"))
        .count();
    assert_eq!(refreshes, 1);
    let report: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON report");
    assert_eq!(report["exit_code"], 77, "{out}");
    assert_no_secrets(&out, &mock.secrets());
}

#[test]
fn send_with_a_revoked_refresh_token_says_to_sign_in_again() {
    let env = Env::new("send-revoked");
    let mock = MockAuth::start();
    env.configure(&mock);
    login_device(&env, &mock);
    let smtp = SmtpServer::start(mock.validator());
    {
        let mut s = mock.state();
        s.access_valid = false;
        s.refresh_valid = false;
    }
    for extra in [&["-v"][..], &["--json", "-v"][..]] {
        let before = smtp.log().connections;
        let out = env.send(&smtp, extra);
        assert_eq!(out.code, 77, "{out}");
        assert!(
            out.stderr
                .contains(&format!("missive account login {ACCOUNT}")),
            "{out}"
        );
        assert_eq!(
            smtp.log().connections,
            before + 1,
            "no second connection without a new token"
        );
        if extra.contains(&"--json") {
            let report: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON report");
            assert_eq!(report["exit_code"], 77, "{out}");
            assert!(
                report["error"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("missive account login"),
                "{out}"
            );
        }
        assert_no_secrets(&out, &mock.secrets());
    }
    assert!(smtp.log().messages.is_empty());
}
