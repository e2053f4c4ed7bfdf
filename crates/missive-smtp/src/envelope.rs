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
    /// REQUIRETLS (RFC 8689): `MAIL … REQUIRETLS`, only over verified TLS
    /// to a server that offers it; otherwise the transaction does not start.
    pub require_tls: bool,
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

/// Checks a path a server received in `MAIL FROM:<…>` or `RCPT TO:<…>` (the
/// server role) and returns the mailbox to record. The null path `<>` and
/// `<Postmaster>` are the caller's to allow (§4.1.1.2, §4.1.1.3).
///
/// RFC 5321 §4.1.2: `Mailbox = Local-part "@" ( Domain / address-literal )`,
/// the local part a Dot-string or a Quoted-string, each domain label letters,
/// digits and inner hyphens, with UTF-8 allowed in both as RFC 6531 does; the
/// §4.5.3.1 length limits. No control character anywhere: a CR in a path
/// would become a header line of the stored message (`Return-Path:`). A
/// source route (`@a.test,@b.test:`) is accepted and dropped, as §4.1.1.3
/// and Appendix C ask.
pub fn validate_received_path(path: &str) -> Result<&str, Error> {
    let bad = |why: &str| Err(Error::InvalidAddress(format!("{path:?}: {why}")));
    if path.chars().any(char::is_control) {
        return bad("contains a control character (CR, LF, …)");
    }
    if path.len() > MAX_PATH {
        return bad("is longer than RFC 5321 allows");
    }
    let mailbox = match path.strip_prefix('@') {
        Some(_) => {
            let Some((route, mailbox)) = path.split_once(':') else {
                return bad("has an unterminated source route");
            };
            let valid = route
                .split(',')
                .all(|hop| hop.strip_prefix('@').is_some_and(is_domain));
            if !valid {
                return bad("has an invalid source route");
            }
            mailbox
        }
        None => path,
    };
    let Some(domain_at) = local_part_end(mailbox) else {
        return bad("has an invalid local part");
    };
    let (local, domain) = (&mailbox[..domain_at], &mailbox[domain_at + 1..]);
    if local.len() > MAX_LOCAL_PART {
        return bad("local part is longer than 64 octets");
    }
    if !(is_domain(domain) || is_address_literal(domain)) {
        return bad("has an invalid domain");
    }
    Ok(mailbox)
}

/// The index of the `@` after a valid Dot-string or Quoted-string local part.
fn local_part_end(mailbox: &str) -> Option<usize> {
    let bytes = mailbox.as_bytes();
    if bytes.first() == Some(&b'"') {
        // Quoted-string: qtextSMTP (%d32-33 / %d35-91 / %d93-126, UTF-8)
        // and quoted-pairSMTP (backslash, then %d32-126).
        let mut i = 1;
        while i < bytes.len() {
            match bytes[i] {
                // an empty quoted string names no mailbox
                b'"' => return (i > 1 && bytes.get(i + 1) == Some(&b'@')).then_some(i + 1),
                b'\\' => match bytes.get(i + 1) {
                    Some(32..=126) => i += 2,
                    _ => return None,
                },
                32..=126 | 0x80.. => i += 1,
                _ => return None,
            }
        }
        return None;
    }
    let at = mailbox.find('@')?;
    let local = &mailbox[..at];
    let atom = |a: &str| !a.is_empty() && a.chars().all(is_atext);
    local.split('.').all(atom).then_some(at)
}

/// RFC 5322 atext, and any non-ASCII character (RFC 6531 §3.3).
fn is_atext(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c) || !c.is_ascii()
}

/// `sub-domain *("." sub-domain)`; a sub-domain is letters, digits and
/// inner hyphens (or a U-label), at most 63 octets; the whole at most 255.
fn is_domain(domain: &str) -> bool {
    let label = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || !c.is_ascii())
    };
    domain.len() <= MAX_DOMAIN && domain.split('.').all(label)
}

/// `[IPv4]`, `[IPv6:…]` or `[tag:content]` (RFC 5321 §4.1.3).
fn is_address_literal(domain: &str) -> bool {
    let Some(inner) = domain.strip_prefix('[').and_then(|d| d.strip_suffix(']')) else {
        return false;
    };
    if let Some(v6) = inner.strip_prefix("IPv6:") {
        return v6.parse::<std::net::Ipv6Addr>().is_ok();
    }
    match inner.split_once(':') {
        // General-address-literal: Standardized-tag ":" 1*dcontent
        Some((tag, content)) => {
            let dcontent = |c: char| matches!(c, '!'..='Z' | '^'..='~');
            !tag.is_empty()
                && tag.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !tag.ends_with('-')
                && !content.is_empty()
                && content.chars().all(dcontent)
        }
        None => inner.parse::<std::net::Ipv4Addr>().is_ok(),
    }
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
