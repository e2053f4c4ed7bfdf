//! What a bulk run shows: a progress bar on a terminal (sent / total, rate,
//! ETA, refused, failed), a plain line every few seconds elsewhere, one
//! JSON object per row with `--json` (then a summary), and the exit code.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use missive_smtp::Reply;
use serde_json::json;

use super::journal::State;
use crate::error::exit;

/// Counts of a run, and of the runs before it (from the journal).
#[derive(Debug, Default, Clone)]
pub(crate) struct Tally {
    pub accepted: usize,
    pub refused: usize,
    pub deferred: usize,
    pub in_doubt: usize,
    pub done_before_accepted: usize,
    pub done_before_refused: usize,
    pub in_doubt_before: usize,
}

impl Tally {
    pub fn count(&mut self, s: State) {
        match s {
            State::Accepted => self.accepted += 1,
            State::Refused => self.refused += 1,
            State::InDoubt | State::Committing => self.in_doubt += 1,
            _ => self.deferred += 1,
        }
    }

    fn done(&self) -> usize {
        self.accepted + self.refused + self.deferred + self.in_doubt
    }

    /// 75 while anything is left to retry (or in doubt), else 69 when a row was refused, else 0.
    pub fn exit_code(&self) -> i32 {
        if self.deferred + self.in_doubt + self.in_doubt_before > 0 {
            exit::TEMPFAIL
        } else if self.refused + self.done_before_refused > 0 {
            exit::UNAVAILABLE
        } else {
            exit::OK
        }
    }
}

/// One row's result, as reported.
pub(crate) struct RowReport<'a> {
    pub row: usize,
    pub to: &'a str,
    pub message_id: &'a str,
    pub state: State,
    pub reply: Option<&'a Reply>,
    pub why: &'a str,
}

pub(crate) struct Progress {
    bar: Option<ProgressBar>,
    json: bool,
    quiet: bool,
    total: usize,
    started: Instant,
    last_line: Instant,
}

/// How often the plain progress line is printed when stderr is not a terminal.
const PLAIN_EVERY: Duration = Duration::from_secs(5);

impl Progress {
    pub fn new(total: usize, json: bool, quiet: bool) -> Progress {
        let bar = (!json && !quiet && total > 0 && std::io::stderr().is_terminal()).then(|| {
            let bar =
                ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template(
                    "{bar:30} {pos}/{len} sent, {per_sec}, ETA {eta} {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar
        });
        Progress {
            bar,
            json,
            quiet,
            total,
            started: Instant::now(),
            last_line: Instant::now(),
        }
    }

    /// A line for the user (above the bar, when there is one).
    pub fn note(&self, line: &str) {
        match &self.bar {
            Some(b) => b.println(format!("missive: {line}")),
            None => eprintln!("missive: {line}"),
        }
    }

    pub fn row(&mut self, r: &RowReport, tally: &Tally) {
        if r.state != State::Accepted {
            let what = match r.state {
                State::Refused => "refused",
                State::InDoubt => "in doubt (the end of the message went out, no reply came)",
                _ => "deferred",
            };
            let why = r.reply.map_or_else(|| r.why.to_string(), Reply::summary);
            self.note(&format!("row {} {} {what}: {why}", r.row, r.to));
        }
        if self.json {
            let line = json!({
                "row": r.row,
                "to": r.to,
                "message_id": r.message_id,
                "state": r.state,
                "code": r.reply.map(|x| x.code.value()),
                "enhanced": r.reply.and_then(|x| x.enhanced).map(|e| e.to_string()),
                "text": r.reply.map(Reply::text).or_else(|| Some(r.why.to_string()).filter(|w| !w.is_empty())),
            });
            println!("{line}");
        }
        if let Some(b) = &self.bar {
            b.inc(1);
            b.set_message(format!(
                "{} refused, {} failed",
                tally.refused,
                tally.deferred + tally.in_doubt
            ));
        } else if !self.json && !self.quiet && self.last_line.elapsed() >= PLAIN_EVERY {
            self.last_line = Instant::now();
            let rate = tally.done() as f64 / self.started.elapsed().as_secs_f64().max(0.001);
            eprintln!(
                "missive: bulk: {}/{} done, {} refused, {} failed, {rate:.0}/s",
                tally.done(),
                self.total,
                tally.refused,
                tally.deferred + tally.in_doubt
            );
        }
    }

    /// The summary, and the exit code.
    pub fn finish(self, t: &Tally) -> i32 {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
        let code = t.exit_code();
        let secs = self.started.elapsed().as_secs_f64();
        if self.json {
            println!(
                "{}",
                json!({
                    "summary": true,
                    "sent": t.done(),
                    "accepted": t.accepted,
                    "refused": t.refused,
                    "deferred": t.deferred,
                    "in_doubt": t.in_doubt,
                    "done_before": t.done_before_accepted + t.done_before_refused,
                    "in_doubt_before": t.in_doubt_before,
                    "seconds": (secs * 1000.0).round() / 1000.0,
                    "exit_code": code,
                })
            );
        } else if !self.quiet || code != exit::OK {
            let before = match t.done_before_accepted + t.done_before_refused {
                0 => String::new(),
                n => format!(" ({n} rows were done before)"),
            };
            let doubt = match t.in_doubt + t.in_doubt_before {
                0 => String::new(),
                n => format!(", {n} in doubt"),
            };
            println!(
                "bulk: {} accepted, {} refused, {} deferred{doubt} in {secs:.1} s{before}",
                t.accepted, t.refused, t.deferred
            );
        }
        code
    }
}
