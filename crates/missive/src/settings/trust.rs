//! The trust settings: DKIM signatures and REQUIRETLS, from the command
//! line, else `MISSIVE_DKIM_*` / `MISSIVE_REQUIRE_TLS`, else the account.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::provenance::{Provenance, Source};
use super::{env, env_parsed, Account, Overrides};
use crate::error::{AppError, Result};
use crate::message::dkim::DkimConfig;

/// `[accounts.NAME.dkim]` (one table) or `[[accounts.NAME.dkim]]` (several
/// signatures, say an RSA and an Ed25519 one, RFC 8463 §1).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum DkimAccount {
    One(DkimConfig),
    Many(Vec<DkimConfig>),
}

impl DkimAccount {
    pub fn list(&self) -> Vec<DkimConfig> {
        match self {
            DkimAccount::One(c) => vec![c.clone()],
            DkimAccount::Many(v) => v.clone(),
        }
    }
}

/// The signatures to add: `--dkim-key` (repeatable; `--dkim-selector` and
/// `--dkim-domain` once for all, or once per key), else the environment,
/// else the account's.
pub(super) fn dkim(
    flags: &Overrides,
    acct: &Account,
    acct_name: Option<&str>,
    p: &mut Provenance,
) -> Result<Vec<DkimConfig>> {
    let (keys, selectors, domains, source) = if !flags.dkim_key.is_empty() {
        (
            flags.dkim_key.clone(),
            flags.dkim_selector.clone(),
            flags.dkim_domain.clone(),
            Source::Flag,
        )
    } else if let Some(k) = env("MISSIVE_DKIM_KEY") {
        (
            vec![PathBuf::from(k)],
            env("MISSIVE_DKIM_SELECTOR").into_iter().collect(),
            env("MISSIVE_DKIM_DOMAIN").into_iter().collect(),
            Source::Env("MISSIVE_DKIM_KEY".into()),
        )
    } else if let Some(d) = &acct.dkim {
        let list = d.list();
        let src = Source::Account(acct_name.unwrap_or_default().to_string());
        record(p, &list, src);
        return Ok(list);
    } else {
        if !flags.dkim_selector.is_empty() || !flags.dkim_domain.is_empty() {
            return Err(AppError::Usage(
                "--dkim-selector and --dkim-domain need --dkim-key".into(),
            ));
        }
        return Ok(Vec::new());
    };
    let pick = |v: &[String], i: usize, what: &str| -> Result<String> {
        match v.len() {
            1 => Ok(v[0].clone()),
            n if n == keys.len() => Ok(v[i].clone()),
            0 => Err(AppError::Usage(format!(
                "a DKIM key needs --dkim-{what} (or MISSIVE_DKIM_{})",
                what.to_ascii_uppercase()
            ))),
            _ => Err(AppError::Usage(format!(
                "give --dkim-{what} once, or once per --dkim-key"
            ))),
        }
    };
    let list = keys
        .iter()
        .enumerate()
        .map(|(i, k)| {
            Ok(DkimConfig {
                domain: pick(&domains, i, "domain")?,
                selector: pick(&selectors, i, "selector")?,
                key_file: k.clone(),
                ..DkimConfig::default()
            })
        })
        .collect::<Result<Vec<_>>>()?;
    record(p, &list, source);
    Ok(list)
}

fn record(p: &mut Provenance, list: &[DkimConfig], source: Source) {
    let shown: Vec<String> = list
        .iter()
        .map(|c| {
            format!(
                "{}._domainkey.{} ({})",
                c.selector,
                c.domain,
                c.key_file.display()
            )
        })
        .collect();
    if !shown.is_empty() {
        p.record("dkim", shown.join(", "), source);
    }
}

/// REQUIRETLS (RFC 8689): `--require-tls`, `MISSIVE_REQUIRE_TLS`, `require_tls`.
pub(super) fn require_tls(
    flags: &Overrides,
    acct: &Account,
    acct_name: Option<&str>,
    p: &mut Provenance,
) -> Result<bool> {
    let (value, source) = if flags.require_tls {
        (true, Source::Flag)
    } else if let Some(v) = env_parsed::<bool>("MISSIVE_REQUIRE_TLS")? {
        (v, Source::Env("MISSIVE_REQUIRE_TLS".into()))
    } else if let Some(v) = acct.require_tls {
        (
            v,
            Source::Account(acct_name.unwrap_or_default().to_string()),
        )
    } else {
        return Ok(false);
    };
    p.record("require_tls", value.to_string(), source);
    Ok(value)
}
