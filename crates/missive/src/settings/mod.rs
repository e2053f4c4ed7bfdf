//! Settings, resolved once. Where each comes from, highest first: the
//! command line ([`Overrides`]), the environment (`MISSIVE_*`), the account
//! (config file), the preset, the built-in defaults. [`resolve`] reads the
//! layers below the command line and returns plain [`Settings`] with the
//! source of each value (for `missive config show`); nothing below the
//! command layer sees the parsed arguments.
//!
//! An account's credentials are bound to its server: when the server comes
//! from elsewhere (`--server`, `MISSIVE_SERVER`, another preset) and names
//! another host, the account's user and secret are not used.

use std::fmt::Display;
use std::path::PathBuf;

use crate::error::{AppError, Result};
use crate::secrets::{Login, SecretSource};

pub(crate) mod config;
mod modes;
mod plan;
pub(crate) mod presets;
mod provenance;
mod proxy;
pub(crate) mod queue;
mod trust;

pub use config::{Account, Config};
pub use modes::{AuthSetting, TlsSetting};
pub use plan::{deadline, mailer_options};
pub use provenance::{Provenance, Source};
pub use proxy::ProxySetting;
pub use queue::{QueueSettings, QueueWhen};

/// The command-line layer: what the user asked for, nothing resolved.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// The relay, HOST[:PORT].
    pub server: Option<String>,
    /// Deliver to MX hosts even when a server is configured.
    pub direct: bool,
    pub dns_server: Option<String>,
    pub mx_port: Option<u16>,
    /// `--dnssec-trust-anchor FILE|none`.
    pub dnssec_trust_anchor: Option<PathBuf>,
    pub account: Option<String>,
    pub preset: Option<String>,
    pub config: Option<PathBuf>,
    pub from: Option<String>,
    pub ehlo: Option<String>,
    pub timeout: Option<u64>,
    /// The longest one message may take, in seconds (relay or direct).
    pub deadline: Option<u64>,
    /// Direct delivery: the overall deadline in seconds.
    pub direct_deadline: Option<u64>,
    pub tls: Option<TlsSetting>,
    pub cafile: Option<PathBuf>,
    pub insecure: bool,
    pub auth: Option<AuthSetting>,
    pub user: Option<String>,
    pub password_env: Option<String>,
    pub password_cmd: Option<String>,
    pub oauth_token_cmd: Option<String>,
    pub allow_plaintext_auth: bool,
    pub no_chunking: bool,
    /// `--proxy URL` (`none`: no proxy, whatever the environment says).
    pub proxy: Option<String>,
    /// `--proxy-password-cmd CMD`.
    pub proxy_password_cmd: Option<String>,
    /// `--log PATH|syslog`.
    pub log: Option<String>,
    /// `--queue WHEN`.
    pub queue: Option<QueueWhen>,
    /// `--dkim-key FILE` (repeatable), with `--dkim-selector`, `--dkim-domain`.
    pub dkim_key: Vec<PathBuf>,
    pub dkim_selector: Vec<String>,
    pub dkim_domain: Vec<String>,
    /// `--require-tls` (RFC 8689).
    pub require_tls: bool,
}

