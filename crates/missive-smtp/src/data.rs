//! The DATA body on the wire (RFC 5321 §4.5.2, §2.3.8), in both directions.
//!
//! [`DataEncoder`] turns a message, fed in chunks of any size, into what goes
//! after `354`: every line ending becomes CRLF (a bare CR or bare LF would be
//! an SMTP-smuggling vector), a line that starts with `.` gets another `.`, and
//! [`DataEncoder::finish`] writes the terminator without ever adding an empty
//! line to a body that already ends in CRLF. Memory use is the size of the
//! chunk being encoded, whatever the size of the message.
//!
//! [`DataDecoder`] is the server side: it removes the stuffing, finds the end,
//! and refuses bare LF and bare CR as Postfix does, so client bugs show (and
//! see [`DataDecoder::error`] for what a server must do then).

/// Streaming encoder for a DATA body. See the module docs.
#[derive(Debug, Clone)]
pub struct DataEncoder {
    /// The next byte starts a line.
    at_line_start: bool,
    /// The previous chunk ended in CR, whose LF may be in the next chunk.
    pending_cr: bool,
    /// Octets written so far, terminator excluded.
    written: u64,
    /// Longest line seen so far, CRLF excluded.
    longest_line: usize,
    line_len: usize,
    /// Dot-stuffing is for DATA; BDAT chunks are sent as they are (RFC 3030).
    stuff: bool,
}

impl Default for DataEncoder {
    fn default() -> Self {
        DataEncoder::new()
    }
}

impl DataEncoder {
    pub fn new() -> DataEncoder {
        DataEncoder {
            at_line_start: true,
            pending_cr: false,
            written: 0,
            longest_line: 0,
            line_len: 0,
            stuff: true,
        }
    }

    /// An encoder for BDAT: line endings normalised, no dot-stuffing, no
    /// terminator (end with [`DataEncoder::finish_chunked`]).
    pub fn for_bdat() -> DataEncoder {
        DataEncoder {
            stuff: false,
            ..DataEncoder::new()
        }
    }

    /// Encodes `input`, appending the wire form to `out`. Runs of ordinary
    /// octets are copied whole; only line ends and line starts are looked at.
    pub fn encode(&mut self, input: &[u8], out: &mut Vec<u8>) {
        out.reserve(input.len() + input.len() / 32 + 4);
        let start = out.len();
        let mut i = 0;
        while i < input.len() {
            if self.pending_cr {
                self.pending_cr = false;
                self.end_line(out);
                if input[i] == b'\n' {
                    i += 1; // CRLF: already written
                    continue;
                }
            }
            match input[i] {
                b'\r' => {
                    self.pending_cr = true;
                    i += 1;
                }
                b'\n' => {
                    self.end_line(out);
                    i += 1;
                }
                b => {
                    if self.at_line_start && b == b'.' && self.stuff {
                        out.push(b'.');
                    }
                    self.at_line_start = false;
                    let run = input[i..]
                        .iter()
                        .position(|&c| c == b'\r' || c == b'\n')
                        .unwrap_or(input.len() - i);
                    out.extend_from_slice(&input[i..i + run]);
                    self.line_len += run;
                    i += run;
                }
            }
        }
        self.written += (out.len() - start) as u64;
    }

    fn end_line(&mut self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"\r\n");
        self.longest_line = self.longest_line.max(self.line_len);
        self.line_len = 0;
        self.at_line_start = true;
    }

    /// Ends the body: a CRLF if the last line is unterminated, then `.` CRLF.
    pub fn finish(self, out: &mut Vec<u8>) -> DataStats {
        let stats = self.finish_chunked(out);
        out.extend_from_slice(b".\r\n");
        stats
    }

    /// Ends a BDAT body: a CRLF if the last line is unterminated, nothing more.
    pub fn finish_chunked(mut self, out: &mut Vec<u8>) -> DataStats {
        if self.pending_cr {
            self.pending_cr = false;
            self.end_line(out);
            self.written += 2;
        }
        if !self.at_line_start {
            self.end_line(out);
            self.written += 2;
        }
        DataStats {
            octets: self.written,
            longest_line: self.longest_line,
        }
    }
}

