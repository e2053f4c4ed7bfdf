//! Provider presets: server, port, TLS mode and AUTH for the big providers,
//! kept in one data file (`data/presets.toml`) so they are easy to review
//! against the providers' published settings and to extend.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::modes::{AuthSetting, TlsSetting};
use crate::error::{AppError, Result};

const PRESETS: &str = include_str!("../../data/presets.toml");

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Preset {
    pub name: String,
    /// `host:port`.
    pub server: String,
    pub tls: TlsSetting,
    pub auth: AuthSetting,
    /// Address domains that suggest this preset.
    pub domains: Vec<String>,
    /// What credentials the provider wants.
    pub note: String,
    /// The provider's documented limit on simultaneous sessions (bulk's default).
    #[serde(default)]
    pub connections: Option<usize>,
    /// The provider's documented sending limits, `N/min`, `N/day` (bulk's default).
    #[serde(default)]
    pub rates: Vec<String>,
}

/// Every preset by key.
pub fn all() -> BTreeMap<String, Preset> {
    toml::from_str(PRESETS).expect("data/presets.toml is checked by the tests")
}

/// The preset called `key`.
pub fn get(key: &str) -> Result<Preset> {
    let all = all();
    all.get(&key.to_ascii_lowercase()).cloned().ok_or_else(|| {
        AppError::Usage(format!(
            "unknown preset {key:?}; known: {}",
            all.keys().cloned().collect::<Vec<_>>().join(", ")
        ))
    })
}

/// The preset whose domains include the address's domain.
pub fn for_address(addr: &str) -> Option<(String, Preset)> {
    let domain = addr
        .rsplit_once('@')?
        .1
        .trim_end_matches('>')
        .to_ascii_lowercase();
    all().into_iter().find(|(_, p)| p.domains.contains(&domain))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::net::ServerAddr;

    #[test]
    fn every_preset_parses_and_is_complete() {
        let all = all();
        for key in [
            "office365",
            "outlook",
            "gmail",
            "aol",
            "yahoo",
            "icloud",
            "fastmail",
            "zoho",
            "gmx",
            "mailbox-org",
            "proton-bridge",
        ] {
            let p = all
                .get(key)
                .unwrap_or_else(|| panic!("preset {key} missing"));
            let s = ServerAddr::parse(&p.server, 0).unwrap();
            assert!(s.port != 0 && !s.host.is_empty(), "{key}");
            assert!(!p.note.is_empty() && !p.name.is_empty(), "{key}");
            assert!(
                matches!(p.tls, TlsSetting::Starttls | TlsSetting::Implicit),
                "{key}: submission needs TLS"
            );
        }
        let o = get("office365").unwrap();
        assert_eq!(o.server, "smtp.office365.com:587");
        assert_eq!(o.tls, TlsSetting::Starttls);
        assert!(get("nope").is_err());
    }

    #[test]
    fn suggestion_by_domain() {
        assert_eq!(for_address("alice@aol.com").unwrap().0, "aol");
        assert_eq!(for_address("bob@GMAIL.com").unwrap().0, "gmail");
        assert!(for_address("x@example.test").is_none());
    }
}
