//! Composing a message from parts: text, HTML, inline images, attachments,
//! headers (RFC 5322, MIME RFC 2045–2047, 2183, 2231, 2387). Attachments are
//! not read here: they become file segments, encoded as the message is sent.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::content::{Message, Segment};
use super::header::{self as message, encode_body, encode_words, header, reject_crlf, Mailbox};
use crate::error::{AppError, Result};

/// A file to attach (or to show inline, referenced as `cid:` from the HTML).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    /// The file, read while sending.
    pub path: PathBuf,
    /// The file name the recipient sees.
    pub name: String,
    /// Its media type (`application/pdf`).
    pub media_type: String,
    /// Its size in octets.
    pub len: u64,
}

impl Attachment {
    /// Parses `PATH[;type=TYPE][;name=NAME]` and checks that the file is readable.
    pub fn parse(spec: &str) -> Result<Attachment> {
        let mut parts = spec.split(';');
        let path = PathBuf::from(parts.next().unwrap_or_default());
        let (mut media_type, mut name) = (None, None);
        for p in parts {
            match p.split_once('=') {
                Some(("type", v)) => media_type = Some(v.trim().to_string()),
                Some(("name", v)) => name = Some(v.trim().to_string()),
                _ => {
                    return Err(AppError::Usage(format!(
                        "--attach {spec:?}: expected PATH;type=TYPE;name=NAME"
                    )))
                }
            }
        }
        let meta = std::fs::metadata(&path).map_err(|e| {
            AppError::Io(format!(
                "attachment {}: {}",
                path.display(),
                crate::transport::net::short_io(&e)
            ))
        })?;
        if !meta.is_file() {
            return Err(AppError::Io(format!(
                "attachment {}: not a regular file",
                path.display()
            )));
        }
        std::fs::File::open(&path).map_err(|e| {
            AppError::Io(format!(
                "attachment {}: {}",
                path.display(),
                crate::transport::net::short_io(&e)
            ))
        })?;
        let name = name.unwrap_or_else(|| {
            path.file_name()
                .map_or("attachment".into(), |n| n.to_string_lossy().into_owned())
        });
        reject_crlf("attachment name", &name)?;
        let media_type = match media_type {
            Some(t) if valid_media_type(&t) => t,
            Some(t) => {
                return Err(AppError::Usage(format!(
                    "--attach: {t:?} is not a media type like application/pdf"
                )))
            }
            None => guess_type(&path),
        };
        Ok(Attachment {
            path,
            name,
            media_type,
            len: meta.len(),
        })
    }
}

fn valid_media_type(t: &str) -> bool {
    let token = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&^_.+-".contains(&b))
    };
    t.split_once('/').is_some_and(|(a, b)| token(a) && token(b))
}

/// The media type from the file name, else from the first bytes, else octet-stream.
fn guess_type(path: &Path) -> String {
    if let Some(m) = mime_guess::from_path(path).first() {
        return m.essence_str().to_string();
    }
    let mut head = [0u8; 512];
    let n = std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read(&mut f, &mut head))
        .unwrap_or(0);
    let head = &head[..n];
    let known: [(&[u8], &str); 6] = [
        (b"%PDF-", "application/pdf"),
        (b"\x89PNG\r\n\x1a\n", "image/png"),
        (b"\xff\xd8\xff", "image/jpeg"),
        (b"GIF8", "image/gif"),
        (b"PK\x03\x04", "application/zip"),
        (b"\x1f\x8b", "application/gzip"),
    ];
    for (magic, t) in known {
        if head.starts_with(magic) {
            return t.to_string();
        }
    }
    if !head.is_empty() && std::str::from_utf8(head).is_ok() && !head.contains(&0) {
        return "text/plain".into();
    }
    "application/octet-stream".into()
}

/// Everything a composed message is made of.
pub struct Composition<'a> {
    pub from: &'a Mailbox,
    pub to: &'a [Mailbox],
    pub cc: &'a [Mailbox],
    pub reply_to: &'a [Mailbox],
    pub subject: Option<&'a str>,
    pub text: Option<&'a str>,
    pub html: Option<&'a str>,
    pub inline: &'a [Attachment],
    pub attachments: &'a [Attachment],
    /// `--header` fields, validated; some replace the defaults.
    pub headers: &'a [(String, String)],
    pub date: SystemTime,
    pub message_id: &'a str,
}

