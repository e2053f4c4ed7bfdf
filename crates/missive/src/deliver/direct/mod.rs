//! Direct delivery: each recipient domain's message goes to its MX hosts on
//! port 25, as an MTA would (RFC 5321 §5.1), with a result per recipient.
//!
//! Per domain: look up MX (null MX: fail at once; none: the domain's own
//! addresses), then try each host in order and each of its addresses. A
//! connection failure, a TLS failure under a required policy, or a 4xx at
//! the greeting, EHLO or MAIL moves on to the next; a 5xx there is final.
//! With DNSSEC, a secure MX answer and secure TLSA records make TLS to a
//! host mandatory and checked against them (DANE, RFC 7672; see
//! [`super::dane`]); a bogus answer is a temporary failure, never a
//! downgrade. Domains are delivered concurrently: at most `Direct::connections`
//! connections at once over all domains, and `Direct::connections_per_domain`
//! to one domain, whose recipients go 100 to a transaction (the least a
//! server must take, RFC 5321 §4.5.3.1.8).

use std::net::IpAddr;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use missive_smtp::{Reply, ReplyCode};
use tokio::sync::Semaphore;

use super::anchors::Anchors;
use super::dane::{self, HostDane};
use super::dns::{Dns, Hickory, LookupError, Security};
use super::engine::Engine;
use super::mta_sts::{self, FetchTrust, Mode};
use super::mx::{self, MxHost, Route};
use super::{Attempt, Direct, Hop, Outcome, RecipientOutcome, Status};
use crate::error::{AppError, Result};
use crate::message::Mail;
use crate::transport::session::OnCommit;
use crate::transport::transcript::Transcript;

mod attempt;

use attempt::try_address;

/// Recipients in one transaction: the least every server must accept.
const RCPTS_PER_TRANSACTION: usize = 100;

/// Per-address connect timeout: a dead address family must not cost the
/// full connect timeout of every host.
const ADDRESS_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

impl Attempt {
    fn at(host: &str, ip: IpAddr, error: String) -> Attempt {
        Attempt {
            host: host.to_string(),
            ip: Some(ip.to_string()),
            error,
        }
    }
}

/// Shared by every domain's delivery.
struct Context<'a, 'h> {
    engine: &'a Engine,
    direct: &'a Direct,
    mail: &'a Mail,
    on_commit: &'a OnCommit<'h>,
    transcript: Transcript,
    seed: u64,
    /// Why DNSSEC is not validated when it was meant to be (the report's note).
    dnssec_note: Option<String>,
    /// When the whole delivery must be over.
    deadline: Instant,
    /// How long it was given.
    allowed: Duration,
}

/// Delivers `mail` to each recipient domain's MX hosts, a few domains at a time.
pub(super) async fn deliver(
    engine: &Engine,
    direct: &Direct,
    mail: &Mail,
    on_commit: &OnCommit<'_>,
) -> Result<Outcome> {
    let allowed = engine.options.deadline_for(mail.message.size());
    let anchors = Anchors::from_setting(
        direct.dnssec_trust_anchor.as_deref(),
        direct.dns_server.as_deref(),
    );
    let dns = Hickory::with_anchors(direct.dns_server.as_deref(), &anchors).await?;
    let ctx = Context {
        engine,
        direct,
        mail,
        on_commit,
        transcript: Transcript {
            progress_over: engine.options.progress_over,
            ..Transcript::new(engine.options.verbosity)
        },
        seed: mx::random_seed(),
        dnssec_note: dns.note.clone(),
        deadline: Instant::now() + allowed,
        allowed,
    };
    let global = Semaphore::new(direct.connections.max(1));
    let groups = mx::group_by_domain(&mail.envelope.to);
    if mail.envelope.require_tls {
        require_tls_policies(&dns, &ctx, &groups).await?;
    }
    let per_domain: Vec<Semaphore> = groups
        .iter()
        .map(|_| Semaphore::new(direct.connections_per_domain.max(1)))
        .collect();
    // One job per transaction, in the order of the recipients' domains.
    let jobs = groups.iter().enumerate().flat_map(|(i, (domain, rcpts))| {
        rcpts
            .chunks(RCPTS_PER_TRANSACTION)
            .map(move |chunk| (i, domain, chunk))
    });
    let per_domain = join_all(jobs.map(|(i, domain, rcpts)| {
        let (dns, ctx, global, own) = (&dns, &ctx, &global, &per_domain[i]);
        async move {
            // The domain's turn first, so that no global permit waits on a busy domain.
            let _domain = own.acquire().await;
            let _global = global.acquire().await;
            deliver_domain(dns, ctx, domain, rcpts).await
        }
    }))
    .await;
    Ok(Outcome {
        recipients: per_domain.into_iter().flatten().collect(),
        ..Outcome::default()
    })
}

