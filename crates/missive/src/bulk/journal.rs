//! The run's journal: one JSON line per change of a row's state, appended.
//! Every line is written (`write(2)`) before what it records happens, so a
//! killed process loses none: the kernel keeps them. A power loss is what
//! `fdatasync` guards against, and one sync per message would cap a run at
//! the disk's sync rate, so the journal syncs once per batch of rows:
//!
//! 1. "sending" lines for a batch, with the boot they were written in, one
//!    write, synced before any of the batch's ends goes out (the syncs of
//!    all connections share one `fdatasync` on a thread of their own, group
//!    commit, and a connection's next batch is synced while this one goes);
//! 2. before the end of each message goes out, its "committing" line, written
//!    but not synced;
//! 3. its outcome, written, synced within a second or so.
//!
//! Reading the journal back, a "committing" row is in doubt (the server may
//! have it: never sent again unless asked). A "sending" row written in this
//! boot never had its end go out (its "committing" line would be there: a
//! dead process does not lose the kernel's writes), so it is sent again;
//! one written in an earlier boot may have lost its unsynced "committing"
//! line to a power loss or a crash of the system, so it is in doubt too:
//! after a power loss at most two batches a connection are in doubt, some
//! of which the server never saw (`--resend-in-doubt` decides).
//! Where the boot cannot be told (no `/proc/sys/kernel/random/boot_id`),
//! every "committing" line is synced before the end goes out, as step 1.
//!
//! The first line says which CSV and templates the journal belongs to; a
//! journal of another run is refused rather than mixed.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
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

/// A change of a row's state: row, state, Message-ID, reply.
pub(crate) type Change = (usize, State, String, Option<String>);

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
    /// The boot a "sending" line was written in.
    #[serde(skip_serializing_if = "Option::is_none", borrow)]
    boot: Option<std::borrow::Cow<'a, str>>,
}

/// The open journal: every row's last state (one octet each) and the
/// Message-ID of rows that were started but not finished.
pub(crate) struct Journal {
    file: File,
    pub path: PathBuf,
    states: Vec<u8>,
    ids: HashMap<usize, String>,
    /// Rows whose "sending" line is from an earlier boot.
    earlier_boot: std::collections::HashSet<usize>,
    /// This boot, when the system says (Linux).
    boot: Option<String>,
    unsynced: bool,
    last_sync: Instant,
    syncer: Option<Syncer>,
}

/// Whether a sync reached the disk.
pub(crate) type Synced = tokio::sync::oneshot::Receiver<std::result::Result<(), String>>;
type Waiter = tokio::sync::oneshot::Sender<std::result::Result<(), String>>;

/// The thread that syncs the journal: each round takes every request
/// waiting and answers them all with one `fdatasync` (group commit). With
/// several writers (connections), a round first waits a moment for the
/// others' requests: a sync costs about as much CPU as sending a few
/// messages, and each connection asks for one a batch, while the batch
/// before goes out, so the wait is hidden.
struct Syncer {
    requests: std::sync::mpsc::Sender<Option<Waiter>>,
    writers: Arc<AtomicUsize>,
}

/// How long a round waits for the other writers' requests.
const GATHER: Duration = Duration::from_millis(2);

impl Syncer {
    fn start(file: File) -> Syncer {
        let (tx, rx) = std::sync::mpsc::channel::<Option<Waiter>>();
        let writers = Arc::new(AtomicUsize::new(1));
        let expected = writers.clone();
        std::thread::spawn(move || {
            while let Ok(first) = rx.recv() {
                let mut asked = 1;
                let mut waiters: Vec<Waiter> = first.into_iter().collect();
                let until = Instant::now() + GATHER;
                while asked < expected.load(Ordering::Relaxed) {
                    let left = until.saturating_duration_since(Instant::now());
                    match rx.recv_timeout(left) {
                        Ok(more) => {
                            asked += 1;
                            waiters.extend(more);
                        }
                        Err(_) => break,
                    }
                }
                while let Ok(more) = rx.try_recv() {
                    waiters.extend(more);
                }
                let result = file.sync_data().map_err(|e| e.to_string());
                for w in waiters {
                    let _ = w.send(result.clone());
                }
            }
        });
        Syncer {
            requests: tx,
            writers,
        }
    }
}