/// What a [`DataEncoder`] saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataStats {
    /// Octets of the encoded body, terminator excluded.
    pub octets: u64,
    /// Longest line, CRLF excluded. Over 998 breaks RFC 5322 §2.1.1.
    pub longest_line: usize,
}

/// Why a [`DataDecoder`] refused the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DataError {
    /// A LF not preceded by CR (Postfix: `550 5.5.2 … bare <LF> received`).
    #[error("bare LF received")]
    BareLf,
    /// A CR not followed by LF.
    #[error("bare CR received")]
    BareCr,
    /// More octets than the server allows.
    #[error("message too big")]
    TooBig,
}

/// Server-side DATA reader: unstuffs dots, finds `CRLF . CRLF`.
#[derive(Debug)]
pub struct DataDecoder {
    max_size: usize,
    /// Bytes of the current line, kept until its end is known.
    line: Vec<u8>,
    /// `line` continues a line whose start was already flushed.
    mid_line: bool,
    /// Decoded body not yet taken.
    body: Vec<u8>,
    /// Octets decoded in all.
    size: usize,
    error: Option<DataError>,
    done: bool,
}

impl DataDecoder {
    /// A decoder that refuses bodies over `max_size` octets (it keeps reading
    /// to the terminator so the session stays in step, and reports the error).
    pub fn new(max_size: usize) -> DataDecoder {
        DataDecoder {
            max_size,
            line: Vec::new(),
            mid_line: false,
            body: Vec::new(),
            size: 0,
            error: None,
            done: false,
        }
    }

    /// Consumes input up to and including the terminator. Returns how many
    /// bytes of `input` were used; the rest belongs to the next command.
    pub fn feed(&mut self, input: &[u8]) -> usize {
        let mut used = 0;
        while used < input.len() && !self.done {
            let b = input[used];
            used += 1;
            if self.line.len() > 1000 && b != b'\n' {
                // an over-long line: pass on what is held, keep going
                self.flush_partial();
            }
            self.line.push(b);
            if b == b'\n' {
                self.line_done();
            }
        }
        used
    }

    fn flush_partial(&mut self) {
        let line = std::mem::take(&mut self.line);
        self.check_bare(&line);
        let part = match self.mid_line {
            false => line.strip_prefix(b".").unwrap_or(&line),
            true => &line[..],
        };
        self.append(part);
        self.mid_line = true;
    }

    fn line_done(&mut self) {
        let line = std::mem::take(&mut self.line);
        if line.len() < 2 || line[line.len() - 2] != b'\r' {
            self.fail(DataError::BareLf);
        }
        let content = &line[..line.len().saturating_sub(2)];
        self.check_bare(content);
        if std::mem::take(&mut self.mid_line) {
            self.append(&line);
            return;
        }
        if line == b".\r\n" {
            self.done = true;
            return;
        }
        let unstuffed = line.strip_prefix(b".").unwrap_or(&line);
        self.append(unstuffed);
    }

    fn check_bare(&mut self, content: &[u8]) {
        if content.contains(&b'\r') {
            self.fail(DataError::BareCr);
        }
    }

    fn append(&mut self, bytes: &[u8]) {
        if self.size + bytes.len() > self.max_size {
            self.fail(DataError::TooBig);
            return;
        }
        self.size += bytes.len();
        if self.error.is_none() {
            self.body.extend_from_slice(bytes);
        }
    }

    fn fail(&mut self, e: DataError) {
        self.error.get_or_insert(e);
    }

