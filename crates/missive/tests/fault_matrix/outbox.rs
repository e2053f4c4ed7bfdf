//! The outbox column: each relay cell again, with the message queued
//! (`send --queue always`) and delivered by `queue flush` against the
//! faulty server. Then what the outbox kept is checked against its rules
//! (`src/outbox/run.rs`), and whatever it kept for another attempt is
//! delivered by a second flush against a healthy server on the same port:
//! nothing is lost, and nothing delivered is sent again.

use std::time::Duration;

use serde_json::Value;

use super::{bound, check_log, script, Expect, Fault, Route, Stage, PASSWORD, TIMEOUT};
use crate::support::fake_smtp::{ca_file, Log, Script, Server, BODY, FROM, TO};
use crate::support::*;

/// What the table's outbox cells say.
pub(super) const LEGEND: &str = "what the outbox made of the first flush (sent: delivered and removed; failed: in failed/, the sender's notice delivered; kept: pending with its reason, then delivered by the next flush; doubt: kept and marked in doubt, as the end of the message had gone out) and its time";

/// What the outbox must make of a cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fate {
    /// The server accepted the message: the entry is gone.
    Sent,
    /// Refused for good (a 5xx for the message or its one recipient):
    /// moved to `failed/`, and a failure notice queued for the sender.
    Failed,
    /// Kept for another attempt, with the reason; `in_doubt` once the end
    /// of the message went out and no answer came (RFC 1047).
    Kept { in_doubt: bool },
}

impl Fate {
    fn name(self) -> &'static str {
        match self {
            Fate::Sent => "sent",
            Fate::Failed => "failed",
            Fate::Kept { in_doubt: false } => "kept",
            Fate::Kept { in_doubt: true } => "doubt",
        }
    }
}

/// The outbox's rules applied to what the relay cell comes to: 5xx fails
/// the message; everything else that fails waits for the next attempt —
/// 4xx, a lost, stalled or closing connection, a protocol error, and TLS
/// or AUTH refusals too (exit 77: the route's settings are at fault, not
/// the message, and may be fixed within the queue lifetime).
fn fate(want: &Expect, stage: Stage, fault: Fault) -> Fate {
    match want.code {
        0 => Fate::Sent,
        69 => Fate::Failed,
        _ => Fate::Kept {
            // A reply to the end of the message (4xx) is an answer; no
            // reply, garbage or a 421 instead of one leaves it in doubt.
            in_doubt: matches!(stage, Stage::Bdat | Stage::EndOfData)
                && !matches!(fault, Fault::Temp | Fault::Perm),
        },
    }
}

/// The server's healthy second self.
fn healthy() -> Script {
    Script::new().caps(&[
        "8BITMIME",
        "SIZE 10240000",
        "ENHANCEDSTATUSCODES",
        "STARTTLS",
        "AUTH PLAIN LOGIN",
    ])
}

/// Runs one outbox cell (one that applies to the relay).
pub(super) fn run_cell(stage: Stage, fault: Fault, want: &Expect) -> Result<String, String> {
    let fate = fate(want, stage, fault);
    let home = Home::new("matrix-outbox");
    let server = Server::start_each(vec![script(Route::Relay, stage, fault), healthy()]);
    let result = run(&home, &server, fault, want, fate);
    let logs = server.finish_each();
    result.and_then(|(text, mut problems)| {
        problems.extend(check_log(stage, want.code, &logs[0]));
        problems.extend(check_second(fate, &logs[1]));
        if fate == Fate::Sent && logs[0].messages.len() != 1 {
            problems.push(format!(
                "the server got {} messages",
                logs[0].messages.len()
            ));
        }
        match problems.is_empty() {
            true => Ok(text),
            false => Err(problems.join("\n")),
        }
    })
}