/// The effective settings of a send, every layer applied.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// The relay, HOST[:PORT]; `None`: direct delivery to MX hosts.
    pub server: Option<String>,
    pub dns_server: Option<String>,
    pub mx_port: Option<u16>,
    /// Direct delivery: DNSKEY records to validate DNSSEC against, or
    /// `none` (`None`: the default, see [`crate::deliver::Direct`]).
    pub dnssec_trust_anchor: Option<PathBuf>,
    /// The sender, as given (an address or `Name <address>`).
    pub from: Option<String>,
    pub ehlo: Option<String>,
    pub timeout: Option<u64>,
    /// The longest one message may take, in seconds, relay or direct
    /// (`None`: the default, which grows with the message).
    pub deadline: Option<u64>,
    /// Direct delivery: the overall deadline in seconds (`None`: `deadline`).
    pub direct_deadline: Option<u64>,
    /// Direct delivery: connections at once, over all domains (`None`: the default).
    pub direct_connections: Option<u64>,
    /// Direct delivery: connections at once to one domain (`None`: the default).
    pub direct_connections_per_domain: Option<u64>,
    /// `None`: the default for the route (implicit on 465, else STARTTLS; opportunistic to MX hosts).
    pub tls: Option<TlsSetting>,
    pub cafile: Option<PathBuf>,
    pub insecure: bool,
    pub auth: AuthSetting,
    /// `--auth` named a mechanism on the command line (then a user is required).
    pub auth_explicit: bool,
    /// The login user, whether or not AUTH is used (an address is the default sender).
    pub user: Option<String>,
    /// Who logs in, and where the secret is (`None`: no AUTH).
    pub login: Option<Login>,
    pub allow_plaintext_auth: bool,
    pub chunking: bool,
    /// The preset's documented sending limits (bulk's defaults).
    pub limits: Limits,
    /// Every connection goes through this proxy.
    pub proxy: Option<ProxySetting>,
    /// Where a line per message is logged: a file, `syslog` or `syslog:SOCKET`.
    pub log: Option<String>,
    /// The outbox: when to queue, where, how long.
    pub queue: QueueSettings,
    /// DKIM signatures to add (keys not yet loaded).
    pub dkim: Vec<crate::message::dkim::DkimConfig>,
    /// REQUIRETLS (RFC 8689): verified TLS on every hop, or nothing is sent.
    pub require_tls: bool,
    /// The account used, if any.
    pub account: Option<String>,
    /// The configuration file, when one exists.
    pub config: Option<PathBuf>,
    /// Where each value came from.
    pub provenance: Provenance,
}

/// A provider's documented sending limits.
#[derive(Debug, Clone, Default)]
pub struct Limits {
    /// Simultaneous sessions.
    pub connections: Option<usize>,
    /// `N/min`, `N/day`, …
    pub rates: Vec<String>,
}

pub(crate) fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

pub(crate) fn env_parsed<T: std::str::FromStr>(name: &str) -> Result<Option<T>>
where
    T::Err: Display,
{
    env(name)
        .map(|v| {
            v.parse()
                .map_err(|e| AppError::Config(format!("{name}: {e}")))
        })
        .transpose()
}

