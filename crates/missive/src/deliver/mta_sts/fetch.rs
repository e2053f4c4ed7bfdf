//! Fetching a policy: `https://mta-sts.DOMAIN/.well-known/mta-sts.txt`
//! (RFC 8461 §3.3): the host resolved through missive's DNS, the
//! certificate verified (the `--cafile` CA trusted too), no redirects,
//! `text/plain`, at most 64 KiB, bounded in time. HTTP/1.0, so the answer
//! is never chunked.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::super::dns::Dns;
use super::FetchTrust;
use crate::transport::tls::{TlsContext, TlsOptions};

/// Most octets of policy body (§3.3 suggests 64 KiB).
const MAX_BODY: usize = 64 * 1024;
const MAX_HEAD: usize = 16 * 1024;
const TIMEOUT: Duration = Duration::from_secs(15);

fn port() -> u16 {
    std::env::var("MISSIVE_MTA_STS_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(443)
}

pub async fn policy<D: Dns>(dns: &D, domain: &str, trust: &FetchTrust) -> Result<String, String> {
    match tokio::time::timeout(TIMEOUT, get(dns, domain, trust)).await {
        Ok(r) => r,
        Err(_) => Err(format!("no answer within {} s", TIMEOUT.as_secs())),
    }
}

async fn get<D: Dns>(dns: &D, domain: &str, trust: &FetchTrust) -> Result<String, String> {
    let host = format!("mta-sts.{domain}");
    let addrs = dns.addrs(&host).await.map_err(|e| e.to_string())?;
    // Always verified, whatever --insecure says for SMTP.
    let tls = TlsContext::new(&TlsOptions {
        cafile: trust.cafile.clone(),
        ..TlsOptions::default()
    })
    .map_err(|e| e.to_string())?;
    let name = ServerName::try_from(host.clone()).map_err(|e| format!("{host}: {e}"))?;
    let mut last = String::from("no address");
    for ip in addrs {
        let addr = SocketAddr::new(ip, port());
        let tcp = match tokio::net::TcpStream::connect(addr).await {
            Ok(t) => t,
            Err(e) => {
                last = format!("{addr}: {e}");
                continue;
            }
        };
        let connector = tokio_rustls::TlsConnector::from(Arc::clone(&tls.config));
        let mut stream = connector
            .connect(name.clone(), tcp)
            .await
            .map_err(|e| format!("https://{host}: TLS: {e}"))?;
        let request = format!(
            "GET /.well-known/mta-sts.txt HTTP/1.0\r\nHost: {host}\r\nUser-Agent: missive/{}\r\nAccept: text/plain\r\n\r\n",
            env!("CARGO_PKG_VERSION")
        );
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 8192];
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) => break,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                // a peer that closes without close_notify: what came is kept
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
                Err(e) => return Err(e.to_string()),
            }
            if buf.len() > MAX_HEAD + MAX_BODY {
                return Err("the policy is over 64 KiB".into());
            }
        }
        return response(&buf);
    }
    Err(last)
}

/// The body of a `200` `text/plain` answer.
fn response(buf: &[u8]) -> Result<String, String> {
    let end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no complete HTTP answer")?;
    let head = String::from_utf8_lossy(&buf[..end]);
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap_or_default();
    let code = status.split_whitespace().nth(1).unwrap_or_default();
    if code != "200" {
        // 3xx included: redirects are not followed (§3.3)
        return Err(format!("HTTP status {status:?}"));
    }
    let content_type = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-type"))
        .map(|(_, v)| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    if !content_type.starts_with("text/plain") {
        return Err(format!("Content-Type {content_type:?}, not text/plain"));
    }
    let body = &buf[end + 4..];
    if body.len() > MAX_BODY {
        return Err("the policy is over 64 KiB".into());
    }
    String::from_utf8(body.to_vec()).map_err(|_| "the policy is not UTF-8".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_plain_200() {
        let ok =
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nversion: STSv1\r\n";
        assert_eq!(response(ok).unwrap(), "version: STSv1\r\n");
        assert!(response(b"HTTP/1.1 301 Moved\r\nLocation: x\r\n\r\n").is_err());
        assert!(response(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\nx").is_err());
    }
}
