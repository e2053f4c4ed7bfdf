//! The options of `serve`, `mx`, `probe`, `config` and `account`.

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};

use super::args::{AuthArg, Login, ProxyArgs, TlsArg};

#[derive(Args, Debug, Default, Clone)]
pub struct MxArgs {
    /// The domains to look up.
    #[arg(required = true, value_name = "DOMAIN")]
    pub domains: Vec<String>,
    /// Use this DNS server, IP[:PORT], instead of the system's.
    #[arg(long, value_name = "IP[:PORT]")]
    pub dns_server: Option<String>,
    /// Validate DNSSEC and show each host's DANE (TLSA) requirements, against the DNSKEY/DS records in this file; `iana`, `auto` or `none` as for `send --direct`. Default: auto with the system's DNS, none with --dns-server.
    #[arg(long, value_name = "FILE|iana|auto|none")]
    pub dnssec_trust_anchor: Option<std::path::PathBuf>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// The global -q: print nothing on success.
    #[arg(skip)]
    pub quiet: bool,
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
    /// Serve a web page and a JSON API for the captured mail here: ADDR:PORT, or a PORT alone for 127.0.0.1:PORT (off by default).
    #[arg(long, value_name = "[ADDR:]PORT")]
    pub http: Option<String>,
    /// Require this login (HTTP Basic) for the page and the API; the password in $MISSIVE_HTTP_PASSWORD or --http-auth-password-file (never on the command line).
    #[arg(long, value_name = "NAME", requires = "http")]
    pub http_auth_user: Option<String>,
    /// The password of --http-auth-user: the first line of this file.
    #[arg(long, value_name = "PATH", requires = "http_auth_user")]
    pub http_auth_password_file: Option<PathBuf>,
    /// Print nothing per message (set by the global -q).
    #[arg(skip)]
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
    #[command(flatten)]
    pub proxy: ProxyArgs,
    #[arg(short, long, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[arg(long)]
    pub json: bool,
    /// The global -q: no report on success.
    #[arg(skip)]
    pub quiet: bool,
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
    /// The global -q: only check that the configuration resolves.
    #[arg(skip)]
    pub quiet: bool,
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
    /// The global -q: no notes on success.
    #[arg(skip)]
    pub quiet: bool,
}

/// How to sign in with OAuth2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FlowArg {
    /// Device authorization: a code to enter on another device (RFC 8628).
    Device,
    /// A browser on this machine, redirected back to a loopback port (RFC 8252).
    Browser,
}

/// `missive bulk`: one personalised message per CSV row.
#[derive(Args, Debug, Clone, Default)]
pub struct BulkArgs {
    /// The recipients: a CSV file with a header row (RFC 4180, UTF-8).
    #[arg(long, value_name = "FILE")]
    pub csv: PathBuf,
    /// The message template: header lines, a blank line, the text body;
    /// `{{ column }}` placeholders (minijinja: conditionals, defaults, filters).
    #[arg(long, value_name = "FILE")]
    pub template: PathBuf,
    /// An HTML part, also a template (values inserted are HTML-escaped).
    #[arg(long, value_name = "FILE")]
    pub html_file: Option<PathBuf>,
    /// Attach a file per row (repeatable); the path may be a template: 'invoices/{{ id }}.pdf'.
    #[arg(long, value_name = "PATH")]
    pub attach: Vec<String>,
    /// An inline image per row (repeatable), shown by the HTML as cid:NAME; may be a template.
    #[arg(long, value_name = "PATH")]
    pub inline: Vec<String>,
    /// The column that holds each row's recipient (an address or `Name <address>`).
    #[arg(long, value_name = "NAME", default_value = "email")]
    pub to_column: String,
    #[command(flatten)]
    pub route: super::args::RouteArgs,
    /// Sessions in parallel (default 4, or the preset's lower limit).
    #[arg(long, value_name = "N")]
    pub connections: Option<usize>,
    /// A sending limit, N/s, N/min, N/h or N/day (repeatable; all hold).
    #[arg(long, value_name = "N/UNIT")]
    pub rate: Vec<String>,
    /// A new session after this many messages.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub max_per_connection: usize,
    /// The journal that makes the run resumable (default: <csv>.journal).
    #[arg(long, value_name = "FILE")]
    pub journal: Option<PathBuf>,
    /// Print the first N rendered messages (default 1) and the totals; send nothing.
    #[arg(long, value_name = "N", num_args = 0..=1, default_missing_value = "1")]
    pub dry_run: Option<usize>,
    /// Send without asking for confirmation.
    #[arg(long)]
    pub yes: bool,
    /// Resend the rows whose end of message went out without a reply (they may arrive twice).
    #[arg(long)]
    pub resend_in_doubt: bool,
    /// Show the SMTP conversation on stderr.
    #[arg(short, long, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Print a JSON object per row as it completes, then a summary (JSON Lines).
    #[arg(long)]
    pub json: bool,
    /// No progress, only errors and the summary.
    #[arg(short, long)]
    pub quiet: bool,
}

/// `missive completions SHELL`.
#[derive(Args, Debug, Clone)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// `missive man`.
#[derive(Args, Debug, Clone, Default)]
pub struct ManArgs {
    /// Write missive.1 and missive-SUBCOMMAND.1 into this directory instead
    /// of printing them all on standard output.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// Where the outbox is, for every `queue` subcommand.
#[derive(Args, Debug, Clone, Default)]
pub struct QueueOpts {
    /// The queue directory (default: queue_dir of the configuration, else
    /// $XDG_STATE_HOME/missive/queue).
    #[arg(long, value_name = "DIR")]
    pub queue_dir: Option<PathBuf>,
    /// The configuration file.
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
}

#[derive(Subcommand, Debug, Clone)]
pub enum QueueCmd {
    /// Deliver every entry that is due, then exit (for cron or a systemd timer).
    Run {
        /// Keep running: deliver entries as they fall due or arrive.
        #[arg(long)]
        watch: bool,
        #[command(flatten)]
        opts: QueueOpts,
        /// Show the SMTP conversations on stderr.
        #[arg(short, long, action = clap::ArgAction::Count)]
        verbose: u8,
    },
    /// Try every entry now, whatever its schedule.
    Flush {
        #[command(flatten)]
        opts: QueueOpts,
        #[arg(short, long, action = clap::ArgAction::Count)]
        verbose: u8,
    },
    /// List the entries: id, age, sender, recipients and their state, attempts, next attempt, last reply.
    List {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        opts: QueueOpts,
    },
    /// Show one entry (queued or failed), with the message's headers.
    Show {
        id: String,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        opts: QueueOpts,
    },
    /// Delete an entry without delivering it.
    Remove {
        id: String,
        #[command(flatten)]
        opts: QueueOpts,
    },
    /// Make an entry due now.
    Retry {
        id: String,
        #[command(flatten)]
        opts: QueueOpts,
    },
}
