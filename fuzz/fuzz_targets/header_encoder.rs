//! The header encoder (`unstructured`, `encode_words`, `header`,
//! `Mailbox::header_form`) and the RFC 2047 decoder missive reads its own
//! mail back with (mail-parser, as `serve` does).
//!
//! Invariants: no panic; the field is CRLF lines only (no bare CR or LF), no
//! line over 998 octets, every line after the first a continuation; each
//! encoded word is at most 75 characters; a value sent as it is comes back
//! exactly by RFC 5322 unfolding; mail-parser gives back the value (a
//! display name: its control characters as spaces) and the address, with
//! runs of whitespace read as one space, as it reads folds.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mail_parser::MessageParser;
use missive::fuzzing::{encode_words, header, unstructured, Mailbox};
use missive_smtp_fuzz::only_crlf;

const ADDR: &str = "someone@example.test";

/// The field's lines: CRLF only, short, the first `Name:`, the rest folded.
fn check_field(field: &str, name: &str) {
    assert!(only_crlf(field.as_bytes()), "{field:?}");
    assert!(field.starts_with(&format!("{name}:")) && field.ends_with("\r\n"));
    let lines: Vec<&str> = field.trim_end_matches("\r\n").split("\r\n").collect();
    for (i, line) in lines.iter().enumerate() {
        assert!(line.len() <= 998, "line {i} is {} octets", line.len());
        assert!(i == 0 || line.starts_with(' '), "{field:?}");
    }
}

/// What a reader sees: whitespace around the value does not count, and a
/// run of it counts as one space (mail-parser turns a fold and the spaces
/// after it into one; RFC 5322 unfolding keeps them, checked separately).
fn seen(s: &str) -> String {
    s.split([' ', '\t'])
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let Ok(value) = std::str::from_utf8(rest) else {
        return;
    };
    if mode & 1 == 0 {
        // Subject and --header values: CR/LF is refused before this point.
        if value.contains(['\r', '\n']) {
            return;
        }
        for w in encode_words(value).split(' ') {
            assert!(w.len() <= 75 && w.starts_with("=?UTF-8?B?") && w.ends_with("?="));
        }
        let mut field = String::new();
        let sent = unstructured(value);
        header(&mut field, "Subject", &sent);
        check_field(&field, "Subject");
        if sent == value {
            // RFC 5322 unfolding (take out each CRLF) gives back the value.
            assert_eq!(field.replace("\r\n", ""), format!("Subject: {value}"));
        }
        field.push_str("\r\n");
        let msg = MessageParser::default().parse(field.as_bytes()).unwrap();
        assert_eq!(seen(msg.subject().unwrap_or("")), seen(value), "{field:?}");
    } else {
        // A display name may hold anything: header_form makes it safe.
        let mailbox = Mailbox {
            name: Some(value.to_string()),
            addr: ADDR.to_string(),
        };
        let mut field = String::new();
        header(&mut field, "From", &mailbox.header_form());
        check_field(&field, "From");
        field.push_str("\r\n");
        let msg = MessageParser::default().parse(field.as_bytes()).unwrap();
        let from = msg.from().and_then(|a| a.first()).expect("a From address");
        assert_eq!(from.address(), Some(ADDR), "{field:?}");
        let want = seen(&value.replace(char::is_control, " "));
        assert_eq!(seen(from.name().unwrap_or("")), want, "{field:?}");
    }
});
