//! Errors before or instead of a session: bad input (65), usage (64), a
//! missing file (74), a silent server, a closed port, an unknown host.

use super::*;

#[test]
fn subject_with_crlf_is_refused_65_and_nothing_sent() {
    let tb = testbed!();
    let rcpt = unique_addr("inject");
    let evil = unique_addr("evil");
    let out = mx_send(&tb, &rcpt)
        .args([
            "--subject",
            &format!("a\r\nBcc: {evil}"),
            "--body",
            "x\n",
            "-v",
        ])
        .run();
    out.assert_code(65);
    assert!(!out.stderr.contains("C: "), "{}", out.stderr);
    tb.assert_none_delivered(&[&rcpt, &evil], true);
}

#[test]
fn address_with_crlf_is_refused_65() {
    let tb = testbed!();
    let rcpt = unique_addr("inject-to");
    let evil = unique_addr("evil-to");
    let out = mx_send(&tb, &format!("{rcpt}\r\nBcc: {evil}"))
        .args(["--body", "x\n"])
        .run();
    out.assert_code(65);
    tb.assert_none_delivered(&[&rcpt, &evil], true);
}

#[test]
fn bad_address_is_65() {
    let out = run([
        "send",
        "--server",
        "127.0.0.1:2525",
        "--from",
        "a@example.test",
        "--to",
        "bad address",
        "--body",
        "x",
    ]);
    out.assert_code(65);
    assert!(out.stderr.starts_with("missive: "), "{}", out.stderr);
    assert!(out.stderr.contains("bad address"), "{}", out.stderr);
}

/// Usage errors (64). Without --server, missive now delivers directly to the
/// MX hosts, so "no --server" is no longer one; these still are.
#[test]
fn usage_errors_are_64() {
    let base = ["send", "--body", "x"];
    let cases: [&[&str]; 4] = [
        // --server and --direct exclude each other
        &[
            "--server",
            "127.0.0.1:2525",
            "--direct",
            "--from",
            "a@example.test",
            "--to",
            "b@example.test",
        ],
        // no sender
        &["--server", "127.0.0.1:2525", "--to", "b@example.test"],
        // no recipient
        &["--server", "127.0.0.1:2525", "--from", "a@example.test"],
        // an option that does not exist
        &[
            "--server",
            "127.0.0.1:2525",
            "--from",
            "a@example.test",
            "--to",
            "b@example.test",
            "--no-such-option",
        ],
    ];
    for extra in cases {
        let out = Cmd::new(base).args(extra).run();
        out.assert_code(64);
        assert!(!out.stderr.trim().is_empty(), "no message for {extra:?}");
    }
}

#[test]
fn missing_body_file_is_74() {
    let out = run([
        "send",
        "--server",
        "127.0.0.1:2525",
        "--from",
        "a@example.test",
        "--to",
        "b@example.test",
        "--body-file",
        "/nonexistent",
    ]);
    out.assert_code(74);
    assert!(out.stderr.contains("/nonexistent"), "{}", out.stderr);
}

#[test]
fn silent_server_times_out_75() {
    let tb = testbed!();
    // the implicit-TLS port waits for a ClientHello: a STARTTLS client waits
    // for a greeting that never comes
    let started = std::time::Instant::now();
    let out = Cmd::new([
        "send",
        "--server",
        &format!("{}:{}", tb.var("SMTP_HOST"), tb.smtps_port()),
        "--tls",
        "starttls",
        "--timeout",
        "2",
        "--from",
        "a@client.test",
        "--to",
        "b@example.test",
        "--body",
        "x\n",
    ])
    .timeout(std::time::Duration::from_secs(30))
    .run();
    out.assert_code(75);
    assert!(out.stderr.contains("timed out"), "{}", out.stderr);
    let took = started.elapsed();
    assert!(
        took >= std::time::Duration::from_millis(1900) && took < std::time::Duration::from_secs(15),
        "--timeout 2 took {took:?}"
    );
}

#[test]
fn closed_port_is_75_and_unknown_host_is_68() {
    let out = run([
        "send",
        "--server",
        "127.0.0.1:1",
        "--from",
        "a@client.test",
        "--to",
        "b@example.test",
        "--body",
        "x\n",
    ]);
    out.assert_code(75);
    assert!(out.stderr.contains("127.0.0.1:1"), "{}", out.stderr);
    let out = run([
        "send",
        "--server",
        "no-such-host.invalid",
        "--from",
        "a@client.test",
        "--to",
        "b@example.test",
        "--body",
        "x\n",
    ]);
    out.assert_code(68);
    assert!(
        out.stderr.contains("no-such-host.invalid"),
        "{}",
        out.stderr
    );
}
