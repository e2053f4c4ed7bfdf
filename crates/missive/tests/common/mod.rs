//! Shared helpers for the tests that run the real `missive` binary against the
//! real Postfix testbed (`testbed/`, see its README).
//!
//! * [`testbed`] loads `credentials.env` from `$MISSIVE_TESTBED` (else
//!   `/tmp/smtp-testbed`) and checks that the servers answer. When they do not,
//!   it panics if `MISSIVE_TESTBED` is set (test.sh sets it: the testbed must be
//!   there), and otherwise prints "skipped: testbed not running" and returns None.
//! * [`run`] / [`Cmd`] run `missive` with arguments, environment and standard
//!   input under a timeout and capture stdout, stderr and the exit code.
//! * [`Testbed::wait_for_mail`] polls for the Maildir file of a recipient,
//!   [`original`] strips the headers Postfix adds.
//! * [`unique`] makes recipient local parts that no other test (or run) uses.
//! * [`TempDir`], [`run_to_end`] and the rest of `support.rs` (re-exported
//!   here) need no testbed.

#![allow(dead_code)]

mod support;
pub use support::*;

use std::collections::HashMap;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The default upper bound on one run of `missive`.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(60);
/// How long to poll for a delivered Maildir file.
pub const DELIVERY_WAIT: Duration = Duration::from_secs(10);
/// How long to wait before concluding that nothing was delivered.
pub const NO_DELIVERY_WAIT: Duration = Duration::from_millis(1200);

/// The running testbed: its directory and the values of its credentials.env.
#[derive(Debug, Clone)]
pub struct Testbed {
    pub dir: PathBuf,
    pub vars: HashMap<String, String>,
}

/// The testbed, or None (after printing "skipped: testbed not running") when it
/// is not there and `MISSIVE_TESTBED` is not set. Panics when it is required
/// (`MISSIVE_TESTBED` set) but absent.
pub fn testbed() -> Option<Testbed> {
    let required = std::env::var_os("MISSIVE_TESTBED").filter(|v| !v.is_empty());
    let dir = required
        .clone()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/tmp/smtp-testbed"));
    match Testbed::load(&dir) {
        Ok(tb) => Some(tb),
        Err(why) if required.is_some() => panic!(
            "MISSIVE_TESTBED={} is set but the testbed is not usable: {why}",
            dir.display()
        ),
        Err(why) => {
            eprintln!("skipped: testbed not running ({why})");
            None
        }
    }
}

impl Testbed {
    fn load(dir: &Path) -> Result<Testbed, String> {
        let file = dir.join("credentials.env");
        let text = std::fs::read_to_string(&file)
            .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        let vars = parse_env_file(&text);
        for key in [
            "SMTP_HOST",
            "SMTP_HOST6",
            "SMTP_PORT_MX",
            "SMTP_PORT_SUBMISSION",
            "SMTP_PORT_SMTPS",
            "SMTP_USER",
            "SMTP_PASS",
            "SMTP_USER2",
            "SMTP_PASS2",
            "SMTP_CA",
            "SMTP_MAILDIR_BASE",
        ] {
            if !vars.contains_key(key) {
                return Err(format!("{} has no {key}", file.display()));
            }
        }
        let tb = Testbed {
            dir: dir.to_path_buf(),
            vars,
        };
        for port in ["SMTP_PORT_MX", "SMTP_PORT_SUBMISSION", "SMTP_PORT_SMTPS"] {
            let addr = format!("{}:{}", tb.var("SMTP_HOST"), tb.var(port));
            let sock: SocketAddr = addr
                .to_socket_addrs()
                .ok()
                .and_then(|mut a| a.next())
                .ok_or_else(|| format!("cannot resolve {addr}"))?;
            TcpStream::connect_timeout(&sock, Duration::from_secs(2))
                .map_err(|e| format!("nothing answers on {addr}: {e}"))?;
        }
        Ok(tb)
    }

