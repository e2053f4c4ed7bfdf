//! From settings to a delivery plan: the [`MailerOptions`] of a route (its
//! TLS, login and trust), the one mapping used by `send` and the outbox.

use std::time::Duration;

use missive_smtp::client::TlsMode;

use super::Settings;
use crate::deliver::{
    Direct, MailerOptions, Relay, Route, Trust, DIRECT_CONNECTIONS, DIRECT_CONNECTIONS_PER_DOMAIN,
    DIRECT_DEADLINE,
};
use crate::error::{AppError, Result};
use crate::transport::net::ServerAddr;

/// The delivery plan: the route, its TLS and login, from the settings. In
/// a dry run no login is prepared (no password is asked for or run).
pub fn mailer_options(s: &Settings, dry_run: bool, verbosity: u8) -> Result<MailerOptions> {
    let server = s
        .server
        .as_deref()
        .map(|x| ServerAddr::parse(x, 587))
        .transpose()?;
    let tls = match (s.tls, &server) {
        (Some(t), _) => t.mode(),
        (None, None) => TlsMode::Opportunistic,
        (None, Some(srv)) if srv.port == 465 => TlsMode::Implicit,
        (None, Some(_)) => TlsMode::StartTls,
    };
    if s.require_tls {
        require_tls_route(s, server.is_some(), tls)?;
    }
    let route = match server {
        // MX hosts are the recipients' servers: the user's credentials are
        // for their own provider and never go there.
        None if s.auth_explicit && !dry_run => {
            return Err(AppError::Usage(
                "--auth is for a submission server (--server, --account, --preset); direct delivery to MX hosts does not log in".into(),
            ))
        }
        None => Route::Direct(Direct {
            dns_server: s.dns_server.clone(),
            mx_port: s.mx_port.unwrap_or(25),
            dnssec_trust_anchor: s.dnssec_trust_anchor.clone(),
            tls,
            deadline: s
                .direct_deadline
                .map_or(DIRECT_DEADLINE, |d| Duration::from_secs(d.max(1))),
            connections: s
                .direct_connections
                .map_or(DIRECT_CONNECTIONS, |n| n.clamp(1, 10_000) as usize),
            connections_per_domain: s
                .direct_connections_per_domain
                .map_or(DIRECT_CONNECTIONS_PER_DOMAIN, |n| n.clamp(1, 10_000) as usize),
        }),
        Some(server) => {
            if s.auth_explicit && s.login.is_none() && !dry_run {
                return Err(AppError::Usage("--auth needs --user NAME".into()));
            }
            Route::Relay(Relay {
                server,
                tls,
                login: s.login.clone().filter(|_| !dry_run),
                mechanism: s.auth.mechanism().flatten(),
                allow_plaintext_auth: s.allow_plaintext_auth,
            })
        }
    };
    Ok(MailerOptions {
        trust: Trust {
            cafile: s.cafile.clone(),
            insecure: s.insecure,
            ..Trust::default()
        },
        ehlo: s.ehlo.clone(),
        timeout: s.timeout.map(Duration::from_secs),
        chunking: s.chunking,
        connections: 1,
        verbosity,
        proxy: s.proxy.as_ref().map(|p| p.proxy()).transpose()?,
        ..MailerOptions::new(route)
    })
}

/// REQUIRETLS (RFC 8689 §4.2.1) needs verified TLS on the hop missive
/// makes: refused before anything connects when the route cannot give it.
fn require_tls_route(s: &Settings, relay: bool, tls: TlsMode) -> Result<()> {
    let refuse = |why: &str| {
        Err(AppError::Refused(
            format!("--require-tls: {why}; nothing was sent"),
            crate::error::exit::NOPERM,
        ))
    };
    if !relay {
        // Direct delivery: each domain's MTA-STS policy decides (deliver/direct.rs).
        return Ok(());
    }
    if s.insecure {
        return refuse("--insecure does not verify the server's certificate");
    }
    match tls {
        TlsMode::StartTls | TlsMode::Implicit => Ok(()),
        _ => refuse("the TLS mode must be starttls or implicit (verified)"),
    }
}
