//! One small file per subcommand: each turns its parsed options into plain
//! settings, runs, and reports. [`main`] is the binary: parse, run, print
//! one line per failure, return a sysexits code.

use crate::cli::{self, Cmd};
use crate::error::exit;

mod account;
mod config;
mod mx;
mod probe;
mod queue;
mod report;
mod send;
mod serve;

/// Runs the command line and returns the process exit code.
pub fn main() -> i32 {
    let cmd = match cli::parse() {
        Ok(c) => c,
        Err(code) => return code,
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
        match cmd {
            Cmd::Send(args) => send::run(*args, None).await,
            Cmd::Serve(args) => serve::run(*args).await,
            Cmd::Mx(args) => mx::run(args).await,
            Cmd::Probe(a) => probe::run(*a).await,
            Cmd::Config(c) => config::run(c),
            Cmd::Account(c) => account::run(c),
            Cmd::Queue(c) => queue::run(c).await,
            Cmd::Sendmail { args } => match cli::sendmail::parse(&args) {
                Ok((send, mode)) => send::run(send, Some(mode)).await,
                Err(e) => Err(e),
            },
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
