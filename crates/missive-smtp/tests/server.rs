//! The server state machine driven by scripted client bytes: pipelining,
//! AUTH, STARTTLS, BDAT, faults, what it refuses (bare line ends in DATA,
//! bad envelope paths) and how every started message ends.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use missive_smtp::server::{glob, Action, FaultStage, Faults, Server, ServerConfig};

use crate::util::*;

#[test]
fn pipelined_session_with_dot_unstuffing() {
    let (out, seen) = run(
        ServerConfig::default(),
        &[
            b"EHLO c\r\n",
            b"MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nDATA\r\n",
            b"..x\r\nhi\r\n.\r\nQUIT\r\n",
        ],
    );
    assert!(out.starts_with("220 localhost ESMTP"));
    assert!(out.contains("250-PIPELINING"));
    assert!(out.contains("354 "));
    assert!(out.contains("250 2.0.0 Ok: queued as Q1"));
    assert!(out.ends_with("221 2.0.0 Bye\r\n"));
    let data: Vec<u8> = seen
        .iter()
        .filter_map(|a| match a {
            Action::MessageData(d) => Some(d.clone()),
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(data, b".x\r\nhi\r\n");
    assert!(seen.contains(&Action::MessageEnd { size: 8 }));
}

#[test]
fn bare_lf_refused_and_auth() {
    let cfg = ServerConfig {
        auth_required: true,
        auth_without_tls: true,
        ..ServerConfig::default()
    };
    let plain = B64.encode("\0u\0pw");
    let bad = B64.encode("\0u\0nope");
    let script = format!(
        "EHLO c\r\nMAIL FROM:<a@x>\r\nAUTH PLAIN {bad}\r\nAUTH PLAIN {plain}\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nDATA\r\n"
    );
    let (out, seen) = run(cfg, &[script.as_bytes(), b"a\nb\r\n.\r\nQUIT\r\n"]);
    assert!(out.contains("530 5.7.0"));
    assert!(out.contains("535 5.7.8"));
    assert!(out.contains("235 2.7.0"));
    assert!(out.contains("550 5.5.2 Error: bare <LF>"));
    assert!(seen.contains(&Action::MessageAbort));
}

#[test]
fn bdat_and_faults() {
    let cfg = ServerConfig {
        faults: Faults {
            reject_rcpt: vec![("bad*@y".into(), 550)],
            fail_at: vec![(FaultStage::EndOfData, 451)],
            ..Faults::default()
        },
        ..ServerConfig::default()
    };
    let (out, seen) = run(
        cfg,
        &[b"EHLO c\r\nMAIL FROM:<a@x>\r\nRCPT TO:<bad1@y>\r\nRCPT TO:<ok@y>\r\nBDAT 3\r\nabcBDAT 2 LAST\r\nde"],
    );
    assert!(out.contains("550 5.1.1 <bad1@y>"));
    assert!(out.contains("250 2.0.0 3 octets received"));
    assert!(out.contains("451 4.0.0 missive: injected failure"));
    // a refused end of data stores nothing
    assert!(seen.contains(&Action::MessageAbort));
    assert!(!seen.iter().any(|a| matches!(a, Action::MessageEnd { .. })));
}

#[test]
fn starttls_drops_pipelined_plaintext() {
    let cfg = ServerConfig {
        starttls: true,
        ..ServerConfig::default()
    };
    let (out, _) = run(
        cfg,
        &[
            b"EHLO c\r\nSTARTTLS\r\nMAIL FROM:<evil@x>\r\n",
            b"EHLO c\r\n",
        ],
    );
    assert!(out.contains("220 2.0.0 Ready"));
    assert!(!out.contains("2.1.0"), "injected MAIL was answered: {out}");
    assert!(out.matches("250-").count() > 0);
    // after TLS, no STARTTLS offered and AUTH is
    let after = out.rsplit("220 2.0.0 Ready").next().unwrap();
    assert!(!after.contains("STARTTLS") && after.contains("AUTH PLAIN LOGIN"));
}

#[test]
fn globs() {
    assert!(glob("reject*", "reject+1@x"));
    assert!(glob("*@bad.test", "a@BAD.test"));
    assert!(glob("a*b*c", "axxbyyc"));
    assert!(!glob("a*b", "ac"));
    assert!(glob("x@y", "X@y"));
}

/// SMTP smuggling (2023): a client ends DATA with a bare-LF form and goes on
/// with a hidden second transaction. The framing is lost, so the server
/// answers once and closes: nothing after the bare LF is executed.
#[test]
fn bare_lf_end_of_data_ends_the_session_and_smuggles_nothing() {
    for end in [&b"\n.\r\n"[..], b"\r\n.\n", b"\n.\n", b"\r.\r\n"] {
        let mut body = b"Subject: first\r\n\r\nfirst".to_vec();
        body.extend_from_slice(end);
        body.extend_from_slice(
            b"MAIL FROM:<evil@x.test>\r\nRCPT TO:<victim@y.test>\r\nDATA\r\n\
              Subject: smuggled\r\n\r\nsecond\r\n.\r\nQUIT\r\n",
        );
        let head: &[u8] = b"EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\n";
        let whole = [head, &body[..]];
        let mut bytewise = vec![head];
        bytewise.extend(body.chunks(1));
        for input in [&whole[..], &bytewise[..]] {
            let (out, seen) = run(ServerConfig::default(), input);
            let why = format!("end {end:?}: {out}");
            let r = replies(&out);
            assert!(r.last().unwrap().starts_with("550 5.5.2"), "{why}");
            assert_eq!(out.matches("250 2.1.0").count(), 1, "{why}");
            assert_eq!(out.matches("354 ").count(), 1, "{why}");
            assert!(!out.contains("221 "), "QUIT was executed: {why}");
            assert_eq!(seen.last(), Some(&Action::Close), "{why}");
            assert_eq!(count(&seen, |a| matches!(a, Action::MessageStart(_))), 1);
            assert_eq!(count(&seen, |a| matches!(a, Action::MessageAbort)), 1);
            assert_eq!(count(&seen, |a| matches!(a, Action::MessageEnd { .. })), 0);
        }
    }
}

/// A message over the size limit is framed correctly: refused, and the
/// session goes on (only a broken line ending loses the framing).
#[test]
fn oversized_data_is_refused_and_the_session_goes_on() {
    let cfg = ServerConfig {
        max_size: 8,
        ..ServerConfig::default()
    };
    let (out, seen) = run(
        cfg,
        &[
            b"EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\n",
            b"0123456789\r\n.\r\nNOOP\r\nQUIT\r\n",
        ],
    );
    let r = replies(&out);
    let at = r
        .iter()
        .position(|l| l.starts_with("552 5.3.4"))
        .expect(&out);
    assert_eq!(&r[at + 1..], ["250 2.0.0 Ok", "221 2.0.0 Bye"], "{out}");
    assert_eq!(count(&seen, |a| matches!(a, Action::MessageEnd { .. })), 0);
}

/// A CR, LF or other control character in a path would reach the stored
/// message (`Return-Path: <a@b<CR>X-Injected: 1>`): refused with the RFC
/// 3463 codes for bad sender (5.1.7) and recipient (5.1.3) syntax.
#[test]
fn control_characters_and_bad_syntax_in_paths_are_refused() {
    let bad = [
        "a@b\rX-Injected: 1",
        "a@b\x0bX",
        "a\0b@x.test",
        "a\tb@x.test",
        "a@x.test\x7f",
        "a@x.test\u{85}",
        "nobody",
        "@x.test",
        "a@",
        "a@@x.test",
        "a@x..test",
        "a@-x.test",
        "a@x.test.",
        ".a@x.test",
        "a..b@x.test",
        "a b@x.test",
        "\"a\rb\"@x.test",
        "a@[192.0.2.300]",
        "a@[IPv6:nope]",
    ];
    for path in bad {
        let mail =
            format!("EHLO c\r\nMAIL FROM:<{path}>\r\nRCPT TO:<b@y.test>\r\nDATA\r\nQUIT\r\n");
        let (out, seen) = run(ServerConfig::default(), &[mail.as_bytes()]);
        assert!(out.contains("553 5.1.7"), "MAIL {path:?}: {out}");
        assert!(
            !out.contains("2.1.0") && !out.contains("354"),
            "{path:?}: {out}"
        );
        assert_eq!(count(&seen, |a| matches!(a, Action::MessageStart(_))), 0);

        let rcpt =
            format!("EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<{path}>\r\nDATA\r\nQUIT\r\n");
        let (out, seen) = run(ServerConfig::default(), &[rcpt.as_bytes()]);
        assert!(out.contains("501 5.1.3"), "RCPT {path:?}: {out}");
        assert!(
            !out.contains("2.1.5") && !out.contains("354"),
            "{path:?}: {out}"
        );
        assert_eq!(count(&seen, |a| matches!(a, Action::MessageStart(_))), 0);
    }
}

/// RFC 6531 §3.4: a non-ASCII address needs SMTPUTF8 on the MAIL command.
#[test]
fn non_ascii_addresses_need_smtputf8() {
    let script = "EHLO c\r\nMAIL FROM:<j\u{f6}rg@x.test>\r\n\
        MAIL FROM:<a@x.test>\r\nRCPT TO:<j\u{f6}rg@x.test>\r\nRSET\r\n\
        MAIL FROM:<j\u{f6}rg@x.test> SMTPUTF8\r\nRCPT TO:<b\u{e4}@x.test>\r\n\
        QUIT\r\n";
    let (out, _) = run(ServerConfig::default(), &[script.as_bytes()]);
    let replies: Vec<&str> = out.lines().filter(|l| l.contains(" 5.6.7 ")).collect();
    assert_eq!(replies.len(), 2, "{out}");
    assert!(replies.iter().all(|l| l.starts_with("553 ")), "{out}");
    assert_eq!(out.matches("250 2.1.5").count(), 1, "{out}");
}

/// What RFC 5321 §4.1.2 allows still goes through, and a source route is
/// dropped (§4.1.1.3): the stored envelope holds plain mailboxes.
#[test]
fn valid_paths_are_accepted_and_recorded_without_route() {
    let script = "EHLO c\r\nMAIL FROM:<> SMTPUTF8\r\n\
        RCPT TO:<Postmaster>\r\n\
        RCPT TO:<\"john q. public\"@x.test>\r\n\
        RCPT TO:<j\u{f6}rg@ex\u{e4}mple.test>\r\n\
        RCPT TO:<a@[192.0.2.1]>\r\n\
        RCPT TO:<a@[IPv6:2001:db8::1]>\r\n\
        RCPT TO:<@relay.test,@r2.test:c+tag@d.test>\r\n\
        RCPT TO:<o'brien!x@sub-1.x.test>\r\n\
        DATA\r\nhi\r\n.\r\nQUIT\r\n";
    let (out, seen) = run(ServerConfig::default(), &[script.as_bytes()]);
    assert_eq!(out.matches("250 2.1.5").count(), 7, "{out}");
    let env = seen
        .iter()
        .find_map(|a| match a {
            Action::MessageStart(e) => Some(e.clone()),
            _ => None,
        })
        .expect("message started");
    assert_eq!(env.from, "");
    assert_eq!(
        env.to,
        [
            "Postmaster",
            "\"john q. public\"@x.test",
            "j\u{f6}rg@ex\u{e4}mple.test",
            "a@[192.0.2.1]",
            "a@[IPv6:2001:db8::1]",
            "c+tag@d.test",
            "o'brien!x@sub-1.x.test",
        ]
    );
}

/// The HELO name is part of the received envelope too.
#[test]
fn control_characters_in_the_helo_name_are_refused() {
    for verb in ["EHLO", "HELO"] {
        let script = format!("{verb} c\rX-Injected: 1\r\nMAIL FROM:<a@x.test>\r\n");
        let (out, _) = run(ServerConfig::default(), &[script.as_bytes()]);
        assert!(out.contains("501 5.5.4"), "{out}");
        assert!(
            out.contains("503 5.5.1 Error: send HELO/EHLO first"),
            "{out}"
        );
    }
}

/// Found by fuzzing: AUTH LOGIN answered line by line queued an empty
/// `Write` before `Authenticate` (nothing was pending by then).
#[test]
fn no_empty_writes() {
    let cfg = ServerConfig {
        auth_without_tls: true,
        ..ServerConfig::default()
    };
    let mut s = Server::new(cfg);
    let user = format!("{}\r\n", B64.encode("u"));
    let pass = format!("{}\r\n", B64.encode("pw"));
    let script: [&[u8]; 4] = [
        b"EHLO c\r\n",
        b"AUTH LOGIN\r\n",
        user.as_bytes(),
        pass.as_bytes(),
    ];
    let mut inputs = script.iter();
    let mut authenticated = false;
    for _ in 0..100 {
        match s.poll() {
            Action::Write(b) => assert!(!b.is_empty(), "an empty write"),
            Action::Read { .. } => match inputs.next() {
                Some(i) => s.receive(i),
                None => break,
            },
            Action::Authenticate { user, .. } => {
                authenticated = true;
                s.auth_result(&user, true);
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(authenticated);
}

/// Found by fuzzing: QUIT between BDAT chunks closed the session with the
/// message started and never aborted, so a caller kept a half-received file.
#[test]
fn quit_between_bdat_chunks_aborts_the_message() {
    let script = b"EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nBDAT 3\r\nabc";
    for input in [
        &[&script[..], b"QUIT\r\n"][..],
        &[&script[..], b"BDAT 1\r\nd", b"QUIT\r\n"],
    ] {
        let (out, seen) = run(ServerConfig::default(), input);
        assert!(out.contains("250 2.0.0 3 octets received"), "{out}");
        let starts = count(&seen, |a| matches!(a, Action::MessageStart(_)));
        let aborts = count(&seen, |a| matches!(a, Action::MessageAbort));
        assert_eq!((starts, aborts), (1, 1), "{seen:?}");
        assert!(!seen.iter().any(|a| matches!(a, Action::MessageEnd { .. })));
    }
}

/// Found by fuzzing: DATA after a BDAT chunk started a second message while
/// the first was open. RFC 3030 §3: DATA in a BDAT transaction gets 503.
#[test]
fn data_after_bdat_is_a_bad_sequence() {
    let (out, seen) = run(
        ServerConfig::default(),
        &[b"EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nBDAT 3\r\nabcDATA\r\nBDAT 2 LAST\r\nde"],
    );
    assert!(out.contains("503 5.5.1 Error: DATA after BDAT"), "{out}");
    assert!(!out.contains("354"), "{out}");
    assert!(out.contains("250 2.0.0 Ok: queued as Q1"), "{out}");
    assert_eq!(count(&seen, |a| matches!(a, Action::MessageStart(_))), 1);
    assert!(seen.contains(&Action::MessageEnd { size: 5 }), "{seen:?}");
}

/// Found by fuzzing: the end of stream between BDAT chunks must abort the
/// message once, not once for the end of stream and again at the close.
#[test]
fn end_of_stream_between_bdat_chunks_aborts_once() {
    let mut s = Server::new(ServerConfig::default());
    let mut seen = Vec::new();
    let mut fed = false;
    for _ in 0..100 {
        match s.poll() {
            Action::Read { .. } if !fed => {
                fed = true;
                s.receive(b"EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nBDAT 3\r\nabc");
            }
            Action::Read { .. } => s.connection_closed(),
            Action::Close => break,
            a => seen.push(a),
        }
    }
    assert_eq!(count(&seen, |a| matches!(a, Action::MessageStart(_))), 1);
    assert_eq!(
        count(&seen, |a| matches!(a, Action::MessageAbort)),
        1,
        "{seen:?}"
    );
}

/// Found by fuzzing: EHLO or STARTTLS in the middle of a BDAT transaction
/// reset it without aborting the started message. Every reset now goes
/// through one place that aborts it.
#[test]
fn a_reset_between_bdat_chunks_aborts_the_message() {
    let cfg = ServerConfig {
        starttls: true,
        ..ServerConfig::default()
    };
    let head = b"EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nBDAT 3\r\nabc";
    for reset in [
        &b"EHLO c\r\n"[..],
        b"HELO c\r\n",
        b"STARTTLS\r\n",
        b"RSET\r\n",
    ] {
        let (out, seen) = run(cfg.clone(), &[head, reset, b"NOOP\r\n"]);
        let why = format!("{reset:?}: {seen:?}\n{out}");
        assert_eq!(
            count(&seen, |a| matches!(a, Action::MessageStart(_))),
            1,
            "{why}"
        );
        assert_eq!(
            count(&seen, |a| matches!(a, Action::MessageAbort)),
            1,
            "{why}"
        );
        let abort = seen
            .iter()
            .position(|a| *a == Action::MessageAbort)
            .unwrap();
        assert!(!seen[abort..]
            .iter()
            .any(|a| matches!(a, Action::MessageData(_))));
    }
}

/// The end of stream while a stored message's reply is pending must not
/// abort a message that was already handed over with MessageEnd.
#[test]
fn end_of_stream_after_message_end_does_not_abort_it() {
    for body in [&b"DATA\r\nhi\r\n.\r\n"[..], b"BDAT 2 LAST\r\nhi"] {
        let mut s = Server::new(ServerConfig::default());
        s.receive(b"EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\n");
        s.receive(body);
        let mut seen = Vec::new();
        loop {
            match s.poll() {
                Action::Write(_) => {}
                Action::MessageEnd { size } => {
                    seen.push(Action::MessageEnd { size });
                    s.connection_closed();
                }
                Action::Close | Action::Read { .. } => break,
                a => seen.push(a),
            }
        }
        assert_eq!(
            count(&seen, |a| matches!(a, Action::MessageAbort)),
            0,
            "{seen:?}"
        );
        assert_eq!(count(&seen, |a| matches!(a, Action::MessageEnd { .. })), 1);
    }
}

#[test]
fn bdat_without_recipients_gets_one_reply() {
    let (out, actions) = run(
        ServerConfig::default(),
        &[b"EHLO c\r\nMAIL FROM:<a@x.test>\r\nBDAT 3 LAST\r\nabcNOOP\r\n"],
    );
    let replies: Vec<&str> = out
        .lines()
        .skip_while(|l| !l.starts_with("250 2.1.0"))
        .collect();
    assert_eq!(
        replies,
        [
            "250 2.1.0 Ok",
            "554 5.5.1 Error: no valid recipients",
            "250 2.0.0 Ok"
        ],
        "{out}"
    );
    assert!(!actions.iter().any(|a| matches!(a, Action::MessageStart(_))));
}

#[test]
fn empty_bdat_chunks_start_one_message_and_rset_aborts_it() {
    let (_, actions) = run(ServerConfig::default(), &[
        &b"EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@x.test>\r\nBDAT 0\r\nBDAT 0\r\nBDAT 0\r\nRSET\r\n"[..],
    ]);
    let starts = actions
        .iter()
        .filter(|a| matches!(a, Action::MessageStart(_)))
        .count();
    let aborts = actions
        .iter()
        .filter(|a| matches!(a, Action::MessageAbort))
        .count();
    assert_eq!((starts, aborts), (1, 1), "{actions:?}");
}

/// Found by fuzzing: a delay fault at DATA with earlier replies still
/// pending (a pipelined MAIL, RCPT, DATA) panicked on a stale index into
/// the output buffer (`--delay data=…` with any pipelining client).
#[test]
fn delay_at_data_after_pipelined_commands() {
    let cfg = ServerConfig {
        faults: Faults {
            delay: vec![(FaultStage::Data, std::time::Duration::from_millis(5))],
            ..Faults::default()
        },
        ..ServerConfig::default()
    };
    let (out, seen) = run(
        cfg,
        &[b"EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\nhi\r\n.\r\nQUIT\r\n"],
    );
    assert!(out.contains("250 2.1.5 Ok\r\n354 "), "{out}");
    assert!(out.contains("250 2.0.0 Ok: queued as Q1"), "{out}");
    assert!(seen.iter().any(|a| matches!(a, Action::Delay(_))));
    assert!(seen.contains(&Action::MessageEnd { size: 4 }), "{seen:?}");
}
