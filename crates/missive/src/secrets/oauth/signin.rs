//! Signing in once: the device authorization grant (RFC 8628), or the
//! authorization code grant with PKCE (RFC 7636, S256) and a loopback
//! redirect (RFC 8252 §7.3).

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use serde::Deserialize;

use super::{
    now, oauth_error, post, Endpoints, Flow, OAuthConfig, TokenResponse, TokenStore, Tokens,
};
use crate::error::{AppError, Result};

/// How long sign-in in the browser may take.
const BROWSER_WAIT: Duration = Duration::from_secs(300);

/// `missive account login NAME`: signs in and stores the tokens.
pub fn login(
    account: &str,
    cfg: &OAuthConfig,
    flow: Option<Flow>,
    open_browser: bool,
) -> Result<()> {
    let ep = cfg.endpoints()?;
    let tokens = match flow.unwrap_or(ep.flow) {
        Flow::Device => device_flow(account, &ep)?,
        Flow::Browser => browser_flow(account, &ep, open_browser)?,
    };
    TokenStore::new(account, cfg.token_store.unwrap_or_default()).save(&tokens)?;
    eprintln!("missive: signed in; account {account} can send now");
    Ok(())
}

#[derive(Deserialize)]
struct DeviceResponse {
    device_code: Option<String>,
    user_code: Option<String>,
    verification_uri: Option<String>,
    /// Google's name for it.
    verification_url: Option<String>,
    expires_in: Option<u64>,
    interval: Option<u64>,
    error: Option<String>,
    error_description: Option<String>,
}

/// RFC 8628: show a code, poll until the user has entered it.
fn device_flow(account: &str, ep: &Endpoints) -> Result<Tokens> {
    let url = ep.device_url.as_deref().ok_or_else(|| {
        AppError::Config("this provider has no device sign-in: use --flow browser".into())
    })?;
    let mut form = vec![
        ("client_id", ep.client_id.as_str()),
        ("scope", ep.scopes.as_str()),
    ];
    if let Some(s) = &ep.client_secret {
        form.push(("client_secret", s.expose()));
    }
    let d: DeviceResponse = post(url, &form)?;
    let (Some(device_code), Some(user_code)) = (d.device_code, d.user_code) else {
        return Err(AppError::Auth(format!(
            "device sign-in refused: {}{}",
            d.error.as_deref().unwrap_or("no device code in the answer"),
            d.error_description
                .map(|x| format!(": {x}"))
                .unwrap_or_default()
        )));
    };
    let verify = d
        .verification_uri
        .or(d.verification_url)
        .unwrap_or_default();
    eprintln!("To sign in, open {verify} and enter the code {user_code}");
    let mut interval = d.interval.unwrap_or(5);
    let deadline = now() + d.expires_in.unwrap_or(900);
    loop {
        std::thread::sleep(Duration::from_secs(interval));
        let mut form = vec![
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("device_code", device_code.as_str()),
            ("client_id", ep.client_id.as_str()),
        ];
        if let Some(s) = &ep.client_secret {
            form.push(("client_secret", s.expose()));
        }
        let r: TokenResponse = post(&ep.token_url, &form)?;
        match r.error.as_deref() {
            None => return Tokens::from_response(r, None).ok_or_else(|| AppError::Auth("no access token in the answer".into())),
            // RFC 8628 §3.5
            Some("authorization_pending") => {}
            Some("slow_down") => interval += 5,
            Some("expired_token") => {
                return Err(AppError::Auth(format!(
                    "the code expired before sign-in finished: run missive account login {account} again"
                )))
            }
            Some("access_denied") => return Err(AppError::Auth("sign-in was declined".into())),
            Some(_) => return Err(oauth_error(&r, account)),
        }
        if now() > deadline {
            return Err(AppError::Auth(format!(
                "the code expired before sign-in finished: run missive account login {account} again"
            )));
        }
    }
}

