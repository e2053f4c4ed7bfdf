//! A small SMTP server for OAuth2 tests: it offers only AUTH XOAUTH2 and
//! accepts only the tokens its validator accepts (the mock authorization
//! server's current access token), answering a refused token as Google and
//! Microsoft do: an error challenge, then 535. It serves any number of
//! connections, one after the other, and records what it saw.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use missive_smtp::command::{CommandLine, CommandParser};
use missive_smtp::Command;

/// The only user the server knows.
pub const USER: &str = "alice@example.test";
/// The longest the server waits for bytes.
const IO_WAIT: Duration = Duration::from_secs(10);

pub type Validator = Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// One AUTH attempt the SMTP server saw.
#[derive(Debug, Clone)]
pub struct AuthAttempt {
    pub connection: usize,
    pub user: String,
    pub token: String,
    pub accepted: bool,
    /// After the error challenge: the client's line (empty, as XOAUTH2 wants).
    pub answer_to_challenge: Option<String>,
}

#[derive(Debug, Default, Clone)]
pub struct SmtpLog {
    pub connections: usize,
    /// Every line received, with its connection number (AUTH data redacted).
    pub lines: Vec<(usize, String)>,
    pub auths: Vec<AuthAttempt>,
    pub messages: Vec<String>,
}

/// An SMTP server offering only AUTH XOAUTH2, accepting only the tokens its
/// validator accepts; any number of connections, one after the other.
pub struct SmtpServer {
    pub port: u16,
    log: Arc<Mutex<SmtpLog>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl SmtpServer {
    pub fn start(valid: Validator) -> SmtpServer {
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

    pub fn log(&self) -> SmtpLog {
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
