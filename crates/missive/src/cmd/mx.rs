//! `missive mx DOMAIN…`: the hosts missive would try, in order, with their
//! addresses; null MX and implicit MX said plainly. With DNSSEC validated
//! (the same `--dnssec-trust-anchor` as direct delivery), whether the MX
//! answer is secure and what each host's TLSA records ask (DANE, RFC 7672):
//! what direct delivery would require of the connection to it.

use serde::Serialize;

use crate::cli::MxArgs;
use crate::deliver::dns::{ascii_domain, Dns, Hickory, LookupError, Security};
use crate::deliver::mx::{self, Route};
use crate::deliver::{Anchors, HostDane, Status};
use crate::error::{AppError, Result};

#[derive(Debug, Serialize)]
struct DomainReport {
    domain: String,
    /// "mx", "implicit", "null", or "error".
    kind: &'static str,
    hosts: Vec<HostReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    /// The MX answer: "secure", "insecure" (provably unsigned), "bogus",
    /// "none" (no MX records to judge), or "not-validated" (no trust
    /// anchor; `dnssec_note` says why when one was meant).
    dnssec: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    dnssec_note: Option<String>,
}

#[derive(Debug, Serialize)]
struct HostReport {
    preference: u16,
    host: String,
    addresses: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<String>,
    /// What DANE asks of this host; absent when DANE cannot apply (DNSSEC
    /// not validated, or an insecure MX answer: RFC 7672 §2.2.1).
    #[serde(skip_serializing_if = "Option::is_none")]
    dane: Option<DaneReport>,
}

#[derive(Debug, Serialize)]
struct DaneReport {
    /// "verify" (STARTTLS, certificate checked against `tlsa`),
    /// "encrypt-only" (STARTTLS, every record unusable), "none" (no secure
    /// TLSA records), or "lookup-failed" (the host would not be used).
    status: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tlsa: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
}

pub(super) async fn run(args: MxArgs) -> Result<()> {
    let anchors = Anchors::from_setting(
        args.dnssec_trust_anchor.as_deref(),
        args.dns_server.as_deref(),
    );
    let dns = Hickory::with_anchors(args.dns_server.as_deref(), &anchors).await?;
    let mut reports = Vec::new();
    let mut worst = Status::Accepted;
    for domain in &args.domains {
        let domain = domain.trim_end_matches('.').to_lowercase();
        // The MX answer, and whether its hosts' TLSA records may count.
        let (answer, dnssec) = match dns.validates() {
            true => match dns.mx_validated(&domain).await {
                Ok((security, records)) => (Ok(records), Some(security)),
                Err(e) => (Err(e), None),
            },
            false => (dns.mx(&domain).await, None),
        };
        let dnssec_word = match (dns.validates(), dnssec, &answer) {
            (false, ..) => "not-validated",
            (true, Some(Security::Secure), _) => "secure",
            (true, Some(Security::Insecure), _) => "insecure",
            (true, None, Err(LookupError::Bogus(..))) => "bogus",
            // no MX answer to judge (no records, or no domain)
            (true, None, _) => "none",
        };
        let secure_mx = dnssec == Some(Security::Secure);
        let report = match mx::route(&domain, answer, mx::random_seed()) {
            Ok(Route::Null) => DomainReport {
                domain,
                kind: "null",
                hosts: vec![],
                error: None,
                dnssec: dnssec_word,
                dnssec_note: dns.note.clone(),
            },
            // No MX: the domain is its own host, and its own TLSA lookup
            // decides (RFC 7672 §2.2.1).
            Ok(Route::Implicit(d)) => DomainReport {
                kind: "implicit",
                hosts: vec![host(&dns, 0, &d, dns.validates()).await],
                domain,
                error: None,
                dnssec: dnssec_word,
                dnssec_note: dns.note.clone(),
            },
            Ok(Route::Hosts(list)) => {
                let mut hosts = Vec::new();
                for h in list {
                    hosts.push(host(&dns, h.preference, &h.name, secure_mx).await);
                }
                DomainReport {
                    domain,
                    kind: "mx",
                    hosts,
                    error: None,
                    dnssec: dnssec_word,
                    dnssec_note: dns.note.clone(),
                }
            }
            Err(e) => {
                worst = worst.max(match e {
                    LookupError::NxDomain(_) => Status::NoSuchDomain,
                    _ => Status::Deferred,
                });
                DomainReport {
                    domain,
                    kind: "error",
                    hosts: vec![],
                    error: Some(e.to_string()),
                    dnssec: dnssec_word,
                    dnssec_note: dns.note.clone(),
                }
            }
        };
        reports.push(report);
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&reports).unwrap_or_default()
        );
    } else if !args.quiet {
        for r in &reports {
            print_text(r);
        }
    }
    match worst {
        Status::Accepted => Ok(()),
        status => Err(AppError::Refused(
            "some domains could not be looked up".into(),
            super::report::exit_code(status),
        )),
    }
}