    /// A value from credentials.env.
    pub fn var(&self, key: &str) -> &str {
        self.vars
            .get(key)
            .unwrap_or_else(|| panic!("credentials.env has no {key}"))
    }

    pub fn user(&self) -> &str {
        self.var("SMTP_USER")
    }
    pub fn pass(&self) -> &str {
        self.var("SMTP_PASS")
    }
    pub fn user2(&self) -> &str {
        self.var("SMTP_USER2")
    }
    pub fn pass2(&self) -> &str {
        self.var("SMTP_PASS2")
    }
    /// The path of the testbed CA certificate.
    pub fn ca(&self) -> &str {
        self.var("SMTP_CA")
    }

    /// `127.0.0.1:2525`: MX-style, STARTTLS optional, no AUTH.
    pub fn mx(&self) -> String {
        format!("{}:{}", self.var("SMTP_HOST"), self.var("SMTP_PORT_MX"))
    }
    /// `127.0.0.1:5870`: submission, STARTTLS and AUTH required.
    pub fn submission(&self) -> String {
        format!(
            "{}:{}",
            self.var("SMTP_HOST"),
            self.var("SMTP_PORT_SUBMISSION")
        )
    }
    /// `[::1]:5870`.
    pub fn submission6(&self) -> String {
        format!(
            "[{}]:{}",
            self.var("SMTP_HOST6"),
            self.var("SMTP_PORT_SUBMISSION")
        )
    }
    /// The implicit-TLS port.
    pub fn smtps_port(&self) -> &str {
        self.var("SMTP_PORT_SMTPS")
    }
    /// `127.0.0.1:2526`: smtp-sink (no TLS, discards everything).
    pub fn sink(&self) -> String {
        format!("{}:2526", self.var("SMTP_HOST"))
    }
    /// Whether the smtp-sink answers (it is optional for these tests).
    pub fn sink_running(&self) -> bool {
        self.sink()
            .parse::<SocketAddr>()
            .ok()
            .is_some_and(|a| TcpStream::connect_timeout(&a, Duration::from_secs(2)).is_ok())
    }

    /// Postfix's log file.
    pub fn postfix_log(&self) -> PathBuf {
        self.dir.join("postfix").join("postfix.log")
    }

    /// The `new/` directory of `addr`'s Maildir (domain and local part
    /// lowercased, `/` as `_`, a leading `.` prefixed with `_`).
    pub fn maildir_new(&self, addr: &str) -> PathBuf {
        let (local, domain) = addr
            .rsplit_once('@')
            .unwrap_or_else(|| panic!("not an address: {addr}"));
        let fix = |s: &str| {
            let s = s.to_ascii_lowercase().replace('/', "_");
            if s.starts_with('.') {
                format!("_{s}")
            } else {
                s
            }
        };
        PathBuf::from(self.var("SMTP_MAILDIR_BASE"))
            .join(fix(domain))
            .join(fix(local))
            .join("new")
    }

