//! Faults in the mail transaction: connections dropped during DATA, the
//! reply to the final dot, pipelining, SIZE, dot-stuffing, and what happens
//! after the message was accepted.

use super::*;

// ---- the connection drops during DATA ---------------------------------------------

/// The whole (small) body arrives, then the server closes instead of answering.
#[test]
fn connection_closed_after_body_before_final_reply() {
    let script = Script::new().on(|c, cmd| match cmd {
        Command::Data => {
            c.reply("354 go ahead");
            c.read_raw(10);
            Step::Close
        }
        _ => Step::Default,
    });
    let server = Server::start(script);
    let run = server.client().args(&["--tls", "none"]).run();
    let log = server.finish();
    assert_eq!(run.code, 75, "{run}");
    let line = run.one_error_line().to_ascii_lowercase();
    assert!(
        line.contains("connection") && (line.contains("lost") || line.contains("closed")),
        "{run}"
    );
    assert!(log.raw_body_bytes > 0);
    assert!(!run.stdout.contains("sent"), "{run}");
}

/// A large body: the server reads 64 KiB of it and hangs up mid-stream.
#[test]
fn connection_dropped_mid_body() {
    let path = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("missive-fault-body-{}.txt", std::process::id()));
    let line = "The quick brown fox jumps over the lazy dog, again and again.\n";
    std::fs::write(&path, line.repeat(8 * 1024 * 1024 / line.len())).unwrap();
    let script = Script::new().on(|c, cmd| match cmd {
        Command::Data => {
            c.reply("354 go ahead");
            c.read_raw(64 * 1024);
            Step::Close
        }
        _ => Step::Default,
    });
    let server = Server::start(script);
    let run = server
        .client()
        .body_file(&path)
        .args(&["--tls", "none"])
        .run();
    let log = server.finish();
    let _ = std::fs::remove_file(&path);
    assert_eq!(run.code, 75, "{run}");
    let line = run.one_error_line().to_ascii_lowercase();
    assert!(
        line.contains("connection") && (line.contains("lost") || line.contains("closed")),
        "{run}"
    );
    assert!(log.raw_body_bytes >= 64 * 1024);
    assert!(log.messages.is_empty());
}

// ---- the reply to "." ---------------------------------------------------------------

fn final_reply(reply: &'static str) -> (Output, Log) {
    let script = Script::new().on(move |c, cmd| match cmd {
        Command::Data => {
            c.reply("354 go ahead");
            if c.read_body().is_none() {
                return Step::Close;
            }
            c.reply(reply);
            Step::Next
        }
        _ => Step::Default,
    });
    let server = Server::start(script);
    let run = server.client().args(&["--tls", "none"]).run();
    (run, server.finish())
}

#[test]
fn final_reply_554_is_permanent() {
    let (run, log) = final_reply("554 5.7.1 Message rejected: looks like spam");
    assert_eq!(run.code, 69, "{run}");
    assert!(run.stderr.contains("554"), "{run}");
    assert!(run.stderr.contains(TO), "{run}");
    assert!(!run.stdout.contains("sent"), "{run}");
    assert!(log.has_verb("DATA"));
}

#[test]
fn final_reply_451_is_temporary() {
    let (run, _) = final_reply("451 4.3.0 Error: queue file write error");
    assert_eq!(run.code, 75, "{run}");
    assert!(run.stderr.contains("451"), "{run}");
    assert!(!run.stdout.contains("sent"), "{run}");
}

// ---- PIPELINING ----------------------------------------------------------------------

const RCPTS: [&str; 3] = [
    "bob@example.test",
    "carol@example.test",
    "dave@example.test",
];

#[test]
fn pipelining_sends_mail_rcpts_and_data_in_one_write() {
    let server = Server::start(Script::new().caps(&["PIPELINING", "SIZE 10240000"]));
    let run = server.client().to(&RCPTS).args(&["--tls", "none"]).run();
    let log = server.finish();
    assert_eq!(run.code, 0, "{run}");
    let groups = log.read_lines();
    let group = groups
        .iter()
        .find(|g| g.iter().any(|l| l.starts_with("MAIL FROM:")))
        .expect("MAIL was sent");
    let verbs: Vec<&str> = group
        .iter()
        .map(|l| l.split([' ', ':']).next().unwrap())
        .collect();
    assert_eq!(
        verbs,
        ["MAIL", "RCPT", "RCPT", "RCPT", "DATA"],
        "not one group: {:?}",
        log.reads
    );
    for (line, rcpt) in group[1..4].iter().zip(RCPTS) {
        assert_eq!(line, &format!("RCPT TO:<{rcpt}>"));
    }
    assert!(message(&log).contains("Hello from missive."));
}

