//! The command line, parsed (clap). Nothing outside `cli` and `cmd` sees
//! these types: `cmd` turns them into plain settings before anything runs.

use clap::{CommandFactory, Parser, Subcommand, ValueEnum};

use crate::error::exit;

pub(crate) mod args;
pub(crate) mod commands;
pub(crate) mod dkim;
pub(crate) mod sendmail;

pub(crate) use args::SendArgs;
pub(crate) use commands::{
    AccountCmd, BulkArgs, CompletionsArgs, ConfigCmd, ManArgs, MxArgs, ProbeArgs, QueueCmd,
    ServeArgs,
};
pub(crate) use dkim::DkimCmd;

/// `--version`: missive's, the TLS library's, and the protocols it speaks
/// (for bug reports). The dependency versions come from Cargo.lock (build.rs).
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    "\nrustls ",
    env!("MISSIVE_RUSTLS_VERSION"),
    " (ring ",
    env!("MISSIVE_RING_VERSION"),
    "): TLS 1.3, TLS 1.2\n",
    "SMTP (RFC 5321) with ESMTP PIPELINING, STARTTLS, AUTH (PLAIN, LOGIN, CRAM-MD5, XOAUTH2, OAUTHBEARER), ",
    "SIZE, 8BITMIME, SMTPUTF8, CHUNKING (BDAT), DSN, ENHANCEDSTATUSCODES; submission on 587 and 465 (RFC 8314)\n",
    "proxies: SOCKS5 (RFC 1928, RFC 1929 login), HTTP CONNECT"
);

#[derive(Parser, Debug)]
#[command(name = "missive", version = VERSION, about = "Send mail by speaking SMTP itself")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
    /// Print nothing on success (errors still go to stderr).
    #[arg(short, long, global = true)]
    quiet: bool,
    /// Colour transcripts, errors and hints: auto (on a terminal, unless NO_COLOR is set), always, never.
    #[arg(long, value_enum, global = true, value_name = "WHEN")]
    color: Option<ColorArg>,
}

/// `--color`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ColorArg {
    Auto,
    Always,
    Never,
}

/// The options that apply to every subcommand.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Globals {
    pub quiet: bool,
    /// `None`: not given (then MISSIVE_COLOR, then auto).
    pub color: Option<ColorArg>,
}

/// The whole command line's definition: for completions and the man page.
pub(crate) fn command() -> clap::Command {
    Cli::command()
}

/// A subcommand and its options.
#[derive(Subcommand, Debug)]
pub(crate) enum Cmd {
    /// Send a message: through a server (given, or from an account or a
    /// provider preset), or straight to each recipient domain's MX hosts.
    Send(Box<SendArgs>),
    /// Send one personalised message per row of a CSV file, from a
    /// template: in parallel sessions, within rate limits, resumable.
    Bulk(Box<BulkArgs>),
    /// Run a capture server: accept any mail and write it to a Maildir.
    Serve(Box<ServeArgs>),
    /// Show the MX hosts of domains, in the order missive would try them.
    Mx(MxArgs),
    /// Look at a server: greeting, capabilities before and after TLS, the
    /// certificate and whether it verifies, AUTH (and a login with --auth).
    Probe(Box<ProbeArgs>),
    /// Look at the effective configuration.
    #[command(subcommand)]
    Config(ConfigCmd),
    /// Manage accounts in the configuration file.
    #[command(subcommand)]
    Account(AccountCmd),
    /// The outbox: messages kept for later delivery (run, flush, list, show, remove, retry).
    #[command(subcommand)]
    Queue(QueueCmd),
    /// DKIM keys: make one and print its DNS record, or check the published record.
    #[command(subcommand)]
    Dkim(DkimCmd),
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
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(CompletionsArgs),
    /// Print the man pages (roff): missive(1) and one per subcommand.
    Man(ManArgs),
}

/// The subcommand of this process's arguments and the global options, or
/// the exit code when there is nothing to run (help, version, a usage
/// error: already printed).
pub(crate) fn parse() -> Result<(Cmd, Globals), i32> {
    let argv: Vec<String> = std::env::args().collect();
    let called_as = argv
        .first()
        .and_then(|a| std::path::Path::new(a).file_name())
        .and_then(|n| n.to_str())
        .unwrap_or("");
    if called_as == "sendmail" {
        return Ok((
            Cmd::Sendmail {
                args: argv[1..].to_vec(),
            },
            Globals::default(),
        ));
    }
    match Cli::try_parse() {
        Ok(c) => Ok((
            c.cmd,
            Globals {
                quiet: c.quiet,
                color: c.color,
            },
        )),
        Err(e) => {
            let code = match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    exit::OK
                }
                _ => exit::USAGE,
            };
            let _ = e.print();
            Err(code)
        }
    }
}
