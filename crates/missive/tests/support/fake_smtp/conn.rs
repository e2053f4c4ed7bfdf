//! The server side of one connection of the scripted server: reading
//! command lines and bodies, answering, STARTTLS, and the replies of a
//! well-behaved submission server that hooks fall back to.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};

use missive_smtp::command::{CommandLine, CommandParser};
use missive_smtp::data::{DataDecoder, DataError};
use missive_smtp::Command;
use rustls::{ServerConfig, ServerConnection, StreamOwned};

use super::{multiline, Log, Script, Step};

pub(super) enum Stream {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ServerConnection, TcpStream>>),
    Gone,
}

/// The server side of one connection, for hooks to talk through.
pub struct Conn {
    pub(super) stream: Stream,
    pub(super) parser: CommandParser,
    pub(super) log: Arc<Mutex<Log>>,
    pub(super) caps: Vec<String>,
    pub(super) secure: bool,
    pub(super) tls: Arc<ServerConfig>,
}

impl Conn {
    fn log(&self) -> std::sync::MutexGuard<'_, Log> {
        self.log.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// True once STARTTLS succeeded.
    pub fn is_secure(&self) -> bool {
        self.secure
    }

    fn read_chunk(&mut self) -> Option<Vec<u8>> {
        let mut buf = vec![0u8; 64 * 1024];
        let n = match &mut self.stream {
            Stream::Plain(s) => s.read(&mut buf),
            Stream::Tls(s) => s.read(&mut buf),
            Stream::Gone => return None,
        };
        match n {
            Ok(0) | Err(_) => None,
            Ok(n) => {
                buf.truncate(n);
                Some(buf)
            }
        }
    }

    /// Writes raw bytes (errors ignored: the client may be gone already).
    pub fn send(&mut self, raw: &str) {
        let _ = match &mut self.stream {
            Stream::Plain(s) => s.write_all(raw.as_bytes()).and_then(|()| s.flush()),
            Stream::Tls(s) => s.write_all(raw.as_bytes()).and_then(|()| s.flush()),
            Stream::Gone => Ok(()),
        };
    }

    /// Writes one reply line, adding CRLF.
    pub fn reply(&mut self, line: &str) {
        self.send(&format!("{line}\r\n"));
    }

    /// The next line from the client, recorded; `None` at end of stream.
    pub fn read_line(&mut self) -> Option<String> {
        loop {
            if let Some(line) = self.parser.next_line() {
                let text = match line {
                    CommandLine::Line(l) => String::from_utf8_lossy(&l).into_owned(),
                    CommandLine::BareLf => "<bare LF>".to_string(),
                    CommandLine::TooLong => "<too long>".to_string(),
                };
                self.log().lines.push(text.clone());
                return Some(text);
            }
            let chunk = self.read_chunk()?;
            self.log().reads.push(chunk.clone());
            self.parser.feed(&chunk);
        }
    }

    /// Reads a DATA body up to its terminator; bytes after it stay for the
    /// next command. `None`: the connection ended first.
    pub fn read_body(&mut self) -> Option<Result<Vec<u8>, DataError>> {
        let mut decoder = DataDecoder::new(64 << 20);
        let mut pending = self.parser.take_buffered();
        loop {
            let used = decoder.feed(&pending);
            if decoder.is_done() {
                self.parser.feed(&pending[used..]);
                return Some(decoder.into_result());
            }
            pending = self.read_chunk()?;
        }
    }

    /// Reads raw bytes (the buffered ones first) until at least `n` have come
    /// or the stream ends; returns how many were read.
    pub fn read_raw(&mut self, n: usize) -> usize {
        let mut got = self.parser.take_buffered().len();
        while got < n {
            match self.read_chunk() {
                Some(c) => got += c.len(),
                None => break,
            }
        }
        self.log().raw_body_bytes += got;
        got
    }

