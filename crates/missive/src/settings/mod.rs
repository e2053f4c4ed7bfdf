//! Where each setting comes from, highest first: the command line, the
//! environment (`MISSIVE_*`), the account (config file), the preset, the
//! built-in defaults. [`resolve`] fills the send options in that order and
//! records the source of each value, for `missive config show`.

use std::fmt;
use std::path::PathBuf;

use crate::cli::{AuthArg, SendArgs, TlsArg};
use crate::config::{Account, Config};
use crate::error::{AppError, Result};
use crate::presets::{self, Preset};

/// Where a value came from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "name")]
pub enum Source {
    Flag,
    Env(String),
    Account(String),
    Preset(String),
    Default,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Flag => f.write_str("command line"),
            Source::Env(v) => write!(f, "environment {v}"),
            Source::Account(a) => write!(f, "account {a}"),
            Source::Preset(p) => write!(f, "preset {p}"),
            Source::Default => f.write_str("default"),
        }
    }
}

/// One effective setting, as `config show` prints it (secrets redacted).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Entry {
    pub key: &'static str,
    pub value: String,
    pub source: Source,
}

/// What [`resolve`] decided.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Provenance {
    pub config: Option<PathBuf>,
    pub account: Option<String>,
    pub preset: Option<String>,
    /// The preset's note on credentials.
    pub note: Option<String>,
    pub entries: Vec<Entry>,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn parse_tls(v: &str, what: &str) -> Result<TlsArg> {
    clap::ValueEnum::from_str(v, true).map_err(|_| {
        AppError::Config(format!(
            "{what}: {v:?} is not starttls, implicit, opportunistic or none"
        ))
    })
}

fn parse_auth(v: &str, what: &str) -> Result<AuthArg> {
    clap::ValueEnum::from_str(v, true).map_err(|_| {
        AppError::Config(format!(
            "{what}: {v:?} is not auto, plain, login, cram-md5, xoauth2, oauthbearer or none"
        ))
    })
}