/// REQUIRETLS by direct delivery (RFC 8689 §4.2.1): every recipient domain
/// needs a policy that makes TLS verified and mandatory: MTA-STS enforce,
/// or DANE for every MX host. Checked for all domains before anything is
/// sent; the answers are cached for the delivery itself, which uses only
/// the hosts such a policy vouches for.
async fn require_tls_policies<D: Dns>(
    dns: &D,
    ctx: &Context<'_, '_>,
    groups: &[(String, Vec<String>)],
) -> Result<()> {
    let trust = FetchTrust {
        cafile: ctx.engine.options.trust.cafile.clone(),
    };
    for (domain, _) in groups {
        let left = ctx.deadline.saturating_duration_since(Instant::now());
        let applied = tokio::time::timeout(left, mta_sts::applied(dns, domain, &trust))
            .await
            .unwrap_or_else(|_| mta_sts::Applied {
                policy: None,
                note: Some("the lookup ran past the delivery deadline".into()),
            });
        if applied.policy.as_ref().map(|p| p.mode) == Some(Mode::Enforce) {
            continue;
        }
        let left = ctx.deadline.saturating_duration_since(Instant::now());
        let dane = tokio::time::timeout(left, dane::every_host_verified(dns, domain))
            .await
            .unwrap_or_else(|_| Err("the lookup ran past the delivery deadline".into()));
        if let Err(why) = dane {
            return Err(AppError::Refused(
                format!(
                    "--require-tls: {domain} has no MTA-STS enforce policy{} and no DANE for every MX host ({why}), so TLS to its MX hosts cannot be required and verified; nothing was sent",
                    applied.note.map(|n| format!(" ({n})")).unwrap_or_default()
                ),
                crate::error::exit::NOPERM,
            ));
        }
    }
    Ok(())
}

/// Everyone in `rcpts` gets the same failure.
fn fail_all(
    rcpts: &[String],
    domain: &str,
    why: &str,
    status: Status,
    reply: Option<&Reply>,
    attempts: Vec<Attempt>,
) -> Vec<RecipientOutcome> {
    rcpts
        .iter()
        .map(|r| RecipientOutcome {
            address: r.clone(),
            status,
            reply: reply.cloned(),
            reason: Some(why.to_string()),
            hop: Some(Hop {
                domain: domain.to_string(),
                attempts: attempts.clone(),
                ..Hop::default()
            }),
        })
        .collect()
}

/// What one attempt at one address came to.
enum Try {
    /// The transaction ran: per-recipient results.
    Done(Vec<RecipientOutcome>),
    /// Leave this address (and with `next_host`, the rest of this host's).
    Next { why: String, next_host: bool },
    /// A 5xx before any recipient: final for the whole domain.
    Final { why: String, reply: Reply },
}

/// Each outcome's hop names the policy that applied (unless the hop
/// already says: a host delivered to under DANE).
fn with_policy(
    mut fates: Vec<RecipientOutcome>,
    label: &str,
    note: Option<&str>,
) -> Vec<RecipientOutcome> {
    for f in &mut fates {
        if let Some(hop) = f.hop.as_mut() {
            if hop.policy.is_empty() {
                hop.policy = label.to_string();
            }
            hop.policy_note = note.map(str::to_string);
        }
    }
    fates
}

