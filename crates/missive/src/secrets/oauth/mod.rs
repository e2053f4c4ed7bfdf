//! OAuth2 for SMTP (XOAUTH2 / OAUTHBEARER): signing in once, and access
//! tokens that refresh themselves.
//!
//! - Sign-in: the device authorization grant (RFC 8628), or the
//!   authorization code grant with PKCE (RFC 7636, S256) and a loopback
//!   redirect (RFC 8252 §7.3).
//! - Refresh (RFC 6749 §6) when the access token is missing or expires
//!   within 60 s; a rotated refresh token is stored.
//! - Storage: a JSON file per account under `$XDG_STATE_HOME/missive/tokens/`
//!   (else `~/.local/state/missive/tokens/`), mode 0600 in a 0700 directory;
//!   a file others can read is refused. Or the OS keyring, with
//!   `token_store = "keyring"`.
//!
//! Tokens and client secrets are [`Secret`]s: never printed.

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use missive_smtp::Secret;
use serde::{Deserialize, Serialize};

use crate::error::{AppError, Result};

/// Refresh when the access token expires within this many seconds.
const REFRESH_MARGIN: u64 = 60;

/// Who issues the tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    Microsoft,
    Google,
    Custom,
}

/// How to sign in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Flow {
    /// Device authorization: a code to enter on another device (RFC 8628).
    Device,
    /// A browser on this machine, redirected back to a loopback port (RFC 8252).
    Browser,
}

/// Where tokens are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenStoreKind {
    File,
    Keyring,
}

impl Default for TokenStoreKind {
    /// The OS keyring where there is a persistent one (macOS Keychain, Windows
    /// Credential Manager); elsewhere a private file. On Linux the kernel
    /// keyring does not survive a reboot, and the Secret Service needs a
    /// desktop session, which servers and CI lack; `token_store = "keyring"`
    /// still asks for it.
    fn default() -> Self {
        if cfg!(any(target_os = "macos", target_os = "windows")) {
            TokenStoreKind::Keyring
        } else {
            TokenStoreKind::File
        }
    }
}

/// The `[accounts.NAME.oauth]` table.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct OAuthConfig {
    pub provider: Option<Provider>,
    pub client_id: String,
    pub client_secret: Option<String>,
    /// Microsoft: `common`, `organizations`, `consumers` or a tenant id.
    pub tenant: Option<String>,
    /// Space-separated scopes.
    pub scopes: Option<String>,
    pub authorize_url: Option<String>,
    pub token_url: Option<String>,
    pub device_url: Option<String>,
    /// The default sign-in flow (Microsoft: device, Google: browser).
    pub flow: Option<Flow>,
    pub token_store: Option<TokenStoreKind>,
}

/// The endpoints and parameters after defaults.
#[derive(Debug, Clone)]
pub struct Endpoints {
    pub authorize_url: String,
    pub token_url: String,
    pub device_url: Option<String>,
    pub scopes: String,
    pub client_id: String,
    pub client_secret: Option<Secret>,
    pub flow: Flow,
}

impl OAuthConfig {
    pub fn endpoints(&self) -> Result<Endpoints> {
        let provider = self.provider.unwrap_or(Provider::Custom);
        let tenant = self.tenant.as_deref().unwrap_or("common");
        let ms =
            |path: &str| format!("https://login.microsoftonline.com/{tenant}/oauth2/v2.0/{path}");
        let (authorize, token, device, scopes, flow) = match provider {
            Provider::Microsoft => (
                Some(ms("authorize")),
                Some(ms("token")),
                Some(ms("devicecode")),
                "https://outlook.office.com/SMTP.Send offline_access",
                Flow::Device,
            ),
            // Google's device flow does not allow the Gmail scope.
            Provider::Google => (
                Some("https://accounts.google.com/o/oauth2/v2/auth".to_string()),
                Some("https://oauth2.googleapis.com/token".to_string()),
                None,
                "https://mail.google.com/",
                Flow::Browser,
            ),
            Provider::Custom => (None, None, None, "", Flow::Device),
        };
        let need = |v: Option<String>, what: &str| {
            v.ok_or_else(|| {
                AppError::Config(format!(
                    "the oauth table needs {what} (provider = \"custom\")"
                ))
            })
        };
        let device_url = self.device_url.clone().or(device);
        let flow = self.flow.unwrap_or(if device_url.is_some() {
            flow
        } else {
            Flow::Browser
        });
        if self.client_id.is_empty() {
            return Err(AppError::Config("the oauth table needs client_id".into()));
        }
        Ok(Endpoints {
            authorize_url: need(self.authorize_url.clone().or(authorize), "authorize_url")?,
            token_url: need(self.token_url.clone().or(token), "token_url")?,
            device_url,
            scopes: self.scopes.clone().unwrap_or_else(|| scopes.to_string()),
            client_id: self.client_id.clone(),
            client_secret: self.client_secret.clone().map(Secret::new),
            flow,
        })
    }
}

