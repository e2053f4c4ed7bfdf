//! `missive send --sandbox`: a real send, over a real socket, through the
//! whole client stack (STARTTLS with certificate verification, AUTH,
//! PIPELINING, the message builder) to the capture server started in this
//! process on an ephemeral loopback port. No account, no network.

use std::path::PathBuf;
use std::time::Duration;

use missive_smtp::server::ServerConfig;
use missive_smtp::{Credentials, Secret};

use crate::cli::SendArgs;
use crate::error::{AppError, Result};
use crate::net::ServerAddr;
use crate::send::{self, Sandbox};
use crate::serve::{self, CertSource, ServeOptions};

/// Where sandbox mail goes unless `--maildir` says otherwise.
pub const DEFAULT_MAILDIR: &str = "missive-sandbox";

pub async fn run(mut args: SendArgs) -> Result<()> {
    let maildir = args
        .maildir
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_MAILDIR));
    let password = random_hex(16);
    let mut running = serve::start(ServeOptions {
        listen: vec!["127.0.0.1:0".parse().expect("a socket address")],
        tls_listen: Vec::new(),
        maildir: maildir.clone(),
        cert: CertSource::Generate(vec!["localhost".into(), "127.0.0.1".into()]),
        users: vec![("sandbox".into(), Secret::new(password.clone()))],
        config: ServerConfig {
            hostname: "sandbox.missive.test".into(),
            command_timeout: Duration::from_secs(30),
            ..ServerConfig::default()
        },
    })
    .await?;
    let addr = running.addrs[0];
    let sandbox = Sandbox {
        server: ServerAddr {
            host: addr.ip().to_string(),
            port: addr.port(),
        },
        ca: running.ca_der.clone().expect("a generated CA"),
        credentials: Credentials::Password {
            user: "sandbox".into(),
            password: Secret::new(password),
        },
    };
    if !args.json {
        eprintln!(
            "missive: sandbox: capture server on {} (STARTTLS with a throwaway CA, AUTH required), Maildir {}",
            addr,
            maildir.display()
        );
        args.verbose = args.verbose.max(1);
    }
    let prepared = send::prepare(&args, Some(&sandbox))?;
    send::run_prepared(&args, prepared).await?;
    let stored = tokio::time::timeout(Duration::from_secs(5), running.stored.recv())
        .await
        .ok()
        .flatten()
        .ok_or_else(|| {
            AppError::Io(
                "the sandbox server accepted the message but did not report the file".into(),
            )
        })?;
    if !args.json {
        println!("delivered: {}", stored.path.display());
    }
    Ok(())
}

/// `user@host` for the sandbox's default sender.
pub fn default_from() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .ok()
        .filter(|u| {
            !u.is_empty()
                && u.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        })
        .unwrap_or_else(|| "missive".into());
    let host = crate::hostname::system_hostname()
        .filter(|h| {
            h.chars()
                .all(|c| c.is_ascii_alphanumeric() || ".-".contains(c))
        })
        .unwrap_or_else(|| "localhost".into());
    format!("{user}@{host}")
}

fn random_hex(n: usize) -> String {
    let mut b = vec![0u8; n];
    getrandom::fill(&mut b).unwrap_or_default();
    b.iter().map(|x| format!("{x:02x}")).collect()
}
