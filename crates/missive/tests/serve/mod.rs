//! `missive serve` run as a real process on loopback, exercised by the real
//! `missive send` binary and by other clients (swaks, msmtp, Python smtplib,
//! raw TCP), so that a bug shared by our client and our server cannot hide.
//!
//! Every test starts its own server on free ports with its own Maildir in a
//! fresh temporary directory, and kills it when it ends ([`Server`]'s Drop).

mod durability_and_load;
mod exhaustion;
mod fault_injection;
mod limits;
mod other_clients;
mod our_client;

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;

use crate::support::*;

const PASSWORD_VAR: &str = "MISSIVE_SERVE_TEST_PW";

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
pub(crate) struct Server {
    child: Child,
    /// `127.0.0.1:PORT` or `[::1]:PORT` (STARTTLS offered).
    pub(crate) addr: String,
    /// The implicit-TLS listener, if any.
    tls_addr: Option<String>,
    pub(crate) maildir: PathBuf,
    stderr: Arc<Mutex<String>>,
    stdout: Arc<Mutex<String>>,
    _dir: TempDir,
}

impl Server {
    pub(crate) fn start(extra: &[&str]) -> Server {
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
            // The password of any --auth-user (never on the command line).
            let mut cmd = Cmd::new(["serve", "--listen", &addr])
                .env("MISSIVE_SERVE_PASSWORD", "pw")
                .arg("--maildir")
                .arg(&maildir);
            if let Some(t) = &tls_addr {
                cmd = cmd.arg("--tls-listen").arg(t);
            }
            let mut child = cmd.args(extra).spawn();
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

    pub(crate) fn ca_str(&self) -> String {
        self.ca().display().to_string()
    }

    fn port(&self) -> String {
        self.addr.rsplit_once(':').unwrap().1.to_string()
    }

    pub(crate) fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    fn stdout(&self) -> String {
        self.stdout.lock().unwrap().clone()
    }

    /// Every message in new/, sorted by file name.
    pub(crate) fn messages(&self) -> Vec<Stored> {
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

/// A message file: the two envelope lines and the session line the server
/// prepends, then the message as received (dot-unstuffed).
#[derive(Debug)]
pub(crate) struct Stored {
    pub(crate) path: PathBuf,
    pub(crate) return_path: String,
    pub(crate) envelope_to: Vec<String>,
    pub(crate) message: Vec<u8>,
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
        // how the message came in (TLS, AUTH), for the web API
        let session = line("X-Missive-Session: ");
        assert!(session.starts_with("helo="), "session line: {session:?}");
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

/// Runs `missive ARGS` with an optional password in the environment.
fn missive<S: AsRef<std::ffi::OsStr>>(args: &[S], password: Option<&str>) -> Output {
    let mut cmd = Cmd::new(args);
    if let Some(pw) = password {
        cmd = cmd.env(PASSWORD_VAR, pw);
    }
    cmd.run()
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

    /// Whether the server ends the connection (within the read timeout)
    /// without sending anything more.
    fn closed(&mut self) -> bool {
        let mut rest = String::new();
        match self.r.read_line(&mut rest) {
            Ok(0) | Err(_) => true,
            Ok(_) => panic!("the server said more: {rest:?}"),
        }
    }
}
