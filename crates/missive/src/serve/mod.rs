//! `missive serve`: the capture server. The I/O shell around
//! [`missive_smtp::server::Server`]: listeners, TLS, timeouts, the Maildir.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use missive_smtp::server::{Action, Server, ServerConfig};
use missive_smtp::Secret;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Semaphore};
use tokio_rustls::TlsAcceptor;

use crate::error::{AppError, Result};
use maildir::{Incoming, Maildir};

pub(crate) mod certs;
pub(crate) mod http;
pub(crate) mod maildir;
pub(crate) mod sandbox;

/// Where the server's certificate comes from.
pub enum CertSource {
    Files {
        cert: PathBuf,
        key: PathBuf,
    },
    /// Generated at start for these names.
    Generate(Vec<String>),
}

pub struct ServeOptions {
    /// Plain listeners (STARTTLS offered on them).
    pub listen: Vec<SocketAddr>,
    /// Implicit-TLS listeners.
    pub tls_listen: Vec<SocketAddr>,
    pub maildir: PathBuf,
    pub cert: CertSource,
    /// Required logins; empty: any login is accepted (after TLS), none required.
    pub users: Vec<(String, Secret)>,
    pub config: ServerConfig,
    pub limits: Limits,
}

/// What one client, or many, may take of the server.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections served at once; more are answered 421 and closed.
    pub connections: usize,
    /// The longest a whole session may last.
    pub session: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            connections: 64,
            session: Duration::from_secs(600),
        }
    }
}

/// How long a write may take before the client is given up on.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// How long the parting 421 may take to write.
const PARTING_TIMEOUT: Duration = Duration::from_secs(1);

/// One stored message, as reported on the log line.
#[derive(Debug, Clone)]
pub struct Stored {
    pub from: String,
    pub to: Vec<String>,
    pub subject: Option<String>,
    pub size: u64,
    pub path: PathBuf,
}

/// A server that is listening.
pub struct Running {
    pub addrs: Vec<SocketAddr>,
    pub tls_addrs: Vec<SocketAddr>,
    /// The generated CA in PEM, when the certificate was generated.
    pub ca_pem: Option<String>,
    pub ca_der: Option<CertificateDer<'static>>,
    /// Every message stored, as it is stored.
    pub stored: mpsc::UnboundedReceiver<Stored>,
}

struct Shared {
    maildir: Maildir,
    users: Vec<(String, Secret)>,
    config: ServerConfig,
    acceptor: TlsAcceptor,
    stored: mpsc::UnboundedSender<Stored>,
    limits: Limits,
    slots: Arc<Semaphore>,
}

