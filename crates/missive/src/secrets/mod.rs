//! Where a secret comes from: an environment variable, a command's first
//! line of output, the configuration file, the OS keyring, OAuth2 tokens, a
//! program's own provider, or a prompt without echo. Never the command line
//! itself, and never printed: [`SecretSource::describe`] says where a secret
//! is, not what it is.

use std::fmt;
use std::io::IsTerminal;
use std::process::{Command, Stdio};
use std::sync::Arc;

use missive_smtp::{Credentials, Mechanism, Secret};

use crate::error::{AppError, Result};

pub(crate) mod files;
pub(crate) mod keyring;
pub mod oauth;

/// A program's own source of access tokens (say, a token cache it manages).
///
/// `refresh` is true after the server rejected the previous token: return a
/// new one then, not a cached copy.
pub trait TokenProvider: Send + Sync {
    /// A valid access token.
    fn token(&self, refresh: bool) -> Result<Secret>;
}

/// Where a password or token is found when a session needs it.
#[derive(Clone)]
pub enum SecretSource {
    /// The secret itself (a password in the configuration file, or one a program holds).
    Value(Secret),
    /// The value of this environment variable.
    Env(String),
    /// The first line of this shell command's output.
    Command(String),
    /// The OS keyring entry of this account.
    Keyring(String),
    /// The OAuth2 tokens of a signed-in account, refreshed when due.
    OAuth {
        /// The account whose tokens are stored.
        account: String,
        /// Its provider and client settings.
        config: oauth::OAuthConfig,
    },
    /// A program's own token provider.
    Provider(Arc<dyn TokenProvider>),
    /// Ask on the terminal, without echo.
    Prompt,
}

impl fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())
    }
}

impl SecretSource {
    /// Gets the secret for `user`; `what` names it in messages ("password").
    /// `refresh` asks OAuth2 sources for a new token.
    pub fn resolve(&self, user: &str, what: &str, refresh: bool) -> Result<Secret> {
        match self {
            SecretSource::Value(v) => Ok(v.clone()),
            SecretSource::Env(var) => match std::env::var(var) {
                Ok(v) if !v.is_empty() => Ok(Secret::new(v)),
                _ => Err(AppError::Config(format!(
                    "the environment variable {var} is not set (or empty)"
                ))),
            },
            SecretSource::Command(cmd) => run_secret_command(cmd, what),
            SecretSource::Keyring(account) => keyring::get(account),
            SecretSource::OAuth { account, config } => oauth::access_token(account, config, refresh),
            SecretSource::Provider(p) => p.token(refresh),
            SecretSource::Prompt if std::io::stdin().is_terminal() => {
                let v = rpassword::prompt_password(format!("{what} for {user}: "))
                    .map_err(|e| AppError::Io(format!("cannot read the {what}: {e}")))?;
                Ok(Secret::new(v))
            }
            SecretSource::Prompt => Err(AppError::Usage(format!(
                "no {what} for {user}: give --password-env VAR, --password-cmd CMD or --oauth-token-cmd CMD, or run on a terminal to be asked"
            ))),
        }
    }

    /// Whether a rejected secret is worth one refresh and a second try.
    pub fn refreshable(&self) -> bool {
        matches!(self, SecretSource::OAuth { .. } | SecretSource::Provider(_))
    }

    /// Where the secret is, for `config show` and debugging: never the secret.
    pub fn describe(&self) -> String {
        match self {
            SecretSource::Value(_) => "<redacted> (password in the configuration)".into(),
            SecretSource::Env(v) => format!("<redacted> (password in ${v})"),
            SecretSource::Command(c) => format!("<redacted> (from command: {c})"),
            SecretSource::Keyring(a) => {
                format!("<redacted> (password in the OS keyring, account {a})")
            }
            SecretSource::OAuth { account, config } => {
                let provider = config
                    .provider
                    .map_or("custom".to_string(), |p| format!("{p:?}").to_lowercase());
                format!(
                    "<redacted> (OAuth2 sign-in, {provider}, tokens of account {account}; client secret {})",
                    if config.client_secret.is_some() { "<redacted>" } else { "none" }
                )
            }
            SecretSource::Provider(_) => "<redacted> (a token provider)".into(),
            SecretSource::Prompt => "asked on the terminal".into(),
        }
    }
}

/// Who to log in as, and where the secret is.
#[derive(Debug, Clone)]
pub struct Login {
    /// The user name to authenticate as.
    pub user: String,
    /// Where the password or token is.
    pub secret: SecretSource,
    /// The secret is an OAuth2 access token (XOAUTH2 / OAUTHBEARER), not a password.
    pub token: bool,
}

impl Login {
    /// A login with a password from `secret`.
    pub fn password(user: impl Into<String>, secret: SecretSource) -> Login {
        Login {
            user: user.into(),
            secret,
            token: false,
        }
    }

    /// A login with an OAuth2 access token from `secret`.
    pub fn token(user: impl Into<String>, secret: SecretSource) -> Login {
        Login {
            user: user.into(),
            secret,
            token: true,
        }
    }

    /// Resolves the secret into credentials for the state machine; a
    /// token-only mechanism makes it a token whatever the source.
    pub fn credentials(&self, mechanism: Option<&Mechanism>, refresh: bool) -> Result<Credentials> {
        let token = self.token || mechanism.is_some_and(Mechanism::uses_token);
        let what = if token { "OAuth token" } else { "password" };
        let secret = self.secret.resolve(&self.user, what, refresh)?;
        let user = self.user.clone();
        Ok(match token {
            true => Credentials::Token {
                user,
                token: secret,
            },
            false => Credentials::Password {
                user,
                password: secret,
            },
        })
    }
}

/// Runs `cmd` through the shell and takes the first line of its output. Its
/// output is never shown, even when it fails.
pub(crate) fn run_secret_command(cmd: &str, what: &str) -> Result<Secret> {
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
