//! One message taken apart for display with a real MIME parser
//! (mail-parser): its bodies, its MIME tree, its attachments and inline
//! images, and the HTML body made ready for the sandboxed frame.

use std::collections::HashMap;

use base64::Engine;
use mail_parser::{Message, MessageParser, MimeHeaders, PartType};
use serde::Serialize;

use super::store::{is_inline, people, prefix, Envelope, Person, Session};

/// An attachment or inline part (Mailpit's `Attachment`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Attachment {
    #[serde(rename = "PartID")]
    pub part_id: String,
    pub file_name: String,
    pub content_type: String,
    #[serde(rename = "ContentID")]
    pub content_id: String,
    pub size: usize,
}

/// One node of the MIME tree, in document order with its depth.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Part {
    #[serde(rename = "PartID")]
    pub part_id: String,
    pub depth: usize,
    pub content_type: String,
    pub file_name: String,
    pub disposition: String,
    pub encoding: String,
    pub size: usize,
}

/// One message (Mailpit's `Message`, plus the envelope, the session and
/// the MIME tree).
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Detail {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "MessageID")]
    pub message_id: String,
    pub read: bool,
    pub from: Person,
    pub to: Vec<Person>,
    pub cc: Vec<Person>,
    pub bcc: Vec<Person>,
    pub reply_to: Vec<Person>,
    pub return_path: String,
    pub subject: String,
    /// The Date header (RFC 3339), empty when there is none.
    pub date: String,
    pub tags: Vec<String>,
    pub text: String,
    #[serde(rename = "HTML")]
    pub html: String,
    pub size: usize,
    pub inline: Vec<Attachment>,
    pub attachments: Vec<Attachment>,
    pub envelope: Envelope,
    pub session: Option<Session>,
    #[serde(rename = "MIME")]
    pub mime: Vec<Part>,
}

/// A stored message, parsed.
pub struct Parsed {
    id: String,
    bytes: Vec<u8>,
    start: usize,
    envelope: Envelope,
    session: Option<Session>,
}

impl Parsed {
    pub fn new(bytes: Vec<u8>, id: String) -> Parsed {
        let p = prefix(&bytes);
        Parsed {
            id,
            start: p.len,
            envelope: p.envelope,
            session: p.session,
            bytes,
        }
    }

    /// The message as received (without the capture server's lines).
    pub fn message_bytes(&self) -> &[u8] {
        &self.bytes[self.start..]
    }

