//! Addresses and header fields (RFC 5322, MIME RFC 2045–2047): mailboxes,
//! headers folded with encoded words where needed, Date and Message-ID, and
//! text bodies in 7bit or quoted-printable so no line on the wire passes 998
//! octets.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;

use crate::error::{AppError, Result};

/// Header lines are folded to stay within this many columns (RFC 5322 §2.1.1).
const FOLD_AT: usize = 78;

/// `Display Name <local@domain>` or a bare address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mailbox {
    /// The display name, if any.
    pub name: Option<String>,
    /// The address, `local@domain`.
    pub addr: String,
}

impl Mailbox {
    /// Parses `addr`, `<addr>` or `Name <addr>` (the name may be quoted).
    pub fn parse(input: &str) -> Result<Mailbox> {
        reject_crlf("address", input)?;
        let s = input.trim();
        let (name, addr) = match (s.rfind('<'), s.ends_with('>')) {
            (Some(i), true) => {
                let name = s[..i].trim().trim_matches('"').trim();
                (Some(name).filter(|n| !n.is_empty()), &s[i + 1..s.len() - 1])
            }
            _ => (None, s),
        };
        missive_smtp::envelope::validate_address(addr)
            .map_err(|e| AppError::Data(format!("{e} (in {input:?})")))?;
        Ok(Mailbox {
            name: name.map(str::to_string),
            addr: addr.to_string(),
        })
    }

    /// The header form: the name quoted or encoded as needed. Control
    /// characters in a name never reach the header (they would start a new one).
    pub fn header_form(&self) -> String {
        let clean = self
            .name
            .as_ref()
            .map(|n| n.replace(|c: char| c.is_control(), " "));
        match &clean {
            None => self.addr.clone(),
            Some(n)
                if !n.is_ascii()
                    || looks_encoded(n)
                    || n.split(' ').any(|w| w.len() > FOLD_AT - 2) =>
            {
                format!("{} <{}>", encode_words(n), self.addr)
            }
            Some(n)
                if n.chars()
                    .all(|c| c.is_ascii_alphanumeric() || " !#$%&'*+-/=?^_`{|}~".contains(c)) =>
            {
                format!("{n} <{}>", self.addr)
            }
            Some(n) => {
                let quoted = n.replace('\\', "\\\\").replace('"', "\\\"");
                format!("\"{quoted}\" <{}>", self.addr)
            }
        }
    }

    /// The domain part of the address.
    pub fn domain(&self) -> &str {
        self.addr.rsplit_once('@').map_or("localhost", |(_, d)| d)
    }
}

/// Parses a list given as repeated flags, each possibly comma-separated.
pub fn parse_list(values: &[String]) -> Result<Vec<Mailbox>> {
    let mut out = Vec::new();
    for v in values {
        reject_crlf("address", v)?;
        for part in split_addresses(v) {
            out.push(Mailbox::parse(&part)?);
        }
    }
    Ok(out)
}

