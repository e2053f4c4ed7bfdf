//! Ready-made messages (`--message FILE|-`, sendmail): sent as they are, line
//! endings aside. Only the header section is read into memory (bounded);
//! the body stays in the file (stdin is spooled to a private temporary
//! file first, so it can be sized and read once per MX domain).

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::Path;
use std::sync::Arc;

use super::content::{Message, Segment, Spool};
use super::header::{self as message, Mailbox};
use crate::error::{AppError, Result};

/// Most octets of header section read into memory.
const MAX_HEADER: usize = 1024 * 1024;

/// A loaded message and what its headers say.
pub struct Ready {
    /// The header as it will be sent, then the body from the file.
    pub message: Message,
    /// From (else Sender) of the header, if it parses.
    pub from: Option<Mailbox>,
    /// To, Cc and Bcc of the header (Bcc is removed from what is sent).
    pub recipients: Vec<Mailbox>,
    /// The Message-ID, as it stands in the header (or as added).
    pub message_id: Option<String>,
}

/// How to load.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// sendmail without `-i`: a line with a single `.` ends the input.
    pub dot_ends_input: bool,
    /// sendmail: add Date, Message-ID and From when the message lacks them,
    /// as MTAs do on submission (RFC 6409 §8).
    pub add_missing: Option<Mailbox>,
}

/// Loads `path` (`-`: standard input).
pub fn load(path: &str, opts: &LoadOptions) -> Result<Ready> {
    let spool = if path == "-" {
        spool_stdin(opts.dot_ends_input)?
    } else {
        let p = Path::new(path);
        File::open(p).map_err(|e| {
            AppError::Io(format!(
                "--message {path}: {}",
                crate::transport::net::short_io(&e)
            ))
        })?;
        Spool::existing(p)
    };
    let spool = Arc::new(spool);
    let total = std::fs::metadata(&spool.path)
        .map_err(|e| AppError::Io(format!("{}: {e}", spool.path.display())))?
        .len();
    let (fields, body_offset) = read_header(&spool.path, total)?;
    let scan = scan_body(&spool.path, body_offset)?;

    let mut from = None;
    let mut sender = None;
    let mut recipients = Vec::new();
    let mut message_id = None;
    // Bytes, not text: a header in Latin-1 goes out as it came.
    let mut kept = Vec::new();
    let has = |name: &str| fields.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
    let (has_date, has_id, has_from) = (has("Date"), has("Message-ID"), has("From"));
    for (name, raw) in &fields {
        let lower = name.to_ascii_lowercase();
        let value = unfold(&String::from_utf8_lossy(raw), name);
        match lower.as_str() {
            "to" | "cc" | "bcc" => recipients.extend(addresses(&value, name)?),
            "from" => from = first_address(&value),
            "sender" => sender = first_address(&value),
            "message-id" => message_id = Some(value.clone()),
            _ => {}
        }
        // Bcc never leaves in the header (RFC 5322 §3.6.3).
        if lower != "bcc" && lower != "resent-bcc" {
            kept.extend_from_slice(raw);
        }
    }
    if let Some(default_from) = &opts.add_missing {
        let mut added = String::new();
        if !has_date {
            message::header(
                &mut added,
                "Date",
                &message::rfc5322_date(std::time::SystemTime::now()),
            );
        }
        if !has_id {
            let id = message::message_id(default_from.domain());
            message::header(&mut added, "Message-ID", &id);
            message_id = Some(id);
        }
        if !has_from {
            message::header(&mut added, "From", &default_from.header_form());
        }
        kept.extend_from_slice(added.as_bytes());
    }
    kept.extend_from_slice(b"\r\n");
    // 8-bit octets in the header need 8BITMIME as much as in the body.
    let eight_bit = scan.eight_bit || !kept.is_ascii();
    let segments = vec![
        Segment::Bytes(kept),
        Segment::Raw {
            file: spool,
            offset: body_offset,
            len: total - body_offset,
        },
    ];
    Ok(Ready {
        message: Message {
            segments: segments.into(),
            eight_bit,
            // What CRLF normalisation adds, so SIZE= is what goes on the wire.
            line_end_growth: scan.growth,
        },
        from: from.or(sender),
        recipients,
        message_id,
    })
}

