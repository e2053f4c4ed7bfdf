//! The TLS identity of the scripted servers: a throwaway CA and a
//! certificate for 127.0.0.1 signed by it, made once per test process.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::ServerConfig;

/// A CA and a server certificate for 127.0.0.1 signed by it.
pub struct Identity {
    /// The CA certificate, PEM, for `--cafile`.
    pub ca_file: PathBuf,
    pub(super) config: Arc<ServerConfig>,
}

/// The identity shared by every server of this test process.
pub fn identity() -> &'static Identity {
    static ID: OnceLock<Identity> = OnceLock::new();
    ID.get_or_init(|| {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
        let ca_key = KeyPair::generate().expect("CA key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "missive fake test CA");
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca = ca_params.self_signed(&ca_key).expect("CA certificate");

        let key = KeyPair::generate().expect("server key");
        let mut params = CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()])
            .expect("server params");
        params
            .distinguished_name
            .push(DnType::CommonName, "fake.test");
        let cert = params
            .signed_by(&key, &ca, &ca_key)
            .expect("server certificate");

        let ca_file = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("missive-fake-ca-{}.pem", std::process::id()));
        std::fs::write(&ca_file, ca.pem()).expect("write CA file");

        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.der().clone()],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            )
            .expect("server TLS config");
        Identity {
            ca_file,
            config: Arc::new(config),
        }
    })
}

/// The `--cafile` path as a string.
pub fn ca_file() -> String {
    identity().ca_file.display().to_string()
}

/// A server TLS configuration presenting the chain and key of these PEM
/// files (DANE tests: certificates the DNS vouches for).
pub fn server_config(chain: &std::path::Path, key: &std::path::Path) -> Arc<ServerConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let certs = CertificateDer::pem_file_iter(chain)
        .and_then(|i| i.collect::<Result<Vec<_>, _>>())
        .unwrap_or_else(|e| panic!("{}: {e}", chain.display()));
    let key =
        PrivateKeyDer::from_pem_file(key).unwrap_or_else(|e| panic!("{}: {e}", key.display()));
    let config =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .expect("server TLS config");
    Arc::new(config)
}
