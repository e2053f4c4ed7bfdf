//! Delivering the queue: every entry that is due (or all, for a flush),
//! grouped by route so that messages to one route share a connection (one
//! [`Mailer`] per route), each entry locked while it is delivered, its
//! state saved "in doubt" just before the end of its message goes out, and
//! saved again with each recipient's reply.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use missive_smtp::envelope::Dsn;

use super::entry::{Entry, Recipient, State, StoredRoute};
use super::spool::{now, Outbox, Read};
use super::{enqueue_notice, Event};
use crate::deliver::{Mailer, Status};
use crate::error::{exit, AppError, Result};
use crate::message::Mail;
use crate::settings::{self, QueueSettings};

/// How a run goes.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunOptions {
    /// Every entry now, whatever its schedule (`queue flush`).
    pub flush: bool,
    /// The SMTP transcript on stderr.
    pub verbosity: u8,
}

/// One pass over the queue and its followers (notices queued meanwhile),
/// each entry at most once. Returns when the next remaining entry is due.
pub async fn run(
    outbox: &Outbox,
    qs: &QueueSettings,
    opts: RunOptions,
    report: &mut dyn FnMut(Event),
) -> Result<Option<u64>> {
    let mut runner = Runner {
        outbox,
        qs,
        opts,
        report,
        done: HashSet::new(),
    };
    loop {
        let due = runner.due()?;
        if due.is_empty() {
            break;
        }
        let mut groups: Vec<(StoredRoute, Vec<Entry>)> = Vec::new();
        for e in due {
            match groups.iter_mut().find(|(r, _)| *r == e.route) {
                Some((_, v)) => v.push(e),
                None => groups.push((e.route.clone(), vec![e])),
            }
        }
        for (route, entries) in groups {
            runner.group(&route, entries).await?;
        }
    }
    let mut next: Option<u64> = None;
    for id in outbox.ids()? {
        if let Read::Entry(e) = outbox.read(&id) {
            next = Some(next.map_or(e.next_attempt, |n| n.min(e.next_attempt)));
        }
    }
    Ok(next)
}

struct Runner<'a> {
    outbox: &'a Outbox,
    qs: &'a QueueSettings,
    opts: RunOptions,
    report: &'a mut dyn FnMut(Event),
    /// Entries handled in this run (each at most once).
    done: HashSet<String>,
}

/// The mailer of a route, built when the first entry needs it.
enum RouteState {
    NotYet,
    Ready(Mailer),
    /// The route cannot be used now (no connection, a login that fails):
    /// its other entries wait for the next attempt.
    Down(String),
}

