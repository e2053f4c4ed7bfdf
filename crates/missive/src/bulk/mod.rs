//! `missive bulk`: one personalised message per CSV row, through the same
//! [`Mailer`] as `send`.
//!
//! The order of a run: load the templates and check every placeholder
//! names a column; render and check every row (nothing is sent if one is
//! wrong); open the journal (resuming a run: rows accepted or refused are
//! done, rows in doubt are skipped unless asked); confirm; then
//! `connections` workers take rows in turn (built ahead on a thread of
//! their own, ahead.rs), within the rate limits, each
//! recording "sending" (synced before any end goes out), "committing" and
//! the outcome in the journal (journal.rs says why that is crash-safe). A 421, or a 4xx that
//! says to slow down, pauses the run and puts the row back for later.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::deliver::{Mailer, MailerOptions, Status};
use crate::error::{AppError, Result};
use crate::message::{Attachment, Mail, Mailbox, MessageBuilder};

mod ahead;
mod check;
mod journal;
mod progress;
pub(crate) mod rate;
mod rows;
mod template;

use ahead::Ahead;
use journal::{Identity, Journal, State};
use progress::{Progress, RowReport, Tally};
use rate::{Limiter, Rate};
use rows::{Row, Rows};
use template::Templates;

/// Everything a run needs, resolved from the command line and settings.
pub(crate) struct Plan {
    pub csv: PathBuf,
    pub template: PathBuf,
    pub html: Option<PathBuf>,
    pub attach: Vec<String>,
    pub inline: Vec<String>,
    pub to_column: String,
    /// The sender when the template has no From.
    pub from: Option<String>,
    pub journal: PathBuf,
    pub dry_run: Option<usize>,
    pub yes: bool,
    pub resend_in_doubt: bool,
    pub json: bool,
    pub quiet: bool,
    pub rates: Vec<Rate>,
    pub options: MailerOptions,
    /// REQUIRETLS (RFC 8689) on every message.
    pub require_tls: bool,
    /// DKIM signers, keys loaded (each message is signed when built).
    pub dkim: Vec<crate::message::dkim::Signer>,
    /// Where the mail goes, in words (for the confirmation).
    pub via: String,
}

/// Rows a session takes at once, their transactions pipelined.
pub(crate) const BATCH: usize = 32;

/// Threads for rendering rows (the check, and DKIM-signed sends): one a
/// core, at most eight.
fn render_threads() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(8)
}

/// How many times a row the server throttled is put back in one run.
const THROTTLE_RETRIES: u32 = 3;

/// A row ready to send.
struct Job {
    row: usize,
    to: String,
    mail: Mail,
    attempts: u32,
}