/// What the token store keeps for an account.
#[derive(Debug, Clone)]
pub struct Tokens {
    pub access_token: Option<Secret>,
    pub refresh_token: Option<Secret>,
    /// Unix seconds.
    pub expires_at: u64,
}

/// The stored form (only here are secrets written out, to a private file).
#[derive(Serialize, Deserialize)]
struct Stored {
    access_token: Option<String>,
    refresh_token: Option<String>,
    expires_at: u64,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Where an account's tokens live.
pub struct TokenStore {
    kind: TokenStoreKind,
    account: String,
}

/// `$XDG_STATE_HOME/missive/tokens`, else `~/.local/state/missive/tokens`.
pub fn token_dir() -> Result<PathBuf> {
    let base = std::env::var_os("XDG_STATE_HOME")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
        .ok_or_else(|| {
            AppError::Config("no place for tokens: set HOME or XDG_STATE_HOME".into())
        })?;
    Ok(base.join("missive").join("tokens"))
}

impl TokenStore {
    pub fn new(account: &str, kind: TokenStoreKind) -> TokenStore {
        TokenStore {
            kind,
            account: account.to_string(),
        }
    }

    pub fn path(&self) -> Result<PathBuf> {
        Ok(token_dir()?.join(format!("{}.json", self.account)))
    }

    pub fn load(&self) -> Result<Option<Tokens>> {
        let text = match self.kind {
            TokenStoreKind::Keyring => {
                let entry = keyring::Entry::new("missive-oauth", &self.account).map_err(|e| {
                    AppError::Config(format!("the OS keyring is not available: {e}"))
                })?;
                match entry.get_password() {
                    Ok(t) => t,
                    Err(keyring::Error::NoEntry) => return Ok(None),
                    Err(e) => {
                        return Err(AppError::Config(format!(
                            "the OS keyring is not available: {e}"
                        )))
                    }
                }
            }
            TokenStoreKind::File => {
                let path = self.path()?;
                match std::fs::metadata(&path) {
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                    Err(e) => return Err(AppError::Config(format!("{}: {e}", path.display()))),
                    #[cfg(unix)]
                    Ok(m) => {
                        use std::os::unix::fs::PermissionsExt;
                        let mode = m.permissions().mode() & 0o777;
                        if mode & 0o077 != 0 {
                            return Err(AppError::Config(format!(
                                "the token file {} can be read by others (mode {mode:o}): run chmod 600 {}, or sign in again",
                                path.display(),
                                path.display()
                            )));
                        }
                    }
                    #[cfg(not(unix))]
                    Ok(_) => {}
                }
                std::fs::read_to_string(&path)
                    .map_err(|e| AppError::Config(format!("{}: {e}", path.display())))?
            }
        };
        let s: Stored = serde_json::from_str(&text).map_err(|_| {
            AppError::Config(format!(
                "the stored tokens of account {} are damaged: sign in again",
                self.account
            ))
        })?;
        Ok(Some(Tokens {
            access_token: s.access_token.map(Secret::new),
            refresh_token: s.refresh_token.map(Secret::new),
            expires_at: s.expires_at,
        }))
    }