/// RFC 7636 S256 and RFC 8252 §7.3: a browser sign-in that comes back to a loopback port.
fn browser_flow(account: &str, ep: &Endpoints, open_browser: bool) -> Result<Tokens> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| {
        AppError::Network(format!("cannot listen on loopback for the sign-in: {e}"))
    })?;
    let port = listener
        .local_addr()
        .map_err(|e| AppError::Network(e.to_string()))?
        .port();
    let redirect = format!("http://127.0.0.1:{port}/");
    let verifier = random_token(32)?;
    let challenge = B64URL.encode(ring::digest::digest(
        &ring::digest::SHA256,
        verifier.as_bytes(),
    ));
    let state = random_token(16)?;
    let url = format!(
        "{}{}response_type=code&client_id={}&redirect_uri={}&scope={}&state={}&code_challenge={}&code_challenge_method=S256&access_type=offline&prompt=consent",
        ep.authorize_url,
        if ep.authorize_url.contains('?') { "&" } else { "?" },
        pct(&ep.client_id),
        pct(&redirect),
        pct(&ep.scopes),
        state,
        challenge
    );
    eprintln!("To sign in, open this address in a browser:\n{url}");
    if open_browser {
        let opener = if cfg!(target_os = "macos") {
            "open"
        } else {
            "xdg-open"
        };
        let _ = std::process::Command::new(opener)
            .arg(&url)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
    }
    let query = accept_redirect(&listener, &state)?;
    let get = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    if get("state").as_deref() != Some(state.as_str()) {
        return Err(AppError::Auth(
            "the sign-in answer had the wrong state (a forged or stale redirect); try again".into(),
        ));
    }
    if let Some(e) = get("error") {
        return Err(AppError::Auth(match e.as_str() {
            "access_denied" => "sign-in was declined".into(),
            _ => format!("sign-in failed: {e}"),
        }));
    }
    let code =
        get("code").ok_or_else(|| AppError::Auth("the sign-in answer had no code".into()))?;
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", redirect.as_str()),
        ("client_id", ep.client_id.as_str()),
        ("code_verifier", verifier.as_str()),
    ];
    if let Some(s) = &ep.client_secret {
        form.push(("client_secret", s.expose()));
    }
    let r: TokenResponse = post(&ep.token_url, &form)?;
    if r.error.is_some() {
        return Err(oauth_error(&r, account));
    }
    Tokens::from_response(r, None)
        .ok_or_else(|| AppError::Auth("no access token in the answer".into()))
}

/// Waits on the loopback listener for the redirect and answers it. A stray
/// request (a favicon, a port scan, a connection that sends nothing) is
/// answered 404 and the wait goes on; a redirect, even with the wrong
/// state, ends it.
fn accept_redirect(listener: &TcpListener, state: &str) -> Result<Vec<(String, String)>> {
    let deadline = std::time::Instant::now() + BROWSER_WAIT;
    loop {
        let stream = accept_before(listener, deadline)?;
        if let Some(pairs) = answer_redirect(&stream, state) {
            return Ok(pairs);
        }
    }
}