/// Runs the plan; the exit code says how it went.
pub(crate) async fn run(plan: Plan) -> Result<i32> {
    let plan = Arc::new(plan);
    let templates = Templates::load(
        &plan.template,
        plan.html.as_deref(),
        &plan.attach,
        &plan.inline,
    )?;
    let rows = Rows::open(&plan.csv)?;
    if !rows.columns.contains(&plan.to_column) {
        return Err(AppError::Data(format!(
            "{} has no column {:?} for the recipients (columns: {}); name it with --to-column",
            plan.csv.display(),
            plan.to_column,
            rows.columns.join(", ")
        )));
    }
    templates.check_columns(&rows.columns, &plan.csv)?;
    // Every row is checked before the first message leaves.
    let Some((first, total)) = check::check_rows(&plan, &templates, rows)? else {
        return Err(AppError::Data(format!(
            "{} has no rows",
            plan.csv.display()
        )));
    };
    if let Some(n) = plan.dry_run {
        return dry_run(&templates, &plan, n, total).map(|_| 0);
    }
    let identity = Identity {
        csv: plan.csv.display().to_string(),
        csv_sha256: journal::sha256_file(&plan.csv)?,
        template_sha256: template_identity(&plan)?,
    };
    let journal = Journal::open(&plan.journal, &identity)?;
    let mut tally = Tally::default();
    let mut to_send = 0;
    for r in 1..=total {
        match journal.state(r) {
            State::Accepted => tally.done_before_accepted += 1,
            State::Refused => tally.done_before_refused += 1,
            State::InDoubt if !plan.resend_in_doubt => {
                tally.in_doubt_before += 1;
                eprintln!(
                    "missive: row {r} is in doubt ({}): its end of message went out and no reply came; not sent again (--resend-in-doubt sends it)",
                    journal.id_of(r).unwrap_or("no Message-ID")
                );
            }
            _ => to_send += 1,
        }
    }
    if to_send == 0 {
        let progress = Progress::new(0, plan.json, plan.quiet);
        return Ok(progress.finish(&tally));
    }
    if !plan.yes && !confirm(&first, to_send, total, &plan)? {
        eprintln!("missive: nothing sent");
        return Ok(0);
    }
    let mailer = Mailer::new(plan.options.clone())?;
    let connections = plan.options.connections;
    journal.set_writers(connections);
    let journal = Arc::new(Mutex::new(journal));
    let ahead = Ahead::spawn(plan.clone(), Arc::new(templates), journal.clone())?;
    let shared = Shared {
        plan: &plan,
        ahead,
        journal,
        retry: Mutex::new(Vec::new()),
        limiter: Limiter::new(plan.rates.clone()),
        mailer: &mailer,
        progress: Mutex::new(Progress::new(to_send, plan.json, plan.quiet)),
        tally: Mutex::new(tally),
        fatal: Mutex::new(None),
        stop: AtomicBool::new(false),
    };
    futures_util::future::join_all((0..connections).map(|_| shared.worker())).await;
    shared.ahead.finish().await;
    mailer.close().await;
    if let Ok(mut j) = shared.journal.lock() {
        j.sync()?;
    }
    let tally = shared.tally.into_inner().unwrap_or_default();
    let code = shared
        .progress
        .into_inner()
        .map(|p| p.finish(&tally))
        .unwrap_or(crate::error::exit::SOFTWARE);
    match shared.fatal.into_inner().ok().flatten() {
        Some(e) => Err(e),
        None => Ok(code),
    }
}

/// What the workers share.
struct Shared<'a> {
    plan: &'a Plan,
    /// The rows still to send, built on the rendering thread.
    ahead: Ahead,
    journal: Arc<Mutex<Journal>>,
    /// Rows the server throttled, with when they may go again.
    retry: Mutex<Vec<(Instant, Job)>>,
    limiter: Limiter,
    mailer: &'a Mailer,
    progress: Mutex<Progress>,
    tally: Mutex<Tally>,
    fatal: Mutex<Option<AppError>>,
    stop: AtomicBool,
}

