//! SMTP commands (RFC 5321 §4.1): encoding for the client, parsing for the server.

use std::fmt;

use crate::Error;

/// Longest command line a server accepts here, CRLF included. RFC 5321
/// §4.5.3.1.4 says 512, RFC 4954 §4 allows 12288 for AUTH with an initial
/// response; one cap for all keeps the parser simple.
pub const MAX_COMMAND_LINE: usize = 12288;

/// One SMTP command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Ehlo(String),
    Helo(String),
    /// `MAIL FROM:<path> [params]`; an empty path is the null reverse-path.
    Mail {
        from: String,
        params: Vec<String>,
    },
    /// `RCPT TO:<path> [params]`.
    Rcpt {
        to: String,
        params: Vec<String>,
    },
    Data,
    /// `BDAT size [LAST]` (RFC 3030).
    Bdat {
        size: u64,
        last: bool,
    },
    Rset,
    Noop,
    Quit,
    StartTls,
    /// `AUTH mechanism [initial-response]`; the response is base64 already.
    Auth {
        mechanism: String,
        initial: Option<String>,
    },
    Vrfy(String),
    /// Anything else, as received (the verb upper-cased).
    Unknown(String),
}

impl Command {
    /// The command line with CRLF.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut s = self.to_string();
        s.push_str("\r\n");
        s.into_bytes()
    }

    /// Whether RFC 2920 §3.1 lets this command stand anywhere but last in a pipelined group.
    pub fn may_be_pipelined(&self) -> bool {
        matches!(
            self,
            Command::Mail { .. } | Command::Rcpt { .. } | Command::Rset
        )
    }

    /// The transcript form of this command: AUTH's initial response is
    /// replaced by `<redacted>`, since it carries the credentials.
    pub fn redacted(&self) -> String {
        match self {
            Command::Auth {
                mechanism,
                initial: Some(_),
            } => format!("AUTH {mechanism} <redacted>"),
            other => other.to_string(),
        }
    }

    /// Parses one command line, with or without its CRLF (the server role).
    pub fn parse(line: &[u8]) -> Result<Command, Error> {
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let line =
            std::str::from_utf8(line).map_err(|_| Error::Syntax("command is not UTF-8".into()))?;
        let (verb, rest) = match line.find(' ') {
            Some(i) => (&line[..i], line[i + 1..].trim()),
            None => (line, ""),
        };
        let verb = verb.to_ascii_uppercase();
        let no_args = |c: Command| {
            if rest.is_empty() {
                Ok(c)
            } else {
                Err(Error::Syntax(format!("{verb} takes no argument")))
            }
        };
        match verb.as_str() {
            "EHLO" | "HELO" if rest.is_empty() => {
                Err(Error::Syntax(format!("{verb} needs a domain")))
            }
            "EHLO" => Ok(Command::Ehlo(rest.to_string())),
            "HELO" => Ok(Command::Helo(rest.to_string())),
            "MAIL" => {
                let (from, params) = parse_path(rest, "FROM:")?;
                Ok(Command::Mail { from, params })
            }
            "RCPT" => {
                let (to, params) = parse_path(rest, "TO:")?;
                if to.is_empty() {
                    return Err(Error::Syntax("RCPT needs a recipient".into()));
                }
                Ok(Command::Rcpt { to, params })
            }
            "DATA" => no_args(Command::Data),
            "RSET" => no_args(Command::Rset),
            "QUIT" => no_args(Command::Quit),
            "STARTTLS" => no_args(Command::StartTls),
            "NOOP" => Ok(Command::Noop),
            "VRFY" => Ok(Command::Vrfy(rest.to_string())),
            "BDAT" => {
                let mut words = rest.split_whitespace();
                let size = words
                    .next()
                    .and_then(|w| w.parse().ok())
                    .ok_or_else(|| Error::Syntax("BDAT needs a size".into()))?;
                let last = match words.next() {
                    None => false,
                    Some(w) if w.eq_ignore_ascii_case("LAST") => true,
                    Some(_) => return Err(Error::Syntax("BDAT size [LAST]".into())),
                };
                Ok(Command::Bdat { size, last })
            }
            "AUTH" => {
                let mut words = rest.split_whitespace();
                let mechanism = words
                    .next()
                    .ok_or_else(|| Error::Syntax("AUTH needs a mechanism".into()))?
                    .to_ascii_uppercase();
                let initial = words.next().map(str::to_string);
                Ok(Command::Auth { mechanism, initial })
            }
            _ => Ok(Command::Unknown(line.to_string())),
        }
    }
}

