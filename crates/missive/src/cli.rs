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
    /// Send a message through an SMTP submission server.
    Send(Box<SendArgs>),
}

/// TLS modes for `--tls`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
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

/// SASL mechanisms for `--auth`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
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

#[derive(Args, Debug, Default)]
pub struct SendArgs {
    /// The submission server, HOST[:PORT] ([IPv6]:PORT); the port defaults to 587.
    #[arg(long, value_name = "HOST[:PORT]")]
    pub server: Option<String>,
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
    /// The AUTH mechanism (auto: the best offered one that fits the credentials).
    #[arg(long, value_enum, default_value = "auto")]
    pub auth: AuthArg,
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
    /// Permit AUTH over a connection that is not encrypted.
    #[arg(long)]
    pub allow_plaintext_auth: bool,
    /// Show the SMTP conversation on stderr (-vv: the message body too).
    #[arg(short, long, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Print nothing on success.
    #[arg(short, long)]
    pub quiet: bool,
    /// Print a JSON report on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Runs the command line and returns the process exit code.
pub fn main() -> i32 {
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
        match cli.cmd {
            Cmd::Send(args) => crate::send::run(*args).await,
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

/// The one place an error reaches the user: one line, prefixed `missive:`.
pub fn report_error(e: &AppError) {
    eprintln!("missive: {e}");
}