/// What the body holds that changes the size or the MAIL parameters.
struct Scan {
    eight_bit: bool,
    /// Octets CRLF normalisation adds: one per bare LF or bare CR, and a
    /// CRLF when the last line has no line end.
    growth: u64,
}

/// Longest line (without its line end) that may go out (RFC 5322 §2.1.1).
const MAX_LINE: usize = 998;

/// Reads the body once: 8-bit octets and bare line ends. NUL octets and
/// lines over 998 octets are refused: they cannot go out as they are.
fn scan_body(path: &Path, offset: u64) -> Result<Scan> {
    use std::io::{Seek, SeekFrom};
    let err = |e: std::io::Error| AppError::Io(format!("reading the message: {e}"));
    let mut f = File::open(path).map_err(err)?;
    f.seek(SeekFrom::Start(offset)).map_err(err)?;
    let mut buf = vec![0u8; 64 * 1024];
    let (mut eight_bit, mut growth, mut prev, mut any) = (false, 0u64, b'\n', false);
    let (mut line_len, mut line_no) = (0usize, 1u64);
    loop {
        let n = f.read(&mut buf).map_err(err)?;
        if n == 0 {
            break;
        }
        any = true;
        for &b in &buf[..n] {
            eight_bit |= b >= 0x80;
            match b {
                b'\r' | b'\n' => {
                    line_no += u64::from(b == b'\n');
                    line_len = 0;
                }
                0 => {
                    return Err(AppError::Data(format!(
                        "the message body has a NUL octet (body line {line_no}): encode it (base64) first"
                    )))
                }
                _ => {
                    line_len += 1;
                    if line_len > MAX_LINE {
                        return Err(AppError::Data(format!(
                            "body line {line_no} of the message is over {MAX_LINE} octets: encode it (quoted-printable or base64) first"
                        )));
                    }
                }
            }
            match (prev, b) {
                (b'\r', b'\n') => {}
                (_, b'\n') => growth += 1,
                (b'\r', _) => growth += 1,
                _ => {}
            }
            prev = b;
        }
    }
    match prev {
        b'\r' => growth += 1,
        b'\n' => {}
        _ if any => growth += 2,
        _ => {}
    }
    Ok(Scan { eight_bit, growth })
}

/// Copies standard input to a private temporary file.
fn spool_stdin(dot_ends_input: bool) -> Result<Spool> {
    let io_err = |e: io::Error| AppError::Io(format!("spooling standard input: {e}"));
    let (spool, file) = Spool::temporary().map_err(io_err)?;
    let mut out = io::BufWriter::new(file);
    let mut input = BufReader::with_capacity(64 * 1024, io::stdin().lock());
    let mut line = Vec::new();
    // A piece read here may be the tail of a line longer than the cap: only
    // a piece that starts a line can be the lone dot.
    let mut at_line_start = true;
    loop {
        line.clear();
        // Lines are bounded by the buffer's growth only at a LF; cap them so
        // a stream without LF cannot take unbounded memory.
        let n = (&mut input)
            .take(64 * 1024)
            .read_until(b'\n', &mut line)
            .map_err(io_err)?;
        if n == 0 {
            break;
        }
        if dot_ends_input && at_line_start && matches!(line.as_slice(), b".\n" | b".\r\n" | b".") {
            break;
        }
        at_line_start = line.last() == Some(&b'\n');
        out.write_all(&line).map_err(io_err)?;
    }
    out.flush().map_err(io_err)?;
    Ok(spool)
}

/// A header field: its name, and its lines as they were, each with CRLF.
type Field = (String, Vec<u8>);

