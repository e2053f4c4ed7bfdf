//! The options of `serve`, `mx`, `probe`, `config` and `account`.

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};

use super::args::{AuthArg, Login, TlsArg};

#[derive(Args, Debug, Default, Clone)]
pub struct MxArgs {
    /// The domains to look up.
    #[arg(required = true, value_name = "DOMAIN")]
    pub domains: Vec<String>,
    /// Use this DNS server, IP[:PORT], instead of the system's.
    #[arg(long, value_name = "IP[:PORT]")]
    pub dns_server: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug, Default, Clone)]
pub struct ServeArgs {
    /// Listen here (repeatable); STARTTLS is offered.
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Vec<String>,
    /// Listen here with implicit TLS (repeatable).
    #[arg(long, value_name = "ADDR:PORT")]
    pub tls_listen: Vec<String>,
    /// Where messages are written.
    #[arg(long, value_name = "DIR", default_value = "missive-mail")]
    pub maildir: PathBuf,
    /// Certificate chain (PEM); without it a throwaway CA and certificate are generated.
    #[arg(long, value_name = "PEM", requires = "key")]
    pub cert: Option<PathBuf>,
    /// Private key (PEM) for --cert.
    #[arg(long, value_name = "PEM", requires = "cert")]
    pub key: Option<PathBuf>,
    /// Require this login (repeatable), its password in $MISSIVE_SERVE_PASSWORD or --auth-password-file (never on the command line). Without it any login is accepted.
    #[arg(long, value_name = "NAME")]
    pub auth_user: Vec<String>,
    /// The password of --auth-user: the first line of this file.
    #[arg(long, value_name = "PATH")]
    pub auth_password_file: Option<PathBuf>,
    /// Largest message accepted, in octets.
    #[arg(long, value_name = "OCTETS", default_value_t = 64 * 1024 * 1024)]
    pub max_size: u64,
    /// The server's name in its greeting.
    #[arg(long, value_name = "NAME", default_value = "localhost")]
    pub hostname: String,
    /// Seconds to wait for each command (the whole command, however slowly it comes).
    #[arg(long, value_name = "SECS", default_value_t = 300)]
    pub timeout: u64,
    /// Seconds a whole session may last.
    #[arg(long, value_name = "SECS", default_value_t = 600)]
    pub session_timeout: u64,
    /// Connections served at once; more are answered 421 and closed.
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub max_connections: usize,
    /// Refuse recipients matching PATTERN (`*` wildcards) with CODE, e.g. 'bad*@x.test=550' (repeatable).
    #[arg(long, value_name = "PATTERN=CODE")]
    pub reject_rcpt: Vec<String>,
    /// Answer CODE at STAGE (greeting, ehlo, mail, rcpt, data, end-of-data), e.g. 'rcpt=451' (repeatable).
    #[arg(long, value_name = "STAGE=CODE")]
    pub fail_at: Vec<String>,
    /// Drop the connection at STAGE instead of answering (repeatable).
    #[arg(long, value_name = "STAGE")]
    pub drop_at: Vec<String>,
    /// Wait MS milliseconds before answering at STAGE, e.g. 'data=2000' (repeatable).
    #[arg(long, value_name = "STAGE=MS")]
    pub delay: Vec<String>,
    /// Print nothing per message.
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Args, Debug, Clone, Default)]
pub struct ProbeArgs {
    /// The server, HOST[:PORT] ([IPv6]:PORT); the port defaults to 587.
    #[arg(value_name = "HOST[:PORT]")]
    pub server: String,
    /// TLS mode (default: implicit on port 465, else STARTTLS when offered).
    #[arg(long, value_enum)]
    pub tls: Option<TlsArg>,
    #[arg(long, value_name = "PEM")]
    pub cafile: Option<PathBuf>,
    /// Report certificate problems without failing on them.
    #[arg(long)]
    pub insecure: bool,
    /// Also try to log in (needs --user and a secret), then QUIT without sending.
    #[arg(long, value_enum, num_args = 0..=1, default_missing_value = "auto")]
    pub auth: Option<AuthArg>,
    #[command(flatten)]
    pub login: Login,
    #[arg(long)]
    pub allow_plaintext_auth: bool,
    #[arg(long, value_name = "NAME")]
    pub ehlo: Option<String>,
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    pub timeout: u64,
    #[arg(short, long, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[arg(long)]
    pub json: bool,
}

#[derive(Subcommand, Debug, Clone)]
pub enum ConfigCmd {
    /// Print the effective settings and where each comes from (secrets redacted).
    Show(ShowArgs),
}

#[derive(Args, Debug, Clone, Default)]
pub struct ShowArgs {
    #[arg(long, value_name = "NAME")]
    pub account: Option<String>,
    /// The sender whose account is chosen (as `send --from` would).
    #[arg(long, value_name = "ADDR")]
    pub from: Option<String>,
    #[arg(long, value_name = "NAME")]
    pub preset: Option<String>,
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Subcommand, Debug, Clone)]
pub enum AccountCmd {
    /// Add an account to the configuration file (created with mode 0600).
    Add(Box<AddArgs>),
    /// Sign in with OAuth2 (device code, or a browser on this machine) and store the tokens.
    Login {
        name: String,
        /// device: enter a code on any device; browser: sign in here (loopback redirect).
        #[arg(long, value_enum)]
        flow: Option<FlowArg>,
        /// Only print the sign-in address; do not open a browser.
        #[arg(long)]
        no_browser: bool,
        #[arg(long, value_name = "PATH")]
        config: Option<PathBuf>,
    },
    /// Print a fresh access token (for msmtp's passwordeval, git send-email, …).
    Token {
        name: String,
        #[arg(long, value_name = "PATH")]
        config: Option<PathBuf>,
    },
    /// Store an account's password in the OS keyring (asked for without echo).
    SetPassword {
        name: String,
        #[arg(long, value_name = "PATH")]
        config: Option<PathBuf>,
    },
}

#[derive(Args, Debug, Clone, Default)]
pub struct AddArgs {
    pub name: String,
    #[arg(long)]
    pub preset: Option<String>,
    #[arg(long, value_name = "HOST[:PORT]")]
    pub server: Option<String>,
    #[arg(long, value_enum)]
    pub tls: Option<TlsArg>,
    #[arg(long, value_enum)]
    pub auth: Option<AuthArg>,
    #[command(flatten)]
    pub login: Login,
    /// The sender address, or a pattern like '*@example.com' that selects this account.
    #[arg(long)]
    pub from: Option<String>,
    /// OAuth2: the application (client) id registered with the provider;
    /// with --preset office365, outlook or gmail this sets up sign-in.
    #[arg(long, value_name = "ID")]
    pub client_id: Option<String>,
    /// OAuth2, Microsoft: common, organizations, consumers or a tenant id.
    #[arg(long, value_name = "TENANT")]
    pub tenant: Option<String>,
    /// The password is kept in the OS keyring (set it with `account set-password`).
    #[arg(long)]
    pub keyring: bool,
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
}

/// How to sign in with OAuth2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FlowArg {
    /// Device authorization: a code to enter on another device (RFC 8628).
    Device,
    /// A browser on this machine, redirected back to a loopback port (RFC 8252).
    Browser,
}
