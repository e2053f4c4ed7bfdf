//! The one place a send's [`Outcome`] becomes words: a line per refused
//! recipient (`missive: … refused: …`, `hint: …`), a line per delivery,
//! the `--json` report, and the exit code, from the recipients' ordered
//! [`Status`].

use serde::Serialize;

use crate::deliver::{Hop, Outcome, RecipientOutcome, Status};
use crate::error::{exit, hints, printable, AppError, Result};
use crate::message::Mail;
use crate::transport::tls::TlsInfo;
use crate::transport::transcript::{paint, Paint};

/// `missive: …` on stderr, in the error colour on a terminal.
/// Text from the network or a client is escaped (no control characters reach the terminal).
pub(crate) fn error_line(text: &str) {
    eprintln!(
        "{}",
        paint(Paint::Error, &format!("missive: {}", printable(text)))
    );
}

/// `hint: …` (or `note:`, `next:`, `warning:`) on stderr, in the hint colour on a terminal.
pub(crate) fn hint_line(tag: &str, text: &str) {
    eprintln!(
        "{}",
        paint(Paint::Hint, &format!("{tag}: {}", printable(text)))
    );
}

/// How much to print.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Output {
    /// Print a JSON report on stdout (and no success lines).
    pub json: bool,
    /// Print nothing on success.
    pub quiet: bool,
}

/// The exit code of a recipient's fate (sysexits, as the README lists).
pub(crate) fn exit_code(status: Status) -> i32 {
    match status {
        Status::Accepted => exit::OK,
        Status::Deferred => exit::TEMPFAIL,
        Status::NoSuchDomain => exit::NOHOST,
        Status::Refused => exit::UNAVAILABLE,
    }
}

/// The `--json` report.
#[derive(Debug, Serialize)]
struct Report {
    /// The relay, or `null` for direct delivery (each recipient names its MX host).
    server: Option<String>,
    tls: Option<TlsInfo>,
    authenticated: bool,
    message_id: String,
    queue_id: Option<String>,
    /// The outbox entry that keeps what failed temporarily.
    #[serde(skip_serializing_if = "Option::is_none")]
    queued_as: Option<String>,
    recipients: Vec<RecipientReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    /// What to do about the error, when missive knows.
    #[serde(skip_serializing_if = "Option::is_none")]
    hint: Option<String>,
    exit_code: i32,
}

#[derive(Debug, Serialize)]
struct RecipientReport {
    address: String,
    accepted: bool,
    code: Option<u16>,
    enhanced: Option<String>,
    text: Option<String>,
    /// What to do about a refusal, when missive knows.
    #[serde(skip_serializing_if = "Option::is_none")]
    hint: Option<String>,
    /// Kept in the outbox for another attempt.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    queued: bool,
    /// Direct delivery: how this recipient's domain was reached.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    direct: Option<Hop>,
}

impl RecipientReport {
    fn new(r: &RecipientOutcome) -> RecipientReport {
        let reply = r.reply.as_ref();
        RecipientReport {
            address: r.address.clone(),
            accepted: r.accepted(),
            code: reply.map(|x| x.code.value()),
            enhanced: reply.and_then(|x| x.enhanced).map(|e| e.to_string()),
            text: reply.map(|x| x.text()).or_else(|| r.reason.clone()),
            hint: reply.filter(|_| !r.accepted()).and_then(hints::for_reply),
            queued: false,
            direct: r.hop.clone(),
        }
    }
}

/// The line printed for a recipient that was not accepted.
fn failure_line(r: &RecipientOutcome) -> String {
    match &r.hop {
        None => format!("{} refused: {}", r.address, r.why()),
        Some(Hop { mx: Some(mx), .. }) if r.reply.is_some() => {
            format!("{} refused by {mx}: {}", r.address, r.why())
        }
        Some(_) => format!(
            "{} not delivered: {}",
            r.address,
            r.reason.clone().unwrap_or_else(|| r.why())
        ),
    }
}

