//! Malformed and unexpected replies: endless lines, too many lines, no code,
//! a code that changes mid-reply, and replies nobody asked for.

use super::*;

#[test]
fn endless_reply_line_is_a_protocol_error() {
    let script = Script::new().on(|c, cmd| match cmd {
        Command::Ehlo(_) => {
            c.send(&format!("250-{}", "x".repeat(100 * 1024)));
            Step::Stall
        }
        _ => Step::Default,
    });
    let server = Server::start(script);
    let run = server.client().args(&["--tls", "none"]).run();
    let log = server.finish();
    assert_eq!(run.code, 76, "{run}");
    assert!(run.one_error_line().contains("protocol"), "{run}");
    assert!(run.elapsed < Duration::from_secs(15), "{run}");
    assert_eq!(log.verbs(), ["EHLO"]);
}

#[test]
fn reply_with_too_many_lines_is_a_protocol_error() {
    let script = Script::new().on(|c, cmd| match cmd {
        Command::Ehlo(_) => {
            let lines: Vec<String> = (0..2000).map(|i| format!("X-CAP-{i}")).collect();
            c.send(&fake_smtp::multiline(250, &lines));
            Step::Stall
        }
        _ => Step::Default,
    });
    let server = Server::start(script);
    let run = server.client().args(&["--tls", "none"]).run();
    server.finish();
    assert_eq!(run.code, 76, "{run}");
    assert!(run.elapsed < Duration::from_secs(15), "{run}");
}

#[test]
fn greeting_without_a_code_is_a_protocol_error() {
    let server = Server::start(Script::new().greeting(Some("hello\r\n")));
    let run = server.client().args(&["--tls", "none"]).run();
    let log = server.finish();
    assert_eq!(run.code, 76, "{run}");
    assert!(run.one_error_line().contains("malformed"), "{run}");
    assert!(run.elapsed < Duration::from_secs(15), "{run}");
    assert!(log.lines.is_empty(), "{:?}", log.lines);
}

#[test]
fn reply_code_changing_mid_reply_is_a_protocol_error() {
    let script = Script::new().on(|c, cmd| match cmd {
        Command::Ehlo(_) => {
            c.send("250-fake.test\r\n220 surprise\r\n");
            Step::Stall
        }
        _ => Step::Default,
    });
    let server = Server::start(script);
    let run = server.client().args(&["--tls", "none"]).run();
    server.finish();
    assert_eq!(run.code, 76, "{run}");
}

/// Postfix's smtp-sink style: a multi-line greeting, and an EHLO list that ends
/// with a bare `250 ` line. Both are legal; PIPELINING must still be seen.
#[test]
fn multiline_greeting_and_bare_last_ehlo_line_are_accepted() {
    let script = Script::new()
        .greeting(Some(
            "220-fake.test ESMTP\r\n220-Unauthorized use prohibited.\r\n220 ready\r\n",
        ))
        .on(|c, cmd| match cmd {
            Command::Ehlo(_) => {
                c.send("250-fake.test\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 \r\n");
                Step::Next
            }
            _ => Step::Default,
        });
    let server = Server::start(script);
    let run = server.client().args(&["--tls", "none"]).run();
    let log = server.finish();
    assert_eq!(run.code, 0, "{run}");
    assert_eq!(
        log.lines.first().map(String::as_str),
        Some("EHLO client.test")
    );
    let text = message(&log);
    assert!(text.contains("Hello from missive."), "{text}");
    assert!(text.contains(&format!("From: {FROM}")), "{text}");
    let piped = log.read_lines().iter().any(|g| {
        g.len() == 3 && g[0].starts_with("MAIL") && g[1].starts_with("RCPT") && g[2] == "DATA"
    });
    assert!(piped, "PIPELINING was not used: {:?}", log.reads);
    assert!(run.stdout.contains("sent"), "{run}");
}

/// A reply nobody asked for, in the same write as the EHLO reply: the
/// conversation is out of step, which is a protocol error.
#[test]
fn unsolicited_reply_after_ehlo_is_a_protocol_error() {
    let script = Script::new().on(|c, cmd| match cmd {
        Command::Ehlo(_) => {
            let r = c.ehlo_reply();
            c.send(&format!("{r}250 2.1.0 Ok\r\n"));
            Step::Next
        }
        _ => Step::Default,
    });
    let server = Server::start(script);
    let run = server.client().args(&["--tls", "none"]).run();
    let log = server.finish();
    assert_eq!(run.code, 76, "{run}");
    assert!(log.messages.is_empty());
}
