//! The run's journal: one JSON line per change of a row's state, appended.
//! A row's "committing" line is synced to disk before the end of its
//! message goes out, so after a `kill -9` or a power loss the journal
//! knows every row the server may have: those are "in doubt" and never
//! sent again unless asked. Other lines are written at once (a killed
//! process loses none) and synced in groups. Syncs happen on a thread of
//! their own: the "committing" lines of every connection that are waiting
//! share one `fdatasync` (group commit), and no connection blocks another.
//!
//! The first line says which CSV and templates the journal belongs to; a
//! journal of another run is refused rather than mixed.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::error::{AppError, Result};

/// A row's state, as the journal last recorded it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum State {
    /// Never tried (not in the journal).
    Pending,
    /// Being sent; the end of the message has not gone out.
    Sending,
    /// The end of the message is going out: the server may have it.
    Committing,
    /// The server took it.
    Accepted,
    /// Refused for good.
    Refused,
    /// A temporary failure: tried again on the next run.
    Deferred,
    /// The end of the message went out and no reply came.
    InDoubt,
}

impl State {
    fn code(self) -> u8 {
        self as u8
    }

    fn from_code(c: u8) -> State {
        [
            State::Pending,
            State::Sending,
            State::Committing,
            State::Accepted,
            State::Refused,
            State::Deferred,
            State::InDoubt,
        ]
        .get(c as usize)
        .copied()
        .unwrap_or(State::Pending)
    }
}

/// What the journal belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Identity {
    pub csv: String,
    pub csv_sha256: String,
    pub template_sha256: String,
}

#[derive(Serialize, Deserialize)]
struct Header {
    journal: u32,
    #[serde(flatten)]
    identity: Identity,
}

/// One line after the header.
#[derive(Serialize, Deserialize)]
struct Line<'a> {
    row: usize,
    state: State,
    #[serde(skip_serializing_if = "Option::is_none", borrow)]
    id: Option<std::borrow::Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none", borrow)]
    reply: Option<std::borrow::Cow<'a, str>>,
}

/// The open journal: every row's last state (one octet each) and the
/// Message-ID of rows that were started but not finished.
pub(crate) struct Journal {
    file: File,
    pub path: PathBuf,
    states: Vec<u8>,
    ids: HashMap<usize, String>,
    unsynced: bool,
    last_sync: Instant,
    syncer: Option<Syncer>,
}

/// Whether a sync reached the disk.
pub(crate) type Synced = tokio::sync::oneshot::Receiver<std::result::Result<(), String>>;
type Waiter = tokio::sync::oneshot::Sender<std::result::Result<(), String>>;

/// The thread that syncs the journal: each round takes every request
/// waiting and answers them all with one `fdatasync`.
struct Syncer {
    requests: std::sync::mpsc::Sender<Option<Waiter>>,
}

impl Syncer {
    fn start(file: File) -> Syncer {
        let (tx, rx) = std::sync::mpsc::channel::<Option<Waiter>>();
        std::thread::spawn(move || {
            while let Ok(first) = rx.recv() {
                let mut waiters: Vec<Waiter> = first.into_iter().collect();
                while let Ok(more) = rx.try_recv() {
                    waiters.extend(more);
                }
                let result = file.sync_data().map_err(|e| e.to_string());
                for w in waiters {
                    let _ = w.send(result.clone());
                }
            }
        });
        Syncer { requests: tx }
    }
}

impl Journal {
    /// Opens (or creates) the journal at `path` for `identity`.
    pub fn open(path: &Path, identity: &Identity) -> Result<Journal> {
        let io = |e: std::io::Error| {
            AppError::Io(format!(
                "journal {}: {}",
                path.display(),
                crate::transport::net::short_io(&e)
            ))
        };
        let mut j = Journal {
            file: OpenOptions::new()
                .create(true)
                .append(true)
                .read(true)
                .open(path)
                .map_err(io)?,
            path: path.to_path_buf(),
            states: Vec::new(),
            ids: HashMap::new(),
            unsynced: false,
            last_sync: Instant::now(),
            syncer: None,
        };
        let reader = BufReader::new(File::open(path).map_err(io)?);
        let mut lines = reader.lines();
        match lines.next() {
            None => {
                let header = serde_json::to_string(&Header {
                    journal: 1,
                    identity: identity.clone(),
                })
                .expect("a header serialises");
                writeln!(j.file, "{header}").map_err(io)?;
                j.file.sync_data().map_err(io)?;
                j.start_syncer()?;
                return Ok(j);
            }
            Some(first) => {
                let first = first.map_err(io)?;
                let header: Header = serde_json::from_str(&first).map_err(|_| {
                    AppError::Usage(format!(
                        "{} is not a missive bulk journal; give another --journal",
                        path.display()
                    ))
                })?;
                if header.identity != *identity {
                    return Err(AppError::Usage(format!(
                        "the journal {} belongs to another run (CSV {}, or another template); give another --journal, or remove it to start again",
                        path.display(),
                        header.identity.csv
                    )));
                }
            }
        }
        for line in lines {
            let line = line.map_err(io)?;
            // A line cut short by a crash is the last one: its change did not happen.
            let Ok(l) = serde_json::from_str::<Line>(&line) else {
                continue;
            };
            j.set(l.row, l.state);
            match l.state {
                State::Sending | State::Committing => {
                    if let Some(id) = l.id {
                        j.ids.insert(l.row, id.into_owned());
                    }
                }
                _ => {}
            }
        }
        // A line cut short by a crash: start the next one on a line of its own.
        writeln!(j.file).map_err(io)?;
        j.start_syncer()?;
        Ok(j)
    }