    pub fn save(&self, t: &Tokens) -> Result<()> {
        let text = serde_json::to_string(&Stored {
            access_token: t.access_token.as_ref().map(|s| s.expose().to_string()),
            refresh_token: t.refresh_token.as_ref().map(|s| s.expose().to_string()),
            expires_at: t.expires_at,
        })
        .map_err(|e| AppError::Config(format!("cannot store tokens: {e}")))?;
        match self.kind {
            TokenStoreKind::Keyring => keyring::Entry::new("missive-oauth", &self.account)
                .and_then(|e| e.set_password(&text))
                .map_err(|e| {
                    AppError::Config(format!("cannot store tokens in the OS keyring: {e}"))
                }),
            TokenStoreKind::File => {
                let path = self.path()?;
                let dir = path.parent().expect("a token path has a directory");
                std::fs::create_dir_all(dir).map_err(|e| {
                    AppError::Config(format!("cannot create {}: {e}", dir.display()))
                })?;
                #[cfg(unix)]
                {
                    use std::os::unix::fs::PermissionsExt;
                    let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
                }
                crate::secrets::files::write_private(&path, text.as_bytes())
            }
        }
    }
}

/// The token endpoint's answer (RFC 6749 §5.1, §5.2).
#[derive(Deserialize)]
struct TokenResponse {
    access_token: Option<String>,
    refresh_token: Option<String>,
    expires_in: Option<u64>,
    error: Option<String>,
    error_description: Option<String>,
}

/// An HTTP client with the system's trust anchors and a timeout.
fn agent() -> ureq::Agent {
    let roots: Vec<ureq::tls::Certificate<'static>> = crate::transport::tls::system_roots_der()
        .iter()
        .map(|c| ureq::tls::Certificate::from_der(c.as_ref()).to_owned())
        .collect();
    let tls = match roots.is_empty() {
        true => ureq::tls::TlsConfig::default(),
        false => ureq::tls::TlsConfig::builder()
            .root_certs(ureq::tls::RootCerts::new_with_certs(&roots))
            .build(),
    };
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .tls_config(tls)
        .build()
        .into()
}

/// POSTs a form and parses the JSON answer (errors included).
fn post<T: for<'de> Deserialize<'de>>(url: &str, form: &[(&str, &str)]) -> Result<T> {
    check_url(url)?;
    let mut resp = agent()
        .post(url)
        .header("Accept", "application/json")
        .send_form(form.iter().copied())
        .map_err(|e| AppError::Network(format!("cannot reach {}: {e}", host_of(url))))?;
    let status = resp.status();
    let body = resp
        .body_mut()
        .read_to_string()
        .map_err(|e| AppError::Network(format!("reading the answer of {}: {e}", host_of(url))))?;
    serde_json::from_str(&body).map_err(|_| {
        AppError::Network(format!(
            "{} answered {status} with something that is not OAuth JSON",
            host_of(url)
        ))
    })
}

/// Refresh tokens, codes and client secrets go only over HTTPS, or to
/// this machine (a local token helper or a test server).
fn check_url(url: &str) -> Result<()> {
    let lower = url.to_ascii_lowercase();
    if lower.starts_with("https://") {
        return Ok(());
    }
    let host = host_of(url);
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host.as_str(), |(h, _)| h),
    };
    let loopback = name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match lower.starts_with("http://") && loopback {
        true => Ok(()),
        false => Err(AppError::Config(format!(
            "the OAuth endpoint {} is not https:// (plain http:// only to this machine): tokens and secrets would cross the network readable",
            host_of(url)
        ))),
    }
}

/// The host of a URL, for messages (never the query, which may hold codes).
fn host_of(url: &str) -> String {
    url.split("://")
        .nth(1)
        .unwrap_or(url)
        .split(['/', '?'])
        .next()
        .unwrap_or(url)
        .to_string()
}

impl Tokens {
    fn from_response(r: TokenResponse, previous_refresh: Option<Secret>) -> Option<Tokens> {
        let access = r.access_token?;
        Some(Tokens {
            access_token: Some(Secret::new(access)),
            // A refresh response may rotate the refresh token, or keep the old one.
            refresh_token: r.refresh_token.map(Secret::new).or(previous_refresh),
            // A server's number, bounded: no overflow, and at most a year.
            expires_at: now().saturating_add(r.expires_in.unwrap_or(3600).min(365 * 86400)),
        })
    }
}

/// An OAuth error in words; `invalid_grant` means signing in again.
fn oauth_error(r: &TokenResponse, account: &str) -> AppError {
    let code = r
        .error
        .as_deref()
        .unwrap_or("no access token in the answer");
    let desc = r
        .error_description
        .as_deref()
        .map(|d| format!(": {}", d.lines().next().unwrap_or(d)))
        .unwrap_or_default();
    match code {
        "invalid_grant" => AppError::Auth(format!(
            "the sign-in of account {account} is no longer valid (invalid_grant{desc}); sign in again: missive account login {account}"
        )),
        "invalid_client" | "unauthorized_client" => {
            AppError::Config(format!("the OAuth client was refused ({code}{desc}): check client_id and client_secret"))
        }
        _ => AppError::Auth(format!("the token endpoint refused: {code}{desc}")),
    }
}

