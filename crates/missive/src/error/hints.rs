//! Known failures and what to do about them: a table of server replies
//! (`data/hints.toml`) and the local failures missive recognises itself.

use missive_smtp::Reply;
use serde::Deserialize;

const HINTS: &str = include_str!("../../data/hints.toml");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Table {
    hint: Vec<Entry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    code: Option<u16>,
    enhanced: Option<String>,
    contains: Option<String>,
    hint: String,
}

impl Entry {
    fn matches(&self, reply: &Reply) -> bool {
        self.code.is_none_or(|c| c == reply.code.value())
            && self.enhanced.as_deref().is_none_or(|e| {
                reply.enhanced.is_some_and(|r| r.to_string() == e) || reply.text().contains(e)
            })
            && self.contains.as_deref().is_none_or(|c| {
                reply
                    .text()
                    .to_ascii_lowercase()
                    .contains(&c.to_ascii_lowercase())
            })
    }
}

/// What to do about a server reply, if the table knows.
/// Parsed once: it is asked for every refused recipient.
pub fn for_reply(reply: &Reply) -> Option<String> {
    static TABLE: std::sync::OnceLock<Table> = std::sync::OnceLock::new();
    let table = TABLE
        .get_or_init(|| toml::from_str(HINTS).expect("data/hints.toml is checked by the tests"));
    table
        .hint
        .iter()
        .find(|e| e.matches(reply))
        .map(|e| e.hint.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use missive_smtp::ReplyCode;

    fn r(code: u16, text: &str) -> Reply {
        Reply::new(ReplyCode::new(code).unwrap(), text)
    }

    #[test]
    fn provider_replies() {
        let h = for_reply(&r(535, "5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant.")).unwrap();
        assert!(h.contains("Authenticated SMTP"), "{h}");
        let h = for_reply(&r(
            550,
            "5.7.30 Basic authentication is not supported for Client Submission.",
        ))
        .unwrap();
        assert!(h.contains("OAuth2"), "{h}");
        let h = for_reply(&r(534, "5.7.9 Application-specific password required.")).unwrap();
        assert!(h.contains("app password"), "{h}");
        let h = for_reply(&r(
            535,
            "5.7.8 Username and Password not accepted. BadCredentials",
        ))
        .unwrap();
        assert!(h.contains("Gmail"), "{h}");
        let h = for_reply(&r(535, "5.7.0 (#AUTH005) Too many bad auth attempts.")).unwrap();
        assert!(h.contains("Yahoo/AOL"), "{h}");
        let h = for_reply(&r(530, "5.7.0 Must issue a STARTTLS command first")).unwrap();
        assert!(h.contains("--tls starttls"), "{h}");
        let h = for_reply(&r(501, "5.5.4 Invalid domain name in HELO")).unwrap();
        assert!(h.contains("--ehlo"), "{h}");
        assert!(for_reply(&r(550, "5.7.1 Relaying denied"))
            .unwrap()
            .contains("relay"));
        assert!(
            for_reply(&r(421, "4.7.0 Try again later, closing connection"))
                .unwrap()
                .contains("wait")
        );
        assert!(for_reply(&r(552, "5.3.4 Message size exceeds fixed limit")).is_some());
        assert!(for_reply(&r(250, "2.0.0 Ok")).is_none());
        assert!(for_reply(&r(550, "5.1.1 User unknown")).is_none());
    }
}