    fn set(&mut self, row: usize, state: State) {
        if self.states.len() <= row {
            self.states.resize(row + 1, 0);
        }
        self.states[row] = state.code();
    }

    /// A row's last state; a row started and not finished is in doubt when
    /// its end may have gone out.
    pub fn state(&self, row: usize) -> State {
        match State::from_code(self.states.get(row).copied().unwrap_or(0)) {
            State::Committing => State::InDoubt,
            State::Sending => State::Pending,
            s => s,
        }
    }

    /// The Message-ID a started row was sent with (reused when it is sent again).
    pub fn id_of(&self, row: usize) -> Option<&str> {
        self.ids.get(&row).map(String::as_str)
    }

    fn start_syncer(&mut self) -> Result<()> {
        let file = self
            .file
            .try_clone()
            .map_err(|e| AppError::Io(format!("journal {}: {e}", self.path.display())))?;
        self.syncer = Some(Syncer::start(file));
        Ok(())
    }

    /// Records a change; it reaches the disk within a second or so.
    pub fn record(
        &mut self,
        row: usize,
        state: State,
        id: &str,
        reply: Option<&str>,
    ) -> Result<()> {
        self.write(row, state, id, reply)?;
        if self.last_sync.elapsed() > Duration::from_secs(1) {
            self.last_sync = Instant::now();
            if let Some(s) = &self.syncer {
                let _ = s.requests.send(None);
            }
        }
        Ok(())
    }

    /// Records that the end of a row's message is about to go out; the
    /// message may go once the returned receiver says the line is on disk.
    pub fn committing(&mut self, row: usize, id: &str) -> Result<Synced> {
        self.write(row, State::Committing, id, None)?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        let unsent = match &self.syncer {
            Some(s) => s.requests.send(Some(tx)).err().and_then(|e| e.0),
            None => Some(tx),
        };
        if let Some(tx) = unsent {
            // No sync thread: sync here.
            self.sync()?;
            let _ = tx.send(Ok(()));
        }
        Ok(rx)
    }

    fn write(&mut self, row: usize, state: State, id: &str, reply: Option<&str>) -> Result<()> {
        let line = serde_json::to_string(&Line {
            row,
            state,
            id: (!id.is_empty()).then_some(id.into()),
            reply: reply.map(Into::into),
        })
        .expect("a line serialises");
        self.file
            .write_all(format!("{line}\n").as_bytes())
            .map_err(|e| AppError::Io(format!("journal {}: {e}", self.path.display())))?;
        self.set(row, state);
        self.unsynced = true;
        Ok(())
    }

    /// Syncs what was written, now.
    pub fn sync(&mut self) -> Result<()> {
        if self.unsynced {
            self.file
                .sync_data()
                .map_err(|e| AppError::Io(format!("journal {}: {e}", self.path.display())))?;
            self.unsynced = false;
            self.last_sync = Instant::now();
        }
        Ok(())
    }
}

/// The SHA-256 of a file, read in pieces, as hex.
pub(crate) fn sha256_file(path: &Path) -> Result<String> {
    use std::io::Read;
    let mut f = File::open(path).map_err(|e| AppError::Io(format!("{}: {e}", path.display())))?;
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = f
            .read(&mut buf)
            .map_err(|e| AppError::Io(format!("{}: {e}", path.display())))?;
        if n == 0 {
            break;
        }
        ctx.update(&buf[..n]);
    }
    Ok(hex(ctx.finish().as_ref()))
}

/// The SHA-256 of some text, as hex.
pub(crate) fn sha256(text: &str) -> String {
    hex(ring::digest::digest(&ring::digest::SHA256, text.as_bytes()).as_ref())
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_survive_reopening_and_a_torn_last_line() {
        let dir = std::env::temp_dir().join(format!("missive-journal-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("j");
        let _ = std::fs::remove_file(&path);
        let id = Identity {
            csv: "r.csv".into(),
            csv_sha256: "a".into(),
            template_sha256: "b".into(),
        };
        let mut j = Journal::open(&path, &id).unwrap();
        j.record(1, State::Sending, "<1@x>", None).unwrap();
        j.committing(1, "<1@x>").unwrap();
        j.record(1, State::Accepted, "<1@x>", Some("250 ok"))
            .unwrap();
        j.record(2, State::Sending, "<2@x>", None).unwrap();
        j.record(3, State::Sending, "<3@x>", None).unwrap();
        let synced = j.committing(3, "<3@x>").unwrap();
        assert_eq!(synced.blocking_recv().unwrap(), Ok(()));
        drop(j);
        // a crash mid-line
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"{\"row\":4,\"sta")
            .unwrap();
        let j = Journal::open(&path, &id).unwrap();
        assert_eq!(j.state(1), State::Accepted);
        assert_eq!(j.state(2), State::Pending, "never committed: send again");
        assert_eq!(j.state(3), State::InDoubt);
        assert_eq!(j.id_of(2), Some("<2@x>"));
        assert_eq!(j.state(4), State::Pending);
        let other = Identity {
            csv_sha256: "c".into(),
            ..id
        };
        let e = Journal::open(&path, &other).err().unwrap();
        assert_eq!(e.exit_code(), crate::error::exit::USAGE);
        std::fs::remove_dir_all(&dir).ok();
    }
}