impl Shared<'_> {
    async fn worker(&self) {
        // The next batch, its "sending" lines already on their way to disk
        // while this one goes (without rate limits: taking a row ahead would
        // count it against the limit before it is sent).
        let mut ahead: Option<(Vec<Job>, journal::Synced)> = None;
        while !self.stop.load(Ordering::Relaxed) {
            let (jobs, synced) = match ahead.take() {
                Some(next) => next,
                None => match self.take_batch().await {
                    Ok(Some(next)) => next,
                    Ok(None) => match self.earliest_retry() {
                        Some(at) => {
                            tokio::time::sleep_until(at.into()).await;
                            continue;
                        }
                        None => return,
                    },
                    Err(e) => return self.abort(e),
                },
            };
            if self.plan.rates.is_empty() {
                match self.take_batch().await {
                    Ok(next) => ahead = next,
                    Err(e) => return self.abort(e),
                }
            }
            let sent = match self.synced(synced).await {
                Ok(()) => self.send(jobs).await,
                Err(e) => Err(e),
            };
            if let Err(e) = sent {
                return self.abort(e);
            }
        }
    }

    /// Rows for one session, their "sending" lines written and a sync
    /// asked for: their transactions are pipelined behind each other (one
    /// round trip a message). With rate limits, one at a time, so the
    /// pacing holds per message.
    async fn take_batch(&self) -> Result<Option<(Vec<Job>, journal::Synced)>> {
        let most = if self.plan.rates.is_empty() { BATCH } else { 1 };
        let mut jobs = Vec::new();
        let mut turn = self.ahead.take().await;
        while jobs.len() < most {
            let job = match self.due_retry() {
                Some(job) => Some(job),
                None => turn.next().await?,
            };
            match job {
                Some(job) => {
                    self.limiter.acquire().await;
                    jobs.push(job);
                }
                None => break,
            }
        }
        drop(turn);
        if jobs.is_empty() {
            return Ok(None);
        }
        let rows: Vec<(usize, &str)> = jobs
            .iter()
            .map(|j| (j.row, j.mail.message_id.as_str()))
            .collect();
        let synced = self
            .journal
            .lock()
            .map_err(|_| poisoned())?
            .sending(&rows)?;
        Ok(Some((jobs, synced)))
    }

    fn abort(&self, e: AppError) {
        self.stop.store(true, Ordering::Relaxed);
        if let Ok(mut f) = self.fatal.lock() {
            f.get_or_insert(e);
        }
    }

    /// A throttled row that is due to go again.
    fn due_retry(&self) -> Option<Job> {
        let mut retry = self.retry.lock().ok()?;
        let now = Instant::now();
        let i = retry.iter().position(|(at, _)| *at <= now)?;
        Some(retry.swap_remove(i).1)
    }

    fn earliest_retry(&self) -> Option<Instant> {
        self.retry.lock().ok()?.iter().map(|(at, _)| *at).min()
    }

    /// Sends a batch of rows on one session and records what became of
    /// each. Their "sending" lines are on disk; each "committing" line is
    /// written just before its end goes out (journal.rs says why that is
    /// enough).
    async fn send(&self, jobs: Vec<Job>) -> Result<()> {
        let on_commit = |i: usize| -> futures_util::future::BoxFuture<'_, Result<()>> {
            let job = &jobs[i];
            let synced = self
                .journal
                .lock()
                .map_err(|_| poisoned())
                .and_then(|mut j| j.committing(job.row, &job.mail.message_id));
            Box::pin(async { self.synced(synced?).await })
        };
        let mails: Vec<&Mail> = jobs.iter().map(|j| &j.mail).collect();
        let results = self.mailer.send_batch(&mails, &on_commit).await;
        // The outcomes go to the journal in one write.
        let mut lines = Vec::with_capacity(jobs.len());
        let mut fatal = None;
        for (job, sent) in jobs.into_iter().zip(results) {
            if let Err(e) = self.settle(job, sent.result, sent.committed, &mut lines) {
                fatal.get_or_insert(e);
            }
        }
        self.journal
            .lock()
            .map_err(|_| poisoned())?
            .record_all(&lines)?;
        fatal.map_or(Ok(()), Err)
    }

    /// Waits for a journal sync.
    async fn synced(&self, synced: journal::Synced) -> Result<()> {
        match synced.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(AppError::Io(format!(
                "cannot sync the journal {}: {e}",
                self.plan.journal.display()
            ))),
            Err(_) => Err(poisoned()),
        }
    }

    /// Records what became of one row (and puts it back when throttled).
    fn settle(
        &self,
        mut job: Job,
        result: Result<crate::deliver::Outcome>,
        committed: bool,
        lines: &mut Vec<journal::Change>,
    ) -> Result<()> {
        let id = job.mail.message_id.clone();
        // A 421 (or a 4xx that says to slow down) is throttling, not a failure.
        let mut throttled = false;
        let (state, reply, why) = match result {
            Ok(outcome) => {
                let r = &outcome.recipients[0];
                let state = match r.status {
                    Status::Accepted => State::Accepted,
                    Status::Deferred => State::Deferred,
                    Status::Refused | Status::NoSuchDomain => State::Refused,
                };
                throttled =
                    state == State::Deferred && r.reply.as_ref().is_some_and(says_slow_down);
                (state, r.reply.clone(), r.why())
            }
            Err(e) if committed => (State::InDoubt, None, e.to_string()),
            Err(e) => match e.exit_code() {
                crate::error::exit::TEMPFAIL => {
                    throttled = matches!(e, AppError::Smtp(missive_smtp::Error::ServiceClosing(_)));
                    (State::Deferred, None, e.to_string())
                }
                crate::error::exit::UNAVAILABLE | crate::error::exit::DATAERR => {
                    (State::Refused, None, e.to_string())
                }
                _ => {
                    lines.push((job.row, State::Deferred, id, Some(e.to_string())));
                    return Err(e);
                }
            },
        };
        if throttled && job.attempts < THROTTLE_RETRIES {
            let pause = self.limiter.slow_down();
            job.attempts += 1;
            lines.push((job.row, State::Deferred, id, Some(why.clone())));
            if let Ok(p) = self.progress.lock() {
                p.note(&format!(
                    "row {}: the server asked to slow down ({why}); pausing {} s, trying it again later",
                    job.row,
                    pause.as_secs()
                ));
            }
            let at = Instant::now() + pause * 2;
            self.retry.lock().map_err(|_| poisoned())?.push((at, job));
            return Ok(());
        }
        let line = reply
            .as_ref()
            .map(|r| r.to_string())
            .unwrap_or_else(|| why.clone());
        lines.push((
            job.row,
            state,
            id.clone(),
            Some(line.trim_end().to_string()),
        ));
        let report = RowReport {
            row: job.row,
            to: &job.to,
            message_id: &id,
            state,
            reply: reply.as_ref(),
            why: &why,
        };
        let mut tally = self.tally.lock().map_err(|_| poisoned())?;
        tally.count(state);
        if let Ok(mut p) = self.progress.lock() {
            p.row(&report, &tally);
        }
        Ok(())
    }
}