/// Parses and checks `Name: value` from `--header`.
pub fn parse_header(spec: &str) -> Result<(String, String)> {
    reject_crlf("header", spec)?;
    let (name, value) = spec
        .split_once(':')
        .ok_or_else(|| AppError::Usage(format!("--header {spec:?}: expected 'Name: value'")))?;
    if name.is_empty() || !name.bytes().all(|b| (33..=126).contains(&b) && b != b':') {
        return Err(AppError::Data(format!(
            "--header: {name:?} is not a valid header field name"
        )));
    }
    let lower = name.to_ascii_lowercase();
    if lower == "bcc" || lower == "mime-version" || lower.starts_with("content-") {
        return Err(AppError::Usage(format!(
            "--header: {name} is set by missive (use --bcc, --attach, --html)"
        )));
    }
    Ok((name.to_string(), value.trim().to_string()))
}

/// Header fields that hold addresses: their values are parsed and re-encoded.
const ADDRESS_FIELDS: [&str; 5] = ["from", "to", "cc", "reply-to", "sender"];

/// Fields that `--header` replaces rather than repeats.
const SINGLE_FIELDS: [&str; 7] = [
    "date",
    "from",
    "to",
    "cc",
    "reply-to",
    "subject",
    "message-id",
];

impl Composition<'_> {
    pub fn build(&self) -> Result<Message> {
        let list = |l: &[Mailbox]| {
            l.iter()
                .map(Mailbox::header_form)
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut fields: Vec<(String, String)> =
            vec![("Date".into(), message::rfc5322_date(self.date))];
        fields.push(("From".into(), self.from.header_form()));
        if !self.reply_to.is_empty() {
            fields.push(("Reply-To".into(), list(self.reply_to)));
        }
        if !self.to.is_empty() {
            fields.push(("To".into(), list(self.to)));
        }
        if !self.cc.is_empty() {
            fields.push(("Cc".into(), list(self.cc)));
        }
        if let Some(s) = self.subject {
            reject_crlf("subject", s)?;
            fields.push(("Subject".into(), message::unstructured(s)));
        }
        fields.push(("Message-ID".into(), self.message_id.to_string()));
        for (name, value) in self.headers {
            let lower = name.to_ascii_lowercase();
            let value = if ADDRESS_FIELDS.contains(&lower.as_str()) {
                list(&message::parse_list(std::slice::from_ref(value))?)
            } else {
                message::unstructured(value)
            };
            match fields
                .iter_mut()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
            {
                Some(f) if SINGLE_FIELDS.contains(&lower.as_str()) => f.1 = value,
                _ => fields.push((name.clone(), value)),
            }
        }
        fields.push(("MIME-Version".into(), "1.0".into()));

        let mut head = String::new();
        for (n, v) in &fields {
            header(&mut head, n, v);
        }
        let mut out = Segments::default();
        out.bytes(head.as_bytes());
        self.body_node().write(&mut out);
        Ok(Message {
            segments: out.0.into(),
            eight_bit: false,
            line_end_growth: 0,
        })
    }

    /// The MIME tree: mixed[alternative[text, related[html, inline…]], attachments…].
    fn body_node(&self) -> Node {
        let html = self
            .html
            .map(|h| Node::with_files("related", Node::text(h, "html"), self.inline, true));
        let text = match (self.text, &html) {
            (Some(t), _) => Some(Node::text(t, "plain")),
            (None, None) => Some(Node::text("", "plain")),
            (None, Some(_)) => None,
        };
        let body = match (text, html) {
            (Some(t), Some(h)) => Node::multi("alternative", vec![t, h]),
            (Some(t), None) => t,
            (None, Some(h)) => h,
            (None, None) => unreachable!("a text part is made when there is no HTML"),
        };
        Node::with_files("mixed", body, self.attachments, false)
    }
}

/// Segments, with adjacent bytes merged.
#[derive(Default)]
struct Segments(Vec<Segment>);

impl Segments {
    fn bytes(&mut self, b: &[u8]) {
        if let Some(Segment::Bytes(last)) = self.0.last_mut() {
            last.extend_from_slice(b);
        } else {
            self.0.push(Segment::Bytes(b.to_vec()));
        }
    }
}

enum Node {
    /// Part headers (each line with CRLF) and an encoded body in memory.
    Leaf { headers: String, body: String },
    /// Part headers and a file to base64.
    File {
        headers: String,
        path: PathBuf,
        len: u64,
    },
    Multi {
        subtype: &'static str,
        boundary: String,
        parts: Vec<Node>,
    },
}

