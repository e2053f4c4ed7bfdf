//! The spool on disk: `DIR/ID.msg` (the message bytes, written once) and
//! `DIR/ID.json` (its [`Entry`], replaced atomically), `DIR/tmp/` for
//! writes in progress, `DIR/failed/` and `DIR/corrupt/`. The directories
//! are 0700 and the files 0600.
//!
//! Every write goes to a temporary file, is fsynced, renamed into place,
//! and the directory fsynced: a crash leaves the old state or the new one.
//! `ID.json` is the commit point: a message exists once it is there.
//! An entry is locked (`flock` on its `ID.msg`, whose inode never changes)
//! by whoever delivers, changes or removes it.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::entry::{Entry, VERSION};
use crate::error::{AppError, Result};
use crate::message::content::{Segment, Spool as MessageFile};
use crate::message::Message;

/// The queue directory.
#[derive(Debug, Clone)]
pub struct Outbox {
    dir: PathBuf,
}

/// A held lock on one entry; released when dropped.
#[derive(Debug)]
pub struct Lock {
    _file: File,
}

/// What reading an entry found.
#[derive(Debug)]
pub enum Read {
    Entry(Box<Entry>),
    /// It is gone (delivered or removed meanwhile).
    Gone,
    /// It cannot be read or parsed: why.
    Corrupt(String),
}

/// Seconds since the epoch.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A new entry id: the time, then random hex (sorts by age).
pub fn new_id() -> String {
    let mut rnd = [0u8; 5];
    let _ = getrandom::fill(&mut rnd);
    let hex: String = rnd.iter().map(|b| format!("{b:02x}")).collect();
    format!("{}-{hex}", now())
}

/// An id is letters, digits and `-` only (it names files).
pub fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

fn spool_error(what: &str, path: &Path, e: &io::Error) -> AppError {
    AppError::Spool(format!(
        "cannot {what} {}: {}",
        path.display(),
        crate::transport::net::short_io(e)
    ))
}

fn private_dir(dir: &Path) -> Result<()> {
    match fs::create_dir(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::create_dir_all(dir).map_err(|e| spool_error("create", dir, &e))?
        }
        Err(e) => return Err(spool_error("create", dir, &e)),
    }
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
        .map_err(|e| spool_error("set the mode of", dir, &e))
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

impl Outbox {
    /// Opens (creating) the queue directory.
    pub fn open(dir: &Path) -> Result<Outbox> {
        private_dir(dir)?;
        for sub in ["tmp", "failed", "corrupt"] {
            private_dir(&dir.join(sub))?;
        }
        Ok(Outbox {
            dir: dir.to_path_buf(),
        })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn json(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.json"))
    }

    fn msg(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.msg"))
    }

    /// Writes `write`'s output to a new temporary file, fsyncs it and
    /// renames it to `dest`, then fsyncs the directory. On any error
    /// nothing is left behind.
    fn atomic(
        &self,
        dest: &Path,
        write: &mut dyn FnMut(&mut File) -> io::Result<()>,
    ) -> Result<()> {
        let name = dest.file_name().and_then(|n| n.to_str()).unwrap_or("x");
        let tmp = self.dir.join("tmp").join(format!("{name}.{}", new_id()));
        let result = (|| {
            let mut f = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)?;
            write(&mut f)?;
            f.flush()?;
            f.sync_all()?;
            drop(f);
            fs::rename(&tmp, dest)?;
            sync_dir(dest.parent().unwrap_or(&self.dir))
        })();
        if let Err(e) = result {
            let _ = fs::remove_file(&tmp);
            return Err(spool_error("write", dest, &e));
        }
        Ok(())
    }

