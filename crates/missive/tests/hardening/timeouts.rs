//! Defect 1: `--timeout` bounds each whole reply, not each read, and each
//! message has an overall deadline (`--deadline`), relay and direct.

use std::time::Duration;

use missive_smtp::Command;

use super::drip_server;
use crate::support::fake_smtp::{Script, Server, Step};
use crate::support::testbed::dns_server;
use crate::support::*;

/// A greeting of 40 continuation lines, one every 250 ms (10 s in all).
fn dripping_greeting() -> Vec<String> {
    (0..40).map(|i| format!("220-line {i}")).collect()
}

#[test]
fn a_reply_dripped_a_line_at_a_time_is_bounded_by_the_timeout() {
    let port = drip_server(dripping_greeting(), Duration::from_millis(250));
    let out = Cmd::new([
        "send",
        "--server",
        &format!("127.0.0.1:{port}"),
        "--tls",
        "none",
        "--from",
        "a@example.test",
        "--to",
        "b@example.test",
        "--body",
        "x",
        "--timeout",
        "2",
    ])
    .run();
    out.assert_code(75);
    let line = out.one_error_line();
    assert!(line.contains("timed out after 2 s"), "{out}");
    assert!(
        out.elapsed < Duration::from_secs(5),
        "took {:?}: each read restarted the timeout\n{out}",
        out.elapsed
    );
}

#[test]
fn direct_delivery_defers_what_the_deadline_leaves() {
    let tb = testbed!(dns);
    let _ = tb;
    // The only MX host of example2.test (127.0.0.1) drips its greeting for
    // 10 s, within any per-reply timeout of its own.
    let port = drip_server(dripping_greeting(), Duration::from_millis(250));
    let out = Cmd::new([
        "send",
        "--dns-server",
        &dns_server(),
        "--mx-port",
        &port.to_string(),
        "--from",
        "a@client.test",
        "--to",
        "b@example2.test",
        "--body",
        "x",
        "--timeout",
        "60",
        "--direct-deadline",
        "2",
        "--json",
    ])
    .run();
    out.assert_code(75);
    let report = out.json();
    let r = recipient(&report, "b@example2.test");
    assert_eq!(r["accepted"], false, "{out}");
    assert!(
        r["text"].as_str().unwrap_or_default().contains("deadline"),
        "{out}"
    );
    assert!(
        out.elapsed < Duration::from_secs(6),
        "took {:?}\n{out}",
        out.elapsed
    );
}

/// A relay that answers every command well, but each reply `delay` late.
fn trickling_relay(delay: Duration) -> Server {
    Server::start(trickling(delay))
}

fn trickling(delay: Duration) -> Script {
    Script::new().on(move |_, _| {
        std::thread::sleep(delay);
        Step::Default
    })
}

#[test]
fn a_relay_that_answers_each_reply_in_time_is_cut_off_by_the_deadline() {
    // Each reply 1 s late, well within --timeout 5; greeting, EHLO, MAIL,
    // RCPT, DATA and the end of data would take 5 s, past --deadline 3.
    let server = trickling_relay(Duration::from_secs(1));
    let out = server
        .client()
        .args(&["--tls", "none", "--timeout", "5", "--deadline", "3"])
        .run();
    let log = server.finish();
    out.assert_code(75);
    let line = out.one_error_line();
    assert!(line.contains("deadline (3 s) ran out during"), "{out}");
    assert!(line.contains("--deadline"), "says what to do: {out}");
    assert!(!line.contains("may have been delivered"), "{out}");
    assert!(log.messages.is_empty(), "the message went out: {log:?}");
    assert!(
        out.elapsed >= Duration::from_millis(2900) && out.elapsed < Duration::from_secs(5),
        "took {:?}: the deadline did not bound the send\n{out}",
        out.elapsed
    );
}

#[test]
fn a_relay_deadline_after_the_end_of_data_says_the_message_may_have_been_delivered() {
    // Everything at once, but the reply to the end of data 4 s late:
    // inside --timeout 10, past --deadline 2.
    let server = Server::start(Script::new().on(|c, cmd| match cmd {
        Command::Data => {
            c.reply("354 go ahead");
            let _ = c.read_body();
            std::thread::sleep(Duration::from_secs(4));
            c.reply("250 2.0.0 Ok: too late");
            Step::Next
        }
        _ => Step::Default,
    }));
    let out = server
        .client()
        .args(&["--tls", "none", "--timeout", "10", "--deadline", "2"])
        .run();
    server.finish();
    out.assert_code(75);
    let line = out.one_error_line();
    assert!(line.contains("deadline (2 s) ran out"), "{out}");
    assert!(line.contains("may have been delivered"), "{out}");
    assert!(
        out.elapsed < Duration::from_secs(4),
        "took {:?}: waited for the late reply\n{out}",
        out.elapsed
    );
}

#[test]
fn deadline_is_a_setting_and_the_direct_only_name_still_works() {
    let home = Home::new("deadline-both");
    home.config("[accounts.a]\ndeadline = 90\ndirect_deadline = 42\n", 0o600);
    let out = home.cmd(&["config", "show", "--account", "a"]).run();
    out.assert_code(0);
    assert_shown(&out, "deadline", "90", "account a");
    assert_shown(&out, "direct_deadline", "42", "account a");
    let out = home
        .cmd(&["config", "show", "--account", "a"])
        .env("MISSIVE_DEADLINE", "7")
        .env("MISSIVE_DIRECT_DEADLINE", "8")
        .run();
    assert_shown(&out, "deadline", "7", "environment MISSIVE_DEADLINE");
    assert_shown(
        &out,
        "direct_deadline",
        "8",
        "environment MISSIVE_DIRECT_DEADLINE",
    );
}

