//! TLS client configuration (rustls): the system trust store, extra CAs from
//! `--cafile`, and a tolerant mode that lets a handshake finish whatever the
//! certificate, then says what was wrong with it (for `--insecure` and
//! opportunistic port-25 TLS).

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::error::{AppError, Result};

/// What the user asked of certificate checking.
#[derive(Debug, Clone, Default)]
pub struct TlsOptions {
    /// Extra trust anchors (PEM), on top of the system store.
    pub cafile: Option<PathBuf>,
    /// Do not fail on certificate problems (they are still reported and shown).
    pub insecure: bool,
    /// Skip the system store (the sandbox trusts only its own CA).
    pub no_system_roots: bool,
    /// More trust anchors, already parsed (the sandbox's generated CA).
    pub extra_roots: Vec<CertificateDer<'static>>,
}

/// A ready rustls configuration, and how a finished handshake's certificate
/// is judged ([`TlsContext::problem_with`]).
#[derive(Clone)]
pub struct TlsContext {
    pub config: Arc<rustls::ClientConfig>,
    verifier: Arc<Verifier>,
    /// The user asked for `--insecure`: an unverified certificate is their choice.
    pub insecure: bool,
}

impl TlsContext {
    pub fn new(opts: &TlsOptions) -> Result<TlsContext> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        // The user's own CAs are read (and a bad --cafile refused) now; the
        // system store only when a certificate must be checked against it.
        let mut own = Vec::new();
        if let Some(path) = &opts.cafile {
            let mut check = RootCertStore::empty();
            for cert in read_pem_certs(path)? {
                check.add(cert.clone()).map_err(|e| {
                    AppError::Config(format!(
                        "{}: not a usable CA certificate: {e}",
                        path.display()
                    ))
                })?;
                own.push(cert);
            }
        }
        for cert in &opts.extra_roots {
            RootCertStore::empty()
                .add(cert.clone())
                .map_err(|e| AppError::Config(format!("not a usable CA certificate: {e}")))?;
            own.push(cert.clone());
        }
        if own.is_empty() && opts.no_system_roots && !opts.insecure {
            return Err(AppError::Config(
                "no trusted CA certificates: the system store is empty; give one with --cafile"
                    .into(),
            ));
        }
        let anchors = Arc::new(Anchors {
            own_verifier: match own.is_empty() {
                true => None,
                false => Some(build_verifier(roots_of(&own), &provider)?),
            },
            own,
            system: !opts.no_system_roots,
            full: OnceLock::new(),
            provider: provider.clone(),
        });
        let verifier = Arc::new(Verifier {
            anchors,
            provider: provider.clone(),
            tolerant: opts.insecure,
        });
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| AppError::Config(format!("TLS setup failed: {e}")))?
            .dangerous()
            .with_custom_certificate_verifier(verifier.clone())
            .with_no_client_auth();
        Ok(TlsContext {
            config: Arc::new(config),
            verifier,
            insecure: opts.insecure,
        })
    }

    /// The same trust, but a certificate problem is not fatal: the handshake
    /// finishes and [`TlsContext::problem_with`] reports it.
    pub fn tolerant(&self) -> TlsContext {
        let verifier = Arc::new(Verifier {
            anchors: self.verifier.anchors.clone(),
            provider: self.verifier.provider.clone(),
            tolerant: true,
        });
        let mut config = (*self.config).clone();
        config
            .dangerous()
            .set_certificate_verifier(verifier.clone());
        TlsContext {
            config: Arc::new(config),
            verifier,
            insecure: self.insecure,
        }
    }

    /// The same connection settings, but only `verifier` decides whether
    /// the certificate is good (DANE, RFC 7672 §3): not the trust anchors,
    /// not `--insecure`. Its refusal fails the handshake.
    pub fn judged_by(&self, verifier: Arc<dyn ServerCertVerifier>) -> TlsContext {
        let mut config = (*self.config).clone();
        config.dangerous().set_certificate_verifier(verifier);
        TlsContext {
            config: Arc::new(config),
            // never tolerant, so a finished handshake reads as verified
            verifier: Arc::new(Verifier {
                anchors: self.verifier.anchors.clone(),
                provider: self.verifier.provider.clone(),
                tolerant: false,
            }),
            insecure: false,
        }
    }

    /// Why the certificates a finished handshake received do not verify
    /// for `name`, when they do not; always `None` when the context is not
    /// tolerant (the handshake itself refused a bad certificate).
    ///
    /// Judged from this connection's own certificates, with no state kept
    /// between handshakes: sessions that share a context (a [`Mailer`]'s
    /// pool) cannot read each other's verdicts.
    ///
    /// [`Mailer`]: crate::Mailer
    pub fn problem_with(
        &self,
        certs: Option<&[CertificateDer<'_>]>,
        name: &ServerName<'_>,
    ) -> Option<String> {
        if !self.verifier.tolerant {
            return None;
        }
        let Some((end_entity, intermediates)) = certs.and_then(|c| c.split_first()) else {
            return Some("the server sent no certificate".into());
        };
        self.verifier
            .anchors
            .verify(end_entity, intermediates, name, &[], UnixTime::now())
            .err()
            .map(|e| describe_tls_error(&e))
    }
}

