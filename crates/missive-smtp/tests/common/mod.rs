//! Helpers shared by the core's test files.

use missive_smtp::command::{CommandLine, CommandParser};

/// Feeds `chunks` to a command parser; returns the lines and what is left buffered.
pub fn command_lines(chunks: &[&[u8]]) -> (Vec<CommandLine>, Vec<u8>) {
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
