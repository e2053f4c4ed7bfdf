//! Rows rendered ahead, on threads of their own.
//!
//! Building a row's message (template, MIME, Message-ID and above all the
//! DKIM signature: the body hash reads the whole message, and an RSA
//! signature costs about half a millisecond) is CPU work that the sessions'
//! round trips need not wait for. These threads do it beside them, on the
//! other cores: the replies come, the next message is already built. With
//! DKIM, one thread a core (at most eight). Without it, rows are
//! built where they are taken, as before: rendering alone is a few
//! microseconds a row, about what a hand-over between threads costs, and a
//! rendering thread measured slightly slower on eight connections.
//!
//! The threads take the CSV's rows in turn, skip the rows the journal says
//! are done (or in doubt, unless they are to be sent again), build each
//! other row and hand it over through a bounded channel: at most [`AHEAD`]
//! messages wait, so memory stays that of a few rows whatever the file's
//! length. Rows come out in file order with one thread, and nearly so with
//! several. A worker takes its whole batch in one turn ([`Ahead::take`]);
//! when the run ends early, [`Ahead::finish`] closes the channel and the
//! threads stop at their next row.

use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use tokio::sync::mpsc;

use super::journal::{Journal, State};
use super::rows::{Row, Rows};
use super::template::Templates;
use super::{build, Job, Plan, BATCH};
use crate::error::{AppError, Result};

/// Built messages that may wait for a session: two batches, so the next
/// batch is ready as one is taken.
const AHEAD: usize = 2 * BATCH;

/// The rows to send, built.
pub(super) enum Ahead {
    /// Built by the worker that takes them (no DKIM).
    Inline {
        rows: tokio::sync::Mutex<Rows>,
        plan: Arc<Plan>,
        templates: Arc<Templates>,
        journal: Arc<Mutex<Journal>>,
    },
    /// Built by rendering threads, handed over through a bounded channel.
    Threads {
        rx: tokio::sync::Mutex<mpsc::Receiver<Result<Job>>>,
        threads: Mutex<Vec<JoinHandle<()>>>,
    },
}

impl Ahead {
    /// Starts the rendering threads on `plan.csv`.
    pub fn spawn(
        plan: Arc<Plan>,
        templates: Arc<Templates>,
        journal: Arc<Mutex<Journal>>,
    ) -> Result<Ahead> {
        let rows = Rows::open(&plan.csv)?;
        if plan.dkim.is_empty() {
            return Ok(Ahead::Inline {
                rows: tokio::sync::Mutex::new(rows),
                plan,
                templates,
                journal,
            });
        }
        let count = super::render_threads();
        let rows = Arc::new(Mutex::new(rows));
        let (tx, rx) = mpsc::channel(AHEAD);
        let mut threads = Vec::new();
        for n in 0..count {
            let (plan, templates, journal) = (plan.clone(), templates.clone(), journal.clone());
            let (rows, tx) = (rows.clone(), tx.clone());
            let thread = std::thread::Builder::new()
                .name(format!("bulk-render-{n}"))
                .spawn(move || render(&plan, &templates, &journal, &rows, &tx))
                .map_err(|e| AppError::Io(format!("cannot start a thread: {e}")))?;
            threads.push(thread);
        }
        Ok(Ahead::Threads {
            rx: tokio::sync::Mutex::new(rx),
            threads: Mutex::new(threads),
        })
    }

    /// The rows, for one worker at a time: a worker fills its whole batch
    /// before another takes any, so a small run goes out on one session.
    pub async fn take(&self) -> Taker<'_> {
        match self {
            Ahead::Inline {
                rows,
                plan,
                templates,
                journal,
            } => Taker::Inline {
                rows: rows.lock().await,
                plan,
                templates,
                journal,
            },
            Ahead::Threads { rx, .. } => Taker::Threads(rx.lock().await),
        }
    }

    /// Stops the threads (they may be waiting to hand over a row) and waits for them.
    pub async fn finish(&self) {
        let Ahead::Threads { rx, threads } = self else {
            return;
        };
        rx.lock().await.close();
        let threads = threads
            .lock()
            .map(|mut t| std::mem::take(&mut *t))
            .unwrap_or_default();
        let _ = tokio::task::spawn_blocking(move || {
            for t in threads {
                let _ = t.join();
            }
        })
        .await;
    }
}

