//! The outbox's settings: when a message is queued (`queue`), where the
//! spool is (`queue_dir`), and how long and how often it is retried.
//!
//! ```toml
//! queue = "on-failure"             # never | on-failure | always (also per account)
//! queue_dir = "/home/me/.local/state/missive/queue"
//! queue_lifetime = "5d"            # then the remaining recipients fail
//! queue_backoff = "1m"             # the first retry; it doubles each time…
//! queue_backoff_max = "1h"         # …up to this
//! notify_failures = true           # a failure notice to the sender
//! ```

use std::path::PathBuf;
use std::time::Duration;

use super::config::{Account, Config};
pub use super::modes::QueueWhen;
use super::{env, env_parsed};
use crate::error::{AppError, Result};

/// The outbox's effective settings.
#[derive(Debug, Clone)]
pub struct QueueSettings {
    /// `None`: the command's default (sendmail: on-failure; send: never).
    pub when: Option<QueueWhen>,
    /// The spool directory.
    pub dir: PathBuf,
    /// The first retry delay; it doubles after each attempt…
    pub backoff: Duration,
    /// …up to this.
    pub backoff_max: Duration,
    /// After this long in the queue, the remaining recipients fail.
    pub lifetime: Duration,
    /// Send a failure notice to the envelope sender.
    pub notify_failures: bool,
}

impl Default for QueueSettings {
    fn default() -> Self {
        QueueSettings {
            when: None,
            dir: default_dir(),
            backoff: Duration::from_secs(60),
            backoff_max: Duration::from_secs(3600),
            lifetime: Duration::from_secs(5 * 24 * 3600),
            notify_failures: true,
        }
    }
}

/// `$XDG_STATE_HOME/missive/queue`, else `~/.local/state/missive/queue`.
fn default_dir() -> PathBuf {
    std::env::var_os("XDG_STATE_HOME")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
        .unwrap_or_else(|| PathBuf::from(".local/state"))
        .join("missive")
        .join("queue")
}

/// A duration: `90` or `90s`, `5m`, `2h`, `5d`.
pub fn parse_duration(s: &str) -> Result<Duration> {
    let s = s.trim();
    let (digits, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = digits
        .parse()
        .map_err(|_| AppError::Config(format!("{s:?} is not a duration (like 90s, 5m, 1h, 5d)")))?;
    let scale = match unit.trim() {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => {
            return Err(AppError::Config(format!(
                "{s:?} is not a duration (like 90s, 5m, 1h, 5d)"
            )))
        }
    };
    Ok(Duration::from_secs(n.saturating_mul(scale)))
}

/// The queue settings: the command line, else `MISSIVE_*`, else the
/// account (`queue` only), else the file's top level, else the defaults.
pub(crate) fn resolve(
    config: &Config,
    account: Option<&Account>,
    when_flag: Option<QueueWhen>,
    dir_flag: Option<PathBuf>,
) -> Result<QueueSettings> {
    let file = &config.file;
    let d = QueueSettings::default();
    let duration = |var: &str, value: &Option<String>, default: Duration| -> Result<Duration> {
        match env(var).or_else(|| value.clone()) {
            Some(v) => parse_duration(&v).map_err(|e| AppError::Config(format!("{var}: {e}"))),
            None => Ok(default),
        }
    };
    let when = match when_flag {
        Some(w) => Some(w),
        None => env_parsed("MISSIVE_QUEUE")?
            .or(account.and_then(|a| a.queue))
            .or(file.queue),
    };
    let backoff = duration("MISSIVE_QUEUE_BACKOFF", &file.queue_backoff, d.backoff)?;
    let backoff_max = duration(
        "MISSIVE_QUEUE_BACKOFF_MAX",
        &file.queue_backoff_max,
        d.backoff_max,
    )?;
    Ok(QueueSettings {
        when,
        dir: dir_flag
            .or_else(|| env("MISSIVE_QUEUE_DIR").map(PathBuf::from))
            .or_else(|| file.queue_dir.clone())
            .unwrap_or(d.dir),
        backoff: backoff.max(Duration::from_secs(1)),
        backoff_max: backoff_max.max(backoff),
        lifetime: duration("MISSIVE_QUEUE_LIFETIME", &file.queue_lifetime, d.lifetime)?,
        notify_failures: env_parsed::<bool>("MISSIVE_NOTIFY_FAILURES")?
            .or(file.notify_failures)
            .unwrap_or(true),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(parse_duration("5d").unwrap(), Duration::from_secs(432000));
        assert!(parse_duration("5 weeks").is_err());
        assert!(parse_duration("m").is_err());
    }

    #[test]
    fn when_names() {
        assert_eq!(
            "on-failure".parse::<QueueWhen>().unwrap(),
            QueueWhen::OnFailure
        );
        assert_eq!("ALWAYS".parse::<QueueWhen>().unwrap(), QueueWhen::Always);
        assert!("sometimes".parse::<QueueWhen>().is_err());
    }
}
