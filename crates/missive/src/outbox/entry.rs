//! One queued message's state, as stored in `ID.json` beside its bytes in
//! `ID.msg`: the envelope, each recipient's state, the schedule, and the
//! route to deliver it by. The route holds settings and where a secret is
//! found, never a secret: passwords and tokens are resolved again when the
//! entry is delivered.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::secrets::SecretSource;
use crate::settings::{AuthSetting, Overrides, Settings, Source, TlsSetting};

/// The spool format's version, in every entry.
pub const VERSION: u32 = 1;

/// A queued message.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    pub version: u32,
    pub id: String,
    /// When it was queued (seconds since the epoch).
    pub created: u64,
    /// The Message-ID header's value ("" when it has none).
    pub message_id: String,
    /// The envelope sender ("": the null reverse path).
    pub sender: String,
    pub recipients: Vec<Recipient>,
    #[serde(default)]
    pub dsn: StoredDsn,
    /// The message has 8-bit content.
    pub eight_bit: bool,
    /// REQUIRETLS (RFC 8689): kept with the message, so a later attempt asks for it too.
    #[serde(default)]
    pub require_tls: bool,
    /// Octets CRLF normalisation adds on the wire (counted in SIZE).
    pub line_end_growth: u64,
    /// Delivery attempts so far.
    pub attempts: u32,
    /// When it is next due (seconds since the epoch).
    pub next_attempt: u64,
    pub last_attempt: Option<u64>,
    /// The end of the message went out and its reply is not recorded yet:
    /// if this is found by a later run, the server may have the message.
    pub in_doubt: bool,
    /// An earlier attempt ended in doubt (RFC 1047): a recipient may get
    /// this message twice.
    #[serde(default)]
    pub may_duplicate: bool,
    /// A failure notice: never the subject of another notice.
    #[serde(default)]
    pub notice: bool,
    pub route: StoredRoute,
    /// Why it failed (entries in `failed/`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
}

/// One recipient's state.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Recipient {
    pub address: String,
    pub state: State,
    pub attempts: u32,
    /// The last reply (or why there was none).
    pub last_reply: Option<String>,
    /// The RFC 3463 status of the last reply, when it had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Its refusal was already told to the sender (by the command that
    /// queued it, or by a notice): no notice names it again.
    #[serde(default)]
    pub reported: bool,
}

/// Where a recipient stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Still to be delivered.
    Pending,
    /// A server took responsibility for it: never sent again.
    Accepted,
    /// Permanently refused (or out of lifetime).
    Refused,
}

/// The DSN parameters of the envelope (RFC 3461).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct StoredDsn {
    pub ret: Option<String>,
    pub envid: Option<String>,
    pub notify: Option<String>,
}

/// The route of an entry: the settings that were in force when it was
/// queued, and where its secret is found (never the secret).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredRoute {
    /// The configuration file of the account.
    pub config: Option<PathBuf>,
    pub account: Option<String>,
    /// The relay, HOST:PORT; `None`: direct delivery to MX hosts.
    pub server: Option<String>,
    pub dns_server: Option<String>,
    pub mx_port: Option<u16>,
    /// Old entries have none: the default then.
    #[serde(default)]
    pub dnssec_trust_anchor: Option<PathBuf>,
    pub ehlo: Option<String>,
    pub timeout: Option<u64>,
    /// The deadline of each attempt, in seconds, when one was set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<u64>,
    pub tls: Option<TlsSetting>,
    pub cafile: Option<PathBuf>,
    pub insecure: bool,
    pub auth: Option<AuthSetting>,
    pub user: Option<String>,
    pub secret: Option<StoredSecret>,
    pub allow_plaintext_auth: bool,
    pub chunking: bool,
}

/// Where the login's secret is found at delivery time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "from", rename_all = "kebab-case")]
pub enum StoredSecret {
    /// The account's own source, read again from the configuration.
    Account,
    /// This environment variable (of the process that delivers).
    Env { var: String },
    /// The first line of this command's output, a password.
    PasswordCommand { command: String },
    /// The first line of this command's output, an OAuth2 token.
    TokenCommand { command: String },
}