/// A valid access token for `account`: the stored one, or a refreshed one
/// (always refreshed with `force`, after the server rejected the old one).
pub fn access_token(account: &str, cfg: &OAuthConfig, force: bool) -> Result<Secret> {
    let store = TokenStore::new(account, cfg.token_store.unwrap_or_default());
    let tokens = store.load()?.ok_or_else(|| {
        AppError::Auth(format!(
            "account {account} has not signed in yet: run missive account login {account}"
        ))
    })?;
    if !force && tokens.expires_at > now() + REFRESH_MARGIN {
        if let Some(t) = tokens.access_token.clone() {
            return Ok(t);
        }
    }
    // One refresh at a time per account, across processes: two at once
    // would both spend the same refresh token, and with a provider that
    // rotates it the second is refused (or, worse, revokes the grant).
    let _lock = RefreshLock::take(account)?;
    // Another process may have refreshed while this one waited.
    let seen = tokens.access_token.as_ref().map(|t| t.expose().to_string());
    let tokens = store.load()?.unwrap_or(tokens);
    let changed = tokens.access_token.as_ref().map(|t| t.expose()) != seen.as_deref();
    if (!force || changed) && tokens.expires_at > now() + REFRESH_MARGIN {
        if let Some(t) = tokens.access_token.clone() {
            return Ok(t);
        }
    }
    let refresh = tokens.refresh_token.clone().ok_or_else(|| {
        AppError::Auth(format!("the access token of account {account} expired and there is no refresh token: missive account login {account}"))
    })?;
    let ep = cfg.endpoints()?;
    let mut form = vec![
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh.expose()),
        ("client_id", ep.client_id.as_str()),
        ("scope", ep.scopes.as_str()),
    ];
    if let Some(s) = &ep.client_secret {
        form.push(("client_secret", s.expose()));
    }
    let r: TokenResponse = post(&ep.token_url, &form)?;
    if r.error.is_some() || r.access_token.is_none() {
        return Err(oauth_error(&r, account));
    }
    let new = Tokens::from_response(r, Some(refresh)).expect("checked above");
    store.save(&new)?;
    Ok(new.access_token.expect("set by from_response"))
}

mod lock;
use lock::RefreshLock;
mod signin;
pub use signin::login;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_and_defaults() {
        let ms = OAuthConfig {
            provider: Some(Provider::Microsoft),
            client_id: "cid".into(),
            tenant: Some("organizations".into()),
            ..OAuthConfig::default()
        };
        let e = ms.endpoints().unwrap();
        assert_eq!(
            e.token_url,
            "https://login.microsoftonline.com/organizations/oauth2/v2.0/token"
        );
        assert_eq!(
            e.scopes,
            "https://outlook.office.com/SMTP.Send offline_access"
        );
        assert_eq!(e.flow, Flow::Device);
        let g = OAuthConfig {
            provider: Some(Provider::Google),
            client_id: "c".into(),
            ..OAuthConfig::default()
        };
        let e = g.endpoints().unwrap();
        assert_eq!(e.flow, Flow::Browser);
        assert_eq!(e.scopes, "https://mail.google.com/");
        assert!(OAuthConfig {
            client_id: "c".into(),
            ..OAuthConfig::default()
        }
        .endpoints()
        .is_err());
    }

    #[test]
    fn token_urls_are_https_or_loopback() {
        assert!(check_url("https://login.example.com/token").is_ok());
        assert!(check_url("http://127.0.0.1:8080/token").is_ok());
        assert!(check_url("http://[::1]:8080/token").is_ok());
        assert!(check_url("http://localhost/token").is_ok());
        assert!(check_url("http://login.example.com/token").is_err());
        assert!(check_url("http://127.0.0.1.evil.test/token").is_err());
        assert!(check_url("ftp://127.0.0.1/token").is_err());
    }

    #[test]
    fn a_huge_expires_in_does_not_overflow() {
        let r = TokenResponse {
            access_token: Some("a".into()),
            refresh_token: None,
            expires_in: Some(u64::MAX),
            error: None,
            error_description: None,
        };
        let t = Tokens::from_response(r, None).unwrap();
        assert!(t.expires_at > now() && t.expires_at <= now() + 365 * 86400);
    }

    #[test]
    fn host_of_hides_the_query() {
        assert_eq!(
            host_of("https://login.example/t/token?code=secret"),
            "login.example"
        );
    }
}
