//! Signing in with the device authorization grant (RFC 8628).

use super::*;

#[test]
fn device_flow_pending_then_slow_down_then_tokens() {
    let env = Env::new("device-ok");
    let mock = MockAuth::start();
    env.configure(&mock);
    mock.device_script(Some(1), &["authorization_pending", "slow_down", "grant"]);
    let started = Instant::now();
    let out = env.run(&["account", "login", ACCOUNT, "--flow", "device"]);
    let took = started.elapsed();
    assert_eq!(out.code, 0, "{out}");

    // The user is told where to go and what to type.
    let verification = mock.url("/activate");
    assert!(
        out.stderr.contains(&verification),
        "no verification URL\n{out}"
    );
    assert!(out.stderr.contains(USER_CODE), "no user code\n{out}");
    assert!(out.stderr.contains("signed in"), "{out}");

    let reqs = mock.requests();
    let device: Vec<&Req> = reqs.iter().filter(|r| r.path == "/device").collect();
    assert_eq!(device.len(), 1, "{reqs:#?}");
    assert_eq!(device[0].method, "POST");
    assert_eq!(device[0].param("client_id"), Some(CLIENT_ID));
    assert_eq!(device[0].param("scope"), Some(SCOPES));
    assert!(
        device[0]
            .header("content-type")
            .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded")),
        "{:?}",
        device[0].headers
    );

    // Three polls, each with the device_code grant and the issued device code.
    let polls: Vec<&Req> = reqs.iter().filter(|r| r.path == "/token").collect();
    assert_eq!(
        polls.len(),
        3,
        "pending, slow_down, then tokens: {polls:#?}"
    );
    let issued_device_code = mock
        .secrets()
        .into_iter()
        .find(|s| s.starts_with("DEVICE-"))
        .unwrap();
    for p in &polls {
        assert_eq!(p.method, "POST");
        assert_eq!(p.grant(), Some(DEVICE_GRANT), "{p:#?}");
        assert_eq!(p.param("device_code"), Some(issued_device_code.as_str()));
        assert_eq!(p.param("client_id"), Some(CLIENT_ID));
    }
    // The interval is honoured, and slow_down adds 5 s to it (RFC 8628 §3.5).
    let gap = |a: &Req, b: &Req| b.at.duration_since(a.at);
    assert!(
        gap(device[0], polls[0]) >= Duration::from_millis(900),
        "first poll came before the interval: {:?}",
        gap(device[0], polls[0])
    );
    assert!(
        gap(polls[0], polls[1]) >= Duration::from_millis(900),
        "{:?}",
        gap(polls[0], polls[1])
    );
    assert!(
        gap(polls[1], polls[2]) >= Duration::from_millis(5900),
        "slow_down did not add 5 s: {:?}",
        gap(polls[1], polls[2])
    );
    assert!(took < Duration::from_secs(30), "{took:?}");

    // The tokens are stored privately.
    let stored = env.stored();
    assert_eq!(stored["access_token"], mock.access().as_str());
    assert_eq!(stored["refresh_token"], mock.refresh().as_str());
    let exp = stored["expires_at"].as_u64().unwrap();
    assert!(
        exp > now() + 3000 && exp <= now() + 3600,
        "expires_at {exp}"
    );
    assert_eq!(mode_of(&env.token_path()), 0o600);
    assert_eq!(mode_of(&env.token_dir()), 0o700);
    out.assert_no_secret(&mock.secrets());

    // The fresh token is handed out without asking the mock again.
    let before = mock.requests().len();
    let tok = env.run(&["account", "token", ACCOUNT]);
    assert_eq!(tok.code, 0, "{tok}");
    assert_eq!(tok.stdout.trim_end(), mock.access());
    assert_eq!(
        mock.requests().len(),
        before,
        "a valid token needs no request"
    );
    tok.assert_no_secret_on_stderr(&mock.secrets());
}

#[test]
fn device_flow_expired_token_says_to_sign_in_again() {
    let env = Env::new("device-expired");
    let mock = MockAuth::start();
    env.configure(&mock);
    mock.device_script(Some(0), &["authorization_pending", "expired_token"]);
    let out = env.run(&["account", "login", ACCOUNT]);
    assert_eq!(out.code, 77, "{out}");
    assert!(
        out.stderr
            .contains(&format!("missive account login {ACCOUNT}")),
        "{out}"
    );
    assert!(out.stderr.contains("expired"), "{out}");
    assert!(out.stderr.contains(USER_CODE), "{out}");
    assert_eq!(mock.token_requests().len(), 2);
    assert!(!env.token_path().exists(), "nothing may be stored");
    out.assert_no_secret(&mock.secrets());
}

#[test]
fn device_flow_access_denied_is_declined_exit_77() {
    let env = Env::new("device-denied");
    let mock = MockAuth::start();
    env.configure(&mock);
    mock.device_script(Some(0), &["access_denied"]);
    let out = env.run(&["account", "login", ACCOUNT]);
    assert_eq!(out.code, 77, "{out}");
    assert!(out.stderr.contains("declined"), "{out}");
    assert_eq!(mock.token_requests().len(), 1);
    assert!(!env.token_path().exists(), "nothing may be stored");
    out.assert_no_secret(&mock.secrets());
}
