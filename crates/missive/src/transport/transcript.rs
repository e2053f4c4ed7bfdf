//! The readable SMTP transcript on stderr (`-v`): `C:` lines as sent, `S:`
//! lines as received, `*` lines for what happened around them. AUTH data
//! arrives here already replaced by `<redacted>` from the state machine.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

use missive_smtp::data::DataStats;
use missive_smtp::Reply;

use super::tls::TlsInfo;
use crate::error::printable;

/// Whether stderr gets colour: decided once by the command line (`--color`,
/// `MISSIVE_COLOR`, `NO_COLOR`, whether stderr is a terminal).
static COLOR: AtomicBool = AtomicBool::new(false);

/// Turns colour on stderr on or off for the whole process.
pub fn set_color(on: bool) {
    COLOR.store(on, Ordering::Relaxed);
}

/// What a piece of stderr is, for its colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paint {
    /// `C:` lines: what missive sent (cyan).
    Client,
    /// `S:` lines with a 2xx or 3xx reply (green).
    ServerOk,
    /// `S:` lines with a 4xx reply (yellow).
    ServerTemp,
    /// `S:` lines with a 5xx reply (red).
    ServerPerm,
    /// `*` lines: what happened around the conversation (dim).
    Info,
    /// `missive:` error lines (bold red).
    Error,
    /// `hint:`, `note:` and `next:` lines (bold yellow).
    Hint,
}

/// `text` in its colour when colour is on, else as it is.
pub fn paint(kind: Paint, text: &str) -> String {
    if !COLOR.load(Ordering::Relaxed) {
        return text.to_string();
    }
    let code = match kind {
        Paint::Client => "36",
        Paint::ServerOk => "32",
        Paint::ServerTemp => "33",
        Paint::ServerPerm => "31",
        Paint::Info => "2",
        Paint::Error => "1;31",
        Paint::Hint => "1;33",
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}

/// Where transcript lines go, and how much of them.
#[derive(Debug, Clone, Default)]
pub struct Transcript {
    /// 0: nothing; 1: the conversation, the body as its size; 2: the body too.
    pub verbosity: u8,
    /// A prefix for every line (the host, when several sessions interleave).
    pub prefix: String,
    /// Show a progress bar on stderr while the body of a message of at
    /// least this many octets goes out (`None`: never).
    pub progress_over: Option<u64>,
}

impl Transcript {
    pub fn new(verbosity: u8) -> Transcript {
        Transcript {
            verbosity,
            prefix: String::new(),
            progress_over: None,
        }
    }

    /// A progress bar for a body of `size` octets, when it is big enough
    /// (octets sent of the total, the rate, the time left).
    pub fn progress_bar(&self, size: Option<u64>) -> Option<indicatif::ProgressBar> {
        let size = size.filter(|s| self.progress_over.is_some_and(|min| *s >= min))?;
        let bar = indicatif::ProgressBar::with_draw_target(
            Some(size),
            indicatif::ProgressDrawTarget::stderr(),
        );
        let style = indicatif::ProgressStyle::with_template(
            "{prefix}{binary_bytes}/{binary_total_bytes} [{bar:30}] {binary_bytes_per_sec}, {eta} left",
        )
        .map(|s| s.progress_chars("=> "));
        if let Ok(style) = style {
            bar.set_style(style);
        }
        bar.set_prefix(self.prefix.clone());
        bar.tick();
        Some(bar)
    }

    fn line(&self, tag: &str, text: &str) {
        let kind = match tag {
            "C:" => Paint::Client,
            _ => Paint::Info,
        };
        self.painted(kind, tag, text);
    }

    fn painted(&self, kind: Paint, tag: &str, text: &str) {
        if self.verbosity > 0 {
            let line = paint(kind, &format!("{tag} {}", printable(text)));
            let _ = writeln!(std::io::stderr().lock(), "{}{line}", self.prefix);
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
        let kind = match reply.code.value() {
            400..=499 => Paint::ServerTemp,
            500..=599 => Paint::ServerPerm,
            _ => Paint::ServerOk,
        };
        let wire = reply.to_wire();
        for line in String::from_utf8_lossy(&wire).lines() {
            self.painted(kind, "S:", line);
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