/// The header fields, and where the body starts.
fn read_header(path: &Path, total: u64) -> Result<(Vec<Field>, u64)> {
    let f = File::open(path).map_err(|e| AppError::Io(format!("{}: {e}", path.display())))?;
    let mut r = BufReader::new(f.take(MAX_HEADER as u64 + 1));
    let mut fields: Vec<Field> = Vec::new();
    let mut offset = 0u64;
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = r
            .read_until(b'\n', &mut line)
            .map_err(|e| AppError::Io(format!("reading the message: {e}")))?;
        if n == 0 {
            if offset < total {
                return Err(AppError::Data(format!(
                    "the message's header section is over {MAX_HEADER} octets, or has no blank line after it"
                )));
            }
            break; // headers only, no body
        }
        offset += n as u64;
        let text = String::from_utf8_lossy(&line);
        let content = text.strip_suffix('\n').unwrap_or(&text);
        let content = content.strip_suffix('\r').unwrap_or(content);
        // A bare CR becomes a line end on the wire: a field hidden behind
        // one (`Subject: x<CR>Bcc: y`) would escape Bcc stripping.
        if content.contains(['\r', '\0']) {
            return Err(AppError::Data(format!(
                "the message's header has a bare CR or a NUL byte in line {:?}",
                content
                    .chars()
                    .take(60)
                    .collect::<String>()
                    .escape_debug()
                    .to_string()
            )));
        }
        if content.is_empty() {
            break;
        }
        let raw = line.strip_suffix(b"\n").unwrap_or(&line);
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        if raw.len() > MAX_LINE {
            return Err(AppError::Data(format!(
                "a header line of the message is over {MAX_LINE} octets: fold it"
            )));
        }
        if content.starts_with([' ', '\t']) {
            match fields.last_mut() {
                Some((_, field)) => {
                    field.extend_from_slice(raw);
                    field.extend_from_slice(b"\r\n");
                }
                None => {
                    return Err(AppError::Data(
                        "the message starts with a continuation line".into(),
                    ))
                }
            }
            continue;
        }
        let Some((name, _)) = content.split_once(':') else {
            return Err(AppError::Data(format!(
                "the message's header has a line that is not a field: {:?} (is there a blank line before the body?)",
                content.chars().take(60).collect::<String>()
            )));
        };
        if name.is_empty() || !name.bytes().all(|b| (33..=126).contains(&b)) {
            return Err(AppError::Data(format!(
                "invalid header field name {name:?}"
            )));
        }
        fields.push((name.to_string(), [raw, b"\r\n"].concat()));
    }
    Ok((fields, offset.min(total)))
}

/// A field's value, unfolded.
fn unfold(raw: &str, name: &str) -> String {
    raw[name.len() + 1..].replace("\r\n", "").trim().to_string()
}

/// The addresses of an address-list field; groups (`undisclosed:;`) give none.
fn addresses(value: &str, field: &str) -> Result<Vec<Mailbox>> {
    let mut out = Vec::new();
    for part in message::split_addresses(value) {
        let part = match part.split_once(':') {
            // `group: a@x, b@y;`: the group name goes, its members stay.
            Some((_, rest)) if !part.contains('<') || part.find(':') < part.find('<') => {
                rest.trim().to_string()
            }
            _ => part,
        };
        let part = part.trim_end_matches(';').trim();
        if part.is_empty() {
            continue;
        }
        out.push(Mailbox::parse(part).map_err(|e| AppError::Data(format!("{field}: {e}")))?);
    }
    Ok(out)
}

