//! `missive dkim keygen` and `missive dkim check`.

use std::io::Write;
use std::path::PathBuf;

use crate::cli::dkim::{DkimAlgorithmArg, DkimCheckArgs, DkimCmd, DkimKeygenArgs};
use crate::deliver::dns::{Dns, Hickory, LookupError};
use crate::error::{exit, AppError, Result};
use crate::message::dkim::{key, SigningKey};

pub(super) async fn run(cmd: DkimCmd) -> Result<()> {
    match cmd {
        DkimCmd::Keygen(a) => keygen(a),
        DkimCmd::Check(a) => check(a).await,
    }
}

fn keygen(a: DkimKeygenArgs) -> Result<()> {
    let path = a
        .out
        .unwrap_or_else(|| PathBuf::from(format!("{}.{}.key", a.selector, a.domain)));
    let pem = match a.algorithm {
        DkimAlgorithmArg::Ed25519 => key::generate_ed25519()?,
        DkimAlgorithmArg::Rsa => rsa_with_openssl()?,
    };
    // Checks what was made before it is written.
    let key = SigningKey::from_pem(pem.as_bytes()).map_err(AppError::Config)?;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts.open(&path).map_err(|e| {
        AppError::Io(format!(
            "{}: {}",
            path.display(),
            crate::transport::net::short_io(&e)
        ))
    })?;
    f.write_all(pem.as_bytes())
        .and_then(|_| f.sync_all())
        .map_err(|e| AppError::Io(format!("{}: {e}", path.display())))?;
    eprintln!(
        "missive: wrote the private key to {} (mode 0600); publish this record:",
        path.display()
    );
    println!("{}", zone_line(&a.selector, &a.domain, &key.record()));
    Ok(())
}

/// ring signs with RSA but cannot make RSA keys: openssl(1) makes one.
fn rsa_with_openssl() -> Result<String> {
    let out = std::process::Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
        ])
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| {
            AppError::Config(format!(
                "an RSA key is made with openssl(1), which could not run ({e}); use --algorithm ed25519, or make one with `openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048`"
            ))
        })?;
    if !out.status.success() {
        return Err(AppError::Config(format!(
            "openssl genpkey failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    String::from_utf8(out.stdout).map_err(|_| AppError::Config("openssl printed no PEM".into()))
}

/// `S._domainkey.D. IN TXT ( "…" "…" )`: strings of at most 255 octets.
fn zone_line(selector: &str, domain: &str, record: &str) -> String {
    let parts: Vec<String> = record
        .as_bytes()
        .chunks(255)
        .map(|c| format!("\"{}\"", String::from_utf8_lossy(c)))
        .collect();
    format!(
        "{selector}._domainkey.{}. IN TXT ( {} )",
        domain.trim_end_matches('.'),
        parts.join(" ")
    )
}

/// The tags of a key record (`v=DKIM1; k=rsa; p=…`).
fn tags(record: &str) -> Vec<(String, String)> {
    record
        .split(';')
        .filter_map(|t| t.split_once('='))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect()
}

async fn check(a: DkimCheckArgs) -> Result<()> {
    let name = format!(
        "{}._domainkey.{}",
        a.selector,
        a.domain.trim_end_matches('.')
    );
    let dns = Hickory::new(a.dns_server.as_deref())?;
    let records = match dns.txt(&name).await {
        Ok(r) => r,
        Err(LookupError::Temporary(_, why)) => {
            return Err(AppError::Refused(
                format!("{name}: DNS lookup failed ({why})"),
                exit::TEMPFAIL,
            ))
        }
        Err(e) => {
            return Err(AppError::Refused(
                format!("no DKIM key record: {e}"),
                exit::UNAVAILABLE,
            ))
        }
    };
    let keys: Vec<&String> = records.iter().filter(|r| r.contains("p=")).collect();
    let [record] = keys.as_slice() else {
        return Err(AppError::Refused(
            format!(
                "{name}: {} TXT records with p= (want exactly one)",
                keys.len()
            ),
            exit::UNAVAILABLE,
        ));
    };
    let t = tags(record);
    let get = |k: &str| t.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    if get("v").is_some_and(|v| v != "DKIM1") {
        return Err(AppError::Refused(
            format!("{name}: v={} is not DKIM1", get("v").unwrap_or_default()),
            exit::UNAVAILABLE,
        ));
    }
    let k = get("k").unwrap_or("rsa");
    let p = get("p").unwrap_or_default();
    println!("{name}: k={k}; {record}");
    if p.is_empty() {
        return Err(AppError::Refused(
            format!("{name}: the key is revoked (empty p=)"),
            exit::UNAVAILABLE,
        ));
    }
    let Some(path) = a.key else {
        println!("a {k} key is published (give --key FILE to compare it with yours)");
        return Ok(());
    };
    let key = SigningKey::load(&path)?;
    if key.algorithm().key_type() != k.to_ascii_lowercase() || !key.matches(p) {
        return Err(AppError::Refused(
            format!(
                "{name} does not match {}; publish: {}",
                path.display(),
                zone_line(&a.selector, &a.domain, &key.record())
            ),
            exit::DATAERR,
        ));
    }
    println!("matches {}", path.display());
    Ok(())
}
