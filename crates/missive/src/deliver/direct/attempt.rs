//! One attempt at one address of an MX host: the TLS that the host's
//! policy asks for (DANE, MTA-STS enforce, opportunistic), the session, and
//! what its end means for the next address or host.

use std::net::{IpAddr, SocketAddr};

use missive_smtp::client::TlsMode;
use missive_smtp::{Envelope, Error as Smtp, Reply, ReplyCode};

use super::{Context, Try, ADDRESS_CONNECT_TIMEOUT};
use crate::deliver::dane::HostDane;
use crate::deliver::mta_sts::Mode;
use crate::deliver::{Attempt, Hop, Outcome, RecipientOutcome};
use crate::error::{AppError, Result};
use crate::transport::net::ServerAddr;
use crate::transport::session::{Session, SessionOptions};

#[allow(clippy::too_many_arguments)]
pub(super) async fn try_address(
    ctx: &Context<'_, '_>,
    domain: &str,
    host: &str,
    ip: IpAddr,
    rcpts: &[String],
    attempts: &[Attempt],
    mode: Mode,
    dane: &HostDane,
) -> Try {
    let (opts, p) = (&ctx.engine.options, ctx.direct);
    // DANE (RFC 7672 §2.2) and MTA-STS enforce (RFC 8461 §4.2): STARTTLS,
    // with a certificate that passes, or this host is not used.
    let mut tls = match mode {
        _ if dane.applies() => TlsMode::StartTls,
        Mode::Enforce => TlsMode::StartTls,
        _ => p.tls,
    };
    let dane_tls = dane.tls(host, &ctx.engine.tls);
    // A host under DANE says so in the reason it was left.
    let leave = |e: AppError| match leave(e) {
        Try::Next { why, next_host } if dane.applies() => Try::Next {
            why: format!("DANE: {why}"),
            next_host,
        },
        other => other,
    };
    loop {
        let mut transcript = ctx.transcript.clone();
        transcript.prefix = format!("[{domain}] ");
        // MX hosts are the recipients' servers: no credentials go there.
        let smtp = missive_smtp::client::ClientConfig {
            ehlo_name: opts.ehlo.clone().unwrap_or_default(),
            tls,
            credentials: None,
            mechanism: None,
            allow_plaintext_auth: false,
            server_host: host.to_string(),
            server_port: p.mx_port,
            chunking: opts.chunking,
        };
        let opts = SessionOptions {
            server: ServerAddr {
                host: host.to_string(),
                port: p.mx_port,
            },
            addrs: vec![SocketAddr::new(ip, p.mx_port)],
            connect_timeout: ADDRESS_CONNECT_TIMEOUT,
            smtp,
            // Port 25: opportunistic TLS tolerates certificate problems and reports them.
            tls: match (tls, mode) {
                _ if dane_tls.is_some() => dane_tls.clone().expect("checked"),
                (TlsMode::Opportunistic, _) => ctx.engine.tls.tolerant(),
                // --insecure does not weaken an MTA-STS enforce policy
                (_, Mode::Enforce) if ctx.engine.tls.insecure => match strict(ctx) {
                    Ok(t) => t,
                    Err(e) => return leave(e),
                },
                _ => ctx.engine.tls.clone(),
            },
            timeout: opts.timeout,
            proxy: ctx.engine.options.proxy.clone(),
            deadline: Some(ctx.deadline),
        };
        let mut session = match Session::open(opts, transcript).await {
            Ok(s) => s,
            // An opportunistic handshake that fails: deliver in plaintext, as MTAs do.
            Err(AppError::Tls(why)) if tls == TlsMode::Opportunistic => {
                ctx.transcript
                    .info(&format!("[{domain}] {why}; retrying {host} without TLS"));
                tls = TlsMode::None;
                continue;
            }
            Err(e) => return leave(e),
        };
        let envelope = Envelope {
            to: rcpts.to_vec(),
            ..ctx.mail.envelope.clone()
        };
        let outcome = match session
            .send_mail(envelope, &mut ctx.mail.message.open(), ctx.on_commit)
            .await
        {
            Ok(o) => o,
            Err(e) => {
                session.close_after_error().await;
                return leave(e);
            }
        };
        let tls_info = session.tls.clone();
        session.quit().await;
        if let Some(mail) = outcome.mail.as_ref().filter(|m| !m.code.is_positive()) {
            let why = format!("MAIL FROM: {}", mail.summary());
            return match mail.code.is_transient() {
                true => Try::Next {
                    why,
                    next_host: true,
                },
                false => Try::Final {
                    why,
                    reply: mail.clone(),
                },
            };
        }
        let hop = Hop {
            domain: domain.to_string(),
            mx: Some(host.to_string()),
            ip: Some(ip.to_string()),
            tls: tls_info.is_some(),
            tls_verified: tls_info.as_ref().is_some_and(|t| t.verified),
            tls_problem: tls_info.as_ref().and_then(|t| t.problem.clone()),
            attempts: attempts.to_vec(),
            policy: match dane.applies() {
                true => "dane".into(),
                false => String::new(),
            },
            policy_note: None,
        };
        let results = Outcome::from_transaction(&outcome)
            .into_iter()
            .map(|r| RecipientOutcome {
                hop: Some(hop.clone()),
                ..r
            })
            .collect();
        return Try::Done(results);
    }
}

/// The mailer's trust with certificate checking on, whatever --insecure says.
fn strict(ctx: &Context<'_, '_>) -> Result<crate::transport::tls::TlsContext> {
    let t = &ctx.engine.options.trust;
    crate::transport::tls::TlsContext::new(&crate::transport::tls::TlsOptions {
        cafile: t.cafile.clone(),
        insecure: false,
        no_system_roots: t.no_system_roots,
        extra_roots: t.extra_roots.clone(),
    })
}

/// Whether an error at one address means trying the next, or stopping.
fn leave(e: AppError) -> Try {
    let why = e.to_string();
    match e {
        // The message cannot go to this host as it is (8-bit data without
        // 8BITMIME): conversion required but not supported (RFC 3463).
        AppError::Data(_) => Try::Final {
            reply: Reply::new(
                ReplyCode::new(554).expect("valid code"),
                &format!("5.6.3 {why}"),
            ),
            why,
        },
        AppError::Smtp(Smtp::Rejected { reply, .. }) if reply.code.is_permanent() => {
            Try::Final { why, reply }
        }
        AppError::Smtp(
            Smtp::Rejected { .. }
            | Smtp::ServiceClosing(_)
            | Smtp::TlsUnavailable
            | Smtp::StartTlsRefused(_)
            | Smtp::RequireTls(_),
        ) => Try::Next {
            why,
            next_host: true,
        },
        AppError::Tls(_) | AppError::Smtp(Smtp::Protocol(_) | Smtp::DataBeforeTls) => Try::Next {
            why,
            next_host: true,
        },
        _ => Try::Next {
            why,
            next_host: false,
        },
    }
}
