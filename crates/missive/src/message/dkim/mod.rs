//! DKIM signing (RFC 6376, RFC 8463): `rsa-sha256` and `ed25519-sha256`,
//! relaxed or simple canonicalisation, oversigned From, To and Subject.
//!
//! The message is read once more to sign it, as it will go on the wire
//! (line ends normalised to CRLF, the same code the transport uses): the
//! header section is held in memory (it is bounded), the body streams
//! through the canonicaliser into SHA-256, so an attachment is read twice
//! from disk and never held. The signatures go in front of the header as a
//! new segment; nothing else changes (a ready-made message keeps its order
//! and any signature it already has).

use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use missive_smtp::data::DataEncoder;
use serde::{Deserialize, Serialize};

use super::content::{Message, Segment};
use crate::error::{AppError, Result};

pub mod canon;
pub mod key;

pub use canon::Canon;
pub use key::{Algorithm, SigningKey};

/// The header fields signed unless the configuration says otherwise.
pub const DEFAULT_HEADERS: &[&str] = &[
    "From",
    "To",
    "Cc",
    "Subject",
    "Date",
    "Message-ID",
    "Reply-To",
    "MIME-Version",
    "Content-Type",
    "In-Reply-To",
    "References",
];

/// Listed once more than they occur, so none can be added later (RFC 6376 §8.15).
const OVERSIGNED: &[&str] = &["from", "to", "subject"];

/// Most octets of header section held to sign.
const MAX_HEADER: usize = 1024 * 1024;

/// One signature as configured (`[accounts.NAME.dkim]`, `--dkim-*`).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct DkimConfig {
    /// `d=`: the signing domain.
    pub domain: String,
    /// `s=`: the selector (the key is at `SELECTOR._domainkey.DOMAIN`).
    pub selector: String,
    /// The private key, PEM (mode 0600).
    pub key_file: PathBuf,
    /// `rsa` or `ed25519`: when given, the key must be of that kind.
    pub algorithm: Option<String>,
    /// The header fields to sign (default [`DEFAULT_HEADERS`]).
    pub headers: Option<Vec<String>>,
    /// `relaxed/relaxed` (default), `simple/simple`, `relaxed/simple`, …
    pub canonicalization: Option<String>,
    /// `x=`: the signature expires this many seconds after signing.
    pub expire: Option<u64>,
}

/// A signer ready to sign: the key loaded.
#[derive(Debug, Clone)]
pub struct Signer {
    pub domain: String,
    pub selector: String,
    pub key: Arc<SigningKey>,
    pub header_canon: Canon,
    pub body_canon: Canon,
    /// Lowercase names.
    pub headers: Vec<String>,
    pub expire: Option<Duration>,
}

impl Signer {
    /// Loads the key and checks the configuration (errors: exit 78).
    pub fn load(c: &DkimConfig) -> Result<Signer> {
        let bad = |what: String| AppError::Config(format!("DKIM: {what}"));
        if c.domain.is_empty() || c.domain.contains([';', ' ', '\r', '\n']) {
            return Err(bad(format!("invalid domain {:?}", c.domain)));
        }
        if c.selector.is_empty() || c.selector.contains([';', ' ', '\r', '\n']) {
            return Err(bad(format!("invalid selector {:?}", c.selector)));
        }
        let key = SigningKey::load(&c.key_file)?;
        if let Some(a) = &c.algorithm {
            let want = Algorithm::parse(a)
                .ok_or_else(|| bad(format!("algorithm {a:?}: expected rsa or ed25519")))?;
            if want != key.algorithm() {
                return Err(bad(format!(
                    "{} holds a {} key, not {a}",
                    c.key_file.display(),
                    key.algorithm().key_type()
                )));
            }
        }
        let (header_canon, body_canon) = match c.canonicalization.as_deref() {
            None => (Canon::Relaxed, Canon::Relaxed),
            Some(s) => {
                let (h, b) = s.split_once('/').unwrap_or((s, "simple"));
                match (Canon::parse(h), Canon::parse(b)) {
                    (Some(h), Some(b)) => (h, b),
                    _ => return Err(bad(format!("canonicalization {s:?}: expected relaxed/relaxed, simple/simple, relaxed/simple or simple/relaxed"))),
                }
            }
        };
        let mut headers: Vec<String> = Vec::new();
        let given: Vec<String> = match &c.headers {
            Some(h) => h.clone(),
            None => DEFAULT_HEADERS.iter().map(|s| s.to_string()).collect(),
        };
        for h in given {
            let h = h.trim().to_ascii_lowercase();
            if h.is_empty() || h.contains([':', ' ', ';']) {
                return Err(bad(format!("invalid header name {h:?}")));
            }
            if !headers.contains(&h) {
                headers.push(h);
            }
        }
        if !headers.iter().any(|h| h == "from") {
            headers.insert(0, "from".into()); // RFC 6376 §5.4: From must be signed
        }
        Ok(Signer {
            domain: c.domain.clone(),
            selector: c.selector.clone(),
            key: Arc::new(key),
            header_canon,
            body_canon,
            headers,
            expire: c.expire.map(Duration::from_secs),
        })
    }
}