    /// The delivered files of `addr`, sorted by name.
    pub fn mail_files(&self, addr: &str) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = match std::fs::read_dir(self.maildir_new(addr)) {
            Ok(rd) => rd.filter_map(|e| e.ok()).map(|e| e.path()).collect(),
            Err(_) => Vec::new(),
        };
        files.sort();
        files
    }

    /// Polls (up to [`DELIVERY_WAIT`]) for the Maildir file of a recipient
    /// that only this test uses, and returns its bytes.
    pub fn wait_for_mail(&self, addr: &str) -> Vec<u8> {
        let deadline = Instant::now() + DELIVERY_WAIT;
        loop {
            if let Some(f) = self.mail_files(addr).first() {
                return std::fs::read(f)
                    .unwrap_or_else(|e| panic!("cannot read {}: {e}", f.display()));
            }
            if Instant::now() > deadline {
                panic!(
                    "nothing delivered to {addr} within {DELIVERY_WAIT:?} (looked in {}); log lines:\n{}",
                    self.maildir_new(addr).display(),
                    self.log_lines_mentioning(addr).join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Lines of Postfix's log that mention `needle` (case-insensitive).
    pub fn log_lines_mentioning(&self, needle: &str) -> Vec<String> {
        let log = std::fs::read(self.postfix_log()).unwrap_or_default();
        let needle = needle.to_lowercase();
        String::from_utf8_lossy(&log)
            .lines()
            .filter(|l| l.to_lowercase().contains(&needle))
            .map(str::to_string)
            .collect()
    }

    /// Waits [`NO_DELIVERY_WAIT`], then asserts that no file arrived for
    /// `addr` and that Postfix's log never mentions it (no RCPT, no queue entry).
    pub fn assert_nothing_for(&self, addr: &str) {
        self.assert_none_delivered(&[addr], true);
    }

    /// Waits [`NO_DELIVERY_WAIT`] and asserts no file arrived for `addr`.
    pub fn assert_not_delivered(&self, addr: &str) {
        self.assert_none_delivered(&[addr], false);
    }

    /// Waits [`NO_DELIVERY_WAIT`] once, then asserts that no file arrived for
    /// any of `addrs` and, with `check_log`, that Postfix's log mentions none.
    pub fn assert_none_delivered(&self, addrs: &[&str], check_log: bool) {
        std::thread::sleep(NO_DELIVERY_WAIT);
        for addr in addrs {
            let files = self.mail_files(addr);
            assert!(files.is_empty(), "mail arrived for {addr}: {files:?}");
            if check_log {
                let lines = self.log_lines_mentioning(addr);
                assert!(
                    lines.is_empty(),
                    "Postfix's log mentions {addr}, so the server saw it:\n{}",
                    lines.join("\n")
                );
            }
        }
    }
}

/// Parses `KEY=VALUE` lines as the shell would for simple values: `\x`
/// escapes, '…' and "…" quoting; comments and blank lines are skipped.
pub fn parse_env_file(text: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for line in text.lines() {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((key, raw)) = line.split_once('=') else {
            continue;
        };
        let mut value = String::new();
        let mut chars = raw.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => value.extend(chars.next()),
                '\'' => value.extend(chars.by_ref().take_while(|&c| c != '\'')),
                '"' => {
                    while let Some(c) = chars.next() {
                        match c {
                            '"' => break,
                            '\\' => value.extend(chars.next()),
                            c => value.push(c),
                        }
                    }
                }
                c if c.is_whitespace() => break,
                c => value.push(c),
            }
        }
        out.insert(key.trim().to_string(), value);
    }
    out
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A local part that no other test or run uses: `prefix-<pid>-<time>-<n>`,
/// lowercase ASCII (the Maildir path keeps it as is).
pub fn unique(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "{}-{}-{:x}-{n}",
        prefix.to_ascii_lowercase(),
        std::process::id(),
        nanos % (1 << 48)
    )
}

/// A unique address at example.test.
pub fn unique_addr(prefix: &str) -> String {
    format!("{}@example.test", unique(prefix))
}

/// What one run of `missive` did.
#[derive(Debug)]
pub struct Output {
    /// The exit code; None when killed by a signal (or by the timeout).
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub timed_out: bool,
}

impl Output {
    /// Panics, showing everything, unless the exit code is `code`.
    #[track_caller]
    pub fn assert_code(&self, code: i32) -> &Output {
        assert!(
            !self.timed_out,
            "missive timed out\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout, self.stderr
        );
        assert_eq!(
            self.code,
            Some(code),
            "unexpected exit code\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    /// stdout and stderr together, for checks that neither holds something.
    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }

    /// The `--json` report on stdout.
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e})\n--- stdout\n{}\n--- stderr\n{}",
                self.stdout, self.stderr
            )
        })
    }
}

/// One run of `missive`, built up step by step.
#[derive(Debug, Clone)]
pub struct Cmd {
    args: Vec<String>,
    env: Vec<(String, String)>,
    stdin: Option<Vec<u8>>,
    timeout: Duration,
}

