//! `missive serve` run as a real process on loopback, exercised by the real
//! `missive send` binary and by other clients (swaks, msmtp, Python smtplib,
//! raw TCP), so that a bug shared by our client and our server cannot hide.
//!
//! Every test starts its own server on free ports with its own Maildir in a
//! fresh temporary directory, and kills it when it ends ([`Server`]'s Drop).

#[path = "common/support.rs"]
mod support;

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use support::{run_finished, TempDir};

const MISSIVE: &str = env!("CARGO_BIN_EXE_missive");
/// Debian's python3 (smtplib is stdlib; any python3 would do).
const PYTHON: &str = "/usr/bin/python3";
/// Upper bound on one client run.
const RUN_LIMIT: Duration = Duration::from_secs(60);
const PASSWORD_VAR: &str = "MISSIVE_SERVE_TEST_PW";

// ---- helpers ---------------------------------------------------------------

/// A port that was free a moment ago on `ip`.
fn free_port(ip: &str) -> u16 {
    TcpListener::bind((ip, 0))
        .and_then(|l| l.local_addr())
        .unwrap_or_else(|e| panic!("cannot bind {ip}:0: {e}"))
        .port()
}

/// Where a server listens.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Listen {
    /// 127.0.0.1, STARTTLS offered.
    V4,
    /// [::1], STARTTLS offered.
    V6,
    /// 127.0.0.1 plain, plus 127.0.0.1 with implicit TLS.
    V4AndImplicit,
}

/// A running `missive serve`; killed on drop.
struct Server {
    child: Child,
    /// `127.0.0.1:PORT` or `[::1]:PORT` (STARTTLS offered).
    addr: String,
    /// The implicit-TLS listener, if any.
    tls_addr: Option<String>,
    maildir: PathBuf,
    stderr: Arc<Mutex<String>>,
    stdout: Arc<Mutex<String>>,
    _dir: TempDir,
}

impl Server {
    fn start(extra: &[&str]) -> Server {
        Server::start_on(Listen::V4, extra)
    }

    /// Starts the server on fresh ports and waits until it is ready (its CA
    /// written, "writing messages to" printed). Retries when a port was
    /// taken between choosing it and binding it.
    fn start_on(listen: Listen, extra: &[&str]) -> Server {
        let dir = TempDir::new("serve");
        let maildir = dir.path().join("mail");
        let mut last_err = String::new();
        for _attempt in 0..10 {
            let (ip, bracketed) = match listen {
                Listen::V6 => ("::1", "[::1]"),
                _ => ("127.0.0.1", "127.0.0.1"),
            };
            let addr = format!("{bracketed}:{}", free_port(ip));
            let tls_addr = (listen == Listen::V4AndImplicit)
                .then(|| format!("127.0.0.1:{}", free_port("127.0.0.1")));
            let mut cmd = Command::new(MISSIVE);
            cmd.arg("serve")
                .arg("--listen")
                .arg(&addr)
                .arg("--maildir")
                .arg(&maildir);
            if let Some(t) = &tls_addr {
                cmd.arg("--tls-listen").arg(t);
            }
            cmd.args(extra)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            let mut child = cmd
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {MISSIVE} serve: {e}"));
            let stderr = Arc::new(Mutex::new(String::new()));
            let stdout = Arc::new(Mutex::new(String::new()));
            let (tx, rx) = mpsc::channel::<String>();
            {
                let pipe = child.stderr.take().expect("stderr piped");
                let buf = stderr.clone();
                thread::spawn(move || {
                    for line in BufReader::new(pipe).lines() {
                        let Ok(line) = line else { break };
                        buf.lock().unwrap().push_str(&format!("{line}\n"));
                        let _ = tx.send(line);
                    }
                });
                let pipe = child.stdout.take().expect("stdout piped");
                let buf = stdout.clone();
                thread::spawn(move || {
                    for line in BufReader::new(pipe).lines() {
                        let Ok(line) = line else { break };
                        buf.lock().unwrap().push_str(&format!("{line}\n"));
                    }
                });
            }
            let deadline = Instant::now() + Duration::from_secs(20);
            let mut listening = 0;
            let mut ready = false;
            while Instant::now() < deadline {
                match rx.recv_timeout(Duration::from_millis(100)) {
                    Ok(line) => {
                        if line.contains("listening on") {
                            listening += 1;
                        }
                        if line.contains("writing messages to") {
                            ready = true;
                            break;
                        }
                    }
                    Err(mpsc::RecvTimeoutError::Timeout) => {}
                    Err(mpsc::RecvTimeoutError::Disconnected) => break,
                }
            }
            let wanted = if tls_addr.is_some() { 2 } else { 1 };
            if ready && listening == wanted {
                return Server {
                    child,
                    addr,
                    tls_addr,
                    maildir,
                    stderr,
                    stdout,
                    _dir: dir,
                };
            }
            let _ = child.kill();
            let _ = child.wait();
            last_err = stderr.lock().unwrap().clone();
            if !last_err.contains("cannot listen") {
                break;
            }
        }
        panic!("missive serve did not start: {last_err}");
    }

    fn ca(&self) -> PathBuf {
        self.maildir.join("missive-ca.pem")
    }

    fn ca_str(&self) -> String {
        self.ca().display().to_string()
    }

