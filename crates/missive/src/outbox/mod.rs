//! The durable outbox: mail that cannot go now is kept on disk, retried,
//! and never lost (issue 12).
//!
//! - [`spool`]: the directory, atomic writes, per-entry locks;
//! - [`entry`]: what is stored for a message (envelope, recipients' states,
//!   schedule, route; never a secret);
//! - [`run`]: delivering what is due, one mailer per route;
//! - [`notice`]: RFC 3464 failure notices.
//!
//! `cmd/send.rs` queues (`--queue`), `cmd/queue.rs` looks inside and runs it.

use std::path::PathBuf;
use std::time::Duration;

use crate::deliver::{Outcome, Status};
use crate::error::{AppError, Result};
use crate::message::content::Segment;
use crate::message::{Mail, Message};
use crate::settings::{QueueSettings, Settings};

pub(crate) mod entry;
mod notice;
pub(crate) mod run;
pub(crate) mod spool;

pub use entry::{Entry, Recipient, State, StoredDsn, StoredRoute};
pub use run::{backoff, human, RunOptions};
pub use spool::{now, valid_id, Outbox, Read};

/// Something a run did, for the command to report.
#[derive(Debug)]
pub enum Event {
    /// A recipient was accepted.
    Delivered {
        id: String,
        address: String,
        reply: String,
    },
    /// A recipient failed temporarily: it stays queued.
    Deferred {
        id: String,
        address: String,
        why: String,
    },
    /// A recipient failed for good.
    Refused {
        id: String,
        address: String,
        why: String,
    },
    /// The entry waits until `next`.
    Scheduled { id: String, next: u64 },
    /// Every recipient is done: the entry is gone.
    Done { id: String },
    /// The entry moved to `failed/`; the id of the notice queued for its sender.
    Failed { id: String, notice: Option<String> },
    /// Another runner holds this entry.
    Busy { id: String },
    /// A file that is not a readable entry was moved aside.
    Corrupt {
        name: String,
        why: String,
        moved: PathBuf,
    },
    /// The entry could not be handled; it stays as it was.
    Error { id: String, why: String },
}

/// What a first attempt did, for [`enqueue`].
pub struct Tried<'a> {
    /// Its outcome, or why the message was not sent.
    pub result: std::result::Result<&'a Outcome, &'a AppError>,
    /// The end of the message went out (the server may have it: RFC 1047).
    pub committed: bool,
}

/// Queues `mail` for delivery by the route of `settings`. After a first
/// attempt, only the recipients that failed temporarily stay pending; the
/// others are recorded as told.
pub fn enqueue(settings: &Settings, mail: &Mail, tried: Option<Tried<'_>>) -> Result<String> {
    let qs = &settings.queue;
    let outbox = Outbox::open(&qs.dir)?;
    let now = now();
    let mut entry = Entry {
        version: entry::VERSION,
        id: spool::new_id(),
        created: now,
        message_id: mail.message_id.clone(),
        sender: mail.envelope.from.clone(),
        recipients: mail
            .envelope
            .to
            .iter()
            .map(|a| Recipient {
                address: a.clone(),
                state: State::Pending,
                attempts: 0,
                last_reply: None,
                status: None,
                reported: false,
            })
            .collect(),
        dsn: StoredDsn {
            ret: mail.envelope.dsn.ret.clone(),
            envid: mail.envelope.dsn.envid.clone(),
            notify: mail.envelope.dsn.notify.clone(),
        },
        eight_bit: mail.message.eight_bit,
        require_tls: mail.envelope.require_tls,
        line_end_growth: mail.message.line_end_growth,
        attempts: 0,
        next_attempt: now,
        last_attempt: None,
        in_doubt: false,
        may_duplicate: false,
        notice: false,
        route: StoredRoute::new(settings),
        failure: None,
    };
    if let Some(Tried { result, committed }) = tried {
        // An error after the end of data: a recipient may get it twice.
        entry.may_duplicate = committed && result.is_err();
        entry.attempts = 1;
        entry.last_attempt = Some(now);
        entry.next_attempt = now + backoff(qs, 1).as_secs();
        for r in &mut entry.recipients {
            r.attempts = 1;
            match result {
                Ok(outcome) => {
                    let Some(o) = outcome.recipients.iter().find(|o| o.address == r.address) else {
                        continue;
                    };
                    r.last_reply = Some(o.why());
                    r.status = o
                        .reply
                        .as_ref()
                        .and_then(|x| x.enhanced)
                        .map(|s| s.to_string());
                    match o.status {
                        Status::Accepted => r.state = State::Accepted,
                        Status::Deferred => {}
                        // The command reports these itself.
                        Status::Refused | Status::NoSuchDomain => {
                            r.state = State::Refused;
                            r.reported = true;
                        }
                    }
                }
                Err(e) => r.last_reply = Some(e.to_string()),
            }
        }
    }
    outbox.enqueue(&entry, &mail.message)?;
    Ok(entry.id)
}

/// Queues the failure notice about `failed` (due now), unless it needs none.
fn enqueue_notice(outbox: &Outbox, failed: &Entry) -> Result<Option<String>> {
    let host = crate::transport::hostname::system_hostname().unwrap_or_else(|| "localhost".into());
    let Some((message_id, bytes)) = notice::build(failed, &outbox.headers(&failed.id), &host)
    else {
        return Ok(None);
    };
    let now = now();
    let entry = Entry {
        version: entry::VERSION,
        id: spool::new_id(),
        created: now,
        message_id,
        sender: String::new(),
        recipients: vec![Recipient {
            address: failed.sender.clone(),
            state: State::Pending,
            attempts: 0,
            last_reply: None,
            status: None,
            reported: false,
        }],
        dsn: StoredDsn::default(),
        eight_bit: bytes.iter().any(|b| *b > 127),
        require_tls: false,
        line_end_growth: 0,
        attempts: 0,
        next_attempt: now,
        last_attempt: None,
        in_doubt: false,
        may_duplicate: false,
        notice: true,
        route: failed.route.clone(),
        failure: None,
    };
    let message = Message {
        segments: vec![Segment::Bytes(bytes)].into(),
        eight_bit: entry.eight_bit,
        line_end_growth: 0,
    };
    outbox.enqueue(&entry, &message)?;
    Ok(Some(entry.id))
}

/// `queue run --watch`: runs what is due, then waits until the next entry
/// is due or the spool changes (a new entry), and again, until interrupted.
pub async fn watch(
    outbox: &Outbox,
    qs: &QueueSettings,
    opts: RunOptions,
    report: &mut dyn FnMut(Event),
) -> Result<()> {
    let stamp = |o: &Outbox| std::fs::metadata(o.dir()).and_then(|m| m.modified()).ok();
    loop {
        let next = run::run(outbox, qs, opts, report).await?;
        let seen = stamp(outbox);
        loop {
            let wait = tokio::time::sleep(Duration::from_millis(500));
            tokio::select! {
                _ = wait => {}
                _ = tokio::signal::ctrl_c() => return Ok(()),
            }
            let due = next.is_some_and(|n| n <= now());
            if due || stamp(outbox) != seen {
                break;
            }
        }
    }
}