impl Cmd {
    pub fn new<I, S>(args: I) -> Cmd
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Cmd {
            args: args.into_iter().map(|s| s.as_ref().to_string()).collect(),
            env: Vec::new(),
            stdin: None,
            timeout: RUN_TIMEOUT,
        }
    }

    pub fn arg(mut self, a: impl AsRef<str>) -> Cmd {
        self.args.push(a.as_ref().to_string());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Cmd
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.args
            .extend(args.into_iter().map(|s| s.as_ref().to_string()));
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> Cmd {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    /// Bytes for standard input (else it is /dev/null).
    pub fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Cmd {
        self.stdin = Some(bytes.into());
        self
    }

    pub fn timeout(mut self, t: Duration) -> Cmd {
        self.timeout = t;
        self
    }

    /// Runs the binary and waits for it, killing it after the timeout.
    pub fn run(&self) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_missive"));
        cmd.args(&self.args);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let f = run_to_end(&mut cmd, self.stdin.clone(), self.timeout);
        Output {
            code: f.code(),
            timed_out: f.timed_out(),
            stdout: f.stdout,
            stderr: f.stderr,
        }
    }
}

/// Runs `missive` with `args` (no environment changes, stdin from /dev/null).
pub fn run<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    Cmd::new(args).run()
}

/// The message as the client sent it: the delivered file without the three
/// headers the delivery agent prepends (Return-Path, X-Original-To,
/// Delivered-To) and without Postfix's first Received header and its
/// continuation lines. Line ends are LF, as Postfix stores them.
pub fn original(file: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(file.len());
    let mut in_received = false;
    let mut received_done = false;
    let mut headers_done = false;
    for (i, line) in file.split_inclusive(|&b| b == b'\n').enumerate() {
        if !headers_done {
            let starts = |p: &str| {
                line.len() >= p.len() && line[..p.len()].eq_ignore_ascii_case(p.as_bytes())
            };
            if i < 3
                && (starts("Return-Path:") || starts("X-Original-To:") || starts("Delivered-To:"))
            {
                continue;
            }
            if in_received && matches!(line.first(), Some(b' ' | b'\t')) {
                continue;
            }
            in_received = false;
            if !received_done && starts("Received:") {
                in_received = true;
                received_done = true;
                continue;
            }
            headers_done = true;
        }
        out.extend_from_slice(line);
    }
    out
}

/// The Received header Postfix added (unfolded), from a delivered file.
pub fn received_header(file: &[u8]) -> String {
    let text = String::from_utf8_lossy(file);
    let (head, _) = text.split_once("\n\n").unwrap_or((&text, ""));
    unfold(head)
        .into_iter()
        .find(|h| h.to_ascii_lowercase().starts_with("received:"))
        .unwrap_or_else(|| panic!("no Received header in:\n{head}"))
}

/// Splits a message into its header block and its body (after the blank line).
pub fn split_message(msg: &[u8]) -> (String, Vec<u8>) {
    let pos = msg
        .windows(2)
        .position(|w| w == b"\n\n")
        .unwrap_or_else(|| panic!("no end of headers in:\n{}", String::from_utf8_lossy(msg)));
    (
        String::from_utf8_lossy(&msg[..pos + 1]).into_owned(),
        msg[pos + 2..].to_vec(),
    )
}

/// The header fields of a header block, each unfolded onto one line
/// (RFC 5322 §2.2.3: only the line breaks are removed).
pub fn unfold(head: &str) -> Vec<String> {
    let mut fields: Vec<String> = Vec::new();
    for line in head.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            continue;
        }
        if line.starts_with([' ', '\t']) {
            if let Some(last) = fields.last_mut() {
                last.push_str(line);
                continue;
            }
        }
        fields.push(line.to_string());
    }
    fields
}

