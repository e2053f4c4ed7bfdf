//! Sending with XOAUTH2: the stored token, one refresh when the server
//! rejects it, and a revoked refresh token.

use std::sync::Arc;

use super::*;

#[test]
fn send_uses_the_stored_access_token() {
    let env = Env::new("send");
    let mock = MockAuth::start();
    env.configure(&mock);
    login_device(&env, &mock);
    let smtp = SmtpServer::start(mock.validator());

    let out = env.send(&smtp, &[]);
    assert_eq!(out.code, 0, "{out}\nsmtp: {:#?}", smtp.log());
    let log = smtp.log();
    assert_eq!(log.connections, 1);
    assert_eq!(log.auths.len(), 1, "{log:#?}");
    assert!(log.auths[0].accepted);
    assert_eq!(log.auths[0].user, USER);
    assert_eq!(log.auths[0].token, mock.access());
    assert_eq!(log.messages.len(), 1);
    assert!(log.messages[0].contains("Hello over XOAUTH2."));
    assert!(
        mock.token_requests().len() == 1,
        "only the sign-in: no refresh"
    );
    out.assert_no_secret(&mock.secrets());

    // -v shows the conversation, --json the report: neither shows a secret.
    let out = env.send(&smtp, &["-v"]);
    assert_eq!(out.code, 0, "{out}");
    assert!(out.stderr.contains("AUTH XOAUTH2"), "a transcript: {out}");
    out.assert_no_secret(&mock.secrets());
    let out = env.send(&smtp, &["--json", "-v"]);
    assert_eq!(out.code, 0, "{out}");
    let report: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON report");
    assert_eq!(report["authenticated"], true, "{out}");
    out.assert_no_secret(&mock.secrets());
    assert_eq!(smtp.log().connections, 3);
}

#[test]
fn send_refreshes_once_when_the_server_rejects_the_token() {
    let env = Env::new("send-refresh");
    let mock = MockAuth::start();
    env.configure(&mock);
    login_device(&env, &mock);
    let smtp = SmtpServer::start(mock.validator());
    let (revoked, refresh) = (mock.access(), mock.refresh());
    // Revoked at the server, while the stored token still looks valid.
    mock.state().access_valid = false;
    assert!(env.stored()["expires_at"].as_u64().unwrap() > now() + 3000);

    let out = env.send(&smtp, &["-v"]);
    assert_eq!(out.code, 0, "{out}\nsmtp: {:#?}", smtp.log());
    let log = smtp.log();
    assert_eq!(
        log.connections, 2,
        "a second connection after the refresh: {log:#?}"
    );
    assert_eq!(log.auths.len(), 2, "{log:#?}");
    assert!(!log.auths[0].accepted);
    assert_eq!(log.auths[0].connection, 1);
    assert_eq!(log.auths[0].token, revoked);
    assert_eq!(
        log.auths[0].answer_to_challenge.as_deref(),
        Some(""),
        "XOAUTH2 answers the error challenge with an empty line"
    );
    assert!(log.auths[1].accepted);
    assert_eq!(log.auths[1].connection, 2);
    assert_eq!(log.auths[1].token, mock.access());
    assert_ne!(log.auths[1].token, revoked);
    assert_eq!(log.messages.len(), 1, "sent once");

    let t = mock.token_requests();
    let refreshes: Vec<&Req> = t
        .iter()
        .filter(|r| r.grant() == Some("refresh_token"))
        .collect();
    assert_eq!(refreshes.len(), 1, "refreshed once: {t:#?}");
    assert_eq!(refreshes[0].param("refresh_token"), Some(refresh.as_str()));
    let stored = env.stored();
    assert_eq!(stored["access_token"], mock.access().as_str());
    assert_eq!(stored["refresh_token"], mock.refresh().as_str());
    out.assert_no_secret(&mock.secrets());
}

#[test]
fn send_refreshes_only_once_when_the_new_token_is_rejected_too() {
    let env = Env::new("send-twice");
    let mock = MockAuth::start();
    env.configure(&mock);
    login_device(&env, &mock);
    // A server that accepts no token at all.
    let smtp = SmtpServer::start(Arc::new(|_: &str| false));
    let out = env.send(&smtp, &["--json"]);
    assert_eq!(out.code, 77, "{out}");
    let log = smtp.log();
    assert_eq!(log.connections, 2, "one retry, not a loop: {log:#?}");
    assert!(log.messages.is_empty());
    let refreshes = mock
        .token_requests()
        .iter()
        .filter(|r| r.grant() == Some("refresh_token"))
        .count();
    assert_eq!(refreshes, 1);
    let report: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON report");
    assert_eq!(report["exit_code"], 77, "{out}");
    out.assert_no_secret(&mock.secrets());
}

#[test]
fn send_with_a_revoked_refresh_token_says_to_sign_in_again() {
    let env = Env::new("send-revoked");
    let mock = MockAuth::start();
    env.configure(&mock);
    login_device(&env, &mock);
    let smtp = SmtpServer::start(mock.validator());
    {
        let mut s = mock.state();
        s.access_valid = false;
        s.refresh_valid = false;
    }
    for extra in [&["-v"][..], &["--json", "-v"][..]] {
        let before = smtp.log().connections;
        let out = env.send(&smtp, extra);
        assert_eq!(out.code, 77, "{out}");
        assert!(
            out.stderr
                .contains(&format!("missive account login {ACCOUNT}")),
            "{out}"
        );
        assert_eq!(
            smtp.log().connections,
            before + 1,
            "no second connection without a new token"
        );
        if extra.contains(&"--json") {
            let report: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON report");
            assert_eq!(report["exit_code"], 77, "{out}");
            assert!(
                report["error"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("missive account login"),
                "{out}"
            );
        }
        out.assert_no_secret(&mock.secrets());
    }
    assert!(smtp.log().messages.is_empty());
}
