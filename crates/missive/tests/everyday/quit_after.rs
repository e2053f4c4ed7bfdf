//! `--quit-after STAGE` (and `--ehlo-only`): the session stops cleanly
//! after the stage (QUIT; RSET first inside a transaction), reports how far
//! it got, and never sends a message.

use crate::support::fake_smtp::{self, Script, Server};
use crate::support::*;

fn caps() -> Script {
    Script::new().caps(&["PIPELINING", "8BITMIME", "SIZE 10240000", "AUTH PLAIN"])
}

/// The commands the fake server received when missive stops after `stage`.
fn verbs_after(stage: &str, extra: &[&str]) -> (Output, Vec<String>) {
    let server = Server::start(caps());
    let mut args = vec!["--tls", "none", "--quit-after", stage];
    args.extend_from_slice(extra);
    let out = server.client().args(&args).run();
    let log = server.finish();
    assert!(
        log.messages.is_empty(),
        "a message was sent: {:?}",
        log.lines
    );
    (out, log.verbs())
}

#[test]
fn each_stage_stops_right_after_itself() {
    let login = [
        "--user",
        "u@x.test",
        "--password-env",
        "QA_PW",
        "--allow-plaintext-auth",
    ];
    let cases: [(&str, &[&str], &[&str]); 6] = [
        ("connect", &[], &[]),
        ("greeting", &[], &["QUIT"]),
        ("ehlo", &[], &["EHLO", "QUIT"]),
        ("auth", &login, &["EHLO", "AUTH", "QUIT"]),
        ("mail", &[], &["EHLO", "MAIL", "RSET", "QUIT"]),
        ("rcpt", &[], &["EHLO", "MAIL", "RCPT", "RSET", "QUIT"]),
    ];
    for (stage, extra, expected) in cases {
        let server = Server::start(caps());
        let mut args = vec!["--tls", "none", "--quit-after", stage];
        args.extend_from_slice(extra);
        let out = server.client().args(&args).env("QA_PW", "pw-9f3").run();
        let log = server.finish();
        out.assert_code(0);
        assert!(log.messages.is_empty(), "{stage}: {:?}", log.lines);
        assert_eq!(log.verbs(), expected, "{stage}: {out}");
        let last = out.stdout.lines().last().unwrap_or_default();
        assert_eq!(
            last,
            format!(
                "stopped after {stage} as asked ({}); nothing was sent",
                match stage {
                    "connect" => "closed the connection",
                    "mail" | "rcpt" => "RSET, QUIT",
                    _ => "QUIT",
                }
            ),
            "{out}"
        );
        out.assert_no_secret(&["pw-9f3"]);
    }
}

#[test]
fn ehlo_only_is_quit_after_ehlo_and_json_reports_the_stages() {
    let (out, verbs) = verbs_after("ehlo", &[]);
    out.assert_code(0);
    assert_eq!(verbs, ["EHLO", "QUIT"]);
    let server = Server::start(caps());
    let out = server
        .client()
        .args(&["--tls", "none", "--ehlo-only", "--json"])
        .run();
    assert_eq!(server.finish().verbs(), ["EHLO", "QUIT"]);
    out.assert_code(0);
    let j = out.json();
    assert_eq!(j["quit_after"], "ehlo");
    assert_eq!(j["stopped"], true);
    assert_eq!(j["greeting"], "220 fake.test ESMTP fake");
    assert!(j["ehlo"]
        .as_array()
        .unwrap()
        .iter()
        .any(|k| k == "PIPELINING"));
    assert_eq!(j["exit_code"], 0);
}

#[test]
fn refused_recipient_at_rcpt_is_reported_with_its_exit_code() {
    let server = Server::start(caps().on(|conn, cmd| match cmd {
        missive_smtp::Command::Rcpt { to, .. } if to.starts_with("bad") => {
            conn.reply("550 5.1.1 no such user");
            fake_smtp::Step::Next
        }
        _ => fake_smtp::Step::Default,
    }));
    let out = server
        .client()
        .to(&["good@x.test", "bad@x.test"])
        .args(&["--tls", "none", "--quit-after", "rcpt", "--json"])
        .run();
    let log = server.finish();
    assert!(log.messages.is_empty());
    assert_eq!(
        log.verbs(),
        ["EHLO", "MAIL", "RCPT", "RCPT", "RSET", "QUIT"]
    );
    out.assert_code(69);
    let j = out.json();
    assert_eq!(j["recipients"][0]["accepted"], true);
    assert_eq!(j["recipients"][1]["accepted"], false);
    assert_eq!(j["recipients"][1]["reply"], "550 5.1.1 no such user");
    assert_eq!(j["exit_code"], 69);
}

#[test]
fn does_my_login_work_against_the_testbed() {
    let tb = testbed!();
    let rcpt = unique_addr("quitafter");
    let login = |password: &str| {
        Cmd::new([
            "send",
            "--server",
            &tb.submission(),
            "--cafile",
            tb.ca(),
            "--user",
            tb.user(),
            "--password-env",
            "QA_PASSWORD",
            "--to",
            &rcpt,
            "--quit-after",
            "auth",
        ])
        .env("QA_PASSWORD", password)
        .run()
    };
    let ok = login(tb.pass());
    ok.assert_code(0);
    assert!(ok.stdout.contains("tls       TLSv1."), "{ok}");
    assert!(ok.stdout.contains("auth      authenticated"), "{ok}");
    let bad = login("wrong-password-7");
    bad.assert_code(77);
    assert!(
        bad.one_error_line().contains("authentication failed"),
        "{bad}"
    );
    bad.assert_no_secret(&["wrong-password-7"]);
    tb.assert_nothing_for(&rcpt);
}