/// Bundle files of the common distributions, in the order OpenSSL's probe uses.
const BUNDLES: [&str; 5] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/pki/tls/cacert.pem",
    "/etc/ssl/cert.pem",
];

/// The system's trust anchors. One bundle file when the system has one
/// (the hashed directory beside it holds the same certificates again, and
/// parsing both doubles the start-up cost); else what rustls-native-certs
/// finds (it honours SSL_CERT_FILE and SSL_CERT_DIR, and other systems).
pub(crate) fn system_roots_der() -> Vec<CertificateDer<'static>> {
    system_store().to_vec()
}

/// The system store as trust anchors: read and parsed at most once per
/// process, the first time a certificate is checked against it (a send
/// whose server is vouched for by --cafile, or without TLS, never reads it).
fn system_store() -> &'static [CertificateDer<'static>] {
    static STORE: OnceLock<Vec<CertificateDer<'static>>> = OnceLock::new();
    STORE.get_or_init(system_roots)
}

fn system_roots() -> Vec<CertificateDer<'static>> {
    let env_set =
        std::env::var_os("SSL_CERT_FILE").is_some() || std::env::var_os("SSL_CERT_DIR").is_some();
    if !env_set {
        for path in BUNDLES {
            if let Ok(iter) = CertificateDer::pem_file_iter(path) {
                let certs: Vec<_> = iter.filter_map(|c| c.ok()).collect();
                if !certs.is_empty() {
                    return certs;
                }
            }
        }
    }
    // Unreadable entries in the system store are skipped, as every client does.
    rustls_native_certs::load_native_certs().certs
}

/// Reads every certificate of a PEM file.
pub fn read_pem_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let certs: Vec<_> = CertificateDer::pem_file_iter(path)
        .map_err(|e| AppError::Config(format!("cannot read CA file {}: {e}", path.display())))?
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| AppError::Config(format!("{}: invalid PEM: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(AppError::Config(format!(
            "{}: no certificate found (expected PEM 'BEGIN CERTIFICATE')",
            path.display()
        )));
    }
    Ok(certs)
}

fn roots_of(certs: &[CertificateDer<'static>]) -> RootCertStore {
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(certs.iter().cloned());
    roots
}

fn build_verifier(
    roots: RootCertStore,
    provider: &Arc<rustls::crypto::CryptoProvider>,
) -> Result<Arc<WebPkiServerVerifier>> {
    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| AppError::Config(format!("TLS setup failed: {e}")))
}