    /// Takes the decoded bytes so far, for a caller that streams them to disk.
    pub fn take_decoded(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.body)
    }

    /// Octets decoded so far.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Why the body is refused, if it is (known before the end: the caller
    /// can stop storing). After [`DataError::TooBig`] read on to the
    /// terminator to stay in step. After [`DataError::BareLf`] or
    /// [`DataError::BareCr`] the client's idea of where the body ends is not
    /// this decoder's (`<LF>.<CR><LF>` is a smuggling trick, RFC 5321
    /// §4.1.1.4): answer and close rather than read what follows as commands,
    /// as [`crate::server::Server`] does.
    pub fn error(&self) -> Option<DataError> {
        self.error
    }

    /// True once the terminator has been read.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// The message, or why it was refused. Call after [`DataDecoder::is_done`].
    pub fn into_result(self) -> Result<Vec<u8>, DataError> {
        match self.error {
            Some(e) => Err(e),
            None => Ok(self.body),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(chunks: &[&[u8]]) -> Vec<u8> {
        let mut e = DataEncoder::new();
        let mut out = Vec::new();
        for c in chunks {
            e.encode(c, &mut out);
        }
        e.finish(&mut out);
        out
    }

    #[test]
    fn normalises_and_stuffs() {
        assert_eq!(encode(&[b"a\nb\rc\r\n"]), b"a\r\nb\r\nc\r\n.\r\n");
        assert_eq!(encode(&[b".x\n.\n..y"]), b"..x\r\n..\r\n...y\r\n.\r\n");
        assert_eq!(encode(&[b"end\r\n"]), b"end\r\n.\r\n");
        assert_eq!(encode(&[b""]), b".\r\n");
        assert_eq!(encode(&[b"x\r"]), b"x\r\n.\r\n");
        // a smuggling attempt: bare LF . CRLF must not end the message early
        assert_eq!(
            encode(&[b"a\n.\r\nMAIL FROM:<x>\r\n"]),
            b"a\r\n..\r\nMAIL FROM:<x>\r\n.\r\n"
        );
    }

    #[test]
    fn split_crlf_and_dots_across_chunks() {
        assert_eq!(encode(&[b"a\r", b"\n.b"]), b"a\r\n..b\r\n.\r\n");
        assert_eq!(encode(&[b"a\r", b"b"]), b"a\r\nb\r\n.\r\n");
        assert_eq!(encode(&[b"a\n", b".", b"\r", b"\n"]), b"a\r\n..\r\n.\r\n");
    }

    #[test]
    fn bdat_mode_does_not_stuff() {
        let mut e = DataEncoder::for_bdat();
        let mut out = Vec::new();
        e.encode(b".a\n.\nb", &mut out);
        e.finish_chunked(&mut out);
        assert_eq!(out, b".a\r\n.\r\nb\r\n");
    }

    #[test]
    fn stats() {
        let mut e = DataEncoder::new();
        let mut out = Vec::new();
        e.encode(b"abc\nxy", &mut out);
        let s = e.finish(&mut out);
        assert_eq!(s.longest_line, 3);
        assert_eq!(s.octets as usize, out.len() - 3);
    }

    #[test]
    fn decoder_round_trip_and_leftover() {
        let wire = encode(&[b".a\n..\nplain\n"]);
        let mut d = DataDecoder::new(1 << 20);
        let mut input = wire.clone();
        input.extend_from_slice(b"QUIT\r\n");
        let used = d.feed(&input);
        assert_eq!(used, wire.len());
        assert!(d.is_done());
        assert_eq!(d.into_result().unwrap(), b".a\r\n..\r\nplain\r\n");
    }

    #[test]
    fn decoder_refuses_bare_lf_and_size() {
        let mut d = DataDecoder::new(100);
        d.feed(b"a\nb\r\n.\r\n");
        assert!(d.is_done());
        assert_eq!(d.into_result(), Err(DataError::BareLf));
        let mut d = DataDecoder::new(4);
        d.feed(b"abcdef\r\n.\r\n");
        assert_eq!(d.into_result(), Err(DataError::TooBig));
    }
}
