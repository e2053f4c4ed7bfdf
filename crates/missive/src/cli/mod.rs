//! The command line: options, the one place errors are printed, exit codes.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::error::{exit, AppError};

#[derive(Parser, Debug)]
#[command(name = "missive", version, about = "Send mail by speaking SMTP itself")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Send a message: through a server (given, or from an account or a
    /// provider preset), or straight to each recipient domain's MX hosts.
    Send(Box<SendArgs>),
    /// Run a capture server: accept any mail and write it to a Maildir.
    Serve(Box<ServeArgs>),
    /// Show the MX hosts of domains, in the order missive would try them.
    Mx(MxArgs),
    /// Look at a server: greeting, capabilities before and after TLS, the
    /// certificate and whether it verifies, AUTH (and a login with --auth).
    Probe(Box<crate::probe::ProbeArgs>),
    /// Look at the effective configuration.
    #[command(subcommand)]
    Config(crate::account_cmd::ConfigCmd),
    /// Manage accounts in the configuration file.
    #[command(subcommand)]
    Account(crate::account_cmd::AccountCmd),
    /// The sendmail interface: the message on standard input, sendmail's
    /// options (-t -i -f -F -N …); settings from MISSIVE_* variables.
    /// Also what runs when the binary is called as `sendmail`.
    Sendmail {
        #[arg(
            trailing_var_arg = true,
            allow_hyphen_values = true,
            value_name = "OPTIONS AND RECIPIENTS"
        )]
        args: Vec<String>,
    },
}

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
    /// Require this login, NAME:PASSWORD (repeatable). Without it any login is accepted.
    #[arg(long, value_name = "NAME:PASSWORD")]
    pub auth_user: Vec<String>,
    /// Largest message accepted, in octets.
    #[arg(long, value_name = "OCTETS", default_value_t = 64 * 1024 * 1024)]
    pub max_size: u64,
    /// The server's name in its greeting.
    #[arg(long, value_name = "NAME", default_value = "localhost")]
    pub hostname: String,
    /// Seconds to wait for each command.
    #[arg(long, value_name = "SECS", default_value_t = 300)]
    pub timeout: u64,
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

/// Who to log in as, and where the secret comes from: never the command
/// line itself. Shared by `send`, `probe` and `account add`.
#[derive(Args, Debug, Default, Clone)]
pub struct Login {
    /// The user name to authenticate as.
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,
    /// Read the password from this environment variable.
    #[arg(long, value_name = "VAR")]
    pub password_env: Option<String>,
    /// Run this command and use the first line of its output as the password.
    #[arg(long, value_name = "CMD")]
    pub password_cmd: Option<String>,
    /// Run this command and use the first line of its output as an OAuth2 access token.
    #[arg(long, value_name = "CMD", conflicts_with_all = ["password_env", "password_cmd"])]
    pub oauth_token_cmd: Option<String>,
}

/// Where an account's secret is, when the configuration says (see `settings`).
#[derive(Debug, Clone, Default)]
pub struct Configured {
    /// A password written in the configuration file.
    pub password: Option<missive_smtp::Secret>,
    /// The account whose password is in the OS keyring.
    pub keyring_account: Option<String>,
    /// The account that signs in with OAuth2, and its settings.
    pub oauth: Option<(String, crate::oauth::OAuthConfig)>,
}

/// What the sendmail interface changes in a send.
#[derive(Debug, Clone, Default)]
pub struct SendmailMode {
    /// `-F`: the full name for a From the message lacks.
    pub full_name: Option<String>,
    /// Without `-i`, a lone `.` ends the input.
    pub dot_ends_input: bool,
}

/// TLS modes for `--tls`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TlsArg {
    /// STARTTLS, required: stop if the server does not offer it or it fails.
    Starttls,
    /// TLS from the first byte (port 465, RFC 8314).
    Implicit,
    /// STARTTLS when offered, else plaintext; certificate problems are reported, not fatal.
    Opportunistic,
    /// No TLS at all.
    None,
}

/// `--dsn-ret`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DsnRet {
    Full,
    Hdrs,
}

impl DsnRet {
    pub fn wire(self) -> &'static str {
        match self {
            DsnRet::Full => "FULL",
            DsnRet::Hdrs => "HDRS",
        }
    }
}