/// Applies the environment, the account and the preset under the command line.
pub fn resolve(flags: &Overrides) -> Result<Settings> {
    let config = Config::load(flags.config.as_deref())?;
    let account_name = flags.account.clone().or_else(|| env("MISSIVE_ACCOUNT"));
    let from_hint = flags.from.clone().or_else(|| env("MISSIVE_FROM"));
    let selected = config.select(account_name.as_deref(), from_hint.as_deref())?;
    let (acct_name, acct) = match selected {
        Some((n, a)) => (Some(n), a),
        None => (None, Account::default()),
    };
    let preset_key = flags
        .preset
        .clone()
        .or_else(|| env("MISSIVE_PRESET"))
        .or_else(|| acct.preset.clone());
    let preset = preset_key.as_deref().map(presets::get).transpose()?;

    let mut p = Provenance {
        config: config.path.clone().filter(|p| p.exists()),
        account: acct_name.clone(),
        preset: preset_key.clone(),
        note: preset.as_ref().map(|p| p.note.clone()),
        entries: Vec::new(),
    };
    let a_src = || Source::Account(acct_name.clone().unwrap_or_default());
    let p_src = || Source::Preset(preset_key.clone().unwrap_or_default());
    let env_src = |v: &str| Source::Env(v.into());

    let account_server = acct.server.clone().map(|s| match acct.port {
        Some(port) => with_port(&s, port),
        None => s,
    });
    let server = match flags.direct {
        true => None,
        false => pick(
            &mut p,
            "server",
            flags.server.clone(),
            [
                (env("MISSIVE_SERVER"), env_src("MISSIVE_SERVER")),
                (account_server.clone(), a_src()),
                (preset.as_ref().map(|p| p.server.clone()), p_src()),
            ],
        ),
    };
    let tls = pick(
        &mut p,
        "tls",
        flags.tls,
        [
            (env_parsed("MISSIVE_TLS")?, env_src("MISSIVE_TLS")),
            (acct.tls, a_src()),
            (preset.as_ref().map(|p| p.tls), p_src()),
        ],
    );
    let mut auth = pick(
        &mut p,
        "auth",
        flags.auth,
        [
            (env_parsed("MISSIVE_AUTH")?, env_src("MISSIVE_AUTH")),
            (acct.auth, a_src()),
            (preset.as_ref().map(|p| p.auth), p_src()),
        ],
    );
    // The account's `from` may be a pattern; only a plain address is a sender.
    let acct_from = acct.from.clone().filter(|f| !f.contains('*'));
    let from = pick(
        &mut p,
        "from",
        flags.from.clone(),
        [
            (env("MISSIVE_FROM"), env_src("MISSIVE_FROM")),
            (acct_from, a_src()),
            (None, Source::Default),
        ],
    );
    // The account's credentials go only to the account's own server.
    let account_host = account_server
        .or_else(|| {
            acct.preset
                .as_deref()
                .and_then(|k| presets::get(k).ok())
                .map(|p| p.server)
        })
        .map(|s| host_of(&s));
    let bound_away = match (&server, &account_host, &acct_name) {
        (Some(s), Some(h), Some(_)) => !host_of(s).eq_ignore_ascii_case(h),
        _ => false,
    };
    let acct_user = acct.user.clone().filter(|_| !bound_away);
    let user = pick(
        &mut p,
        "user",
        flags.user.clone(),
        [
            (env("MISSIVE_USER"), env_src("MISSIVE_USER")),
            (acct_user, a_src()),
            (None, Source::Default),
        ],
    );
    let ehlo = pick(
        &mut p,
        "ehlo",
        flags.ehlo.clone(),
        [
            (env("MISSIVE_EHLO"), env_src("MISSIVE_EHLO")),
            (acct.ehlo.clone(), a_src()),
            (None, Source::Default),
        ],
    );
    let cafile = pick(
        &mut p,
        "cafile",
        flags.cafile.clone(),
        [
            (
                env("MISSIVE_CAFILE").map(PathBuf::from),
                env_src("MISSIVE_CAFILE"),
            ),
            (acct.cafile.clone(), a_src()),
            (None, Source::Default),
        ],
    );
    let timeout = pick(
        &mut p,
        "timeout",
        flags.timeout,
        [
            (env_parsed("MISSIVE_TIMEOUT")?, env_src("MISSIVE_TIMEOUT")),
            (acct.timeout, a_src()),
            (None, Source::Default),
        ],
    );
    let deadline = pick(
        &mut p,
        "deadline",
        flags.deadline,
        [
            (env_parsed("MISSIVE_DEADLINE")?, env_src("MISSIVE_DEADLINE")),
            (acct.deadline, a_src()),
            (None, Source::Default),
        ],
    );
    let direct_deadline = pick(
        &mut p,
        "direct_deadline",
        flags.direct_deadline,
        [
            (
                env_parsed("MISSIVE_DIRECT_DEADLINE")?,
                env_src("MISSIVE_DIRECT_DEADLINE"),
            ),
            (acct.direct_deadline, a_src()),
            (None, Source::Default),
        ],
    );
    let direct_connections = pick(
        &mut p,
        "direct_connections",
        None,
        [
            (
                env_parsed("MISSIVE_DIRECT_CONNECTIONS")?,
                env_src("MISSIVE_DIRECT_CONNECTIONS"),
            ),
            (acct.direct_connections, a_src()),
            (None, Source::Default),
        ],
    );
    let direct_connections_per_domain = pick(
        &mut p,
        "direct_connections_per_domain",
        None,
        [
            (
                env_parsed("MISSIVE_DIRECT_CONNECTIONS_PER_DOMAIN")?,
                env_src("MISSIVE_DIRECT_CONNECTIONS_PER_DOMAIN"),
            ),
            (acct.direct_connections_per_domain, a_src()),
            (None, Source::Default),
        ],
    );
    let dns_server = pick(
        &mut p,
        "dns_server",
        flags.dns_server.clone(),
        [
            (env("MISSIVE_DNS_SERVER"), env_src("MISSIVE_DNS_SERVER")),
            (None, Source::Default),
            (None, Source::Default),
        ],
    );
    let mx_port = pick(
        &mut p,
        "mx_port",
        flags.mx_port,
        [
            (env_parsed("MISSIVE_MX_PORT")?, env_src("MISSIVE_MX_PORT")),
            (None, Source::Default),
            (None, Source::Default),
        ],
    );

    let proxy = proxy::resolve(flags, &acct, acct_name.as_deref(), &mut p);
    let log = pick(
        &mut p,
        "log",
        flags.log.clone(),
        [
            (env("MISSIVE_LOG"), env_src("MISSIVE_LOG")),
            (acct.log.clone(), a_src()),
            (None, Source::Default),
        ],
    );

    let account = match bound_away {
        true => None,
        false => acct_name.as_deref().map(|n| (n, &acct)),
    };
    let (secret, token) = secret(flags, &mut p, account);
    if bound_away {
        if let (Some(n), Some(h)) = (&acct_name, &account_host) {
            p.record(
                "secret",
                format!("none: the credentials of account {n} are for {h}, not for this server"),
                Source::Account(n.clone()),
            );
        }
    }
    if matches!(secret, Some(SecretSource::OAuth { .. })) && auth.is_none() {
        auth = Some(AuthSetting::Xoauth2);
    }
    let auth = auth.unwrap_or_default();
    let login = match (&user, auth) {
        (_, AuthSetting::None) | (None, _) => None,
        (Some(user), _) => Some(Login {
            user: user.clone(),
            secret: secret.unwrap_or(SecretSource::Prompt),
            token,
        }),
    };
    let queue = queue::resolve(&config, Some(&acct), flags.queue, None)?;
    let dnssec_trust_anchor = pick(
        &mut p,
        "dnssec_trust_anchor",
        flags.dnssec_trust_anchor.clone(),
        [
            (
                env("MISSIVE_DNSSEC_TRUST_ANCHOR").map(PathBuf::from),
                env_src("MISSIVE_DNSSEC_TRUST_ANCHOR"),
            ),
            (acct.dnssec_trust_anchor.clone(), a_src()),
            (None, Source::Default),
        ],
    );
    let dkim = trust::dkim(flags, &acct, acct_name.as_deref(), &mut p)?;
    let require_tls = trust::require_tls(flags, &acct, acct_name.as_deref(), &mut p)?;
    Ok(Settings {
        queue,
        dkim,
        require_tls,
        account: acct_name.clone().filter(|_| !bound_away),
        config: p.config.clone(),
        server,
        dns_server,
        mx_port,
        dnssec_trust_anchor,
        from,
        ehlo,
        timeout,
        deadline,
        direct_deadline,
        direct_connections,
        direct_connections_per_domain,
        tls,
        cafile,
        insecure: flags.insecure,
        auth,
        auth_explicit: flags.auth.is_some_and(AuthSetting::is_mechanism),
        user,
        login,
        allow_plaintext_auth: flags.allow_plaintext_auth,
        chunking: !flags.no_chunking,
        limits: preset
            .map(|p| Limits {
                connections: p.connections,
                rates: p.rates,
            })
            .unwrap_or_default(),
        proxy,
        log,
        provenance: p,
    })
}