impl Journal {
    /// Opens (or creates) the journal at `path` for `identity`.
    pub fn open(path: &Path, identity: &Identity) -> Result<Journal> {
        Journal::open_in(path, identity, boot_id())
    }

    /// Opens the journal as seen from the given boot of the system.
    fn open_in(path: &Path, identity: &Identity, boot: Option<String>) -> Result<Journal> {
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
            earlier_boot: Default::default(),
            boot,
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
            // A "sending" line without a boot is from a journal that synced
            // every "committing" line: its row never went.
            let earlier =
                l.state == State::Sending && l.boot.is_some_and(|b| j.boot.as_deref() != Some(&*b));
            if earlier {
                j.earlier_boot.insert(l.row);
            } else {
                j.earlier_boot.remove(&l.row);
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
            State::Sending if self.earlier_boot.contains(&row) => State::InDoubt,
            State::Sending => State::Pending,
            s => s,
        }
    }

    /// The Message-ID a started row was sent with (reused when it is sent again).
    pub fn id_of(&self, row: usize) -> Option<&str> {
        self.ids.get(&row).map(String::as_str)
    }

    /// How many connections write to the journal at once: a sync waits a
    /// moment for the others' requests when there are several.
    pub fn set_writers(&self, n: usize) {
        if let Some(s) = &self.syncer {
            s.writers.store(n.max(1), Ordering::Relaxed);
        }
    }

    fn start_syncer(&mut self) -> Result<()> {
        let file = self
            .file
            .try_clone()
            .map_err(|e| AppError::Io(format!("journal {}: {e}", self.path.display())))?;
        self.syncer = Some(Syncer::start(file));
        Ok(())
    }

    /// Records changes (row, state, Message-ID, reply) in one write; they
    /// reach the disk within a second or so.
    pub fn record_all(&mut self, changes: &[Change]) -> Result<()> {
        let mut lines = String::new();
        for (row, state, id, reply) in changes {
            self.line(&mut lines, *row, *state, id, reply.as_deref());
        }
        self.append(&lines)?;
        if self.last_sync.elapsed() > Duration::from_secs(1) {
            self.last_sync = Instant::now();
            if let Some(s) = &self.syncer {
                let _ = s.requests.send(None);
            }
        }
        Ok(())
    }

    /// Records that a batch of rows is being sent (row, Message-ID); none
    /// of their ends may go out before the returned receiver says the lines
    /// are on disk.
    pub fn sending(&mut self, rows: &[(usize, &str)]) -> Result<Synced> {
        let mut lines = String::new();
        for &(row, id) in rows {
            self.line(&mut lines, row, State::Sending, id, None);
        }
        self.append(&lines)?;
        self.sync_soon()
    }

    /// Records that the end of a row's message is about to go out; the
    /// message may go once the returned receiver says so (at once when the
    /// boot is known: see the module's doc).
    pub fn committing(&mut self, row: usize, id: &str) -> Result<Synced> {
        self.write(row, State::Committing, id, None)?;
        if self.boot.is_some() {
            let (tx, rx) = tokio::sync::oneshot::channel();
            let _ = tx.send(Ok(()));
            return Ok(rx);
        }
        self.sync_soon()
    }

    /// Asks the sync thread for a sync of what was written.
    fn sync_soon(&mut self) -> Result<Synced> {
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
        let mut line = String::new();
        self.line(&mut line, row, state, id, reply);
        self.append(&line)
    }

    /// Adds a row's line to `out` and notes its new state.
    fn line(&mut self, out: &mut String, row: usize, state: State, id: &str, reply: Option<&str>) {
        let boot = match state {
            State::Sending => self.boot.as_deref(),
            _ => None,
        };
        let line = serde_json::to_string(&Line {
            row,
            state,
            id: (!id.is_empty()).then_some(id.into()),
            reply: reply.map(Into::into),
            boot: boot.map(Into::into),
        })
        .expect("a line serialises");
        out.push_str(&line);
        out.push('\n');
        self.set(row, state);
    }

