//! MTA-STS (RFC 8461) for direct delivery: the `_mta-sts` TXT record, the
//! policy fetched over HTTPS (see [`fetch`]), cached for `max_age` in the
//! state directory, and what it asks of each MX host.
//!
//! The policy host is resolved through the same DNS as the MX lookup. The
//! port is 443; `MISSIVE_MTA_STS_PORT` changes it, a hook for tests (a
//! policy server on loopback without root), not a setting.

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::dns::{Dns, LookupError};

mod fetch;

/// The largest `max_age` honoured (RFC 8461 §3.2: 31557600).
const MAX_AGE_CAP: u64 = 31_557_600;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Enforce,
    Testing,
    None,
}

/// A parsed policy (RFC 8461 §3.2) and when it was fetched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    pub mode: Mode,
    pub mx: Vec<String>,
    pub max_age: u64,
    /// The TXT record's `id` it was fetched under.
    pub id: String,
    /// Seconds since the epoch.
    pub fetched: u64,
}

/// What applies to one domain's delivery.
#[derive(Debug, Clone, Default)]
pub struct Applied {
    pub policy: Option<Policy>,
    /// Where the policy came from, or why there is none (for the report).
    pub note: Option<String>,
}

impl Policy {
    /// Parses the policy body: `key: value` lines (CRLF or LF).
    pub fn parse(text: &str, id: &str, fetched: u64) -> Result<Policy, String> {
        let (mut version, mut mode, mut max_age) = (None, None, None);
        let mut mx = Vec::new();
        for line in text.lines() {
            let Some((k, v)) = line.split_once(':') else {
                continue;
            };
            let v = v.trim();
            match k.trim() {
                "version" => version = Some(v.to_string()),
                "mode" => {
                    mode = Some(match v {
                        "enforce" => Mode::Enforce,
                        "testing" => Mode::Testing,
                        "none" => Mode::None,
                        _ => return Err(format!("unknown mode {v:?}")),
                    })
                }
                "max_age" => {
                    max_age = Some(
                        v.parse::<u64>()
                            .map_err(|_| format!("max_age {v:?} is not a number"))?
                            .min(MAX_AGE_CAP),
                    )
                }
                "mx" => mx.push(v.to_ascii_lowercase().trim_end_matches('.').to_string()),
                _ => {}
            }
        }
        if version.as_deref() != Some("STSv1") {
            return Err("no \"version: STSv1\"".into());
        }
        let mode = mode.ok_or("no mode")?;
        let max_age = max_age.ok_or("no max_age")?;
        if mode != Mode::None && mx.is_empty() {
            return Err("no mx patterns".into());
        }
        Ok(Policy {
            mode,
            mx,
            max_age,
            id: id.to_string(),
            fetched,
        })
    }

    /// Whether `host` matches an `mx` pattern (RFC 8461 §4.1: a leading
    /// `*.` stands for exactly one label).
    pub fn allows(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.mx.iter().any(|p| match p.strip_prefix("*.") {
            Some(suffix) => host
                .split_once('.')
                .is_some_and(|(label, rest)| !label.is_empty() && rest == suffix),
            None => *p == host,
        })
    }

    fn expired(&self, now: u64) -> bool {
        now >= self.fetched.saturating_add(self.max_age)
    }

    pub fn label(&self) -> &'static str {
        match self.mode {
            Mode::Enforce => "mta-sts enforce",
            Mode::Testing => "mta-sts testing",
            Mode::None => "none",
        }
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `$XDG_STATE_HOME/missive/mta-sts`, else `~/.local/state/missive/mta-sts`.
fn cache_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_STATE_HOME")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local").join("state"))
        })?;
    Some(base.join("missive").join("mta-sts"))
}