async fn deliver_domain<D: Dns>(
    dns: &D,
    ctx: &Context<'_, '_>,
    domain: &str,
    rcpts: &[String],
) -> Vec<RecipientOutcome> {
    // The TLSA records of MX hosts count only when the MX answer is secure
    // (RFC 7672 §2.2.1); with no MX the domain is its own host.
    let (dane_allowed, answer) = match within(ctx, domain, dns.mx_validated(domain)).await {
        Ok((security, r)) => (security == Security::Secure, Ok(r)),
        Err(e @ LookupError::NoData(_)) => (true, Err(e)),
        Err(e) => (false, Err(e)),
    };
    let trust = FetchTrust {
        cafile: ctx.engine.options.trust.cafile.clone(),
    };
    // Only for a domain that has somewhere to deliver; bounded by the
    // delivery deadline like every lookup.
    let left = ctx.deadline.saturating_duration_since(Instant::now());
    let applied = match &answer {
        Ok(_) | Err(LookupError::NoData(_)) => {
            tokio::time::timeout(left, mta_sts::applied(dns, domain, &trust))
                .await
                .unwrap_or_else(|_| mta_sts::Applied {
                    policy: None,
                    note: Some("MTA-STS lookup cut short by the delivery deadline".into()),
                })
        }
        Err(_) => mta_sts::Applied::default(),
    };
    let label = applied.policy.as_ref().map_or("none", |p| p.label());
    let mut report = Report {
        note: ctx.dnssec_note.clone(),
        dane_allowed,
        dane_seen: false,
    };
    if let Some(n) = &applied.note {
        push_note(&mut report.note, n);
    }
    let fates = deliver_hosts(dns, ctx, domain, rcpts, answer, &applied, &mut report).await;
    let label = match report.dane_seen {
        true => "dane",
        false => label,
    };
    with_policy(fates, label, report.note.as_deref())
}

/// What one domain's delivery learns on the way, for its outcomes.
struct Report {
    note: Option<String>,
    /// The MX answer was secure (or there was none): TLSA records count.
    dane_allowed: bool,
    /// Some host had secure TLSA records (or a failed TLSA lookup).
    dane_seen: bool,
}

