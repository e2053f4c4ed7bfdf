//! How a `--quit-after` session is reported: a line per stage reached on
//! stdout (`-q`: none), or the `--json` report, and the exit code (0 when
//! every stage up to the one asked for went through).

use serde::Serialize;

use super::report::{exit_code, hint_line};
use missive_smtp::Reply;

use crate::deliver::{Diagnosis, QuitAfter, Status};
use crate::error::{AppError, Result};
use crate::transport::tls::TlsInfo;

use super::report::Output;

#[derive(Debug, Serialize, Default)]
struct Report {
    quit_after: &'static str,
    /// QUIT went out as asked.
    stopped: bool,
    server: Option<String>,
    peer: Option<String>,
    greeting: Option<String>,
    ehlo: Vec<String>,
    tls: Option<TlsInfo>,
    authenticated: bool,
    mail: Option<String>,
    recipients: Vec<Rcpt>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    hint: Option<String>,
    exit_code: i32,
}

#[derive(Debug, Serialize)]
struct Rcpt {
    address: String,
    accepted: bool,
    reply: String,
}

/// Reports a `--quit-after` session.
pub(crate) fn finish(result: Result<Diagnosis>, stage: QuitAfter, out: Output) -> Result<()> {
    let mut report = Report {
        quit_after: stage.name(),
        ..Report::default()
    };
    let result = result.and_then(|d| {
        fill(&mut report, &d);
        if !out.json && !out.quiet {
            print_text(&d);
        }
        judge(&d)
    });
    if let Err(e) = &result {
        report.error = Some(e.to_string());
        report.hint = e.hint();
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

fn fill(r: &mut Report, d: &Diagnosis) {
    r.stopped = d.stopped;
    r.server = Some(d.server.clone());
    r.peer = d.peer.clone();
    r.greeting = d.greeting.as_ref().map(|g| g.summary());
    r.ehlo = d.ehlo.clone();
    r.tls = d.tls.clone();
    r.authenticated = d.authenticated;
    r.mail = d.mail.as_ref().map(|m| m.summary());
    r.recipients = d.recipients.iter().map(rcpt).collect();
}

fn rcpt((address, reply): &(String, Option<Reply>)) -> Rcpt {
    Rcpt {
        address: address.clone(),
        accepted: accepted(reply),
        reply: shown(reply),
    }
}

fn accepted(reply: &Option<Reply>) -> bool {
    reply.as_ref().is_some_and(|r| r.code.is_positive())
}

fn shown(reply: &Option<Reply>) -> String {
    reply.as_ref().map_or("no reply".into(), |r| r.summary())
}

fn print_text(d: &Diagnosis) {
    let line = |k: &str, v: &str| println!("{k:<9} {v}");
    let peer = d
        .peer
        .as_deref()
        .map(|p| format!(" ({p})"))
        .unwrap_or_default();
    line("connect", &format!("{}{peer}", d.server));
    let q = d.quit_after;
    if q >= QuitAfter::Greeting {
        line(
            "greeting",
            &d.greeting.as_ref().map_or("-".into(), |g| g.summary()),
        );
    }
    if q >= QuitAfter::Ehlo {
        line("ehlo", &d.ehlo.join(", "));
    }
    if q >= QuitAfter::Tls {
        let tls = d.tls.as_ref().map_or("none".into(), |t| {
            let verified = match &t.problem {
                None => "certificate verified".to_string(),
                Some(p) => format!("certificate NOT verified: {p}"),
            };
            format!("{} {}, {verified}", t.version, t.cipher)
        });
        line("tls", &tls);
    }
    if q >= QuitAfter::Auth {
        line(
            "auth",
            if d.authenticated {
                "authenticated"
            } else {
                "none (no login)"
            },
        );
    }
    if let Some(m) = &d.mail {
        line("mail", &m.summary());
    }
    for (address, reply) in &d.recipients {
        line("rcpt", &format!("{address}: {}", shown(reply)));
    }
    let how = if q == QuitAfter::Connect {
        "closed the connection"
    } else if q >= QuitAfter::Mail {
        "RSET, QUIT"
    } else {
        "QUIT"
    };
    println!(
        "stopped after {} as asked ({how}); nothing was sent",
        q.name()
    );
}

/// Refusals at MAIL or RCPT are this run's failure; a stage that was not
/// reached (TLS not offered, no login) is reported, not failed.
fn judge(d: &Diagnosis) -> Result<()> {
    if let Some(m) = d.mail.as_ref().filter(|m| !m.code.is_positive()) {
        let status = match m.code.is_transient() {
            true => Status::Deferred,
            false => Status::Refused,
        };
        return Err(AppError::Refused(
            format!("the sender was refused: {}", m.summary()),
            exit_code(status),
        ));
    }
    let refused: Vec<&Option<Reply>> = d
        .recipients
        .iter()
        .map(|(_, r)| r)
        .filter(|r| !accepted(r))
        .collect();
    if refused.is_empty() {
        return Ok(());
    }
    for r in &refused {
        if let Some(h) = r.as_ref().and_then(crate::error::hints::for_reply) {
            hint_line("hint", &h);
        }
    }
    let worst = refused
        .iter()
        .map(|r| match r {
            Some(r) if r.code.is_permanent() => Status::Refused,
            _ => Status::Deferred,
        })
        .max()
        .unwrap_or(Status::Refused);
    Err(AppError::Refused(
        format!(
            "{} of {} recipients refused",
            refused.len(),
            d.recipients.len()
        ),
        exit_code(worst),
    ))
}
