//! `missive queue`: run the outbox (`run`, `run --watch`, `flush`) and look
//! inside it (`list`, `show`, `remove`, `retry`).

use std::time::{Duration, UNIX_EPOCH};

use serde_json::json;

use crate::cli::commands::QueueOpts;
use crate::cli::QueueCmd;
use crate::error::{AppError, Result};
use crate::message::header::rfc5322_date;
use crate::outbox::{self, now, Entry, Event, Outbox, Read, RunOptions, State};
use crate::settings::{self, QueueSettings};

/// Runs a `queue` subcommand.
pub(crate) async fn run(cmd: QueueCmd) -> Result<()> {
    match cmd {
        QueueCmd::Run {
            watch,
            opts,
            verbose,
        } => deliver(&opts, false, watch, verbose).await,
        QueueCmd::Flush { opts, verbose } => deliver(&opts, true, false, verbose).await,
        QueueCmd::List { json, opts } => list(&opts, json),
        QueueCmd::Show { id, json, opts } => show(&opts, &id, json),
        QueueCmd::Remove { id, opts } => change(&opts, &id, |o, _| o.remove(&id)),
        QueueCmd::Retry { id, opts } => change(&opts, &id, |o, mut e| {
            e.next_attempt = now();
            o.save(&e)
        }),
    }
}

fn open(opts: &QueueOpts) -> Result<(Outbox, QueueSettings)> {
    let qs = settings::resolve_queue(opts.config.as_deref(), opts.queue_dir.clone())?;
    Ok((Outbox::open(&qs.dir)?, qs))
}

async fn deliver(opts: &QueueOpts, flush: bool, watch: bool, verbosity: u8) -> Result<()> {
    let (outbox, qs) = open(opts)?;
    let opts = RunOptions { flush, verbosity };
    let mut errors = 0;
    let mut report = |ev: Event| {
        if matches!(ev, Event::Error { .. }) {
            errors += 1;
        }
        event(&ev)
    };
    match watch {
        true => outbox::watch(&outbox, &qs, opts, &mut report).await?,
        false => {
            outbox::run::run(&outbox, &qs, opts, &mut report).await?;
        }
    }
    match errors {
        0 => Ok(()),
        n => Err(AppError::Spool(format!(
            "{n} entr{} could not be handled; they stay queued",
            if n == 1 { "y" } else { "ies" }
        ))),
    }
}

/// One line per event: progress on stdout, failures on stderr.
fn event(ev: &Event) {
    match ev {
        Event::Delivered { id, address, reply } => {
            println!("{id}: delivered to {address}: {reply}")
        }
        Event::Deferred { id, address, why } => {
            eprintln!("missive: {id}: {address} deferred: {why}")
        }
        Event::Refused { id, address, why } => {
            eprintln!("missive: {id}: {address} failed: {why}")
        }
        Event::Scheduled { id, next } => println!("{id}: next attempt {}", when(*next)),
        Event::Done { id } => println!("{id}: done, removed from the queue"),
        Event::Failed { id, notice } => {
            let notice = match notice {
                Some(n) => format!("; failure notice queued as {n}"),
                None => String::new(),
            };
            eprintln!("missive: {id}: moved to failed/{notice}")
        }
        Event::Busy { id } => println!("{id}: being delivered by another run; skipped"),
        Event::Corrupt { name, why, moved } => eprintln!(
            "missive: queue: {name} cannot be read ({why}): moved to {}",
            moved.display()
        ),
        Event::Error { id, why } => eprintln!("missive: {id}: {why}"),
    }
}

/// `in 4m (Wed, 2 Dec 2026 03:41:00 +0000)`, or `now`.
fn when(t: u64) -> String {
    let n = now();
    if t <= n {
        return "now".into();
    }
    format!(
        "in {} ({})",
        outbox::human(Duration::from_secs(t - n)),
        rfc5322_date(UNIX_EPOCH + Duration::from_secs(t))
    )
}

fn state_name(s: State) -> &'static str {
    match s {
        State::Pending => "pending",
        State::Accepted => "accepted",
        State::Refused => "refused",
    }
}

/// The JSON of an entry (also its `failed` place when it has one).
fn entry_json(e: &Entry, failed: bool) -> serde_json::Value {
    let n = now();
    json!({
        "id": e.id,
        "age_secs": n.saturating_sub(e.created),
        "created": e.created,
        "message_id": e.message_id,
        "sender": e.sender,
        "recipients": e.recipients.iter().map(|r| json!({
            "address": r.address,
            "state": state_name(r.state),
            "attempts": r.attempts,
            "last_reply": r.last_reply,
            "status": r.status,
        })).collect::<Vec<_>>(),
        "attempts": e.attempts,
        "next_attempt": e.next_attempt,
        "next_attempt_in_secs": e.next_attempt.saturating_sub(n),
        "last_attempt": e.last_attempt,
        "last_reply": e.recipients.iter().rev().find_map(|r| r.last_reply.clone()),
        "in_doubt": e.in_doubt || e.may_duplicate,
        "notice": e.notice,
        "route": e.route.describe(),
        "failed": failed,
        "failure": e.failure,
    })
}