/// The outbox's settings alone (for `missive queue`): no account.
pub fn resolve_queue(
    config: Option<&std::path::Path>,
    dir: Option<PathBuf>,
) -> Result<QueueSettings> {
    let config = Config::load(config)?;
    queue::resolve(&config, None, None, dir)
}

/// The host part of `HOST[:PORT]` or `[V6]:PORT`.
fn host_of(server: &str) -> String {
    crate::transport::net::ServerAddr::parse(server, 25)
        .map(|s| s.host)
        .unwrap_or_else(|_| server.to_string())
}

/// `host` with `port` unless it names one: `h` → `h:p`, `::1` and `[::1]` → `[::1]:p`.
fn with_port(server: &str, port: u16) -> String {
    let bare_v6 = server.matches(':').count() > 1 && !server.starts_with('[');
    let bracketed_no_port = server.starts_with('[') && server.ends_with(']');
    match (bare_v6, bracketed_no_port, server.contains(':')) {
        (true, _, _) => format!("[{server}]:{port}"),
        (_, true, _) | (_, _, false) => format!("{server}:{port}"),
        _ => server.to_string(),
    }
}

/// The command line's value, else the first value of the layers below, and records it.
fn pick<T: Shown>(
    p: &mut Provenance,
    key: &'static str,
    flag: Option<T>,
    layers: [(Option<T>, Source); 3],
) -> Option<T> {
    let (value, source) = match flag {
        Some(v) => (v, Source::Flag),
        None => layers.into_iter().find_map(|(v, s)| v.map(|v| (v, s)))?,
    };
    p.record(key, value.shown(), source);
    Some(value)
}