impl Runner<'_> {
    fn is_due(&self, e: &Entry) -> bool {
        self.opts.flush || e.next_attempt <= now() || self.expired(e)
    }

    /// Out of lifetime: the remaining recipients fail. An entry is always
    /// tried once first (a notice queued by this run, an entry stored with
    /// `queue = always` while no runner ran).
    fn expired(&self, e: &Entry) -> bool {
        e.attempts > 0 && now().saturating_sub(e.created) >= self.qs.lifetime.as_secs()
    }

    /// Moves aside what is not an entry, and returns the due entries.
    fn due(&mut self) -> Result<Vec<Entry>> {
        for name in self.outbox.strays()? {
            self.corrupt(&name, "not a queue entry".into());
        }
        let mut due = Vec::new();
        for id in self.outbox.ids()? {
            if self.done.contains(&id) {
                continue;
            }
            match self.outbox.read(&id) {
                Read::Entry(e) if self.is_due(&e) => due.push(*e),
                Read::Entry(_) | Read::Gone => {}
                Read::Corrupt(why) => {
                    self.corrupt(&format!("{id}.json"), why);
                    let _ = self.outbox.move_to_corrupt(&format!("{id}.msg"));
                }
            }
        }
        Ok(due)
    }

    fn corrupt(&mut self, name: &str, why: String) {
        // Another runner may have moved it first: it reported it then.
        if let Ok(moved) = self.outbox.move_to_corrupt(name) {
            (self.report)(Event::Corrupt {
                name: name.to_string(),
                why,
                moved,
            });
        }
    }

    async fn group(&mut self, route: &StoredRoute, entries: Vec<Entry>) -> Result<()> {
        let mut state = RouteState::NotYet;
        for e in entries {
            let Some(lock) = self.outbox.try_lock(&e.id)? else {
                // Held by another run, unless that run just finished it.
                if !matches!(self.outbox.read(&e.id), Read::Gone) {
                    (self.report)(Event::Busy { id: e.id.clone() });
                }
                self.done.insert(e.id);
                continue;
            };
            // Read again under the lock: another runner may have delivered it.
            let e = match self.outbox.read(&e.id) {
                Read::Entry(e) if self.is_due(&e) => *e,
                _ => continue,
            };
            self.done.insert(e.id.clone());
            if let Err(err) = self.entry(e.clone(), route, &mut state).await {
                (self.report)(Event::Error {
                    id: e.id.clone(),
                    why: err.to_string(),
                });
            }
            drop(lock);
        }
        if let RouteState::Ready(m) = state {
            m.close().await;
        }
        Ok(())
    }

    async fn entry(
        &mut self,
        mut e: Entry,
        route: &StoredRoute,
        state: &mut RouteState,
    ) -> Result<()> {
        if e.in_doubt {
            // A runner died after an end of data went out: the server may have it.
            e.in_doubt = false;
            e.may_duplicate = true;
        }
        if self.expired(&e) {
            let life = human(self.qs.lifetime);
            for r in e
                .recipients
                .iter_mut()
                .filter(|r| r.state == State::Pending)
            {
                r.state = State::Refused;
                let last = r.last_reply.clone().unwrap_or_else(|| "never tried".into());
                r.last_reply = Some(format!(
                    "{last} (not delivered within the queue lifetime, {life})"
                ));
                (self.report)(Event::Refused {
                    id: e.id.clone(),
                    address: r.address.clone(),
                    why: r.last_reply.clone().unwrap_or_default(),
                });
            }
            e.failure = Some(format!("the queue lifetime ({life}) ran out"));
            return self.settle(e);
        }
        if let RouteState::NotYet = state {
            *state = match mailer(route, self.opts.verbosity) {
                Ok(m) => RouteState::Ready(m),
                Err(err) => RouteState::Down(err.to_string()),
            };
        }
        let now = now();
        e.attempts += 1;
        e.last_attempt = Some(now);
        for r in e
            .recipients
            .iter_mut()
            .filter(|r| r.state == State::Pending)
        {
            r.attempts += 1;
        }
        let mailer = match state {
            RouteState::Ready(m) => m.clone(),
            RouteState::Down(why) => {
                let why = why.clone();
                self.defer_all(&mut e, &why);
                return self.settle(e);
            }
            RouteState::NotYet => unreachable!("set above"),
        };
        let pending: Vec<String> = e.pending().map(|r| r.address.clone()).collect();
        let to: Vec<&str> = pending.iter().map(String::as_str).collect();
        let mut mail = Mail::new(&e.sender, &to, self.outbox.message(&e)?)?
            .with_message_id(e.message_id.clone());
        mail.envelope.dsn = Dsn {
            ret: e.dsn.ret.clone(),
            envid: e.dsn.envid.clone(),
            notify: e.dsn.notify.clone(),
        };
        mail.envelope.require_tls = e.require_tls;
        let mut doubt = e.clone();
        doubt.in_doubt = true;
        let doubt = serde_json::to_vec_pretty(&doubt)
            .map_err(|err| AppError::Spool(format!("cannot encode entry {}: {err}", e.id)))?;
        let hook_error = Mutex::new(None);
        let committed = AtomicBool::new(false);
        let (outbox, id) = (self.outbox, e.id.clone());
        let on_commit = || {
            committed.store(true, Ordering::SeqCst);
            if let Err(err) = outbox.save_bytes(&id, &doubt) {
                if let Ok(mut slot) = hook_error.lock() {
                    *slot = Some(err.to_string());
                }
            }
        };
        let result = mailer.send_committing(&mail, &on_commit).await;
        if let Some(why) = hook_error.lock().ok().and_then(|mut s| s.take()) {
            (self.report)(Event::Error {
                id: e.id.clone(),
                why: format!("could not mark the entry in doubt: {why}"),
            });
        }
        // An error once the end of the message went out: the server may
        // have it, and the next attempt may deliver it twice (RFC 1047).
        if result.is_err() && committed.load(Ordering::SeqCst) {
            e.may_duplicate = true;
        }
        match result {
            Ok(outcome) => {
                for o in &outcome.recipients {
                    let Some(r) = e
                        .recipients
                        .iter_mut()
                        .find(|r| r.state == State::Pending && r.address == o.address)
                    else {
                        continue;
                    };
                    r.last_reply = Some(o.why());
                    r.status = o
                        .reply
                        .as_ref()
                        .and_then(|x| x.enhanced)
                        .map(|s| s.to_string());
                    let (id, address, why) = (e.id.clone(), r.address.clone(), o.why());
                    match o.status {
                        Status::Accepted => {
                            r.state = State::Accepted;
                            (self.report)(Event::Delivered {
                                id,
                                address,
                                reply: why,
                            });
                        }
                        Status::Deferred => {
                            (self.report)(Event::Deferred { id, address, why });
                        }
                        Status::Refused | Status::NoSuchDomain => {
                            r.state = State::Refused;
                            (self.report)(Event::Refused { id, address, why });
                        }
                    }
                }
            }
            Err(err) => {
                let why = err.to_string();
                match err.exit_code() {
                    exit::UNAVAILABLE | exit::DATAERR => {
                        for r in e
                            .recipients
                            .iter_mut()
                            .filter(|r| r.state == State::Pending)
                        {
                            r.state = State::Refused;
                            r.last_reply = Some(why.clone());
                            (self.report)(Event::Refused {
                                id: e.id.clone(),
                                address: r.address.clone(),
                                why: why.clone(),
                            });
                        }
                    }
                    _ => {
                        if route_down(&err) {
                            *state = RouteState::Down(why.clone());
                        }
                        self.defer_all(&mut e, &why);
                    }
                }
            }
        }
        e.in_doubt = false;
        self.settle(e)
    }

    fn defer_all(&mut self, e: &mut Entry, why: &str) {
        for r in e
            .recipients
            .iter_mut()
            .filter(|r| r.state == State::Pending)
        {
            r.last_reply = Some(why.to_string());
            (self.report)(Event::Deferred {
                id: e.id.clone(),
                address: r.address.clone(),
                why: why.to_string(),
            });
        }
    }

    /// Saves the entry's new state: removed when done, moved to `failed/`
    /// (with a notice) when a recipient failed, else scheduled again.
    fn settle(&mut self, mut e: Entry) -> Result<()> {
        if e.has_pending() {
            let delay = backoff(self.qs, e.attempts);
            e.next_attempt = now() + delay.as_secs();
            self.outbox.save(&e)?;
            (self.report)(Event::Scheduled {
                id: e.id.clone(),
                next: e.next_attempt,
            });
            return Ok(());
        }
        let unreported = |r: &Recipient| r.state == State::Refused && !r.reported;
        if !e.recipients.iter().any(unreported) {
            self.outbox.remove(&e.id)?;
            (self.report)(Event::Done { id: e.id });
            return Ok(());
        }
        if e.failure.is_none() {
            e.failure = Some("permanently refused".into());
        }
        let notice = match self.qs.notify_failures {
            true => enqueue_notice(self.outbox, &e)?,
            false => None,
        };
        for r in e.recipients.iter_mut().filter(|r| unreported(r)) {
            r.reported = true;
        }
        self.outbox.move_to_failed(&e)?;
        (self.report)(Event::Failed { id: e.id, notice });
        Ok(())
    }
}

