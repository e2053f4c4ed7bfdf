//! missive-smtp: the SMTP protocol, without I/O.
//!
//! This crate knows the protocol and nothing else: no sockets, no async
//! runtime, no TLS library, no clock. Bytes go in, decisions and bytes come
//! out, so every rule can be tested from scripted input and every caller (the
//! tokio shell in `missive`, a test server, a blocking tool) drives the same code.
//!
//! - [`client::Client`]: the client conversation as an explicit state machine.
//! - [`server::Server`]: the server side, the same way (the capture server's engine).
//! - [`reply`]: [`Reply`], [`ReplyCode`], [`EnhancedCode`] and the incremental [`ReplyParser`].
//! - [`capabilities::Capabilities`]: what EHLO offered.
//! - [`command`]: [`Command`] encoding (client) and parsing (server role).
//! - [`data`]: the DATA body encoder (CRLF, dot-stuffing, terminator) and the server's decoder.
//! - [`auth`]: SASL mechanisms and the [`auth::Secret`] type that never prints.
//! - [`envelope::Envelope`]: reverse- and forward-paths, validated before
//!   they are sent ([`envelope::validate_address`]) and when they are received
//!   ([`envelope::validate_received_path`]).
//! - [`transaction`]: the stages of a session and each transaction's outcome.

pub mod auth;
pub mod capabilities;
pub mod client;
pub mod command;
pub mod data;
pub mod envelope;
pub mod reply;
pub mod server;
pub mod transaction;

pub use auth::{Credentials, Secret};
pub use capabilities::{Capabilities, Mechanism};
pub use client::{Client, ClientConfig, Event, Next, Stage, TlsMode, TransactionOutcome};
pub use command::Command;
pub use envelope::Envelope;
pub use reply::{EnhancedCode, Reply, ReplyCode, ReplyParser};

/// Why the conversation cannot go on. Once [`Client`] returns one, it returns
/// the same one from then on (the error is sticky, as in rustls).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The server broke the protocol: a malformed or oversized reply, or a
    /// reply where none was due.
    #[error("protocol error: {0}")]
    Protocol(String),

    /// A command line that does not parse (the server role).
    #[error("syntax error: {0}")]
    Syntax(String),

    /// An address that cannot be put in a MAIL or RCPT command.
    #[error("invalid address {0}")]
    InvalidAddress(String),

    /// The server refused the session itself: a negative greeting or EHLO/HELO
    /// reply. (A refused MAIL ends only the transaction: see [`TransactionOutcome`].)
    #[error("{}", rejected(*stage, reply))]
    Rejected { stage: Stage, reply: Reply },

    /// The server sent 421: it is closing the connection (RFC 5321 §3.8).
    #[error("the server is closing the connection: {0}")]
    ServiceClosing(Reply),

    /// TLS is required, and the server does not offer STARTTLS (RFC 3207).
    #[error("the server does not offer STARTTLS, and TLS is required (nothing was sent)")]
    TlsUnavailable,

    /// TLS is required, and the server refused the STARTTLS command.
    #[error("the server refused STARTTLS: {0}")]
    StartTlsRefused(Reply),

    /// The server sent bytes after its 220 to STARTTLS and before the
    /// handshake: they would be read as if they came over TLS (CVE-2011-0411).
    #[error("the server sent data between its STARTTLS reply and the TLS handshake (possible command injection); connection dropped")]
    DataBeforeTls,

    /// Credentials were given, and the connection is not encrypted.
    #[error("refusing to send credentials over an unencrypted connection (use TLS, or allow it explicitly)")]
    PlaintextAuth,

    /// Credentials were given, and the TLS certificate did not verify
    /// (opportunistic TLS): anyone in the path could be the server.
    #[error("refusing to send credentials: the server's certificate did not verify (use --tls starttls with --cafile, or --insecure)")]
    UnverifiedTlsAuth,

    /// No mechanism the server offers fits the credentials (or the one asked for is not offered).
    #[error("{}", auth_unavailable(offered, wanted.as_ref()))]
    AuthUnavailable {
        offered: Vec<Mechanism>,
        wanted: Option<Mechanism>,
    },

    /// The server refused the credentials (535, 534, 454, …).
    #[error("authentication failed: {reply}{}", detail.as_ref().map(|d| format!(" ({d})")).unwrap_or_default())]
    AuthFailed {
        reply: Reply,
        /// The decoded error challenge of XOAUTH2/OAUTHBEARER, when one was sent.
        detail: Option<String>,
    },

    /// REQUIRETLS was asked for (RFC 8689), and this session cannot honour
    /// it: TLS is not in use or not verified, or the server does not offer
    /// REQUIRETLS. Nothing of the message was sent.
    #[error("REQUIRETLS cannot be honoured: {0} (nothing was sent)")]
    RequireTls(String),

    /// An internationalised address, and the server does not offer SMTPUTF8 (RFC 6531).
    #[error("{0} is an internationalised address, and the server does not offer SMTPUTF8")]
    Utf8NotSupported(String),

    /// The message is larger than the server's SIZE limit (RFC 1870).
    #[error("the message ({size} octets) is larger than the server's limit of {limit} octets")]
    MessageTooBig { size: u64, limit: u64 },

    /// The connection ended while a reply was due.
    #[error("the server closed the connection during {stage}")]
    ConnectionLost { stage: Stage },

    /// A method was called in a state where it has no meaning.
    #[error("internal error: {0}")]
    Misuse(&'static str),
}

fn rejected(stage: Stage, reply: &Reply) -> String {
    match stage {
        Stage::Greeting => format!("the server refuses the session: {reply}"),
        _ => format!("the server refused {stage}: {reply}"),
    }
}

fn auth_unavailable(offered: &[Mechanism], wanted: Option<&Mechanism>) -> String {
    let names: Vec<&str> = offered.iter().map(Mechanism::name).collect();
    let offered = if names.is_empty() {
        "the server offers no AUTH".to_string()
    } else {
        format!("the server offers AUTH {}", names.join(" "))
    };
    match wanted {
        Some(m) => format!("AUTH {m} is not available: {offered}"),
        None => format!("no AUTH mechanism fits the credentials: {offered}"),
    }
}
