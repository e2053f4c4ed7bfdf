//! Session faults: HELO-only servers, 421 and 554 greetings, 421 mid-session,
//! stalls, and connections closed during EHLO.

use super::*;

// ---- HELO fallback ----------------------------------------------------------------

fn helo_fallback(code: u16) {
    let script = Script::new().on(move |c, cmd| match cmd {
        Command::Ehlo(_) => {
            c.reply(&format!("{code} 5.5.1 Error: command not recognized"));
            Step::Next
        }
        _ => Step::Default,
    });
    let server = Server::start(script);
    let run = server.client().args(&["--tls", "none"]).run();
    let log = server.finish();
    assert_eq!(run.code, 0, "{run}");
    assert_eq!(
        &log.lines[..2],
        ["EHLO client.test", "HELO client.test"],
        "{:?}",
        log.lines
    );
    assert!(log.has_verb("MAIL") && log.has_verb("RCPT"));
    // HELO means no extensions: no SIZE= on MAIL even though 8BITMIME/SIZE
    // would have been offered to EHLO.
    let mail = &log.lines[log.position("MAIL").unwrap()];
    assert_eq!(mail, &format!("MAIL FROM:<{FROM}>"));
    assert!(message(&log).contains("Hello from missive."));
}

#[test]
fn helo_fallback_after_ehlo_502() {
    helo_fallback(502);
}

#[test]
fn helo_fallback_after_ehlo_500() {
    helo_fallback(500);
}

// ---- 421 -------------------------------------------------------------------------

fn closing_at(verb: &'static str, caps: &[&str]) {
    let script = Script::new().caps(caps).on(move |c, cmd| {
        let hit = matches!(
            (verb, cmd),
            ("MAIL", Command::Mail { .. }) | ("RCPT", Command::Rcpt { .. })
        );
        if hit {
            c.reply("421 4.3.2 Service shutting down, closing transmission channel");
            Step::Close
        } else {
            Step::Default
        }
    });
    let server = Server::start(script);
    let run = server.client().args(&["--tls", "none"]).run();
    let log = server.finish();
    assert_eq!(run.code, 75, "{run}");
    assert!(run.one_error_line().contains("421"), "{run}");
    assert!(log.messages.is_empty());
}

#[test]
fn service_closing_421_at_mail() {
    closing_at("MAIL", &["8BITMIME"]);
}

#[test]
fn service_closing_421_at_rcpt() {
    closing_at("RCPT", &["8BITMIME"]);
}

#[test]
fn service_closing_421_at_pipelined_mail() {
    closing_at("MAIL", &["PIPELINING"]);
}

#[test]
fn greeting_421_is_temporary() {
    let server =
        Server::start(Script::new().greeting(Some("421 4.3.2 fake.test too busy, try later\r\n")));
    let run = server.client().args(&["--tls", "none"]).run();
    let log = server.finish();
    assert_eq!(run.code, 75, "{run}");
    assert!(run.one_error_line().contains("421"), "{run}");
    assert!(!log.has_verb("MAIL"));
}

#[test]
fn greeting_554_is_permanent() {
    let server = Server::start(Script::new().greeting(Some("554 5.7.1 go away\r\n")));
    let run = server.client().args(&["--tls", "none"]).run();
    let log = server.finish();
    assert_eq!(run.code, 69, "{run}");
    assert!(run.one_error_line().contains("554"), "{run}");
    assert!(!log.has_verb("MAIL"));
}

// ---- stalls ----------------------------------------------------------------------

#[test]
fn server_stalls_after_ehlo_times_out() {
    let script = Script::new().on(|_, cmd| match cmd {
        Command::Ehlo(_) => Step::Stall,
        _ => Step::Default,
    });
    let server = Server::start(script);
    let run = server
        .client()
        .args(&["--tls", "none", "--timeout", "2"])
        .run();
    let log = server.finish();
    assert_eq!(run.code, 75, "{run}");
    let line = run.one_error_line();
    assert!(line.contains("timed out") && line.contains("EHLO"), "{run}");
    assert!(run.elapsed < Duration::from_secs(15), "{run}");
    assert_eq!(log.verbs(), ["EHLO"]);
}

#[test]
fn server_never_greets_times_out() {
    let server = Server::start(Script::new().greeting(None));
    let run = server
        .client()
        .args(&["--tls", "none", "--timeout", "2"])
        .run();
    let log = server.finish();
    assert_eq!(run.code, 75, "{run}");
    let line = run.one_error_line();
    assert!(
        line.contains("timed out") && line.contains("greeting"),
        "{run}"
    );
    assert!(run.elapsed < Duration::from_secs(15), "{run}");
    assert!(
        log.lines.is_empty(),
        "the client spoke first: {:?}",
        log.lines
    );
}

#[test]
fn server_stalls_after_data_terminator_times_out() {
    let script = Script::new().on(|c, cmd| match cmd {
        Command::Data => {
            c.reply("354 go ahead");
            let _ = c.read_body();
            Step::Stall
        }
        _ => Step::Default,
    });
    let server = Server::start(script);
    let run = server
        .client()
        .args(&["--tls", "none", "--timeout", "2"])
        .run();
    server.finish();
    assert_eq!(run.code, 75, "{run}");
    assert!(run.one_error_line().contains("timed out"), "{run}");
    assert!(run.elapsed < Duration::from_secs(15), "{run}");
}

/// The server closes after greeting and reading EHLO, answering nothing.
#[test]
fn connection_closed_during_ehlo() {
    let script = Script::new().on(|_, cmd| match cmd {
        Command::Ehlo(_) => Step::Close,
        _ => Step::Default,
    });
    let server = Server::start(script);
    let run = server.client().args(&["--tls", "none"]).run();
    server.finish();
    assert_eq!(run.code, 75, "{run}");
    let line = run.one_error_line();
    assert!(
        line.contains("connection") && line.contains("EHLO"),
        "{run}"
    );
}

/// The error for a connection the server closed should read as a sentence
/// naming the stage ("... closed the connection during EHLO").
#[test]
fn connection_closed_message_is_readable() {
    for verb in ["EHLO", "DATA-END"] {
        let script = Script::new().on(move |c, cmd| match (verb, cmd) {
            ("EHLO", Command::Ehlo(_)) => Step::Close,
            ("DATA-END", Command::Data) => {
                c.reply("354 go ahead");
                let _ = c.read_body();
                Step::Close
            }
            _ => Step::Default,
        });
        let server = Server::start(script);
        let run = server.client().args(&["--tls", "none"]).run();
        server.finish();
        assert_eq!(run.code, 75, "{run}");
        let line = run.one_error_line();
        assert!(
            [
                "connection lost during",
                "closed the connection during",
                "closed the connection while"
            ]
            .iter()
            .any(|p| line.contains(p)),
            "{run}"
        );
    }
}