/// Binds every listener and starts accepting in the background.
pub async fn start(opts: ServeOptions) -> Result<Running> {
    let maildir = Maildir::create(&opts.maildir).map_err(|e| {
        AppError::Io(format!(
            "cannot create the Maildir {}: {e}",
            opts.maildir.display()
        ))
    })?;
    let (chain, key, ca_pem, ca_der) = match &opts.cert {
        CertSource::Files { cert, key } => {
            let chain = crate::transport::tls::read_pem_certs(cert)?;
            let key = PrivateKeyDer::from_pem_file(key).map_err(|e| {
                AppError::Config(format!("cannot read the key {}: {e}", key.display()))
            })?;
            (chain, key, None, None)
        }
        CertSource::Generate(names) => {
            let g = certs::generate(names)?;
            (g.chain, g.key, Some(g.ca_pem), Some(g.ca_der))
        }
    };
    let tls_config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .and_then(|b| b.with_no_client_auth().with_single_cert(chain, key))
    .map_err(|e| AppError::Config(format!("TLS setup failed: {e}")))?;
    let (tx, rx) = mpsc::unbounded_channel();
    let mut config = opts.config;
    config.starttls = true;
    config.auth_required = !opts.users.is_empty();
    let shared = Arc::new(Shared {
        maildir,
        users: opts.users,
        config,
        acceptor: TlsAcceptor::from(Arc::new(tls_config)),
        stored: tx,
        limits: opts.limits,
        slots: Arc::new(Semaphore::new(opts.limits.connections.max(1))),
    });
    let mut running = Running {
        addrs: Vec::new(),
        tls_addrs: Vec::new(),
        ca_pem,
        ca_der,
        stored: rx,
    };
    for (addrs, implicit) in [(&opts.listen, false), (&opts.tls_listen, true)] {
        for addr in addrs {
            let listener = TcpListener::bind(addr).await.map_err(|e| {
                AppError::Network(format!(
                    "cannot listen on {addr}: {}",
                    crate::transport::net::short_io(&e)
                ))
            })?;
            let local = listener.local_addr().unwrap_or(*addr);
            if implicit {
                running.tls_addrs.push(local);
            } else {
                running.addrs.push(local);
            }
            tokio::spawn(accept_loop(listener, shared.clone(), implicit));
        }
    }
    Ok(running)
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, implicit: bool) {
    loop {
        let Ok((tcp, _peer)) = listener.accept().await else {
            // Out of descriptors and the like: wait rather than spin.
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        tcp.set_nodelay(true).ok();
        let shared = shared.clone();
        let Ok(slot) = shared.slots.clone().try_acquire_owned() else {
            // Full: say so (briefly, in plaintext even on a TLS port, as
            // the client cannot be served anyway) and close.
            tokio::spawn(async move {
                let mut tcp = tcp;
                if !implicit {
                    let _ = tokio::time::timeout(
                        PARTING_TIMEOUT,
                        tcp.write_all(b"421 4.7.0 too many connections, try again later\r\n"),
                    )
                    .await;
                }
            });
            continue;
        };
        tokio::spawn(async move {
            let session = shared.limits.session;
            let _ = tokio::time::timeout(session, connection(tcp, shared, implicit)).await;
            drop(slot);
        });
    }
}

/// Why a connection's plain phase ended.
enum Phase {
    Closed,
    StartTls,
}

async fn connection(tcp: TcpStream, shared: Arc<Shared>, implicit: bool) -> std::io::Result<()> {
    let mut config = shared.config.clone();
    config.implicit_tls = implicit;
    let handshake_timeout = config.command_timeout;
    let mut server = Server::new(config);
    let mut incoming = None;
    if implicit {
        let mut tls =
            tokio::time::timeout(handshake_timeout, shared.acceptor.accept(tcp)).await??;
        let info = tls_info(tls.get_ref().1);
        run(&mut server, &mut tls, &shared, &mut incoming, Some(&info)).await?;
        return Ok(());
    }
    let mut tcp = tcp;
    if let Phase::StartTls = run(&mut server, &mut tcp, &shared, &mut incoming, None).await? {
        let mut tls =
            tokio::time::timeout(handshake_timeout, shared.acceptor.accept(tcp)).await??;
        server.tls_established();
        let info = tls_info(tls.get_ref().1);
        run(&mut server, &mut tls, &shared, &mut incoming, Some(&info)).await?;
    }
    Ok(())
}

/// The TLS version and cipher suite of a session, e.g.
/// `TLSv1.3 TLS13_AES_256_GCM_SHA384`, recorded with each message.
fn tls_info(conn: &rustls::ServerConnection) -> String {
    let version = match conn.protocol_version() {
        Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3".to_string(),
        Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2".to_string(),
        Some(v) => format!("{v:?}"),
        None => "TLS".to_string(),
    };
    match conn.negotiated_cipher_suite() {
        Some(s) => format!("{version} {:?}", s.suite()),
        None => version,
    }
}

/// Drives the state machine over one stream until it closes or asks for TLS.
async fn run<S: AsyncRead + AsyncWrite + Unpin>(
    server: &mut Server,
    io: &mut S,
    shared: &Shared,
    incoming: &mut Option<Incoming>,
    tls: Option<&str>,
) -> std::io::Result<Phase> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut envelope = None;
    // When the command being read must be complete: a client that sends a
    // byte at a time cannot stretch one command past its timeout. Inside a
    // message body each read has its own timeout.
    let mut command_due: Option<Instant> = None;
    loop {
        match server.poll() {
            Action::Write(bytes) => {
                command_due = None;
                tokio::time::timeout(WRITE_TIMEOUT, io.write_all(&bytes)).await??;
            }
            Action::Read { timeout } => {
                let now = Instant::now();
                let wait = match incoming.is_some() {
                    true => timeout,
                    false => command_due
                        .get_or_insert(now + timeout)
                        .saturating_duration_since(now),
                };
                match tokio::time::timeout(wait, io.read(&mut buf)).await {
                    Ok(Ok(0)) | Ok(Err(_)) => server.connection_closed(),
                    Ok(Ok(n)) => server.receive(&buf[..n]),
                    Err(_) => {
                        let _ = tokio::time::timeout(
                            PARTING_TIMEOUT,
                            io.write_all(b"421 4.4.2 timeout exceeded\r\n"),
                        )
                        .await;
                        server.connection_closed();
                    }
                }
            }
            Action::Delay(d) => tokio::time::sleep(d).await,
            Action::StartTls => return Ok(Phase::StartTls),
            Action::Authenticate { user, password } => {
                // Constant time: how long the check takes says nothing of
                // how much of the password was right.
                let ok = shared.users.is_empty()
                    || shared.users.iter().fold(false, |found, (u, p)| {
                        let same_user = *u == user;
                        let same_password =
                            same_secret(p.expose().as_bytes(), password.expose().as_bytes());
                        found | (same_user & same_password)
                    });
                server.auth_result(&user, ok);
            }
            Action::MessageStart(env) => {
                if let Some(old) = incoming.take() {
                    old.abort(); // never leave a file behind in tmp/
                }
                *incoming = shared.maildir.begin(&env, tls).ok();
                envelope = Some(env);
            }
            Action::MessageData(chunk) => {
                if let Some(m) = incoming.as_mut() {
                    if m.write(&chunk).is_err() {
                        if let Some(m) = incoming.take() {
                            m.abort();
                        }
                    }
                }
            }
            Action::MessageEnd { size } => {
                let result = match incoming.take() {
                    None => Err("the Maildir is not writable".to_string()),
                    Some(m) => {
                        let (id, subject) = (m.id.clone(), m.subject());
                        match m.commit() {
                            Ok(path) => {
                                let env = envelope.take().unwrap_or_default();
                                let _ = shared.stored.send(Stored {
                                    from: env.from,
                                    to: env.to,
                                    subject,
                                    size,
                                    path,
                                });
                                Ok(id)
                            }
                            Err(e) => Err(e.to_string()),
                        }
                    }
                };
                server.message_stored(result);
            }
            Action::MessageAbort => {
                if let Some(m) = incoming.take() {
                    m.abort();
                }
            }
            Action::Close => {
                let _ = tokio::time::timeout(Duration::from_secs(1), io.shutdown()).await;
                return Ok(Phase::Closed);
            }
        }
    }
}

/// Whether two secrets are equal, in a time that depends on neither (their
/// digests are compared in full, so not even the length shows).
pub(crate) fn same_secret(a: &[u8], b: &[u8]) -> bool {
    let (x, y) = (
        ring::digest::digest(&ring::digest::SHA256, a),
        ring::digest::digest(&ring::digest::SHA256, b),
    );
    x.as_ref()
        .iter()
        .zip(y.as_ref())
        .fold(0u8, |acc, (p, q)| acc | (p ^ q))
        == 0
}