    /// Stores a new entry: the message, then the entry (the commit).
    pub fn enqueue(&self, entry: &Entry, message: &Message) -> Result<()> {
        let msg = self.msg(&entry.id);
        self.atomic(&msg, &mut |f| {
            let mut reader = message.open();
            io::copy(&mut reader, f).map(|_| ())
        })?;
        if let Err(e) = self.save(entry) {
            let _ = fs::remove_file(&msg);
            let _ = sync_dir(&self.dir);
            return Err(e);
        }
        Ok(())
    }

    /// Replaces an entry's state.
    pub fn save(&self, entry: &Entry) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(entry)
            .map_err(|e| AppError::Spool(format!("cannot encode entry {}: {e}", entry.id)))?;
        self.save_bytes(&entry.id, &bytes)
    }

    /// Replaces an entry's state with bytes prepared beforehand.
    pub fn save_bytes(&self, id: &str, bytes: &[u8]) -> Result<()> {
        self.atomic(&self.json(id), &mut |f| f.write_all(bytes))
    }

    /// The ids of the entries, oldest first.
    pub fn ids(&self) -> Result<Vec<String>> {
        let mut ids: Vec<String> = self
            .names()?
            .into_iter()
            .filter_map(|n| n.strip_suffix(".json").map(str::to_string))
            .filter(|id| valid_id(id))
            .collect();
        ids.sort();
        Ok(ids)
    }

    /// The names of the plain files at the top of the spool.
    fn names(&self) -> Result<Vec<String>> {
        let rd = fs::read_dir(&self.dir).map_err(|e| spool_error("read", &self.dir, &e))?;
        let mut names = Vec::new();
        for e in rd.flatten() {
            let is_file = e.file_type().map(|t| !t.is_dir()).unwrap_or(false);
            if let (true, Some(n)) = (is_file, e.file_name().to_str()) {
                names.push(n.to_string());
            } else if is_file {
                names.push(e.file_name().to_string_lossy().into_owned());
            }
        }
        Ok(names)
    }

    /// Reads one entry.
    pub fn read(&self, id: &str) -> Read {
        if !valid_id(id) {
            return Read::Gone;
        }
        let text = match fs::read(self.json(id)) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Read::Gone,
            Err(e) => return Read::Corrupt(crate::transport::net::short_io(&e)),
        };
        let entry: Entry = match serde_json::from_slice(&text) {
            Ok(e) => e,
            Err(e) => return Read::Corrupt(format!("not a queue entry: {e}")),
        };
        if entry.version != VERSION || entry.id != id {
            return Read::Corrupt(format!(
                "entry version {} id {:?} does not match",
                entry.version, entry.id
            ));
        }
        match fs::metadata(self.msg(id)) {
            Ok(_) => Read::Entry(Box::new(entry)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if self.json(id).exists() {
                    Read::Corrupt("its message file is missing".into())
                } else {
                    Read::Gone
                }
            }
            Err(e) => Read::Corrupt(crate::transport::net::short_io(&e)),
        }
    }

    /// Locks an entry without waiting: `None` when another process holds
    /// it, or it is gone.
    pub fn try_lock(&self, id: &str) -> Result<Option<Lock>> {
        let path = self.msg(id);
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(spool_error("open", &path, &e)),
        };
        // SAFETY: flock on a file descriptor this function owns.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            let e = io::Error::last_os_error();
            return match e.kind() {
                io::ErrorKind::WouldBlock => Ok(None),
                _ => Err(spool_error("lock", &path, &e)),
            };
        }
        Ok(Some(Lock { _file: file }))
    }

    /// The stored message of an entry, ready to send.
    pub fn message(&self, entry: &Entry) -> Result<Message> {
        let path = self.msg(&entry.id);
        let len = fs::metadata(&path)
            .map_err(|e| spool_error("read", &path, &e))?
            .len();
        Ok(Message {
            segments: Arc::new(vec![Segment::Raw {
                file: Arc::new(MessageFile::existing(&path)),
                offset: 0,
                len,
            }]),
            eight_bit: entry.eight_bit,
            line_end_growth: entry.line_end_growth,
        })
    }

    /// The header section of an entry's message (at most 64 KiB).
    pub fn headers(&self, id: &str) -> String {
        header_section(&self.msg(id))
    }

    /// The same for an entry in `failed/`.
    pub fn failed_headers(&self, id: &str) -> String {
        header_section(&self.dir.join("failed").join(format!("{id}.msg")))
    }
}

