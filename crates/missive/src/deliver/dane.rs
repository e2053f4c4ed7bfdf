//! DANE for direct delivery (RFC 7672): what an MX host's TLSA records ask
//! of the connection to it.
//!
//! Per domain: the MX answer must be secure (DNSSEC) for its hosts' TLSA
//! records to count (§2.2.1; an implicit MX is the domain itself, so its
//! own TLSA lookup decides). Per host, `_25._tcp.HOST` TLSA:
//! * secure, with usable records: STARTTLS is required and the certificate
//!   must match them ([`crate::transport::dane`]); a mismatch or no
//!   STARTTLS leaves this host for the next (§2.2);
//! * secure, every record unusable (PKIX-TA/PKIX-EE, unknown fields):
//!   STARTTLS is still required, but the certificate is not authenticated
//!   ("mandatory unauthenticated TLS", as Postfix's "encrypt": §2.2, §3.1.3
//!   say such records must not be used to authenticate, and publishing
//!   them still says the server has TLS);
//! * insecure, or none: no DANE; MTA-STS and opportunistic TLS as before;
//! * bogus or failed lookup: this host is not used (§2.2: no downgrade).
//!
//! DANE takes precedence over MTA-STS for a host with usable records
//! (RFC 8461 §2).

use std::sync::Arc;

use super::dns::{ascii_domain, Dns, LookupError, Security};
use super::mx::{self, Route};
use crate::transport::dane::{DaneVerifier, Tlsa};
use crate::transport::tls::TlsContext;

/// What DANE asks of one MX host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostDane {
    /// No DANE: insecure MX or TLSA answer, or no TLSA records.
    None,
    /// Secure usable records: STARTTLS, certificate checked against them.
    Verify(Vec<Tlsa>),
    /// Secure records, none usable: STARTTLS, certificate not checked.
    EncryptOnly(Vec<Tlsa>),
}

impl HostDane {
    pub fn applies(&self) -> bool {
        *self != HostDane::None
    }

    /// In words, for the transcript.
    pub fn describe(&self) -> Option<String> {
        let list = |r: &[Tlsa]| r.iter().map(Tlsa::to_string).collect::<Vec<_>>().join(", ");
        match self {
            HostDane::None => None,
            HostDane::Verify(r) => Some(format!(
                "STARTTLS required, certificate checked against TLSA {}",
                list(r)
            )),
            HostDane::EncryptOnly(r) => Some(format!(
                "STARTTLS required, not authenticated (TLSA {} unusable)",
                list(r)
            )),
        }
    }

    /// The TLS context for this host: only DANE judges the certificate
    /// (`--insecure` and the trust anchors play no part), or, for unusable
    /// records, nothing does.
    pub fn tls(&self, host: &str, base: &TlsContext) -> Option<TlsContext> {
        match self {
            HostDane::None => None,
            HostDane::Verify(records) => {
                Some(base.judged_by(Arc::new(DaneVerifier::new(records.clone(), host))))
            }
            HostDane::EncryptOnly(_) => Some(base.tolerant()),
        }
    }
}

/// The TLSA lookup for `host`, when its MX answer was secure.
pub async fn host_dane<D: Dns>(dns: &D, host: &str) -> Result<HostDane, LookupError> {
    let name = format!("_25._tcp.{}", host.trim_end_matches('.'));
    let (security, records) = dns.tlsa(&name).await?;
    if security != Security::Secure || records.is_empty() {
        return Ok(HostDane::None);
    }
    let usable: Vec<Tlsa> = records.iter().filter(|r| r.usable()).cloned().collect();
    Ok(match usable.is_empty() {
        true => HostDane::EncryptOnly(records),
        false => HostDane::Verify(usable),
    })
}

