//! DNS for direct delivery, behind a small trait: hickory-resolver's API
//! moves between releases, and tests want answers without a resolver.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig};
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::RData;
use hickory_resolver::TokioResolver;

use crate::error::{AppError, Result};

/// Why a lookup gave no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LookupError {
    /// The name does not exist (NXDOMAIN): permanent.
    #[error("{0}: no such domain (NXDOMAIN)")]
    NxDomain(String),
    /// The name exists with no record of that type.
    #[error("{0}: no records")]
    NoData(String),
    /// SERVFAIL, a timeout, no reachable server: try again later.
    #[error("{0}: DNS lookup failed temporarily ({1})")]
    Temporary(String, String),
}

/// The lookups direct delivery needs.
pub trait Dns {
    /// MX records as (preference, exchange); the root name is `"."`.
    fn mx(
        &self,
        domain: &str,
    ) -> impl std::future::Future<Output = Result<Vec<(u16, String)>, LookupError>>;
    /// A and AAAA addresses, IPv6 first.
    fn addrs(
        &self,
        host: &str,
    ) -> impl std::future::Future<Output = Result<Vec<IpAddr>, LookupError>>;
    /// TXT records, each one's strings joined.
    fn txt(
        &self,
        name: &str,
    ) -> impl std::future::Future<Output = Result<Vec<String>, LookupError>>;
}

/// hickory-resolver, with the system configuration or given servers.
pub struct Hickory {
    resolver: TokioResolver,
}

impl Hickory {
    /// `server`: `IP` or `IP:PORT` (`[v6]:PORT`) of one name server; `None`: the system's.
    pub fn new(server: Option<&str>) -> Result<Hickory> {
        let builder = match server {
            None => TokioResolver::builder_tokio().map_err(|e| {
                AppError::Config(format!("cannot read the system DNS configuration: {e}"))
            })?,
            Some(s) => {
                let addr = parse_dns_server(s)?;
                let mut ns = NameServerConfig::udp_and_tcp(addr.ip());
                ns.connections = vec![ConnectionConfig::udp(), ConnectionConfig::tcp()];
                for c in &mut ns.connections {
                    c.port = addr.port();
                }
                TokioResolver::builder_with_config(
                    ResolverConfig::from_name_servers(vec![ns]),
                    Default::default(),
                )
            }
        };
        let mut builder = builder;
        let opts = builder.options_mut();
        opts.timeout = Duration::from_secs(5);
        opts.attempts = 2;
        let resolver = builder
            .build()
            .map_err(|e| AppError::Config(format!("cannot set up DNS: {e}")))?;
        Ok(Hickory { resolver })
    }
}

/// `IP` (port 53), `IP:PORT` or `[IPv6]:PORT`.
pub fn parse_dns_server(s: &str) -> Result<SocketAddr> {
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, 53));
    }
    s.parse().map_err(|_| {
        AppError::Usage(format!(
            "invalid --dns-server {s:?}: expected IP or IP:PORT"
        ))
    })
}

/// A fully qualified query name, so no search domain is appended.
fn fqdn(name: &str) -> String {
    if name.ends_with('.') {
        name.to_string()
    } else {
        format!("{name}.")
    }
}

fn classify(name: &str, e: NetError) -> LookupError {
    match &e {
        NetError::Dns(DnsError::NoRecordsFound(nr))
            if nr.response_code == ResponseCode::NXDomain =>
        {
            LookupError::NxDomain(name.to_string())
        }
        NetError::Dns(DnsError::NoRecordsFound(nr))
            if nr.response_code == ResponseCode::NoError =>
        {
            LookupError::NoData(name.to_string())
        }
        _ => LookupError::Temporary(name.to_string(), e.to_string()),
    }
}

/// A host name as it goes into the TLS name check and the connection: its
/// ASCII (A-label) form, since an internationalised name in Unicode is not
/// a valid TLS server name.
fn ascii_name(name: &hickory_resolver::proto::rr::Name) -> String {
    name.to_ascii()
}

/// A recipient domain (perhaps Unicode) in its ASCII form, for the implicit MX.
pub fn ascii_domain(domain: &str) -> String {
    match hickory_resolver::proto::rr::Name::from_utf8(domain) {
        Ok(n) => n.to_ascii().trim_end_matches('.').to_string(),
        Err(_) => domain.to_string(),
    }
}

impl Dns for Hickory {
    /// TXT records, each one's strings joined (RFC 6376 §3.6.2.2).
    async fn txt(&self, name: &str) -> Result<Vec<String>, LookupError> {
        let lookup = self
            .resolver
            .txt_lookup(fqdn(name))
            .await
            .map_err(|e| classify(name, e))?;
        Ok(lookup
            .answers()
            .iter()
            .filter_map(|r| match &r.data {
                RData::TXT(t) => Some(
                    t.txt_data
                        .iter()
                        .map(|s| String::from_utf8_lossy(s).into_owned())
                        .collect(),
                ),
                _ => None,
            })
            .collect())
    }

    async fn mx(&self, domain: &str) -> Result<Vec<(u16, String)>, LookupError> {
        let lookup = self
            .resolver
            .mx_lookup(fqdn(domain))
            .await
            .map_err(|e| classify(domain, e))?;
        Ok(lookup
            .answers()
            .iter()
            .filter_map(|r| match &r.data {
                RData::MX(mx) => Some((mx.preference, ascii_name(&mx.exchange))),
                _ => None,
            })
            .collect())
    }

    async fn addrs(&self, host: &str) -> Result<Vec<IpAddr>, LookupError> {
        let name = fqdn(host);
        let (v6, v4) = tokio::join!(
            self.resolver.ipv6_lookup(name.clone()),
            self.resolver.ipv4_lookup(name)
        );
        let mut out = Vec::new();
        let mut errors = Vec::new();
        for result in [v6, v4] {
            match result {
                Ok(l) => out.extend(l.answers().iter().filter_map(|r| match &r.data {
                    RData::A(a) => Some(IpAddr::V4(a.0)),
                    RData::AAAA(a) => Some(IpAddr::V6(a.0)),
                    _ => None,
                })),
                Err(e) => errors.push(classify(host, e)),
            }
        }
        if !out.is_empty() {
            return Ok(out);
        }
        // Both failed or were empty: the most telling reason wins.
        Err(errors
            .iter()
            .find(|e| matches!(e, LookupError::Temporary(..)))
            .or_else(|| {
                errors
                    .iter()
                    .find(|e| matches!(e, LookupError::NxDomain(_)))
            })
            .cloned()
            .unwrap_or_else(|| LookupError::NoData(host.to_string())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_resolver::proto::rr::Name;

    #[test]
    fn internationalised_mx_names_are_used_in_ascii() {
        let name = Name::from_utf8("mx.exämple.test.").unwrap();
        assert_eq!(ascii_name(&name), "mx.xn--exmple-cua.test.");
        assert_eq!(ascii_domain("exämple.test"), "xn--exmple-cua.test");
        assert_eq!(ascii_domain("example.test"), "example.test");
        // The name connects and passes the TLS name check as a server name.
        let host = ascii_name(&name).trim_end_matches('.').to_string();
        assert!(rustls::pki_types::ServerName::try_from(host).is_ok());
    }
}