    fn message(&self) -> Option<Message<'_>> {
        MessageParser::default().parse(self.message_bytes())
    }

    pub fn detail(&self, read: bool) -> Detail {
        let mut d = Detail {
            id: self.id.clone(),
            message_id: String::new(),
            read,
            from: Person::default(),
            to: Vec::new(),
            cc: Vec::new(),
            bcc: Vec::new(),
            reply_to: Vec::new(),
            return_path: self.envelope.from.clone(),
            subject: String::new(),
            date: String::new(),
            tags: Vec::new(),
            text: String::new(),
            html: String::new(),
            size: self.message_bytes().len(),
            inline: Vec::new(),
            attachments: Vec::new(),
            envelope: self.envelope.clone(),
            session: self.session.clone(),
            mime: Vec::new(),
        };
        let Some(msg) = self.message() else {
            d.text = String::from_utf8_lossy(self.message_bytes()).into_owned();
            return d;
        };
        d.message_id = msg.message_id().unwrap_or_default().to_string();
        d.from = people(msg.from()).into_iter().next().unwrap_or_default();
        d.to = people(msg.to());
        d.cc = people(msg.cc());
        let named: Vec<String> =
            d.to.iter()
                .chain(&d.cc)
                .map(|p| p.address.to_lowercase())
                .collect();
        d.bcc = self
            .envelope
            .to
            .iter()
            .filter(|a| !named.contains(&a.to_lowercase()))
            .map(|a| Person {
                name: String::new(),
                address: a.clone(),
            })
            .collect();
        d.reply_to = people(msg.reply_to());
        d.subject = msg.subject().unwrap_or_default().to_string();
        d.date = msg.date().map(|t| t.to_rfc3339()).unwrap_or_default();
        d.text = first_body(&msg, false).unwrap_or_default();
        d.html = first_body(&msg, true).unwrap_or_default();
        for i in msg.attachments.iter().map(|&i| i as usize) {
            let Some(p) = msg.parts.get(i) else { continue };
            let a = Attachment {
                part_id: i.to_string(),
                file_name: p.attachment_name().unwrap_or_default().to_string(),
                content_type: content_type(p),
                content_id: p.content_id().unwrap_or_default().to_string(),
                size: p.body.len(),
            };
            match is_inline(p) {
                true => d.inline.push(a),
                false => d.attachments.push(a),
            }
        }
        walk(&msg, 0, 0, &mut d.mime);
        d
    }

    /// Every header of the message, by name (as written), in order, with
    /// folded lines joined.
    pub fn headers(&self) -> std::collections::BTreeMap<String, Vec<String>> {
        let mut out: std::collections::BTreeMap<String, Vec<String>> = Default::default();
        if let Some(msg) = self.message() {
            for (name, value) in msg.headers_raw() {
                let v = value.split_whitespace().collect::<Vec<_>>().join(" ");
                out.entry(name.to_string()).or_default().push(v);
            }
        }
        out
    }

    /// One part's decoded content, its content type and a file name.
    pub fn part(&self, id: &str) -> Option<(Vec<u8>, String, String)> {
        let i: usize = id.parse().ok()?;
        let msg = self.message()?;
        let p = msg.parts.get(i)?;
        let (bytes, ctype) = match &p.body {
            PartType::Text(t) | PartType::Html(t) => {
                let base = content_type(p);
                (t.as_bytes().to_vec(), format!("{base}; charset=utf-8"))
            }
            PartType::Binary(b) | PartType::InlineBinary(b) => (b.to_vec(), content_type(p)),
            PartType::Message(m) => (m.raw_message().to_vec(), "message/rfc822".into()),
            PartType::Multipart(_) => {
                let (s, e) = (p.offset_header as usize, p.offset_end as usize);
                let raw = msg.raw_message().get(s..e)?.to_vec();
                (raw, "application/octet-stream".into())
            }
        };
        let name = p
            .attachment_name()
            .map(str::to_string)
            .unwrap_or_else(|| format!("part-{i}"));
        Some((bytes, ctype, name))
    }

    /// The first HTML body with `cid:` references replaced by `data:` URLs
    /// of the inline parts they name (the frame may load nothing else).
    pub fn html_for_frame(&self) -> Option<String> {
        let msg = self.message()?;
        let html = first_body(&msg, true)?;
        let mut by_cid: HashMap<String, String> = HashMap::new();
        for p in msg.parts.iter() {
            let (Some(cid), PartType::Binary(b) | PartType::InlineBinary(b)) =
                (p.content_id(), &p.body)
            else {
                continue;
            };
            if b.len() > MAX_INLINE {
                continue;
            }
            let ctype = content_type(p);
            let ctype = match ctype.starts_with("image/") && safe_token(&ctype) {
                true => ctype,
                false => continue,
            };
            let url = format!(
                "data:{ctype};base64,{}",
                base64::engine::general_purpose::STANDARD.encode(b)
            );
            by_cid.insert(cid.trim_matches(['<', '>']).to_lowercase(), url);
        }
        Some(replace_cids(&html, &by_cid))
    }
}

/// The largest inline image put into the frame.
const MAX_INLINE: usize = 10 * 1024 * 1024;

/// The first body of that kind that really is of that kind (mail-parser
/// offers a text body as HTML when there is no HTML, and the other way round).
fn first_body(msg: &Message, html: bool) -> Option<String> {
    let ids = if html { &msg.html_body } else { &msg.text_body };
    ids.iter()
        .filter_map(|&i| msg.parts.get(i as usize))
        .find_map(|p| match (&p.body, html) {
            (PartType::Html(t), true) | (PartType::Text(t), false) => Some(t.to_string()),
            _ => None,
        })
}

fn content_type(p: &mail_parser::MessagePart) -> String {
    match p.content_type() {
        Some(ct) => match ct.subtype() {
            Some(sub) => format!("{}/{}", ct.ctype(), sub).to_lowercase(),
            None => ct.ctype().to_lowercase(),
        },
        None => match &p.body {
            PartType::Html(_) => "text/html".into(),
            PartType::Text(_) => "text/plain".into(),
            PartType::Message(_) => "message/rfc822".into(),
            _ => "application/octet-stream".into(),
        },
    }
}

