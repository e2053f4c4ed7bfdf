//! The Maildir as the web API sees it: messages by id, their summaries
//! (parsed once and kept), search filters, read marks and deletion.
//!
//! A message's id is its Maildir file name without the `:2,` flags, which
//! the capture server makes of digits, letters and dots only; any other id
//! is refused before it comes near a path.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use mail_parser::{Address, DateTime, Message, MessageParser, MessagePart, MimeHeaders};
use serde::Serialize;

/// A name and an address, as Mailpit shows them.
#[derive(Debug, Clone, Serialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct Person {
    pub name: String,
    pub address: String,
}

/// The SMTP envelope, from the lines the capture server writes first.
#[derive(Debug, Clone, Serialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct Envelope {
    pub from: String,
    pub to: Vec<String>,
}

/// How the message came in: the `X-Missive-Session` line.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Session {
    #[serde(rename = "Helo")]
    pub helo: String,
    #[serde(rename = "TLS")]
    pub tls: bool,
    /// `TLSv1.3` and the like; empty without TLS.
    #[serde(rename = "TLSVersion")]
    pub tls_version: String,
    #[serde(rename = "TLSCipher")]
    pub tls_cipher: String,
    #[serde(rename = "Auth")]
    pub auth: bool,
    /// The AUTH identity; empty without AUTH.
    #[serde(rename = "AuthUser")]
    pub auth_user: String,
}

/// One message in the list (Mailpit's `MessageSummary`, plus the envelope
/// and the session).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Summary {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "MessageID")]
    pub message_id: String,
    pub read: bool,
    pub from: Person,
    pub to: Vec<Person>,
    pub cc: Vec<Person>,
    /// Envelope recipients not named in To or Cc.
    pub bcc: Vec<Person>,
    pub reply_to: Vec<Person>,
    pub subject: String,
    /// When it was stored (RFC 3339, UTC).
    pub created: String,
    pub tags: Vec<String>,
    /// Octets of the message as received.
    pub size: u64,
    pub attachments: usize,
    pub snippet: String,
    pub envelope: Envelope,
    pub session: Option<Session>,
    /// Microseconds since 1970 when it was stored: the list's order.
    #[serde(skip)]
    pub stored_us: i64,
}

/// Where a message is and whether it was read.
#[derive(Debug, Clone)]
pub struct Entry {
    pub id: String,
    pub path: PathBuf,
    pub read: bool,
}

/// The Maildir the capture server writes, read by the web API.
pub struct Store {
    root: PathBuf,
    cache: Mutex<HashMap<String, Arc<Summary>>>,
}

/// Whether `id` may be a message id (and so a file name).
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 200
        && !id.starts_with('.')
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".,=_-".contains(&b))
}