/// Fills `args` from the environment, the account and the preset, in that
/// order, where the command line left a setting empty.
pub fn resolve(args: &mut SendArgs) -> Result<Provenance> {
    let config = Config::load(args.config.as_deref())?;
    let account_name = args.account.clone().or_else(|| env("MISSIVE_ACCOUNT"));
    let from_hint = args.from.clone().or_else(|| env("MISSIVE_FROM"));
    let account = config.select(account_name.as_deref(), from_hint.as_deref())?;
    let (acct_name, acct) = match &account {
        Some((n, a)) => (Some(n.clone()), a.clone()),
        None => (None, Account::default()),
    };
    let preset_key = args
        .preset
        .clone()
        .or_else(|| env("MISSIVE_PRESET"))
        .or_else(|| acct.preset.clone());
    let preset: Option<Preset> = preset_key.as_deref().map(presets::get).transpose()?;

    let mut p = Provenance {
        config: config.path.clone().filter(|p| p.exists()),
        account: acct_name.clone(),
        preset: preset_key.clone(),
        note: preset.as_ref().map(|p| p.note.clone()),
        entries: Vec::new(),
    };
    let a_src = || Source::Account(acct_name.clone().unwrap_or_default());
    let p_src = || Source::Preset(preset_key.clone().unwrap_or_default());

    // server (not when --direct asks for MX delivery)
    let account_server = acct.server.clone().map(|s| match acct.port {
        Some(port) => with_port(&s, port),
        None => s,
    });
    if !args.direct {
        pick(
            &mut args.server,
            &mut p,
            "server",
            [
                (env("MISSIVE_SERVER"), Source::Env("MISSIVE_SERVER".into())),
                (account_server, a_src()),
                (preset.as_ref().map(|p| p.server.clone()), p_src()),
            ],
        );
    }
    let tls_env = env("MISSIVE_TLS")
        .map(|v| parse_tls(&v, "MISSIVE_TLS"))
        .transpose()?;
    pick(
        &mut args.tls,
        &mut p,
        "tls",
        [
            (tls_env, Source::Env("MISSIVE_TLS".into())),
            (acct.tls, a_src()),
            (preset.as_ref().map(|p| p.tls), p_src()),
        ],
    );
    let auth_env = env("MISSIVE_AUTH")
        .map(|v| parse_auth(&v, "MISSIVE_AUTH"))
        .transpose()?;
    pick(
        &mut args.auth,
        &mut p,
        "auth",
        [
            (auth_env, Source::Env("MISSIVE_AUTH".into())),
            (acct.auth, a_src()),
            (preset.as_ref().map(|p| p.auth), p_src()),
        ],
    );
    // The account's `from` may be a pattern; only a plain address is a sender.
    let acct_from = acct.from.clone().filter(|f| !f.contains('*'));
    pick(
        &mut args.from,
        &mut p,
        "from",
        [
            (env("MISSIVE_FROM"), Source::Env("MISSIVE_FROM".into())),
            (acct_from, a_src()),
            (None, Source::Default),
        ],
    );
    pick(
        &mut args.login.user,
        &mut p,
        "user",
        [
            (env("MISSIVE_USER"), Source::Env("MISSIVE_USER".into())),
            (acct.user.clone(), a_src()),
            (None, Source::Default),
        ],
    );
    pick(
        &mut args.ehlo,
        &mut p,
        "ehlo",
        [
            (env("MISSIVE_EHLO"), Source::Env("MISSIVE_EHLO".into())),
            (acct.ehlo.clone(), a_src()),
            (None, Source::Default),
        ],
    );
    pick(
        &mut args.cafile,
        &mut p,
        "cafile",
        [
            (
                env("MISSIVE_CAFILE").map(PathBuf::from),
                Source::Env("MISSIVE_CAFILE".into()),
            ),
            (acct.cafile.clone(), a_src()),
            (None, Source::Default),
        ],
    );
    let bad = |name: &str, v: &str| AppError::Config(format!("{name}={v:?} is not valid"));
    let timeout_env = env("MISSIVE_TIMEOUT")
        .map(|v| v.parse().map_err(|_| bad("MISSIVE_TIMEOUT", &v)))
        .transpose()?;
    pick(
        &mut args.timeout,
        &mut p,
        "timeout",
        [
            (timeout_env, Source::Env("MISSIVE_TIMEOUT".into())),
            (acct.timeout, a_src()),
            (None, Source::Default),
        ],
    );
    pick(
        &mut args.dns_server,
        &mut p,
        "dns_server",
        [
            (
                env("MISSIVE_DNS_SERVER"),
                Source::Env("MISSIVE_DNS_SERVER".into()),
            ),
            (None, Source::Default),
            (None, Source::Default),
        ],
    );
    let mx_env = env("MISSIVE_MX_PORT")
        .map(|v| v.parse().map_err(|_| bad("MISSIVE_MX_PORT", &v)))
        .transpose()?;
    pick(
        &mut args.mx_port,
        &mut p,
        "mx_port",
        [
            (mx_env, Source::Env("MISSIVE_MX_PORT".into())),
            (None, Source::Default),
            (None, Source::Default),
        ],
    );
    secret(args, &mut p, &acct, acct_name.as_deref())?;
    Ok(p)
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

/// Takes the first value of the layers below the command line, and records it.
fn pick<T: Clone + fmt::Debug + Shown>(
    slot: &mut Option<T>,
    p: &mut Provenance,
    key: &'static str,
    layers: [(Option<T>, Source); 3],
) {
    if let Some(v) = slot {
        p.entries.push(Entry {
            key,
            value: v.shown(),
            source: Source::Flag,
        });
        return;
    }
    for (value, source) in layers {
        if let Some(v) = value {
            p.entries.push(Entry {
                key,
                value: v.shown(),
                source,
            });
            *slot = Some(v);
            return;
        }
    }
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
impl Shown for u64 {
    fn shown(&self) -> String {
        self.to_string()
    }
}
impl Shown for u16 {
    fn shown(&self) -> String {
        self.to_string()
    }
}
impl Shown for TlsArg {
    fn shown(&self) -> String {
        clap::ValueEnum::to_possible_value(self)
            .map_or_else(String::new, |v| v.get_name().to_string())
    }
}
impl Shown for AuthArg {
    fn shown(&self) -> String {
        clap::ValueEnum::to_possible_value(self)
            .map_or_else(String::new, |v| v.get_name().to_string())
    }
}

/// The secret's source: flags, else `MISSIVE_PASSWORD`/`_PASSWORD_CMD`/
/// `_OAUTH_TOKEN_CMD`, else the account's. Only where it comes from is
/// recorded, never the secret.
fn secret(
    args: &mut SendArgs,
    p: &mut Provenance,
    acct: &Account,
    acct_name: Option<&str>,
) -> Result<()> {
    let given = |a: &SendArgs| {
        a.login.password_env.is_some()
            || a.login.password_cmd.is_some()
            || a.login.oauth_token_cmd.is_some()
    };
    let record = |p: &mut Provenance, value: String, source: Source| {
        p.entries.push(Entry {
            key: "secret",
            value,
            source,
        })
    };
    if given(args) {
        record(p, describe(args), Source::Flag);
        return Ok(());
    }
    if env("MISSIVE_PASSWORD").is_some() {
        args.login.password_env = Some("MISSIVE_PASSWORD".into());
        record(
            p,
            "<redacted> (password in MISSIVE_PASSWORD)".into(),
            Source::Env("MISSIVE_PASSWORD".into()),
        );
        return Ok(());
    }
    if let Some(cmd) = env("MISSIVE_PASSWORD_CMD") {
        args.login.password_cmd = Some(cmd);
        record(
            p,
            describe(args),
            Source::Env("MISSIVE_PASSWORD_CMD".into()),
        );
        return Ok(());
    }
    if let Some(cmd) = env("MISSIVE_OAUTH_TOKEN_CMD") {
        args.login.oauth_token_cmd = Some(cmd);
        record(
            p,
            describe(args),
            Source::Env("MISSIVE_OAUTH_TOKEN_CMD".into()),
        );
        return Ok(());
    }
    let Some(name) = acct_name else { return Ok(()) };
    let source = Source::Account(name.to_string());
    if let Some(o) = &acct.oauth {
        args.configured.oauth = Some((name.to_string(), o.clone()));
        if args.auth.is_none() {
            args.auth = Some(AuthArg::Xoauth2);
        }
    } else if let Some(c) = &acct.oauth_token_cmd {
        args.login.oauth_token_cmd = Some(c.clone());
    } else if let Some(c) = &acct.password_cmd {
        args.login.password_cmd = Some(c.clone());
    } else if let Some(v) = &acct.password_env {
        args.login.password_env = Some(v.clone());
    } else if let Some(pw) = &acct.password {
        args.configured.password = Some(missive_smtp::Secret::new(pw.clone()));
    } else if acct.keyring == Some(true) {
        args.configured.keyring_account = Some(name.to_string());
    } else {
        return Ok(());
    }
    record(p, describe(args), source);
    Ok(())
}

fn describe(a: &SendArgs) -> String {
    if let Some((acct, o)) = &a.configured.oauth {
        let provider = o
            .provider
            .map_or("custom".to_string(), |p| format!("{p:?}").to_lowercase());
        format!(
            "<redacted> (OAuth2 sign-in, {provider}, tokens of account {acct}; client secret {})",
            if o.client_secret.is_some() {
                "<redacted>"
            } else {
                "none"
            }
        )
    } else if let Some(c) = &a.login.oauth_token_cmd {
        format!("<redacted> (OAuth token from command: {c})")
    } else if let Some(c) = &a.login.password_cmd {
        format!("<redacted> (password from command: {c})")
    } else if let Some(v) = &a.login.password_env {
        format!("<redacted> (password in ${v})")
    } else if a.configured.password.is_some() {
        "<redacted> (password in the configuration file)".into()
    } else if let Some(acct) = &a.configured.keyring_account {
        format!("<redacted> (password in the OS keyring, account {acct})")
    } else {
        "none".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `resolve` with a config file and environment of its own.
    fn with(config: &str, env_vars: &[(&str, &str)], args: SendArgs) -> (SendArgs, Provenance) {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("missive-settings-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("config.toml");
        crate::config::write_private(&path, config.as_bytes()).unwrap();
        let mut args = SendArgs {
            config: Some(path),
            ..args
        };
        // The environment is process-wide: these tests set only variables no other test reads.
        let _guard = ENV_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        for (k, v) in env_vars {
            std::env::set_var(k, v);
        }
        let p = resolve(&mut args);
        for (k, _) in env_vars {
            std::env::remove_var(k);
        }
        std::fs::remove_dir_all(&dir).ok();
        (args, p.unwrap())
    }

    static ENV_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

    const CONFIG: &str = "[accounts.work]\npreset = \"office365\"\nuser = \"alice@contoso.test\"\nfrom = \"*@contoso.test\"\nauth = \"login\"\npassword_cmd = \"pass show work\"\n\n[accounts.home]\nserver = \"smtp.home.test\"\nport = 2525\nfrom = \"me@home.test\"\npassword = \"s3cret\"\n";

    #[test]
    fn precedence_flag_env_account_preset() {
        let (a, p) = with(
            CONFIG,
            &[],
            SendArgs {
                from: Some("bob@contoso.test".into()),
                ..SendArgs::default()
            },
        );
        assert_eq!(p.account.as_deref(), Some("work"));
        assert_eq!(a.server.as_deref(), Some("smtp.office365.com:587"));
        assert_eq!(a.tls, Some(TlsArg::Starttls));
        assert_eq!(a.auth, Some(AuthArg::Login), "account beats preset");
        assert_eq!(a.login.password_cmd.as_deref(), Some("pass show work"));
        let src = |k: &str| {
            p.entries
                .iter()
                .find(|e| e.key == k)
                .unwrap()
                .source
                .clone()
        };
        assert_eq!(src("server"), Source::Preset("office365".into()));
        assert_eq!(src("auth"), Source::Account("work".into()));
        assert_eq!(src("from"), Source::Flag);

        let (a, p) = with(
            CONFIG,
            &[("MISSIVE_SERVER", "env.test:25"), ("MISSIVE_TLS", "none")],
            SendArgs {
                from: Some("bob@contoso.test".into()),
                tls: Some(TlsArg::Implicit),
                ..SendArgs::default()
            },
        );
        assert_eq!(
            a.server.as_deref(),
            Some("env.test:25"),
            "environment beats account and preset"
        );
        assert_eq!(
            a.tls,
            Some(TlsArg::Implicit),
            "command line beats environment"
        );
        assert_eq!(
            p.entries.iter().find(|e| e.key == "server").unwrap().source,
            Source::Env("MISSIVE_SERVER".into())
        );
    }

    #[test]
    fn account_port_plain_password_and_redaction() {
        let (a, p) = with(
            CONFIG,
            &[],
            SendArgs {
                account: Some("home".into()),
                ..SendArgs::default()
            },
        );
        assert_eq!(a.server.as_deref(), Some("smtp.home.test:2525"));
        assert_eq!(a.from.as_deref(), Some("me@home.test"));
        assert_eq!(a.configured.password.as_ref().unwrap().expose(), "s3cret");
        let shown = serde_json::to_string(&p).unwrap();
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("<redacted>"));
    }

    #[test]
    fn ports_join_servers() {
        assert_eq!(with_port("h.test", 25), "h.test:25");
        assert_eq!(with_port("h.test:26", 25), "h.test:26");
        assert_eq!(with_port("::1", 5870), "[::1]:5870");
        assert_eq!(with_port("[::1]", 5870), "[::1]:5870");
        assert_eq!(with_port("[::1]:26", 5870), "[::1]:26");
    }

    #[test]
    fn direct_keeps_server_empty() {
        let (a, _) = with(
            CONFIG,
            &[],
            SendArgs {
                direct: true,
                account: Some("home".into()),
                ..SendArgs::default()
            },
        );
        assert!(a.server.is_none());
    }
}
