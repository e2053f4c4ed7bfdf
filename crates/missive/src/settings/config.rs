//! The configuration file (TOML): named accounts, as msmtp has them.
//!
//! ```toml
//! default = "work"                 # or an account named "default"
//! [accounts.work]
//! preset = "office365"
//! user = "alice@contoso.com"
//! from = "*@contoso.com"           # chosen for --from addresses that match
//! oauth_token_cmd = "my-token-helper"
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::modes::{AuthSetting, TlsSetting};
use crate::error::{AppError, Result};

/// The whole file.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// The account used when none is named and none matches --from.
    pub default: Option<String>,
    /// `[accounts.NAME]` tables, by name.
    #[serde(default)]
    pub accounts: BTreeMap<String, Account>,
    /// When mail is kept in the outbox (each account may say otherwise).
    pub queue: Option<super::modes::QueueWhen>,
    /// The outbox's directory.
    pub queue_dir: Option<PathBuf>,
    /// How long a queued message is retried (`5d`).
    pub queue_lifetime: Option<String>,
    /// The first retry delay (`1m`), doubled after each attempt.
    pub queue_backoff: Option<String>,
    /// The longest retry delay (`1h`).
    pub queue_backoff_max: Option<String>,
    /// Send a failure notice to the sender of a message that fails in the outbox.
    pub notify_failures: Option<bool>,
}

/// One account. Every field is optional; a preset fills in the server.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Account {
    pub preset: Option<String>,
    /// `HOST[:PORT]`.
    pub server: Option<String>,
    pub port: Option<u16>,
    pub tls: Option<TlsSetting>,
    pub auth: Option<AuthSetting>,
    pub user: Option<String>,
    /// The sender address; a pattern with `*` selects the account for matching --from.
    pub from: Option<String>,
    pub ehlo: Option<String>,
    pub cafile: Option<PathBuf>,
    pub timeout: Option<u64>,
    /// The longest one message may take, in seconds (relay or direct).
    pub deadline: Option<u64>,
    /// Direct delivery: the overall deadline in seconds.
    pub direct_deadline: Option<u64>,
    /// Direct delivery: connections at once, over all domains.
    pub direct_connections: Option<u64>,
    /// Direct delivery: connections at once to one domain.
    pub direct_connections_per_domain: Option<u64>,
    /// Direct delivery: DNSKEY records to validate DNSSEC against (DANE), or `none`.
    pub dnssec_trust_anchor: Option<PathBuf>,
    pub password_cmd: Option<String>,
    pub password_env: Option<String>,
    pub oauth_token_cmd: Option<String>,
    /// A plain password: accepted only in a file nobody else can read.
    pub password: Option<String>,
    /// The password is in the OS keyring (`missive account set-password NAME`).
    pub keyring: Option<bool>,
    /// OAuth2 sign-in (`missive account login NAME`); tokens then refresh themselves.
    pub oauth: Option<crate::secrets::oauth::OAuthConfig>,
    /// Connect through this proxy: `socks5://`, `socks5h://` or `http://HOST:PORT`.
    pub proxy: Option<String>,
    /// The proxy's password: the first line of this command's output.
    pub proxy_password_cmd: Option<String>,
    /// Log a line per message here: a file, `syslog` or `syslog:SOCKET`.
    pub log: Option<String>,
    /// When this account's mail is kept in the outbox.
    pub queue: Option<super::modes::QueueWhen>,
    /// DKIM signing: a table, or an array of tables for several signatures.
    pub dkim: Option<super::trust::DkimAccount>,
    /// REQUIRETLS (RFC 8689) for every message of this account.
    pub require_tls: Option<bool>,
}

/// A loaded configuration and where it came from.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// The file read (none when there is no configuration).
    pub path: Option<PathBuf>,
    /// What it says.
    pub file: ConfigFile,
}

/// `--config`, else `MISSIVE_CONFIG`, else `$XDG_CONFIG_HOME/missive/config.toml`,
/// else `~/.config/missive/config.toml`. The bool says whether it was named explicitly.
pub fn config_path(flag: Option<&Path>) -> Option<(PathBuf, bool)> {
    if let Some(p) = flag {
        return Some((p.to_path_buf(), true));
    }
    if let Some(p) = std::env::var_os("MISSIVE_CONFIG").filter(|p| !p.is_empty()) {
        return Some((PathBuf::from(p), true));
    }
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some((base.join("missive").join("config.toml"), false))
}