/// Whether a content type is `token/token` (safe to put in a header).
pub fn safe_token(ctype: &str) -> bool {
    let ok = |s: &str| {
        !s.is_empty()
            && s.len() <= 100
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&^_.+-".contains(&b))
    };
    matches!(ctype.split_once('/'), Some((a, b)) if ok(a) && ok(b))
}

fn walk(msg: &Message, i: usize, depth: usize, out: &mut Vec<Part>) {
    let Some(p) = msg.parts.get(i) else { return };
    if out.len() > 1000 {
        return;
    }
    out.push(Part {
        part_id: i.to_string(),
        depth,
        content_type: content_type(p),
        file_name: p.attachment_name().unwrap_or_default().to_string(),
        disposition: p
            .content_disposition()
            .map(|d| d.ctype().to_lowercase())
            .unwrap_or_default(),
        encoding: p
            .content_transfer_encoding()
            .unwrap_or_default()
            .to_lowercase(),
        size: match &p.body {
            PartType::Multipart(_) => (p.offset_end - p.offset_body) as usize,
            b => b.len(),
        },
    });
    if let PartType::Multipart(children) = &p.body {
        for &c in children {
            if c as usize > i {
                walk(msg, c as usize, depth + 1, out);
            }
        }
    }
}

/// `html` with each `cid:ID` (any case) that names a known part replaced.
fn replace_cids(html: &str, by_cid: &HashMap<String, String>) -> String {
    if by_cid.is_empty() {
        return html.to_string();
    }
    let lower = html.to_ascii_lowercase();
    let mut out = String::with_capacity(html.len());
    let mut last = 0;
    let mut from = 0;
    while let Some(pos) = lower[from..].find("cid:").map(|p| p + from) {
        let start = pos + 4;
        let end = lower[start..]
            .find(|c: char| matches!(c, '"' | '\'' | ')' | '>' | '<') || c.is_whitespace())
            .map_or(lower.len(), |e| e + start);
        if let Some(url) = by_cid.get(&lower[start..end]) {
            out.push_str(&html[last..pos]);
            out.push_str(url);
            last = end;
        }
        from = end.max(start);
    }
    out.push_str(&html[last..]);
    out
}

/// A file name safe for `Content-Disposition`, and its UTF-8 form for
/// `filename*`: no path, no control characters, no quotes.
pub fn disposition(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let clean: String = base.chars().filter(|c| !c.is_control()).take(120).collect();
    let clean = clean.trim().trim_start_matches('.').to_string();
    let clean = if clean.is_empty() {
        "attachment".to_string()
    } else {
        clean
    };
    let ascii: String = clean
        .chars()
        .map(|c| match c {
            'A'..='Z' | 'a'..='z' | '0'..='9' | '.' | '-' | '_' | ' ' | '(' | ')' => c,
            _ => '_',
        })
        .collect();
    let mut encoded = String::new();
    for b in clean.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-' | b'_' => encoded.push(b as char),
            _ => encoded.push_str(&format!("%{b:02X}")),
        }
    }
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cid_references_become_data_urls() {
        let mut m = HashMap::new();
        m.insert(
            "logo@x".to_string(),
            "data:image/png;base64,AA==".to_string(),
        );
        assert_eq!(
            replace_cids("<img src=\"CID:logo@x\"><img src='cid:other'>", &m),
            "<img src=\"data:image/png;base64,AA==\"><img src='cid:other'>"
        );
    }

    #[test]
    fn download_names_are_safe() {
        assert_eq!(
            disposition("../../etc/passwd"),
            "attachment; filename=\"passwd\"; filename*=UTF-8''passwd"
        );
        assert_eq!(
            disposition("a\"b\r\nc.pdf"),
            "attachment; filename=\"a_bc.pdf\"; filename*=UTF-8''a%22bc.pdf"
        );
        assert_eq!(
            disposition("Bericht Ü.pdf"),
            "attachment; filename=\"Bericht _.pdf\"; filename*=UTF-8''Bericht%20%C3%9C.pdf"
        );
        assert!(disposition(".. ").contains("filename=\"attachment\""));
        assert!(safe_token("image/png") && !safe_token("text/html\r\nX: y"));
    }
}
