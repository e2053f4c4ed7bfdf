//! Running `missive` on a terminal: script(1) (util-linux) gives it a pty
//! for standard input, output and error, so what it does only on a
//! terminal (colour, the progress bar) can be seen. Everything it wrote
//! comes back as one stream, with CRLF line ends.

use std::ffi::OsStr;

use super::process::{Cmd, Output, MISSIVE};

/// `sh`-quotes one word.
fn quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', "'\\''"))
}

/// `missive ARGS` on a pseudo-terminal, with `env` set. `Output::stdout`
/// holds what it wrote to the terminal; the code is missive's own.
#[track_caller]
pub fn in_pty<S: AsRef<OsStr>>(args: &[S], env: &[(&str, &str)]) -> Output {
    let mut line = quote(MISSIVE);
    for a in args {
        line.push(' ');
        line.push_str(&quote(&a.as_ref().to_string_lossy()));
    }
    // -e: script exits with the command's code; the typescript is thrown away.
    let mut cmd = Cmd::program("script")
        .args(["-qec", &line, "/dev/null"])
        .env("TERM", "xterm");
    for (k, v) in env {
        cmd = cmd.env(k, v);
    }
    cmd.run()
}