impl Config {
    /// Loads the configuration; a default path that does not exist is an empty configuration.
    pub fn load(flag: Option<&Path>) -> Result<Config> {
        let Some((path, explicit)) = config_path(flag) else {
            return Ok(Config::default());
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {
                return Ok(Config {
                    path: Some(path),
                    file: ConfigFile::default(),
                })
            }
            Err(e) => {
                return Err(AppError::Config(format!(
                    "cannot read the configuration {}: {}",
                    path.display(),
                    crate::transport::net::short_io(&e)
                )))
            }
        };
        let file = parse(&text, &path)?;
        check_secrets_private(&file, &path)?;
        Ok(Config {
            path: Some(path),
            file,
        })
    }

    /// The account to use: the one named, else the one whose `from` matches
    /// the sender, else the default one.
    pub fn select(
        &self,
        name: Option<&str>,
        from: Option<&str>,
    ) -> Result<Option<(String, Account)>> {
        let accounts = &self.file.accounts;
        if let Some(n) = name {
            return match accounts.get(n) {
                Some(a) => Ok(Some((n.to_string(), a.clone()))),
                None => Err(AppError::Config(format!(
                    "no account {n:?} in {} (accounts: {})",
                    self.path
                        .as_ref()
                        .map_or("the configuration".into(), |p| p.display().to_string()),
                    if accounts.is_empty() {
                        "none".to_string()
                    } else {
                        accounts.keys().cloned().collect::<Vec<_>>().join(", ")
                    }
                ))),
            };
        }
        if let Some(addr) = from {
            let addr = crate::message::Mailbox::parse(addr)
                .map(|m| m.addr)
                .unwrap_or_else(|_| addr.to_string());
            // An exact address beats a pattern.
            // An account's `from` may be `Name <addr>`: compare addresses.
            let address_of = |f: &str| {
                crate::message::Mailbox::parse(f).map_or_else(|_| f.to_string(), |m| m.addr)
            };
            let exact = accounts.iter().find(|(_, a)| {
                a.from
                    .as_deref()
                    .is_some_and(|f| !f.contains('*') && address_of(f).eq_ignore_ascii_case(&addr))
            });
            let pattern = accounts.iter().find(|(_, a)| {
                a.from
                    .as_deref()
                    .is_some_and(|f| f.contains('*') && missive_smtp::server::glob(f, &addr))
            });
            if let Some((n, a)) = exact.or(pattern) {
                return Ok(Some((n.clone(), a.clone())));
            }
        }
        let default = self.file.default.as_deref().unwrap_or("default");
        match accounts.get(default) {
            Some(a) => Ok(Some((default.to_string(), a.clone()))),
            None if self.file.default.is_some() => Err(AppError::Config(format!(
                "the default account {default:?} is not defined"
            ))),
            None => Ok(None),
        }
    }
}

/// Parses the text; errors name the file and line.
pub fn parse(text: &str, path: &Path) -> Result<ConfigFile> {
    toml::from_str::<ConfigFile>(text).map_err(|e| {
        let line = e
            .span()
            .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
        // Values are never shown: a string in the wrong place may be a
        // secret (`invalid type: string "…"`).
        let mut msg = redact_strings(e.message().trim());
        // A bad value of a secret field is named, never shown.
        if let Some(key) = e.span().and_then(|s| secret_key_at(text, s.start)) {
            msg = format!("invalid value for {key} (not shown: it is a secret)");
        }
        match line {
            Some(l) => AppError::Config(format!("{}:{l}: {msg}", path.display())),
            None => AppError::Config(format!("{}: {msg}", path.display())),
        }
    })
}

/// `text` with the content of every double-quoted string replaced.
fn redact_strings(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut parts = text.split('"');
    if let Some(first) = parts.next() {
        out.push_str(first);
    }
    for (i, part) in parts.enumerate() {
        match i % 2 {
            0 => out.push_str("\"<not shown>\""),
            _ => out.push_str(part),
        }
    }
    out
}

