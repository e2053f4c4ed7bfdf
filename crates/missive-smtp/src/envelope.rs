//! The envelope (RFC 5321 §2.3.1): the reverse-path and forward-paths, apart
//! from the message's own headers, and the checks that keep a path from
//! breaking the command line it goes into.

use crate::Error;

/// Limits from RFC 5321 §4.5.3.1.
const MAX_LOCAL_PART: usize = 64;
const MAX_DOMAIN: usize = 255;
const MAX_PATH: usize = 256;

/// A mail transaction's addresses and MAIL parameters.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Envelope {
    /// The reverse-path; empty for the null sender (`MAIL FROM:<>`).
    pub from: String,
    /// The forward-paths, in order.
    pub to: Vec<String>,
    /// The message has 8-bit content: send `BODY=8BITMIME` when offered.
    pub eight_bit: bool,
    /// The message's size in octets when known: sent as `SIZE=` when offered.
    pub size: Option<u64>,
    /// Delivery status notification requests (RFC 3461), sent when DSN is offered.
    pub dsn: Dsn,
}

/// DSN parameters (RFC 3461): `RET` and `ENVID` on MAIL, `NOTIFY` and `ORCPT` on RCPT.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Dsn {
    /// `FULL` or `HDRS`.
    pub ret: Option<String>,
    /// An envelope identifier, sent as xtext.
    pub envid: Option<String>,
    /// `NEVER`, or a comma list of `SUCCESS`, `FAILURE`, `DELAY`.
    pub notify: Option<String>,
}

impl Dsn {
    pub fn is_empty(&self) -> bool {
        self.ret.is_none() && self.envid.is_none() && self.notify.is_none()
    }
}

/// RFC 3461 §4: xtext escapes `+`, `=`, and anything outside `!`..`~` as `+HH`.
pub fn xtext(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if (b'!'..=b'~').contains(&b) && b != b'+' && b != b'=' {
            out.push(b as char);
        } else {
            out.push_str(&format!("+{b:02X}"));
        }
    }
    out
}

impl Envelope {
    /// Checks every path; `Ok(true)` when one is internationalised (needs SMTPUTF8).
    pub fn validate(&self) -> Result<bool, Error> {
        let mut utf8 = false;
        if !self.from.is_empty() {
            utf8 |= validate_address(&self.from)?;
        }
        if self.to.is_empty() {
            return Err(Error::InvalidAddress("no recipients".into()));
        }
        for to in &self.to {
            utf8 |= validate_address(to)?;
        }
        Ok(utf8)
    }
}

/// Checks that `addr` is a `local@domain` mailbox that can stand inside `<>`
/// on a command line. Returns whether it has non-ASCII characters.
///
/// This is the transport's check (no CR, LF, `<>`, spaces or controls; the
/// RFC 5321 length limits), not a full RFC 5322 grammar.
pub fn validate_address(addr: &str) -> Result<bool, Error> {
    let bad = |why: &str| Err(Error::InvalidAddress(format!("{addr:?}: {why}")));
    if addr.chars().any(|c| c.is_control()) {
        return bad("contains a control character (CR, LF, …)");
    }
    if addr
        .chars()
        .any(|c| matches!(c, '<' | '>' | ' ' | '\t' | ','))
    {
        return bad("contains a space, comma or angle bracket");
    }
    let Some(at) = addr.rfind('@') else {
        return bad("has no @");
    };
    let (local, domain) = (&addr[..at], &addr[at + 1..]);
    if local.is_empty() {
        return bad("has an empty local part");
    }
    if domain.is_empty()
        || domain.starts_with('.')
        || domain.ends_with('.')
        || domain.contains("..")
    {
        return bad("has an invalid domain");
    }
    if local.len() > MAX_LOCAL_PART {
        return bad("local part is longer than 64 octets");
    }
    if domain.len() > MAX_DOMAIN || addr.len() > MAX_PATH {
        return bad("is longer than RFC 5321 allows");
    }
    Ok(!addr.is_ascii())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert!(!validate_address("bob@example.test").unwrap());
        assert!(validate_address("jörg@exämple.test").unwrap());
        for bad in [
            "bob",
            "@x.test",
            "bob@",
            "bob@.x",
            "a b@x.test",
            "bob@x.test\r\nRCPT TO:<evil@x>",
            "bob@x.test>",
            &format!("{}@x.test", "a".repeat(65)),
        ] {
            assert!(validate_address(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn xtext_escapes() {
        assert_eq!(xtext("a+b=c d@x"), "a+2Bb+3Dc+20d@x");
        assert_eq!(xtext("ü"), "+C3+BC");
    }

    #[test]
    fn envelope_needs_recipients() {
        let e = Envelope {
            from: "a@x.test".into(),
            ..Envelope::default()
        };
        assert!(e.validate().is_err());
        let e = Envelope {
            from: String::new(),
            to: vec!["ü@x.test".into()],
            ..Envelope::default()
        };
        assert!(e.validate().unwrap());
    }
}
