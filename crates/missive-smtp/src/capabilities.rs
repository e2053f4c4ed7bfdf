//! EHLO capabilities (RFC 5321 §4.1.1.1, and the extension RFCs named per field).

use std::fmt;

use crate::reply::Reply;

/// A SASL mechanism name (RFC 4954 §3).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Mechanism {
    Plain,
    Login,
    CramMd5,
    XOAuth2,
    OAuthBearer,
    /// Advertised but not spoken by this crate; kept for display.
    Other(String),
}

impl Mechanism {
    pub fn parse(name: &str) -> Mechanism {
        match name.to_ascii_uppercase().as_str() {
            "PLAIN" => Mechanism::Plain,
            "LOGIN" => Mechanism::Login,
            "CRAM-MD5" => Mechanism::CramMd5,
            "XOAUTH2" => Mechanism::XOAuth2,
            "OAUTHBEARER" => Mechanism::OAuthBearer,
            other => Mechanism::Other(other.to_string()),
        }
    }

    pub fn name(&self) -> &str {
        match self {
            Mechanism::Plain => "PLAIN",
            Mechanism::Login => "LOGIN",
            Mechanism::CramMd5 => "CRAM-MD5",
            Mechanism::XOAuth2 => "XOAUTH2",
            Mechanism::OAuthBearer => "OAUTHBEARER",
            Mechanism::Other(s) => s,
        }
    }

    /// True for mechanisms that carry an OAuth2 bearer token rather than a password.
    pub fn uses_token(&self) -> bool {
        matches!(self, Mechanism::XOAuth2 | Mechanism::OAuthBearer)
    }
}

impl fmt::Display for Mechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What the server said it supports in its EHLO reply.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// The first line of the EHLO reply: the server's name and greeting text.
    pub domain: String,
    /// SIZE (RFC 1870): `Some(0)` means no stated limit; `None`, not advertised.
    pub size: Option<u64>,
    /// PIPELINING (RFC 2920).
    pub pipelining: bool,
    /// 8BITMIME (RFC 6152).
    pub eight_bit_mime: bool,
    /// SMTPUTF8 (RFC 6531).
    pub smtputf8: bool,
    /// STARTTLS (RFC 3207).
    pub starttls: bool,
    /// AUTH (RFC 4954), from `AUTH …` and the pre-standard `AUTH=…` form.
    pub auth: Vec<Mechanism>,
    /// CHUNKING (RFC 3030).
    pub chunking: bool,
    /// BINARYMIME (RFC 3030).
    pub binary_mime: bool,
    /// DSN (RFC 3461).
    pub dsn: bool,
    /// ENHANCEDSTATUSCODES (RFC 2034).
    pub enhanced_status_codes: bool,
    /// REQUIRETLS (RFC 8689).
    pub requiretls: bool,
    /// Keywords this crate has no field for, with their parameters, as sent.
    pub other: Vec<String>,
}

impl Capabilities {
    /// Parses a positive EHLO reply. The first line is the server's domain;
    /// each further line is `keyword [params]`.
    pub fn from_ehlo(reply: &Reply) -> Capabilities {
        let mut caps = Capabilities {
            domain: reply.lines.first().cloned().unwrap_or_default(),
            ..Capabilities::default()
        };
        for line in reply.lines.iter().skip(1) {
            caps.add_line(line);
        }
        caps
    }

    fn add_line(&mut self, line: &str) {
        let line = line.trim();
        if line.is_empty() {
            return; // smtp-sink ends its list with an empty `250 ` line
        }
        let (keyword, params) = match line.find([' ', '=']) {
            Some(i) => (&line[..i], line[i + 1..].trim()),
            None => (line, ""),
        };
        match keyword.to_ascii_uppercase().as_str() {
            "SIZE" => self.size = Some(params.parse().unwrap_or(0)),
            "PIPELINING" => self.pipelining = true,
            "8BITMIME" => self.eight_bit_mime = true,
            "SMTPUTF8" => self.smtputf8 = true,
            "STARTTLS" => self.starttls = true,
            "CHUNKING" => self.chunking = true,
            "BINARYMIME" => self.binary_mime = true,
            "DSN" => self.dsn = true,
            "ENHANCEDSTATUSCODES" => self.enhanced_status_codes = true,
            "REQUIRETLS" => self.requiretls = true,
            "AUTH" => {
                for m in params.split_whitespace().map(Mechanism::parse) {
                    if !self.auth.contains(&m) {
                        self.auth.push(m);
                    }
                }
            }
            _ => self.other.push(line.to_string()),
        }
    }

    /// The EHLO keywords in a stable order, for display.
    pub fn keywords(&self) -> Vec<String> {
        let mut out = Vec::new();
        let flags = [
            (self.pipelining, "PIPELINING"),
            (self.eight_bit_mime, "8BITMIME"),
            (self.smtputf8, "SMTPUTF8"),
            (self.starttls, "STARTTLS"),
            (self.chunking, "CHUNKING"),
            (self.binary_mime, "BINARYMIME"),
            (self.dsn, "DSN"),
            (self.enhanced_status_codes, "ENHANCEDSTATUSCODES"),
            (self.requiretls, "REQUIRETLS"),
        ];
        if let Some(n) = self.size {
            out.push(format!("SIZE {n}"));
        }
        out.extend(flags.iter().filter(|f| f.0).map(|f| f.1.to_string()));
        if !self.auth.is_empty() {
            let names: Vec<&str> = self.auth.iter().map(Mechanism::name).collect();
            out.push(format!("AUTH {}", names.join(" ")));
        }
        out.extend(self.other.iter().cloned());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reply::ReplyCode;

    fn ehlo(lines: &[&str]) -> Reply {
        Reply {
            code: ReplyCode::OK,
            enhanced: None,
            lines: lines.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn postfix_list() {
        let c = Capabilities::from_ehlo(&ehlo(&[
            "mx.testbed.test",
            "PIPELINING",
            "SIZE 10485760",
            "VRFY",
            "ETRN",
            "STARTTLS",
            "AUTH PLAIN LOGIN",
            "AUTH=PLAIN LOGIN",
            "ENHANCEDSTATUSCODES",
            "8BITMIME",
            "DSN",
            "SMTPUTF8",
            "CHUNKING",
        ]));
        assert_eq!(c.domain, "mx.testbed.test");
        assert_eq!(c.size, Some(10485760));
        assert!(c.pipelining && c.starttls && c.eight_bit_mime && c.dsn && c.smtputf8);
        assert!(c.chunking && c.enhanced_status_codes && !c.requiretls);
        assert_eq!(c.auth, vec![Mechanism::Plain, Mechanism::Login]);
        assert_eq!(c.other, vec!["VRFY", "ETRN"]);
    }

    #[test]
    fn old_auth_form_and_odd_lines() {
        let c = Capabilities::from_ehlo(&ehlo(&[
            "x",
            "AUTH=LOGIN CRAM-MD5 XOAUTH2",
            "size",
            "REQUIRETLS",
            "",
        ]));
        assert_eq!(
            c.auth,
            vec![Mechanism::Login, Mechanism::CramMd5, Mechanism::XOAuth2]
        );
        assert_eq!(c.size, Some(0));
        assert!(c.requiretls);
        assert!(c.other.is_empty());
    }
}
