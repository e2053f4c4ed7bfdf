//! Defect 1: `--timeout` bounds each whole reply, not each read, and direct
//! delivery has an overall deadline.

use std::time::Duration;

use super::drip_server;
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

#[test]
fn direct_deadline_is_a_setting() {
    let home = Home::new("deadline");
    home.config("[accounts.a]\ndirect_deadline = 42\n", 0o600);
    let out = home.cmd(&["config", "show", "--account", "a"]).run();
    out.assert_code(0);
    assert_shown(&out, "direct_deadline", "42", "account a");
    let out = home
        .cmd(&["config", "show", "--account", "a"])
        .env("MISSIVE_DIRECT_DEADLINE", "7")
        .run();
    assert_shown(
        &out,
        "direct_deadline",
        "7",
        "environment MISSIVE_DIRECT_DEADLINE",
    );
}
