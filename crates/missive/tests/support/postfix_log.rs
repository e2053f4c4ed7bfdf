//! Postfix's log, read back: which smtpd sessions carried mail to given
//! recipients, so tests can count the SMTP sessions a client used.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use super::Testbed;

/// One smtpd session in Postfix's log: the queue ids it took and its
/// `disconnect` line.
#[derive(Debug, Default)]
pub struct LoggedSession {
    pub queue_ids: Vec<String>,
    pub disconnect: Option<String>,
}

/// The sessions in Postfix's log that carried mail to any of `rcpts`,
/// waiting (bounded) until each of them has logged its disconnect.
pub fn sessions_for(tb: &Testbed, rcpts: &[String]) -> Vec<LoggedSession> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let log = std::fs::read_to_string(tb.postfix_log()).unwrap_or_default();
        let ours = sessions_in(&log, rcpts);
        let found: usize = ours.iter().map(|s| s.queue_ids.len()).sum();
        let done = ours.iter().all(|s| s.disconnect.is_some());
        if (found == rcpts.len() && done) || Instant::now() > deadline {
            return ours;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn sessions_in(log: &str, rcpts: &[String]) -> Vec<LoggedSession> {
    let wanted: HashSet<String> = rcpts.iter().map(|r| format!("to=<{r}>")).collect();
    // Queue ids delivered to one of ours.
    let mut our_ids = HashSet::new();
    for line in log.lines() {
        if let Some((_, rest)) = line.split_once("]: ") {
            if let Some((id, tail)) = rest.split_once(": ") {
                if wanted.iter().any(|w| tail.starts_with(w.as_str())) {
                    our_ids.insert(id.to_string());
                }
            }
        }
    }
    // Sessions per smtpd process, in order.
    let mut open: HashMap<String, LoggedSession> = HashMap::new();
    let mut closed = Vec::new();
    for line in log.lines() {
        let Some((head, rest)) = line.split_once("]: ") else {
            continue;
        };
        let Some(proc_) = head.rsplit(' ').next().filter(|p| p.contains("/smtpd[")) else {
            continue;
        };
        if rest.starts_with("connect from ") {
            open.insert(proc_.to_string(), LoggedSession::default());
        } else if rest.starts_with("disconnect from ") {
            if let Some(mut s) = open.remove(proc_) {
                s.disconnect = Some(rest.to_string());
                closed.push(s);
            }
        } else if let Some((id, tail)) = rest.split_once(": ") {
            if tail.starts_with("client=") && our_ids.contains(id) {
                if let Some(s) = open.get_mut(proc_) {
                    s.queue_ids.push(id.to_string());
                }
            }
        }
    }
    closed.extend(open.into_values());
    closed.retain(|s| !s.queue_ids.is_empty());
    closed
}
