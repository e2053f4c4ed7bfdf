//! `missive sendmail` (and the binary called as `sendmail`): sendmail's
//! options, the message on standard input, and the same settings as `send`
//! (the default account, MISSIVE_* variables), against the testbed.

use crate::support::*;

// ---- options and the message on standard input ------------------------------------

fn sendmail_env(tb: &Testbed) -> [(&'static str, String); 2] {
    [
        ("MISSIVE_SERVER", tb.mx()),
        ("MISSIVE_TLS", "none".to_string()),
    ]
}

fn sendmail(tb: &Testbed, args: &[&str], stdin: &[u8]) -> Output {
    let mut cmd = Cmd::new(["sendmail"]).args(args).stdin(stdin);
    for (k, v) in sendmail_env(tb) {
        cmd = cmd.env(k, &v);
    }
    cmd.run()
}

#[test]
fn sendmail_t_i_as_cron_uses_it() {
    let tb = testbed!();
    let rcpt = unique_addr("cron");
    let out = sendmail(
        &tb,
        &["-t", "-i"],
        format!("To: {rcpt}\nSubject: cron\n\nhi\n").as_bytes(),
    );
    out.assert_code(0);
    assert!(
        out.stdout.is_empty(),
        "sendmail should be quiet: {}",
        out.stdout
    );
    let (head, body) = delivered(&tb, &rcpt);
    assert_eq!(one_header(&head, "Subject"), "cron");
    assert_eq!(one_header(&head, "To"), rcpt);
    // what an MTA adds on submission when missing
    for h in ["Date", "Message-ID", "From"] {
        one_header(&head, h);
    }
    assert_eq!(body, b"hi\n");
}

#[test]
fn sendmail_symlink_works_the_same() {
    let tb = testbed!();
    let rcpt = unique_addr("symlink");
    let dir = TempDir::new("symlink");
    let link = dir.join("sendmail");
    std::os::unix::fs::symlink(MISSIVE, &link).expect("symlink");
    let through_link = |args: &[&str], stdin: &[u8]| {
        let mut cmd = Cmd::program(&link).args(args).stdin(stdin);
        for (k, v) in sendmail_env(&tb) {
            cmd = cmd.env(k, &v);
        }
        cmd.run()
    };
    let ran = through_link(
        &["-t", "-i"],
        format!("To: {rcpt}\nSubject: cron\n\nhi\n").as_bytes(),
    );
    ran.assert_code(0);
    let (head, body) = delivered(&tb, &rcpt);
    assert_eq!(one_header(&head, "Subject"), "cron");
    assert_eq!(body, b"hi\n");
    // and the usage error path goes through the symlink too
    let ran = through_link(&["-i"], b"Subject: x\n\nx\n");
    ran.assert_code(64);
}

#[test]
fn sendmail_f_sets_the_envelope_sender() {
    let tb = testbed!();
    let rcpt = unique_addr("bounce");
    let out = sendmail(
        &tb,
        &["-i", "-f", "bounce@x.test", &rcpt],
        b"From: Header Author <author@client.test>\nSubject: f\n\nbody\n",
    );
    out.assert_code(0);
    let file = tb.wait_for_mail(&rcpt);
    let first = file.split(|&b| b == b'\n').next().unwrap();
    assert_eq!(first, b"Return-Path: <bounce@x.test>");
    let (head, _) = split_message(&original(&file));
    assert_eq!(
        one_header(&head, "From"),
        "Header Author <author@client.test>"
    );
}

#[test]
fn sendmail_without_recipients_is_64_with_a_clear_line() {
    let tb = testbed!();
    let out = sendmail(&tb, &["-i"], b"Subject: nobody\n\nbody\n");
    out.assert_code(64);
    assert!(
        out.stderr.starts_with("missive: ") && out.stderr.contains("no recipients"),
        "{}",
        out.stderr
    );
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    let out = sendmail(&tb, &["-t", "-i"], b"Subject: nobody\n\nbody\n");
    out.assert_code(64);
    assert!(
        out.stderr.contains("no recipients") && out.stderr.contains("no To, Cc or Bcc"),
        "{}",
        out.stderr
    );
}

#[test]
fn sendmail_lone_dot_ends_input_unless_i() {
    let tb = testbed!();
    let (r1, r2) = (unique_addr("dot-ends"), unique_addr("dot-kept"));
    let input = |r: &str| format!("To: {r}\nSubject: dot\n\nbefore\n.\nafter\n");
    sendmail(&tb, &["-t"], input(&r1).as_bytes()).assert_code(0);
    sendmail(&tb, &["-t", "-i"], input(&r2).as_bytes()).assert_code(0);
    assert_eq!(String::from_utf8_lossy(&delivered(&tb, &r1).1), "before\n");
    assert_eq!(
        String::from_utf8_lossy(&delivered(&tb, &r2).1),
        "before\n.\nafter\n"
    );
}

#[test]
fn sendmail_git_send_email_style_delivers_to_all_arguments() {
    let tb = testbed!();
    let (a, b) = (unique_addr("git-a"), unique_addr("git-b"));
    let patch = format!(
        "From: Dev Eloper <dev@client.test>\nTo: {a}\nCc: {b}\nSubject: [PATCH 1/1] fix the thing\nDate: Sat, 28 Nov 2026 12:00:00 +0000\nMessage-ID: <{}@client.test>\nX-Mailer: git-send-email 2.39.5\nMIME-Version: 1.0\nContent-Transfer-Encoding: 8bit\n\n",
        unique("acct-patch")
    );
    let body = "Signed-off-by: Dev Eloper <dev@client.test>\n---\n file.c | 2 +-\n\ndiff --git a/file.c b/file.c\n--- a/file.c\n+++ b/file.c\n@@ -1 +1 @@\n-old\n+new\n.\n.. \n-- \n2.39.5\n\n";
    let out = sendmail(
        &tb,
        &["-i", &a, &b],
        [patch.as_bytes(), body.as_bytes()].concat().as_slice(),
    );
    out.assert_code(0);
    for r in [&a, &b] {
        let (head, got) = delivered(&tb, r);
        assert_eq!(one_header(&head, "Subject"), "[PATCH 1/1] fix the thing");
        assert_eq!(one_header(&head, "X-Mailer"), "git-send-email 2.39.5");
        assert_eq!(
            String::from_utf8_lossy(&got),
            body,
            "{r}: patch body changed"
        );
    }
}

// ======================================================================================
// sendmail reads the same settings
// ======================================================================================

#[test]
fn sendmail_uses_the_default_account() {
    let tb = testbed!();
    let home = Home::new("sendmail-default");
    home.config(
        &format!(
            "[accounts.default]\nserver = \"127.0.0.1:2525\"\ncafile = \"{}\"\nfrom = \"cron@example.test\"\n",
            tb.ca()
        ),
        0o600,
    );
    let local = unique("acct-sm-default");
    let msg = format!(
        "To: {local}@example.test\nSubject: sendmail {local}\n\nfrom cron\n.\nafter a dot\n"
    );
    let out = home.cmd(&["sendmail", "-t", "-i"]).stdin(&msg).run();
    assert_eq!(out.code, 0, "{out}");
    let mail = tb.wait_for_only_mail(&format!("{local}@example.test"));
    assert!(mail.contains("Return-Path: <cron@example.test>"), "{mail}");
    assert!(mail.contains("From: cron@example.test"), "{mail}");
    assert!(
        mail.contains(&format!("Subject: sendmail {local}")),
        "{mail}"
    );
    assert!(
        mail.contains("\n.\nafter a dot"),
        "-i keeps the lone dot\n{mail}"
    );
    assert!(
        mail.contains("with ESMTPS"),
        "the account's cafile made TLS work\n{mail}"
    );
}

#[test]
fn sendmail_uses_missive_environment_variables() {
    let tb = testbed!();
    let home = Home::new("sendmail-env");
    let local = unique("acct-sm-env");
    let msg = format!("From: Env Sender <env@example.test>\nTo: {local}@example.test\nSubject: env {local}\n\nbody\n");
    let out = home
        .cmd(&["sendmail", "-t", "-i"])
        .env("MISSIVE_SERVER", "127.0.0.1:5870")
        .env("MISSIVE_CAFILE", tb.ca())
        .env("MISSIVE_USER", "tester@example.test")
        .env("MISSIVE_PASSWORD", "testpass")
        .stdin(&msg)
        .run();
    assert_eq!(out.code, 0, "{out}");
    let mail = tb.wait_for_only_mail(&format!("{local}@example.test"));
    assert!(
        mail.contains("Authenticated sender: tester@example.test"),
        "{mail}"
    );
    assert!(mail.contains("Return-Path: <env@example.test>"), "{mail}");
}

#[test]
fn sendmail_f_selects_the_account_by_pattern() {
    let tb = testbed!();
    let home = Home::new("sendmail-f");
    // The default account points at a port where nothing listens; -f's
    // address selects the working one.
    home.config(
        &format!(
            r#"
[accounts.default]
server = "127.0.0.1:9"

[accounts.corp]
server = "127.0.0.1:5870"
cafile = "{}"
user = "tester@example.test"
password_cmd = "printf testpass"
from = "*@corp.example.test"
"#,
            tb.ca()
        ),
        0o600,
    );
    let local = unique("acct-sm-f");
    let msg = format!("To: {local}@example.test\nSubject: f {local}\n\nbody\n");
    let out = home
        .cmd(&[
            "sendmail",
            "-i",
            "-f",
            "ops@corp.example.test",
            &format!("{local}@example.test"),
        ])
        .stdin(&msg)
        .run();
    assert_eq!(out.code, 0, "{out}");
    let mail = tb.wait_for_only_mail(&format!("{local}@example.test"));
    assert!(
        mail.contains("Return-Path: <ops@corp.example.test>"),
        "{mail}"
    );
    assert!(
        mail.contains("Authenticated sender: tester@example.test"),
        "{mail}"
    );
}
