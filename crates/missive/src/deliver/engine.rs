//! What every session of one mailer shares: the options, the TLS
//! configuration, and the login's credentials (resolved once, refreshed
//! for OAuth2).

use std::sync::Mutex;

use missive_smtp::Credentials;

use super::MailerOptions;
use crate::transport::tls::TlsContext;

pub(super) struct Engine {
    pub(super) options: MailerOptions,
    pub(super) tls: TlsContext,
    pub(super) credentials: Mutex<Option<Credentials>>,
}
