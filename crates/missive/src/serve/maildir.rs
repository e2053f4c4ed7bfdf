//! A Maildir (tmp/ → new/) where the capture server stores messages. A
//! message is written to tmp/, synced, renamed into new/, and the directory
//! synced, before the server says 250: a reader never sees half a file, and
//! an acknowledged message survives a crash.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use missive_smtp::server::ReceivedEnvelope;

static COUNTER: AtomicU64 = AtomicU64::new(0);

#[derive(Debug, Clone)]
pub struct Maildir {
    root: PathBuf,
}

impl Maildir {
    /// Opens (creating) a Maildir at `root`.
    pub fn create(root: &Path) -> std::io::Result<Maildir> {
        for sub in ["tmp", "new", "cur"] {
            fs::create_dir_all(root.join(sub))?;
        }
        Ok(Maildir {
            root: root.to_path_buf(),
        })
    }

    /// Starts a message: the envelope goes first, as `Return-Path` and
    /// `X-Missive-Envelope-To` headers (as delivery agents record it), then
    /// the session it came in on as `X-Missive-Session` (see [`session_line`]).
    pub fn begin(&self, env: &ReceivedEnvelope, tls: Option<&str>) -> std::io::Result<Incoming> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!(
            "{}.M{}P{}Q{n}.missive",
            now.as_secs(),
            now.subsec_micros(),
            std::process::id()
        );
        let tmp = self.root.join("tmp").join(&name);
        // Mail is private to the server's user, whatever the umask.
        let mut opts = fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let file = opts.open(&tmp)?;
        // From here the file is removed unless committed, whatever ends
        // the transaction (an error, a dropped connection, a new EHLO).
        let mut incoming = Incoming {
            file: Some(file),
            tmp,
            new: self.root.join("new").join(&name),
            dir: self.root.join("new"),
            id: format!("{:X}{n:X}", now.as_micros() & 0xFFFF_FFFF),
            head: Vec::new(),
            committed: false,
        };
        let head = format!(
            "Return-Path: <{}>\r\nX-Missive-Envelope-To: {}\r\n{}\r\n",
            env.from,
            env.to.join(", "),
            session_line(env, tls)
        );
        incoming.file()?.write_all(head.as_bytes())?;
        Ok(incoming)
    }
}

/// The header that records how a message came in, read back by the web
/// API: `X-Missive-Session: helo=NAME; tls=VERSION CIPHER; auth=USER`
/// (`tls=none`, `auth=none` when there was none). The client's HELO name and
/// login are percent-encoded outside a small safe set, so the line is always
/// one printable ASCII header line whatever the client sent.
pub fn session_line(env: &ReceivedEnvelope, tls: Option<&str>) -> String {
    let tls = match (env.tls, tls) {
        (true, Some(t)) => t.to_string(),
        (true, None) => "yes".to_string(),
        (false, _) => "none".to_string(),
    };
    let auth = env.auth_user.as_deref().map_or("none".into(), percent);
    format!(
        "X-Missive-Session: helo={}; tls={}; auth={auth}",
        percent(&env.helo),
        percent(&tls).replace("%20", " ")
    )
}

/// `s` with every octet outside `A-Za-z0-9.-_@+:` percent-encoded.
pub fn percent(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-' | b'_' | b'@' | b'+' | b':' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// A message being received; its file in tmp/ is removed when it is
/// dropped without being committed.
pub struct Incoming {
    file: Option<File>,
    tmp: PathBuf,
    new: PathBuf,
    dir: PathBuf,
    pub id: String,
    /// The first octets, kept to read the Subject for the log line.
    head: Vec<u8>,
    committed: bool,
}

impl Drop for Incoming {
    fn drop(&mut self) {
        if !self.committed {
            drop(self.file.take());
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

impl Incoming {
    pub fn write(&mut self, chunk: &[u8]) -> std::io::Result<()> {
        if self.head.len() < 16 * 1024 {
            let take = chunk.len().min(16 * 1024 - self.head.len());
            self.head.extend_from_slice(&chunk[..take]);
        }
        self.file()?.write_all(chunk)
    }

    fn file(&mut self) -> std::io::Result<&mut File> {
        self.file
            .as_mut()
            .ok_or_else(|| std::io::Error::other("the message file is closed"))
    }

    /// Makes the message durable and visible; returns its path in new/.
    /// On failure the file in tmp/ is removed.
    pub fn commit(mut self) -> std::io::Result<PathBuf> {
        let file = self.file.take();
        file.as_ref()
            .ok_or_else(|| std::io::Error::other("the message file is closed"))?
            .sync_all()?;
        drop(file);
        fs::rename(&self.tmp, &self.new)?;
        self.committed = true;
        File::open(&self.dir)?.sync_all()?;
        Ok(self.new.clone())
    }

    /// Drops the message: its file in tmp/ is removed.
    pub fn abort(self) {}

    /// The Subject header, unfolded, if it is among the first octets.
    pub fn subject(&self) -> Option<String> {
        let text = String::from_utf8_lossy(&self.head);
        let headers = text.split("\r\n\r\n").next()?;
        let mut subject: Option<String> = None;
        for line in headers.split("\r\n") {
            if let Some(s) = subject.as_mut() {
                if line.starts_with([' ', '\t']) {
                    s.push_str(line);
                    continue;
                }
                break;
            }
            // bytes, not chars: a header may have UTF-8 anywhere
            if line
                .as_bytes()
                .get(..8)
                .is_some_and(|b| b.eq_ignore_ascii_case(b"subject:"))
            {
                subject = Some(line[8..].trim().to_string());
            }
        }
        subject
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_line_is_one_printable_line_whatever_the_client_sent() {
        let env = ReceivedEnvelope {
            helo: "evil; tls=TLSv1.3\r\nX: y".into(),
            auth_user: Some("jörg b".into()),
            tls: true,
            ..ReceivedEnvelope::default()
        };
        assert_eq!(
            session_line(&env, Some("TLSv1.3 TLS13_AES_128_GCM_SHA256")),
            "X-Missive-Session: helo=evil%3B%20tls%3DTLSv1.3%0D%0AX:%20y; \
             tls=TLSv1.3 TLS13_AES_128_GCM_SHA256; auth=j%C3%B6rg%20b"
        );
        assert_eq!(
            session_line(&ReceivedEnvelope::default(), None),
            "X-Missive-Session: helo=; tls=none; auth=none"
        );
    }

    #[test]
    fn subject_read_without_panicking_on_utf8() {
        let dir = std::env::temp_dir().join(format!("missive-md-{}", std::process::id()));
        let md = Maildir::create(&dir).unwrap();
        let mut m = md.begin(&ReceivedEnvelope::default(), None).unwrap();
        m.write("X-Abcde€: 1\r\nSubject: hé\r\n  there\r\n\r\nbody\r\n".as_bytes())
            .unwrap();
        assert_eq!(m.subject().as_deref(), Some("hé  there"));
        let path = m.commit().unwrap();
        assert!(path.starts_with(dir.join("new")));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "stored mail is private");
        }
        std::fs::remove_dir_all(&dir).ok();
    }
}