/// SASL mechanisms for `--auth`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum, serde::Deserialize, serde::Serialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum AuthArg {
    #[default]
    Auto,
    Plain,
    Login,
    CramMd5,
    Xoauth2,
    Oauthbearer,
    None,
}

#[derive(Args, Debug, Default, Clone)]
pub struct SendArgs {
    /// The submission server, HOST[:PORT] ([IPv6]:PORT); the port defaults to 587.
    #[arg(long, value_name = "HOST[:PORT]")]
    pub server: Option<String>,
    /// Deliver straight to each recipient domain's MX hosts (the default when no --server is given).
    #[arg(long)]
    pub direct: bool,
    /// Direct delivery: use this DNS server, IP[:PORT], instead of the system's.
    #[arg(long, value_name = "IP[:PORT]")]
    pub dns_server: Option<String>,
    /// Direct delivery: the port of the MX hosts (default 25; for tests and unusual networks).
    #[arg(long, value_name = "PORT")]
    pub mx_port: Option<u16>,
    /// Use this account of the configuration file.
    #[arg(long, value_name = "NAME")]
    pub account: Option<String>,
    /// Use a provider's settings: office365, outlook, gmail, aol, yahoo, icloud, fastmail, zoho, gmx, mailbox-org, proton-bridge.
    #[arg(long, value_name = "NAME")]
    pub preset: Option<String>,
    /// The configuration file (default: $XDG_CONFIG_HOME/missive/config.toml).
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Secrets found in the configuration (not command-line options).
    #[arg(skip)]
    pub configured: Configured,
    /// Set by the sendmail interface.
    #[arg(skip)]
    pub sendmail: Option<SendmailMode>,
    /// `--auth` named a mechanism on the command line (then a user is required).
    #[arg(skip)]
    pub auth_explicit: bool,
    /// The sender: an address, or `Name <address>`.
    #[arg(long, value_name = "ADDR")]
    pub from: Option<String>,
    /// A recipient (repeatable, or comma-separated).
    #[arg(long, value_name = "ADDR")]
    pub to: Vec<String>,
    /// A copy recipient, shown in the Cc header.
    #[arg(long, value_name = "ADDR")]
    pub cc: Vec<String>,
    /// A blind copy recipient: in the envelope, never in the headers.
    #[arg(long, value_name = "ADDR")]
    pub bcc: Vec<String>,
    #[arg(long, value_name = "TEXT")]
    pub subject: Option<String>,
    /// The message text (else --body-file, else standard input when it is not a terminal).
    #[arg(long, value_name = "TEXT", conflicts_with = "body_file")]
    pub body: Option<String>,
    /// Read the message text from a file.
    #[arg(long, value_name = "PATH")]
    pub body_file: Option<PathBuf>,
    /// An HTML part (with a text part: multipart/alternative).
    #[arg(long, value_name = "HTML", conflicts_with = "html_file")]
    pub html: Option<String>,
    /// Read the HTML part from a file.
    #[arg(long, value_name = "PATH")]
    pub html_file: Option<PathBuf>,
    /// Attach a file (repeatable): PATH[;type=TYPE][;name=NAME].
    #[arg(long, value_name = "PATH")]
    pub attach: Vec<String>,
    /// An image the HTML shows inline as cid:NAME (repeatable): PATH[;type=TYPE][;name=NAME].
    #[arg(long, value_name = "PATH")]
    pub inline: Vec<String>,
    /// Add a header, 'Name: value' (repeatable); From, To, Cc, Subject, Date,
    /// Reply-To and Message-ID given this way replace the defaults.
    #[arg(long, value_name = "NAME: VALUE")]
    pub header: Vec<String>,
    /// The Reply-To address (repeatable).
    #[arg(long, value_name = "ADDR")]
    pub reply_to: Vec<String>,
    /// Send a ready-made RFC 5322 message from a file (- for standard input) as it is.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["body", "body_file", "html", "html_file", "attach", "inline", "header", "subject", "reply_to"])]
    pub message: Option<String>,
    /// With --message: also send to the To, Cc and Bcc of the message.
    #[arg(short = 't', long, requires = "message")]
    pub read_recipients: bool,
    /// Print the envelope and the message exactly as it would be sent, and send nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Do not use BDAT (CHUNKING) even when the server offers it.
    #[arg(long)]
    pub no_chunking: bool,
    /// DSN: when to notify (never, or success,failure,delay), if the server offers DSN.
    #[arg(long, value_name = "WHEN")]
    pub dsn_notify: Option<String>,
    /// DSN: return the full message or only its headers in a bounce.
    #[arg(long, value_enum, value_name = "full|hdrs")]
    pub dsn_ret: Option<DsnRet>,
    /// DSN: an envelope identifier returned in notifications.
    #[arg(long, value_name = "ID")]
    pub envid: Option<String>,
    /// The name to give in EHLO (default: the host's FQDN, else an address literal).
    #[arg(long, value_name = "NAME")]
    pub ehlo: Option<String>,
    /// Upper bound in seconds on every network wait (connect, each reply, each write).
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<u64>,
    /// TLS mode (default: implicit on port 465, else starttls).
    #[arg(long, value_enum)]
    pub tls: Option<TlsArg>,
    /// Trust the CA certificates in this PEM file, besides the system's.
    #[arg(long, value_name = "PEM")]
    pub cafile: Option<PathBuf>,
    /// Do not verify the server's certificate (prints a warning; never the default).
    #[arg(long)]
    pub insecure: bool,
    /// The AUTH mechanism (default auto: the best offered one that fits the credentials).
    #[arg(long, value_enum)]
    pub auth: Option<AuthArg>,
    #[command(flatten)]
    pub login: Login,
    /// Permit AUTH over a connection that is not encrypted.
    #[arg(long)]
    pub allow_plaintext_auth: bool,
    /// Show the SMTP conversation on stderr (-vv: the message body too).
    #[arg(short, long, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Send to a capture server started in-process on loopback (no account,
    /// no network): full STARTTLS, AUTH and PIPELINING; the message lands in --maildir.
    #[arg(long, conflicts_with_all = ["server", "cafile", "insecure", "user", "tls"])]
    pub sandbox: bool,
    /// With --sandbox: where the delivered message is written (a Maildir).
    #[arg(long, value_name = "DIR", requires = "sandbox")]
    pub maildir: Option<PathBuf>,
    /// Print nothing on success.
    #[arg(short, long)]
    pub quiet: bool,
    /// Print a JSON report on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Runs the command line and returns the process exit code.
pub fn main() -> i32 {
    let argv: Vec<String> = std::env::args().collect();
    let called_as = argv
        .first()
        .and_then(|a| std::path::Path::new(a).file_name())
        .and_then(|n| n.to_str())
        .unwrap_or("");
    if called_as == "sendmail" {
        return run(Cmd::Sendmail {
            args: argv[1..].to_vec(),
        });
    }
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    exit::OK
                }
                _ => exit::USAGE,
            };
            let _ = e.print();
            return code;
        }
    };
    run(cli.cmd)
}

fn run(cmd: Cmd) -> i32 {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("missive: cannot start: {e}");
            return exit::SOFTWARE;
        }
    };
    let result = runtime.block_on(async {
        match cmd {
            Cmd::Send(args) => crate::send::run(*args).await,
            Cmd::Serve(args) => crate::serve_cmd::run(*args).await,
            Cmd::Mx(args) => crate::mx_cmd::run(args).await,
            Cmd::Probe(a) => crate::probe::run(*a).await,
            Cmd::Config(c) => crate::account_cmd::config(c),
            Cmd::Account(c) => crate::account_cmd::account(c),
            Cmd::Sendmail { args } => match crate::sendmail::parse(&args) {
                Ok(send) => crate::send::run(send).await,
                Err(e) => Err(e),
            },
        }
    });
    match result {
        Ok(()) => exit::OK,
        Err(e) => {
            report_error(&e);
            e.exit_code()
        }
    }
}

/// The one place an error reaches the user: one line, prefixed `missive:`,
/// and a `hint:` line when missive knows what to do about it.
pub fn report_error(e: &AppError) {
    eprintln!("missive: {e}");
    if let Some(h) = e.hint() {
        eprintln!("hint: {h}");
    }
}
