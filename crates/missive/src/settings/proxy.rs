//! The proxy setting: `--proxy URL` (`none`: no proxy), else
//! `MISSIVE_PROXY`, else the account's `proxy`, else `ALL_PROXY` (or
//! `all_proxy`) with `NO_PROXY`'s exceptions. Its password: the URL's,
//! else `--proxy-password-cmd`, `MISSIVE_PROXY_PASSWORD`, or the account's
//! `proxy_password_cmd`.

use super::{env, Account, Overrides, Provenance, Source};
use crate::error::Result;
use crate::secrets::SecretSource;
use crate::transport::proxy::{redact, Proxy};

/// A proxy as configured, its password not fetched yet.
#[derive(Debug, Clone)]
pub struct ProxySetting {
    /// `socks5://…`, `socks5h://…` or `http://…`.
    pub url: String,
    /// Where the password comes from when the URL has none.
    pub password: Option<SecretSource>,
    /// Hosts reached directly (from `NO_PROXY`, for a proxy from `ALL_PROXY`).
    pub no_proxy: Vec<String>,
}

impl ProxySetting {
    /// The proxy to connect through, with its password fetched.
    pub fn proxy(&self) -> Result<Proxy> {
        let mut proxy = Proxy::parse(&self.url)?;
        proxy.no_proxy = self.no_proxy.clone();
        if let (Some(user), None, Some(source)) = (&proxy.user, &proxy.password, &self.password) {
            proxy.password = Some(source.resolve(user, "proxy password", false)?);
        }
        Ok(proxy)
    }
}

pub(super) fn resolve(
    flags: &Overrides,
    acct: &Account,
    acct_name: Option<&str>,
    p: &mut Provenance,
) -> Option<ProxySetting> {
    let a_src = || Source::Account(acct_name.unwrap_or_default().to_string());
    let all_proxy = env("ALL_PROXY")
        .map(|v| (v, "ALL_PROXY"))
        .or_else(|| env("all_proxy").map(|v| (v, "all_proxy")));
    let (url, source, general) = if let Some(f) = &flags.proxy {
        (f.clone(), Source::Flag, false)
    } else if let Some(v) = env("MISSIVE_PROXY") {
        (v, Source::Env("MISSIVE_PROXY".into()), false)
    } else if let Some(v) = &acct.proxy {
        (v.clone(), a_src(), false)
    } else if let Some((v, name)) = all_proxy {
        (v, Source::Env(name.into()), true)
    } else {
        return None;
    };
    if url.eq_ignore_ascii_case("none") || url.is_empty() {
        p.record("proxy", "none".into(), source);
        return None;
    }
    p.record("proxy", redact(&url), source);
    let no_proxy = match general {
        true => env("NO_PROXY")
            .or_else(|| env("no_proxy"))
            .map(|v| {
                v.split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default(),
        false => Vec::new(),
    };
    let password = if let Some(c) = &flags.proxy_password_cmd {
        Some((SecretSource::Command(c.clone()), Source::Flag))
    } else if env("MISSIVE_PROXY_PASSWORD").is_some() {
        Some((
            SecretSource::Env("MISSIVE_PROXY_PASSWORD".into()),
            Source::Env("MISSIVE_PROXY_PASSWORD".into()),
        ))
    } else {
        acct.proxy_password_cmd
            .clone()
            .map(|c| (SecretSource::Command(c), a_src()))
    };
    let password = password.map(|(s, src)| {
        p.record(
            "proxy_secret",
            format!("<redacted> ({})", s.describe()),
            src,
        );
        s
    });
    Some(ProxySetting {
        url,
        password,
        no_proxy,
    })
}