/// Parses `FROM:<path> params` (also tolerates a space after the colon).
fn parse_path(rest: &str, prefix: &str) -> Result<(String, Vec<String>), Error> {
    let head = rest.get(..prefix.len()).unwrap_or("");
    if !head.eq_ignore_ascii_case(prefix) {
        return Err(Error::Syntax(format!("expected {prefix}<address>")));
    }
    let rest = rest[prefix.len()..].trim_start();
    let inner = rest
        .strip_prefix('<')
        .ok_or_else(|| Error::Syntax("address must be in <>".into()))?;
    let end = path_end(inner).ok_or_else(|| Error::Syntax("address must be in <>".into()))?;
    let path = inner[..end].to_string();
    let params = inner[end + 1..]
        .split_whitespace()
        .map(str::to_string)
        .collect();
    Ok((path, params))
}

/// Where the path's closing `>` is: the first one outside a quoted local
/// part (RFC 5321 §4.1.2: `"a>b"@example.com` is one mailbox).
fn path_end(inner: &str) -> Option<usize> {
    let (mut quoted, mut escaped) = (false, false);
    for (i, c) in inner.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '>' if !quoted => return Some(i),
            _ => {}
        }
    }
    None
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let with_params = |f: &mut fmt::Formatter<'_>, params: &[String]| {
            params.iter().try_for_each(|p| write!(f, " {p}"))
        };
        match self {
            Command::Ehlo(d) => write!(f, "EHLO {d}"),
            Command::Helo(d) => write!(f, "HELO {d}"),
            Command::Mail { from, params } => {
                write!(f, "MAIL FROM:<{from}>")?;
                with_params(f, params)
            }
            Command::Rcpt { to, params } => {
                write!(f, "RCPT TO:<{to}>")?;
                with_params(f, params)
            }
            Command::Data => f.write_str("DATA"),
            Command::Bdat { size, last: true } => write!(f, "BDAT {size} LAST"),
            Command::Bdat { size, last: false } => write!(f, "BDAT {size}"),
            Command::Rset => f.write_str("RSET"),
            Command::Noop => f.write_str("NOOP"),
            Command::Quit => f.write_str("QUIT"),
            Command::StartTls => f.write_str("STARTTLS"),
            Command::Auth {
                mechanism,
                initial: Some(r),
            } => write!(f, "AUTH {mechanism} {r}"),
            Command::Auth {
                mechanism,
                initial: None,
            } => write!(f, "AUTH {mechanism}"),
            Command::Vrfy(s) => write!(f, "VRFY {s}"),
            Command::Unknown(s) => f.write_str(s),
        }
    }
}

/// Incremental command-line splitter for the server role: any chunking of
/// the input gives the same lines. Lines over [`MAX_COMMAND_LINE`] and lines
/// ending in a bare LF are reported, not silently accepted.
#[derive(Debug, Default)]
pub struct CommandParser {
    buf: Vec<u8>,
    /// The current line was already reported as too long: drop up to its LF.
    discarding: bool,
}

/// One line taken from a [`CommandParser`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandLine {
    /// A CRLF-terminated line, CRLF removed.
    Line(Vec<u8>),
    /// A line that ended in LF without CR.
    BareLf,
    /// A line longer than [`MAX_COMMAND_LINE`]; its bytes were dropped.
    TooLong,
}