#[test]
fn without_pipelining_one_command_per_round_trip() {
    let server = Server::start(Script::new().caps(&["SIZE 10240000"]));
    let run = server.client().to(&RCPTS).args(&["--tls", "none"]).run();
    let log = server.finish();
    assert_eq!(run.code, 0, "{run}");
    let transaction: Vec<Vec<String>> = log
        .read_lines()
        .into_iter()
        .filter(|g| {
            g.iter()
                .any(|l| l.starts_with("MAIL") || l.starts_with("RCPT") || l == "DATA")
        })
        .collect();
    assert_eq!(transaction.len(), 5, "{:?}", log.reads);
    for g in &transaction {
        assert_eq!(g.len(), 1, "several commands in one write: {g:?}");
    }
    assert!(message(&log).contains("Hello from missive."));
}

#[test]
fn pipelined_all_recipients_refused_sends_no_body() {
    let script = Script::new().caps(&["PIPELINING"]).on(|c, cmd| match cmd {
        Command::Rcpt { .. } => {
            c.reply("550 5.1.1 <x>: Recipient address rejected: User unknown");
            Step::Next
        }
        Command::Data => {
            c.reply("554 5.5.1 Error: no valid recipients");
            Step::Next
        }
        _ => Step::Default,
    });
    let server = Server::start(script);
    let run = server.client().to(&RCPTS).args(&["--tls", "none"]).run();
    let log = server.finish();
    assert_eq!(run.code, 69, "{run}");
    assert!(log.messages.is_empty());
    let data = log.position("DATA").expect("DATA was pipelined");
    let after: Vec<String> = log.verbs()[data + 1..].to_vec();
    assert!(
        after.iter().all(|v| v == "RSET" || v == "QUIT"),
        "the body (or more) was sent after a refused DATA: {:?}",
        &log.lines[data + 1..]
    );
    assert!(!after.is_empty(), "neither RSET nor QUIT was sent");
    for rcpt in RCPTS {
        assert!(run.stderr.contains(rcpt), "{run}");
    }
}

// ---- more transaction faults -------------------------------------------------------------

/// RFC 2920 §3.1: a pipelined DATA that gets 354 though every RCPT was refused
/// is ended with "." alone, no body.
#[test]
fn pipelined_data_354_after_all_recipients_refused_gets_only_the_dot() {
    let script = Script::new().caps(&["PIPELINING"]).on(|c, cmd| match cmd {
        Command::Rcpt { .. } => {
            c.reply("550 5.1.1 User unknown");
            Step::Next
        }
        Command::Data => {
            c.reply("354 go ahead anyway");
            if c.read_line().is_none() {
                return Step::Close;
            }
            c.reply("554 5.5.1 Error: no valid recipients");
            Step::Next
        }
        _ => Step::Default,
    });
    let server = Server::start(script);
    let run = server.client().to(&RCPTS).args(&["--tls", "none"]).run();
    let log = server.finish();
    assert_eq!(run.code, 69, "{run}");
    let data = log.position("DATA").expect("DATA");
    assert_eq!(
        log.lines.get(data + 1).map(String::as_str),
        Some("."),
        "{:?}",
        log.lines
    );
    let rest = &log.verbs()[data + 2..];
    assert!(
        rest.iter().all(|v| v == "RSET" || v == "QUIT"),
        "{:?}",
        log.lines
    );
    assert!(log.messages.is_empty());
}

/// A pipelined MAIL refused: RCPT and DATA get 503, no body goes out.
#[test]
fn pipelined_mail_refused_sends_no_body() {
    let script = Script::new().caps(&["PIPELINING"]).on(|c, cmd| match cmd {
        Command::Mail { .. } => {
            c.reply("553 5.7.1 <alice@example.test>: Sender address rejected");
            Step::Next
        }
        Command::Rcpt { .. } | Command::Data => {
            c.reply("503 5.5.1 Error: need MAIL command");
            Step::Next
        }
        _ => Step::Default,
    });
    let server = Server::start(script);
    let run = server.client().to(&RCPTS).args(&["--tls", "none"]).run();
    let log = server.finish();
    assert_eq!(run.code, 69, "{run}");
    assert!(run.stderr.contains("553"), "{run}");
    let data = log.position("DATA").expect("DATA was pipelined");
    assert!(
        log.verbs()[data + 1..]
            .iter()
            .all(|v| v == "RSET" || v == "QUIT"),
        "{:?}",
        log.lines
    );
}

