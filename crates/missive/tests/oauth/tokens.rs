//! Refreshing and rotating tokens, and the token store.

use super::*;

// ---- refresh -------------------------------------------------------------------------------

#[test]
fn refresh_rotates_the_refresh_token() {
    let env = Env::new("refresh");
    let mock = MockAuth::start();
    env.configure(&mock);
    let (old_access, old_refresh) = (secret("AT-old"), secret("RT-old"));
    mock.set_tokens(&old_access, &old_refresh);
    env.store_tokens(Some(&old_access), Some(&old_refresh), now() - 10, 0o600);

    let out = env.run(&["account", "token", ACCOUNT]);
    assert_eq!(out.code, 0, "{out}\nrefusals: {:?}", mock.state().refusals);
    let t = mock.token_requests();
    assert_eq!(t.len(), 1, "{t:#?}");
    assert_eq!(t[0].grant(), Some("refresh_token"));
    assert_eq!(t[0].param("refresh_token"), Some(old_refresh.as_str()));
    assert_eq!(t[0].param("client_id"), Some(CLIENT_ID));
    assert_eq!(t[0].param("client_secret"), Some(CLIENT_SECRET));
    assert_eq!(t[0].param("scope"), Some(SCOPES));

    let (new_access, new_refresh) = (mock.access(), mock.refresh());
    assert_ne!(new_access, old_access);
    assert_ne!(new_refresh, old_refresh);
    assert_eq!(out.stdout, format!("{new_access}\n"));
    assert!(!out.stdout.contains(&new_refresh) && !out.stdout.contains(CLIENT_SECRET));
    out.assert_no_secret_on_stderr(&mock.secrets());

    let stored = env.stored();
    assert_eq!(stored["access_token"], new_access.as_str());
    assert_eq!(stored["refresh_token"], new_refresh.as_str(), "rotated");
    assert!(stored["expires_at"].as_u64().unwrap() > now() + 3000);
    assert_eq!(mode_of(&env.token_path()), 0o600);

    // Within the validity: the same token, and no request.
    let again = env.run(&["account", "token", ACCOUNT]);
    assert_eq!(again.code, 0, "{again}");
    assert_eq!(again.stdout, format!("{new_access}\n"));
    assert_eq!(
        mock.token_requests().len(),
        1,
        "no refresh for a valid token"
    );
    again.assert_no_secret_on_stderr(&mock.secrets());
}

#[test]
fn refresh_without_rotation_keeps_the_refresh_token() {
    let env = Env::new("refresh-keep");
    let mock = MockAuth::start();
    env.configure(&mock);
    mock.state().rotate = false;
    let (old_access, old_refresh) = (secret("AT-old"), secret("RT-old"));
    mock.set_tokens(&old_access, &old_refresh);
    env.store_tokens(Some(&old_access), Some(&old_refresh), now() - 10, 0o600);
    let out = env.run(&["account", "token", ACCOUNT]);
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(out.stdout.trim_end(), mock.access());
    let stored = env.stored();
    assert_eq!(stored["refresh_token"], old_refresh.as_str());
    assert_eq!(stored["access_token"], mock.access().as_str());
}

#[test]
fn refresh_when_the_token_expires_within_60_seconds() {
    let env = Env::new("refresh-margin");
    let mock = MockAuth::start();
    env.configure(&mock);
    let (access, refresh) = (secret("AT-cur"), secret("RT-cur"));
    mock.set_tokens(&access, &refresh);

    // Five minutes left: used as it is.
    env.store_tokens(Some(&access), Some(&refresh), now() + 300, 0o600);
    let out = env.run(&["account", "token", ACCOUNT]);
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(out.stdout.trim_end(), access);
    assert!(mock.token_requests().is_empty());

    // Thirty seconds left: refreshed.
    env.store_tokens(Some(&access), Some(&refresh), now() + 30, 0o600);
    let out = env.run(&["account", "token", ACCOUNT]);
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(mock.token_requests().len(), 1);
    assert_eq!(out.stdout.trim_end(), mock.access());
    assert_ne!(out.stdout.trim_end(), access);

    // No access token at all: refreshed.
    let refresh = mock.refresh();
    env.store_tokens(None, Some(&refresh), now() + 3000, 0o600);
    let out = env.run(&["account", "token", ACCOUNT]);
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(mock.token_requests().len(), 2);
    assert_eq!(out.stdout.trim_end(), mock.access());
}

