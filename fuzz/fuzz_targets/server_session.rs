//! The server state machine fed arbitrary client bytes.
//!
//! Invariants: no panic and no endless loop; everything written parses as
//! SMTP replies with lines of at most 512 octets; every MessageStart is
//! closed by exactly one MessageEnd or MessageAbort, MessageData only comes
//! in between, and no message is left open when the session ends; a
//! received envelope has no control character; after a bare line end in
//! DATA (refused with 550 5.5.2) nothing more is answered and the session
//! closes.
#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use missive_smtp::reply::ReplyParser;
use missive_smtp::server::{Action, FaultStage, Faults, Server, ServerConfig};
use missive_smtp_fuzz::{contains, cut};

/// The reply to a bare CR or LF in DATA, after which nothing may be written.
const BARE: &[u8] = b"550 5.5.2 Error: bare";

fn faults(choice: u8) -> Faults {
    let stage = match choice % 6 {
        0 => FaultStage::Greeting,
        1 => FaultStage::Ehlo,
        2 => FaultStage::Mail,
        3 => FaultStage::Rcpt,
        4 => FaultStage::Data,
        _ => FaultStage::EndOfData,
    };
    let mut f = Faults::default();
    match (choice >> 3) % 5 {
        0 => {}
        1 => f.fail_at.push((stage, 451)),
        2 => f.fail_at.push((stage, 554)),
        3 => f.drop_at.push(stage),
        _ => f.delay.push((stage, Duration::from_millis(1))),
    }
    if choice & 0x80 != 0 {
        f.reject_rcpt.push(("bad*".into(), 550));
    }
    f
}

fuzz_target!(|data: &[u8]| {
    let [flags, choice, seed, input @ ..] = data else {
        return;
    };
    let config = ServerConfig {
        hostname: "mx.example.test".into(),
        max_size: if flags & 1 != 0 { 64 } else { 1 << 20 },
        starttls: flags & 2 != 0,
        implicit_tls: flags & 4 != 0,
        auth_required: flags & 8 != 0,
        auth_without_tls: flags & 0x10 != 0,
        max_recipients: if flags & 0x20 != 0 { 2 } else { 100 },
        max_commands: if flags & 0x40 != 0 { 5 } else { 1000 },
        faults: faults(*choice),
        ..ServerConfig::default()
    };
    let store_ok = flags & 0x80 != 0;
    let mut server = Server::new(config);
    // Line by line (each line cut by `seed`), as an interactive client
    // sends; or, with the top bit, the stream cut anywhere (pipelining).
    let chunks: Vec<&[u8]> = if seed & 0x80 != 0 {
        cut(input, *seed)
    } else {
        input
            .split_inclusive(|&b| b == b'\n')
            .flat_map(|line| cut(line, *seed))
            .collect()
    };
    let mut chunks = chunks.into_iter();
    let mut out = Vec::new();
    let mut open = false;
    let mut refused = false;
    let mut eof = false;
    let cap = 1000 + input.len() * 8;
    let mut polls = 0;
    loop {
        polls += 1;
        assert!(polls < cap, "no end after {cap} polls: {server:?}");
        match server.poll() {
            Action::Write(bytes) => {
                assert!(!bytes.is_empty());
                assert!(!refused, "written after a bare line end in DATA: {bytes:?}");
                // Only the new bytes (and a needle's length before them) can
                // hold the refusal: searching all output each time was quadratic.
                let from = out.len().saturating_sub(BARE.len() - 1);
                out.extend_from_slice(&bytes);
                refused |= contains(&out[from..], BARE);
            }
            Action::Read { .. } => match chunks.next() {
                Some(c) => server.receive(c),
                None if !eof => {
                    eof = true;
                    server.connection_closed();
                }
                None => panic!("read wanted after the end of stream"),
            },
            Action::Delay(_) => {}
            Action::StartTls => server.tls_established(),
            Action::Authenticate { user, password } => {
                server.auth_result(&user, password.expose() == "pw")
            }
            Action::MessageStart(env) => {
                assert!(!open, "MessageStart inside a message");
                open = true;
                for a in std::iter::once(&env.from).chain(&env.to).chain([&env.helo]) {
                    assert!(!a.chars().any(char::is_control), "{a:?}");
                }
                assert!(!env.to.is_empty());
            }
            Action::MessageData(d) => {
                assert!(open, "MessageData outside a message");
                assert!(!d.is_empty());
            }
            Action::MessageEnd { .. } => {
                assert!(open, "MessageEnd outside a message");
                open = false;
                let result = if store_ok {
                    Ok("Q1".into())
                } else {
                    Err("disk full".into())
                };
                server.message_stored(result);
            }
            Action::MessageAbort => {
                assert!(open, "MessageAbort outside a message");
                open = false;
            }
            Action::Close => break,
        }
    }
    assert!(
        !open,
        "the session ended with a message neither stored nor aborted"
    );
    let mut p = ReplyParser::new();
    if let Err(e) = p.feed(&out) {
        panic!(
            "the server wrote something that is not a reply ({e}): {:?}",
            String::from_utf8_lossy(&out)
        );
    }
    while p.next_reply().is_some() {}
    assert!(!p.has_buffered(), "a partial reply");
    for line in out.split(|&b| b == b'\n') {
        assert!(line.len() <= 512, "reply line over 512 octets");
    }
});
