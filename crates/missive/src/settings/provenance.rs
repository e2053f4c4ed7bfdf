//! Where each effective setting came from, for `missive config show`.

use std::fmt;
use std::path::PathBuf;

/// Where a value came from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "name")]
pub enum Source {
    /// The command line.
    Flag,
    /// This `MISSIVE_*` environment variable.
    Env(String),
    /// This account of the configuration file.
    Account(String),
    /// This provider preset.
    Preset(String),
    /// missive's own default.
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
    /// The setting's name, as in the configuration file.
    pub key: &'static str,
    /// Its value as shown (a secret's source, never the secret).
    pub value: String,
    /// Where it came from.
    pub source: Source,
}

/// What resolution decided, and why.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Provenance {
    /// The configuration file read, if it exists.
    pub config: Option<PathBuf>,
    /// The account chosen.
    pub account: Option<String>,
    /// The preset applied.
    pub preset: Option<String>,
    /// The preset's note on credentials.
    pub note: Option<String>,
    /// Every setting that has a value.
    pub entries: Vec<Entry>,
}

impl Provenance {
    /// Records a value's source.
    pub(crate) fn record(&mut self, key: &'static str, value: String, source: Source) {
        self.entries.push(Entry { key, value, source });
    }

    /// The source of `key`, if it has a value.
    pub fn source_of(&self, key: &str) -> Option<&Source> {
        self.entries
            .iter()
            .find(|e| e.key == key)
            .map(|e| &e.source)
    }
}