    /// Writes lines in one `write(2)`.
    fn append(&mut self, lines: &str) -> Result<()> {
        self.file
            .write_all(lines.as_bytes())
            .map_err(|e| AppError::Io(format!("journal {}: {e}", self.path.display())))?;
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

/// This boot of the system, when it says (Linux).
fn boot_id() -> Option<String> {
    let id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    let id = id.trim();
    (!id.is_empty()).then(|| id.to_string())
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

    /// A new journal path in a directory of its own, and an identity.
    fn fresh(name: &str) -> (PathBuf, PathBuf, Identity) {
        let dir = std::env::temp_dir().join(format!("missive-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("j");
        let _ = std::fs::remove_file(&path);
        let id = Identity {
            csv: "r.csv".into(),
            csv_sha256: "a".into(),
            template_sha256: "b".into(),
        };
        (dir, path, id)
    }

    #[test]
    fn states_survive_reopening_and_a_torn_last_line() {
        let (dir, path, id) = fresh("journal");
        let mut j = Journal::open(&path, &id).unwrap();
        let change = |row, state, id: &str, reply: Option<&str>| -> Change {
            (row, state, id.into(), reply.map(Into::into))
        };
        j.record_all(&[change(1, State::Sending, "<1@x>", None)])
            .unwrap();
        j.committing(1, "<1@x>").unwrap();
        j.record_all(&[
            change(1, State::Accepted, "<1@x>", Some("250 ok")),
            change(2, State::Sending, "<2@x>", None),
            change(3, State::Sending, "<3@x>", None),
        ])
        .unwrap();
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

    #[test]
    fn a_batch_sent_in_an_earlier_boot_is_in_doubt_and_in_this_boot_is_not() {
        let (dir, path, id) = fresh("journal-boot");
        let boot = |b: &str| Some(b.to_string());
        let mut j = Journal::open_in(&path, &id, boot("boot-1")).unwrap();
        let synced = j
            .sending(&[(1, "<1@x>"), (2, "<2@x>"), (3, "<3@x>")])
            .unwrap();
        assert_eq!(synced.blocking_recv().unwrap(), Ok(()));
        // Committing lines are written, not synced, when the boot is known.
        j.committing(1, "<1@x>").unwrap();
        j.record_all(&[(1, State::Accepted, "<1@x>".into(), Some("250 ok".into()))])
            .unwrap();
        j.committing(2, "<2@x>").unwrap();
        drop(j);

        // The process died; the system did not.
        let same = Journal::open_in(&path, &id, boot("boot-1")).unwrap();
        assert_eq!(same.state(1), State::Accepted);
        assert_eq!(same.state(2), State::InDoubt, "its end went out");
        assert_eq!(
            same.state(3),
            State::Pending,
            "no committing line: never went"
        );
        assert_eq!(same.id_of(3), Some("<3@x>"));
        // After a reboot the unsynced committing line may have been lost.
        let rebooted = Journal::open_in(&path, &id, boot("boot-2")).unwrap();
        assert_eq!(rebooted.state(1), State::Accepted);
        assert_eq!(rebooted.state(2), State::InDoubt);
        assert_eq!(
            rebooted.state(3),
            State::InDoubt,
            "may have gone before a power loss"
        );
        drop(rebooted);
        // Where the boot is unknown every committing line is synced, so a
        // row sent again in such a run is only in doubt once it committed.
        let mut j = Journal::open_in(&path, &id, None).unwrap();
        let synced = j.sending(&[(3, "<3@x>")]).unwrap();
        assert_eq!(synced.blocking_recv().unwrap(), Ok(()));
        drop(j);
        let later = Journal::open_in(&path, &id, boot("boot-3")).unwrap();
        assert_eq!(later.state(3), State::Pending);
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn with_several_writers_a_lone_request_is_still_synced() {
        let (dir, path, id) = fresh("journal-gather");
        let mut j = Journal::open_in(&path, &id, Some("boot".into())).unwrap();
        j.set_writers(8);
        let start = Instant::now();
        let synced = j.sending(&[(1, "<1@x>")]).unwrap();
        assert_eq!(synced.blocking_recv().unwrap(), Ok(()));
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "the sync waited for writers that never asked"
        );
        // Requests from several writers are answered too.
        let all: Vec<Synced> = (2..6)
            .map(|row| j.sending(&[(row, "<r@x>")]).unwrap())
            .collect();
        for synced in all {
            assert_eq!(synced.blocking_recv().unwrap(), Ok(()));
        }
        std::fs::remove_dir_all(&dir).ok();
    }
}
