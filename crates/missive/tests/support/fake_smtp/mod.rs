//! A scripted fake SMTP server for fault tests, and `missive send` aimed at
//! it.
//!
//! The server listens on 127.0.0.1:0, serves one connection in a background
//! thread with blocking std::net I/O, reads commands with missive-smtp's own
//! server-role [`CommandParser`] / [`Command`], answers like a well-behaved
//! submission server unless the test's hook says otherwise, and records
//! everything it received: every command line (raw), the bytes of every read,
//! and the messages it accepted. STARTTLS upgrades to TLS with a certificate
//! for 127.0.0.1 issued by a throwaway CA (rcgen), whose PEM file the client
//! is given with `--cafile`.
//!
//! Every wait is bounded, so a broken client fails a test instead of hanging it.

use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use missive_smtp::command::CommandParser;
use missive_smtp::Command;
use rustls::ServerConfig;

pub use super::fake_tls::{ca_file, identity};
use super::{Cmd, Output};

mod conn;
pub use conn::Conn;
use conn::Stream;

/// The longest the server waits for a connection or for bytes (a safety net).
const SERVER_WAIT: Duration = Duration::from_secs(30);

pub const FROM: &str = "alice@example.test";
pub const TO: &str = "bob@example.test";
pub const BODY: &str = "Hello from missive.\n";

// ---- what the server saw --------------------------------------------------------

/// Everything the server received.
#[derive(Debug, Default, Clone)]
pub struct Log {
    /// Every line read as a command or an AUTH response, CRLF removed, lossy
    /// UTF-8, as received (`<bare LF>` / `<too long>` for broken ones).
    pub lines: Vec<String>,
    /// The raw bytes of every read made while waiting for commands (after TLS,
    /// the decrypted bytes); message bodies are not included.
    pub reads: Vec<Vec<u8>>,
    /// Message bodies accepted after DATA, decoded (dots unstuffed, CRLF kept).
    pub messages: Vec<Vec<u8>>,
    /// Raw body bytes read outside [`Conn::read_body`] (see [`Conn::read_raw`]).
    pub raw_body_bytes: usize,
    /// How many entries of `lines` came before the TLS handshake completed.
    pub tls_at: Option<usize>,
    /// Why a TLS handshake failed, when one was attempted.
    pub handshake_error: Option<String>,
    /// Bytes were waiting, unread, when the server answered STARTTLS.
    pub buffered_at_starttls: bool,
}

impl Log {
    /// The upper-cased first word of every line.
    pub fn verbs(&self) -> Vec<String> {
        self.lines
            .iter()
            .map(|l| l.split(' ').next().unwrap_or_default().to_ascii_uppercase())
            .collect()
    }

    pub fn has_verb(&self, verb: &str) -> bool {
        self.verbs().iter().any(|v| v == verb)
    }

    /// The index of the first line starting with `verb`.
    pub fn position(&self, verb: &str) -> Option<usize> {
        self.verbs().iter().position(|v| v == verb)
    }

    /// Each read split into its lines (CRLF removed).
    pub fn read_lines(&self) -> Vec<Vec<String>> {
        self.reads
            .iter()
            .map(|r| {
                String::from_utf8_lossy(r)
                    .split_terminator("\r\n")
                    .map(str::to_string)
                    .collect()
            })
            .collect()
    }
}

// ---- the script -----------------------------------------------------------------

/// What the server does after the hook has seen a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Answer as a well-behaved server would.
    Default,
    /// The hook answered (or chose not to); read the next command.
    Next,
    /// Close the connection now, without another word.
    Close,
    /// Never answer again: read (and record) until the client goes away.
    Stall,
}

type Hook = Box<dyn FnMut(&mut Conn, &Command) -> Step + Send>;

/// How the fake server behaves.
pub struct Script {
    /// Sent on connect, raw (CRLFs included); `None`: no greeting at all.
    pub greeting: Option<String>,
    /// EHLO keywords offered (STARTTLS is dropped from the list once under TLS).
    pub caps: Vec<String>,
    /// TLS from the first byte (RFC 8314), before the greeting.
    pub implicit_tls: bool,
    /// Close the connection right after the greeting.
    pub close_after_greeting: bool,
    /// The TLS identity; `None`: the shared [`identity`].
    pub tls: Option<Arc<ServerConfig>>,
    hook: Hook,
}