fn poisoned() -> AppError {
    AppError::Io("a bulk worker failed".into())
}

/// A 4xx that asks the client to send less (rate limits, too many messages).
fn says_slow_down(reply: &missive_smtp::Reply) -> bool {
    let text = reply.text().to_ascii_lowercase();
    reply.code.value() == 421
        || [
            "too many",
            "rate",
            "slow down",
            "try again later",
            "throttl",
        ]
        .iter()
        .any(|w| text.contains(w))
}

/// A row's message: rendered, with its recipient, sender and attachments;
/// DKIM-signed when `sign`.
fn build(t: &Templates, plan: &Plan, row: &Row, id: Option<&str>, sign: bool) -> Result<Job> {
    let r = t.render(row)?;
    let data =
        |what: String, e: AppError| AppError::Data(format!("row {}: {what}: {e}", row.number));
    let to_value = row.values.get(&plan.to_column).cloned().unwrap_or_default();
    let to =
        Mailbox::parse(&to_value).map_err(|e| data(format!("column {:?}", plan.to_column), e))?;
    let from = r
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("from"))
        .map(|(_, v)| v.clone())
        .or_else(|| plan.from.clone())
        .ok_or_else(|| {
            AppError::Usage("no sender: give the template a From header, or --from ADDR".into())
        })?;
    let mut b = MessageBuilder::new(&from).map_err(|e| data("From".into(), e))?;
    b = b
        .to(&to_value)
        .map_err(|e| data(format!("column {:?}", plan.to_column), e))?;
    for (name, value) in &r.headers {
        b = match name.to_ascii_lowercase().as_str() {
            "from" => b,
            "subject" => b.subject(value.clone()),
            "reply-to" => b.reply_to(value).map_err(|e| data("Reply-To".into(), e))?,
            _ => b
                .header(name, value)
                .map_err(|e| data(format!("header {name}"), e))?,
        };
    }
    b = b.text(r.text);
    if let Some(h) = r.html {
        b = b.html(h);
    }
    for a in &r.attach {
        b = b.attach(Attachment::parse(a).map_err(|e| data(format!("--attach {a}"), e))?);
    }
    for a in &r.inline {
        b = b.inline(Attachment::parse(a).map_err(|e| data(format!("--inline {a}"), e))?);
    }
    if let Some(id) = id {
        b = b.header("Message-ID", id)?;
    }
    let built = b.build().map_err(|e| data("the message".into(), e))?;
    let mut mail = Mail::new(&built.from_address, &[&to.addr], built.message)
        .map_err(|e| data(format!("column {:?}", plan.to_column), e))?
        .with_message_id(built.message_id);
    if sign {
        mail = mail.signed(&plan.dkim)?;
    }
    mail.envelope.require_tls = plan.require_tls;
    Ok(Job {
        row: row.number,
        to: to.addr,
        mail,
        attempts: 0,
    })
}