/// Reports a send: what `Mailer::send` returned for `mail` (sent to
/// `server`, or directly when `None`). Returns the error that carries the
/// exit code, already reported in the lines (the caller prints it last).
/// With `queued`, the outbox entry that keeps what failed temporarily:
/// those recipients (or the whole message) are reported as queued, not
/// as failures.
pub(crate) fn finish(
    result: Result<Outcome>,
    mail: &Mail,
    server: Option<String>,
    out: Output,
    queued: Option<&str>,
) -> Result<()> {
    let quiet = out.quiet || out.json;
    let mut report = Report {
        server,
        tls: None,
        authenticated: false,
        message_id: mail.message_id.clone(),
        queue_id: None,
        queued_as: queued.map(str::to_string),
        recipients: Vec::new(),
        error: None,
        hint: None,
        exit_code: exit::OK,
    };
    let result = result.and_then(|outcome| {
        report.tls = outcome.tls.clone();
        report.authenticated = outcome.authenticated;
        report.queue_id = outcome.queue_id.clone();
        report.recipients = outcome
            .recipients
            .iter()
            .map(RecipientReport::new)
            .collect();
        judge(&outcome, mail, &mut report, quiet, queued)
    });
    // A message that could not be sent at all, queued as a whole.
    let result = match (result, queued) {
        (Err(e), Some(id)) if report.recipients.is_empty() => {
            eprintln!("missive: queued as {id}: {e}");
            report.error = Some(e.to_string());
            report.recipients = mail
                .envelope
                .to
                .iter()
                .map(|a| RecipientReport {
                    address: a.clone(),
                    accepted: false,
                    code: None,
                    enhanced: None,
                    text: Some(e.to_string()),
                    hint: None,
                    queued: true,
                    direct: None,
                })
                .collect();
            Ok(())
        }
        (r, _) => r,
    };
    if let Err(e) = &result {
        report.error = Some(e.to_string());
        if let Some(h) = e.hint() {
            report.hint = Some(h);
        }
        report.exit_code = e.exit_code();
    }
    if out.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
    }
    result
}

/// Prints each recipient's line; refusals make the error, the worst status its exit code.
fn judge(
    outcome: &Outcome,
    mail: &Mail,
    report: &mut Report,
    quiet: bool,
    queued: Option<&str>,
) -> Result<()> {
    let direct = outcome.server.is_none();
    let is_queued = |r: &RecipientOutcome| queued.is_some() && r.status == Status::Deferred;
    for (r, rr) in outcome.recipients.iter().zip(report.recipients.iter_mut()) {
        if is_queued(r) {
            rr.queued = true;
            eprintln!(
                "missive: queued as {}: {}: {}",
                queued.unwrap_or_default(),
                r.address,
                printable(&r.why())
            );
        } else if !r.accepted() {
            error_line(&failure_line(r));
            if let Some(h) = r.reply.as_ref().and_then(hints::for_reply) {
                hint_line("hint", &h);
            }
        } else if direct && !quiet {
            let hop = r.hop.as_ref();
            let line = format!(
                "sent {} to {} via {}[{}]",
                outcome.message_id,
                r.address,
                hop.and_then(|d| d.mx.as_deref()).unwrap_or("?"),
                hop.and_then(|d| d.ip.as_deref()).unwrap_or("?"),
            );
            println!("{}", printable(&line));
        }
    }
    let total = outcome.recipients.len();
    let failed = outcome.failed().filter(|r| !is_queued(r)).count();
    if failed == 0 {
        if !direct && !quiet {
            let to: Vec<&str> = outcome
                .recipients
                .iter()
                .filter(|r| r.accepted())
                .map(|r| r.address.as_str())
                .collect();
            if to.is_empty() {
                return Ok(());
            }
            let queued = outcome
                .queue_id
                .as_ref()
                .map(|q| format!(" (queued as {q})"))
                .unwrap_or_default();
            let id = match outcome.message_id.is_empty() {
                true => "the message",
                false => &outcome.message_id,
            };
            let line = format!(
                "sent {id} to {} via {}{queued}",
                to.join(", "),
                outcome.server.as_deref().unwrap_or("?")
            );
            println!("{}", printable(&line));
        }
        return Ok(());
    }
    let msg = match (direct, failed == total) {
        (false, true) => {
            format!("the message was not accepted for any of the {total} recipient(s)")
        }
        (false, false) => {
            format!(
                "{failed} of {total} recipients refused; the message was accepted for the others"
            )
        }
        (true, true) => format!("the message was not delivered to any of the {total} recipient(s)"),
        (true, false) => format!("{failed} of {total} recipients not delivered; the others were"),
    };
    // A provider address sent directly is often refused or blocked: say how to use the provider.
    if direct {
        if let Some((key, preset)) = crate::settings::presets::for_address(&mail.envelope.from) {
            let hint = format!(
                "{} is a {} address: to send through its server, use --preset {key} (it needs {})",
                mail.envelope.from, preset.name, preset.note
            );
            hint_line("hint", &hint);
            report.hint = Some(hint);
        }
    }
    let worst = outcome
        .recipients
        .iter()
        .filter(|r| !is_queued(r))
        .map(|r| r.status)
        .max()
        .unwrap_or(Status::Accepted);
    Err(AppError::Refused(msg, exit_code(worst)))
}

/// The one place an error reaches the user: one line, prefixed `missive:`,
/// and a `hint:` line when missive knows what to do about it.
pub(crate) fn error(e: &AppError) {
    error_line(&e.to_string());
    if let Some(h) = e.hint() {
        hint_line("hint", &h);
    }
}