impl Default for Script {
    fn default() -> Self {
        Script::new()
    }
}

impl Script {
    /// A well-behaved server: greeting, `8BITMIME` and `SIZE`, everything accepted.
    pub fn new() -> Script {
        Script {
            greeting: Some("220 fake.test ESMTP fake\r\n".into()),
            caps: vec!["8BITMIME".into(), "SIZE 10240000".into()],
            implicit_tls: false,
            close_after_greeting: false,
            tls: None,
            hook: Box::new(|_, _| Step::Default),
        }
    }

    /// Replaces the EHLO keyword list.
    pub fn caps(mut self, caps: &[&str]) -> Script {
        self.caps = caps.iter().map(|c| c.to_string()).collect();
        self
    }

    /// Replaces the greeting (raw bytes, CRLFs included); `None` sends none.
    pub fn greeting(mut self, raw: Option<&str>) -> Script {
        self.greeting = raw.map(str::to_string);
        self
    }

    /// Sends the greeting (raw, may be empty), then closes the connection.
    pub fn greeting_then_close(mut self, raw: &str) -> Script {
        self.greeting = Some(raw.to_string());
        self.close_after_greeting = true;
        self
    }

    /// Presents this certificate chain and key (PEM files) instead of the
    /// shared identity (DANE tests: certificates the DNS vouches for).
    pub fn certificate(mut self, chain: &std::path::Path, key: &std::path::Path) -> Script {
        self.tls = Some(super::fake_tls::server_config(chain, key));
        self
    }

    /// Speaks TLS from the first byte, like port 465.
    pub fn implicit_tls(mut self) -> Script {
        self.implicit_tls = true;
        self
    }

    /// Sees every command that parses before the default handling.
    pub fn on(mut self, hook: impl FnMut(&mut Conn, &Command) -> Step + Send + 'static) -> Script {
        self.hook = Box::new(hook);
        self
    }
}

/// Formats a reply: `code-line` … `code line`, CRLF after each.
pub fn multiline(code: u16, lines: &[String]) -> String {
    let mut out = String::new();
    for (i, l) in lines.iter().enumerate() {
        let sep = if i + 1 == lines.len() { ' ' } else { '-' };
        out.push_str(&format!("{code}{sep}{l}\r\n"));
    }
    out
}

// ---- the server -------------------------------------------------------------------

/// A fake server serving one connection in a background thread (or one
/// connection for each script, in turn, with [`Server::start_each`]).
pub struct Server {
    pub port: u16,
    logs: Vec<Arc<Mutex<Log>>>,
    /// Set by [`Server::finish`]: stop waiting for connections not yet made.
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    pub fn start(script: Script) -> Server {
        Server::start_each(vec![script])
    }

    /// [`Server::start`] on `addr` (another loopback address, a given port).
    pub fn start_at(addr: &str, script: Script) -> Server {
        Server::start_each_at(addr, vec![script])
    }

    /// Serves the first connection with the first script, the next one
    /// (once that ended) with the second, and so on: a server that fails,
    /// then one that works, on the same port. Connections after the last
    /// are refused at once rather than left waiting in the backlog.
    pub fn start_each(scripts: Vec<Script>) -> Server {
        Server::start_each_at("127.0.0.1:0", scripts)
    }