async fn deliver_hosts<D: Dns>(
    dns: &D,
    ctx: &Context<'_, '_>,
    domain: &str,
    rcpts: &[String],
    answer: std::result::Result<Vec<(u16, String)>, LookupError>,
    applied: &mta_sts::Applied,
    report: &mut Report,
) -> Vec<RecipientOutcome> {
    let note = &mut report.note;
    let hosts = match mx::route(domain, answer, ctx.seed) {
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
                Status::Refused,
                Some(&reply),
                Vec::new(),
            );
        }
        Ok(Route::Implicit(d)) => vec![MxHost {
            preference: 0,
            name: super::dns::ascii_domain(&d),
        }],
        Ok(Route::Hosts(h)) => h,
        Err(e @ LookupError::NxDomain(_)) => {
            return fail_all(
                rcpts,
                domain,
                &e.to_string(),
                Status::NoSuchDomain,
                None,
                Vec::new(),
            )
        }
        Err(e) => {
            return fail_all(
                rcpts,
                domain,
                &e.to_string(),
                Status::Deferred,
                None,
                Vec::new(),
            )
        }
    };
    let mode = applied.policy.as_ref().map_or(Mode::None, |p| p.mode);
    let mut hosts = hosts;
    if let Some(p) = applied.policy.as_ref().filter(|p| p.mode != Mode::None) {
        let (allowed, other): (Vec<MxHost>, Vec<MxHost>) =
            hosts.into_iter().partition(|h| p.allows(&h.name));
        if !other.is_empty() {
            let names: Vec<&str> = other.iter().map(|h| h.name.as_str()).collect();
            let what = format!(
                "MX {} not in the policy's mx ({})",
                names.join(", "),
                p.mx.join(", ")
            );
            push_note(
                note,
                &match mode {
                    Mode::Testing => format!("enforce would refuse: {what}"),
                    _ => what,
                },
            );
        }
        hosts = match mode {
            Mode::Enforce => allowed,
            _ => {
                let mut all = allowed;
                all.extend(other);
                all.sort_by_key(|h| h.preference);
                all
            }
        };
        if hosts.is_empty() {
            let why = format!(
                "MTA-STS (enforce): no MX host of {domain} matches the policy's mx ({}); not delivered",
                p.mx.join(", ")
            );
            return fail_all(rcpts, domain, &why, Status::Deferred, None, Vec::new());
        }
    }
    let mut attempts = Vec::new();
    for host in &hosts {
        let dane = match report.dane_allowed {
            true => within(ctx, &host.name, dane::host_dane(dns, &host.name)).await,
            false => Ok(HostDane::None),
        };
        let dane = match dane {
            Ok(d) => d,
            Err(e) => {
                report.dane_seen = true;
                attempts.push(Attempt {
                    host: host.name.clone(),
                    ip: None,
                    error: dane::lookup_failed(&host.name, &e),
                });
                continue;
            }
        };
        // REQUIRETLS: only hosts that DANE or MTA-STS enforce authenticate
        // (RFC 8689 §4.2.1), whatever else the checks before sending saw
        if ctx.mail.envelope.require_tls
            && mode != Mode::Enforce
            && !matches!(dane, HostDane::Verify(_))
        {
            attempts.push(Attempt {
                host: host.name.clone(),
                ip: None,
                error:
                    "skipped: REQUIRETLS: neither DANE nor MTA-STS enforce authenticates this host"
                        .into(),
            });
            continue;
        }
        report.dane_seen |= dane.applies();
        if let Some(what) = dane.describe() {
            ctx.transcript
                .info(&format!("[{domain}] {}: DANE: {what}", host.name));
        }
        if let HostDane::EncryptOnly(records) = &dane {
            push_note(
                &mut report.note,
                &dane::encrypt_only_note(&host.name, records),
            );
        }
        let note = &mut report.note;
        let addrs = match within(ctx, &host.name, dns.addrs(&host.name)).await {
            Ok(a) => crate::transport::net::interleave(&a, |ip| *ip),
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
            if Instant::now() >= ctx.deadline {
                let why = format!(
                    "not delivered within the delivery deadline ({} s){}",
                    ctx.allowed.as_secs(),
                    attempts
                        .last()
                        .map(|a: &Attempt| format!("; last: {}: {}", a.host, a.error))
                        .unwrap_or_default()
                );
                return fail_all(rcpts, domain, &why, Status::Deferred, None, attempts);
            }
            match try_address(ctx, domain, &host.name, ip, rcpts, &attempts, mode, &dane).await {
                Try::Done(fates) => {
                    let hop = fates.first().and_then(|f| f.hop.as_ref());
                    if let Some(h) = hop.filter(|h| {
                        mode == Mode::Testing && !dane.applies() && !(h.tls && h.tls_verified)
                    }) {
                        let why = h.tls_problem.as_deref().unwrap_or("no verified TLS");
                        push_note(note, &format!("enforce would refuse {}: {why}", host.name));
                    }
                    return fates;
                }
                Try::Final { why, reply } => {
                    attempts.push(Attempt::at(&host.name, ip, why.clone()));
                    let why = format!("{} said {why}", host.name);
                    return fail_all(rcpts, domain, &why, Status::Refused, Some(&reply), attempts);
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
    fail_all(rcpts, domain, &why, Status::Deferred, None, attempts)
}

fn push_note(note: &mut Option<String>, more: &str) {
    *note = Some(match note.take() {
        Some(n) => format!("{n}; {more}"),
        None => more.to_string(),
    });
}

/// A DNS lookup, cut short (a temporary failure) by the overall deadline.
async fn within<T>(
    ctx: &Context<'_, '_>,
    name: &str,
    lookup: impl std::future::Future<Output = std::result::Result<T, LookupError>>,
) -> std::result::Result<T, LookupError> {
    let left = ctx.deadline.saturating_duration_since(Instant::now());
    tokio::time::timeout(left, lookup)
        .await
        .unwrap_or_else(|_| {
            Err(LookupError::Temporary(
                name.to_string(),
                "the delivery deadline ran out".into(),
            ))
        })
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
        let out: Vec<String> = crate::transport::net::interleave(&a, |ip| *ip)
            .iter()
            .map(|i| i.to_string())
            .collect();
        assert_eq!(out, vec!["::1", "127.0.0.1", "::2"]);
    }
}
