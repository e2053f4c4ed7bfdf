//! `missive serve`: options to a running capture server, one line per message.

use std::net::SocketAddr;
use std::time::Duration;

use missive_smtp::server::{FaultStage, Faults, ServerConfig};
use missive_smtp::Secret;

use crate::cli::ServeArgs;
use crate::error::{printable, AppError, Result};
use crate::serve::http::{self, HttpOptions};
use crate::serve::{self, CertSource, ServeOptions};

pub(super) async fn run(args: ServeArgs) -> Result<()> {
    let listen = addrs(&args.listen, &["127.0.0.1:2525"])?;
    let tls_listen = addrs(&args.tls_listen, &[])?;
    let cert = match (&args.cert, &args.key) {
        (Some(cert), Some(key)) => CertSource::Files {
            cert: cert.clone(),
            key: key.clone(),
        },
        _ => CertSource::Generate(vec!["localhost".into(), "127.0.0.1".into(), "::1".into()]),
    };
    let users = logins(&args)?;
    let config = ServerConfig {
        hostname: args.hostname.clone(),
        max_size: args.max_size,
        command_timeout: Duration::from_secs(args.timeout.max(1)),
        faults: faults(&args)?,
        ..ServerConfig::default()
    };
    let mut running = serve::start(ServeOptions {
        listen,
        tls_listen,
        maildir: args.maildir.clone(),
        cert,
        users,
        config,
        limits: serve::Limits {
            connections: args.max_connections.max(1),
            session: Duration::from_secs(args.session_timeout.max(1)),
        },
    })
    .await?;
    for a in &running.addrs {
        eprintln!("missive: listening on {a} (STARTTLS offered)");
    }
    for a in &running.tls_addrs {
        eprintln!("missive: listening on {a} (implicit TLS)");
    }
    if let Some(pem) = &running.ca_pem {
        let path = args.maildir.join("missive-ca.pem");
        std::fs::write(&path, pem)
            .map_err(|e| AppError::Io(format!("cannot write {}: {e}", path.display())))?;
        eprintln!(
            "missive: throwaway CA certificate: {} (give it to clients with --cafile)",
            path.display()
        );
    }
    let web = match &args.http {
        Some(addr) => {
            let running = http::start(HttpOptions {
                addr: http_addr(addr)?,
                login: http_login(&args)?,
                maildir: args.maildir.clone(),
            })?;
            eprintln!("missive: web page and API on http://{}/", running.addr);
            Some(running)
        }
        None => None,
    };
    eprintln!("missive: writing messages to {}", args.maildir.display());
    loop {
        tokio::select! {
            m = running.stored.recv() => match m {
                Some(m) if web.is_some() || !args.quiet => {
                    if let Some(w) = &web {
                        w.stored(&m.path);
                    }
                    if !args.quiet {
                        print_stored(m);
                    }
                }
                Some(_) => {}
                None => return Ok(()),
            },
            // Every acknowledged message is already on disk: stopping loses none.
            _ = tokio::signal::ctrl_c() => {
                eprintln!("missive: stopping");
                return Ok(());
            }
        }
    }
}

/// The one line per stored message. Addresses and subject come from the
/// client: escaped.
fn print_stored(m: serve::Stored) {
    println!(
        "{} -> {} subject={:?} size={} file={}",
        printable(if m.from.is_empty() { "<>" } else { &m.from }),
        printable(&m.to.join(",")),
        m.subject.unwrap_or_default(),
        m.size,
        m.path.display()
    );
}

/// The environment variable that holds the password of `--http-auth-user`.
const HTTP_PASSWORD_ENV: &str = "MISSIVE_HTTP_PASSWORD";