/// Three messages through a relay that answers each command 400 ms late:
/// about 4 s in all, each message well within a 2 s deadline.
const SLOW: Duration = Duration::from_millis(400);

#[test]
fn the_deadline_is_per_message_in_a_queue_run() {
    let server = Server::start_each(vec![trickling(SLOW), trickling(SLOW)]);
    let home = Home::new("deadline-queue");
    let relay = format!("127.0.0.1:{}", server.port);
    for i in 0..3 {
        let subject = format!("queued {i}");
        home.cmd(&[
            "send",
            "--queue",
            "always",
            "--server",
            &relay,
            "--tls",
            "none",
            "--from",
            "a@example.test",
            "--to",
            "b@example.test",
            "--subject",
            &subject,
            "--body",
            "x",
        ])
        .run()
        .assert_code(0);
    }
    // The run applies it: 1 s is too short for the first message (its
    // connection, EHLO, MAIL, RCPT and DATA take 1.6 s); all stay queued.
    let out = home
        .cmd(&["queue", "flush"])
        .env("MISSIVE_DEADLINE", "1")
        .run();
    out.assert_code(0);
    assert!(out.stderr.contains("deadline (1 s) ran out"), "{out}");
    assert_eq!(
        out.stderr.matches("b@example.test deferred").count(),
        3,
        "{out}"
    );
    // 2 s is enough for each message, though not for the three together.
    let out = home
        .cmd(&["queue", "flush"])
        .env("MISSIVE_DEADLINE", "2")
        .run();
    let logs = server.finish_each();
    out.assert_code(0);
    assert_eq!(
        out.stdout.matches("delivered to b@example.test").count(),
        3,
        "{out}"
    );
    assert!(logs[0].messages.is_empty());
    assert_eq!(logs[1].messages.len(), 3, "{out}");
    assert!(
        out.elapsed > Duration::from_secs(3),
        "took {:?}: not past one deadline in all, so this proves nothing\n{out}",
        out.elapsed
    );
}

#[test]
fn quit_after_is_bounded_by_the_deadline_too() {
    // Each reply 1 s late, within --timeout 5: EHLO, MAIL and RCPT take 3 s,
    // past --deadline 2, before --quit-after rcpt is reached.
    let server = trickling_relay(Duration::from_secs(1));
    let out = server
        .client()
        .args(&["--tls", "none", "--timeout", "5", "--deadline", "2"])
        .args(&["--quit-after", "rcpt"])
        .run();
    let log = server.finish();
    out.assert_code(75);
    let line = out.one_error_line();
    assert!(line.contains("deadline (2 s) ran out during"), "{out}");
    assert!(line.contains("--quit-after rcpt"), "{out}");
    assert!(log.messages.is_empty(), "{log:?}");
    assert!(
        out.elapsed >= Duration::from_millis(1900) && out.elapsed < Duration::from_secs(4),
        "took {:?}: the deadline did not bound the diagnosis\n{out}",
        out.elapsed
    );
}

#[test]
fn the_deadline_is_per_message_in_a_bulk_run() {
    let server = trickling_relay(SLOW);
    let dir = TempDir::new("deadline-bulk");
    dir.write(
        "rows.csv",
        b"email,name\nb1@example.test,One\nb2@example.test,Two\nb3@example.test,Three\n",
    );
    dir.write(
        "message.tmpl",
        b"From: a@example.test\nSubject: Hello {{ name }}\n\nHello {{ name }}.\n",
    );
    let out = Cmd::new(["bulk", "--csv", "rows.csv", "--template", "message.tmpl"])
        .args(["--server", &format!("127.0.0.1:{}", server.port)])
        .args(["--tls", "none", "--yes", "--deadline", "2"])
        .current_dir(dir.path())
        .run();
    let log = server.finish();
    out.assert_code(0);
    assert_eq!(log.messages.len(), 3, "{out}");
    assert!(
        out.elapsed > Duration::from_secs(3),
        "took {:?}: not past one deadline in all, so this proves nothing\n{out}",
        out.elapsed
    );
}

#[test]
fn a_deadline_given_when_queueing_is_kept_with_the_entry() {
    let server = trickling_relay(SLOW);
    let home = Home::new("deadline-stored");
    let relay = format!("127.0.0.1:{}", server.port);
    home.cmd(&[
        "send",
        "--queue",
        "always",
        "--deadline",
        "1",
        "--server",
        &relay,
        "--tls",
        "none",
        "--from",
        "a@example.test",
        "--to",
        "b@example.test",
        "--body",
        "x",
    ])
    .run()
    .assert_code(0);
    // The runner's own environment sets none: the entry's 1 s applies.
    let out = home.cmd(&["queue", "flush"]).run();
    server.finish();
    out.assert_code(0);
    assert!(out.stderr.contains("deadline (1 s) ran out"), "{out}");
    assert!(out.stderr.contains("b@example.test deferred"), "{out}");
}
