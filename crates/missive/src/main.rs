//! The `missive` binary: parse the command line, run, print one line per
//! failure, exit with a sysexits code.

fn main() {
    std::process::exit(missive::run_cli());
}
