//! Server replies (RFC 5321 §4.2) and their incremental parser.
//!
//! A reply is one or more lines `DDD-text CRLF` … `DDD text CRLF`; every line
//! carries the same code. [`ReplyParser`] accepts the input in any chunking and
//! yields the same replies whatever the split; its memory is capped so a
//! hostile server cannot make it grow without bound.

use std::fmt;

use crate::Error;

/// Longest reply accepted, all lines together. RFC 5321 §4.5.3.1.5 allows 512
/// octets a line, but real servers exceed it (long EHLO lists, JSON errors), so
/// this is a generous hard cap rather than the RFC figure.
pub const MAX_REPLY_LEN: usize = 64 * 1024;

/// Most lines accepted in one reply.
pub const MAX_REPLY_LINES: usize = 512;

/// A three-digit reply code (RFC 5321 §4.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReplyCode(u16);

impl ReplyCode {
    pub const SERVICE_READY: ReplyCode = ReplyCode(220);
    pub const CLOSING: ReplyCode = ReplyCode(221);
    pub const AUTH_OK: ReplyCode = ReplyCode(235);
    pub const OK: ReplyCode = ReplyCode(250);
    pub const AUTH_CONTINUE: ReplyCode = ReplyCode(334);
    pub const START_DATA: ReplyCode = ReplyCode(354);
    pub const SERVICE_UNAVAILABLE: ReplyCode = ReplyCode(421);

    /// Builds a code; `None` unless it is three digits with a first digit 2–5.
    pub fn new(code: u16) -> Option<ReplyCode> {
        (200..600).contains(&code).then_some(ReplyCode(code))
    }

    pub fn value(self) -> u16 {
        self.0
    }

    /// 2yz, positive completion: the command was accepted. (3yz is not:
    /// it only asks for more, RFC 5321 §4.2.1.)
    pub fn is_positive(self) -> bool {
        (200..300).contains(&self.0)
    }

    /// 3yz: the server waits for more (DATA's 354, AUTH's 334).
    pub fn is_intermediate(self) -> bool {
        (300..400).contains(&self.0)
    }

    /// 4yz: try again later.
    pub fn is_transient(self) -> bool {
        (400..500).contains(&self.0)
    }

    /// 5yz: do not repeat as it is.
    pub fn is_permanent(self) -> bool {
        self.0 >= 500
    }
}

impl fmt::Display for ReplyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// An enhanced mail system status code, `class.subject.detail` (RFC 3463).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EnhancedCode {
    pub class: u8,
    pub subject: u16,
    pub detail: u16,
}

impl EnhancedCode {
    /// Parses `d.d{1,3}.d{1,3}` with class 2, 4 or 5.
    pub fn parse(s: &str) -> Option<EnhancedCode> {
        let mut parts = s.split('.');
        let (c, s1, d) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let digits = |p: &str, max: usize| {
            !p.is_empty() && p.len() <= max && p.bytes().all(|b| b.is_ascii_digit())
        };
        if !(digits(c, 1) && digits(s1, 3) && digits(d, 3)) {
            return None;
        }
        let class: u8 = c.parse().ok()?;
        if !matches!(class, 2 | 4 | 5) {
            return None;
        }
        Some(EnhancedCode {
            class,
            subject: s1.parse().ok()?,
            detail: d.parse().ok()?,
        })
    }
}

impl fmt::Display for EnhancedCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.class, self.subject, self.detail)
    }
}

/// One complete server reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: ReplyCode,
    /// The enhanced status code of the first line, when it carries one.
    pub enhanced: Option<EnhancedCode>,
    /// The text of each line, without code, separator or CRLF. When the first
    /// line has an enhanced code it is removed from that line's text, and from
    /// later lines that repeat it.
    pub lines: Vec<String>,
}

impl Reply {
    /// Builds a one-line reply, splitting off an enhanced code if the text starts with one.
    pub fn new(code: ReplyCode, text: &str) -> Reply {
        let (enhanced, rest) = split_enhanced(text);
        Reply {
            code,
            enhanced,
            lines: vec![rest.to_string()],
        }
    }

    /// The text of all lines joined with a space (enhanced code excluded).
    pub fn text(&self) -> String {
        self.lines.join(" ")
    }

    /// The reply as a server would print its first line: `550 5.1.1 text`,
    /// with further lines joined by spaces.
    pub fn summary(&self) -> String {
        let mut s = self.code.to_string();
        if let Some(e) = self.enhanced {
            s.push(' ');
            s.push_str(&e.to_string());
        }
        let text = self.text();
        if !text.is_empty() {
            s.push(' ');
            s.push_str(&text);
        }
        s
    }