/// The next connection on the listener, until `deadline`.
fn accept_before(
    listener: &TcpListener,
    deadline: std::time::Instant,
) -> Result<std::net::TcpStream> {
    listener.set_nonblocking(true).ok();
    let (stream, _) = loop {
        match listener.accept() {
            Ok(s) => break s,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if std::time::Instant::now() > deadline {
                    return Err(AppError::Auth(
                        "no sign-in came back within 5 minutes".into(),
                    ));
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => {
                return Err(AppError::Network(format!(
                    "the sign-in listener failed: {e}"
                )))
            }
        }
    };
    stream.set_nonblocking(false).ok();
    Ok(stream)
}

/// Reads one request; `None` when it is not a redirect (answered 404).
fn answer_redirect(stream: &std::net::TcpStream, state: &str) -> Option<Vec<(String, String)>> {
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok();
    let mut reader = BufReader::new(std::io::Read::take(stream, 8192));
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return None;
    }
    let target = request_line.split_whitespace().nth(1).unwrap_or("");
    let query = target.split_once('?').map_or("", |(_, q)| q);
    let pairs: Vec<(String, String)> = query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (unpct(k), unpct(v)))
        .collect();
    let redirect = pairs
        .iter()
        .any(|(k, _)| matches!(k.as_str(), "state" | "code" | "error"));
    if !redirect {
        let mut w = stream;
        let _ = write!(
            w,
            "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        return None;
    }
    // Only a redirect with a code and our own state is a success.
    let ok = pairs.iter().any(|(k, _)| k == "code")
        && pairs.iter().any(|(k, v)| k == "state" && v == state);
    let body = if ok {
        "<!doctype html><title>missive</title><p>Signed in. You can close this tab and return to the terminal.</p>"
    } else {
        "<!doctype html><title>missive</title><p>Sign-in did not complete. Return to the terminal for details.</p>"
    };
    let mut w = stream;
    let _ = write!(
        w,
        "HTTP/1.1 {}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        if ok { "200 OK" } else { "400 Bad Request" },
        body.len()
    );
    Some(pairs)
}

/// A random URL-safe string from `n` random octets.
fn random_token(n: usize) -> Result<String> {
    random_token_from(n, getrandom::fill)
}

/// Without a random source there is no sign-in: a predictable (all-zero)
/// PKCE verifier or state would protect nothing.
fn random_token_from(
    n: usize,
    fill: impl Fn(&mut [u8]) -> std::result::Result<(), getrandom::Error>,
) -> Result<String> {
    let mut b = vec![0u8; n];
    fill(&mut b).map_err(|e| {
        AppError::Config(format!(
            "no random numbers for the sign-in ({e}); cannot sign in safely"
        ))
    })?;
    Ok(B64URL.encode(b))
}

/// Percent-encoding for a query component (the same unreserved set as RFC 2231's).
fn pct(s: &str) -> String {
    crate::message::compose::percent_encode(s)
}

fn unpct(s: &str) -> String {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => match (
                bytes.get(i + 1).and_then(|&b| hex(b)),
                bytes.get(i + 2).and_then(|&b| hex(b)),
            ) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_coding_round_trip() {
        let s = "a b/c?d=e&f%g€";
        assert_eq!(unpct(&pct(s)), s);
        assert_eq!(unpct("a%2Fb+c%"), "a/b c%");
    }

    #[test]
    fn no_random_source_means_no_sign_in() {
        let failing = |_: &mut [u8]| Err(getrandom::Error::UNSUPPORTED);
        assert!(random_token_from(32, failing).is_err());
        assert_eq!(random_token(32).unwrap().len(), 43);
    }

    #[test]
    fn stray_connections_do_not_end_the_sign_in() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let client = std::thread::spawn(move || {
            use std::io::Read;
            // A connection that says nothing and goes, a favicon request, then the redirect.
            drop(std::net::TcpStream::connect(addr).unwrap());
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            s.write_all(b"GET /favicon.ico HTTP/1.1\r\n\r\n").unwrap();
            let mut answer = String::new();
            s.read_to_string(&mut answer).unwrap();
            assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            s.write_all(b"GET /?code=c1&state=s1 HTTP/1.1\r\n\r\n")
                .unwrap();
            let mut answer = String::new();
            s.read_to_string(&mut answer).unwrap();
            answer
        });
        let pairs = accept_redirect(&listener, "s1").unwrap();
        assert!(pairs.contains(&("code".to_string(), "c1".to_string())));
        assert!(client.join().unwrap().starts_with("HTTP/1.1 200"));
    }

    #[test]
    fn pkce_challenge_is_s256_of_the_verifier() {
        // RFC 7636 appendix B
        let v = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let c = B64URL.encode(ring::digest::digest(&ring::digest::SHA256, v.as_bytes()));
        assert_eq!(c, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
    }
}
