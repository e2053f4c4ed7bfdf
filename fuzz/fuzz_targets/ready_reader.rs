//! The ready-made message reader (`--message FILE`, sendmail), fed a file.
//!
//! Invariants: no panic; a refused message is a data error; an accepted one
//! has a header section of CRLF lines only (no bare CR survives to split a
//! header differently on the wire), each line at most 998 octets and either
//! a `Name:` field or a continuation, with no Bcc; every header line is one
//! of the input's (bytes as they are, line end aside) unless added on
//! request; the body follows unchanged; `size()` is the octet count once
//! line ends are CRLF (the SIZE= promise); 8-bit octets anywhere set the
//! 8BITMIME flag.
#![no_main]

use std::collections::HashSet;
use std::io::Read;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use missive::fuzzing::{eight_bit, load_ready, LoadOptions, Mailbox};
use missive::Error;
use missive_smtp_fuzz::{normalise, only_crlf};

fn path() -> &'static str {
    static PATH: OnceLock<String> = OnceLock::new();
    PATH.get_or_init(|| {
        let p = missive_smtp_fuzz::scratch("ready.eml");
        p.to_str().unwrap().to_string()
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, input)) = data.split_first() else {
        return;
    };
    std::fs::write(path(), input).unwrap();
    let opts = LoadOptions {
        dot_ends_input: false,
        add_missing: (flags & 1 == 1).then(|| Mailbox::parse("cron@host.test").unwrap()),
    };
    let ready = match load_ready(path(), &opts) {
        Ok(r) => r,
        Err(Error::Data(_)) => return,
        Err(e) => panic!("not a data error: {e:?}"),
    };
    let mut out = Vec::new();
    ready.message.open().read_to_end(&mut out).unwrap();

    assert_eq!(
        ready.message.size(),
        normalise(&out).len() as u64,
        "{out:?}"
    );
    assert_eq!(
        eight_bit(&ready.message),
        out.iter().any(|&b| b >= 0x80),
        "{out:?}"
    );

    let end = if out.starts_with(b"\r\n") {
        0
    } else {
        out.windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("a blank line")
            + 2
    };
    let head = &out[..end];
    assert!(only_crlf(head), "{head:?}");
    let input_lines: HashSet<&[u8]> = input
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .collect();
    let mut lines = head
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    lines.next_back(); // after the last CRLF
    for (i, line) in lines.enumerate() {
        assert!(line.len() <= 998, "{} octets", line.len());
        assert!(!line.contains(&0));
        if line.starts_with(b" ") || line.starts_with(b"\t") {
            assert!(i > 0, "{head:?}");
        } else {
            let colon = line.iter().position(|&b| b == b':').expect("a field");
            let name = &line[..colon];
            assert!(!name.is_empty() && name.iter().all(|b| (33..=126).contains(b)));
            assert!(
                !name.eq_ignore_ascii_case(b"bcc") && !name.eq_ignore_ascii_case(b"resent-bcc")
            );
        }
        assert!(
            input_lines.contains(line) || opts.add_missing.is_some(),
            "{line:?} is not in the input"
        );
    }

    // The body: what follows the input's first blank line, unchanged.
    let mut rest = input;
    let body: &[u8] = loop {
        let Some(nl) = rest.iter().position(|&b| b == b'\n') else {
            break b"";
        };
        if matches!(&rest[..nl], b"" | b"\r") {
            break &rest[nl + 1..];
        }
        rest = &rest[nl + 1..];
    };
    assert_eq!(&out[end + 2..], body);
});
