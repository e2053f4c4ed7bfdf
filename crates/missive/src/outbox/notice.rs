//! Failure notices (RFC 3464): a `multipart/report` to the envelope
//! sender of a message that could not be delivered, with a human part, a
//! `message/delivery-status` part (RFC 3464 §2.2–2.3) and the original
//! headers (`text/rfc822-headers`, RFC 6522). Sent from the null reverse
//! path (RFC 5321 §4.5.5) and marked `Auto-Submitted` (RFC 3834), so no
//! notice is ever sent about a notice.

use std::time::{Duration, UNIX_EPOCH};

use super::entry::{Entry, Recipient, State};
use crate::message::header::{message_id, rfc5322_date};

/// The notice about `entry`'s refused recipients that were not reported
/// yet, or `None` when none needs one.
pub fn build(entry: &Entry, original_headers: &str, host: &str) -> Option<(String, Vec<u8>)> {
    if entry.sender.is_empty() || entry.notice {
        return None;
    }
    let failed: Vec<&Recipient> = entry
        .recipients
        .iter()
        .filter(|r| r.state == State::Refused && !r.reported)
        .collect();
    if failed.is_empty() {
        return None;
    }
    let date = |secs: u64| rfc5322_date(UNIX_EPOCH + Duration::from_secs(secs));
    let domain = entry.sender.rsplit_once('@').map_or(host, |(_, d)| d);
    let id = message_id(domain);
    let boundary = format!("missive-report-{}", entry.id);
    let mut m = String::new();
    let mut line = |s: &str| {
        m.push_str(s);
        m.push_str("\r\n");
    };
    line(&format!("From: Mail Delivery System <{}>", entry.sender));
    line(&format!("To: <{}>", entry.sender));
    line("Subject: Undelivered Mail Returned to Sender");
    line(&format!("Date: {}", date(super::spool::now())));
    line(&format!("Message-ID: {id}"));
    line("Auto-Submitted: auto-replied");
    line("MIME-Version: 1.0");
    line(&format!(
        "Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"{boundary}\""
    ));
    line("");
    line("This is a MIME-encapsulated delivery status notification.");
    line("");
    line(&format!("--{boundary}"));
    line("Content-Type: text/plain; charset=utf-8");
    line("Content-Transfer-Encoding: 8bit");
    line("");
    line(&format!(
        "This is the missive outbox on {host}. Your message{} could not be",
        match entry.message_id.is_empty() {
            true => String::new(),
            false => format!(" {}", entry.message_id),
        }
    ));
    line(&format!(
        "delivered to the following recipient(s) (queued {}, {} attempt(s)):",
        date(entry.created),
        entry.attempts
    ));
    line("");
    for r in &failed {
        line(&format!(
            "<{}>: {}",
            r.address,
            one_line(r.last_reply.as_deref().unwrap_or("no reply"))
        ));
    }
    if let Some(why) = &entry.failure {
        line("");
        line(&one_line(why));
    }
    line("");
    line(&format!("--{boundary}"));
    line("Content-Type: message/delivery-status");
    line("");
    line(&format!("Reporting-MTA: dns; {host}"));
    line(&format!("X-Missive-Queue-ID: {}", entry.id));
    if let Some(envid) = &entry.dsn.envid {
        line(&format!("Original-Envelope-Id: {}", one_line(envid)));
    }
    line(&format!("Arrival-Date: {}", date(entry.created)));
    for r in &failed {
        line("");
        line(&format!("Final-Recipient: rfc822; {}", r.address));
        line("Action: failed");
        line(&format!("Status: {}", status_of(r)));
        if let Some(reply) = &r.last_reply {
            let kind = match reply.chars().take(3).all(|c| c.is_ascii_digit()) {
                true => "smtp",
                false => "x-missive",
            };
            line(&format!("Diagnostic-Code: {kind}; {}", one_line(reply)));
        }
        if let Some(t) = entry.last_attempt {
            line(&format!("Last-Attempt-Date: {}", date(t)));
        }
    }
    line("");
    line(&format!("--{boundary}"));
    line("Content-Type: text/rfc822-headers");
    line("");
    for l in original_headers.lines() {
        line(l.trim_end_matches('\r'));
    }
    line("");
    line(&format!("--{boundary}--"));
    Some((id, m.into_bytes()))
}

/// The RFC 3463 status of a failed recipient: its reply's, else a class 5
/// one from its code, else 4.4.7 (delivery time expired).
fn status_of(r: &Recipient) -> String {
    if let Some(s) = &r.status {
        if s.starts_with('5') || s.starts_with('4') {
            return s.clone();
        }
    }
    match r.last_reply.as_deref() {
        Some(x) if x.starts_with('5') => "5.0.0".into(),
        _ => "4.4.7".into(),
    }
}

/// Text on one header line: no CR or LF, at most 900 octets.
fn one_line(s: &str) -> String {
    let s: String = s
        .chars()
        .map(|c| if c == '\r' || c == '\n' { ' ' } else { c })
        .collect();
    match s.char_indices().nth(900) {
        Some((i, _)) => s[..i].to_string(),
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbox::entry::{StoredDsn, StoredRoute};

    fn entry(sender: &str, notice: bool) -> Entry {
        Entry {
            version: 1,
            id: "1-ab".into(),
            created: 0,
            message_id: "<m@x.test>".into(),
            sender: sender.into(),
            recipients: vec![
                Recipient {
                    address: "ok@x.test".into(),
                    state: State::Accepted,
                    attempts: 1,
                    last_reply: Some("250 ok".into()),
                    status: None,
                    reported: false,
                },
                Recipient {
                    address: "bad@x.test".into(),
                    state: State::Refused,
                    attempts: 2,
                    last_reply: Some("550 5.1.1 no such user".into()),
                    status: Some("5.1.1".into()),
                    reported: false,
                },
            ],
            dsn: StoredDsn::default(),
            eight_bit: false,
            require_tls: false,
            line_end_growth: 0,
            attempts: 2,
            next_attempt: 0,
            last_attempt: Some(10),
            in_doubt: false,
            may_duplicate: false,
            notice,
            route: StoredRoute::default(),
            failure: None,
        }
    }

    #[test]
    fn a_report_names_only_the_failed_recipients() {
        let (_, bytes) = build(&entry("me@x.test", false), "Subject: hi", "host.test").unwrap();
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.contains("multipart/report; report-type=delivery-status"));
        assert!(
            text.contains("Final-Recipient: rfc822; bad@x.test\r\nAction: failed\r\nStatus: 5.1.1")
        );
        assert!(text.contains("Diagnostic-Code: smtp; 550 5.1.1 no such user"));
        assert!(!text.contains("rfc822; ok@x.test"));
        assert!(text.contains("text/rfc822-headers\r\n\r\nSubject: hi\r\n"));
        assert!(!text.contains("\n\n") && !text.replace("\r\n", "").contains('\n'));
    }

    #[test]
    fn no_notice_for_a_null_sender_or_about_a_notice() {
        assert!(build(&entry("", false), "", "h").is_none());
        assert!(build(&entry("me@x.test", true), "", "h").is_none());
        let mut e = entry("me@x.test", false);
        e.recipients[1].reported = true;
        assert!(build(&e, "", "h").is_none());
    }
}