/// The values of every header field called `name` (case-insensitive), unfolded.
pub fn header_values(head: &str, name: &str) -> Vec<String> {
    unfold(head)
        .into_iter()
        .filter_map(|f| {
            let (n, v) = f.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
        .collect()
}

/// CRLF → LF, as Postfix stores messages.
pub fn lf(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\r' && bytes.get(i + 1) == Some(&b'\n') {
            i += 1;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding, written out here so the tests do not share
/// the implementation they check.
pub fn base64_encode(data: &[u8]) -> String {
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for k in 0..4 {
            if k <= chunk.len() {
                out.push(B64[((n >> (18 - 6 * k)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Decodes standard base64 (padding optional); None on any invalid character.
pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let s = s.trim_end_matches('=');
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for c in s.bytes() {
        let v = B64.iter().position(|&x| x == c)? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// Decodes a header value made of RFC 2047 `=?UTF-8?B?…?=` words only
/// (whitespace between encoded words is dropped, as RFC 2047 §6.2 says).
/// None if anything else is in it.
pub fn decode_b_words(value: &str) -> Option<String> {
    let mut bytes = Vec::new();
    for word in value.split_whitespace() {
        let inner = word.strip_prefix("=?")?.strip_suffix("?=")?;
        let mut parts = inner.splitn(3, '?');
        let (charset, enc, text) = (parts.next()?, parts.next()?, parts.next()?);
        if !charset.eq_ignore_ascii_case("utf-8") || !enc.eq_ignore_ascii_case("b") {
            return None;
        }
        bytes.extend(base64_decode(text)?);
    }
    String::from_utf8(bytes).ok()
}

/// Decodes a quoted-printable body (RFC 2045 §6.7) with LF line ends: soft
/// breaks (`=` at a line end) join lines, `=XX` is a byte.
pub fn decode_qp(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0;
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    while i < body.len() {
        match body[i] {
            b'=' if body.get(i + 1) == Some(&b'\n') => i += 2,
            b'=' if body.get(i + 1) == Some(&b'\r') && body.get(i + 2) == Some(&b'\n') => i += 3,
            b'=' => {
                let (h, l) = (
                    body.get(i + 1).copied().and_then(hex),
                    body.get(i + 2).copied().and_then(hex),
                );
                match (h, l) {
                    (Some(h), Some(l)) => {
                        out.push((h << 4) | l);
                        i += 3;
                    }
                    _ => panic!("bad quoted-printable at byte {i}"),
                }
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

/// A file in the temporary directory, removed when dropped.
pub struct TempFile {
    pub path: PathBuf,
}

impl TempFile {
    pub fn new(contents: &[u8]) -> TempFile {
        let path = std::env::temp_dir().join(format!("missive-test-{}", unique("body")));
        std::fs::write(&path, contents)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        TempFile { path }
    }

    pub fn path_str(&self) -> &str {
        self.path.to_str().expect("temp path is UTF-8")
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod self_tests {
    use super::*;

    #[test]
    fn env_file_unquoting() {
        let v = parse_env_file("# c\nA=x\nB=p\\ w:\\€\\ 1\nC='a b'\nD=\"q \\\" r\"\n");
        assert_eq!(v["A"], "x");
        assert_eq!(v["B"], "p w:€ 1");
        assert_eq!(v["C"], "a b");
        assert_eq!(v["D"], "q \" r");
    }

    #[test]
    fn base64_round_trip() {
        for s in [
            "",
            "f",
            "fo",
            "foo",
            "foob",
            "fooba",
            "foobar",
            "päss wörd:€ 1",
        ] {
            let e = base64_encode(s.as_bytes());
            assert_eq!(base64_decode(&e).as_deref(), Some(s.as_bytes()), "{e}");
        }
        assert_eq!(base64_encode(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64_encode(b"fo"), "Zm8=");
    }

    #[test]
    fn original_strips_postfix_headers() {
        let file = b"Return-Path: <a@x>\nX-Original-To: b@x\nDelivered-To: b@x\nReceived: from x\n\tby y\n\tfor z\nFrom: a@x\nReceived: kept\n\nbody\n";
        assert_eq!(original(file), b"From: a@x\nReceived: kept\n\nbody\n");
    }
}
