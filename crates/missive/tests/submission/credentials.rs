//! Wrong passwords and password commands: the exit codes, and that no form
//! of the password ever shows.

use super::*;

// ---------------------------------------------------------------- authentication failures

#[test]
fn wrong_password_plain_fails_77_and_leaks_nothing() {
    let tb = testbed!();
    let rcpt = unique_addr("wrongpw");
    let bad = format!("Wr0ng-{}", unique("pw"));
    // Dovecot delays repeated failures from one address (its auth penalty),
    // so two runs only: everything shown, and the plain error line
    for extra in [&["-vv", "--json"][..], &[][..]] {
        let out = submit(&tb, &tb.submission(), &rcpt)
            .env(PASS_VAR, &bad)
            .args(["--body", "must not arrive\n"])
            .args(extra)
            .run();
        out.assert_code(77);
        assert!(
            out.stderr
                .contains("535 5.7.8 Error: authentication failed"),
            "the server's 535 text is not on stderr ({extra:?}):\n{}",
            out.stderr
        );
        assert_no_secret(&out, tb.user(), &bad);
        if extra.contains(&"-v") || extra.contains(&"-vv") {
            assert!(
                out.stderr.contains("C: AUTH PLAIN <redacted>"),
                "{}",
                out.stderr
            );
            assert!(!out.stderr.contains("C: MAIL"), "{}", out.stderr);
        }
        if extra.contains(&"--json") {
            let j = out.json();
            assert_eq!(j["exit_code"], 77, "{j:#}");
            assert_eq!(j["authenticated"], false, "{j:#}");
            assert!(str_of(&j["error"]).contains("535"), "{j:#}");
        }
    }
    tb.assert_nothing_for(&rcpt);
}

#[test]
fn wrong_password_login_fails_77_and_leaks_nothing() {
    let tb = testbed!();
    let rcpt = unique_addr("wrongpw-login");
    let bad = format!("bad pässword {}", unique("pw"));
    let out = Cmd::new([
        "send",
        "--server",
        &tb.submission6(), // [::1]: its own Dovecot auth penalty
        "--cafile",
        tb.ca(),
        "--auth",
        "login",
        "--user",
        tb.user2(),
        "--password-env",
        PASS_VAR,
        "--from",
        tb.user2(),
        "--to",
        &rcpt,
        "--body",
        "must not arrive\n",
        "-vv",
    ])
    .env(PASS_VAR, &bad)
    .run();
    out.assert_code(77);
    assert!(out.stderr.contains("535 5.7.8"), "{}", out.stderr);
    assert!(out.stderr.contains("C: AUTH LOGIN"), "{}", out.stderr);
    assert!(out.stderr.contains("C: <redacted>"), "{}", out.stderr);
    assert_no_secret(&out, tb.user2(), &bad);
    tb.assert_nothing_for(&rcpt);
}

// ---------------------------------------------------------------- password commands

#[test]
fn password_cmd_supplies_the_password() {
    let tb = testbed!();
    assert_eq!(tb.pass(), "testpass", "the command below hard-codes it");
    let rcpt = unique_addr("pwcmd");
    let out = Cmd::new([
        "send",
        "--server",
        &tb.submission(),
        "--cafile",
        tb.ca(),
        "--user",
        tb.user(),
        "--password-cmd",
        "printf testpass",
        "--from",
        tb.user(),
        "--to",
        &rcpt,
        "--body",
        "from a command\n",
        "--json",
    ])
    .run();
    out.assert_code(0);
    assert_eq!(out.json()["authenticated"], true);
    let file = tb.wait_for_mail(&rcpt);
    assert!(received_header(&file).contains("(Authenticated sender: tester@example.test)"));
}

#[test]
fn failing_password_cmd_is_78_and_shows_nothing() {
    let tb = testbed!();
    let rcpt = unique_addr("pwcmd-fail");
    let secret = unique("leaky-secret");
    let leaky = format!("printf '{secret}\\n'; exit 3");
    for cmd in ["false", leaky.as_str()] {
        let out = Cmd::new([
            "send",
            "--server",
            &tb.submission(),
            "--cafile",
            tb.ca(),
            "--user",
            tb.user(),
            "--password-cmd",
            cmd,
            "--from",
            tb.user(),
            "--to",
            &rcpt,
            "--body",
            "must not arrive\n",
            "-v",
        ])
        .run();
        out.assert_code(78);
        assert!(out.stdout.is_empty(), "{}", out.stdout);
        let lines: Vec<&str> = out.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "one error line expected:\n{}", out.stderr);
        assert!(lines[0].starts_with("missive: "), "{}", lines[0]);
        assert!(lines[0].contains("password command"), "{}", lines[0]);
        assert!(!out.all().contains(&secret), "leaked:\n{}", out.stderr);
        assert!(
            !out.all().contains("printf"),
            "the command leaked:\n{}",
            out.stderr
        );
    }
    tb.assert_nothing_for(&rcpt);
}
