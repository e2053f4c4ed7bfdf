//! Signing in with the authorization code grant, PKCE and a loopback
//! redirect, and refusing a forged state.

use super::*;

/// Starts `account login --flow browser --no-browser` and reads the address it prints.
fn start_browser_login(env: &Env, mock: &MockAuth) -> (Live, String, Vec<(String, String)>) {
    let mut live = Live::spawn(
        env,
        &[
            "account",
            "login",
            ACCOUNT,
            "--flow",
            "browser",
            "--no-browser",
        ],
    );
    let url = live.line_starting(&mock.url("/authorize"));
    let query = parse_form(url.split_once('?').expect("a query").1);
    (live, url, query)
}

#[test]
fn browser_flow_with_pkce_signs_in() {
    let env = Env::new("browser-ok");
    let mock = MockAuth::start();
    env.configure(&mock);
    let (live, url, q) = start_browser_login(&env, &mock);

    let get = |k: &str| lookup(&q, k).unwrap_or_default().to_string();
    assert_eq!(get("response_type"), "code", "{url}");
    assert_eq!(get("client_id"), CLIENT_ID, "{url}");
    assert_eq!(get("scope"), SCOPES, "{url}");
    assert_eq!(get("code_challenge_method"), "S256", "{url}");
    assert_eq!(
        get("code_challenge").len(),
        43,
        "a SHA-256 in base64url: {url}"
    );
    assert!(get("state").len() >= 16, "state: {url}");
    let redirect = get("redirect_uri");
    let port: u16 = redirect
        .strip_prefix("http://127.0.0.1:")
        .and_then(|r| r.strip_suffix('/'))
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("redirect_uri is not http://127.0.0.1:PORT/: {redirect:?}"));
    assert_ne!(port, 0);
    assert!(
        !url.contains(CLIENT_SECRET),
        "the client secret is in the address"
    );

    // The browser: the authorization endpoint redirects back with a code.
    let authz = http_get(&url);
    assert_eq!(authz.status, 302, "{}", authz.body);
    let location = lookup(&authz.headers, "location").unwrap().to_string();
    assert!(location.starts_with(&redirect), "{location}");
    let back = http_get(&location);
    assert_eq!(back.status, 200, "{}", back.body);
    assert!(
        back.body.to_ascii_lowercase().contains("close this tab"),
        "{}",
        back.body
    );

    let out = live.finish();
    assert_eq!(out.code, 0, "{out}\nrefusals: {:?}", mock.state().refusals);

    // The code was exchanged with the verifier and the same redirect_uri.
    let t = mock.token_requests();
    assert_eq!(t.len(), 1, "{t:#?}");
    assert_eq!(t[0].grant(), Some("authorization_code"));
    assert_eq!(t[0].param("redirect_uri"), Some(redirect.as_str()));
    assert_eq!(t[0].param("client_id"), Some(CLIENT_ID));
    assert_eq!(t[0].param("client_secret"), Some(CLIENT_SECRET));
    let verifier = t[0].param("code_verifier").unwrap();
    assert_eq!(s256(verifier), get("code_challenge"), "PKCE S256");
    assert!(mock.state().codes.is_empty(), "the code was used");
    let code = lookup(&parse_form(location.split_once('?').unwrap().1), "code")
        .unwrap()
        .to_string();
    assert_eq!(t[0].param("code"), Some(code.as_str()));

    let stored = env.stored();
    assert_eq!(stored["access_token"], mock.access().as_str());
    assert_eq!(stored["refresh_token"], mock.refresh().as_str());
    assert_eq!(mode_of(&env.token_path()), 0o600);
    assert_eq!(mode_of(&env.token_dir()), 0o700);
    out.assert_no_secret(&mock.secrets());
    for s in mock.secrets() {
        assert!(!back.body.contains(&s), "a secret in the browser page");
    }
}

/// Drives a browser sign-in whose redirect carries a forged state.
fn forged_state_login(env: &Env, mock: &MockAuth) -> (Output, Page) {
    let (live, url, _) = start_browser_login(env, mock);
    let authz = http_get(&url);
    assert_eq!(authz.status, 302);
    let location = lookup(&authz.headers, "location").unwrap().to_string();
    let (base, query) = location.split_once('?').unwrap();
    let forged: Vec<String> = parse_form(query)
        .into_iter()
        .map(|(k, v)| match k.as_str() {
            "state" => format!("state={}", pct("forged-state-0000")),
            _ => format!("{k}={}", pct(&v)),
        })
        .collect();
    let page = http_get(&format!("{base}?{}", forged.join("&")));
    (live.finish(), page)
}

#[test]
fn browser_flow_with_a_wrong_state_stores_nothing() {
    let env = Env::new("browser-state");
    let mock = MockAuth::start();
    env.configure(&mock);
    let (out, page) = forged_state_login(&env, &mock);
    assert_eq!(out.code, 77, "{out}");
    assert!(out.stderr.contains("state"), "{out}");
    assert!(
        mock.token_requests().is_empty(),
        "a code from a forged redirect must not be exchanged"
    );
    assert!(!env.token_path().exists(), "nothing may be stored");
    assert!(
        !env.token_dir().exists() || std::fs::read_dir(env.token_dir()).unwrap().next().is_none()
    );
    assert!(page.status != 0, "the browser got an answer");
    out.assert_no_secret(&mock.secrets());
}

#[test]
fn browser_page_does_not_claim_success_for_a_wrong_state() {
    let env = Env::new("browser-state-page");
    let mock = MockAuth::start();
    env.configure(&mock);
    let (out, page) = forged_state_login(&env, &mock);
    assert_eq!(out.code, 77, "{out}");
    assert!(
        !page.body.contains("Signed in"),
        "the browser is told the refused sign-in worked: {} {}",
        page.status,
        page.body
    );
    assert_ne!(page.status, 200, "{}", page.body);
}
