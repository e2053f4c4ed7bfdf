//! Which messages a list, a search or a wait wants: Mailpit's search
//! terms and the API's filter parameters, matched against summaries.

use mail_parser::DateTime;

use super::store::{Person, Summary};

/// Which messages a list, a search or a wait wants.
#[derive(Debug, Default, Clone)]
pub struct Filter {
    pub to: Vec<String>,
    pub from: Vec<String>,
    pub subject: Vec<String>,
    /// Words to find in the subject, the addresses or the snippet.
    pub words: Vec<String>,
    /// Stored at or after (microseconds since 1970).
    pub since_us: Option<i64>,
    /// Stored before (microseconds since 1970).
    pub before_us: Option<i64>,
    /// Read (`is:read`) or not (`is:unread`).
    pub read: Option<bool>,
}

impl Filter {
    /// A Mailpit-style search: `to:ADDR from:ADDR subject:"two words"
    /// since:2026-12-02T04:00:00Z` (or `after:`), `before:TIME`,
    /// `is:read`/`is:unread` and plain words; all must match.
    pub fn parse(query: &str) -> Result<Filter, String> {
        let mut f = Filter::default();
        for term in terms(query) {
            let (k, v) = match term.split_once(':') {
                Some((k, v))
                    if matches!(
                        k,
                        "to" | "from" | "subject" | "since" | "after" | "before" | "is"
                    ) =>
                {
                    (k, v.to_string())
                }
                _ => ("", term.clone()),
            };
            if v.is_empty() {
                continue;
            }
            match k {
                "to" => f.to.push(v.to_lowercase()),
                "from" => f.from.push(v.to_lowercase()),
                "subject" => f.subject.push(v.to_lowercase()),
                "since" | "after" => f.since_us = Some(time_us(&v)?),
                "before" => f.before_us = Some(time_us(&v)?),
                "is" if v == "read" || v == "unread" => f.read = Some(v == "read"),
                "is" => return Err(format!("is:{v}: is:read or is:unread")),
                _ => f.words.push(v.to_lowercase()),
            }
        }
        Ok(f)
    }

    pub fn matches(&self, s: &Summary) -> bool {
        let person = |p: &Person| format!("{} <{}>", p.name, p.address).to_lowercase();
        let to: String =
            s.to.iter()
                .chain(&s.cc)
                .chain(&s.bcc)
                .map(person)
                .chain(s.envelope.to.iter().map(|a| a.to_lowercase()))
                .collect::<Vec<_>>()
                .join(" ");
        let from = format!("{} {}", person(&s.from), s.envelope.from.to_lowercase());
        let subject = s.subject.to_lowercase();
        let all = format!("{to} {from} {subject} {}", s.snippet.to_lowercase());
        self.to.iter().all(|t| to.contains(t))
            && self.from.iter().all(|t| from.contains(t))
            && self.subject.iter().all(|t| subject.contains(t))
            && self.words.iter().all(|t| all.contains(t))
            && self.since_us.is_none_or(|t| s.stored_us >= t)
            && self.before_us.is_none_or(|t| s.stored_us < t)
            && self.read.is_none_or(|r| s.read == r)
    }
}

/// Whitespace-separated terms; `"…"` keeps spaces (also after `key:`).
fn terms(q: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in q.chars() {
        match c {
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// A time given to `since`: seconds since 1970, or RFC 3339 (a date alone
/// is its midnight, UTC).
pub fn time_us(v: &str) -> Result<i64, String> {
    if let Ok(secs) = v.parse::<i64>() {
        return Ok(secs * 1_000_000);
    }
    let full = match v.len() {
        10 => format!("{v}T00:00:00Z"),
        _ => v.to_string(),
    };
    match DateTime::parse_rfc3339(&full) {
        Some(d) if d.is_valid() => {
            // fractions of a second are kept
            let frac = full
                .split_once('.')
                .map(|(_, f)| {
                    f.chars()
                        .take_while(char::is_ascii_digit)
                        .collect::<String>()
                })
                .filter(|f| !f.is_empty())
                .map_or(0, |f| {
                    let f = format!("{f:0<6}");
                    f[..6].parse::<i64>().unwrap_or(0)
                });
            Ok(d.to_timestamp() * 1_000_000 + frac)
        }
        _ => Err(format!(
            "cannot read the time {v:?}: give seconds since 1970 or RFC 3339 (2026-12-02T04:00:00Z)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries() {
        let f = Filter::parse(r#"to:Bob@x subject:"two words" hello since:2026-12-02"#).unwrap();
        assert_eq!(f.to, ["bob@x"]);
        assert_eq!(f.subject, ["two words"]);
        assert_eq!(f.words, ["hello"]);
        assert_eq!(f.since_us, Some(1_796_169_600 * 1_000_000));
        assert!(Filter::parse("since:yesterday").is_err());
        assert_eq!(
            time_us("2026-12-02T04:00:00.5Z").unwrap(),
            1_796_184_000 * 1_000_000 + 500_000
        );
    }
}
