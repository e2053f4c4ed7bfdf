//! DNS for direct delivery, behind a small trait: hickory-resolver's API
//! moves between releases, and tests want answers without a resolver.
//!
//! Direct delivery validates DNSSEC (hickory's validator, ring), with the
//! keys of [`super::anchors`]: by default, with the system's resolver, the
//! IANA root keys built into hickory, if that resolver passes DNSSEC
//! records through (the root's DNSKEY set is checked once; if not, nothing
//! is validated and the report says so, rather than every answer being
//! bogus); with `--dns-server`, only when `--dnssec-trust-anchor FILE|iana`
//! says which keys, since a server given by hand is usually a test server
//! whose zones are unsigned. Without validation every answer is insecure,
//! so DANE never applies. A bogus answer (signatures that do not verify, a
//! proof that cannot be had) is an error, never "insecure" (RFC 7672 §2.1).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig};
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::dnssec::{Proof, TrustAnchors};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::{Name, RData, Record, RecordType};
use hickory_resolver::TokioResolver;

use super::anchors::{self, Anchors};
use crate::error::{AppError, Result};
use crate::transport::dane::Tlsa;

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
    /// DNSSEC validation failed (bogus or indeterminate): try again later,
    /// never treat as unsigned (RFC 7672 §2.1).
    #[error("{0}: the DNSSEC validation of the answer failed ({1}); not used (RFC 7672 §2.1)")]
    Bogus(String, String),
}

/// What DNSSEC says of an answer (RFC 4035 §4.3); bogus is an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// Signed, and the signatures chain to a trust anchor.
    Secure,
    /// Provably unsigned, or not validated at all.
    Insecure,
}

/// An answer and its DNSSEC status.
pub type Validated<T> = Result<(Security, T), LookupError>;

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
    /// [`Dns::mx`] with its DNSSEC status.
    fn mx_validated(
        &self,
        domain: &str,
    ) -> impl std::future::Future<Output = Validated<Vec<(u16, String)>>>;
    /// TLSA records at `name` (`_25._tcp.HOST`) with their DNSSEC status;
    /// none (NXDOMAIN, no data) is an empty list.
    fn tlsa(&self, name: &str) -> impl std::future::Future<Output = Validated<Vec<Tlsa>>>;
}

/// hickory-resolver, with the system configuration or given servers.
pub struct Hickory {
    resolver: TokioResolver,
    /// Answers carry DNSSEC proofs.
    validating: bool,
    /// Why DNSSEC is not validated although it was meant to be ([`Anchors::Auto`]).
    pub note: Option<String>,
}

impl Hickory {
    /// `server`: `IP` or `IP:PORT` (`[v6]:PORT`) of one name server; `None`:
    /// the system's. No DNSSEC validation.
    pub fn new(server: Option<&str>) -> Result<Hickory> {
        Hickory::build(server, None)
    }

    /// As [`Hickory::new`], validating DNSSEC against `anchors` (a file's
    /// DS records are matched to their zones' keys first, through the same DNS).
    pub async fn with_anchors(server: Option<&str>, anchors: &Anchors) -> Result<Hickory> {
        let keys = match anchors {
            Anchors::Off => return Hickory::new(server),
            Anchors::Auto => {
                let dns = Hickory::build(server, Some(TrustAnchors::default()))?;
                return Ok(match dns.root_is_secure().await {
                    Ok(()) => dns,
                    Err(why) => Hickory {
                        note: Some(format!(
                            "DNSSEC not validated, so no DANE: the DNS server does not give a root DNSKEY set that validates with the IANA keys ({why})"
                        )),
                        ..Hickory::new(server)?
                    },
                });
            }
            Anchors::Iana => TrustAnchors::default(),
            Anchors::File(p) => {
                let file = anchors::read(p)?;
                match file.ds.is_empty() {
                    true => file.keys,
                    false => file.resolve(&Hickory::new(server)?.resolver).await?,
                }
            }
        };
        Hickory::build(server, Some(keys))
    }

    /// Whether answers are DNSSEC-validated (a trust anchor is in use).
    pub fn validates(&self) -> bool {
        self.validating
    }

    fn build(server: Option<&str>, anchors: Option<TrustAnchors>) -> Result<Hickory> {
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
        let validating = anchors.is_some();
        let mut builder = match anchors {
            None => builder,
            Some(keys) => builder.with_trust_anchor(Arc::new(keys)),
        };
        let opts = builder.options_mut();
        opts.timeout = Duration::from_secs(5);
        opts.attempts = 2;
        let resolver = builder
            .build()
            .map_err(|e| AppError::Config(format!("cannot set up DNS: {e}")))?;
        Ok(Hickory {
            resolver,
            validating,
            note: None,
        })
    }

    /// Whether DNSSEC validation works through this DNS at all: the root's
    /// DNSKEY set validates against the trust anchors. A resolver that
    /// drops DNSSEC records (or refuses the query) fails here, and would
    /// make every answer bogus.
    async fn root_is_secure(&self) -> std::result::Result<(), String> {
        let lookup = tokio::time::timeout(
            Duration::from_secs(10),
            self.resolver.lookup(Name::root(), RecordType::DNSKEY),
        )
        .await
        .map_err(|_| "no answer within 10 s".to_string())?
        .map_err(|e| e.to_string())?;
        let proofs: Vec<Proof> = lookup
            .answers()
            .iter()
            .filter(|r| r.record_type() == RecordType::DNSKEY)
            .map(|r| r.proof)
            .collect();
        match security_of(".", proofs.iter().copied(), true) {
            Ok(Security::Secure) if !proofs.is_empty() => Ok(()),
            Ok(_) => Err("not signed".into()),
            Err(e) => Err(e.to_string()),
        }
    }
}