impl Node {
    fn text(text: &str, subtype: &str) -> Node {
        let (cte, body) = encode_body(text);
        let charset = if text.is_ascii() { "us-ascii" } else { "utf-8" };
        let mut headers = String::new();
        header(
            &mut headers,
            "Content-Type",
            &format!("text/{subtype}; charset={charset}"),
        );
        header(&mut headers, "Content-Transfer-Encoding", cte);
        Node::Leaf { headers, body }
    }

    fn file(a: &Attachment, inline: bool) -> Node {
        let mut headers = String::new();
        let quoted = a.name.replace('\\', "\\\\").replace('"', "\\\"");
        let plain = a.name.is_ascii() && a.name.len() <= 60;
        let name_param = match plain {
            true => format!("name=\"{quoted}\""),
            false => format!("name=\"{}\"", encode_words(&a.name)),
        };
        header(
            &mut headers,
            "Content-Type",
            &format!("{}; {name_param}", a.media_type),
        );
        header(&mut headers, "Content-Transfer-Encoding", "base64");
        let disposition = if inline { "inline" } else { "attachment" };
        let filename = match plain {
            true => format!("filename=\"{quoted}\""),
            false => rfc2231_continued("filename", &a.name),
        };
        header(
            &mut headers,
            "Content-Disposition",
            &format!("{disposition}; {filename}"),
        );
        if inline {
            header(
                &mut headers,
                "Content-ID",
                &format!("<{}>", content_id(&a.name)),
            );
        }
        Node::File {
            headers,
            path: a.path.clone(),
            len: a.len,
        }
    }

    /// `first` alone when there are no files, else a multipart of `first` and the files.
    fn with_files(subtype: &'static str, first: Node, files: &[Attachment], inline: bool) -> Node {
        if files.is_empty() {
            return first;
        }
        let parts = std::iter::once(first)
            .chain(files.iter().map(|a| Node::file(a, inline)))
            .collect();
        Node::multi(subtype, parts)
    }

    fn multi(subtype: &'static str, parts: Vec<Node>) -> Node {
        let mut rnd = [0u8; 12];
        getrandom::fill(&mut rnd).unwrap_or_default();
        // "=_" cannot occur in base64 or quoted-printable text, so the
        // boundary cannot collide with an encoded part.
        let boundary = format!(
            "=_missive_{}",
            rnd.iter().map(|b| format!("{b:02x}")).collect::<String>()
        );
        Node::Multi {
            subtype,
            boundary,
            parts,
        }
    }

    fn write(&self, out: &mut Segments) {
        match self {
            Node::Leaf { headers, body } => {
                out.bytes(headers.as_bytes());
                out.bytes(b"\r\n");
                out.bytes(body.as_bytes());
            }
            Node::File { headers, path, len } => {
                out.bytes(headers.as_bytes());
                out.bytes(b"\r\n");
                out.0.push(Segment::Base64File {
                    path: path.clone(),
                    len: *len,
                });
            }
            Node::Multi {
                subtype,
                boundary,
                parts,
            } => {
                let mut h = String::new();
                header(
                    &mut h,
                    "Content-Type",
                    &format!("multipart/{subtype}; boundary=\"{boundary}\""),
                );
                out.bytes(h.as_bytes());
                out.bytes(b"\r\n");
                for p in parts {
                    out.bytes(format!("--{boundary}\r\n").as_bytes());
                    p.write(out);
                    out.bytes(b"\r\n");
                }
                out.bytes(format!("--{boundary}--\r\n").as_bytes());
            }
        }
    }
}