/// `--http`: ADDR:PORT, or a port alone (then loopback).
fn http_addr(s: &str) -> Result<SocketAddr> {
    if let Ok(port) = s.parse::<u16>() {
        return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    if let Some(port) = s.strip_prefix("localhost:") {
        if let Ok(port) = port.parse::<u16>() {
            return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
        }
    }
    s.parse().map_err(|_| {
        AppError::Usage(format!(
            "invalid --http address {s:?}: expected PORT, ADDR:PORT or [IPv6]:PORT"
        ))
    })
}

/// The login of `--http-auth-user`, its password from a file or the
/// environment.
fn http_login(args: &ServeArgs) -> Result<Option<(String, Secret)>> {
    let Some(user) = &args.http_auth_user else {
        return Ok(None);
    };
    let password = match &args.http_auth_password_file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| AppError::Config(format!("cannot read {}: {e}", path.display())))?;
            Some(text.lines().next().unwrap_or_default().to_string())
        }
        None => std::env::var(HTTP_PASSWORD_ENV).ok(),
    };
    match password.filter(|p| !p.is_empty()) {
        Some(p) if !user.contains(':') => Ok(Some((user.clone(), Secret::new(p)))),
        Some(_) => Err(AppError::Usage(
            "--http-auth-user: a name with ':' cannot log in with HTTP Basic".into(),
        )),
        None => Err(AppError::Usage(format!(
            "--http-auth-user needs a password in ${HTTP_PASSWORD_ENV} or --http-auth-password-file"
        ))),
    }
}

/// The environment variable that holds the password of `--auth-user`.
const PASSWORD_ENV: &str = "MISSIVE_SERVE_PASSWORD";

/// The required logins: names from `--auth-user`, the password from a file
/// or the environment (a password on the command line is visible to every
/// user of the machine in the process list).
fn logins(args: &ServeArgs) -> Result<Vec<(String, Secret)>> {
    if args.auth_user.is_empty() {
        return Ok(Vec::new());
    }
    let password = match &args.auth_password_file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| AppError::Config(format!("cannot read {}: {e}", path.display())))?;
            Some(text.lines().next().unwrap_or_default().to_string())
        }
        None => std::env::var(PASSWORD_ENV).ok(),
    };
    let Some(password) = password.filter(|p| !p.is_empty()) else {
        let hint = match args.auth_user.iter().any(|u| u.contains(':')) {
            true => " (NAME:PASSWORD is no longer taken: a password on the command line is visible to every user)",
            false => "",
        };
        return Err(AppError::Usage(format!(
            "--auth-user needs a password in ${PASSWORD_ENV} or --auth-password-file{hint}"
        )));
    };
    Ok(args
        .auth_user
        .iter()
        .map(|u| (u.clone(), Secret::new(password.clone())))
        .collect())
}

fn addrs(given: &[String], default: &[&str]) -> Result<Vec<SocketAddr>> {
    let list: Vec<String> = if given.is_empty() {
        default.iter().map(|s| s.to_string()).collect()
    } else {
        given.to_vec()
    };
    list.iter()
        .map(|s| {
            s.parse().map_err(|_| {
                AppError::Usage(format!(
                    "invalid listen address {s:?}: expected ADDR:PORT or [IPv6]:PORT"
                ))
            })
        })
        .collect()
}

fn stage(s: &str) -> Result<FaultStage> {
    FaultStage::parse(s).ok_or_else(|| {
        AppError::Usage(format!(
            "unknown stage {s:?}: greeting, ehlo, mail, rcpt, data or end-of-data"
        ))
    })
}

fn pair<'a>(s: &'a str, flag: &str) -> Result<(&'a str, u64)> {
    let (a, b) = s
        .rsplit_once('=')
        .ok_or_else(|| AppError::Usage(format!("{flag} takes X=N, got {s:?}")))?;
    let n = b
        .parse()
        .map_err(|_| AppError::Usage(format!("{flag}: {b:?} is not a number")))?;
    Ok((a, n))
}

fn code(n: u64, flag: &str) -> Result<u16> {
    match n {
        400..=599 => Ok(n as u16),
        _ => Err(AppError::Usage(format!(
            "{flag}: {n} is not a 4xx or 5xx reply code"
        ))),
    }
}

fn faults(args: &ServeArgs) -> Result<Faults> {
    let mut f = Faults::default();
    for s in &args.fail_at {
        let (st, n) = pair(s, "--fail-at")?;
        f.fail_at.push((stage(st)?, code(n, "--fail-at")?));
    }
    for s in &args.drop_at {
        f.drop_at.push(stage(s)?);
    }
    for s in &args.delay {
        let (st, ms) = pair(s, "--delay")?;
        f.delay.push((stage(st)?, Duration::from_millis(ms)));
    }
    for s in &args.reject_rcpt {
        let (p, n) = pair(s, "--reject-rcpt")?;
        f.reject_rcpt
            .push((p.to_string(), code(n, "--reject-rcpt")?));
    }
    Ok(f)
}
