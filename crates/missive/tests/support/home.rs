//! A configuration of its own for one test, and reading `config show`.

use std::path::{Path, PathBuf};

use super::{write_mode, Cmd, Output, TempDir};

/// A directory of its own for one test: `home/` is HOME, `config/` is
/// XDG_CONFIG_HOME and `state/` is XDG_STATE_HOME. Removed when dropped.
pub struct Home {
    pub root: TempDir,
}

impl Home {
    pub fn new(tag: &str) -> Home {
        let root = TempDir::new_in(
            Path::new(env!("CARGO_TARGET_TMPDIR")),
            &format!("home-{tag}"),
        );
        for d in ["home", "config", "state"] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        Home { root }
    }

    /// Where missive looks for its configuration by default.
    pub fn config_path(&self) -> PathBuf {
        self.root.join("config/missive/config.toml")
    }

    /// Where missive keeps its OAuth2 tokens.
    pub fn token_dir(&self) -> PathBuf {
        self.root.join("state/missive/tokens")
    }

    /// Writes the default configuration file with this mode.
    pub fn config(&self, text: &str, mode: u32) -> PathBuf {
        let path = self.config_path();
        write_mode(&path, text, mode);
        path
    }

    /// Writes a file under the root with this mode.
    pub fn file(&self, name: &str, text: &str, mode: u32) -> PathBuf {
        let path = self.root.join(name);
        write_mode(&path, text, mode);
        path
    }

    /// `missive ARGS` with this home.
    pub fn cmd(&self, args: &[&str]) -> Cmd {
        Cmd::new(args)
            .env("HOME", self.root.join("home"))
            .env("XDG_CONFIG_HOME", self.root.join("config"))
            .env("XDG_STATE_HOME", self.root.join("state"))
    }
}

// ---- `config show` output ------------------------------------------------------------

/// The `(value, source)` of the `config show` line for `key`, if there is one.
pub fn shown(out: &Output, key: &str) -> Option<(String, String)> {
    out.stdout.lines().find_map(|l| {
        let rest = l.strip_prefix(key)?;
        if !rest.starts_with(' ') {
            return None;
        }
        let rest = rest.trim_start();
        let (value, source) = rest.rsplit_once("  (")?;
        Some((value.to_string(), source.strip_suffix(')')?.to_string()))
    })
}

/// The value of a header line of `config show` (`config`, `account`, `preset`, `note`).
#[track_caller]
pub fn head(out: &Output, key: &str) -> String {
    out.stdout
        .lines()
        .find_map(|l| {
            let rest = l.strip_prefix(key)?;
            rest.starts_with(' ').then(|| rest.trim().to_string())
        })
        .unwrap_or_else(|| panic!("no {key} line\n{out}"))
}

/// Asserts the `config show` line for `key` has this value and source.
#[track_caller]
pub fn assert_shown(out: &Output, key: &str, value: &str, source: &str) {
    let got = shown(out, key).unwrap_or_else(|| panic!("no {key} line\n{out}"));
    assert_eq!(
        (got.0.as_str(), got.1.as_str()),
        (value, source),
        "{key}\n{out}"
    );
}

/// The JSON entry for `key` of `config show --json`.
#[track_caller]
pub fn entry(json: &serde_json::Value, key: &str) -> serde_json::Value {
    json["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .find(|e| e["key"] == key)
        .cloned()
        .unwrap_or_else(|| panic!("no entry {key}: {json:#}"))
}