/// What the journal is bound to besides the CSV: every template and option
/// that shapes the messages.
fn template_identity(plan: &Plan) -> Result<String> {
    let read = |p: &PathBuf| {
        std::fs::read_to_string(p).map_err(|e| AppError::Io(format!("{}: {e}", p.display())))
    };
    let mut all = read(&plan.template)?;
    if let Some(h) = &plan.html {
        all.push_str("\0html\0");
        all.push_str(&read(h)?);
    }
    for a in plan.attach.iter().chain(&plan.inline) {
        all.push('\0');
        all.push_str(a);
    }
    all.push_str("\0to\0");
    all.push_str(&plan.to_column);
    Ok(journal::sha256(&all))
}

/// `--dry-run N`: the first N messages as they would be sent, and the totals.
fn dry_run(t: &Templates, plan: &Plan, n: usize, total: usize) -> Result<()> {
    use std::io::{Read, Write};
    let mut rows = Rows::open(&plan.csv)?;
    let mut out = std::io::stdout().lock();
    let io = |e: std::io::Error| AppError::Io(format!("writing to standard output: {e}"));
    for _ in 0..n {
        let Some(row) = rows.next_row(&plan.csv) else {
            break;
        };
        let job = build(t, plan, &row?, None, true)?;
        writeln!(
            out,
            "# row {} ({} octets)",
            job.row,
            job.mail.message.size()
        )
        .map_err(io)?;
        writeln!(out, "MAIL FROM:<{}>", job.mail.envelope.from).map_err(io)?;
        writeln!(out, "RCPT TO:<{}>\n", job.to).map_err(io)?;
        let mut text = Vec::new();
        job.mail
            .message
            .open()
            .read_to_end(&mut text)
            .map_err(|e| AppError::Io(format!("reading the message: {e}")))?;
        out.write_all(&text).map_err(io)?;
        writeln!(out).map_err(io)?;
    }
    writeln!(
        out,
        "# dry run: {total} messages via {}; nothing sent",
        plan.via
    )
    .map_err(io)?;
    Ok(())
}

/// Shows the first message and the totals, and asks; without a terminal to
/// ask on, sends nothing and says to add --yes.
fn confirm(first: &Job, to_send: usize, total: usize, plan: &Plan) -> Result<bool> {
    use std::io::{BufRead, IsTerminal, Read};
    if !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
        return Err(AppError::Usage(format!(
            "bulk would send {to_send} messages via {}: add --yes to send without being asked (nothing was sent)",
            plan.via
        )));
    }
    let mut text = Vec::new();
    let _ = first.mail.message.open().take(2048).read_to_end(&mut text);
    eprintln!(
        "--- the first message (row {}, to {}):",
        first.row, first.to
    );
    eprintln!("{}", String::from_utf8_lossy(&text));
    eprintln!("---");
    eprint!(
        "Send {to_send} messages ({total} rows in {}) via {}? [y/N] ",
        plan.csv.display(),
        plan.via
    );
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| AppError::Io(format!("reading the answer: {e}")))?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}