    /// The reply in wire form (`DDD-…` continuation lines, CRLF endings), as a server sends it.
    pub fn to_wire(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let n = self.lines.len().max(1);
        for i in 0..n {
            let text = self.lines.get(i).map(String::as_str).unwrap_or("");
            let sep = if i + 1 == n { ' ' } else { '-' };
            out.extend_from_slice(format!("{}{}", self.code, sep).as_bytes());
            if let Some(e) = self.enhanced {
                out.extend_from_slice(format!("{e} ").as_bytes());
            }
            out.extend_from_slice(text.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out
    }

    /// The first word of the last line when it looks like a queue id
    /// (`250 2.0.0 Ok: queued as 3642D9945C3`, `250 OK id=1abc`).
    pub fn queue_id(&self) -> Option<String> {
        let text = self.lines.last()?;
        let lower = text.to_ascii_lowercase();
        for marker in ["queued as ", "id="] {
            if let Some(i) = lower.find(marker) {
                let id: String = text[i + marker.len()..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@'))
                    .collect();
                let id = id.trim_end_matches('.').to_string();
                if !id.is_empty() {
                    return Some(id);
                }
            }
        }
        None
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.summary())
    }
}

/// Splits a leading enhanced status code off a reply text.
fn split_enhanced(text: &str) -> (Option<EnhancedCode>, &str) {
    let (word, rest) = match text.find(' ') {
        Some(i) => (&text[..i], &text[i + 1..]),
        None => (text, ""),
    };
    match EnhancedCode::parse(word) {
        Some(e) => (Some(e), rest),
        None => (None, text),
    }
}

/// Incremental reply parser: feed bytes in any chunking, take replies out.
///
/// Lines may end in CRLF or a bare LF (some servers send that); the CR is
/// dropped. Text that is not UTF-8 is decoded lossily: it is only shown.
#[derive(Debug, Default)]
pub struct ReplyParser {
    /// Bytes of the line being received.
    line: Vec<u8>,
    /// Lines of the reply being received: code and text.
    pending: Vec<(u16, String)>,
    /// Octets of the reply being received, for the cap.
    size: usize,
    /// Replies complete but not yet taken.
    ready: std::collections::VecDeque<Reply>,
}

impl ReplyParser {
    pub fn new() -> ReplyParser {
        ReplyParser::default()
    }

    /// Consumes `input`. Complete replies are queued for [`ReplyParser::next_reply`].
    pub fn feed(&mut self, input: &[u8]) -> Result<(), Error> {
        let mut rest = input;
        while !rest.is_empty() {
            match rest.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    self.grow(i + 1)?;
                    self.line.extend_from_slice(&rest[..i]);
                    rest = &rest[i + 1..];
                    let line = std::mem::take(&mut self.line);
                    self.line_done(line)?;
                }
                None => {
                    self.grow(rest.len())?;
                    self.line.extend_from_slice(rest);
                    rest = &[];
                }
            }
        }
        Ok(())
    }

    fn grow(&mut self, n: usize) -> Result<(), Error> {
        self.size += n;
        if self.size > MAX_REPLY_LEN {
            return Err(Error::Protocol(format!(
                "server reply longer than {MAX_REPLY_LEN} octets"
            )));
        }
        Ok(())
    }

    fn line_done(&mut self, mut line: Vec<u8>) -> Result<(), Error> {
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        let shown = || {
            String::from_utf8_lossy(&line)
                .chars()
                .take(80)
                .collect::<String>()
        };
        if line.len() < 3 || !line[..3].iter().all(u8::is_ascii_digit) {
            return Err(Error::Protocol(format!(
                "malformed reply line from server: {:?}",
                shown()
            )));
        }
        let code: u16 = std::str::from_utf8(&line[..3]).unwrap().parse().unwrap();
        if ReplyCode::new(code).is_none() {
            return Err(Error::Protocol(format!(
                "reply code {code} is out of range"
            )));
        }
        let (last, text) = match line.get(3) {
            None => (true, &[][..]),
            Some(b' ') => (true, &line[4..]),
            Some(b'-') => (false, &line[4..]),
            Some(_) => {
                return Err(Error::Protocol(format!(
                    "malformed reply line from server: {:?}",
                    shown()
                )))
            }
        };
        if let Some(&(first, _)) = self.pending.first() {
            if first != code {
                return Err(Error::Protocol(format!(
                    "reply lines disagree on the code: {first} then {code}"
                )));
            }
        }
        if self.pending.len() >= MAX_REPLY_LINES {
            return Err(Error::Protocol(format!(
                "server reply has more than {MAX_REPLY_LINES} lines"
            )));
        }
        self.pending
            .push((code, String::from_utf8_lossy(text).into_owned()));
        if last {
            let lines = std::mem::take(&mut self.pending);
            self.size = 0;
            self.ready.push_back(assemble(lines));
        }
        Ok(())
    }

