//! `-q/--quiet` on every subcommand (before or after it): nothing on
//! success, the error line still on failure.

use crate::support::fake_smtp::{Script, Server};
use crate::support::*;

#[test]
fn quiet_sandbox_send_prints_nothing() {
    let dir = TempDir::new("quiet-sandbox");
    let maildir = dir.join("mail");
    let out = run([
        "-q",
        "send",
        "--sandbox",
        "--maildir",
        maildir.to_str().unwrap(),
        "--from",
        "me@x.test",
        "--to",
        "you@x.test",
        "--body",
        "hi",
    ]);
    out.assert_code(0);
    assert_eq!(out.all().trim(), "", "{out}");
    assert_eq!(std::fs::read_dir(maildir.join("new")).unwrap().count(), 1);
}

#[test]
fn quiet_probe_config_and_send_print_nothing_on_success() {
    let server = Server::start(Script::new());
    let probe = run([
        "probe",
        &format!("127.0.0.1:{}", server.port),
        "--tls",
        "none",
        "--quiet",
    ]);
    probe.assert_code(0);
    assert_eq!(probe.stdout, "", "{probe}");
    server.finish();

    let home = Home::new("quiet-config");
    let shown = home.cmd(&["config", "show", "-q"]).run();
    shown.assert_code(0);
    assert_eq!(shown.all().trim(), "", "{shown}");
    home.config("[accounts.x]\nbogus = [", 0o600);
    let broken = home.cmd(&["-q", "config", "show"]).run();
    assert_ne!(broken.code, 0);
    assert!(broken.stderr.starts_with("missive: "), "{broken}");

    let server = Server::start(Script::new());
    let sent = server.client().args(&["--tls", "none", "-q"]).run();
    sent.assert_code(0);
    assert_eq!(sent.all().trim(), "", "{sent}");
    server.finish();
}