impl Store {
    pub fn new(root: &Path) -> Store {
        Store {
            root: root.to_path_buf(),
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Every message file in new/ and cur/.
    pub fn entries(&self) -> Vec<Entry> {
        let mut out = Vec::new();
        for (sub, cur) in [("new", false), ("cur", true)] {
            let Ok(rd) = fs::read_dir(self.root.join(sub)) else {
                continue;
            };
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                let (id, flags) = match name.split_once(":2,") {
                    Some((id, flags)) => (id.to_string(), flags.to_string()),
                    None => (name.clone(), String::new()),
                };
                if !valid_id(&id) {
                    continue;
                }
                out.push(Entry {
                    id,
                    path: e.path(),
                    read: cur && flags.contains('S'),
                });
            }
        }
        out
    }

    /// The message with this id.
    pub fn entry(&self, id: &str) -> Option<Entry> {
        if !valid_id(id) {
            return None;
        }
        self.entries().into_iter().find(|e| e.id == id)
    }

    /// Every summary, newest first.
    pub fn summaries(&self) -> Vec<Arc<Summary>> {
        let entries = self.entries();
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = Vec::with_capacity(entries.len());
        for e in &entries {
            let s = match cache.get(&e.id) {
                Some(s) if s.read == e.read => s.clone(),
                Some(s) => {
                    let mut s = (**s).clone();
                    s.read = e.read;
                    let s = Arc::new(s);
                    cache.insert(e.id.clone(), s.clone());
                    s
                }
                None => match summarize(e) {
                    Some(s) => {
                        let s = Arc::new(s);
                        cache.insert(e.id.clone(), s.clone());
                        s
                    }
                    None => continue,
                },
            };
            out.push(s);
        }
        // forget what is gone
        if cache.len() > out.len() {
            let live: std::collections::HashSet<&str> =
                entries.iter().map(|e| e.id.as_str()).collect();
            cache.retain(|k, _| live.contains(k.as_str()));
        }
        out.sort_by(|a, b| (b.stored_us, &b.id).cmp(&(a.stored_us, &a.id)));
        out
    }

    /// The summary of one message.
    pub fn summary(&self, id: &str) -> Option<Arc<Summary>> {
        let e = self.entry(id)?;
        summarize(&e).map(Arc::new)
    }

    /// Marks a message read: new/ID → cur/ID:2,S (the Maildir way).
    pub fn mark_read(&self, e: &Entry) {
        if !e.read {
            let to = self.root.join("cur").join(format!("{}:2,S", e.id));
            let _ = fs::rename(&e.path, to);
        }
    }

    /// Deletes these messages; returns the ids deleted.
    pub fn delete(&self, ids: &[String]) -> Vec<String> {
        let entries = self.entries();
        let mut done = Vec::new();
        for e in entries.iter().filter(|e| ids.contains(&e.id)) {
            if fs::remove_file(&e.path).is_ok() {
                done.push(e.id.clone());
            }
        }
        done
    }

    /// Deletes every stored message (not those still arriving in tmp/).
    pub fn delete_all(&self) -> usize {
        self.entries()
            .iter()
            .filter(|e| fs::remove_file(&e.path).is_ok())
            .count()
    }
}

/// The lines the capture server writes before the message, and where the
/// message itself starts.
pub struct Prefix {
    pub envelope: Envelope,
    pub session: Option<Session>,
    pub len: usize,
}

/// Reads the `Return-Path`, `X-Missive-Envelope-To` and
/// `X-Missive-Session` lines at the start of a stored message.
pub fn prefix(bytes: &[u8]) -> Prefix {
    let mut p = Prefix {
        envelope: Envelope::default(),
        session: None,
        len: 0,
    };
    let mut rest = bytes;
    while let Some(end) = rest.windows(2).position(|w| w == b"\r\n") {
        let line = String::from_utf8_lossy(&rest[..end]);
        if let Some(v) = line.strip_prefix("Return-Path: ") {
            p.envelope.from = v.trim_start_matches('<').trim_end_matches('>').to_string();
        } else if let Some(v) = line.strip_prefix("X-Missive-Envelope-To: ") {
            p.envelope.to = v
                .split(", ")
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect();
        } else if let Some(v) = line.strip_prefix("X-Missive-Session: ") {
            p.session = Some(session(v));
        } else {
            break;
        }
        p.len += end + 2;
        rest = &rest[end + 2..];
    }
    p
}

fn session(line: &str) -> Session {
    let mut s = Session::default();
    for field in line.split("; ") {
        let Some((k, v)) = field.split_once('=') else {
            continue;
        };
        match k {
            "helo" => s.helo = unpercent(v),
            "tls" if v != "none" => {
                s.tls = true;
                let v = unpercent(v);
                let (version, cipher) = v.split_once(' ').unwrap_or((&v, ""));
                s.tls_version = version.to_string();
                s.tls_cipher = cipher.to_string();
            }
            "auth" if v != "none" => {
                s.auth = true;
                s.auth_user = unpercent(v);
            }
            _ => {}
        }
    }
    s
}

fn unpercent(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(n) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(n);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The people of an address header.
pub fn people(a: Option<&Address>) -> Vec<Person> {
    a.map(|a| {
        a.iter()
            .map(|p| Person {
                name: p.name().unwrap_or_default().to_string(),
                address: p.address().unwrap_or_default().to_string(),
            })
            .collect()
    })
    .unwrap_or_default()
}

/// When a message was stored: the capture server's file names start with
/// the seconds and microseconds (`SECS.MUSECS…`); else the file's mtime.
fn stored_us(e: &Entry) -> i64 {
    let mut it = e.id.split('.');
    if let (Some(secs), Some(m)) = (it.next(), it.next()) {
        let us = m
            .strip_prefix('M')
            .and_then(|m| m.split(|c: char| !c.is_ascii_digit()).next());
        if let (Ok(s), Some(Ok(us))) = (secs.parse::<i64>(), us.map(str::parse::<i64>)) {
            return s * 1_000_000 + us;
        }
    }
    fs::metadata(&e.path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_micros() as i64)
}

fn summarize(e: &Entry) -> Option<Summary> {
    let bytes = fs::read(&e.path).ok()?;
    let pre = prefix(&bytes);
    let body = &bytes[pre.len..];
    let msg = MessageParser::default().parse(body);
    let us = stored_us(e);
    let created = DateTime::from_timestamp(us.div_euclid(1_000_000)).to_rfc3339();
    let Some(msg) = msg else {
        return Some(Summary {
            id: e.id.clone(),
            message_id: String::new(),
            read: e.read,
            from: Person {
                name: String::new(),
                address: pre.envelope.from.clone(),
            },
            to: Vec::new(),
            cc: Vec::new(),
            bcc: Vec::new(),
            reply_to: Vec::new(),
            subject: String::new(),
            created,
            tags: Vec::new(),
            size: body.len() as u64,
            attachments: 0,
            snippet: String::new(),
            envelope: pre.envelope,
            session: pre.session,
            stored_us: us,
        });
    };
    let to = people(msg.to());
    let cc = people(msg.cc());
    let named = |a: &str| {
        to.iter()
            .chain(cc.iter())
            .any(|p| p.address.eq_ignore_ascii_case(a))
    };
    let bcc = pre
        .envelope
        .to
        .iter()
        .filter(|a| !named(a))
        .map(|a| Person {
            name: String::new(),
            address: a.clone(),
        })
        .collect();
    let snippet: String = msg
        .body_preview(250)
        .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
        .unwrap_or_default();
    Some(Summary {
        id: e.id.clone(),
        message_id: msg.message_id().unwrap_or_default().to_string(),
        read: e.read,
        from: people(msg.from()).into_iter().next().unwrap_or_default(),
        to,
        cc,
        bcc,
        reply_to: people(msg.reply_to()),
        subject: msg.subject().unwrap_or_default().to_string(),
        created,
        tags: Vec::new(),
        size: body.len() as u64,
        attachments: attachment_count(&msg),
        snippet,
        envelope: pre.envelope,
        session: pre.session,
        stored_us: us,
    })
}

/// How many attachments a message has (the list's marker).
pub fn attachment_count(msg: &Message) -> usize {
    msg.attachments
        .iter()
        .filter_map(|&i| msg.parts.get(i as usize))
        .filter(|p| !is_inline(p))
        .count()
}

/// A part shown in the HTML (it has a Content-ID and is not marked as an
/// attachment).
pub fn is_inline(p: &MessagePart) -> bool {
    p.content_id().is_some()
        && !p
            .content_disposition()
            .is_some_and(|d| d.ctype().eq_ignore_ascii_case("attachment"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_that_could_be_paths_are_refused() {
        assert!(valid_id("1764648000.M1P2Q3.missive"));
        assert!(
            valid_id("1764648000.M1P2.host,S=1234,W=1260"),
            "another MDA's name"
        );
        for bad in [
            "", ".", "..", "../x", "a/b", "a\\b", ".hidden", "a:2,S", "a b",
        ] {
            assert!(!valid_id(bad), "{bad:?}");
        }
    }

    #[test]
    fn the_prefix_lines_are_read_back() {
        let m = b"Return-Path: <a@x.test>\r\nX-Missive-Envelope-To: b@y.test, c@y.test\r\nX-Missive-Session: helo=client%20x; tls=TLSv1.3 TLS13_AES_128_GCM_SHA256; auth=u%3Bv\r\nSubject: s\r\n\r\nb\r\n";
        let p = prefix(m);
        assert_eq!(p.envelope.from, "a@x.test");
        assert_eq!(p.envelope.to, ["b@y.test", "c@y.test"]);
        let s = p.session.unwrap();
        assert_eq!(s.helo, "client x");
        assert_eq!((s.tls, s.tls_version.as_str()), (true, "TLSv1.3"));
        assert_eq!(s.tls_cipher, "TLS13_AES_128_GCM_SHA256");
        assert_eq!((s.auth, s.auth_user.as_str()), (true, "u;v"));
        assert!(m[p.len..].starts_with(b"Subject: s"));
    }
}