/// One host's addresses, and with `dane`, its TLSA records' verdict.
async fn host(dns: &Hickory, preference: u16, name: &str, dane: bool) -> HostReport {
    let (addresses, note) = match dns.addrs(name).await {
        Ok(a) => (a.iter().map(|i| i.to_string()).collect(), None),
        Err(e) => (vec![], Some(format!("skipped: {e}"))),
    };
    let dane = match dane {
        true => Some(dane_report(dns, name).await),
        false => None,
    };
    HostReport {
        preference,
        host: name.to_string(),
        addresses,
        note,
        dane,
    }
}

async fn dane_report(dns: &Hickory, name: &str) -> DaneReport {
    // In full (the text report shows them shortened).
    let list = |r: &[crate::transport::dane::Tlsa]| r.iter().map(|t| t.presentation()).collect();
    match crate::deliver::host_dane(dns, &ascii_domain(name)).await {
        Ok(d) => {
            let detail = d.describe();
            let (status, tlsa) = match d {
                HostDane::Verify(r) => ("verify", list(&r)),
                HostDane::EncryptOnly(r) => ("encrypt-only", list(&r)),
                HostDane::None => ("none", vec![]),
            };
            DaneReport {
                status,
                tlsa,
                detail,
            }
        }
        Err(e) => DaneReport {
            status: "lookup-failed",
            tlsa: vec![],
            detail: Some(format!(
                "the TLSA lookup for _25._tcp.{name} failed ({e}): direct delivery skips this host, never downgrading (RFC 7672 §2.2)"
            )),
        },
    }
}

fn print_text(r: &DomainReport) {
    match r.kind {
        "null" => println!(
            "{}: null MX (RFC 7505): the domain accepts no mail",
            r.domain
        ),
        "error" => println!(
            "{}: {}",
            r.domain,
            r.error.as_deref().unwrap_or("lookup failed")
        ),
        "implicit" => println!(
            "{}: no MX records; implicit MX (its own addresses):",
            r.domain
        ),
        _ => println!("{}:", r.domain),
    }
    match (r.dnssec, &r.dnssec_note) {
        (_, Some(note)) => println!("  ({note})"),
        (word @ ("secure" | "insecure"), None) => println!("  DNSSEC: the MX answer is {word}"),
        _ => {}
    }
    for h in &r.hosts {
        let addrs = if h.addresses.is_empty() {
            "-".to_string()
        } else {
            h.addresses.join(" ")
        };
        let note = h
            .note
            .as_ref()
            .map(|n| format!("  ({n})"))
            .unwrap_or_default();
        println!("  {:>5} {}  {addrs}{note}", h.preference, h.host);
        if let Some(d) = &h.dane {
            match &d.detail {
                Some(detail) => println!("        DANE: {detail}"),
                None => println!("        DANE: none (no DNSSEC-signed TLSA records)"),
            }
        }
    }
}