/// The trust anchors of one configuration: the user's own (read at once)
/// and the system store (parsed on first need, then kept).
#[derive(Debug)]
struct Anchors {
    /// `--cafile` and the sandbox's CA.
    own: Vec<CertificateDer<'static>>,
    /// A verifier over `own` alone.
    own_verifier: Option<Arc<WebPkiServerVerifier>>,
    /// The system store is trusted too.
    system: bool,
    /// A verifier over the system store and `own`, built on first need.
    full: OnceLock<Option<Arc<WebPkiServerVerifier>>>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl Anchors {
    /// Exactly the verification over every trusted anchor (system and own).
    /// A chain that verifies against a subset of the anchors verifies against
    /// all of them, so the user's own CAs are tried first and the system
    /// store is parsed only when they do not vouch for the certificate; its
    /// answer is then the answer.
    fn verify(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        let own = self
            .own_verifier
            .as_ref()
            .map(|v| v.verify_server_cert(end_entity, intermediates, server_name, ocsp, now));
        match own {
            Some(Ok(ok)) => return Ok(ok),
            Some(Err(e)) if !self.system => return Err(e),
            _ => {}
        }
        match self.full() {
            Some(v) => v.verify_server_cert(end_entity, intermediates, server_name, ocsp, now),
            None => Err(rustls::Error::General(
                "no trusted CA certificates: the system store is empty; give one with --cafile"
                    .into(),
            )),
        }
    }

    fn full(&self) -> Option<&Arc<WebPkiServerVerifier>> {
        self.full
            .get_or_init(|| {
                let mut roots = RootCertStore::empty();
                if self.system {
                    roots.add_parsable_certificates(system_store().iter().cloned());
                }
                roots.add_parsable_certificates(self.own.iter().cloned());
                match roots.is_empty() {
                    true => None,
                    false => build_verifier(roots, &self.provider).ok(),
                }
            })
            .as_ref()
    }
}

/// The normal webpki verification, or (tolerant) none during the handshake:
/// [`TlsContext::problem_with`] judges the certificate afterwards. The
/// handshake's signatures are checked either way.
#[derive(Debug)]
struct Verifier {
    anchors: Arc<Anchors>,
    provider: Arc<rustls::crypto::CryptoProvider>,
    tolerant: bool,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        if self.tolerant {
            return Ok(ServerCertVerified::assertion());
        }
        self.anchors
            .verify(end_entity, intermediates, server_name, ocsp, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
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
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
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

/// A certificate error in words.
pub fn describe_tls_error(e: &rustls::Error) -> String {
    use rustls::CertificateError as C;
    match e {
        rustls::Error::InvalidCertificate(C::UnknownIssuer) => {
            "the certificate is not signed by a trusted CA (use --cafile to trust its CA)".into()
        }
        rustls::Error::InvalidCertificate(C::NotValidForNameContext {
            expected,
            presented,
        }) => format!(
            "the certificate is not valid for {}: it names {} (connect by one of those names)",
            expected.to_str(),
            if presented.is_empty() {
                "nothing usable".to_string()
            } else {
                presented
                    .iter()
                    .map(|n| clean_name(n))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        ),
        rustls::Error::InvalidCertificate(C::NotValidForName) => {
            "the certificate is not valid for this host name".into()
        }
        rustls::Error::InvalidCertificate(C::Expired)
        | rustls::Error::InvalidCertificate(C::ExpiredContext { .. }) => {
            "the certificate has expired".into()
        }
        // our own verifiers' words (DANE), without rustls' "unexpected error: "
        rustls::Error::General(why) => why.clone(),
        other => other.to_string(),
    }
}

/// `DnsName("a.test")` / `IpAddress(127.0.0.1)` as rustls presents them, to `a.test` / `127.0.0.1`.
fn clean_name(n: &str) -> String {
    let inner = n
        .split_once('(')
        .and_then(|(_, rest)| rest.strip_suffix(')'))
        .unwrap_or(n);
    inner.trim_matches('"').replace("0::1", "::1")
}

/// A short description of a certificate: its subject, issuer and SANs.
pub fn describe_cert(der: &CertificateDer<'_>) -> Option<CertSummary> {
    let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref()).ok()?;
    let names = cert
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|san| {
            san.value
                .general_names
                .iter()
                .map(|n| match n {
                    x509_parser::extensions::GeneralName::DNSName(d) => d.to_string(),
                    x509_parser::extensions::GeneralName::IPAddress(ip) => format_ip(ip),
                    other => format!("{other:?}"),
                })
                .collect()
        })
        .unwrap_or_default();
    let end = cert.validity().not_after.timestamp();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let (y, m, d) = crate::date::civil_from_days(end.div_euclid(86400));
    Some(CertSummary {
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        names,
        not_after: format!("{y:04}-{m:02}-{d:02}"),
        days_left: (end - now).div_euclid(86400),
    })
}

fn format_ip(bytes: &[u8]) -> String {
    match bytes.len() {
        4 => std::net::Ipv4Addr::from(<[u8; 4]>::try_from(bytes).unwrap()).to_string(),
        16 => std::net::Ipv6Addr::from(<[u8; 16]>::try_from(bytes).unwrap()).to_string(),
        _ => format!("{bytes:?}"),
    }
}

#[derive(Debug, Clone, serde::Serialize)]
/// A certificate in words, for the transcript, `probe` and `--json`.
pub struct CertSummary {
    /// The subject's distinguished name.
    pub subject: String,
    /// The issuer's distinguished name.
    pub issuer: String,
    /// The DNS names and addresses it is valid for.
    pub names: Vec<String>,
    /// The end of validity, `YYYY-MM-DD` (UTC).
    pub not_after: String,
    /// Days from now to the end of validity (negative: expired).
    pub days_left: i64,
}

/// What TLS negotiated, for the transcript and `--json`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TlsInfo {
    /// The protocol version, `TLSv1.3`.
    pub version: String,
    /// The cipher suite.
    pub cipher: String,
    /// The certificate verified against the trust anchors for the host name.
    pub verified: bool,
    /// Why it did not verify (tolerant modes only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    /// The server's own certificate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate: Option<CertSummary>,
    /// The certificates the server sent after its own (intermediates, maybe the root).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub chain: Vec<CertSummary>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair, KeyUsagePurpose};

