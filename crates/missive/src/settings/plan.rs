//! From settings to a delivery plan: the [`MailerOptions`] of a route (its
//! TLS, login and trust), the one mapping used by `send` and the outbox.

use std::time::Duration;

use missive_smtp::client::TlsMode;

use super::Settings;
use crate::deliver::{
    Direct, MailerOptions, Relay, Route, Trust, DIRECT_CONNECTIONS, DIRECT_CONNECTIONS_PER_DOMAIN,
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
    let server_given = server.is_some();
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
        deadline: deadline(s, server_given),
        chunking: s.chunking,
        connections: 1,
        verbosity,
        proxy: s.proxy.as_ref().map(|p| p.proxy()).transpose()?,
        ..MailerOptions::new(route)
    })
}

/// The deadline of one message: `deadline`, or for direct delivery
/// `direct_deadline` (its older, direct-only name) when it is set in as
/// high a layer (a `--deadline` flag beats a `direct_deadline` in the
/// account; at the same layer the direct-only one wins).
pub fn deadline(s: &Settings, relay: bool) -> Option<Duration> {
    use super::Source;
    let rank = |key: &str| match s.provenance.source_of(key) {
        Some(Source::Flag) => 0,
        Some(Source::Env(_)) => 1,
        Some(Source::Account(_)) => 2,
        Some(Source::Preset(_)) => 3,
        Some(Source::Default) | None => 4,
    };
    let secs = match (relay, s.direct_deadline) {
        (false, Some(d)) if s.deadline.is_none() || rank("direct_deadline") <= rank("deadline") => {
            Some(d)
        }
        _ => s.deadline,
    };
    secs.map(|d| Duration::from_secs(d.max(1)))
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