/// The delay before the next attempt after `attempts`: the first backoff,
/// doubled each time, capped.
pub fn backoff(qs: &QueueSettings, attempts: u32) -> Duration {
    let doublings = attempts.saturating_sub(1).min(30);
    qs.backoff
        .saturating_mul(1u32 << doublings)
        .min(qs.backoff_max)
}

/// Errors that say the route cannot be used now: the other entries on it
/// wait rather than try again at once.
fn route_down(e: &AppError) -> bool {
    use missive_smtp::Error as Smtp;
    match e {
        AppError::Network(_)
        | AppError::Timeout { .. }
        | AppError::Deadline { .. }
        | AppError::NoHost(_)
        | AppError::Tls(_)
        | AppError::Auth(_)
        | AppError::Config(_) => true,
        AppError::Smtp(s) => matches!(
            s,
            Smtp::AuthFailed { .. }
                | Smtp::AuthUnavailable { .. }
                | Smtp::TlsUnavailable
                | Smtp::StartTlsRefused(_)
                | Smtp::PlaintextAuth
                | Smtp::UnverifiedTlsAuth
        ),
        _ => false,
    }
}

/// A mailer for a stored route: the settings resolved again (secrets too).
fn mailer(route: &StoredRoute, verbosity: u8) -> Result<Mailer> {
    let s = settings::resolve(&route.overrides())?;
    Mailer::new(settings::mailer_options(&s, false, verbosity)?)
}

/// `5d`, `3h`, `10m`, `45s`.
pub fn human(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        _ if s >= 86400 && s % 86400 == 0 => format!("{}d", s / 86400),
        _ if s >= 3600 && s % 3600 == 0 => format!("{}h", s / 3600),
        _ if s >= 60 && s % 60 == 0 => format!("{}m", s / 60),
        _ => format!("{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let qs = QueueSettings::default();
        let secs = |n| backoff(&qs, n).as_secs();
        assert_eq!([secs(1), secs(2), secs(3), secs(7)], [60, 120, 240, 3600]);
        assert_eq!(secs(100), 3600);
    }
}
