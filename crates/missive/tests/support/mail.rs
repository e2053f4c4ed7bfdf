//! Reading delivered messages back, with code written here so that the
//! tests do not share the implementation they check: Postfix's added headers
//! stripped, header fields unfolded, base64, RFC 2047 `B` words and
//! quoted-printable decoded.

use super::Testbed;

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

/// Header block and body of the message as sent, from a delivered file.
pub fn sent_parts(file: &[u8]) -> (String, Vec<u8>) {
    split_message(&original(file))
}

/// Header block and body of the message the client sent to `addr` (LF line
/// ends), once it is delivered.
pub fn delivered(tb: &Testbed, addr: &str) -> (String, Vec<u8>) {
    sent_parts(&tb.wait_for_mail(addr))
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

/// The one value of a header field.
#[track_caller]
pub fn one_header(head: &str, name: &str) -> String {
    let v = header_values(head, name);
    assert_eq!(v.len(), 1, "expected one {name} header in:\n{head}");
    v.into_iter().next().unwrap()
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
