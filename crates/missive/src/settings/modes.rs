//! The TLS and AUTH choices as settings: named in the configuration file, the
//! environment and presets, mapped to the protocol's types in one place.

use std::fmt;
use std::str::FromStr;

use missive_smtp::client::TlsMode;
use missive_smtp::Mechanism;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// How a session uses TLS (`tls = "…"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TlsSetting {
    /// STARTTLS, required: stop if the server does not offer it or it fails.
    Starttls,
    /// TLS from the first byte (port 465, RFC 8314).
    Implicit,
    /// STARTTLS when offered, else plaintext; certificate problems are reported, not fatal.
    Opportunistic,
    /// No TLS at all.
    None,
}

impl TlsSetting {
    /// The protocol's mode for this setting: the one mapping.
    pub fn mode(self) -> TlsMode {
        match self {
            TlsSetting::Starttls => TlsMode::StartTls,
            TlsSetting::Implicit => TlsMode::Implicit,
            TlsSetting::Opportunistic => TlsMode::Opportunistic,
            TlsSetting::None => TlsMode::None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            TlsSetting::Starttls => "starttls",
            TlsSetting::Implicit => "implicit",
            TlsSetting::Opportunistic => "opportunistic",
            TlsSetting::None => "none",
        }
    }
}

impl fmt::Display for TlsSetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for TlsSetting {
    type Err = AppError;
    fn from_str(s: &str) -> Result<Self, AppError> {
        [
            TlsSetting::Starttls,
            TlsSetting::Implicit,
            TlsSetting::Opportunistic,
            TlsSetting::None,
        ]
        .into_iter()
        .find(|t| t.name().eq_ignore_ascii_case(s))
        .ok_or_else(|| {
            AppError::Config(format!(
                "{s:?} is not starttls, implicit, opportunistic or none"
            ))
        })
    }
}

/// Which SASL mechanism to use (`auth = "…"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuthSetting {
    /// The best offered mechanism that fits the credentials.
    #[default]
    Auto,
    Plain,
    Login,
    CramMd5,
    Xoauth2,
    Oauthbearer,
    /// Never authenticate.
    None,
}

const AUTH_NAMES: [(AuthSetting, &str); 7] = [
    (AuthSetting::Auto, "auto"),
    (AuthSetting::Plain, "plain"),
    (AuthSetting::Login, "login"),
    (AuthSetting::CramMd5, "cram-md5"),
    (AuthSetting::Xoauth2, "xoauth2"),
    (AuthSetting::Oauthbearer, "oauthbearer"),
    (AuthSetting::None, "none"),
];

impl AuthSetting {
    /// `None`: do not authenticate; `Some(None)`: pick one; `Some(Some(m))`: this one.
    pub fn mechanism(self) -> Option<Option<Mechanism>> {
        match self {
            AuthSetting::None => None,
            AuthSetting::Auto => Some(None),
            AuthSetting::Plain => Some(Some(Mechanism::Plain)),
            AuthSetting::Login => Some(Some(Mechanism::Login)),
            AuthSetting::CramMd5 => Some(Some(Mechanism::CramMd5)),
            AuthSetting::Xoauth2 => Some(Some(Mechanism::XOAuth2)),
            AuthSetting::Oauthbearer => Some(Some(Mechanism::OAuthBearer)),
        }
    }

    /// Names a mechanism (not `auto` or `none`).
    pub fn is_mechanism(self) -> bool {
        !matches!(self, AuthSetting::Auto | AuthSetting::None)
    }
}

impl fmt::Display for AuthSetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = AUTH_NAMES.iter().find(|(a, _)| a == self).map(|(_, n)| *n);
        f.write_str(name.unwrap_or("auto"))
    }
}

impl FromStr for AuthSetting {
    type Err = AppError;
    fn from_str(s: &str) -> Result<Self, AppError> {
        AUTH_NAMES
            .iter()
            .find(|(_, n)| n.eq_ignore_ascii_case(s))
            .map(|(a, _)| *a)
            .ok_or_else(|| {
                AppError::Config(format!(
                    "{s:?} is not auto, plain, login, cram-md5, xoauth2, oauthbearer or none"
                ))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for (a, n) in AUTH_NAMES {
            assert_eq!(n.parse::<AuthSetting>().unwrap(), a);
            assert_eq!(a.to_string(), n);
        }
        assert_eq!(
            "STARTTLS".parse::<TlsSetting>().unwrap(),
            TlsSetting::Starttls
        );
        assert!("sometimes".parse::<TlsSetting>().is_err());
        assert_eq!(TlsSetting::Implicit.mode(), TlsMode::Implicit);
    }
}

/// When a message is kept in the outbox (`queue = "…"`, `--queue WHEN`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum QueueWhen {
    /// Never: a temporary failure is reported (exit 75).
    Never,
    /// Tried at once; recipients that failed temporarily are queued.
    OnFailure,
    /// Stored at once and delivered by `missive queue run`.
    Always,
}

impl QueueWhen {
    fn name(self) -> &'static str {
        match self {
            QueueWhen::Never => "never",
            QueueWhen::OnFailure => "on-failure",
            QueueWhen::Always => "always",
        }
    }
}

impl fmt::Display for QueueWhen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for QueueWhen {
    type Err = AppError;
    fn from_str(s: &str) -> Result<Self, AppError> {
        [QueueWhen::Never, QueueWhen::OnFailure, QueueWhen::Always]
            .into_iter()
            .find(|q| q.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| AppError::Config(format!("{s:?} is not never, on-failure or always")))
    }
}
