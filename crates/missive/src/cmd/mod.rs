//! One small file per subcommand: each turns its parsed options into plain
//! settings, runs, and reports. [`main`] is the binary: parse, run, print
//! one line per failure, return a sysexits code.

use crate::cli::{self, Cmd, ColorArg};
use crate::error::exit;

mod account;
mod bulk;
mod config;
mod diagnosis;
mod dkim;
mod docs;
mod log;
mod mx;
mod probe;
mod queue;
mod report;
mod send;
mod serve;

/// Runs the command line and returns the process exit code.
pub fn main() -> i32 {
    let (cmd, globals) = match cli::parse() {
        Ok(c) => c,
        Err(code) => return code,
    };
    let cmd = with_quiet(cmd, globals.quiet);
    crate::transport::transcript::set_color(use_color(globals.color));
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
            Cmd::Send(args) => send::run(*args, None).await,
            Cmd::Bulk(args) => bulk::run(*args).await,
            Cmd::Serve(args) => serve::run(*args).await,
            Cmd::Mx(args) => mx::run(args).await,
            Cmd::Probe(a) => probe::run(*a).await,
            Cmd::Config(c) => config::run(c),
            Cmd::Account(c) => account::run(c),
            Cmd::Queue(c) => queue::run(c).await,
            Cmd::Dkim(c) => dkim::run(c).await,
            Cmd::Sendmail { args } => match cli::sendmail::parse(&args) {
                Ok((send, mode)) => send::run(send, Some(mode)).await,
                Err(e) => Err(e),
            },
            Cmd::Completions(a) => docs::completions(a),
            Cmd::Man(a) => docs::man(a),
        }
    });
    match result {
        Ok(()) => exit::OK,
        Err(e) => {
            report::error(&e);
            e.exit_code()
        }
    }
}

/// Whether stderr gets colour: `--color`, else `MISSIVE_COLOR`, else auto:
/// only when stderr is a terminal (not `TERM=dumb`) and `NO_COLOR` is not
/// set. `always` wins over `NO_COLOR`, as no-color.org says a flag should.
fn use_color(flag: Option<ColorArg>) -> bool {
    use std::io::IsTerminal;
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let from_env = var("MISSIVE_COLOR").and_then(|v| match v.to_ascii_lowercase().as_str() {
        "always" => Some(ColorArg::Always),
        "never" => Some(ColorArg::Never),
        "auto" => Some(ColorArg::Auto),
        _ => None,
    });
    match flag.or(from_env).unwrap_or(ColorArg::Auto) {
        ColorArg::Always => true,
        ColorArg::Never => false,
        ColorArg::Auto => {
            var("NO_COLOR").is_none()
                && var("TERM").is_none_or(|t| t != "dumb")
                && std::io::stderr().is_terminal()
        }
    }
}

/// The global `-q` given to the subcommand that prints on success.
fn with_quiet(cmd: Cmd, quiet: bool) -> Cmd {
    use crate::cli::AccountCmd;
    match cmd {
        Cmd::Send(mut a) => {
            a.quiet |= quiet;
            Cmd::Send(a)
        }
        Cmd::Serve(mut a) => {
            a.quiet |= quiet;
            Cmd::Serve(a)
        }
        Cmd::Mx(mut a) => {
            a.quiet |= quiet;
            Cmd::Mx(a)
        }
        Cmd::Probe(mut a) => {
            a.quiet |= quiet;
            Cmd::Probe(a)
        }
        Cmd::Config(crate::cli::ConfigCmd::Show(mut a)) => {
            a.quiet |= quiet;
            Cmd::Config(crate::cli::ConfigCmd::Show(a))
        }
        Cmd::Account(AccountCmd::Add(mut a)) => {
            a.quiet |= quiet;
            Cmd::Account(AccountCmd::Add(a))
        }
        other => other,
    }
}
