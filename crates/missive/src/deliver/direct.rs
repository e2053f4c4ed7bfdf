//! Direct delivery: each recipient domain's message goes to its MX hosts on
//! port 25, as an MTA would (RFC 5321 §5.1), with a result per recipient.
//!
//! Per domain: look up MX (null MX: fail at once; none: the domain's own
//! addresses), then try each host in order and each of its addresses. A
//! connection failure, a TLS failure under a required policy, or a 4xx at
//! the greeting, EHLO or MAIL moves on to the next; a 5xx there is final.
//! Domains are delivered concurrently, a few at a time.

use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::time::Duration;

use missive_smtp::client::TlsMode;
use missive_smtp::{Envelope, Error as Smtp, Reply, ReplyCode};
use serde::Serialize;
use tokio::sync::Semaphore;

use crate::dns::{Dns, Hickory, LookupError};
use crate::error::{exit, AppError, Result};
use crate::mx::{self, MxHost, Route};
use crate::net::ServerAddr;
use crate::send::{Prepared, RecipientReport, Report};
use crate::session::{Session, SessionOptions};
use crate::transcript::Transcript;

/// Domains delivered at the same time.
const PARALLEL_DOMAINS: usize = 8;

/// Per-address connect timeout: a dead address family must not cost the
/// full connect timeout of every host.
const ADDRESS_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How a recipient's domain was reached, for `--json`.
#[derive(Debug, Clone, Serialize, Default)]
pub struct DirectDetail {
    pub domain: String,
    /// The MX host that gave the final answer, if one did.
    pub mx: Option<String>,
    pub ip: Option<String>,
    /// The hop was encrypted (STARTTLS).
    pub tls: bool,
    /// The server's certificate verified (meaningful only with `tls`).
    pub tls_verified: bool,
    /// Why it did not verify (opportunistic TLS goes on regardless).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_problem: Option<String>,
    /// Each host and address tried before, and why it was left.
    pub attempts: Vec<Attempt>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Attempt {
    pub host: String,
    pub ip: Option<String>,
    pub error: String,
}

impl Attempt {
    fn at(host: &str, ip: IpAddr, error: String) -> Attempt {
        Attempt {
            host: host.to_string(),
            ip: Some(ip.to_string()),
            error,
        }
    }
}

/// One recipient's fate in direct delivery.
struct Fate {
    report: RecipientReport,
    /// The exit code this recipient alone would give.
    exit: i32,
    /// The one line printed when it failed.
    line: Option<String>,
}

/// Shared by every domain's delivery.
struct Context {
    prepared: Prepared,
    transcript: Transcript,
    seed: u64,
}

pub async fn deliver(
    p: Prepared,
    transcript: Transcript,
    report: &mut Report,
    quiet: bool,
) -> Result<()> {
    let dns = Rc::new(Hickory::new(p.dns_server.as_deref())?);
    let groups = mx::group_by_domain(&p.envelope.to);
    let ctx = Rc::new(Context {
        prepared: p,
        transcript,
        seed: mx::random_seed(),
    });
    let limit = Rc::new(Semaphore::new(PARALLEL_DOMAINS));
    let local = tokio::task::LocalSet::new();
    let fates: Vec<Vec<Fate>> = local
        .run_until(async {
            let handles: Vec<_> = groups
                .into_iter()
                .map(|(domain, rcpts)| {
                    let (dns, ctx, limit) = (dns.clone(), ctx.clone(), limit.clone());
                    tokio::task::spawn_local(async move {
                        let _permit = limit.acquire().await;
                        deliver_domain(&*dns, &ctx, &domain, &rcpts).await
                    })
                })
                .collect();
            let mut all = Vec::new();
            for h in handles {
                all.push(h.await.unwrap_or_default());
            }
            all
        })
        .await;

    let mut worst = exit::OK;
    let mut failed = 0;
    let total: usize = fates.iter().map(Vec::len).sum();
    for fate in fates.into_iter().flatten() {
        if let Some(line) = &fate.line {
            eprintln!("missive: {line}");
            failed += 1;
        } else if !quiet {
            let d = fate.report.direct.as_ref();
            println!(
                "sent {} to {} via {}[{}]",
                ctx.prepared.message_id,
                fate.report.address,
                d.and_then(|d| d.mx.as_deref()).unwrap_or("?"),
                d.and_then(|d| d.ip.as_deref()).unwrap_or("?"),
            );
        }
        worst = worse(worst, fate.exit);
        report.recipients.push(fate.report);
    }
    if failed == 0 {
        return Ok(());
    }
    // A provider address sent directly is often refused or blocked: say how to use the provider.
    if let Some((key, preset)) = crate::presets::for_address(&ctx.prepared.envelope.from) {
        let hint = format!(
            "{} is a {} address: to send through its server, use --preset {key} (it needs {})",
            ctx.prepared.envelope.from, preset.name, preset.note
        );
        eprintln!("hint: {hint}");
        report.hint = Some(hint);
    }
    let msg = if failed == total {
        format!("the message was not delivered to any of the {total} recipient(s)")
    } else {
        format!("{failed} of {total} recipients not delivered; the others were")
    };
    Err(AppError::Refused(msg, worst))
}

/// Permanent beats temporary: 69/68 over 75 over 0.
fn worse(a: i32, b: i32) -> i32 {
    let rank = |c: i32| match c {
        exit::OK => 0,
        exit::TEMPFAIL => 1,
        exit::NOHOST => 2,
        _ => 3,
    };
    if rank(b) > rank(a) {
        b
    } else {
        a
    }
}

/// Everyone in `rcpts` gets the same failure.
fn fail_all(
    rcpts: &[String],
    domain: &str,
    why: &str,
    code: i32,
    reply: Option<&Reply>,
    attempts: Vec<Attempt>,
) -> Vec<Fate> {
    rcpts
        .iter()
        .map(|r| {
            let mut report = RecipientReport::from_reply(r, false, reply);
            if reply.is_none() {
                report.text = Some(why.to_string());
            }
            report.direct = Some(DirectDetail {
                domain: domain.to_string(),
                attempts: attempts.clone(),
                ..DirectDetail::default()
            });
            Fate {
                report,
                exit: code,
                line: Some(format!("{r} not delivered: {why}")),
            }
        })
        .collect()
}

/// What one attempt at one address came to.
enum Try {
    /// The transaction ran: per-recipient results.
    Done(Vec<Fate>),
    /// Leave this address (and with `next_host`, the rest of this host's).
    Next { why: String, next_host: bool },
    /// A 5xx before any recipient: final for the whole domain.
    Final { why: String, reply: Reply },
}

async fn deliver_domain<D: Dns>(
    dns: &D,
    ctx: &Context,
    domain: &str,
    rcpts: &[String],
) -> Vec<Fate> {
    let hosts = match mx::route(domain, dns.mx(domain).await, ctx.seed) {
        Ok(Route::Null) => {
            let reply = Reply::new(
                ReplyCode::new(556).expect("valid code"),
                &format!("5.1.10 {domain} accepts no mail (null MX, RFC 7505)"),
            );
            let why = reply.summary();
            return fail_all(
                rcpts,
                domain,
                &why,
                exit::UNAVAILABLE,
                Some(&reply),
                Vec::new(),
            );
        }
        Ok(Route::Implicit(d)) => vec![MxHost {
            preference: 0,
            name: d,
        }],
        Ok(Route::Hosts(h)) => h,
        Err(e @ LookupError::NxDomain(_)) => {
            return fail_all(
                rcpts,
                domain,
                &e.to_string(),
                exit::NOHOST,
                None,
                Vec::new(),
            )
        }
        Err(e) => {
            return fail_all(
                rcpts,
                domain,
                &e.to_string(),
                exit::TEMPFAIL,
                None,
                Vec::new(),
            )
        }
    };
    let mut attempts = Vec::new();
    for host in &hosts {
        let addrs = match dns.addrs(&host.name).await {
            Ok(a) => crate::net::interleave(&a, |ip| *ip),
            Err(e) => {
                attempts.push(Attempt {
                    host: host.name.clone(),
                    ip: None,
                    error: format!("skipped: {e}"),
                });
                continue;
            }
        };
        for ip in addrs {
            match try_address(ctx, domain, &host.name, ip, rcpts, &attempts).await {
                Try::Done(fates) => return fates,
                Try::Final { why, reply } => {
                    attempts.push(Attempt::at(&host.name, ip, why.clone()));
                    let why = format!("{} said {why}", host.name);
                    return fail_all(
                        rcpts,
                        domain,
                        &why,
                        exit::UNAVAILABLE,
                        Some(&reply),
                        attempts,
                    );
                }
                Try::Next { why, next_host } => {
                    attempts.push(Attempt::at(&host.name, ip, why));
                    if next_host {
                        break;
                    }
                }
            }
        }
    }
    let last = attempts
        .last()
        .map_or("no usable MX host".to_string(), |a| {
            format!(
                "{}{}: {}",
                a.host,
                a.ip.as_ref().map(|i| format!("[{i}]")).unwrap_or_default(),
                a.error
            )
        });
    let why = format!("every MX host failed; last: {last}");
    fail_all(rcpts, domain, &why, exit::TEMPFAIL, None, attempts)
}

async fn try_address(
    ctx: &Context,
    domain: &str,
    host: &str,
    ip: IpAddr,
    rcpts: &[String],
    attempts: &[Attempt],
) -> Try {
    let p = &ctx.prepared;
    let mut tls = p.smtp.tls;
    loop {
        let mut transcript = ctx.transcript.clone();
        transcript.prefix = format!("[{domain}] ");
        let mut smtp = p.smtp.clone();
        smtp.tls = tls;
        smtp.server_host = host.to_string();
        smtp.server_port = p.mx_port;
        let opts = SessionOptions {
            server: ServerAddr {
                host: host.to_string(),
                port: p.mx_port,
            },
            addrs: vec![SocketAddr::new(ip, p.mx_port)],
            connect_timeout: ADDRESS_CONNECT_TIMEOUT,
            smtp,
            // Port 25: opportunistic TLS tolerates certificate problems and reports them.
            tls: if tls == TlsMode::Opportunistic {
                p.tls.tolerant()
            } else {
                p.tls.clone()
            },
            timeout: p.timeout,
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
            ..p.envelope.clone()
        };
        let outcome = match session.send_mail(envelope, &mut p.message.open()).await {
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
        let detail = DirectDetail {
            domain: domain.to_string(),
            mx: Some(host.to_string()),
            ip: Some(ip.to_string()),
            tls: tls_info.is_some(),
            tls_verified: tls_info.as_ref().is_some_and(|t| t.verified),
            tls_problem: tls_info.as_ref().and_then(|t| t.problem.clone()),
            attempts: attempts.to_vec(),
        };
        let fates = outcome
            .recipients()
            .into_iter()
            .map(|r| {
                let mut report = RecipientReport::from_reply(r.address, r.accepted, r.reply);
                report.direct = Some(detail.clone());
                let (exit_code, line) = match (r.accepted, r.reply) {
                    (true, _) => (exit::OK, None),
                    (false, reply) => {
                        let transient = reply.is_some_and(|x| x.code.is_transient());
                        let why = reply.map_or("no reply".into(), Reply::summary);
                        (
                            crate::error::reply_code_exit(transient),
                            Some(format!("{} refused by {host}: {why}", r.address)),
                        )
                    }
                };
                Fate {
                    report,
                    exit: exit_code,
                    line,
                }
            })
            .collect();
        return Try::Done(fates);
    }
}

/// Whether an error at one address means trying the next, or stopping.
fn leave(e: AppError) -> Try {
    let why = e.to_string();
    match e {
        AppError::Smtp(Smtp::Rejected { reply, .. }) if reply.code.is_permanent() => {
            Try::Final { why, reply }
        }
        AppError::Smtp(
            Smtp::Rejected { .. }
            | Smtp::ServiceClosing(_)
            | Smtp::TlsUnavailable
            | Smtp::StartTlsRefused(_),
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

impl Default for Fate {
    fn default() -> Self {
        Fate {
            report: RecipientReport::default(),
            exit: exit::SOFTWARE,
            line: Some("internal error: a delivery task failed".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interleaves_families() {
        let a: Vec<IpAddr> = ["::1", "::2", "127.0.0.1"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        let out: Vec<String> = crate::net::interleave(&a, |ip| *ip)
            .iter()
            .map(|i| i.to_string())
            .collect();
        assert_eq!(out, vec!["::1", "127.0.0.1", "::2"]);
    }

    #[test]
    fn permanent_beats_temporary() {
        assert_eq!(worse(exit::TEMPFAIL, exit::UNAVAILABLE), exit::UNAVAILABLE);
        assert_eq!(worse(exit::UNAVAILABLE, exit::TEMPFAIL), exit::UNAVAILABLE);
        assert_eq!(worse(exit::OK, exit::TEMPFAIL), exit::TEMPFAIL);
        assert_eq!(worse(exit::NOHOST, exit::UNAVAILABLE), exit::UNAVAILABLE);
    }
}