/// Splits on commas that are not inside quotes or angle brackets.
pub fn split_addresses(s: &str) -> Vec<String> {
    let (mut parts, mut cur, mut quoted, mut angle) = (Vec::new(), String::new(), false, false);
    for c in s.chars() {
        match c {
            '"' => quoted = !quoted,
            '<' => angle = true,
            '>' => angle = false,
            ',' if !quoted && !angle => {
                parts.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    parts.push(cur);
    parts
        .into_iter()
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

/// Refuses a value with CR or LF: it would start a new header (injection).
pub fn reject_crlf(what: &str, value: &str) -> Result<()> {
    if value.contains(['\r', '\n']) {
        return Err(AppError::Data(format!(
            "the {what} contains a line break (CR or LF), which would inject headers; refusing to send"
        )));
    }
    Ok(())
}

/// Appends `Name: value` folded at whitespace to stay within [`FOLD_AT`] columns.
pub fn header(out: &mut String, name: &str, value: &str) {
    let mut col = name.len() + 1;
    out.push_str(name);
    out.push(':');
    for word in value.split(' ') {
        // Fold before a word that would pass the limit, but not before the
        // first: a fold right after the colon reads back as a leading space in
        // common parsers. Long words are encoded words (see `unstructured`),
        // small enough that the first fits.
        if col + 1 + word.len() > FOLD_AT && col > name.len() + 1 {
            out.push_str("\r\n");
            col = 0;
        }
        out.push(' ');
        out.push_str(word);
        col += 1 + word.len();
    }
    out.push_str("\r\n");
}

/// An unstructured header value (Subject, a `--header`): as it is when it is
/// ASCII with words that fit a line, else RFC 2047 encoded words, which can
/// be folded anywhere (a 1500-character word cannot be).
pub fn unstructured(value: &str) -> String {
    let fits = value.split(' ').all(|w| w.len() <= FOLD_AT - 2);
    if value.is_ascii() && fits && !looks_encoded(value) {
        value.to_string()
    } else {
        encode_words(value)
    }
}

/// Whether a reader would take part of `text` for an encoded word
/// (`=?charset?B?…?=`): then it must be encoded itself, or it reads back as
/// something else.
fn looks_encoded(text: &str) -> bool {
    text.contains("=?")
}

/// RFC 2047 `B` encoded words, each at most 75 characters, split at
/// character boundaries and separated by spaces (ignored between encoded words).
pub fn encode_words(text: &str) -> String {
    // 39 octets: 52 base64 characters + 12 of framing = 64, so that even the
    // first word of "Subject: " stays within 76 columns (RFC 2047 §2).
    const MAX_RAW: usize = 39;
    let mut words = Vec::new();
    let mut start = 0;
    let mut end = 0;
    for (i, c) in text.char_indices() {
        if i + c.len_utf8() - start > MAX_RAW {
            words.push(&text[start..end]);
            start = i;
        }
        end = i + c.len_utf8();
    }
    words.push(&text[start..end]);
    words
        .iter()
        .map(|w| format!("=?UTF-8?B?{}?=", B64.encode(w)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The body and its Content-Transfer-Encoding: 7bit when it is ASCII with
/// short lines, else quoted-printable (safe whatever the server offers).
pub fn encode_body(body: &str) -> (&'static str, String) {
    let mut out = String::with_capacity(body.len() + body.len() / 8 + 2);
    if body.is_ascii() && !body.as_bytes().contains(&0) {
        // 7bit unless a line is too long or holds a bare CR, which copying
        // the lines finds out (most bodies have no CR at all).
        let crs = body.contains('\r');
        let plain = each_line(body, |line| {
            if line.len() > 998 || (crs && line.contains('\r')) {
                return false;
            }
            out.push_str(line);
            out.push_str("\r\n");
            true
        });
        if plain {
            return ("7bit", out);
        }
        out.clear();
    }
    each_line(body, |line| {
        quoted_printable_line(line.as_bytes(), &mut out);
        out.push_str("\r\n");
        true
    });
    ("quoted-printable", out)
}

/// Calls `f` with each line of `body` (without its LF or CRLF) while it
/// returns true; whether every line was taken.
fn each_line(body: &str, mut f: impl FnMut(&str) -> bool) -> bool {
    let mut lines = body
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .peekable();
    while let Some(line) = lines.next() {
        if line.is_empty() && lines.peek().is_none() {
            break; // after the last line end
        }
        if !f(line) {
            return false;
        }
    }
    true
}

/// One line in quoted-printable (RFC 2045 §6.7), soft-broken at 76 columns.
fn quoted_printable_line(line: &[u8], out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut col = 0;
    for (i, &b) in line.iter().enumerate() {
        let last = i + 1 == line.len();
        let literal =
            (b'!'..=b'~').contains(&b) && b != b'=' || (matches!(b, b' ' | b'\t') && !last);
        let width = if literal { 1 } else { 3 };
        // keep room for the soft break "=" (76 columns in all)
        if col + width > 75 {
            out.push_str("=\r\n");
            col = 0;
        }
        if literal {
            out.push(b as char);
        } else {
            out.push('=');
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 15)] as char);
        }
        col += width;
    }
}

/// `Sat, 28 Nov 2026 17:00:00 +0000` (RFC 5322 §3.3), in UTC.
pub fn rfc5322_date(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()) as i64;
    let (days, rem) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    let (y, m, d) = crate::date::civil_from_days(days);
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{}, {d} {} {y} {:02}:{:02}:{:02} +0000",
        DAYS[days.rem_euclid(7) as usize],
        MONTHS[(m - 1) as usize],
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// A unique `<…@domain>` Message-ID: the time and 64 bits that are
/// random for the process and differ for each message (one `getrandom` a
/// process, not one a message: bulk runs make thousands).
pub fn message_id(domain: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static SEED: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    static COUNT: AtomicU64 = AtomicU64::new(0);
    let seed = *SEED.get_or_init(|| {
        let mut rnd = [0u8; 8];
        getrandom::fill(&mut rnd).unwrap_or_default();
        u64::from_le_bytes(rnd)
    });
    // splitmix64: a bijection, so two counts never give the same bits.
    let mut z = seed.wrapping_add(
        COUNT
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15),
    );
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("<{nanos:x}.{z:016x}@{domain}>")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn message_ids_are_unique_and_well_formed() {
        let ids: std::collections::HashSet<String> =
            (0..10_000).map(|_| message_id("example.test")).collect();
        assert_eq!(ids.len(), 10_000);
        for id in ids.iter().take(3) {
            assert!(
                id.starts_with('<') && id.ends_with("@example.test>"),
                "{id}"
            );
        }
    }

    #[test]
    fn dates() {
        let t = UNIX_EPOCH + Duration::from_secs(1_795_885_200); // 2026-11-28 17:00:00 UTC
        assert_eq!(rfc5322_date(t), "Sat, 28 Nov 2026 17:00:00 +0000");
        assert_eq!(rfc5322_date(UNIX_EPOCH), "Thu, 1 Jan 1970 00:00:00 +0000");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(rfc5322_date(leap), "Tue, 29 Feb 2000 00:00:00 +0000");
    }

    #[test]
    fn mailboxes() {
        let m = Mailbox::parse("Jörg Müller <jorg@example.test>").unwrap();
        assert_eq!(m.addr, "jorg@example.test");
        assert!(m.header_form().starts_with("=?UTF-8?B?"));
        let m = Mailbox::parse("\"Smith, J.\" <j@x.test>").unwrap();
        assert_eq!(m.header_form(), "\"Smith, J.\" <j@x.test>");
        assert!(Mailbox::parse("a@x.test\r\nBcc: evil@x.test").is_err());
        assert!(Mailbox::parse("nobody").is_err());
        let l = parse_list(&["a@x.test, \"B, b\" <b@x.test>".into(), "c@x.test".into()]).unwrap();
        assert_eq!(l.len(), 3);
    }

    #[test]
    fn encoded_words_are_short_and_decode() {
        let s = "Grüße aus Köln — ".repeat(8);
        let enc = encode_words(&s);
        let mut decoded = String::new();
        for w in enc.split(' ') {
            assert!(w.len() <= 75, "{w}");
            let b = w.trim_start_matches("=?UTF-8?B?").trim_end_matches("?=");
            decoded.push_str(std::str::from_utf8(&B64.decode(b).unwrap()).unwrap());
        }
        assert_eq!(decoded, s);
    }

    /// Decodes what `encode_words` writes (and only that).
    fn decode_words(enc: &str) -> String {
        enc.split(' ')
            .map(|w| {
                let b = w
                    .strip_prefix("=?UTF-8?B?")
                    .unwrap()
                    .strip_suffix("?=")
                    .unwrap();
                String::from_utf8(B64.decode(b).unwrap()).unwrap()
            })
            .collect()
    }

    // Found by fuzz/header_encoder: plain text that looks like an encoded
    // word went out as it was, and mail readers decoded it to "hi".
    #[test]
    fn encoded_word_lookalikes_are_encoded() {
        let subject = "=?UTF-8?B?aGk=?= looks encoded but is not";
        let enc = unstructured(subject);
        assert_ne!(enc, subject);
        assert_eq!(decode_words(&enc), subject);
        let name = "=?utf-8?q?Admin?=";
        let m = Mailbox {
            name: Some(name.into()),
            addr: "a@x.test".into(),
        };
        let form = m.header_form();
        let (words, addr) = form.rsplit_once(' ').unwrap();
        assert_eq!((decode_words(words).as_str(), addr), (name, "<a@x.test>"));
        // plain ASCII stays plain
        assert_eq!(unstructured("Re: a = b? yes"), "Re: a = b? yes");
    }

    #[test]
    fn folded_headers_stay_short() {
        let mut h = String::new();
        header(&mut h, "Subject", &"word ".repeat(40));
        assert!(h.split("\r\n").all(|l| l.len() <= FOLD_AT), "{h}");
        assert!(h.contains("\r\n word"));
        let mut h = String::new();
        header(
            &mut h,
            "Subject",
            &encode_words(&"Grüße aus Köln — 测试 ✓ ".repeat(4)),
        );
        assert!(h.split("\r\n").all(|l| l.len() <= 76), "{h}");
    }

    #[test]
    fn body_encodings() {
        assert_eq!(encode_body("hi\n.\n"), ("7bit", "hi\r\n.\r\n".to_string()));
        let (cte, body) = encode_body("é\n");
        assert_eq!((cte, body.as_str()), ("quoted-printable", "=C3=A9\r\n"));
        let long = "x".repeat(2000);
        let (cte, body) = encode_body(&long);
        assert_eq!(cte, "quoted-printable");
        assert!(body.split("\r\n").all(|l| l.len() <= 76));
        assert_eq!(body.replace("=\r\n", "").trim_end(), long);
        // trailing space is encoded, not lost
        assert_eq!(encode_body("a \n").1.as_str(), "a \r\n");
        assert_eq!(encode_body("é \n").1.as_str(), "=C3=A9=20\r\n");
    }
}
