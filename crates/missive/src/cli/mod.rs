//! The command line, parsed (clap). Nothing outside `cli` and `cmd` sees
//! these types: `cmd` turns them into plain settings before anything runs.

use clap::{Parser, Subcommand};

use crate::error::exit;

pub(crate) mod args;
pub(crate) mod commands;
pub(crate) mod sendmail;

pub(crate) use args::SendArgs;
pub(crate) use commands::{AccountCmd, ConfigCmd, MxArgs, ProbeArgs, QueueCmd, ServeArgs};

#[derive(Parser, Debug)]
#[command(name = "missive", version, about = "Send mail by speaking SMTP itself")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

/// A subcommand and its options.
#[derive(Subcommand, Debug)]
pub(crate) enum Cmd {
    /// Send a message: through a server (given, or from an account or a
    /// provider preset), or straight to each recipient domain's MX hosts.
    Send(Box<SendArgs>),
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

/// The subcommand of this process's arguments, or the exit code when there
/// is nothing to run (help, version, a usage error: already printed).
pub(crate) fn parse() -> Result<Cmd, i32> {
    let argv: Vec<String> = std::env::args().collect();
    let called_as = argv
        .first()
        .and_then(|a| std::path::Path::new(a).file_name())
        .and_then(|n| n.to_str())
        .unwrap_or("");
    if called_as == "sendmail" {
        return Ok(Cmd::Sendmail {
            args: argv[1..].to_vec(),
        });
    }
    match Cli::try_parse() {
        Ok(c) => Ok(c.cmd),
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