/// The secret field (`password`, `client_secret`) whose value is at
/// `offset`: the key just before it (`password = 123` in an inline table
/// too), else the key that starts the line.
fn secret_key_at(text: &str, offset: usize) -> Option<&'static str> {
    const SECRET: [&str; 2] = ["password", "client_secret"];
    let before = &text[..offset.min(text.len())];
    let key = before.trim_end().strip_suffix('=').map(|b| {
        let b = b.trim_end().trim_end_matches(['"', '\'']);
        let rest = b.trim_end_matches(|c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        &b[rest.len()..]
    });
    if let Some(k) = SECRET.into_iter().find(|k| key == Some(*k)) {
        return Some(k);
    }
    let start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = text[start..].lines().next().unwrap_or("").trim_start();
    SECRET.into_iter().find(|k| {
        line.strip_prefix(k)
            .is_some_and(|rest| rest.trim_start().starts_with('='))
    })
}

/// A file others can change is refused (its `password_cmd` runs through a
/// shell); a password or client secret in the file is accepted only when
/// group and others cannot read it (as ssh does with keys).
fn check_secrets_private(file: &ConfigFile, path: &Path) -> Result<()> {
    let with_password: Vec<&String> = file
        .accounts
        .iter()
        .filter(|(_, a)| {
            a.password.is_some() || a.oauth.as_ref().is_some_and(|o| o.client_secret.is_some())
        })
        .map(|(n, _)| n)
        .collect();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .map_err(|e| AppError::Config(format!("{}: {e}", path.display())))?
            .permissions()
            .mode();
        if mode & 0o022 != 0 {
            return Err(AppError::Config(format!(
                "others can change {} (mode {:o}), and its commands run as you: run chmod go-w {}",
                path.display(),
                mode & 0o777,
                path.display()
            )));
        }
        if with_password.is_empty() {
            return Ok(());
        }
        if mode & 0o077 != 0 {
            return Err(AppError::Config(format!(
                "{} holds a password or client secret (account {}) but others can read it (mode {:o}): run chmod 600 {}",
                path.display(),
                with_password[0],
                mode & 0o777,
                path.display()
            )));
        }
    }
    Ok(())
}