#[test]
fn invalid_grant_on_refresh_exits_77_with_the_login_command() {
    let env = Env::new("invalid-grant");
    let mock = MockAuth::start();
    env.configure(&mock);
    let (access, refresh) = (secret("AT-old"), secret("RT-revoked"));
    mock.set_tokens(&access, &refresh);
    mock.state().refresh_valid = false;
    env.store_tokens(Some(&access), Some(&refresh), now() - 100, 0o600);
    let before = std::fs::read_to_string(env.token_path()).unwrap();

    let out = env.run(&["account", "token", ACCOUNT]);
    assert_eq!(out.code, 77, "{out}");
    assert!(
        out.stderr
            .contains(&format!("missive account login {ACCOUNT}")),
        "{out}"
    );
    assert!(out.stderr.contains("invalid_grant"), "{out}");
    assert!(out.stdout.is_empty(), "no token on stdout: {out}");
    assert_eq!(mock.token_requests().len(), 1);
    assert_eq!(mock.token_requests()[0].grant(), Some("refresh_token"));
    assert_eq!(
        std::fs::read_to_string(env.token_path()).unwrap(),
        before,
        "the store is left as it was"
    );
    out.assert_no_secret(&mock.secrets());
}

#[test]
fn account_token_before_login_says_to_sign_in() {
    let env = Env::new("no-login");
    let mock = MockAuth::start();
    env.configure(&mock);
    let out = env.run(&["account", "token", ACCOUNT]);
    assert_eq!(out.code, 77, "{out}");
    assert!(
        out.stderr
            .contains(&format!("missive account login {ACCOUNT}")),
        "{out}"
    );
    assert!(mock.requests().is_empty());
}

// ---- the token store ------------------------------------------------------------------------

#[test]
fn a_token_file_others_can_read_is_refused() {
    let env = Env::new("mode");
    let mock = MockAuth::start();
    env.configure(&mock);
    let (access, refresh) = (secret("AT-open"), secret("RT-open"));
    mock.set_tokens(&access, &refresh);
    env.store_tokens(Some(&access), Some(&refresh), now() + 3000, 0o644);
    let out = env.run(&["account", "token", ACCOUNT]);
    assert_eq!(out.code, 78, "{out}");
    assert!(out.stderr.contains("chmod 600"), "{out}");
    assert!(
        out.stderr.contains(&env.token_path().display().to_string()),
        "the message names the file: {out}"
    );
    assert!(out.stdout.is_empty(), "{out}");
    assert!(mock.requests().is_empty());
    out.assert_no_secret(&mock.secrets());
    assert_eq!(
        mode_of(&env.token_path()),
        0o644,
        "left for the user to fix"
    );
}

#[test]
fn config_show_redacts_the_client_secret() {
    let env = Env::new("show");
    let mock = MockAuth::start();
    env.configure(&mock);
    for json in [false, true] {
        let mut args = vec!["config", "show", "--account", ACCOUNT];
        if json {
            args.push("--json");
        }
        let out = env.run(&args);
        assert_eq!(out.code, 0, "{out}");
        assert!(out.stdout.contains("OAuth2"), "{out}");
        assert!(out.stdout.contains("<redacted>"), "{out}");
        out.assert_no_secret(&mock.secrets());
    }
}

#[test]
fn concurrent_refreshes_spend_the_refresh_token_once() {
    // The mock rotates refresh tokens and accepts only the current one: a
    // second refresh with the old token is refused (invalid_grant).
    let env = Env::new("concurrent");
    let mock = MockAuth::start();
    env.configure(&mock);
    let (old_access, old_refresh) = (secret("AT-old"), secret("RT-old"));
    mock.set_tokens(&old_access, &old_refresh);
    env.store_tokens(Some(&old_access), Some(&old_refresh), now() - 10, 0o600);

    let start = Instant::now();
    let mut children: Vec<Child> = (0..6)
        .map(|_| env.home.cmd(&["account", "token", ACCOUNT]).spawn())
        .collect();
    let outs: Vec<Output> = children
        .iter_mut()
        .map(|c| finish(c, None, start, RUN_TIMEOUT))
        .collect();
    let new_access = mock.access();
    for out in &outs {
        assert_eq!(out.code, 0, "{out}\nrefusals: {:?}", mock.state().refusals);
        assert_eq!(out.stdout, format!("{new_access}\n"));
    }
    assert_eq!(mock.token_requests().len(), 1, "one refresh for all");
    let stored = env.stored();
    assert_eq!(stored["access_token"], new_access.as_str());
    assert_eq!(stored["refresh_token"], mock.refresh().as_str());
}