fn header_section(path: &Path) -> String {
    {
        let bytes = fs::read(path).unwrap_or_default();
        let bytes = &bytes[..bytes.len().min(64 * 1024)];
        let text = String::from_utf8_lossy(bytes);
        let end = [text.find("\r\n\r\n"), text.find("\n\n")]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(text.len());
        text[..end].to_string()
    }
}

impl Outbox {
    /// Removes a finished entry: its state first (the entry is gone), then its message.
    pub fn remove(&self, id: &str) -> Result<()> {
        let json = self.json(id);
        let gone = self.dir.join("tmp").join(format!("{id}.json.done"));
        fs::rename(&json, &gone).map_err(|e| spool_error("remove", &json, &e))?;
        let _ = sync_dir(&self.dir);
        let _ = fs::remove_file(self.msg(id));
        let _ = fs::remove_file(&gone);
        Ok(())
    }

    /// Moves an entry (its state saved as `entry`) to `failed/`: its state
    /// is written there, then it leaves the queue (its state first, as in
    /// [`Outbox::remove`], so no run ever sees a state without its message).
    pub fn move_to_failed(&self, entry: &Entry) -> Result<()> {
        let failed = self.dir.join("failed");
        let bytes = serde_json::to_vec_pretty(entry)
            .map_err(|e| AppError::Spool(format!("cannot encode entry {}: {e}", entry.id)))?;
        self.atomic(&failed.join(format!("{}.json", entry.id)), &mut |f| {
            f.write_all(&bytes)
        })?;
        let json = self.json(&entry.id);
        let gone = self
            .dir
            .join("tmp")
            .join(format!("{}.json.failed", entry.id));
        fs::rename(&json, &gone).map_err(|e| spool_error("move", &json, &e))?;
        let msg = self.msg(&entry.id);
        let moved = fs::rename(&msg, failed.join(format!("{}.msg", entry.id)));
        let _ = sync_dir(&failed);
        let _ = sync_dir(&self.dir);
        let _ = fs::remove_file(&gone);
        moved.map_err(|e| spool_error("move", &msg, &e))
    }

    /// Moves a file that is not a readable entry to `corrupt/`; returns where.
    pub fn move_to_corrupt(&self, name: &str) -> Result<PathBuf> {
        let from = self.dir.join(name);
        let to = self.dir.join("corrupt").join(name);
        fs::rename(&from, &to).map_err(|e| spool_error("move", &from, &e))?;
        let _ = sync_dir(&self.dir);
        Ok(to)
    }

