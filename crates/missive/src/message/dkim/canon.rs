//! DKIM canonicalisation (RFC 6376 §3.4): header fields and the body, the
//! body one line at a time as it streams past, so memory stays bounded.

/// `simple` or `relaxed` (RFC 6376 §3.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Canon {
    Simple,
    #[default]
    Relaxed,
}

impl Canon {
    pub fn name(self) -> &'static str {
        match self {
            Canon::Simple => "simple",
            Canon::Relaxed => "relaxed",
        }
    }

    pub fn parse(s: &str) -> Option<Canon> {
        match s.to_ascii_lowercase().as_str() {
            "simple" => Some(Canon::Simple),
            "relaxed" => Some(Canon::Relaxed),
            _ => None,
        }
    }
}

fn is_wsp(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// One header field (`raw`: name, colon, value and its folded lines, each
/// line ending in CRLF) in canonical form, with its CRLF.
pub fn header(canon: Canon, raw: &[u8]) -> Vec<u8> {
    match canon {
        Canon::Simple => raw.to_vec(),
        Canon::Relaxed => {
            let colon = raw.iter().position(|&b| b == b':').unwrap_or(raw.len());
            let name = &raw[..colon];
            let value = raw.get(colon + 1..).unwrap_or_default();
            let mut out: Vec<u8> = name
                .iter()
                .filter(|b| !is_wsp(**b))
                .map(u8::to_ascii_lowercase)
                .collect();
            out.push(b':');
            let mut pending_space = false;
            for &b in value {
                if b == b'\r' || b == b'\n' {
                    continue; // unfold
                }
                if is_wsp(b) {
                    pending_space = true;
                    continue;
                }
                if pending_space && out.last() != Some(&b':') {
                    out.push(b' ');
                }
                pending_space = false;
                out.push(b);
            }
            out.extend_from_slice(b"\r\n");
            out
        }
    }
}

/// Canonicalises a body fed in pieces of CRLF-normalised octets and hands
/// the result to `sink` (a hash), holding back trailing empty lines.
pub struct Body {
    canon: Canon,
    line: Vec<u8>,
    /// Empty lines seen and not yet written (they may be trailing).
    empty_lines: u64,
    wrote_any: bool,
    /// The previous piece ended in CR.
    cr: bool,
}

impl Body {
    pub fn new(canon: Canon) -> Body {
        Body {
            canon,
            line: Vec::new(),
            empty_lines: 0,
            wrote_any: false,
            cr: false,
        }
    }

    /// Feeds CRLF-normalised octets.
    pub fn update(&mut self, data: &[u8], sink: &mut impl FnMut(&[u8])) {
        for &b in data {
            if self.cr {
                self.cr = false;
                if b == b'\n' {
                    self.end_line(sink);
                    continue;
                }
                self.line.push(b'\r');
            }
            if b == b'\r' {
                self.cr = true;
            } else {
                self.line.push(b);
            }
        }
    }

    fn end_line(&mut self, sink: &mut impl FnMut(&[u8])) {
        let mut line = std::mem::take(&mut self.line);
        if self.canon == Canon::Relaxed {
            let mut out = Vec::with_capacity(line.len());
            let mut space = false;
            for &b in &line {
                if is_wsp(b) {
                    space = true;
                    continue;
                }
                if space {
                    out.push(b' ');
                    space = false;
                }
                out.push(b);
            }
            // trailing WSP dropped: `space` left pending is not written
            line = out;
        }
        if line.is_empty() {
            self.empty_lines += 1;
        } else {
            for _ in 0..self.empty_lines {
                sink(b"\r\n");
            }
            self.empty_lines = 0;
            sink(&line);
            sink(b"\r\n");
            self.wrote_any = true;
        }
        self.line = line;
        self.line.clear();
    }

    /// Ends the body (a last line without CRLF counts as a line).
    pub fn finish(mut self, sink: &mut impl FnMut(&[u8])) {
        if self.cr {
            self.cr = false;
            self.line.push(b'\r');
        }
        if !self.line.is_empty() {
            self.end_line(sink);
        }
        if !self.wrote_any && self.canon == Canon::Simple {
            sink(b"\r\n");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(canon: Canon, pieces: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut b = Body::new(canon);
        for p in pieces {
            b.update(p, &mut |d| out.extend_from_slice(d));
        }
        b.finish(&mut |d| out.extend_from_slice(d));
        out
    }

    #[test]
    fn rfc6376_examples() {
        // §3.4.5
        let hdr = header(Canon::Relaxed, b"A: X\r\n");
        assert_eq!(hdr, b"a:X\r\n");
        let hdr = header(Canon::Relaxed, b"B : Y\t\r\n\tZ  \r\n");
        assert_eq!(hdr, b"b:Y Z\r\n");
        let text: &[u8] = b" C \r\nD \t E\r\n\r\n\r\n";
        assert_eq!(body(Canon::Relaxed, &[text]), b" C\r\nD E\r\n");
        assert_eq!(body(Canon::Simple, &[text]), b" C \r\nD \t E\r\n");
        // split anywhere, even inside CRLF
        assert_eq!(
            body(Canon::Relaxed, &[b" C \r", b"\nD \t", b" E\r\n\r", b"\n"]),
            b" C\r\nD E\r\n"
        );
    }

    #[test]
    fn empty_bodies() {
        assert_eq!(body(Canon::Simple, &[]), b"\r\n");
        assert_eq!(body(Canon::Simple, &[b"\r\n\r\n"]), b"\r\n");
        assert_eq!(body(Canon::Relaxed, &[]), b"");
        assert_eq!(body(Canon::Relaxed, &[b" \r\n\t\r\n"]), b"");
        assert_eq!(body(Canon::Relaxed, &[b"x"]), b"x\r\n");
    }
}