/// Loads every configured signer.
pub fn signers(configs: &[DkimConfig]) -> Result<Vec<Signer>> {
    configs.iter().map(Signer::load).collect()
}

/// The header section and body hashes of a message as it will be sent.
struct Scanned {
    header: Vec<u8>,
    body_hashes: Vec<Vec<u8>>,
}

/// Reads the message once: the header section into memory, the body
/// through one canonicaliser and hash per signer.
fn read(message: &Message, signers: &[Signer]) -> Result<Scanned> {
    let io = |e: std::io::Error| AppError::Io(format!("DKIM: reading the message: {e}"));
    let mut reader = message.open();
    let mut enc = DataEncoder::for_bdat();
    let mut header = Vec::new();
    let mut in_header = true;
    let mut bodies: Vec<(canon::Body, ring::digest::Context)> = signers
        .iter()
        .map(|s| {
            (
                canon::Body::new(s.body_canon),
                ring::digest::Context::new(&ring::digest::SHA256),
            )
        })
        .collect();
    let mut buf = vec![0u8; 64 * 1024];
    let mut out = Vec::with_capacity(70 * 1024);
    let mut done = false;
    while !done {
        out.clear();
        let n = reader.read(&mut buf).map_err(io)?;
        if n == 0 {
            std::mem::replace(&mut enc, DataEncoder::for_bdat()).finish_chunked(&mut out);
            done = true;
        } else {
            enc.encode(&buf[..n], &mut out);
        }
        let mut body_part: &[u8] = &out;
        if in_header {
            let from = header.len().saturating_sub(3);
            header.extend_from_slice(&out);
            let end = if header.starts_with(b"\r\n") {
                Some(0)
            } else {
                header[from..]
                    .windows(4)
                    .position(|w| w == b"\r\n\r\n")
                    .map(|i| from + i + 2)
            };
            match end {
                Some(end) => {
                    in_header = false;
                    // what followed the blank line belongs to the body
                    let consumed = header.len() - out.len();
                    let body_start = end + 2 - consumed;
                    body_part = &out[body_start.min(out.len())..];
                    header.truncate(end);
                }
                None => {
                    if header.len() > MAX_HEADER {
                        return Err(AppError::Data(
                            "DKIM: the header section is over 1 MiB".into(),
                        ));
                    }
                    body_part = &[];
                }
            }
        }
        for (body, hash) in &mut bodies {
            body.update(body_part, &mut |d| hash.update(d));
        }
    }
    let body_hashes = bodies
        .into_iter()
        .map(|(body, mut hash)| {
            body.finish(&mut |d| hash.update(d));
            hash.finish().as_ref().to_vec()
        })
        .collect();
    Ok(Scanned {
        header,
        body_hashes,
    })
}

/// Header fields of a header section (each with its CRLFs), with lowercase names.
fn fields(header: &[u8]) -> Vec<(String, &[u8])> {
    let mut out: Vec<(String, &[u8])> = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < header.len() {
        let line_end = header[i..]
            .windows(2)
            .position(|w| w == b"\r\n")
            .map_or(header.len(), |p| i + p + 2);
        let next_folded = header
            .get(line_end)
            .is_some_and(|b| *b == b' ' || *b == b'\t');
        if !next_folded {
            let raw = &header[start..line_end];
            let name = raw
                .iter()
                .position(|&b| b == b':')
                .map(|c| {
                    String::from_utf8_lossy(&raw[..c])
                        .trim()
                        .to_ascii_lowercase()
                })
                .unwrap_or_default();
            out.push((name, raw));
            start = line_end;
        }
        i = line_end;
    }
    out
}

/// Signs `message` with each signer; the signatures come first, in order.
pub fn sign(message: &Message, signers: &[Signer], now: SystemTime) -> Result<Message> {
    if signers.is_empty() {
        return Ok(message.clone());
    }
    let read = read(message, signers)?;
    let fields = fields(&read.header);
    let t = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    let mut added = Vec::new();
    for (signer, bh) in signers.iter().zip(&read.body_hashes) {
        added.extend(signature(signer, &fields, bh, t)?);
    }
    let mut segments = vec![Segment::Bytes(added)];
    segments.extend(message.segments.iter().cloned());
    Ok(Message {
        segments: segments.into(),
        eight_bit: message.eight_bit,
        line_end_growth: message.line_end_growth,
    })
}