    /// Files at the top of the spool that are no entry: anything but
    /// `ID.json` and `ID.msg`, and messages without a state older than an
    /// hour (an enqueue that died, or a removal cut short). Temporary files
    /// older than an hour are deleted.
    pub fn strays(&self) -> Result<Vec<String>> {
        let old = |p: &Path| {
            fs::metadata(p)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > Duration::from_secs(3600))
        };
        if let Ok(rd) = fs::read_dir(self.dir.join("tmp")) {
            for e in rd.flatten() {
                if old(&e.path()) {
                    let _ = fs::remove_file(e.path());
                }
            }
        }
        let mut strays = Vec::new();
        for name in self.names()? {
            let (stem, ext) = name.rsplit_once('.').unwrap_or((&name, ""));
            let ok = valid_id(stem) && (ext == "json" || ext == "msg");
            if !ok {
                strays.push(name);
            } else if ext == "msg" && !self.json(stem).exists() && old(&self.dir.join(&name)) {
                let _ = fs::remove_file(self.dir.join(&name));
            }
        }
        Ok(strays)
    }

    /// Entries in `failed/`.
    pub fn failed(&self) -> Vec<Entry> {
        let mut out = Vec::new();
        if let Ok(rd) = fs::read_dir(self.dir.join("failed")) {
            for e in rd.flatten() {
                if e.path().extension().is_some_and(|x| x == "json") {
                    if let Ok(entry) = fs::read(e.path())
                        .map_err(|_| ())
                        .and_then(|t| serde_json::from_slice::<Entry>(&t).map_err(|_| ()))
                    {
                        out.push(entry);
                    }
                }
            }
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbox::entry::{Recipient, State, StoredDsn, StoredRoute};

    fn entry(id: &str) -> Entry {
        Entry {
            version: VERSION,
            id: id.into(),
            created: now(),
            message_id: "<m@x.test>".into(),
            sender: "a@x.test".into(),
            recipients: vec![Recipient {
                address: "b@x.test".into(),
                state: State::Pending,
                attempts: 0,
                last_reply: None,
                status: None,
                reported: false,
            }],
            dsn: StoredDsn::default(),
            eight_bit: false,
            require_tls: false,
            line_end_growth: 0,
            attempts: 0,
            next_attempt: 0,
            last_attempt: None,
            in_doubt: false,
            may_duplicate: false,
            notice: false,
            route: StoredRoute::default(),
            failure: None,
        }
    }

    fn outbox(tag: &str) -> (Outbox, PathBuf) {
        let dir = std::env::temp_dir().join(format!("missive-spool-{tag}-{}", new_id()));
        (Outbox::open(&dir).unwrap(), dir)
    }

    fn message(text: &str) -> Message {
        Message {
            segments: vec![Segment::Bytes(text.as_bytes().to_vec())].into(),
            ..Message::default()
        }
    }

    #[test]
    fn enqueue_save_read_and_remove() {
        let (o, dir) = outbox("rw");
        let mut e = entry("1-aa");
        o.enqueue(&e, &message("Subject: x\r\n\r\nbody\r\n"))
            .unwrap();
        assert_eq!(o.ids().unwrap(), ["1-aa"]);
        e.attempts = 3;
        o.save(&e).unwrap();
        match o.read("1-aa") {
            Read::Entry(got) => assert_eq!(got.attempts, 3),
            other => panic!("{other:?}"),
        }
        assert_eq!(o.headers("1-aa"), "Subject: x");
        assert_eq!(std::fs::read_dir(dir.join("tmp")).unwrap().count(), 0);
        o.remove("1-aa").unwrap();
        assert!(matches!(o.read("1-aa"), Read::Gone));
        assert!(o.ids().unwrap().is_empty() && o.strays().unwrap().is_empty());
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn a_lock_is_exclusive_until_dropped() {
        let (o, dir) = outbox("lock");
        o.enqueue(&entry("2-bb"), &message("x")).unwrap();
        let held = o.try_lock("2-bb").unwrap();
        assert!(held.is_some());
        assert!(o.try_lock("2-bb").unwrap().is_none());
        drop(held);
        assert!(o.try_lock("2-bb").unwrap().is_some());
        assert!(o.try_lock("9-none").unwrap().is_none());
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn unreadable_entries_and_strays_are_told_apart() {
        let (o, dir) = outbox("bad");
        std::fs::write(dir.join("3-cc.json"), "{").unwrap();
        std::fs::write(dir.join("junk"), "x").unwrap();
        assert!(matches!(o.read("3-cc"), Read::Corrupt(_)));
        o.save(&entry("4-dd")).unwrap();
        assert!(matches!(o.read("4-dd"), Read::Corrupt(w) if w.contains("missing")));
        assert_eq!(o.strays().unwrap(), ["junk"]);
        assert!(!valid_id("../x") && !valid_id("") && valid_id("1-ab"));
        std::fs::remove_dir_all(dir).ok();
    }
}