    /// A CA, a leaf it signed for `mx.example.test`, and a self-signed leaf.
    fn certs() -> (
        CertificateDer<'static>,
        CertificateDer<'static>,
        CertificateDer<'static>,
    ) {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign];
        let ca = ca.self_signed(&ca_key).unwrap();
        let name = vec!["mx.example.test".to_string()];
        let key = KeyPair::generate().unwrap();
        let good = CertificateParams::new(name.clone())
            .unwrap()
            .signed_by(&key, &ca, &ca_key)
            .unwrap();
        let own = CertificateParams::new(name)
            .unwrap()
            .self_signed(&KeyPair::generate().unwrap())
            .unwrap();
        (ca.der().clone(), good.der().clone(), own.der().clone())
    }

    fn context(ca: &CertificateDer<'static>, insecure: bool) -> TlsContext {
        TlsContext::new(&TlsOptions {
            no_system_roots: true,
            extra_roots: vec![ca.clone()],
            insecure,
            ..TlsOptions::default()
        })
        .unwrap()
    }

    #[test]
    fn a_tolerant_context_judges_each_connections_own_certificate() {
        let (ca, good, own) = certs();
        let name = ServerName::try_from("mx.example.test").unwrap();
        let other = ServerName::try_from("other.example.test").unwrap();
        for ctx in [context(&ca, false).tolerant(), context(&ca, true)] {
            let bad = ctx.problem_with(Some(std::slice::from_ref(&own)), &name);
            assert!(bad.is_some(), "a self-signed certificate passed");
            // Another connection's bad certificate does not colour this one's.
            assert_eq!(
                ctx.problem_with(Some(std::slice::from_ref(&good)), &name),
                None
            );
            let wrong = ctx
                .problem_with(Some(std::slice::from_ref(&good)), &other)
                .unwrap();
            assert!(
                wrong.contains("other.example.test") || wrong.contains("name"),
                "{wrong}"
            );
            assert!(ctx.problem_with(None, &name).is_some());
            assert!(ctx.problem_with(Some(&[]), &name).is_some());
        }
    }

    #[test]
    fn a_strict_context_has_no_problems_to_report() {
        // Its handshake refuses a bad certificate: one that finished is verified.
        let (ca, _, own) = certs();
        let name = ServerName::try_from("mx.example.test").unwrap();
        assert_eq!(context(&ca, false).problem_with(Some(&[own]), &name), None);
    }
}