    fn port(&self) -> String {
        self.addr.rsplit_once(':').unwrap().1.to_string()
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    fn stdout(&self) -> String {
        self.stdout.lock().unwrap().clone()
    }

    /// Every message in new/, sorted by file name.
    fn messages(&self) -> Vec<Stored> {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(self.maildir.join("new"))
            .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.path()).collect())
            .unwrap_or_default();
        paths.sort();
        paths.into_iter().map(|p| Stored::read(&p)).collect()
    }

    /// Exactly one message in new/.
    fn one_message(&self) -> Stored {
        let mut m = self.messages();
        assert_eq!(
            m.len(),
            1,
            "expected exactly one message in {}; server stderr:\n{}",
            self.maildir.join("new").display(),
            self.stderr()
        );
        m.remove(0)
    }

    fn files_in(&self, sub: &str) -> usize {
        std::fs::read_dir(self.maildir.join(sub))
            .map(|rd| rd.count())
            .unwrap_or(0)
    }

    /// `missive send --server ADDR --cafile CA` (add the rest).
    fn send(&self) -> Vec<String> {
        vec![
            "send".into(),
            "--server".into(),
            self.addr.clone(),
            "--cafile".into(),
            self.ca_str(),
        ]
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A message file: the two envelope lines the server prepends, then the
/// message as received (dot-unstuffed).
#[derive(Debug)]
struct Stored {
    path: PathBuf,
    return_path: String,
    envelope_to: Vec<String>,
    message: Vec<u8>,
}

impl Stored {
    fn read(path: &Path) -> Stored {
        let bytes =
            std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        let mut rest: &[u8] = &bytes;
        let mut line = |prefix: &str| -> String {
            let end = rest
                .windows(2)
                .position(|w| w == b"\r\n")
                .unwrap_or_else(|| panic!("{}: no CRLF line", path.display()));
            let l = String::from_utf8_lossy(&rest[..end]).into_owned();
            rest = &rest[end + 2..];
            l.strip_prefix(prefix)
                .unwrap_or_else(|| panic!("{}: expected {prefix:?}, got {l:?}", path.display()))
                .to_string()
        };
        let rp = line("Return-Path: ");
        let to = line("X-Missive-Envelope-To: ");
        let return_path = rp
            .strip_prefix('<')
            .and_then(|s| s.strip_suffix('>'))
            .unwrap_or_else(|| panic!("Return-Path not in <>: {rp:?}"))
            .to_string();
        Stored {
            path: path.to_path_buf(),
            return_path,
            envelope_to: to.split(", ").map(str::to_string).collect(),
            message: rest.to_vec(),
        }
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.message).into_owned()
    }

    /// The header section (up to the blank line), unfolded.
    fn headers(&self) -> String {
        let t = self.text();
        let head = t.split("\r\n\r\n").next().unwrap_or_default().to_string();
        head.replace("\r\n ", " ").replace("\r\n\t", " ")
    }

    fn header(&self, name: &str) -> Option<String> {
        let prefix = format!("{}:", name.to_ascii_lowercase());
        self.headers()
            .split("\r\n")
            .find(|l| l.to_ascii_lowercase().starts_with(&prefix))
            .map(|l| l[prefix.len()..].trim().to_string())
    }

    /// The body: everything after the first blank line.
    fn body(&self) -> &[u8] {
        let i = self
            .message
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or_else(|| panic!("{}: no end of headers", self.path.display()));
        &self.message[i + 4..]
    }
}

/// What a finished process left.
#[derive(Debug)]
struct Out {
    code: i32,
    stdout: String,
    stderr: String,
    elapsed: Duration,
}

