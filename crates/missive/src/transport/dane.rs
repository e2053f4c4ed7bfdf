//! DANE for SMTP (RFC 7672, RFC 6698): a server certificate checked against
//! the MX host's TLSA records instead of the usual trust anchors.
//!
//! Only DANE-EE(3) and DANE-TA(2) are usable; PKIX-TA(0) and PKIX-EE(1) are
//! not (RFC 7672 §3.1.3). Selectors: full certificate(0), SPKI(1); matching
//! types: exact(0), SHA-256(1), SHA-512(2). Anything else is unusable too.
//!
//! * DANE-EE: the leaf must match; its names and dates are not checked
//!   (RFC 7672 §3.1.1).
//! * DANE-TA: a certificate the server sent after its leaf must match; the
//!   leaf must chain to it, be valid now, and name the MX host (§3.1.2,
//!   §3.2.2). The server must send the TA itself (§3.2.2); a TA only in the
//!   DNS (`2 1 0` of a key nobody sent) is not looked for.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};

/// One TLSA record (RFC 6698 §2.1), as numbers and bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tlsa {
    pub usage: u8,
    pub selector: u8,
    pub matching: u8,
    pub data: Vec<u8>,
}

/// Certificate usages (RFC 7218 names).
pub const DANE_TA: u8 = 2;
pub const DANE_EE: u8 = 3;

impl Tlsa {
    /// The data in hexadecimal, in full.
    pub fn hex(&self) -> String {
        self.data.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Presentation form, the data in full (`Display` shortens it).
    pub fn presentation(&self) -> String {
        format!(
            "{} {} {} {}",
            self.usage,
            self.selector,
            self.matching,
            self.hex()
        )
    }

    /// Whether an SMTP client can use it (RFC 7672 §3.1.3): DANE-TA or
    /// DANE-EE, a known selector and matching type, and data of the
    /// digest's length.
    pub fn usable(&self) -> bool {
        let data_ok = match self.matching {
            0 => !self.data.is_empty(),
            1 => self.data.len() == 32,
            2 => self.data.len() == 64,
            _ => false,
        };
        matches!(self.usage, DANE_TA | DANE_EE) && self.selector <= 1 && data_ok
    }

    /// Whether `cert` (DER) matches this record's selector, matching type and data.
    pub fn matches(&self, cert: &[u8]) -> bool {
        let selected = match self.selector {
            0 => cert.to_vec(),
            1 => match x509_parser::parse_x509_certificate(cert) {
                Ok((_, c)) => c.tbs_certificate.subject_pki.raw.to_vec(),
                Err(_) => return false,
            },
            _ => return false,
        };
        let digest = |alg| ring::digest::digest(alg, &selected).as_ref().to_vec();
        let value = match self.matching {
            0 => selected,
            1 => digest(&ring::digest::SHA256),
            2 => digest(&ring::digest::SHA512),
            _ => return false,
        };
        // The data is public (it is in the DNS): no need for constant time.
        value == self.data
    }
}

impl std::fmt::Display for Tlsa {
    /// Presentation form, the data shortened: `3 1 1 5c1b…e9a0`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hex = self.hex();
        let short = match hex.len() > 16 {
            true => format!("{}…{}", &hex[..8], &hex[hex.len() - 8..]),
            false => hex,
        };
        write!(
            f,
            "{} {} {} {short}",
            self.usage, self.selector, self.matching
        )
    }
}

/// Checks a server's chain against usable TLSA records, for the MX name `host`.
#[derive(Debug)]
pub struct DaneVerifier {
    records: Vec<Tlsa>,
    host: String,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl DaneVerifier {
    /// `records`: the usable ones (the unusable are dropped here too).
    pub fn new(records: Vec<Tlsa>, host: &str) -> DaneVerifier {
        DaneVerifier {
            records: records.into_iter().filter(Tlsa::usable).collect(),
            host: host.trim_end_matches('.').to_ascii_lowercase(),
            provider: Arc::new(rustls::crypto::ring::default_provider()),
        }
    }

    /// The DANE check itself: `Ok` with the usage that matched, or why not.
    pub fn check(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<&'static str, String> {
        if self
            .records
            .iter()
            .any(|r| r.usage == DANE_EE && r.matches(end_entity))
        {
            return Ok("DANE-EE");
        }
        let mut ta_problem = None;
        for r in self.records.iter().filter(|r| r.usage == DANE_TA) {
            let Some(ta) = intermediates.iter().find(|c| r.matches(c)) else {
                continue;
            };
            match self.chains_to(ta, end_entity, intermediates, now) {
                Ok(()) => return Ok("DANE-TA"),
                Err(e) => ta_problem = Some(e),
            }
        }
        let records: Vec<String> = self.records.iter().map(Tlsa::to_string).collect();
        Err(match ta_problem {
            Some(e) => format!(
                "TLSA mismatch: the chain of {} has its DANE-TA certificate, but {e} (RFC 7672 §3.2.2)",
                self.host
            ),
            None => format!(
                "TLSA mismatch: no TLSA record of _25._tcp.{} ({}) matches the certificate it presented",
                self.host,
                records.join(", ")
            ),
        })
    }

    /// The leaf chains to `ta` (taken as the trust anchor) and names the MX host.
    fn chains_to(
        &self,
        ta: &CertificateDer<'_>,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<(), String> {
        let mut roots = RootCertStore::empty();
        roots
            .add(ta.clone().into_owned())
            .map_err(|e| format!("its trust anchor is not usable ({e})"))?;
        let verifier =
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), self.provider.clone())
                .build()
                .map_err(|e| e.to_string())?;
        let name = ServerName::try_from(self.host.clone())
            .map_err(|_| format!("{:?} is not a valid server name", self.host))?;
        verifier
            .verify_server_cert(end_entity, intermediates, &name, &[], now)
            .map(|_| ())
            .map_err(|e| super::tls::describe_tls_error(&e))
    }
}

impl ServerCertVerifier for DaneVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.check(end_entity, intermediates, now)
            .map(|_| ServerCertVerified::assertion())
            .map_err(rustls::Error::General)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
#[path = "dane_tests.rs"]
mod tests;