    /// Runs the server side of the TLS handshake. False when it failed (the
    /// reason is in the log).
    pub fn start_tls(&mut self) -> bool {
        if self.parser.has_buffered() {
            self.log().buffered_at_starttls = true;
            self.parser = CommandParser::new();
        }
        let Stream::Plain(mut tcp) = std::mem::replace(&mut self.stream, Stream::Gone) else {
            return false;
        };
        let mut tls = match ServerConnection::new(self.tls.clone()) {
            Ok(t) => t,
            Err(e) => {
                self.log().handshake_error = Some(e.to_string());
                return false;
            }
        };
        while tls.is_handshaking() {
            if let Err(e) = tls.complete_io(&mut tcp) {
                self.log().handshake_error = Some(e.to_string());
                return false;
            }
        }
        {
            let mut log = self.log();
            log.tls_at = Some(log.lines.len());
        }
        self.stream = Stream::Tls(Box::new(StreamOwned::new(tls, tcp)));
        self.secure = true;
        true
    }

    /// Reads and records until the client goes away, answering nothing.
    pub fn drain(&mut self) {
        while self.read_line().is_some() {}
    }

    /// The EHLO reply for the current state.
    pub fn ehlo_reply(&self) -> String {
        let mut lines = vec!["fake.test greets you".to_string()];
        lines.extend(
            self.caps
                .iter()
                .filter(|c| !(self.secure && c.eq_ignore_ascii_case("STARTTLS")))
                .cloned(),
        );
        multiline(250, &lines)
    }

    /// Answers `cmd` as a well-behaved server. False: the session is over.
    pub fn default_reply(&mut self, cmd: &Command) -> bool {
        match cmd {
            Command::Ehlo(_) => {
                let r = self.ehlo_reply();
                self.send(&r);
            }
            Command::Helo(_) => self.reply("250 fake.test"),
            Command::StartTls => {
                let offered = self.caps.iter().any(|c| c.eq_ignore_ascii_case("STARTTLS"));
                if self.secure || !offered {
                    self.reply("502 5.5.1 Error: command not implemented");
                } else {
                    self.reply("220 2.0.0 Ready to start TLS");
                    return self.start_tls();
                }
            }
            Command::Auth { .. } => self.reply("235 2.7.0 Authentication successful"),
            Command::Mail { .. } => self.reply("250 2.1.0 Ok"),
            Command::Rcpt { .. } => self.reply("250 2.1.5 Ok"),
            Command::Rset | Command::Noop => self.reply("250 2.0.0 Ok"),
            Command::Data => {
                self.reply("354 End data with <CR><LF>.<CR><LF>");
                match self.read_body() {
                    None => return false,
                    Some(Ok(body)) => {
                        self.log().messages.push(body);
                        self.reply("250 2.0.0 Ok: queued as FAKEQ1");
                    }
                    Some(Err(e)) => self.reply(&format!("550 5.5.2 Error: {e}")),
                }
            }
            Command::Quit => {
                self.reply("221 2.0.0 Bye");
                return false;
            }
            _ => self.reply("502 5.5.2 Error: command not recognized"),
        }
        true
    }

    pub(super) fn run(&mut self, mut script: Script) {
        if script.implicit_tls && !self.start_tls() {
            return;
        }
        if let Some(g) = &script.greeting {
            self.send(g);
            if script.close_after_greeting {
                return;
            }
        } else {
            return self.drain();
        }
        while let Some(line) = self.read_line() {
            let cmd = match Command::parse(line.as_bytes()) {
                Ok(c) => c,
                Err(_) => {
                    self.reply("500 5.5.2 Error: bad syntax");
                    continue;
                }
            };
            let step = (script.hook)(self, &cmd);
            match step {
                Step::Default => {
                    if !self.default_reply(&cmd) {
                        return;
                    }
                }
                Step::Next => {}
                Step::Close => return,
                Step::Stall => return self.drain(),
            }
        }
    }
}