impl CommandParser {
    pub fn new() -> CommandParser {
        CommandParser::default()
    }

    /// Appends received bytes.
    pub fn feed(&mut self, mut input: &[u8]) {
        if self.discarding {
            match input.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    self.discarding = false;
                    input = &input[i + 1..];
                }
                None => return,
            }
        }
        self.buf.extend_from_slice(input);
    }

    /// The next complete line, if one has arrived.
    pub fn next_line(&mut self) -> Option<CommandLine> {
        match self.buf.iter().position(|&b| b == b'\n') {
            Some(i) => {
                let mut line: Vec<u8> = self.buf.drain(..=i).collect();
                line.pop();
                if line.len() + 1 > MAX_COMMAND_LINE {
                    return Some(CommandLine::TooLong);
                }
                if line.pop() != Some(b'\r') {
                    return Some(CommandLine::BareLf);
                }
                Some(CommandLine::Line(line))
            }
            None if self.buf.len() > MAX_COMMAND_LINE => {
                // The rest of this line, whenever it comes, is part of it.
                self.buf.clear();
                self.discarding = true;
                Some(CommandLine::TooLong)
            }
            None => None,
        }
    }

    /// Takes the bytes received but not yet returned as lines (for DATA/BDAT
    /// bodies that follow a command in the same read).
    pub fn take_buffered(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.buf)
    }

    /// True when received bytes are waiting.
    pub fn has_buffered(&self) -> bool {
        !self.buf.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_and_parse_round_trip() {
        let cmds = vec![
            Command::Ehlo("client.test".into()),
            Command::Mail {
                from: "".into(),
                params: vec!["SIZE=10".into(), "BODY=8BITMIME".into()],
            },
            Command::Rcpt {
                to: "bob@example.test".into(),
                params: vec![],
            },
            Command::Data,
            Command::Bdat {
                size: 42,
                last: true,
            },
            Command::Auth {
                mechanism: "PLAIN".into(),
                initial: Some("AGEAYg==".into()),
            },
            Command::StartTls,
            Command::Quit,
        ];
        for c in cmds {
            assert_eq!(Command::parse(&c.to_bytes()).unwrap(), c, "{c}");
        }
    }

    #[test]
    fn parse_tolerant_forms() {
        assert_eq!(
            Command::parse(b"mail from: <a@b>\r\n").unwrap(),
            Command::Mail {
                from: "a@b".into(),
                params: vec![]
            }
        );
        assert!(Command::parse(b"MAIL FROM:a@b").is_err());
        assert!(Command::parse(b"RCPT TO:<>").is_err());
        assert!(Command::parse(b"EHLO").is_err());
        assert!(Command::parse(b"DATA x").is_err());
        assert_eq!(
            Command::parse(b"XYZZY 1").unwrap(),
            Command::Unknown("XYZZY 1".into())
        );
    }

    #[test]
    fn auth_is_redacted() {
        let c = Command::Auth {
            mechanism: "PLAIN".into(),
            initial: Some("c2VjcmV0".into()),
        };
        assert_eq!(c.redacted(), "AUTH PLAIN <redacted>");
        assert!(!c.redacted().contains("c2VjcmV0"));
    }

    #[test]
    fn line_splitter() {
        let mut p = CommandParser::new();
        p.feed(b"EHLO a\r");
        assert_eq!(p.next_line(), None);
        p.feed(b"\nNOOP\nQU");
        assert_eq!(p.next_line(), Some(CommandLine::Line(b"EHLO a".to_vec())));
        assert_eq!(p.next_line(), Some(CommandLine::BareLf));
        assert_eq!(p.next_line(), None);
        assert_eq!(p.take_buffered(), b"QU");
        p.feed(&vec![b'x'; MAX_COMMAND_LINE + 1]);
        assert_eq!(p.next_line(), Some(CommandLine::TooLong));
    }
}
