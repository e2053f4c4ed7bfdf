//! Where the secret comes from: an environment variable, a command's first
//! line of output, or a prompt without echo. Never the command line itself.

use std::io::IsTerminal;
use std::process::{Command, Stdio};

use missive_smtp::Secret;

use crate::error::{AppError, Result};

/// The ways a secret can be given.
#[derive(Debug, Clone, Default)]
pub struct SecretSource {
    pub env: Option<String>,
    pub cmd: Option<String>,
    /// From the configuration file.
    pub value: Option<Secret>,
    /// The account whose secret is in the OS keyring.
    pub keyring: Option<String>,
}

impl SecretSource {
    /// Gets the secret for `user`, prompting when nothing else was given and a terminal is there.
    pub fn resolve(&self, user: &str, what: &str) -> Result<Secret> {
        if let Some(var) = &self.env {
            return match std::env::var(var) {
                Ok(v) if !v.is_empty() => Ok(Secret::new(v)),
                _ => Err(AppError::Config(format!(
                    "the environment variable {var} is not set (or empty)"
                ))),
            };
        }
        if let Some(cmd) = &self.cmd {
            return run_secret_command(cmd, what);
        }
        if let Some(v) = &self.value {
            return Ok(v.clone());
        }
        if let Some(account) = &self.keyring {
            return keyring_get(account);
        }
        if std::io::stdin().is_terminal() {
            let v = rpassword::prompt_password(format!("{what} for {user}: "))
                .map_err(|e| AppError::Io(format!("cannot read the {what}: {e}")))?;
            return Ok(Secret::new(v));
        }
        Err(AppError::Usage(format!(
            "no {what} for {user}: give --password-env VAR, --password-cmd CMD or --oauth-token-cmd CMD, or run on a terminal to be asked"
        )))
    }
}

/// Runs `cmd` through the shell and takes the first line of its output. Its
/// output is never shown, even when it fails.
pub fn run_secret_command(cmd: &str, what: &str) -> Result<Secret> {
    let out = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| AppError::Config(format!("cannot run the {what} command: {e}")))?;
    if !out.status.success() {
        return Err(AppError::Config(format!(
            "the {what} command failed ({}); its output is not shown",
            out.status
        )));
    }
    let text = String::from_utf8(out.stdout).map_err(|_| {
        AppError::Config(format!(
            "the {what} command printed something that is not UTF-8"
        ))
    })?;
    let first = text.lines().next().unwrap_or("").to_string();
    if first.is_empty() {
        return Err(AppError::Config(format!(
            "the {what} command printed nothing"
        )));
    }
    Ok(Secret::new(first))
}

/// The keyring service name missive stores secrets under.
pub const KEYRING_SERVICE: &str = "missive";

/// The secret of `account` from the OS keyring.
pub fn keyring_get(account: &str) -> Result<Secret> {
    let entry = keyring::Entry::new(KEYRING_SERVICE, account)
        .map_err(|e| AppError::Config(format!("the OS keyring is not available: {e}")))?;
    match entry.get_password() {
        Ok(p) => Ok(Secret::new(p)),
        Err(keyring::Error::NoEntry) => Err(AppError::Config(format!(
            "no password for account {account} in the OS keyring: run missive account set-password {account}"
        ))),
        Err(e) => Err(AppError::Config(format!(
            "the OS keyring is not available ({e}); use password_cmd or password_env in the account instead"
        ))),
    }
}

/// Stores the secret of `account` in the OS keyring.
pub fn keyring_set(account: &str, secret: &Secret) -> Result<()> {
    keyring::Entry::new(KEYRING_SERVICE, account)
        .and_then(|e| e.set_password(secret.expose()))
        .map_err(|e| {
            AppError::Config(format!(
                "cannot store the password in the OS keyring ({e}); where there is no keyring (servers, containers) use password_cmd or password_env in the account"
            ))
        })
}
