//! The application's error type and its sysexits exit codes, in one place.

use missive_smtp::client::Stage;

pub(crate) mod hints;
mod printable;
use missive_smtp::Error as Smtp;
pub use printable::printable;

/// sysexits(3) codes, as documented in the README.
pub mod exit {
    /// Every recipient accepted.
    pub const OK: i32 = 0;
    /// A bad option, no sender, no recipient.
    pub const USAGE: i32 = 64;
    /// Bad input data: an invalid address, a header with CR/LF, non-UTF-8 text.
    pub const DATAERR: i32 = 65;
    /// A host name or recipient domain does not exist.
    pub const NOHOST: i32 = 68;
    /// A permanent rejection (5xx, null MX, over the SIZE limit).
    pub const UNAVAILABLE: i32 = 69;
    /// An internal error.
    pub const SOFTWARE: i32 = 70;
    /// A file that cannot be read or written.
    pub const IOERR: i32 = 74;
    /// A temporary failure (4xx, timeout, connection lost): try again later.
    pub const TEMPFAIL: i32 = 75;
    /// The server broke SMTP.
    pub const PROTOCOL: i32 = 76;
    /// Authentication failed, or TLS required but unavailable or unverified.
    pub const NOPERM: i32 = 77;
    /// A configuration error.
    pub const CONFIG: i32 = 78;
}

/// Everything that can stop missive. Each variant says what went wrong in
/// words a user can act on; none carries a secret.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AppError {
    /// The command line does not make sense.
    #[error("{0}")]
    Usage(String),

    /// Bad input: an invalid address, a header with CR/LF, a non-UTF-8 body.
    #[error("{0}")]
    Data(String),

    /// A file could not be read or written.
    #[error("{0}")]
    Io(String),

    /// A setting is wrong (a password command that fails, an unreadable CA file).
    #[error("{0}")]
    Config(String),

    /// The server's name does not resolve.
    #[error("{0}")]
    NoHost(String),

    /// Could not connect, or the connection broke.
    #[error("{0}")]
    Network(String),

    /// A wait for the server ran out (RFC 5321 §4.5.3.2).
    #[error("timed out after {secs} s at {stage}; the server did not respond")]
    Timeout {
        /// What was being waited for.
        stage: Stage,
        /// How long, in seconds.
        secs: u64,
    },

    /// The overall deadline of a delivery ran out while waiting at `stage`.
    #[error("the overall deadline ran out during {stage}")]
    Deadline {
        /// What was being waited for.
        stage: Stage,
    },

    /// TLS could not be set up while it is required (handshake, certificate).
    #[error("{0}")]
    Tls(String),

    /// Signing in or getting a token failed (OAuth2).
    #[error("{0}")]
    Auth(String),

    /// The SMTP conversation failed.
    #[error("{0}")]
    Smtp(#[from] Smtp),

    /// The outbox could not store or change a message (a full disk, a
    /// spool directory that cannot be written): nothing was queued.
    #[error("{0}")]
    Spool(String),

    /// Recipients were refused; each was already reported. The code is the worst outcome.
    #[error("{0}")]
    Refused(String, i32),
}

