//! `missive mx DOMAIN…`: the hosts missive would try, in order, with their
//! addresses; null MX and implicit MX said plainly.

use serde::Serialize;

use crate::cli::MxArgs;
use crate::deliver::dns::{Dns, Hickory, LookupError};
use crate::deliver::mx::{self, Route};
use crate::deliver::Status;
use crate::error::{AppError, Result};

#[derive(Debug, Serialize)]
struct DomainReport {
    domain: String,
    /// "mx", "implicit", "null", or "error".
    kind: &'static str,
    hosts: Vec<HostReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

#[derive(Debug, Serialize)]
struct HostReport {
    preference: u16,
    host: String,
    addresses: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<String>,
}

pub(super) async fn run(args: MxArgs) -> Result<()> {
    let dns = Hickory::new(args.dns_server.as_deref())?;
    let mut reports = Vec::new();
    let mut worst = Status::Accepted;
    for domain in &args.domains {
        let domain = domain.trim_end_matches('.').to_lowercase();
        let report = match mx::route(&domain, dns.mx(&domain).await, mx::random_seed()) {
            Ok(Route::Null) => DomainReport {
                domain,
                kind: "null",
                hosts: vec![],
                error: None,
            },
            Ok(Route::Implicit(d)) => DomainReport {
                kind: "implicit",
                hosts: vec![host(&dns, 0, &d).await],
                domain,
                error: None,
            },
            Ok(Route::Hosts(list)) => {
                let mut hosts = Vec::new();
                for h in list {
                    hosts.push(host(&dns, h.preference, &h.name).await);
                }
                DomainReport {
                    domain,
                    kind: "mx",
                    hosts,
                    error: None,
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

async fn host(dns: &Hickory, preference: u16, name: &str) -> HostReport {
    let (addresses, note) = match dns.addrs(name).await {
        Ok(a) => (a.iter().map(|i| i.to_string()).collect(), None),
        Err(e) => (vec![], Some(format!("skipped: {e}"))),
    };
    HostReport {
        preference,
        host: name.to_string(),
        addresses,
        note,
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
    }
}