fn first_address(value: &str) -> Option<Mailbox> {
    addresses(value, "From").ok()?.into_iter().next()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_str(s: &str, opts: &LoadOptions) -> (Ready, String) {
        let dir = std::env::temp_dir();
        let path = dir.join(format!(
            "missive-ready-{}-{}.eml",
            std::process::id(),
            s.len()
        ));
        std::fs::write(&path, s).unwrap();
        let r = load(path.to_str().unwrap(), opts).unwrap();
        let mut out = String::new();
        r.message.open().read_to_string(&mut out).unwrap();
        std::fs::remove_file(&path).ok();
        (r, out)
    }

    #[test]
    fn bcc_removed_recipients_collected() {
        let (r, out) = load_str(
            "From: A <a@x.test>\nTo: b@x.test, \"C, c\" <c@x.test>\nBcc: hidden@x.test,\n  also@x.test\nSubject: s\n\nbody\n.\n",
            &LoadOptions::default(),
        );
        assert!(!out.contains("Bcc") && !out.contains("hidden"));
        assert!(out.ends_with("\r\nbody\n.\n"), "{out:?}");
        let addrs: Vec<&str> = r.recipients.iter().map(|m| m.addr.as_str()).collect();
        assert_eq!(
            addrs,
            ["b@x.test", "c@x.test", "hidden@x.test", "also@x.test"]
        );
        assert_eq!(r.from.unwrap().addr, "a@x.test");
        // the size counts the CRLFs the LF-only body gets on the wire
        let wire = out.replace("\r\n", "\n").replace('\n', "\r\n");
        assert_eq!(r.message.size() as usize, wire.len());
    }

    // Found by fuzz/ready_reader: a Latin-1 header went out with U+FFFD in
    // place of its 8-bit octets, and without asking for 8BITMIME.
    #[test]
    fn an_eight_bit_header_goes_out_as_it_is() {
        let text = b"Subject: Gr\xfc\xdfe\r\nTo: a@example.com\r\n\r\nbody\r\n";
        let path =
            std::env::temp_dir().join(format!("missive-ready-8bit-{}.eml", std::process::id()));
        std::fs::write(&path, text).unwrap();
        let r = load(path.to_str().unwrap(), &LoadOptions::default()).unwrap();
        let mut out = Vec::new();
        r.message.open().read_to_end(&mut out).unwrap();
        std::fs::remove_file(&path).ok();
        assert_eq!(out, text);
        assert!(r.message.eight_bit, "8-bit header octets need 8BITMIME");
        assert_eq!(r.recipients[0].addr, "a@example.com");
    }

    #[test]
    fn bare_cr_in_the_header_is_refused() {
        for text in [
            "Subject: hi\rBcc: hidden@x.test\nTo: a@x.test\n\nbody\n",
            "Subject: hi\r\r\nX: y\n\nbody\n",
            "Subject: a\0b\n\nbody\n",
        ] {
            let path = std::env::temp_dir().join(format!(
                "missive-ready-cr-{}-{}.eml",
                std::process::id(),
                text.len()
            ));
            std::fs::write(&path, text).unwrap();
            let r = load(path.to_str().unwrap(), &LoadOptions::default());
            std::fs::remove_file(&path).ok();
            assert!(matches!(r, Err(AppError::Data(_))), "{text:?}");
        }
    }

    #[test]
    fn groups_and_missing_headers() {
        let from = Mailbox::parse("cron@host.test").unwrap();
        let (r, out) = load_str(
            "To: undisclosed-recipients:;\nCc: team: a@x.test, b@x.test;\nSubject: cron\n\nhi\n",
            &LoadOptions {
                add_missing: Some(from),
                ..LoadOptions::default()
            },
        );
        let addrs: Vec<&str> = r.recipients.iter().map(|m| m.addr.as_str()).collect();
        assert_eq!(addrs, ["a@x.test", "b@x.test"]);
        assert!(
            out.contains("Date: ")
                && out.contains("Message-ID: <")
                && out.contains("From: cron@host.test")
        );
    }

    #[test]
    fn no_blank_line_is_an_error_unless_headers_only() {
        let dir =
            std::env::temp_dir().join(format!("missive-ready-bad-{}.eml", std::process::id()));
        std::fs::write(&dir, "Subject: x\nthis is not a header\n").unwrap();
        assert!(load(dir.to_str().unwrap(), &LoadOptions::default()).is_err());
        std::fs::remove_file(&dir).ok();
        let (_, out) = load_str("Subject: only\n", &LoadOptions::default());
        assert_eq!(out, "Subject: only\r\n\r\n");
    }
}