    /// The next complete reply, if one has arrived.
    pub fn next_reply(&mut self) -> Option<Reply> {
        self.ready.pop_front()
    }

    /// True when bytes have arrived that are not yet part of a taken reply:
    /// a partial line, a partial reply, or replies not yet taken.
    pub fn has_buffered(&self) -> bool {
        !self.line.is_empty() || !self.pending.is_empty() || !self.ready.is_empty()
    }
}

fn assemble(lines: Vec<(u16, String)>) -> Reply {
    let code = ReplyCode(lines[0].0);
    let (enhanced, _) = split_enhanced(&lines[0].1);
    let lines = lines
        .into_iter()
        .map(|(_, text)| match enhanced {
            Some(e) => {
                let (this, rest) = split_enhanced(&text);
                if this == Some(e) {
                    rest.to_string()
                } else {
                    text
                }
            }
            None => text,
        })
        .collect();
    Reply {
        code,
        enhanced,
        lines,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(chunks: &[&[u8]]) -> Result<Vec<Reply>, Error> {
        let mut p = ReplyParser::new();
        let mut out = Vec::new();
        for c in chunks {
            p.feed(c)?;
            while let Some(r) = p.next_reply() {
                out.push(r);
            }
        }
        Ok(out)
    }

    #[test]
    fn multiline_with_enhanced_codes() {
        let r = parse_all(&[b"250-mx.test\r\n250-PIPELINING\r\n250 2.0.0 OK\r\n"]).unwrap();
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].code.value(), 250);
        assert_eq!(r[0].lines, vec!["mx.test", "PIPELINING", "2.0.0 OK"]);
        // only the first line's enhanced code counts
        assert_eq!(r[0].enhanced, None);

        let r = parse_all(&[b"550 5.1.1 <bob@x>: User unknown\r\n"]).unwrap();
        assert_eq!(r[0].enhanced, EnhancedCode::parse("5.1.1"));
        assert_eq!(r[0].text(), "<bob@x>: User unknown");
        assert_eq!(r[0].summary(), "550 5.1.1 <bob@x>: User unknown");
    }

    #[test]
    fn bare_code_and_empty_last_line() {
        let r = parse_all(&[b"250-sink\r\n250-SIZE\r\n250 \r\n220\r\n"]).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].lines, vec!["sink", "SIZE", ""]);
        assert_eq!(r[1].code.value(), 220);
        assert_eq!(r[1].lines, vec![""]);
    }

    #[test]
    fn rejects_garbage_and_mixed_codes() {
        assert!(parse_all(&[b"hello\r\n"]).is_err());
        assert!(parse_all(&[b"250-a\r\n251 b\r\n"]).is_err());
        assert!(parse_all(&[b"250xa\r\n"]).is_err());
        assert!(parse_all(&[b"199 no\r\n"]).is_err());
    }

    #[test]
    fn caps_reply_size() {
        let mut p = ReplyParser::new();
        let line = format!("250-{}\r\n", "x".repeat(1000));
        let mut err = None;
        for _ in 0..100 {
            if let Err(e) = p.feed(line.as_bytes()) {
                err = Some(e);
                break;
            }
        }
        assert!(matches!(err, Some(Error::Protocol(_))));
        // an endless line without LF is capped too
        let mut p = ReplyParser::new();
        assert!(p.feed(&vec![b'2'; MAX_REPLY_LEN + 1]).is_err());
    }

    #[test]
    fn enhanced_code_forms() {
        assert!(EnhancedCode::parse("5.7.139").is_some());
        assert!(EnhancedCode::parse("2.0.0").is_some());
        assert!(EnhancedCode::parse("3.0.0").is_none());
        assert!(EnhancedCode::parse("5.1234.0").is_none());
        assert!(EnhancedCode::parse("5.1").is_none());
        assert!(EnhancedCode::parse("5.1.1.1").is_none());
    }

    #[test]
    fn queue_id() {
        let r = Reply::new(ReplyCode::OK, "2.0.0 Ok: queued as 3642D9945C3");
        assert_eq!(r.queue_id().as_deref(), Some("3642D9945C3"));
        assert_eq!(Reply::new(ReplyCode::OK, "OK").queue_id(), None);
    }

    #[test]
    fn wire_round_trip() {
        let r = parse_all(&[b"550-5.7.1 first\r\n550 5.7.1 second\r\n"]).unwrap();
        let again = parse_all(&[&r[0].to_wire()]).unwrap();
        assert_eq!(r, again);
        assert_eq!(r[0].lines, vec!["first", "second"]);
    }
}