/// One rendering thread: rows in turn until the file ends, an error, or
/// the channel closes.
fn render(
    plan: &Plan,
    templates: &Templates,
    journal: &Mutex<Journal>,
    rows: &Mutex<Rows>,
    tx: &mpsc::Sender<Result<Job>>,
) {
    loop {
        let row = match rows.lock() {
            Ok(mut rows) => rows.next_row(&plan.csv),
            Err(_) => Some(Err(unusable())),
        };
        let Some(row) = row else { return };
        let job = row.and_then(|row| job_for(plan, templates, journal, &row));
        let failed = job.is_err();
        let sent = match job.transpose() {
            None => continue,
            Some(job) => tx.blocking_send(job),
        };
        if sent.is_err() || failed {
            return;
        }
    }
}

fn unusable() -> AppError {
    AppError::Io("a bulk rendering thread failed".into())
}

/// A row's message, built, unless the journal says the row is done (or in
/// doubt and not to be sent again).
fn job_for(
    plan: &Plan,
    templates: &Templates,
    journal: &Mutex<Journal>,
    row: &Row,
) -> Result<Option<Job>> {
    let (send, id) = {
        let j = journal.lock().map_err(|_| unusable())?;
        let send = match j.state(row.number) {
            State::Accepted | State::Refused => false,
            State::InDoubt => plan.resend_in_doubt,
            _ => true,
        };
        (send, j.id_of(row.number).map(String::from))
    };
    match send {
        true => build(templates, plan, row, id.as_deref(), true).map(Some),
        false => Ok(None),
    }
}

/// One worker's turn at the rows.
pub(super) enum Taker<'a> {
    Inline {
        rows: tokio::sync::MutexGuard<'a, Rows>,
        plan: &'a Plan,
        templates: &'a Templates,
        journal: &'a Mutex<Journal>,
    },
    Threads(tokio::sync::MutexGuard<'a, mpsc::Receiver<Result<Job>>>),
}

impl Taker<'_> {
    /// The next row to send, built; `None` once every row was handed out.
    pub async fn next(&mut self) -> Result<Option<Job>> {
        match self {
            Taker::Inline {
                rows,
                plan,
                templates,
                journal,
            } => {
                while let Some(row) = rows.next_row(&plan.csv) {
                    if let Some(job) = job_for(plan, templates, journal, &row?)? {
                        return Ok(Some(job));
                    }
                }
                Ok(None)
            }
            Taker::Threads(rx) => rx.recv().await.transpose(),
        }
    }
}
#[cfg(test)]
pub(super) mod tests {
    use std::path::{Path, PathBuf};

    use super::*;
    use crate::bulk::journal::{Change, Identity};
    use crate::deliver::{Direct, MailerOptions, Route};

    /// An Ed25519 signer (whose presence makes the rendering threads run).
    fn signer(dir: &Path) -> crate::message::dkim::Signer {
        use std::os::unix::fs::PermissionsExt;
        let key = dir.join("dkim.key");
        std::fs::write(&key, crate::message::dkim::key::generate_ed25519().unwrap()).unwrap();
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
        crate::message::dkim::Signer::load(&crate::message::dkim::DkimConfig {
            domain: "example.test".into(),
            selector: "s".into(),
            key_file: key,
            algorithm: None,
            headers: None,
            canonicalization: None,
            expire: None,
        })
        .unwrap()
    }

    /// A plan for `rows` rows (`email,name`), optionally DKIM-signing.
    pub(in crate::bulk) fn plan(
        dir: &Path,
        rows: usize,
        resend_in_doubt: bool,
        dkim: bool,
    ) -> Plan {
        let mut csv = String::from("email,name\n");
        for i in 1..=rows {
            csv.push_str(&format!("r{i}@example.test,Name {i}\n"));
        }
        std::fs::write(dir.join("rows.csv"), csv).unwrap();
        std::fs::write(
            dir.join("m.tmpl"),
            "From: a@example.test\nSubject: hi {{ name }}\n\nHello {{ name }}.\n",
        )
        .unwrap();
        Plan {
            csv: dir.join("rows.csv"),
            template: dir.join("m.tmpl"),
            html: None,
            attach: Vec::new(),
            inline: Vec::new(),
            to_column: "email".into(),
            from: None,
            journal: dir.join("journal"),
            dry_run: None,
            yes: true,
            resend_in_doubt,
            json: false,
            quiet: true,
            rates: Vec::new(),
            options: MailerOptions::new(Route::Direct(Direct::default())),
            require_tls: false,
            dkim: match dkim {
                true => vec![signer(dir)],
                false => Vec::new(),
            },
            via: String::new(),
        }
    }

