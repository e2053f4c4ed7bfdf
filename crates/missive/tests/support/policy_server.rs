//! An HTTPS server on loopback that serves MTA-STS policies
//! (`/.well-known/mta-sts.txt`) for the `mta-sts.*.test` names of the
//! testbed's DNS, with a certificate from a CA of its own. The client is
//! pointed at it with `MISSIVE_MTA_STS_PORT` and trusts it through a
//! `--cafile` bundle that also holds the testbed's CA (for the MX hosts).

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::{ServerConfig, ServerConnection, StreamOwned};

use super::TempDir;

/// One answer: status line, Content-Type and body.
#[derive(Clone)]
pub struct Answer {
    pub status: &'static str,
    pub content_type: &'static str,
    pub body: String,
}

impl Answer {
    pub fn policy(text: &str) -> Answer {
        Answer {
            status: "200 OK",
            content_type: "text/plain",
            body: text.to_string(),
        }
    }
}

pub struct PolicyServer {
    pub port: u16,
    /// Policies by host name (`mta-sts.DOMAIN`); others get 404.
    pub answers: Arc<Mutex<HashMap<String, Answer>>>,
    /// Requests served, by host name.
    pub hits: Arc<Mutex<HashMap<String, usize>>>,
    /// The CA bundle for `--cafile`: this server's CA and the testbed's.
    pub cafile: PathBuf,
    stop: Arc<AtomicBool>,
    _dir: TempDir,
}

impl PolicyServer {
    /// Starts serving; `names` are the policy hosts its certificate covers.
    pub fn start(names: &[&str], testbed_ca: &str) -> PolicyServer {
        use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair, KeyUsagePurpose};
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let key = KeyPair::generate().unwrap();
        let params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        let cert = params.signed_by(&key, &ca, &ca_key).unwrap();
        let dir = TempDir::new("mta-sts");
        let bundle = format!(
            "{}{}",
            std::fs::read_to_string(testbed_ca).unwrap(),
            ca.pem()
        );
        let cafile = PathBuf::from(dir.write("bundle.pem", bundle.as_bytes()));
        let config = Arc::new(
            ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(
                    vec![cert.der().clone()],
                    PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
                )
                .unwrap(),
        );
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let answers: Arc<Mutex<HashMap<String, Answer>>> = Arc::default();
        let hits: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        {
            let (answers, hits, stop) = (answers.clone(), hits.clone(), stop.clone());
            std::thread::spawn(move || {
                for tcp in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(tcp) = tcp else { continue };
                    let _ = tcp.set_read_timeout(Some(Duration::from_secs(10)));
                    let conn = ServerConnection::new(config.clone()).unwrap();
                    let mut tls = StreamOwned::new(conn, tcp);
                    let mut req = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                        match tls.read(&mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => req.extend_from_slice(&buf[..n]),
                        }
                    }
                    let text = String::from_utf8_lossy(&req).to_string();
                    let host = text
                        .lines()
                        .find_map(|l| l.strip_prefix("Host: "))
                        .unwrap_or_default()
                        .trim()
                        .to_string();
                    *hits.lock().unwrap().entry(host.clone()).or_default() += 1;
                    let answer = answers.lock().unwrap().get(&host).cloned();
                    let answer = match answer {
                        Some(a) if text.starts_with("GET /.well-known/mta-sts.txt ") => a,
                        _ => Answer {
                            status: "404 Not Found",
                            content_type: "text/plain",
                            body: "no policy\n".into(),
                        },
                    };
                    let _ = write!(
                        tls,
                        "HTTP/1.0 {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n\r\n{}",
                        answer.status,
                        answer.content_type,
                        answer.body.len(),
                        answer.body
                    );
                    tls.conn.send_close_notify();
                    let _ = tls.flush();
                }
            });
        }
        PolicyServer {
            port,
            answers,
            hits,
            cafile,
            stop,
            _dir: dir,
        }
    }

    pub fn serve(&self, host: &str, answer: Answer) {
        self.answers
            .lock()
            .unwrap()
            .insert(host.to_string(), answer);
    }

    pub fn hits(&self, host: &str) -> usize {
        self.hits.lock().unwrap().get(host).copied().unwrap_or(0)
    }
}

impl Drop for PolicyServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = std::net::TcpStream::connect(("127.0.0.1", self.port));
    }
}