/// SIZE smaller than the message: refused before MAIL is sent.
#[test]
fn message_over_the_size_limit_is_not_sent() {
    let server = Server::start(Script::new().caps(&["SIZE 100", "PIPELINING"]));
    let run = server.client().args(&["--tls", "none"]).run();
    let log = server.finish();
    assert_eq!(run.code, 69, "{run}");
    assert!(run.one_error_line().contains("100"), "{run}");
    assert!(!log.has_verb("MAIL"), "{:?}", log.lines);
}

/// Dot-stuffing survives the wire: lines that are or start with "." arrive intact.
#[test]
fn dots_at_line_starts_survive() {
    let server = Server::start(Script::new());
    let run = server
        .client()
        .body("a\n.\n..b\n.c\nend")
        .args(&["--tls", "none"])
        .run();
    let log = server.finish();
    assert_eq!(run.code, 0, "{run}");
    let text = message(&log);
    assert!(text.ends_with("a\r\n.\r\n..b\r\n.c\r\nend\r\n"), "{text:?}");
}

/// The server stops reading in the middle of a large body (without closing):
/// the per-write timeout ends the session.
#[test]
fn server_stops_reading_mid_body_times_out() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let path = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "missive-fault-stuck-body-{}.txt",
        std::process::id()
    ));
    let line = "The quick brown fox jumps over the lazy dog, once more with feeling.\n";
    std::fs::write(&path, line.repeat(32 * 1024 * 1024 / line.len())).unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let server_done = done.clone();
    // No SIZE: the client must not refuse the message before sending it.
    let script = Script::new()
        .caps(&["8BITMIME"])
        .on(move |c, cmd| match cmd {
            Command::Data => {
                c.reply("354 go ahead");
                while !server_done.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Step::Close
            }
            _ => Step::Default,
        });
    let server = Server::start(script);
    let run = server
        .client()
        .body_file(&path)
        .args(&["--tls", "none", "--timeout", "2"])
        .run();
    done.store(true, Ordering::SeqCst);
    server.finish();
    let _ = std::fs::remove_file(&path);
    assert_eq!(run.code, 75, "{run}");
    assert!(run.one_error_line().contains("timed out"), "{run}");
    assert!(run.elapsed < Duration::from_secs(15), "{run}");
}

// ---- after the message was accepted ------------------------------------------------------

/// The server hangs up right after accepting the message, without answering QUIT.
#[test]
fn close_after_final_250_without_quit_reply_is_success() {
    let script = Script::new().on(|_, cmd| match cmd {
        Command::Quit => Step::Close,
        _ => Step::Default,
    });
    let server = Server::start(script);
    let run = server.client().args(&["--tls", "none"]).run();
    let log = server.finish();
    assert_eq!(run.code, 0, "{run}");
    assert_eq!(log.messages.len(), 1);
}

/// The server never answers QUIT: the message was accepted, so success, and soon.
#[test]
fn quit_never_answered_is_success() {
    let script = Script::new().on(|_, cmd| match cmd {
        Command::Quit => Step::Stall,
        _ => Step::Default,
    });
    let server = Server::start(script);
    let run = server.client().args(&["--tls", "none"]).run();
    server.finish();
    assert_eq!(run.code, 0, "{run}");
    assert!(run.elapsed < Duration::from_secs(15), "{run}");
}

/// RFC 5321 §3.8: a server may send 421 and close at any time. Here it does
/// so in the same write as its 250 to ".": the message was accepted, and
/// reporting a failure would make the user send it again.
#[test]
fn final_250_then_unsolicited_421_in_the_same_write_is_success() {
    let script = Script::new().on(|c, cmd| match cmd {
        Command::Data => {
            c.reply("354 go ahead");
            if let Some(Ok(_)) = c.read_body() {
                c.send("250 2.0.0 Ok: queued as FAKEQ2\r\n421 4.3.2 Shutting down\r\n");
            }
            Step::Close
        }
        _ => Step::Default,
    });
    let server = Server::start(script);
    let run = server.client().args(&["--tls", "none"]).run();
    server.finish();
    assert_eq!(
        run.code, 0,
        "the accepted message was reported as failed:\n{run}"
    );
    assert!(run.stdout.contains("FAKEQ2"), "{run}");
}