impl Out {
    fn show(&self) -> String {
        format!(
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }

    fn assert_code(&self, code: i32) -> &Out {
        assert_eq!(self.code, code, "{}", self.show());
        self
    }
}

/// Runs a command to its end (killing it, and failing, after `limit`),
/// capturing everything.
fn run(mut cmd: Command, stdin: Option<Vec<u8>>, limit: Duration) -> Out {
    let f = run_finished(&mut cmd, stdin, limit);
    Out {
        code: f.code().unwrap_or(-1),
        stdout: f.stdout,
        stderr: f.stderr,
        elapsed: f.elapsed,
    }
}

/// Runs `missive ARGS` with an optional password in the environment.
fn missive<S: AsRef<std::ffi::OsStr>>(args: &[S], password: Option<&str>) -> Out {
    let mut cmd = Command::new(MISSIVE);
    cmd.args(args);
    if let Some(pw) = password {
        cmd.env(PASSWORD_VAR, pw);
    }
    run(cmd, None, RUN_LIMIT)
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// CRLF line endings everywhere (LF and CRLF in, CRLF out).
fn crlf(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(b.len() + b.len() / 16);
    for (i, &c) in b.iter().enumerate() {
        if c == b'\n' && (i == 0 || b[i - 1] != b'\r') {
            out.push(b'\r');
        }
        out.push(c);
    }
    out
}

/// Asserts two byte strings are equal, reporting the first difference
/// rather than printing megabytes.
fn assert_bytes_eq(got: &[u8], want: &[u8], what: &str) {
    if got == want {
        return;
    }
    let i = got
        .iter()
        .zip(want)
        .position(|(a, b)| a != b)
        .unwrap_or(got.len().min(want.len()));
    let show = |b: &[u8]| {
        let s = i.saturating_sub(40);
        let e = (i + 40).min(b.len());
        format!("{:?}", String::from_utf8_lossy(&b[s.min(e)..e]))
    };
    panic!(
        "{what}: differ at byte {i} (got {} bytes, want {}):\n got: {}\nwant: {}",
        got.len(),
        want.len(),
        show(got),
        show(want)
    );
}

/// Index of the first transcript line starting with `prefix`.
fn line_index(transcript: &str, prefix: &str) -> usize {
    transcript
        .lines()
        .position(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no line starting with {prefix:?} in:\n{transcript}"))
}

/// Decodes a header value made of RFC 2047 `B` encoded words (UTF-8) and
/// plain words.
fn decode_words(value: &str) -> String {
    let mut out = String::new();
    let mut prev_encoded = false;
    for (i, w) in value.split_whitespace().enumerate() {
        let enc = w
            .strip_prefix("=?")
            .and_then(|r| r.strip_suffix("?="))
            .and_then(|r| {
                let mut p = r.splitn(3, '?');
                let (cs, e, text) = (p.next()?, p.next()?, p.next()?);
                (cs.eq_ignore_ascii_case("utf-8") && e.eq_ignore_ascii_case("b")).then_some(text)
            });
        match enc {
            Some(b) => {
                let bytes = B64
                    .decode(b)
                    .unwrap_or_else(|e| panic!("bad base64 in {w:?}: {e}"));
                if i > 0 && !prev_encoded {
                    out.push(' ');
                }
                out.push_str(&String::from_utf8(bytes).expect("UTF-8 in encoded word"));
                prev_encoded = true;
            }
            None => {
                if i > 0 {
                    out.push(' ');
                }
                out.push_str(w);
                prev_encoded = false;
            }
        }
    }
    out
}

/// A raw SMTP client over TCP.
struct Raw {
    w: TcpStream,
    r: BufReader<TcpStream>,
}

impl Raw {
    fn connect(addr: &str) -> Raw {
        let s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let r = BufReader::new(s.try_clone().unwrap());
        let mut raw = Raw { w: s, r };
        let greeting = raw.reply();
        assert!(greeting.starts_with("220 "), "greeting: {greeting:?}");
        raw
    }

    fn send(&mut self, bytes: &[u8]) {
        self.w.write_all(bytes).expect("write to the server");
    }

    /// One complete reply (all its lines).
    fn reply(&mut self) -> String {
        let mut all = String::new();
        loop {
            let mut line = String::new();
            let n = self.r.read_line(&mut line).expect("read a reply line");
            assert!(n > 0, "connection closed; so far: {all:?}");
            all.push_str(&line);
            if line.len() < 4 || line.as_bytes()[3] != b'-' {
                return all;
            }
        }
    }

    fn cmd(&mut self, line: &str) -> String {
        self.send(format!("{line}\r\n").as_bytes());
        self.reply()
    }
}

// ---- our client against our server -----------------------------------------

#[test]
fn starttls_and_auth_plain_with_required_login() {
    let srv = Server::start(&["--auth-user", "u:pw"]);
    let mut args = srv.send();
    args.extend(strings(&[
        "--user",
        "u",
        "--password-env",
        PASSWORD_VAR,
        "--auth",
        "plain",
        "--from",
        "alice@x.test",
        "--to",
        "bob@y.test",
        "--subject",
        "plain auth",
        "--body",
        "hello over STARTTLS",
        "-v",
    ]));
    let out = missive(&args, Some("pw"));
    out.assert_code(0);
    for want in [
        "C: STARTTLS",
        "C: AUTH PLAIN <redacted>",
        "S: 235 ",
        "(verified)",
    ] {
        assert!(out.stderr.contains(want), "no {want:?}:\n{}", out.show());
    }
    assert!(!out.stderr.contains("AHUAcHc"), "credentials leaked");
    let m = srv.one_message();
    assert_eq!(m.return_path, "alice@x.test");
    assert_eq!(m.envelope_to, ["bob@y.test"]);
    assert_eq!(m.header("Subject").as_deref(), Some("plain auth"));
    assert_eq!(m.body(), b"hello over STARTTLS\r\n");
    // the server's one line per message
    let log = srv.stdout();
    assert!(
        log.contains("alice@x.test -> bob@y.test subject=\"plain auth\"")
            && log.contains(&m.path.display().to_string()),
        "server stdout: {log}"
    );
    assert_eq!(srv.files_in("tmp"), 0);
}

#[test]
fn wrong_password_exits_77_and_nothing_is_stored() {
    let srv = Server::start(&["--auth-user", "u:pw"]);
    let mut args = srv.send();
    args.extend(strings(&[
        "--user",
        "u",
        "--password-env",
        PASSWORD_VAR,
        "--from",
        "alice@x.test",
        "--to",
        "bob@y.test",
        "--subject",
        "s",
        "--body",
        "b",
    ]));
    let out = missive(&args, Some("not-the-password"));
    out.assert_code(77);
    assert!(out.stderr.contains("535"), "{}", out.show());
    assert!(!out.stderr.contains("not-the-password"), "{}", out.show());
    assert!(srv.messages().is_empty());
}

#[test]
fn no_login_when_one_is_required_is_refused() {
    let srv = Server::start(&["--auth-user", "u:pw"]);
    let mut args = srv.send();
    args.extend(strings(&[
        "--from",
        "alice@x.test",
        "--to",
        "bob@y.test",
        "--body",
        "b",
    ]));
    let out = missive(&args, None);
    assert_ne!(out.code, 0, "{}", out.show());
    assert!(out.stderr.contains("530"), "{}", out.show());
    assert!(srv.messages().is_empty());
}

#[test]
fn auth_login() {
    let srv = Server::start(&["--auth-user", "u:pw"]);
    let mut args = srv.send();
    args.extend(strings(&[
        "--user",
        "u",
        "--password-env",
        PASSWORD_VAR,
        "--auth",
        "login",
        "--from",
        "alice@x.test",
        "--to",
        "bob@y.test",
        "--subject",
        "login",
        "--body",
        "via AUTH LOGIN",
        "-v",
    ]));
    let out = missive(&args, Some("pw"));
    out.assert_code(0);
    assert!(out.stderr.contains("C: AUTH LOGIN"), "{}", out.show());
    assert!(out.stderr.contains("S: 235 "), "{}", out.show());
    assert!(
        !out.stderr.contains("cHc="),
        "password leaked: {}",
        out.show()
    );
    assert_eq!(srv.one_message().body(), b"via AUTH LOGIN\r\n");

    // and a wrong password through LOGIN
    let out = missive(&args, Some("nope"));
    out.assert_code(77);
    assert_eq!(srv.messages().len(), 1);
}

#[test]
fn implicit_tls_listener() {
    let srv = Server::start_on(Listen::V4AndImplicit, &["--auth-user", "u:pw"]);
    let tls_addr = srv.tls_addr.clone().unwrap();
    assert!(
        srv.stderr()
            .contains(&format!("listening on {tls_addr} (implicit TLS)")),
        "{}",
        srv.stderr()
    );
    let args = strings(&[
        "send",
        "--server",
        &tls_addr,
        "--tls",
        "implicit",
        "--cafile",
        &srv.ca_str(),
        "--user",
        "u",
        "--password-env",
        PASSWORD_VAR,
        "--from",
        "alice@x.test",
        "--to",
        "bob@y.test",
        "--subject",
        "implicit",
        "--body",
        "TLS from the first byte",
        "-v",
    ]);
    let out = missive(&args, Some("pw"));
    out.assert_code(0);
    let tls = line_index(&out.stderr, "* TLS ");
    let greeting = line_index(&out.stderr, "S: 220 ");
    assert!(
        tls < greeting,
        "TLS must come before the greeting:\n{}",
        out.stderr
    );
    assert!(out.stderr.contains("(verified)"), "{}", out.show());
    assert!(!out.stderr.contains("C: STARTTLS"), "{}", out.show());
    assert!(!out.stderr.contains("250-STARTTLS"), "{}", out.show());
    assert_eq!(srv.one_message().body(), b"TLS from the first byte\r\n");

    // The implicit-TLS port does not talk plaintext SMTP: a STARTTLS client gets no greeting.
    let mut plain = srv.send();
    plain[2] = tls_addr.clone();
    plain.extend(strings(&[
        "--timeout",
        "3",
        "--from",
        "alice@x.test",
        "--to",
        "bob@y.test",
        "--body",
        "x",
    ]));
    let out = missive(&plain, None);
    assert_ne!(out.code, 0, "{}", out.show());
    assert_eq!(srv.messages().len(), 1);
}

#[test]
fn ipv6_loopback() {
    let srv = Server::start_on(Listen::V6, &[]);
    assert!(srv.addr.starts_with("[::1]:"));
    let mut args = srv.send();
    args.extend(strings(&[
        "--from",
        "alice@x.test",
        "--to",
        "bob@y.test",
        "--subject",
        "v6",
        "--body",
        "over ::1",
        "-v",
    ]));
    let out = missive(&args, None);
    out.assert_code(0);
    assert!(out.stderr.contains("(verified)"), "{}", out.show());
    assert!(out.stderr.contains("[::1]"), "{}", out.show());
    assert_eq!(srv.one_message().body(), b"over ::1\r\n");
}

#[test]
fn pipelining_and_recipients_in_the_envelope() {
    let srv = Server::start(&[]);
    let mut args = srv.send();
    args.extend(strings(&[
        "--from",
        "Alice <alice@x.test>",
        "--to",
        "bob@y.test,carol@y.test",
        "--cc",
        "dave@z.test",
        "--bcc",
        "eve@secret.test",
        "--subject",
        "pipelined",
        "--body",
        "one round trip",
        // DATA closes the pipelined group; with BDAT (the default when
        // CHUNKING is offered) the group is MAIL and RCPTs only.
        "--no-chunking",
        "-v",
    ]));
    let out = missive(&args, None);
    out.assert_code(0);
    let t = &out.stderr;
    assert!(t.contains("S: 250-PIPELINING"), "{t}");
    let mail = line_index(t, "C: MAIL FROM:<alice@x.test>");
    let data = line_index(t, "C: DATA");
    let mail_reply = line_index(t, "S: 250 2.1.0");
    let rcpt_reply = line_index(t, "S: 250 2.1.5");
    let rcpts: Vec<usize> = t
        .lines()
        .enumerate()
        .filter(|(_, l)| l.starts_with("C: RCPT TO:"))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(rcpts.len(), 4, "{t}");
    assert!(
        mail < rcpts[0] && rcpts[3] < data && data < mail_reply && mail_reply < rcpt_reply,
        "MAIL, RCPT and DATA must all be sent before their replies:\n{t}"
    );
    let m = srv.one_message();
    assert_eq!(
        m.envelope_to,
        [
            "bob@y.test",
            "carol@y.test",
            "dave@z.test",
            "eve@secret.test"
        ]
    );
    let headers = m.headers();
    assert!(
        !headers.contains("eve@secret.test"),
        "Bcc in headers: {headers}"
    );
    assert!(!headers.to_ascii_lowercase().contains("bcc:"), "{headers}");
    assert_eq!(m.header("From").as_deref(), Some("Alice <alice@x.test>"));
    assert_eq!(m.header("Cc").as_deref(), Some("dave@z.test"));
}

/// A deterministic ~5 MiB ASCII text with lines that need dot-stuffing.
fn big_body() -> String {
    let mut s = String::with_capacity(5 * 1024 * 1024 + 4096);
    let mut x: u32 = 12345;
    let mut i = 0u32;
    while s.len() < 5 * 1024 * 1024 {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        match i % 97 {
            0 => s.push('.'),
            1 => s.push_str(".."),
            2 => s.push_str(".leading dot"),
            3 => {}
            _ => {
                let len = (x >> 16) % 200;
                for k in 0..len {
                    s.push((b' ' + ((x >> 3).wrapping_add(k * 7) % 94) as u8) as char);
                }
            }
        }
        s.push('\n');
        i += 1;
    }
    s.push_str("the very last line\n");
    s
}

#[test]
fn five_megabyte_body_arrives_byte_exact() {
    let srv = Server::start(&[]);
    let dir = TempDir::new("body");
    let body = big_body();
    assert!(body.len() >= 5 * 1024 * 1024);
    let file = dir.path().join("body.txt");
    std::fs::write(&file, &body).unwrap();
    let mut args = srv.send();
    args.extend(strings(&[
        "--from",
        "alice@x.test",
        "--to",
        "bob@y.test",
        "--subject",
        "big",
        "--body-file",
        &file.display().to_string(),
    ]));
    let out = missive(&args, None);
    out.assert_code(0);
    let m = srv.one_message();
    assert_eq!(
        m.header("Content-Transfer-Encoding").as_deref(),
        Some("7bit")
    );
    assert_bytes_eq(m.body(), &crlf(body.as_bytes()), "the 5 MB body");
    // the serve line reports the size of the whole message
    assert!(
        srv.stdout().contains(&format!("size={} ", m.message.len())),
        "{}",
        srv.stdout()
    );
}

#[test]
fn utf8_subject() {
    let srv = Server::start(&[]);
    let subject =
        "Grüße aus Köln — 日本語のテスト, with enough text to need several encoded words ✓";
    let mut args = srv.send();
    args.extend(strings(&[
        "--from",
        "alice@x.test",
        "--to",
        "bob@y.test",
        "--subject",
        subject,
        "--body",
        "Prüfung: ünïcödé body",
    ]));
    let out = missive(&args, None);
    out.assert_code(0);
    let m = srv.one_message();
    let raw = m.header("Subject").expect("a Subject header");
    assert!(raw.is_ascii(), "the Subject must be encoded: {raw:?}");
    assert_eq!(decode_words(&raw), subject);
    for line in m.text().split("\r\n") {
        assert!(line.len() <= 998, "line too long: {}", line.len());
    }
    assert!(
        m.header("Content-Type")
            .is_some_and(|c| c.contains("utf-8")),
        "{}",
        m.headers()
    );
}

// ---- other clients against our server --------------------------------------

/// A message with full headers, a line starting with '.', and a lone '.'.
fn eml(tag: &str) -> Vec<u8> {
    format!(
        "From: alice@x.test\r\nTo: bob@y.test\r\nSubject: {tag} test\r\n\
         Date: Sat, 28 Nov 2026 18:00:00 +0000\r\nMessage-ID: <{tag}-{}@x.test>\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n\
         hello from {tag}\r\n.leading dot\r\n..two dots\r\n.\r\nlast line\r\n",
        std::process::id()
    )
    .into_bytes()
}

#[test]
fn swaks_starttls_auth_plain() {
    let srv = Server::start(&["--auth-user", "u:pw"]);
    let dir = TempDir::new("swaks");
    let sent = eml("swaks");
    // swaks appends CRLF.CRLF to --data: a file without the final line
    // break arrives as written, with one CRLF ending the last line.
    let file = dir.path().join("msg.eml");
    std::fs::write(&file, &sent[..sent.len() - 2]).unwrap();
    let mut cmd = Command::new("swaks");
    cmd.args(["--server", "127.0.0.1", "--port", &srv.port()])
        .args(["--tls", "--tls-verify", "--tls-ca-path", &srv.ca_str()])
        .args([
            "--auth",
            "PLAIN",
            "--auth-user",
            "u",
            "--auth-password",
            "pw",
        ])
        .args(["--from", "alice@x.test", "--to", "bob@y.test"])
        .arg("--data")
        .arg(&file);
    let out = run(cmd, None, RUN_LIMIT);
    out.assert_code(0);
    assert!(out.stdout.contains("235 2.7.0"), "{}", out.show());
    assert!(out.stdout.contains("~> ..leading dot"), "{}", out.show());
    let m = srv.one_message();
    assert_eq!(m.return_path, "alice@x.test");
    assert_eq!(m.envelope_to, ["bob@y.test"]);
    assert_bytes_eq(&m.message, &sent, "swaks's message");

    // and a wrong password
    let mut cmd = Command::new("swaks");
    cmd.args(["--server", "127.0.0.1", "--port", &srv.port()])
        .args(["--tls", "--tls-verify", "--tls-ca-path", &srv.ca_str()])
        .args([
            "--auth",
            "PLAIN",
            "--auth-user",
            "u",
            "--auth-password",
            "bad",
        ])
        .args(["--from", "alice@x.test", "--to", "bob@y.test"])
        .arg("--data")
        .arg(&file);
    let out = run(cmd, None, RUN_LIMIT);
    assert_ne!(out.code, 0, "{}", out.show());
    assert!(out.stdout.contains("535 5.7.8"), "{}", out.show());
    assert_eq!(srv.messages().len(), 1);
}

#[test]
fn msmtp_starttls_auth_plain() {
    let srv = Server::start(&["--auth-user", "u:pw"]);
    let dir = TempDir::new("msmtp");
    let conf = dir.path().join("msmtprc");
    std::fs::write(
        &conf,
        format!(
            "defaults\nlogfile {}\naccount t\nhost 127.0.0.1\nport {}\ntls on\ntls_starttls on\n\
             tls_trust_file {}\nauth plain\nuser u\npassword pw\nfrom alice@x.test\n\
             account default : t\n",
            dir.path().join("msmtp.log").display(),
            srv.port(),
            srv.ca_str()
        ),
    )
    .unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&conf, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let sent = eml("msmtp");
    let mut cmd = Command::new("msmtp");
    cmd.arg("-C").arg(&conf).arg("bob@y.test");
    let out = run(cmd, Some(sent.clone()), RUN_LIMIT);
    out.assert_code(0);
    let log = std::fs::read_to_string(dir.path().join("msmtp.log")).unwrap_or_default();
    assert!(log.contains("tls=on auth=on"), "msmtp log: {log}");
    let m = srv.one_message();
    assert_eq!(m.return_path, "alice@x.test");
    assert_eq!(m.envelope_to, ["bob@y.test"]);
    assert_bytes_eq(&crlf(&m.message), &crlf(&sent), "msmtp's message");
}

const SMTPLIB_SEND: &str = r#"
import smtplib, ssl, sys
port, ca, path = int(sys.argv[1]), sys.argv[2], sys.argv[3]
msg = open(path, "rb").read()
s = smtplib.SMTP("127.0.0.1", port, timeout=30)
s.ehlo("python.test")
assert s.has_extn("starttls"), s.esmtp_features
s.starttls(context=ssl.create_default_context(cafile=ca))
s.ehlo("python.test")
assert "PLAIN" in s.esmtp_features.get("auth", ""), s.esmtp_features
s.login("u", "pw")
refused = s.sendmail("alice@x.test", ["bob@y.test", "carol@y.test"], msg)
assert not refused, refused
s.quit()
print("python sent", len(msg))
"#;

#[test]
fn python_smtplib_starttls_login() {
    let srv = Server::start(&["--auth-user", "u:pw"]);
    let dir = TempDir::new("python");
    let sent = eml("python");
    let file = dir.path().join("msg.eml");
    std::fs::write(&file, &sent).unwrap();
    let mut cmd = Command::new(PYTHON);
    cmd.args(["-c", SMTPLIB_SEND, &srv.port(), &srv.ca_str()])
        .arg(&file);
    let out = run(cmd, None, RUN_LIMIT);
    out.assert_code(0);
    assert!(out.stdout.contains("python sent"), "{}", out.show());
    let m = srv.one_message();
    assert_eq!(m.return_path, "alice@x.test");
    assert_eq!(m.envelope_to, ["bob@y.test", "carol@y.test"]);
    assert_bytes_eq(&m.message, &sent, "smtplib's message");
}

// ---- fault injection ---------------------------------------------------------

/// Sends one message to a server started with `serve_args`, to `to`.
fn send_with_fault(serve_args: &[&str], to: &[&str], client: &[&str]) -> (Server, Out) {
    let srv = Server::start(serve_args);
    let mut args = srv.send();
    args.extend(strings(&["--from", "alice@x.test", "--subject", "fault"]));
    for t in to {
        args.extend(strings(&["--to", t]));
    }
    args.extend(strings(&["--body", "fault injection\nlast line"]));
    args.extend(strings(client));
    let out = missive(&args, None);
    (srv, out)
}

#[test]
fn fault_greeting_554_is_permanent() {
    let (srv, out) = send_with_fault(&["--fail-at", "greeting=554"], &["bob@y.test"], &[]);
    out.assert_code(69);
    assert!(out.stderr.contains("554"), "{}", out.show());
    assert!(srv.messages().is_empty());
}

#[test]
fn fault_ehlo_550_is_permanent() {
    let (srv, out) = send_with_fault(&["--fail-at", "ehlo=550"], &["bob@y.test"], &["-v"]);
    out.assert_code(69);
    assert!(out.stderr.contains("S: 550 "), "{}", out.show());
    // 550 is not "EHLO not understood": no fallback to HELO
    assert!(!out.stderr.contains("C: HELO"), "{}", out.show());
    assert!(!out.stderr.contains("C: MAIL"), "{}", out.show());
    assert!(srv.messages().is_empty());
}

#[test]
fn fault_ehlo_500_falls_back_to_helo() {
    // The injected fault answers HELO too, so the session still fails.
    let (srv, out) = send_with_fault(&["--fail-at", "ehlo=500"], &["bob@y.test"], &["-v"]);
    out.assert_code(69);
    let ehlo = line_index(&out.stderr, "C: EHLO");
    let helo = line_index(&out.stderr, "C: HELO");
    assert!(ehlo < helo, "{}", out.show());
    assert!(srv.messages().is_empty());
}

#[test]
fn fault_mail_451_is_temporary() {
    let (_srv, out) = send_with_fault(&["--fail-at", "mail=451"], &["bob@y.test"], &[]);
    out.assert_code(75);
    assert!(
        out.stderr
            .contains("missive: bob@y.test refused: 451 4.0.0"),
        "{}",
        out.show()
    );
}

#[test]
fn fault_rcpt_550_is_permanent() {
    let (_srv, out) = send_with_fault(
        &["--fail-at", "rcpt=550"],
        &["bob@y.test", "carol@y.test"],
        &[],
    );
    out.assert_code(69);
    for r in ["bob@y.test", "carol@y.test"] {
        assert!(
            out.stderr.contains(&format!("missive: {r} refused: 550")),
            "{}",
            out.show()
        );
    }
}

#[test]
fn fault_rcpt_451_is_temporary() {
    let (_srv, out) = send_with_fault(&["--fail-at", "rcpt=451"], &["bob@y.test"], &[]);
    out.assert_code(75);
    assert!(
        out.stderr.contains("missive: bob@y.test refused: 451"),
        "{}",
        out.show()
    );
}

#[test]
fn fault_data_554_is_permanent() {
    let (srv, out) = send_with_fault(&["--fail-at", "data=554"], &["bob@y.test"], &[]);
    out.assert_code(69);
    assert!(out.stderr.contains("554"), "{}", out.show());
    assert!(srv.messages().is_empty());
    assert_eq!(srv.files_in("tmp"), 0);
}

#[test]
fn fault_end_of_data_451_is_temporary() {
    let (_srv, out) = send_with_fault(&["--fail-at", "end-of-data=451"], &["bob@y.test"], &[]);
    out.assert_code(75);
    assert!(
        out.stderr.contains("missive: bob@y.test refused: 451"),
        "{}",
        out.show()
    );
}

#[test]
fn fault_end_of_data_554_is_permanent() {
    let (_srv, out) = send_with_fault(&["--fail-at", "end-of-data=554"], &["bob@y.test"], &[]);
    out.assert_code(69);
    assert!(out.stderr.contains("554"), "{}", out.show());
}

#[test]
fn fault_drop_at_data_is_a_lost_connection() {
    let (srv, out) = send_with_fault(&["--drop-at", "data"], &["bob@y.test"], &[]);
    out.assert_code(75);
    assert!(
        out.stderr.contains("closed the connection"),
        "{}",
        out.show()
    );
    assert!(srv.messages().is_empty());
    assert_eq!(srv.files_in("tmp"), 0);
}

#[test]
fn fault_drop_at_end_of_data_is_a_lost_connection() {
    let (srv, out) = send_with_fault(&["--drop-at", "end-of-data"], &["bob@y.test"], &[]);
    out.assert_code(75);
    assert!(
        out.stderr.contains("closed the connection"),
        "{}",
        out.show()
    );
    // The message may have been stored before the drop (a lost
    // acknowledgement); if so it is complete.
    for m in srv.messages() {
        assert!(m
            .text()
            .ends_with("\r\n\r\nfault injection\r\nlast line\r\n"));
    }
    assert_eq!(srv.files_in("tmp"), 0);
}

#[test]
fn fault_delay_beyond_the_client_timeout() {
    let (srv, out) = send_with_fault(
        &["--delay", "rcpt=3000"],
        &["bob@y.test"],
        &["--timeout", "1"],
    );
    out.assert_code(75);
    assert!(out.stderr.contains("timed out"), "{}", out.show());
    assert!(
        out.elapsed < Duration::from_secs(10),
        "took {:?}",
        out.elapsed
    );
    assert!(srv.messages().is_empty());
}

#[test]
fn fault_delay_within_the_client_timeout() {
    let (srv, out) = send_with_fault(
        &["--delay", "end-of-data=1500"],
        &["bob@y.test"],
        &["--timeout", "10"],
    );
    out.assert_code(0);
    assert!(
        out.elapsed >= Duration::from_millis(1400),
        "the delay did not happen: {:?}",
        out.elapsed
    );
    assert_eq!(srv.messages().len(), 1);
}

#[test]
fn fault_reject_some_recipients() {
    let (srv, out) = send_with_fault(
        &["--reject-rcpt", "bad*@x.test=550"],
        &["good@x.test", "bad1@x.test", "carol@y.test"],
        &[],
    );
    out.assert_code(69);
    assert!(
        out.stderr
            .contains("missive: bad1@x.test refused: 550 5.1.1"),
        "{}",
        out.show()
    );
    assert!(
        !out.stderr.contains("good@x.test refused"),
        "{}",
        out.show()
    );
    assert!(
        !out.stderr.contains("carol@y.test refused"),
        "{}",
        out.show()
    );
    assert!(
        out.stderr.contains("1 of 3 recipients refused"),
        "{}",
        out.show()
    );
    let m = srv.one_message();
    assert_eq!(m.envelope_to, ["good@x.test", "carol@y.test"]);
    // the header keeps every To: the refusal concerns the envelope only
    assert!(m.header("To").unwrap().contains("bad1@x.test"));
}

#[test]
fn fault_reject_rcpt_temporary_and_permanent_mixed() {
    let (srv, out) = send_with_fault(
        &[
            "--reject-rcpt",
            "temp*@x.test=450",
            "--reject-rcpt",
            "perm*@x.test=550",
        ],
        &["temp1@x.test", "ok@x.test"],
        &[],
    );
    out.assert_code(75);
    assert!(
        out.stderr.contains("missive: temp1@x.test refused: 450"),
        "{}",
        out.show()
    );
    assert_eq!(srv.one_message().envelope_to, ["ok@x.test"]);
    drop(srv);

    // permanent beats temporary
    let (_srv, out) = send_with_fault(
        &[
            "--reject-rcpt",
            "temp*@x.test=450",
            "--reject-rcpt",
            "perm*@x.test=550",
        ],
        &["temp1@x.test", "perm1@x.test", "ok@x.test"],
        &[],
    );
    out.assert_code(69);
}

/// A transaction the server refused must leave nothing in the Maildir.
fn assert_refused_transaction_not_stored(fault: &str, code: i32) {
    let (srv, out) = send_with_fault(&["--fail-at", fault], &["bob@y.test"], &["-v"]);
    out.assert_code(code);
    let stored = srv.messages();
    assert!(
        stored.is_empty(),
        "--fail-at {fault}: the client was refused, yet the server stored {} message(s): {:?}\n{}",
        stored.len(),
        stored
            .iter()
            .map(|m| (&m.envelope_to, m.message.len()))
            .collect::<Vec<_>>(),
        out.show()
    );
}

#[test]
fn bug_injected_mail_failure_stores_nothing() {
    assert_refused_transaction_not_stored("mail=451", 75);
}

#[test]
fn bug_injected_rcpt_failure_stores_nothing() {
    assert_refused_transaction_not_stored("rcpt=550", 69);
}

#[test]
fn bug_injected_end_of_data_failure_stores_nothing() {
    assert_refused_transaction_not_stored("end-of-data=451", 75);
}

// ---- durability ----------------------------------------------------------------

#[test]
fn acknowledged_message_survives_sigkill() {
    let mut srv = Server::start(&[]);
    let body = "first line\n.dot line\nthe body's last line";
    let mut args = srv.send();
    args.extend(strings(&[
        "--from",
        "alice@x.test",
        "--to",
        "bob@y.test",
        "--subject",
        "durable",
        "--body",
        body,
    ]));
    let out = missive(&args, None);
    out.assert_code(0);
    // the moment the client is done, the server dies without any cleanup
    let kill = Command::new("kill")
        .args(["-9", &srv.child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(kill.success());
    let status = srv.child.wait().expect("wait for the server");
    assert!(!status.success(), "the server was not killed: {status:?}");
    let m = srv.one_message();
    assert!(
        m.text()
            .ends_with("\r\n\r\nfirst line\r\n.dot line\r\nthe body's last line\r\n"),
        "incomplete: {:?}",
        m.text()
    );
    assert_eq!(srv.files_in("tmp"), 0, "tmp/ is not empty");
}

// ---- load ----------------------------------------------------------------------

const SMTPLIB_LOAD: &str = r#"
import smtplib, sys, threading
port, threads, per, run = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
errors = []
def worker(t):
    try:
        s = smtplib.SMTP("127.0.0.1", port, timeout=60)
        s.ehlo("load.test")
        for i in range(per):
            mid = "<load-%s-%d-%d@load.test>" % (run, t, i)
            msg = ("From: a@load.test\r\nTo: b@load.test\r\nSubject: load %d %d\r\n"
                   "Message-ID: %s\r\n\r\nmessage %d of thread %d\r\n.dot\r\n" % (t, i, mid, i, t)).encode()
            refused = s.sendmail("a@load.test", ["b%d@load.test" % t], msg)
            if refused:
                raise Exception("refused: %r" % refused)
        s.quit()
    except Exception as e:
        errors.append("thread %d: %r" % (t, e))
ts = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
for t in ts: t.start()
for t in ts: t.join()
if errors:
    sys.stderr.write("\n".join(errors) + "\n")
    sys.exit(1)
print("done", threads * per)
"#;

#[test]
fn load_8_connections_500_messages_each() {
    const THREADS: usize = 8;
    const PER: usize = 500;
    let limit = Duration::from_secs(120);
    let srv = Server::start(&["--quiet"]);
    let run_id = format!(
        "{}x{}",
        std::process::id(),
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_micros()
    );
    let mut cmd = Command::new(PYTHON);
    cmd.args([
        "-c",
        SMTPLIB_LOAD,
        &srv.port(),
        &THREADS.to_string(),
        &PER.to_string(),
        &run_id,
    ]);
    let out = run(cmd, None, limit);
    out.assert_code(0);
    assert!(out.elapsed < limit);
    let messages = srv.messages();
    assert_eq!(messages.len(), THREADS * PER, "files in new/");
    let mut seen = HashSet::new();
    for m in &messages {
        let id = m
            .header("Message-ID")
            .unwrap_or_else(|| panic!("{}: no Message-ID", m.path.display()));
        assert!(seen.insert(id.clone()), "duplicate {id}");
        let (t, i) = id
            .trim_start_matches(&format!("<load-{run_id}-"))
            .trim_end_matches("@load.test>")
            .split_once('-')
            .unwrap_or_else(|| panic!("unexpected Message-ID {id}"));
        let (t, i): (usize, usize) = (t.parse().unwrap(), i.parse().unwrap());
        assert_eq!(m.envelope_to, [format!("b{t}@load.test")]);
        assert!(
            m.text()
                .ends_with(&format!("\r\n\r\nmessage {i} of thread {t}\r\n.dot\r\n")),
            "{}: {:?}",
            m.path.display(),
            m.text()
        );
    }
    for t in 0..THREADS {
        for i in 0..PER {
            let id = format!("<load-{run_id}-{t}-{i}@load.test>");
            assert!(seen.contains(&id), "missing {id}");
        }
    }
    assert_eq!(srv.files_in("tmp"), 0);
    // --quiet: no line per message
    assert!(srv.stdout().is_empty(), "{}", srv.stdout());
}

// ---- limits --------------------------------------------------------------------

#[test]
fn over_long_command_line_gets_500_and_the_session_continues() {
    let srv = Server::start(&[]);
    let mut c = Raw::connect(&srv.addr);
    assert!(c.cmd("EHLO raw.test").starts_with("250-"));
    let long = format!("NOOP {}", "a".repeat(13 * 1024));
    let r = c.cmd(&long);
    assert!(r.starts_with("500 "), "{r:?}");
    // exactly one reply: the next command's reply is the next thing read
    assert!(c.cmd("NOOP").starts_with("250 2.0.0"));
    assert!(c.cmd("MAIL FROM:<a@x.test>").starts_with("250 2.1.0"));
    assert!(c.cmd("RCPT TO:<b@y.test>").starts_with("250 2.1.5"));
    assert!(c.cmd("DATA").starts_with("354 "));
    c.send(b"Subject: after a long line\r\n\r\nstill here\r\n.\r\n");
    assert!(c.reply().starts_with("250 2.0.0 Ok: queued"));
    assert!(c.cmd("QUIT").starts_with("221 "));
    assert_eq!(srv.one_message().body(), b"still here\r\n");
}

/// The tail of an over-long line that arrives in a later read is still part
/// of that line: one 500, and the tail is never run as a command.
#[test]
fn over_long_command_line_split_across_reads_gets_one_reply() {
    let srv = Server::start(&[]);
    let mut c = Raw::connect(&srv.addr);
    assert!(c.cmd("EHLO raw.test").starts_with("250-"));
    c.send(format!("NOOP {}", "a".repeat(13 * 1024)).as_bytes());
    thread::sleep(Duration::from_millis(300));
    // the tail of the same line: it must not be executed
    c.send(b"MAIL FROM:<smuggled@x.test>\r\n");
    let r = c.reply();
    assert!(r.starts_with("500 "), "{r:?}");
    let r = c.cmd("NOOP");
    assert!(
        r.starts_with("250 2.0.0"),
        "a second reply to the long line: {r:?}"
    );
    let r = c.cmd("MAIL FROM:<a@x.test>");
    assert!(
        r.starts_with("250 2.1.0"),
        "the tail of the long line was taken as MAIL: {r:?}"
    );
}

#[test]
fn max_size_refused_up_front_by_the_client() {
    let srv = Server::start(&["--max-size", "1000"]);
    let mut args = srv.send();
    args.extend(strings(&[
        "--from",
        "alice@x.test",
        "--to",
        "bob@y.test",
        "--subject",
        "too big",
        "--body",
        &"x".repeat(2000),
    ]));
    let out = missive(&args, None);
    out.assert_code(69);
    assert!(out.stderr.contains("1000"), "{}", out.show());
    assert!(srv.messages().is_empty());
    assert_eq!(srv.files_in("tmp"), 0);
}

#[test]
fn max_size_enforced_by_the_server() {
    let srv = Server::start(&["--max-size", "1000"]);
    let mut c = Raw::connect(&srv.addr);
    let ehlo = c.cmd("EHLO raw.test");
    assert!(ehlo.contains("250-SIZE 1000\r\n"), "{ehlo:?}");
    let r = c.cmd("MAIL FROM:<a@x.test> SIZE=2000");
    assert!(r.starts_with("552 5.3.4"), "{r:?}");
    // declared small, sent big
    assert!(c
        .cmd("MAIL FROM:<a@x.test> SIZE=500")
        .starts_with("250 2.1.0"));
    assert!(c.cmd("RCPT TO:<b@y.test>").starts_with("250 2.1.5"));
    assert!(c.cmd("DATA").starts_with("354 "));
    let mut body = b"Subject: big\r\n\r\n".to_vec();
    for _ in 0..40 {
        body.extend_from_slice(&[b'y'; 78]);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b".\r\n");
    c.send(&body);
    let r = c.reply();
    assert!(r.starts_with("552 5.3.4"), "{r:?}");
    // the session goes on, and a small message still fits
    assert!(c
        .cmd("MAIL FROM:<a@x.test> SIZE=100")
        .starts_with("250 2.1.0"));
    assert!(c.cmd("RCPT TO:<b@y.test>").starts_with("250 2.1.5"));
    assert!(c.cmd("DATA").starts_with("354 "));
    c.send(b"Subject: small\r\n\r\nok\r\n.\r\n");
    assert!(c.reply().starts_with("250 2.0.0 Ok: queued"));
    let m = srv.one_message();
    assert_eq!(m.body(), b"ok\r\n");
    assert_eq!(srv.files_in("tmp"), 0);
}

#[test]
fn bare_lf_in_data_is_refused() {
    let srv = Server::start(&[]);
    let mut c = Raw::connect(&srv.addr);
    assert!(c.cmd("EHLO raw.test").starts_with("250-"));
    assert!(c.cmd("MAIL FROM:<a@x.test>").starts_with("250 2.1.0"));
    assert!(c.cmd("RCPT TO:<b@y.test>").starts_with("250 2.1.5"));
    assert!(c.cmd("DATA").starts_with("354 "));
    c.send(b"Subject: smuggle\r\n\r\nline one\nline two\r\n.\r\n");
    let r = c.reply();
    assert!(r.starts_with("550 5.5.2"), "{r:?}");
    // the transaction is gone; the session is not
    assert!(c.cmd("NOOP").starts_with("250 2.0.0"));
    assert!(c.cmd("QUIT").starts_with("221 "));
    assert!(srv.messages().is_empty());
    assert_eq!(srv.files_in("tmp"), 0);
}

#[test]
fn smuggling_attempt_with_bare_lf_dot_is_not_an_end_of_data() {
    let srv = Server::start(&[]);
    let mut c = Raw::connect(&srv.addr);
    assert!(c.cmd("EHLO raw.test").starts_with("250-"));
    assert!(c.cmd("MAIL FROM:<a@x.test>").starts_with("250 2.1.0"));
    assert!(c.cmd("RCPT TO:<b@y.test>").starts_with("250 2.1.5"));
    assert!(c.cmd("DATA").starts_with("354 "));
    // "\n.\n" is not the end of the data: no second transaction may start.
    c.send(
        b"Subject: one\r\n\r\nbody\n.\nMAIL FROM:<evil@x.test>\r\nRCPT TO:<victim@y.test>\r\nDATA\r\nSubject: two\r\n\r\nx\r\n.\r\n",
    );
    let r = c.reply();
    assert!(r.starts_with("550 5.5.2"), "{r:?}");
    assert!(c.cmd("NOOP").starts_with("250 2.0.0"));
    assert!(srv.messages().is_empty());
}

#[test]
fn bdat_chunks_are_stored_as_sent() {
    let srv = Server::start(&[]);
    let mut c = Raw::connect(&srv.addr);
    let ehlo = c.cmd("EHLO raw.test");
    assert!(ehlo.contains("250-CHUNKING\r\n"), "{ehlo:?}");
    assert!(c.cmd("MAIL FROM:<a@x.test>").starts_with("250 2.1.0"));
    assert!(c.cmd("RCPT TO:<b@y.test>").starts_with("250 2.1.5"));
    // BDAT is not dot-stuffed: a line with a leading dot is sent as it is.
    let first: &[u8] = b"Subject: chunked\r\n\r\n.dot line\r\n";
    let last: &[u8] = b"..two dots\r\n.\r\nend\r\n";
    c.send(format!("BDAT {}\r\n", first.len()).as_bytes());
    c.send(first);
    let r = c.reply();
    assert!(r.starts_with("250 "), "{r:?}");
    c.send(format!("BDAT {} LAST\r\n", last.len()).as_bytes());
    c.send(last);
    let r = c.reply();
    assert!(r.starts_with("250 2.0.0 Ok: queued"), "{r:?}");
    assert!(c.cmd("QUIT").starts_with("221 "));
    let m = srv.one_message();
    assert_bytes_eq(&m.message, &[first, last].concat(), "the BDAT message");
}