impl StoredRoute {
    /// The route of a send with these settings.
    pub fn new(s: &Settings) -> StoredRoute {
        let secret = s.login.as_ref().and_then(|login| {
            if let Some(Source::Account(_)) = s.provenance.source_of("secret") {
                return Some(StoredSecret::Account);
            }
            match &login.secret {
                SecretSource::Env(var) => Some(StoredSecret::Env { var: var.clone() }),
                SecretSource::Command(c) if login.token => {
                    Some(StoredSecret::TokenCommand { command: c.clone() })
                }
                SecretSource::Command(c) => {
                    Some(StoredSecret::PasswordCommand { command: c.clone() })
                }
                SecretSource::Prompt | SecretSource::Provider(_) => None,
                // Values, the keyring and OAuth2 tokens belong to an account.
                _ => Some(StoredSecret::Account),
            }
        });
        let auth = match (s.login.is_some(), s.auth) {
            (true, a) | (false, a @ AuthSetting::None) => Some(a),
            _ => None,
        };
        // The runner may start in another directory.
        let absolute = |p: &Option<PathBuf>| {
            p.as_ref()
                .map(|p| std::path::absolute(p).unwrap_or_else(|_| p.clone()))
        };
        StoredRoute {
            config: absolute(&s.config),
            account: s.account.clone(),
            server: s.server.clone(),
            dns_server: s.dns_server.clone(),
            mx_port: s.mx_port,
            dnssec_trust_anchor: match &s.dnssec_trust_anchor {
                Some(p) if p.as_os_str() == "none" => Some(p.clone()),
                other => absolute(other),
            },
            ehlo: s.ehlo.clone(),
            timeout: s.timeout,
            deadline: crate::settings::deadline(s, s.server.is_some()).map(|d| d.as_secs()),
            tls: s.tls,
            cafile: absolute(&s.cafile),
            insecure: s.insecure,
            auth,
            user: s.user.clone(),
            secret,
            allow_plaintext_auth: s.allow_plaintext_auth,
            chunking: s.chunking,
        }
    }

    /// The command-line layer that gives these settings again (every value
    /// as a flag, so the environment of the runner does not change the route).
    pub fn overrides(&self) -> Overrides {
        let mut o = Overrides {
            server: self.server.clone(),
            direct: self.server.is_none(),
            dns_server: self.dns_server.clone(),
            mx_port: self.mx_port,
            dnssec_trust_anchor: self.dnssec_trust_anchor.clone(),
            account: self.account.clone(),
            config: self.config.clone(),
            ehlo: self.ehlo.clone(),
            timeout: self.timeout,
            // As a flag: it beats a `direct_deadline` of any other layer.
            deadline: self.deadline,
            tls: self.tls,
            cafile: self.cafile.clone(),
            insecure: self.insecure,
            auth: self.auth,
            user: self.user.clone(),
            allow_plaintext_auth: self.allow_plaintext_auth,
            no_chunking: !self.chunking,
            ..Overrides::default()
        };
        match &self.secret {
            Some(StoredSecret::Env { var }) => o.password_env = Some(var.clone()),
            Some(StoredSecret::PasswordCommand { command }) => {
                o.password_cmd = Some(command.clone())
            }
            Some(StoredSecret::TokenCommand { command }) => {
                o.oauth_token_cmd = Some(command.clone())
            }
            Some(StoredSecret::Account) | None => {}
        }
        o
    }

    /// A short description: `relay HOST:PORT (account NAME)` or `direct`.
    pub fn describe(&self) -> String {
        let via = match &self.server {
            Some(s) => format!("relay {s}"),
            None => "direct to MX hosts".to_string(),
        };
        match &self.account {
            Some(a) => format!("{via} (account {a})"),
            None => via,
        }
    }
}

impl Entry {
    /// Recipients still to be delivered.
    pub fn pending(&self) -> impl Iterator<Item = &Recipient> {
        self.recipients.iter().filter(|r| r.state == State::Pending)
    }

    /// Whether any recipient is still to be delivered.
    pub fn has_pending(&self) -> bool {
        self.pending().next().is_some()
    }
}
