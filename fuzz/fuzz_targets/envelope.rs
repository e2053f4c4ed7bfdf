//! Envelope addresses: the client's check before MAIL/RCPT go out
//! (`validate_address`, `Envelope::validate`) and the server's check of a
//! received path (`validate_received_path`).
//!
//! Invariants: no panic; whatever either check accepts has no control
//! character and goes into exactly one command line (no CR/LF injection);
//! what the client accepts comes back unchanged from the server's parser;
//! the server records a suffix of the received path within the RFC 5321
//! length limit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use missive_smtp::command::Command;
use missive_smtp::envelope::{validate_address, validate_received_path, xtext};
use missive_smtp::Envelope;

fn one_line(cmd: &Command) {
    let bytes = cmd.to_bytes();
    let crlf = bytes.windows(2).filter(|w| w == b"\r\n").count();
    assert_eq!(crlf, 1, "{bytes:?}");
    assert!(bytes.ends_with(b"\r\n"));
    assert_eq!(bytes.iter().filter(|&&b| b == b'\r' || b == b'\n').count(), 2);
}

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let x = xtext(s);
    assert!(x.bytes().all(|b| (b'!'..=b'~').contains(&b) && b != b'='));

    if validate_address(s).is_ok() {
        assert!(!s.chars().any(char::is_control));
        let mail = Command::Mail {
            from: s.to_string(),
            params: vec![],
        };
        let rcpt = Command::Rcpt {
            to: s.to_string(),
            params: vec![],
        };
        one_line(&mail);
        one_line(&rcpt);
        assert_eq!(Command::parse(&mail.to_bytes()).unwrap(), mail);
        assert_eq!(Command::parse(&rcpt.to_bytes()).unwrap(), rcpt);
    }

    // The same text as a whole envelope, split at commas.
    let mut parts = s.split(',');
    let env = Envelope {
        from: parts.next().unwrap_or("").to_string(),
        to: parts.map(str::to_string).collect(),
        ..Envelope::default()
    };
    if env.validate().is_ok() {
        for a in std::iter::once(&env.from).chain(&env.to) {
            assert!(!a.contains(['\r', '\n', '<', '>']));
        }
    }

    if let Ok(mailbox) = validate_received_path(s) {
        assert!(!mailbox.chars().any(char::is_control));
        assert!(s.ends_with(mailbox) && mailbox.len() <= 256 && mailbox.contains('@'));
        let rcpt = Command::Rcpt {
            to: mailbox.to_string(),
            params: vec![],
        };
        one_line(&rcpt);
        // A quoted local part may hold '>', which the command parser cannot
        // carry; anything else comes back whole.
        if !mailbox.contains('>') {
            assert_eq!(Command::parse(&rcpt.to_bytes()).unwrap(), rcpt);
        }
    }
});