fn entry_lines(e: &Entry, failed: bool) -> Vec<String> {
    let age = outbox::human(Duration::from_secs(now().saturating_sub(e.created)));
    let sender = match e.sender.as_str() {
        "" => "<>",
        s => s,
    };
    let mut out = vec![format!(
        "{}  age {age}  from {sender}  {} attempt(s)  {}",
        e.id,
        e.attempts,
        match failed {
            true => format!("failed: {}", e.failure.as_deref().unwrap_or("?")),
            false => format!("next attempt {}", when(e.next_attempt)),
        }
    )];
    for r in &e.recipients {
        let last = r
            .last_reply
            .as_deref()
            .map(|l| format!(": {l}"))
            .unwrap_or_default();
        out.push(format!("    {} {}{last}", state_name(r.state), r.address));
    }
    if e.in_doubt || e.may_duplicate {
        out.push(
            "    in doubt: an attempt sent the end of the message and got no reply; a recipient may get it twice (RFC 1047)".into(),
        );
    }
    out
}

fn list(opts: &QueueOpts, as_json: bool) -> Result<()> {
    let (outbox, _) = open(opts)?;
    let mut entries = Vec::new();
    for id in outbox.ids()? {
        match outbox.read(&id) {
            Read::Entry(e) => entries.push(*e),
            Read::Gone => {}
            Read::Corrupt(why) => eprintln!(
                "missive: queue: {id} cannot be read ({why}); the next `queue run` moves it aside"
            ),
        }
    }
    if as_json {
        let list: Vec<_> = entries.iter().map(|e| entry_json(e, false)).collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&list).unwrap_or_default()
        );
        return Ok(());
    }
    if entries.is_empty() {
        println!("the queue is empty ({})", outbox.dir().display());
    }
    for e in &entries {
        for l in entry_lines(e, false) {
            println!("{l}");
        }
    }
    Ok(())
}

fn find(outbox: &Outbox, id: &str) -> Result<(Entry, bool)> {
    if let Read::Entry(e) = outbox.read(id) {
        return Ok((*e, false));
    }
    outbox
        .failed()
        .into_iter()
        .find(|e| e.id == id)
        .map(|e| (e, true))
        .ok_or_else(|| {
            AppError::Usage(format!(
                "no entry {id:?} in {} (see `missive queue list`)",
                outbox.dir().display()
            ))
        })
}

fn show(opts: &QueueOpts, id: &str, as_json: bool) -> Result<()> {
    let (outbox, _) = open(opts)?;
    let (e, failed) = find(&outbox, id)?;
    let headers = match failed {
        true => outbox.failed_headers(id),
        false => outbox.headers(id),
    };
    if as_json {
        let mut v = entry_json(&e, failed);
        v["headers"] = json!(headers);
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        return Ok(());
    }
    for l in entry_lines(&e, failed) {
        println!("{l}");
    }
    println!("    route: {}", e.route.describe());
    println!();
    println!("{}", headers.replace("\r\n", "\n").trim_end());
    Ok(())
}

/// Locks a queued entry and changes it; an entry being delivered is left alone.
fn change(opts: &QueueOpts, id: &str, f: impl FnOnce(&Outbox, Entry) -> Result<()>) -> Result<()> {
    let (outbox, _) = open(opts)?;
    if !outbox::valid_id(id) {
        return Err(AppError::Usage(format!("{id:?} is not a queue id")));
    }
    let Some(_lock) = outbox.try_lock(id)? else {
        return match outbox.read(id) {
            Read::Gone => Err(AppError::Usage(format!(
                "no entry {id:?} in {}",
                outbox.dir().display()
            ))),
            _ => Err(AppError::Spool(format!(
                "{id} is being delivered right now; try again when that run ends"
            ))),
        };
    };
    match outbox.read(id) {
        Read::Entry(e) => f(&outbox, *e),
        Read::Gone => Err(AppError::Usage(format!(
            "no entry {id:?} in {}",
            outbox.dir().display()
        ))),
        Read::Corrupt(why) => Err(AppError::Spool(format!("{id} cannot be read: {why}"))),
    }
}
