//! The readable SMTP transcript on stderr (`-v`): `C:` lines as sent, `S:`
//! lines as received, `*` lines for what happened around them. AUTH data
//! arrives here already replaced by `<redacted>` from the state machine.

use std::io::Write;

use missive_smtp::data::DataStats;
use missive_smtp::Reply;

use super::tls::TlsInfo;
use crate::error::printable;

/// Where transcript lines go, and how much of them.
#[derive(Debug, Clone, Default)]
pub struct Transcript {
    /// 0: nothing; 1: the conversation, the body as its size; 2: the body too.
    pub verbosity: u8,
    /// A prefix for every line (the host, when several sessions interleave).
    pub prefix: String,
}

impl Transcript {
    pub fn new(verbosity: u8) -> Transcript {
        Transcript {
            verbosity,
            prefix: String::new(),
        }
    }

    fn line(&self, tag: &str, text: &str) {
        if self.verbosity > 0 {
            let _ = writeln!(
                std::io::stderr().lock(),
                "{}{tag} {}",
                self.prefix,
                printable(text)
            );
        }
    }

    pub fn info(&self, text: &str) {
        self.line("*", text);
    }

    pub fn sent(&self, line: &str) {
        self.line("C:", line);
    }

    pub fn received(&self, reply: &Reply) {
        if self.verbosity == 0 {
            return;
        }
        let wire = reply.to_wire();
        for line in String::from_utf8_lossy(&wire).lines() {
            self.line("S:", line);
        }
    }

    pub fn tls(&self, info: &TlsInfo) {
        let cert = info
            .certificate
            .as_ref()
            .map(|c| format!(", certificate {}", c.subject))
            .unwrap_or_default();
        let verified = match &info.problem {
            None => "verified".to_string(),
            Some(p) => format!("NOT verified: {p}"),
        };
        self.info(&format!(
            "TLS {} {}{cert} ({verified})",
            info.version, info.cipher
        ));
    }

    /// Encoded body bytes about to be written (shown only at `-vv`).
    pub fn body_chunk(&self, wire: &[u8]) {
        if self.verbosity >= 2 {
            for line in String::from_utf8_lossy(wire).lines() {
                self.line("C:", line);
            }
        }
    }

    /// The body has gone out: with DATA its terminator too (`dot`); BDAT has none.
    pub fn body_done(&self, stats: &DataStats, dot: bool) {
        if self.verbosity == 1 {
            self.line("C:", &format!("<message body, {} octets>", stats.octets));
            if dot {
                self.line("C:", ".");
            }
        }
    }
}