/// `NAME*0*=UTF-8''…; NAME*1*=…` (RFC 2231 §3, §4): a long or non-ASCII
/// parameter value in pieces that each fit a header line.
fn rfc2231_continued(param: &str, value: &str) -> String {
    let encoded = percent_encode(value);
    if encoded.len() <= 60 {
        return format!("{param}*=UTF-8''{encoded}");
    }
    let mut pieces = Vec::new();
    let mut rest = encoded.as_str();
    while !rest.is_empty() {
        // never split a %XX triplet
        let mut cut = rest.len().min(60);
        if let Some(i) = rest[..cut].rfind('%').filter(|&i| i + 3 > cut) {
            cut = i;
        }
        pieces.push(&rest[..cut]);
        rest = &rest[cut..];
    }
    pieces
        .iter()
        .enumerate()
        .map(|(i, p)| match i {
            0 => format!("{param}*0*=UTF-8''{p}"),
            _ => format!("{param}*{i}*={p}"),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The Content-ID an inline file is referenced by: `cid:NAME` in the HTML.
pub fn content_id(name: &str) -> String {
    name.chars()
        .filter(|c| c.is_ascii_graphic() && !"<>\"\\".contains(*c))
        .collect()
}

/// Percent-encoding of UTF-8 text, keeping only the unreserved characters
/// (RFC 3986 §2.3): RFC 2231 parameter values and URL query components.
pub(crate) fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn mb(s: &str) -> Mailbox {
        Mailbox::parse(s).unwrap()
    }

    #[test]
    fn headers_validated_and_replacing() {
        assert!(parse_header("X-Tag: a").is_ok());
        assert!(parse_header("Bad Name: a").is_err());
        assert!(parse_header("X: a\r\nBcc: x@y").is_err());
        assert!(parse_header("Content-Type: text/html").is_err());
        let from = mb("a@x.test");
        let to = [mb("b@x.test")];
        let headers = vec![
            parse_header("Subject: over").unwrap(),
            parse_header("X-A: 1").unwrap(),
        ];
        let m = Composition {
            from: &from,
            to: &to,
            cc: &[],
            reply_to: &[],
            subject: Some("orig"),
            text: Some("hi\n"),
            html: None,
            inline: &[],
            attachments: &[],
            headers: &headers,
            date: SystemTime::UNIX_EPOCH,
            message_id: "<1@x.test>",
        }
        .build()
        .unwrap();
        let mut s = String::new();
        m.open().read_to_string(&mut s).unwrap();
        assert_eq!(s.matches("Subject:").count(), 1);
        assert!(s.contains("Subject: over\r\n") && s.contains("X-A: 1\r\n"));
        assert_eq!(m.size() as usize, s.len());
    }

    #[test]
    fn alternative_related_mixed() {
        let dir = std::env::temp_dir().join(format!("missive-compose-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let img = dir.join("logo.png");
        std::fs::write(&img, b"\x89PNG\r\n\x1a\nxxxx").unwrap();
        let doc = dir.join("Bericht ü.pdf");
        std::fs::write(&doc, b"%PDF-1.4 ...").unwrap();
        let inline = [Attachment::parse(img.to_str().unwrap()).unwrap()];
        let att = [Attachment::parse(doc.to_str().unwrap()).unwrap()];
        assert_eq!(inline[0].media_type, "image/png");
        assert_eq!(att[0].media_type, "application/pdf");
        let from = mb("a@x.test");
        let m = Composition {
            from: &from,
            to: &[],
            cc: &[],
            reply_to: &[],
            subject: None,
            text: Some("plain"),
            html: Some("<img src=\"cid:logo.png\">"),
            inline: &inline,
            attachments: &att,
            headers: &[],
            date: SystemTime::UNIX_EPOCH,
            message_id: "<1@x.test>",
        }
        .build()
        .unwrap();
        let mut s = String::new();
        m.open().read_to_string(&mut s).unwrap();
        let i_mixed = s.find("multipart/mixed").unwrap();
        let i_alt = s.find("multipart/alternative").unwrap();
        let i_rel = s.find("multipart/related").unwrap();
        assert!(i_mixed < i_alt && i_alt < i_rel);
        assert!(s.contains("Content-ID: <logo.png>"));
        assert!(s.contains("filename*=UTF-8''Bericht%20%C3%BC.pdf"));
        let long = rfc2231_continued("filename", &"ü".repeat(40));
        assert!(
            long.starts_with("filename*0*=UTF-8''%C3%BC") && long.contains("; filename*1*=%C3%BC"),
            "{long}"
        );
        assert!(
            long.split("; ").all(|p| p.len() <= 80 && !p.ends_with('%')),
            "{long}"
        );
        assert!(s.lines().all(|l| l.len() <= 998));
        assert_eq!(m.size() as usize, s.len());
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn missing_attachment_is_a_clear_error() {
        let e = Attachment::parse("/nonexistent/file.pdf").unwrap_err();
        assert!(e.to_string().contains("/nonexistent/file.pdf"));
        assert_eq!(e.exit_code(), crate::error::exit::IOERR);
    }
}
