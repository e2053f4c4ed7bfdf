//! Passwords in the OS keyring (`missive account set-password NAME`).

use missive_smtp::Secret;

use crate::error::{AppError, Result};

/// The keyring service name missive stores secrets under.
pub(crate) const SERVICE: &str = "missive";

/// The secret of `account` from the OS keyring.
pub(crate) fn get(account: &str) -> Result<Secret> {
    let entry = keyring::Entry::new(SERVICE, account)
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
pub(crate) fn set(account: &str, secret: &Secret) -> Result<()> {
    keyring::Entry::new(SERVICE, account)
        .and_then(|e| e.set_password(secret.expose()))
        .map_err(|e| {
            AppError::Config(format!(
                "cannot store the password in the OS keyring ({e}); where there is no keyring (servers, containers) use password_cmd or password_env in the account"
            ))
        })
}