/// The runs of a cell; the table's text and the problems found so far.
/// `Err` when a step could not go on.
fn run(
    home: &Home,
    server: &Server,
    fault: Fault,
    want: &Expect,
    fate: Fate,
) -> Result<(String, Vec<String>), String> {
    let cmd = |args: &[&str]| home.cmd(args).env("MATRIX_PW", PASSWORD).run();
    let (relay, timeout, ca) = (
        format!("127.0.0.1:{}", server.port),
        TIMEOUT.to_string(),
        ca_file(),
    );
    let queued = cmd(&[
        "send",
        "--queue",
        "always",
        "--server",
        &relay,
        "--tls",
        "starttls",
        "--cafile",
        &ca,
        "--user",
        FROM,
        "--password-env",
        "MATRIX_PW",
        "--timeout",
        &timeout,
        "--from",
        FROM,
        "--to",
        TO,
        "--ehlo",
        "client.test",
        "--subject",
        "fault matrix",
        "--body",
        BODY,
    ]);
    let id = match (queued.code, queued.stderr.split("queued as ").nth(1)) {
        (0, Some(rest)) => rest
            .split(':')
            .next()
            .unwrap_or_default()
            .trim()
            .to_string(),
        _ => return Err(format!("not queued\n{queued}")),
    };
    let mut problems = Vec::new();
    let first = cmd(&["queue", "flush"]);
    if first.code != 0 {
        problems.push(format!("the first flush exited {}\n{first}", first.code));
    }
    if first.elapsed > bound(fault) {
        problems.push(format!(
            "the first flush took {:?} (bound {:?})",
            first.elapsed,
            bound(fault)
        ));
    }
    let pending = entries(home, &["queue", "list", "--json"])?;
    let entry = pending.iter().find(|e| e["id"] == id.as_str());
    match fate {
        Fate::Sent => {
            if entry.is_some() || !first.stdout.contains(&format!("{id}: delivered to {TO}")) {
                problems.push(format!("not delivered and removed\n{first}"));
            }
        }
        Fate::Failed => {
            let show = entries(home, &["queue", "show", &id, "--json"])?;
            let failed = &show[0];
            if entry.is_some() || failed["failed"] != true {
                problems.push(format!("not in failed/: {failed}"));
            }
            problems.extend(recipient(failed, "refused", want.needle));
            let said = format!("{id}: moved to failed/; failure notice queued as");
            if !first.stderr.contains(&said) {
                problems.push(format!("no {said:?}\n{first}"));
            }
            // The notice went out in the same run, to the healthy server.
            if !pending.is_empty() {
                problems.push(format!("the notice was not delivered: {pending:?}"));
            }
        }
        Fate::Kept { in_doubt } => {
            let Some(entry) = entry else {
                return Err(format!("the message was lost: not in the queue\n{first}"));
            };
            problems.extend(recipient(entry, "pending", want.needle));
            if entry["in_doubt"] != in_doubt {
                problems.push(format!(
                    "in_doubt is {} (expected {in_doubt})",
                    entry["in_doubt"]
                ));
            }
            if !first.stderr.contains(&format!("{id}: {TO} deferred: ")) {
                problems.push(format!("no deferral line\n{first}"));
            }
            // The server works again: the next flush delivers it.
            let second = cmd(&["queue", "flush"]);
            let said = format!("{id}: delivered to {TO}");
            if second.code != 0 || !second.stdout.contains(&said) {
                problems.push(format!("the healthy flush did not deliver it\n{second}"));
            }
            if second.elapsed > Duration::from_secs(10) {
                problems.push(format!("the healthy flush took {:?}", second.elapsed));
            }
            let left = entries(home, &["queue", "list", "--json"])?;
            if !left.is_empty() {
                problems.push(format!("still queued after delivery: {left:?}"));
            }
        }
    }
    let text = format!("{} {:.1}s", fate.name(), first.elapsed.as_secs_f32());
    Ok((text, problems))
}

/// The JSON of `queue list --json` (an array) or `queue show --json` (one).
fn entries(home: &Home, args: &[&str]) -> Result<Vec<Value>, String> {
    let out = home.cmd(args).run();
    if out.code != 0 {
        return Err(format!("{args:?} exited {}\n{out}", out.code));
    }
    match serde_json::from_str::<Value>(&out.stdout) {
        Ok(Value::Array(v)) => Ok(v),
        Ok(v) => Ok(vec![v]),
        Err(e) => Err(format!("{args:?}: not JSON ({e})\n{out}")),
    }
}

/// The entry's one recipient: in `state`, its reason naming `needle`.
fn recipient(entry: &Value, state: &str, needle: &str) -> Vec<String> {
    let r = &entry["recipients"][0];
    let mut problems = Vec::new();
    if r["address"] != TO || r["state"] != state || r["attempts"] != 1 {
        problems.push(format!("recipient {r} (expected {state}, 1 attempt)"));
    }
    let why = r["last_reply"].as_str().unwrap_or_default();
    if !why.contains(needle) {
        problems.push(format!("its reason {why:?} lacks {needle:?}"));
    }
    problems
}

/// What the healthy server must have got: the message once (kept), the
/// failure notice from the null sender (failed), or nothing.
fn check_second(fate: Fate, log: &Log) -> Vec<String> {
    let body = BODY.trim_end();
    let got = |s: &str| {
        let s = s.to_ascii_uppercase();
        log.lines
            .iter()
            .any(|l| l.to_ascii_uppercase().starts_with(&s))
    };
    let ok = match fate {
        Fate::Sent => log.lines.is_empty(),
        Fate::Kept { .. } => {
            log.messages.len() == 1 && String::from_utf8_lossy(&log.messages[0]).contains(body)
        }
        Fate::Failed => {
            log.messages.len() == 1 && got("MAIL FROM:<> ") && got(&format!("RCPT TO:<{FROM}>"))
        }
    };
    match ok {
        true => Vec::new(),
        false => vec![format!(
            "the healthy server got {} message(s); its commands: {:?}",
            log.messages.len(),
            log.lines
        )],
    }
}