/// Adds an account to the file (creating it with mode 0600), keeping what is there.
pub fn add_account(path: &Path, name: &str, account: &Account) -> Result<()> {
    let existing = match std::fs::read_to_string(path) {
        Ok(t) => Some(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            return Err(AppError::Config(format!(
                "cannot read {}: {e}",
                path.display()
            )))
        }
    };
    if let Some(text) = &existing {
        let file = parse(text, path)?;
        if file.accounts.contains_key(name) {
            return Err(AppError::Config(format!(
                "account {name:?} already exists in {}; edit the file to change it",
                path.display()
            )));
        }
    }
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        return Err(AppError::Usage(format!(
            "invalid account name {name:?}: use letters, digits, - _ ."
        )));
    }
    let mut section = BTreeMap::new();
    section.insert(name.to_string(), account.clone());
    let wrapper = ConfigFile {
        accounts: section,
        ..ConfigFile::default()
    };
    let text = toml::to_string(&wrapper)
        .map_err(|e| AppError::Config(format!("cannot write the account: {e}")))?;
    let mut out = existing.unwrap_or_default();
    if !out.is_empty() && !out.ends_with("\n\n") {
        out.push_str(if out.ends_with('\n') { "\n" } else { "\n\n" });
    }
    out.push_str(&text);
    // The result must still load (an `accounts = { … }` inline table cannot
    // be extended by a new section, for one): refuse rather than break it.
    parse(&out, path).map_err(|e| {
        AppError::Config(format!(
            "cannot add the account without breaking {} ({e}); add it by hand",
            path.display()
        ))
    })?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| AppError::Config(format!("cannot create {}: {e}", dir.display())))?;
    }
    crate::secrets::files::write_private(path, out.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(text: &str) -> Config {
        Config {
            path: Some("/x/config.toml".into()),
            file: parse(text, Path::new("/x/config.toml")).unwrap(),
        }
    }

    #[test]
    fn errors_name_file_and_line() {
        let e = parse(
            "[accounts.a]\nserver = \"x\"\nbogus = 1\n",
            Path::new("/c.toml"),
        )
        .unwrap_err();
        let s = e.to_string();
        assert!(s.starts_with("/c.toml:3:"), "{s}");
        assert!(s.contains("bogus"), "{s}");
        assert_eq!(e.exit_code(), crate::error::exit::CONFIG);
        let e = parse("[accounts.a]\ntls = \"sometimes\"\n", Path::new("/c.toml")).unwrap_err();
        assert!(e.to_string().starts_with("/c.toml:2:"), "{e}");
        assert!(parse("[accounts.a\n", Path::new("/c.toml")).is_err());
    }

    #[test]
    fn a_bad_secret_value_is_not_shown() {
        let e = parse("[accounts.a]\npassword = 98765432\n", Path::new("/c.toml")).unwrap_err();
        assert!(!e.to_string().contains("98765432"), "{e}");
        assert!(e.to_string().contains("password"), "{e}");
    }

    // Found by fuzz/config_loader: a numeric password in an inline table
    // was shown in the error (only a key at the start of the line counted).
    #[test]
    fn a_bad_secret_value_in_an_inline_table_is_not_shown() {
        for text in [
            "[accounts]\nwork = { server = \"mx\", password = 12345678901 }\n",
            "[accounts.w]\noauth = { client_id = \"c\", \"client_secret\" = 12345678901 }\n",
            "accounts.w.password = 12345678901\n",
        ] {
            let e = parse(text, Path::new("/c.toml")).unwrap_err().to_string();
            assert!(!e.contains("12345678901"), "{e}");
            assert!(e.contains("not shown"), "{e}");
        }
        // other values are still shown, to help
        let e = parse("[accounts]\nw = { port = 99999 }\n", Path::new("/c.toml")).unwrap_err();
        assert!(e.to_string().contains("99999"), "{e}");
    }

    // Found by fuzz/config_loader: a multi-byte character before the `=`
    // cut the text inside the character (a panic).
    #[test]
    fn a_bad_line_with_a_multibyte_character_is_an_error() {
        let text = "[accounts.x]\npre\u{feff} == \"z\"\n";
        let e = parse(text, Path::new("/c.toml")).unwrap_err();
        assert!(e.to_string().starts_with("/c.toml:2:"), "{e}");
    }

    #[test]
    fn selection_by_name_from_and_default() {
        let c = cfg(
            "default = \"home\"\n[accounts.home]\nserver = \"h\"\n[accounts.work]\nfrom = \"*@work.test\"\n[accounts.exact]\nfrom = \"boss@work.test\"\n",
        );
        assert_eq!(c.select(Some("work"), None).unwrap().unwrap().0, "work");
        assert!(c.select(Some("nope"), None).is_err());
        assert_eq!(
            c.select(None, Some("me@WORK.test")).unwrap().unwrap().0,
            "work"
        );
        assert_eq!(
            c.select(None, Some("Boss <boss@work.test>"))
                .unwrap()
                .unwrap()
                .0,
            "exact"
        );
        assert_eq!(
            c.select(None, Some("me@else.test")).unwrap().unwrap().0,
            "home"
        );
        let c = cfg("[accounts.default]\nserver = \"d\"\n");
        assert_eq!(c.select(None, None).unwrap().unwrap().0, "default");
        assert!(cfg("").select(None, None).unwrap().is_none());
    }

    #[cfg(unix)]
    #[test]
    fn plain_password_needs_a_private_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("missive-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("config.toml");
        std::fs::write(&path, "[accounts.a]\npassword = \"pw\"\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = Config::load(Some(&path)).unwrap_err();
        assert!(e.to_string().contains("chmod 600"), "{e}");
        assert!(
            !e.to_string().contains("pw\""),
            "the password must not be shown"
        );
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(Config::load(Some(&path)).is_ok());
        std::fs::remove_dir_all(&dir).ok();
    }

    #[cfg(unix)]
    #[test]
    fn add_account_creates_a_private_file_and_keeps_others() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("missive-add-{}", std::process::id()));
        let path = dir.join("sub/config.toml");
        let a = Account {
            preset: Some("gmail".into()),
            user: Some("me@gmail.com".into()),
            ..Account::default()
        };
        add_account(&path, "g", &a).unwrap();
        add_account(
            &path,
            "h",
            &Account {
                server: Some("x:25".into()),
                ..Account::default()
            },
        )
        .unwrap();
        assert!(add_account(&path, "g", &a).is_err());
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let c = Config::load(Some(&path)).unwrap();
        assert_eq!(c.file.accounts["g"], a);
        assert_eq!(c.file.accounts.len(), 2);
        std::fs::remove_dir_all(&dir).ok();
    }
}