    fn start_each_at(addr: &str, scripts: Vec<Script>) -> Server {
        let listener = TcpListener::bind(addr).unwrap_or_else(|e| panic!("bind {addr}: {e}"));
        let port = listener.local_addr().expect("local addr").port();
        listener
            .set_nonblocking(true)
            .expect("nonblocking listener");
        let logs: Vec<_> = scripts.iter().map(|_| Arc::default()).collect();
        let stop = Arc::new(AtomicBool::new(false));
        let (thread_logs, thread_stop) = (logs.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let (mut listener, last) = (Some(listener), scripts.len());
            for (i, (script, log)) in scripts.into_iter().zip(thread_logs).enumerate() {
                let Some(tcp) = listener.as_ref().and_then(|l| accept(l, &thread_stop)) else {
                    return;
                };
                if i + 1 == last {
                    listener = None;
                }
                let _ = tcp.set_nonblocking(false);
                let _ = tcp.set_read_timeout(Some(SERVER_WAIT));
                let _ = tcp.set_write_timeout(Some(SERVER_WAIT));
                let _ = tcp.set_nodelay(true);
                let mut conn = Conn {
                    stream: Stream::Plain(tcp),
                    parser: CommandParser::new(),
                    log,
                    caps: script.caps.clone(),
                    secure: false,
                    tls: script
                        .tls
                        .clone()
                        .unwrap_or_else(|| identity().config.clone()),
                };
                conn.run(script);
            }
        });
        Server {
            port,
            logs,
            stop,
            thread: Some(thread),
        }
    }

    /// Waits for the connection to end and returns what the server saw.
    pub fn finish(self) -> Log {
        self.finish_each().swap_remove(0)
    }

    /// Waits for the connections to end and returns what the server saw on
    /// each (empty for a script whose connection never came).
    pub fn finish_each(mut self) -> Vec<Log> {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            t.join().expect("fake server thread panicked");
        }
        self.logs
            .iter()
            .map(|l| l.lock().unwrap_or_else(|e| e.into_inner()).clone())
            .collect()
    }

    /// A client for this server.
    pub fn client(&self) -> Missive {
        Missive::new(self.port)
    }
}

/// The next connection; `None` after [`SERVER_WAIT`], or once `stop` is
/// set and none is waiting (one already made is still served).
fn accept(listener: &TcpListener, stop: &AtomicBool) -> Option<TcpStream> {
    let deadline = Instant::now() + SERVER_WAIT;
    loop {
        match listener.accept() {
            Ok((s, _)) => return Some(s),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if stop.load(Ordering::SeqCst) || Instant::now() > deadline {
                    return None;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(_) => return None,
        }
    }
}

// ---- the client -------------------------------------------------------------------

/// A run of the real `missive` binary.
pub struct Missive {
    port: u16,
    to: Vec<String>,
    body: Vec<String>,
    args: Vec<String>,
    envs: Vec<(String, String)>,
}

impl Missive {
    pub fn new(port: u16) -> Missive {
        Missive {
            port,
            to: vec![TO.into()],
            body: vec!["--body".into(), BODY.into()],
            args: Vec::new(),
            envs: Vec::new(),
        }
    }

    /// Replaces the recipients.
    pub fn to(mut self, to: &[&str]) -> Missive {
        self.to = to.iter().map(|s| s.to_string()).collect();
        self
    }

    /// Sends `text` instead of the default body.
    pub fn body(mut self, text: &str) -> Missive {
        self.body = vec!["--body".into(), text.into()];
        self
    }

    /// Sends the content of `path` instead of the default body.
    pub fn body_file(mut self, path: &std::path::Path) -> Missive {
        self.body = vec!["--body-file".into(), path.display().to_string()];
        self
    }

    pub fn args(mut self, args: &[&str]) -> Missive {
        self.args.extend(args.iter().map(|s| s.to_string()));
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> Missive {
        self.envs.push((key.into(), value.into()));
        self
    }

    /// Runs the binary to its end (killing it, and failing, after a minute).
    #[track_caller]
    pub fn run(self) -> Output {
        let mut cmd = Cmd::new([
            "send",
            "--server",
            &format!("127.0.0.1:{}", self.port),
            "--from",
            FROM,
            "--ehlo",
            "client.test",
            "--subject",
            "fault test",
        ]);
        for t in &self.to {
            cmd = cmd.args(["--to", t]);
        }
        cmd = cmd.args(&self.body).args(&self.args);
        for (k, v) in &self.envs {
            cmd = cmd.env(k, v);
        }
        let run = cmd.run();
        if std::env::var_os("MISSIVE_FAKE_DEBUG").is_some() {
            eprintln!("{run}");
        }
        run
    }
}