/// The report's word for a host whose TLSA records are all unusable.
pub fn encrypt_only_note(host: &str, records: &[Tlsa]) -> String {
    let list: Vec<String> = records.iter().map(Tlsa::to_string).collect();
    format!(
        "{host}: TLSA records all unusable ({}): TLS required, certificate not authenticated (RFC 7672 §3.1.3)",
        list.join(", ")
    )
}

/// REQUIRETLS by DANE (RFC 8689 §4.2.1): the MX answer is secure and every
/// MX host (or the domain itself, with no MX) has usable, secure TLSA
/// records, so every hop is authenticated. `Err`: why not.
pub async fn every_host_verified<D: Dns>(dns: &D, domain: &str) -> Result<(), String> {
    let hosts: Vec<String> = match dns.mx_validated(domain).await {
        Ok((Security::Secure, records)) => match mx::route(domain, Ok(records), 0) {
            Ok(Route::Hosts(h)) => h.into_iter().map(|h| h.name).collect(),
            Ok(Route::Implicit(d)) => vec![ascii_domain(&d)],
            Ok(Route::Null) => return Err("it accepts no mail (null MX)".into()),
            Err(e) => return Err(e.to_string()),
        },
        Ok((Security::Insecure, _)) => return Err("its MX records are not DNSSEC-signed".into()),
        Err(LookupError::NoData(_)) => vec![ascii_domain(domain)],
        Err(e) => return Err(e.to_string()),
    };
    for host in hosts {
        match host_dane(dns, &host).await {
            Ok(HostDane::Verify(_)) => {}
            Ok(_) => return Err(format!("{host} has no usable DNSSEC-signed TLSA records")),
            Err(e) => return Err(e.to_string()),
        }
    }
    Ok(())
}

/// Why a host was skipped when its TLSA lookup failed.
pub fn lookup_failed(host: &str, e: &LookupError) -> String {
    format!(
        "skipped: DANE: the TLSA lookup for _25._tcp.{host} failed ({e}); not delivered to this host, never downgraded (RFC 7672 §2.2)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fake(Result<(Security, Vec<Tlsa>), LookupError>);

    impl Dns for Fake {
        async fn mx(&self, _: &str) -> Result<Vec<(u16, String)>, LookupError> {
            unreachable!()
        }
        async fn addrs(&self, _: &str) -> Result<Vec<std::net::IpAddr>, LookupError> {
            unreachable!()
        }
        async fn txt(&self, _: &str) -> Result<Vec<String>, LookupError> {
            unreachable!()
        }
        async fn mx_validated(
            &self,
            _: &str,
        ) -> Result<(Security, Vec<(u16, String)>), LookupError> {
            unreachable!()
        }
        async fn tlsa(&self, name: &str) -> Result<(Security, Vec<Tlsa>), LookupError> {
            assert_eq!(name, "_25._tcp.mx.example.test");
            self.0.clone()
        }
    }

    fn rec(usage: u8) -> Tlsa {
        Tlsa {
            usage,
            selector: 1,
            matching: 1,
            data: vec![7; 32],
        }
    }

    fn run(answer: Result<(Security, Vec<Tlsa>), LookupError>) -> Result<HostDane, LookupError> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(host_dane(&Fake(answer), "mx.example.test."))
    }

    #[test]
    fn the_tlsa_answer_decides_what_the_host_gets() {
        use Security::*;
        assert_eq!(
            run(Ok((Secure, vec![rec(1), rec(3)]))),
            Ok(HostDane::Verify(vec![rec(3)]))
        );
        assert_eq!(
            run(Ok((Secure, vec![rec(0), rec(1)]))),
            Ok(HostDane::EncryptOnly(vec![rec(0), rec(1)]))
        );
        assert_eq!(run(Ok((Insecure, vec![rec(3)]))), Ok(HostDane::None));
        assert_eq!(run(Ok((Secure, vec![]))), Ok(HostDane::None));
        let bogus = LookupError::Bogus("x".into(), "bogus".into());
        assert_eq!(run(Err(bogus.clone())), Err(bogus));
    }
}