/// The proofs of the aliases (CNAME records) an answer went through: every
/// one counts in the answer's security (RFC 7672 §2.1.3), so an unsigned
/// link makes it insecure and a bogus one bogus.
fn alias_proofs(answers: &[Record]) -> impl Iterator<Item = Proof> + '_ {
    answers
        .iter()
        .filter(|r| matches!(r.data, RData::CNAME(_)))
        .map(|r| r.proof)
}

/// The status of an RRset from its records' proofs: any bogus or
/// indeterminate record spoils it (RFC 4035 §5).
fn security_of(
    name: &str,
    proofs: impl Iterator<Item = Proof>,
    validating: bool,
) -> Result<Security, LookupError> {
    if !validating {
        // hickory leaves the proof of unvalidated records indeterminate
        return Ok(Security::Insecure);
    }
    let mut all_secure = true;
    for p in proofs {
        match p {
            Proof::Secure => {}
            Proof::Insecure => all_secure = false,
            other => return Err(LookupError::Bogus(name.to_string(), other.to_string())),
        }
    }
    Ok(match all_secure {
        true => Security::Secure,
        false => Security::Insecure,
    })
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
        // hickory 0.26 turns a bogus answer, positive or negative, into DnssecBogus
        NetError::Dns(DnsError::DnssecBogus) => {
            LookupError::Bogus(
                name.to_string(),
                "bogus or indeterminate: signatures that do not verify, or a chain of trust that could not be fetched".into(),
            )
        }
        // a denial whose proof is not secure: provably unsigned (NSEC3
        // opt-out, too many iterations) is a plain denial; anything else is bogus
        NetError::Dns(DnsError::Nsec {
            proof, response, ..
        }) => match proof {
            Proof::Insecure if response.response_code == ResponseCode::NXDomain => {
                LookupError::NxDomain(name.to_string())
            }
            Proof::Insecure => LookupError::NoData(name.to_string()),
            other => LookupError::Bogus(name.to_string(), format!("{other} denial of existence")),
        },
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
        self.mx_validated(domain).await.map(|(_, r)| r)
    }

    async fn mx_validated(&self, domain: &str) -> Validated<Vec<(u16, String)>> {
        let lookup = self
            .resolver
            .mx_lookup(fqdn(domain))
            .await
            .map_err(|e| classify(domain, e))?;
        let mut proofs = Vec::new();
        let records = lookup
            .answers()
            .iter()
            .filter_map(|r| match &r.data {
                RData::MX(mx) => {
                    proofs.push(r.proof);
                    Some((mx.preference, ascii_name(&mx.exchange)))
                }
                _ => None,
            })
            .collect();
        let proofs = proofs.into_iter().chain(alias_proofs(lookup.answers()));
        let security = security_of(domain, proofs, self.validating)?;
        Ok((security, records))
    }

    async fn tlsa(&self, name: &str) -> Validated<Vec<Tlsa>> {
        let lookup = match self.resolver.tlsa_lookup(fqdn(name)).await {
            Ok(l) => l,
            Err(e) => {
                return match classify(name, e) {
                    // none: no DANE, whether the denial was signed or not
                    LookupError::NxDomain(_) | LookupError::NoData(_) => {
                        Ok((Security::Insecure, Vec::new()))
                    }
                    other => Err(other),
                };
            }
        };
        let mut proofs = Vec::new();
        let records = lookup
            .answers()
            .iter()
            .filter_map(|r| match &r.data {
                RData::TLSA(t) => {
                    proofs.push(r.proof);
                    Some(Tlsa {
                        usage: t.cert_usage.into(),
                        selector: t.selector.into(),
                        matching: t.matching.into(),
                        data: t.cert_data.clone(),
                    })
                }
                _ => None,
            })
            .collect();
        let proofs = proofs.into_iter().chain(alias_proofs(lookup.answers()));
        let security = security_of(name, proofs, self.validating)?;
        Ok((security, records))
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
                Ok(l) => {
                    let addrs: Vec<(IpAddr, Proof)> = l
                        .answers()
                        .iter()
                        .filter_map(|r| match &r.data {
                            RData::A(a) => Some((IpAddr::V4(a.0), r.proof)),
                            RData::AAAA(a) => Some((IpAddr::V6(a.0), r.proof)),
                            _ => None,
                        })
                        .collect();
                    // bogus addresses (or aliases) are not connected to (RFC 4035 §4.3)
                    let proofs = addrs.iter().map(|a| a.1).chain(alias_proofs(l.answers()));
                    match security_of(host, proofs, self.validating) {
                        Ok(_) => out.extend(addrs.into_iter().map(|a| a.0)),
                        Err(e) => errors.push(e),
                    }
                }
                Err(e) => errors.push(classify(host, e)),
            }
        }
        if !out.is_empty() {
            return Ok(out);
        }
        // Both failed or were empty: the most telling reason wins.
        Err(errors
            .iter()
            .find(|e| matches!(e, LookupError::Temporary(..) | LookupError::Bogus(..)))
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
