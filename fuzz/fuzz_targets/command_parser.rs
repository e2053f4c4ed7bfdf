//! The server role's command-line splitter and command parser, fed
//! arbitrary client bytes.
//!
//! Invariants: no panic; the lines do not depend on where the stream is cut;
//! every line is at most MAX_COMMAND_LINE and has no LF; a parsed command
//! prints back to one CRLF-terminated line that parses to the same command.
#![no_main]

use libfuzzer_sys::fuzz_target;
use missive_smtp::command::{Command, CommandLine, CommandParser, MAX_COMMAND_LINE};
use missive_smtp_fuzz::cut;

fn lines(chunks: &[&[u8]]) -> (Vec<CommandLine>, Vec<u8>) {
    let mut p = CommandParser::new();
    let mut out = Vec::new();
    for c in chunks {
        p.feed(c);
        while let Some(l) = p.next_line() {
            out.push(l);
        }
    }
    (out, p.take_buffered())
}

fuzz_target!(|data: &[u8]| {
    let Some((&seed, input)) = data.split_first() else {
        return;
    };
    let whole = lines(&[input]);
    let chunked = lines(&cut(input, seed));
    assert_eq!(whole, chunked, "chunking changed the lines");
    for line in &whole.0 {
        let CommandLine::Line(l) = line else { continue };
        assert!(l.len() < MAX_COMMAND_LINE && !l.contains(&b'\n'));
        let Ok(cmd) = Command::parse(l) else { continue };
        let bytes = cmd.to_bytes();
        assert!(bytes.ends_with(b"\r\n"));
        let again = Command::parse(&bytes).expect("a parsed command prints back parseable");
        assert_eq!(again, cmd, "{bytes:?}");
        let _ = (cmd.redacted(), cmd.may_be_pipelined());
    }
});