/// One DKIM-Signature field, folded, with its CRLF.
fn signature(s: &Signer, fields: &[(String, &[u8])], bh: &[u8], t: u64) -> Result<Vec<u8>> {
    // h=: each present instance once, oversigned names once more.
    let mut h: Vec<&str> = Vec::new();
    for name in &s.headers {
        let n = fields.iter().filter(|(f, _)| f == name).count();
        let extra = usize::from(OVERSIGNED.contains(&name.as_str()));
        h.extend(std::iter::repeat_n(name.as_str(), n + extra));
    }
    let mut tags = vec![
        "v=1".to_string(),
        format!("a={}", s.key.algorithm().tag()),
        format!("c={}/{}", s.header_canon.name(), s.body_canon.name()),
        format!("d={}", s.domain),
        format!("s={}", s.selector),
        format!("t={t}"),
    ];
    if let Some(x) = s.expire {
        tags.push(format!("x={}", t + x.as_secs().max(1)));
    }
    tags.push(format!("h={}", h.join(":")));
    tags.push(format!("bh={}", B64.encode(bh)));
    // Folded so no line is long; the b= value is added after signing.
    let mut value = String::new();
    let mut line_len = "DKIM-Signature:".len();
    for tag in tags.iter().map(String::as_str).chain(["b="]) {
        let piece = match tag {
            "b=" => "b=".to_string(),
            t => format!("{t};"),
        };
        if line_len + 1 + piece.len() > 76 && !value.is_empty() {
            value.push_str("\r\n\t");
            line_len = 8;
        } else {
            value.push(' ');
            line_len += 1;
        }
        value.push_str(&piece);
        line_len += piece.len();
    }
    // What is signed: the listed fields (bottom-up per name), then this
    // field with an empty b= and no CRLF (RFC 6376 §3.7).
    let mut data = Vec::new();
    let mut used: Vec<(&str, usize)> = Vec::new();
    for name in &h {
        let k = match used.iter_mut().find(|(n, _)| n == name) {
            Some((_, k)) => {
                *k += 1;
                *k - 1
            }
            None => {
                used.push((name, 1));
                0
            }
        };
        let instances: Vec<&[u8]> = fields
            .iter()
            .filter(|(f, _)| f == name)
            .map(|(_, raw)| *raw)
            .collect();
        if k < instances.len() {
            data.extend(canon::header(
                s.header_canon,
                instances[instances.len() - 1 - k],
            ));
        }
    }
    let own = format!("DKIM-Signature:{value}");
    let mut own_canon = canon::header(s.header_canon, format!("{own}\r\n").as_bytes());
    own_canon.truncate(own_canon.len() - 2);
    data.extend(own_canon);
    let sig = B64.encode(s.key.sign(&data)?);
    let mut field = own;
    let mut line_len = field.rsplit("\r\n").next().map_or(0, str::len);
    for c in sig.chars() {
        if line_len >= 76 {
            field.push_str("\r\n\t");
            line_len = 1;
        }
        field.push(c);
        line_len += 1;
    }
    field.push_str("\r\n");
    Ok(field.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_keep_folding_and_names_are_lowercase() {
        let h = b"From: a@b\r\nSubject: one\r\n two\r\nTo: c@d\r\n";
        let f = fields(h);
        let names: Vec<&str> = f.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["from", "subject", "to"]);
        assert_eq!(f[1].1, b"Subject: one\r\n two\r\n");
    }

    #[test]
    fn header_and_body_split_at_the_blank_line_with_lf_input() {
        let key = SigningKey::from_pem(key::generate_ed25519().unwrap().as_bytes()).unwrap();
        let signer = Signer {
            domain: "example.test".into(),
            selector: "s".into(),
            key: Arc::new(key),
            header_canon: Canon::Relaxed,
            body_canon: Canon::Relaxed,
            headers: vec!["from".into()],
            expire: None,
        };
        let m = Message {
            segments: vec![Segment::Bytes(
                b"From: a@b\nSubject: x\n\nbody  \n\n".to_vec(),
            )]
            .into(),
            eight_bit: false,
            line_end_growth: 0,
        };
        let r = read(&m, std::slice::from_ref(&signer)).unwrap();
        assert_eq!(r.header, b"From: a@b\r\nSubject: x\r\n");
        let want = ring::digest::digest(&ring::digest::SHA256, b"body\r\n");
        assert_eq!(r.body_hashes[0], want.as_ref());
        let signed = sign(&m, &[signer], UNIX_EPOCH).unwrap();
        let mut text = String::new();
        signed.open().read_to_string(&mut text).unwrap();
        assert!(text.starts_with("DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed;"));
        assert!(text.contains("h=from:from;"), "{text}");
        assert!(text.ends_with("From: a@b\nSubject: x\n\nbody  \n\n"));
    }
}