fn cached(domain: &str) -> Option<Policy> {
    let path = cache_dir()?.join(format!("{domain}.json"));
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

/// Keeps the policy (a failure to write only costs a fetch next time).
fn store(domain: &str, policy: &Policy) {
    let Some(dir) = cache_dir() else { return };
    if std::fs::create_dir_all(&dir).is_err() {
        return;
    }
    let tmp = dir.join(format!(".{domain}.json.tmp"));
    if let Ok(bytes) = serde_json::to_vec_pretty(policy) {
        if std::fs::write(&tmp, bytes).is_ok() {
            let _ = std::fs::rename(&tmp, dir.join(format!("{domain}.json")));
        }
    }
}

/// The `id` of the domain's `v=STSv1` record: `Ok(None)` when there is
/// none, `Err` when the lookup failed temporarily.
async fn txt_id<D: Dns>(dns: &D, domain: &str) -> Result<Option<String>, String> {
    match dns.txt(&format!("_mta-sts.{domain}")).await {
        Ok(records) => {
            let sts: Vec<&String> = records
                .iter()
                .filter(|r| r.starts_with("v=STSv1"))
                .collect();
            let [one] = sts.as_slice() else {
                return Ok(None); // none, or several: no policy (§3.1)
            };
            Ok(one
                .split(';')
                .filter_map(|t| t.trim().split_once('='))
                .find(|(k, _)| *k == "id")
                .map(|(_, v)| v.trim().to_string()))
        }
        Err(LookupError::NxDomain(_) | LookupError::NoData(_)) => Ok(None),
        Err(e) => Err(e.to_string()),
    }
}

/// Whether a TLS certificate must verify, and against what (for the fetch).
pub struct FetchTrust {
    pub cafile: Option<PathBuf>,
}

/// The policy that applies to `domain` now (RFC 8461 §3, §5.1).
pub async fn applied<D: Dns>(dns: &D, domain: &str, trust: &FetchTrust) -> Applied {
    let now = now();
    let cache = cached(domain).filter(|p| !p.expired(now));
    let id = match txt_id(dns, domain).await {
        Ok(Some(id)) => id,
        // No record (or a failed lookup): a cached policy still holds.
        Ok(None) | Err(_) => {
            return match cache {
                Some(p) => Applied {
                    note: Some(format!("{}: cached policy (no TXT record now)", p.label())),
                    policy: Some(p),
                },
                None => Applied::default(),
            }
        }
    };
    if let Some(p) = cache.as_ref().filter(|p| p.id == id) {
        return Applied {
            note: Some(format!("cached policy id {id}")),
            policy: Some(p.clone()),
        };
    }
    match fetch::policy(dns, domain, trust).await {
        Ok(text) => match Policy::parse(&text, &id, now) {
            Ok(p) => {
                store(domain, &p);
                Applied {
                    note: Some(format!("policy id {id} fetched")),
                    policy: Some(p),
                }
            }
            Err(why) => fallback(cache, format!("invalid policy: {why}")),
        },
        Err(why) => fallback(cache, format!("policy fetch failed: {why}")),
    }
}

/// A fetch that failed: the cached policy if still valid (§5.1), else none.
fn fallback(cache: Option<Policy>, why: String) -> Applied {
    match cache {
        Some(p) => Applied {
            note: Some(format!("{why}; using the cached policy")),
            policy: Some(p),
        },
        None => Applied {
            policy: None,
            note: Some(format!("{why}; delivering as without MTA-STS")),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_matches() {
        let p = Policy::parse(
            "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\nmax_age: 86400\r\n",
            "1",
            0,
        )
        .unwrap();
        assert_eq!(p.mode, Mode::Enforce);
        assert!(p.allows("mail.example.com."));
        assert!(p.allows("MX1.example.net"));
        assert!(!p.allows("a.b.example.net"));
        assert!(!p.allows("example.net"));
        assert!(!p.allows("other.example.com"));
        assert!(Policy::parse("mode: enforce\nmx: a\nmax_age: 1\n", "1", 0).is_err());
        assert!(
            Policy::parse("version: STSv1\nmode: strict\nmx: a\nmax_age: 1\n", "1", 0).is_err()
        );
        let capped =
            Policy::parse("version: STSv1\nmode: none\nmax_age: 99999999999\n", "1", 0).unwrap();
        assert_eq!(capped.max_age, MAX_AGE_CAP);
        assert!(capped.expired(MAX_AGE_CAP));
    }
}
