//! The sandbox: the capture server started in this process on an ephemeral
//! loopback port with a throwaway CA and a random login, and the mailer
//! options that send to it through the whole client stack (STARTTLS with
//! certificate verification, AUTH, PIPELINING). No account, no network.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use missive_smtp::client::TlsMode;
use missive_smtp::server::ServerConfig;
use missive_smtp::Secret;

use super::{CertSource, Running, ServeOptions};
use crate::deliver::{MailerOptions, Relay, Route, Trust};
use crate::error::{AppError, Result};
use crate::secrets::{Login, SecretSource};
use crate::transport::net::ServerAddr;

/// A capture server running in this process.
///
/// ```no_run
/// # async fn f() -> missive::Result<()> {
/// use missive::{Mail, Mailer, MessageBuilder, Sandbox};
/// let mut sandbox = Sandbox::start("missive-sandbox".as_ref()).await?;
/// let mailer = Mailer::new(sandbox.mailer_options())?;
/// let built = MessageBuilder::new("me@example.com")?.to("you@example.com")?.text("hi").build()?;
/// mailer.send(&Mail::new(&built.from_address, &["you@example.com"], built.message)?).await?;
/// let path = sandbox.next_stored(std::time::Duration::from_secs(5)).await;
/// # Ok(()) }
/// ```
pub struct Sandbox {
    running: Running,
    address: SocketAddr,
    password: Secret,
}

impl Sandbox {
    /// Starts the server; messages land in the Maildir `maildir`.
    pub async fn start(maildir: &Path) -> Result<Sandbox> {
        let password = Secret::new(random_hex(16));
        let running = super::start(ServeOptions {
            listen: vec!["127.0.0.1:0".parse().expect("a socket address")],
            tls_listen: Vec::new(),
            maildir: maildir.to_path_buf(),
            cert: CertSource::Generate(vec!["localhost".into(), "127.0.0.1".into()]),
            users: vec![("sandbox".into(), password.clone())],
            config: ServerConfig {
                hostname: "sandbox.missive.test".into(),
                command_timeout: Duration::from_secs(30),
                ..ServerConfig::default()
            },
            limits: super::Limits::default(),
        })
        .await?;
        let address = running.addrs[0];
        Ok(Sandbox {
            running,
            address,
            password,
        })
    }

    /// Where it listens.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// A relay to this server: STARTTLS verified against its own CA only, AUTH required.
    pub fn mailer_options(&self) -> MailerOptions {
        let relay = Relay {
            server: ServerAddr {
                host: self.address.ip().to_string(),
                port: self.address.port(),
            },
            tls: TlsMode::StartTls,
            login: Some(Login::password(
                "sandbox",
                SecretSource::Value(self.password.clone()),
            )),
            mechanism: None,
            allow_plaintext_auth: false,
        };
        let mut options = MailerOptions::new(Route::Relay(relay));
        options.trust = Trust {
            no_system_roots: true,
            extra_roots: self.running.ca_der.iter().cloned().collect(),
            ..Trust::default()
        };
        options
    }

    /// The file of the next message stored, waiting up to `wait`.
    pub async fn next_stored(&mut self, wait: Duration) -> Result<PathBuf> {
        tokio::time::timeout(wait, self.running.stored.recv())
            .await
            .ok()
            .flatten()
            .map(|s| s.path)
            .ok_or_else(|| {
                AppError::Io(
                    "the sandbox server accepted the message but did not report the file".into(),
                )
            })
    }
}

fn random_hex(n: usize) -> String {
    let mut b = vec![0u8; n];
    getrandom::fill(&mut b).unwrap_or_default();
    b.iter().map(|x| format!("{x:02x}")).collect()
}