/// How a value is shown by `config show`.
trait Shown {
    fn shown(&self) -> String;
}

impl Shown for String {
    fn shown(&self) -> String {
        self.clone()
    }
}
impl Shown for PathBuf {
    fn shown(&self) -> String {
        self.display().to_string()
    }
}
macro_rules! shown_by_display {
    ($($t:ty),*) => {$(
        impl Shown for $t {
            fn shown(&self) -> String {
                self.to_string()
            }
        }
    )*};
}
shown_by_display!(u64, u16, TlsSetting, AuthSetting);

/// The secret's source: flags, else `MISSIVE_PASSWORD`/`_PASSWORD_CMD`/
/// `_OAUTH_TOKEN_CMD`, else the account's (when its credentials apply). Only
/// where it comes from is recorded, never the secret. The bool: it is a token.
fn secret(
    flags: &Overrides,
    p: &mut Provenance,
    account: Option<(&str, &Account)>,
) -> (Option<SecretSource>, bool) {
    let given = [
        (
            flags.oauth_token_cmd.clone().map(SecretSource::Command),
            true,
            Source::Flag,
        ),
        (
            flags.password_cmd.clone().map(SecretSource::Command),
            false,
            Source::Flag,
        ),
        (
            flags.password_env.clone().map(SecretSource::Env),
            false,
            Source::Flag,
        ),
        (
            env("MISSIVE_PASSWORD").map(|_| SecretSource::Env("MISSIVE_PASSWORD".into())),
            false,
            Source::Env("MISSIVE_PASSWORD".into()),
        ),
        (
            env("MISSIVE_PASSWORD_CMD").map(SecretSource::Command),
            false,
            Source::Env("MISSIVE_PASSWORD_CMD".into()),
        ),
        (
            env("MISSIVE_OAUTH_TOKEN_CMD").map(SecretSource::Command),
            true,
            Source::Env("MISSIVE_OAUTH_TOKEN_CMD".into()),
        ),
    ];
    let from_account = account.and_then(|(name, a)| {
        let src = Source::Account(name.to_string());
        let s = if let Some(o) = &a.oauth {
            (
                SecretSource::OAuth {
                    account: name.to_string(),
                    config: o.clone(),
                },
                true,
            )
        } else if let Some(c) = &a.oauth_token_cmd {
            (SecretSource::Command(c.clone()), true)
        } else if let Some(c) = &a.password_cmd {
            (SecretSource::Command(c.clone()), false)
        } else if let Some(v) = &a.password_env {
            (SecretSource::Env(v.clone()), false)
        } else if let Some(pw) = &a.password {
            (
                SecretSource::Value(missive_smtp::Secret::new(pw.clone())),
                false,
            )
        } else if a.keyring == Some(true) {
            (SecretSource::Keyring(name.to_string()), false)
        } else {
            return None;
        };
        Some((Some(s.0), s.1, src))
    });
    let chosen = given
        .into_iter()
        .find(|(s, _, _)| s.is_some())
        .or(from_account);
    match chosen {
        Some((Some(s), token, source)) => {
            let kind = if token { "OAuth token" } else { "password" };
            let shown = match &s {
                SecretSource::Command(c) => format!("<redacted> ({kind} from command: {c})"),
                other => other.describe(),
            };
            p.record("secret", shown, source);
            (Some(s), token)
        }
        _ => (None, false),
    }
}

#[cfg(test)]
mod tests;
