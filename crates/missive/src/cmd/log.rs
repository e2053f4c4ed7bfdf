//! The delivery log (`log = "PATH"` or `"syslog"`, `MISSIVE_LOG`, `--log`),
//! as msmtp keeps one: a line per message with the time, the account and
//! route, the sender, each recipient with its reply code, the Message-ID,
//! the size, the queue id, the duration and the exit code. Never a secret:
//! no credentials reach an outcome, and AUTH is redacted in errors.
//!
//! ```text
//! 2026-12-02T03:45:26Z account=work route=smtp.example.com:587 from=<me@example.com> to=<a@example.org>:250/2.0.0,<b@example.org>:550/5.1.1 message_id=<x@y> size=1234 queue_id=4F2A1 duration_ms=812 exit=69 error="1 of 2 recipients refused; …"
//! ```
//!
//! A file is opened for appending and each line goes out in one write, so
//! concurrent senders (cron jobs, a mail client) never interleave within a
//! line. `syslog` sends it to the local syslog socket (facility mail);
//! `syslog:/path/to/socket` names another socket.

use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::deliver::Outcome;
use crate::error::{AppError, Result};
use crate::message::Mail;

/// One message's line, before the time and the exit code are known.
pub(crate) struct Entry {
    pub account: Option<String>,
    /// The relay, `host:port`, or `None`: direct delivery.
    pub server: Option<String>,
    pub duration: Duration,
}

/// The line for `mail`, sent with `result` (an error as its message), the
/// run's exit code, and the outbox entry that keeps what failed for now
/// (the time is added when it is written).
pub(crate) fn line(
    entry: &Entry,
    mail: &Mail,
    result: &std::result::Result<Outcome, String>,
    exit: i32,
    queued: Option<&str>,
) -> String {
    let mut fields = vec![
        format!("account={}", entry.account.as_deref().unwrap_or("-")),
        format!("route={}", entry.server.as_deref().unwrap_or("direct")),
        format!("from=<{}>", mail.envelope.from),
    ];
    let to: Vec<String> = match result {
        Ok(o) => o
            .recipients
            .iter()
            .map(|r| {
                let code = r
                    .reply
                    .as_ref()
                    .map_or("-".to_string(), |reply| match reply.enhanced {
                        Some(e) => format!("{}/{e}", reply.code.value()),
                        None => reply.code.value().to_string(),
                    });
                format!("<{}>:{code}", r.address)
            })
            .collect(),
        Err(_) => mail
            .envelope
            .to
            .iter()
            .map(|a| format!("<{a}>:-"))
            .collect(),
    };
    fields.push(format!("to={}", to.join(",")));
    let id = match mail.message_id.as_str() {
        "" => "-".to_string(),
        id => id.to_string(),
    };
    fields.push(format!("message_id={}", quote(&id)));
    fields.push(format!("size={}", mail.message.size()));
    let queue = match result {
        Ok(o) if o.recipients.iter().any(|r| r.accepted()) => {
            o.queue_id.clone().unwrap_or_else(|| "queued".into())
        }
        _ => "-".into(),
    };
    fields.push(format!("queue_id={}", quote(&queue)));
    if let Some(id) = queued {
        fields.push(format!("outbox={}", quote(id)));
    }
    fields.push(format!("duration_ms={}", entry.duration.as_millis()));
    fields.push(format!("exit={exit}"));
    if let Err(e) = result {
        fields.push(format!("error={}", quote(e)));
    } else if exit != 0 {
        let refused = result
            .as_ref()
            .map(|o| o.failed().count())
            .unwrap_or_default();
        fields.push(format!("error=\"{refused} recipient(s) not accepted\""));
    }
    fields.join(" ")
}

/// Appends `line` to the log `target` (a path, `syslog` or `syslog:SOCKET`).
pub(crate) fn write(target: &str, line: &str, failed: bool) -> Result<()> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    match target.strip_prefix("syslog") {
        Some("") => syslog(default_socket(), line, failed, now),
        Some(rest) if rest.starts_with(':') => syslog(&rest[1..], line, failed, now),
        _ => append(target, &format!("{} {line}\n", rfc3339(now))),
    }
}

fn append(path: &str, text: &str) -> Result<()> {
    let home = std::env::var("HOME").ok().filter(|h| !h.is_empty());
    let path = match (path.strip_prefix("~/"), home) {
        (Some(rest), Some(home)) => format!("{home}/{rest}"),
        _ => path.to_string(),
    };
    let path = path.as_str();
    let io = |e: std::io::Error| AppError::Io(format!("cannot write the log {path}: {e}"));
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(io)?;
    // One write of the whole line: with O_APPEND it lands whole at the end.
    file.write_all(text.as_bytes()).map_err(io)
}

fn default_socket() -> &'static str {
    if cfg!(target_os = "macos") {
        "/var/run/syslog"
    } else {
        "/dev/log"
    }
}

#[cfg(unix)]
fn syslog(socket: &str, line: &str, failed: bool, now: i64) -> Result<()> {
    let datagram = syslog_datagram(line, failed, now, std::process::id());
    let s = std::os::unix::net::UnixDatagram::unbound()
        .map_err(|e| AppError::Io(format!("cannot log to syslog: {e}")))?;
    s.send_to(datagram.as_bytes(), socket)
        .map(|_| ())
        .map_err(|e| AppError::Io(format!("cannot log to syslog ({socket}): {e}")))
}

#[cfg(not(unix))]
fn syslog(_: &str, _: &str, _: bool, _: i64) -> Result<()> {
    Err(AppError::Config(
        "log = \"syslog\" needs a Unix system".into(),
    ))
}

/// `<PRI>Mmm dd hh:mm:ss missive[PID]: LINE`, as glibc's syslog(3) sends
/// it: facility mail (2), severity info (6) or, when the send failed, err (3).
fn syslog_datagram(line: &str, failed: bool, now: i64, pid: u32) -> String {
    let pri = 2 * 8 + if failed { 3 } else { 6 };
    let (_, m, d) = crate::date::civil_from_days(now.div_euclid(86_400));
    let secs = now.rem_euclid(86_400);
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "<{pri}>{} {d:>2} {:02}:{:02}:{:02} missive[{pid}]: {line}",
        MONTHS[(m - 1) as usize],
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// `2026-12-02T03:45:26Z`.
fn rfc3339(now: i64) -> String {
    let (y, m, d) = crate::date::civil_from_days(now.div_euclid(86_400));
    let secs = now.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// A value as it is when it has no space, quote or control character,
/// else in double quotes with `"` and `\` escaped and controls dropped.
fn quote(v: &str) -> String {
    if !v.is_empty()
        && !v
            .chars()
            .any(|c| c.is_whitespace() || c == '"' || c == '\\' || c.is_control())
    {
        return v.to_string();
    }
    let mut out = String::from("\"");
    for c in v.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_quoting() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_796_182_326), "2026-12-02T03:32:06Z");
        assert_eq!(quote("<a@b>"), "<a@b>");
        assert_eq!(quote("a \"b\"\r\nc"), "\"a \\\"b\\\"  c\"");
        assert_eq!(
            syslog_datagram("x=1", false, 1_796_182_326, 42),
            "<22>Dec  2 03:32:06 missive[42]: x=1"
        );
        assert!(syslog_datagram("x", true, 0, 1).starts_with("<19>Jan  1 "));
    }
}