impl AppError {
    /// The sysexits code for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            AppError::Usage(_) => exit::USAGE,
            AppError::Data(_) => exit::DATAERR,
            AppError::Io(_) => exit::IOERR,
            AppError::Config(_) => exit::CONFIG,
            AppError::NoHost(_) => exit::NOHOST,
            AppError::Network(_)
            | AppError::Timeout { .. }
            | AppError::Deadline { .. }
            | AppError::Spool(_) => exit::TEMPFAIL,
            AppError::Tls(_) | AppError::Auth(_) => exit::NOPERM,
            AppError::Refused(_, code) => *code,
            AppError::Smtp(e) => match e {
                Smtp::Protocol(_) | Smtp::Syntax(_) | Smtp::DataBeforeTls => exit::PROTOCOL,
                Smtp::InvalidAddress(_) | Smtp::Utf8NotSupported(_) => exit::DATAERR,
                Smtp::Rejected { reply, .. } => reply_code_exit(reply.code.is_transient()),
                Smtp::ServiceClosing(_) | Smtp::ConnectionLost { .. } => exit::TEMPFAIL,
                Smtp::TlsUnavailable
                | Smtp::StartTlsRefused(_)
                | Smtp::PlaintextAuth
                | Smtp::UnverifiedTlsAuth
                | Smtp::RequireTls(_) => exit::NOPERM,
                Smtp::AuthUnavailable { .. } => exit::NOPERM,
                Smtp::AuthFailed { reply, .. } if reply.code.is_transient() => exit::TEMPFAIL,
                Smtp::AuthFailed { .. } => exit::NOPERM,
                Smtp::MessageTooBig { .. } => exit::UNAVAILABLE,
                Smtp::Misuse(_) => exit::SOFTWARE,
            },
        }
    }
}

impl AppError {
    /// What to do about this error, when missive knows: the hints table for
    /// server replies, and the local failures it can recognise.
    pub fn hint(&self) -> Option<String> {
        match self {
            AppError::Smtp(Smtp::AuthFailed { reply, .. })
            | AppError::Smtp(Smtp::Rejected { reply, .. })
            | AppError::Smtp(Smtp::StartTlsRefused(reply))
            | AppError::Smtp(Smtp::ServiceClosing(reply)) => hints::for_reply(reply),
            AppError::Smtp(Smtp::TlsUnavailable) => Some(
                "this port does not offer STARTTLS: submission uses 587 (STARTTLS) or 465 (--tls implicit); \
                 --tls opportunistic would send in plaintext"
                    .into(),
            ),
            AppError::Smtp(Smtp::PlaintextAuth) => Some(
                "use TLS (--tls starttls or --tls implicit); --allow-plaintext-auth only on a network you trust".into(),
            ),
            AppError::Smtp(Smtp::AuthUnavailable { offered, .. }) if offered.is_empty() => Some(
                "the server offers no AUTH here: some servers offer it only after STARTTLS, or only on the submission port 587/465"
                    .into(),
            ),
            AppError::Timeout { stage: Stage::Greeting, .. } => Some(
                "the server sent no greeting: if this port expects implicit TLS (like 465), use --tls implicit".into(),
            ),
            // Implicit TLS to a plaintext port (not garbage after STARTTLS).
            AppError::Tls(m) if !m.contains("after STARTTLS") && (m.contains("corrupt message") || m.contains("InvalidContentType") || m.contains("invalid content type")) => Some(
                "this port answers in plain text: it speaks STARTTLS, so use --tls starttls (or port 465 for implicit TLS)".into(),
            ),
            AppError::Network(m) if m.contains("TLS handshake") && m.contains("timed out") => Some(
                "the server did not answer the TLS handshake: check the port and the --tls mode".into(),
            ),
            AppError::NoHost(_) => Some(
                "check the spelling of the host name; for a provider, --preset NAME fills in its server".into(),
            ),
            AppError::Network(m) if m.contains("Connection refused") => Some(
                "nothing listens on that port: submission is usually 587 (STARTTLS) or 465 (implicit TLS), relay 25".into(),
            ),
            _ => None,
        }
    }
}

impl AppError {
    /// The `--json` form of an error that stopped a command before its report.
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({ "error": self.to_string(), "hint": self.hint(), "exit_code": self.exit_code() })
    }
}

/// 4xx is worth retrying (75), 5xx is not (69).
pub fn reply_code_exit(transient: bool) -> i32 {
    if transient {
        exit::TEMPFAIL
    } else {
        exit::UNAVAILABLE
    }
}

/// missive's `Result`.
pub type Result<T, E = AppError> = std::result::Result<T, E>;