    /// A new, empty directory for one test.
    pub(in crate::bulk) fn fresh(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("missive-ahead-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn start(plan: Plan) -> (Ahead, Arc<Mutex<Journal>>) {
        let identity = Identity {
            csv: "rows.csv".into(),
            csv_sha256: "a".into(),
            template_sha256: "b".into(),
        };
        let journal = Arc::new(Mutex::new(Journal::open(&plan.journal, &identity).unwrap()));
        let templates = Templates::load(&plan.template, None, &[], &[]).unwrap();
        let ahead = Ahead::spawn(Arc::new(plan), Arc::new(templates), journal.clone()).unwrap();
        (ahead, journal)
    }

    async fn all(ahead: &Ahead) -> Vec<(usize, String)> {
        let mut turn = ahead.take().await;
        let mut out = Vec::new();
        while let Some(job) = turn.next().await.unwrap() {
            out.push((job.row, job.mail.message_id.clone()));
        }
        out
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn rows_the_journal_settled_are_skipped_and_retried_rows_keep_their_id() {
        for (resend, dkim) in [(false, false), (true, false), (false, true), (true, true)] {
            let dir = fresh(&format!("skip-{resend}-{dkim}"));
            {
                // A first run: row 1 accepted, row 2 in doubt, row 3 refused, row 4 deferred.
                let (ahead, journal) = start(plan(&dir, 5, resend, dkim));
                let mut j = journal.lock().unwrap();
                let change = |row, state, reply: &str| -> Change {
                    (row, state, format!("<{row}@x>"), Some(reply.into()))
                };
                j.record_all(&[change(2, State::Sending, ""), change(4, State::Sending, "")])
                    .unwrap();
                drop(j.committing(2, "<2@x>").unwrap());
                j.record_all(&[
                    change(1, State::Accepted, "250 ok"),
                    change(3, State::Refused, "550 no"),
                    change(4, State::Deferred, "451 later"),
                ])
                .unwrap();
                j.sync().unwrap();
                drop(j);
                runtime().block_on(ahead.finish());
            }
            let (ahead, _) = start(plan(&dir, 5, resend, dkim));
            let got = runtime().block_on(async {
                let got = all(&ahead).await;
                ahead.finish().await;
                got
            });
            // several rendering threads may hand rows over out of order
            let mut rows: Vec<usize> = got.iter().map(|(r, _)| *r).collect();
            rows.sort();
            let want: &[usize] = if resend { &[2, 4, 5] } else { &[4, 5] };
            assert_eq!(rows, want, "resend in doubt: {resend}, dkim: {dkim}");
            assert_eq!(got.iter().find(|(r, _)| *r == 4).unwrap().1, "<4@x>");
            let five = &got.iter().find(|(r, _)| *r == 5).unwrap().1;
            assert_ne!(five, "<5@x>", "a new row gets a new id");
            let _ = std::fs::remove_dir_all(&dir);
        }
    }

    #[test]
    fn finishing_early_stops_a_thread_that_waits_to_hand_over_a_row() {
        let dir = fresh("finish");
        let (ahead, _) = start(plan(&dir, 10 * AHEAD, false, true));
        assert!(
            matches!(ahead, Ahead::Threads { .. }),
            "DKIM: rendering threads"
        );
        runtime().block_on(async {
            let first = ahead.take().await.next().await.unwrap().unwrap();
            assert!(first.row >= 1, "a row of the file");
            // The thread fills the channel, then waits; finish must not hang.
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            tokio::time::timeout(std::time::Duration::from_secs(10), ahead.finish())
                .await
                .expect("the rendering thread did not stop");
            let rest = all(&ahead).await;
            assert!(
                rest.len() <= AHEAD,
                "{} rows were built ahead, more than the channel holds",
                rest.len()
            );
        });
        let _ = std::fs::remove_dir_all(&dir);
    }
}
