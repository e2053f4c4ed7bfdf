//! Sockets: server addresses, connecting with a deadline, and a stream that
//! is plain TCP or TLS.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use crate::error::{AppError, Result};

/// A server as the user named it: host name or IP literal, and port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerAddr {
    pub host: String,
    pub port: u16,
}

impl ServerAddr {
    /// Parses `host`, `host:port`, `[v6]`, `[v6]:port` or a bare IPv6 address.
    pub fn parse(s: &str, default_port: u16) -> Result<ServerAddr> {
        let bad = || {
            AppError::Usage(format!(
                "invalid server {s:?}: expected HOST[:PORT] or [IPv6]:PORT"
            ))
        };
        let (host, port) = if let Some(rest) = s.strip_prefix('[') {
            let end = rest.find(']').ok_or_else(bad)?;
            let port = match &rest[end + 1..] {
                "" => None,
                p => Some(p.strip_prefix(':').ok_or_else(bad)?),
            };
            (&rest[..end], port)
        } else if s.matches(':').count() > 1 {
            (s, None) // a bare IPv6 address
        } else {
            match s.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (s, None),
            }
        };
        if host.is_empty() || host.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad());
        }
        let port = match port {
            Some(p) => p.parse().ok().filter(|&p| p != 0).ok_or_else(bad)?,
            None => default_port,
        };
        Ok(ServerAddr {
            host: host.to_string(),
            port,
        })
    }

    /// `host:port`, with brackets around an IPv6 literal.
    pub fn display(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// Resolves and connects, trying each address in turn within `timeout` each.
pub async fn connect(server: &ServerAddr, timeout: Duration) -> Result<TcpStream> {
    let addrs = resolve(server, timeout).await?;
    connect_any(server, &addrs, timeout).await
}

/// The addresses of `server` through the system resolver.
pub async fn resolve(server: &ServerAddr, timeout: Duration) -> Result<Vec<SocketAddr>> {
    let target = (server.host.as_str(), server.port);
    match tokio::time::timeout(timeout, tokio::net::lookup_host(target)).await {
        Err(_) => Err(AppError::Network(format!(
            "looking up {} timed out",
            server.host
        ))),
        Ok(Err(e)) => Err(AppError::NoHost(format!(
            "cannot resolve {}: {}",
            server.host,
            short_io(&e)
        ))),
        Ok(Ok(a)) => Ok(a.collect()),
    }
}

/// Connects to the first of `addrs` that answers, each within `timeout`.
pub async fn connect_any(
    server: &ServerAddr,
    addrs: &[SocketAddr],
    timeout: Duration,
) -> Result<TcpStream> {
    let mut last = None;
    for addr in addrs {
        match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
            Ok(Ok(s)) => {
                // Each command group goes out in one write; without NODELAY a
                // small write waits for the previous one's ACK (Nagle).
                s.set_nodelay(true).ok();
                quick_ack(&s);
                return Ok(s);
            }
            Ok(Err(e)) => last = Some(format!("{}: {}", fmt_addr(addr), short_io(&e))),
            Err(_) => {
                last = Some(format!(
                    "{}: timed out after {} s",
                    fmt_addr(addr),
                    timeout.as_secs()
                ))
            }
        }
    }
    Err(AppError::Network(format!(
        "cannot connect to {}: {}",
        server.display(),
        last.unwrap_or_else(|| "no address".into())
    )))
}

/// Asks the kernel to acknowledge what arrives at once (Linux `TCP_QUICKACK`,
/// which it clears again by itself, so it is set before each wait for a
/// reply). Servers that keep Nagle on (Postfix's smtpd does) otherwise hold
/// their reply until our delayed ACK, 40 ms later, of what they sent before.
pub fn quick_ack(s: &TcpStream) {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        let _ = socket2::SockRef::from(s).set_tcp_quickack(true);
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let _ = s;
}

fn fmt_addr(a: &SocketAddr) -> String {
    a.to_string()
}

/// An io::Error without the "(os error N)" noise.
pub fn short_io(e: &io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// A connection, before or after TLS.
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
    /// Only while the TCP stream is handed to the TLS handshake.
    Detached,
}

fn detached() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "connection closed")
}

impl Stream {
    /// The TLS session, when there is one.
    pub fn tls(&self) -> Option<&rustls::ClientConnection> {
        match self {
            Stream::Tls(t) => Some(t.get_ref().1),
            _ => None,
        }
    }

    /// See [`quick_ack`].
    pub fn quick_ack(&self) {
        match self {
            Stream::Plain(s) => quick_ack(s),
            Stream::Tls(t) => quick_ack(t.get_ref().0),
            Stream::Detached => {}
        }
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Detached => Poll::Ready(Err(detached())),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Detached => Poll::Ready(Err(detached())),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s).poll_flush(cx),
            Stream::Detached => Poll::Ready(Err(detached())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Detached => Poll::Ready(Err(detached())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_server_forms() {
        let p = |s| ServerAddr::parse(s, 587);
        assert_eq!(
            p("smtp.x.test").unwrap(),
            ServerAddr {
                host: "smtp.x.test".into(),
                port: 587
            }
        );
        assert_eq!(p("smtp.x.test:465").unwrap().port, 465);
        assert_eq!(
            p("[::1]:2525").unwrap(),
            ServerAddr {
                host: "::1".into(),
                port: 2525
            }
        );
        assert_eq!(p("[::1]").unwrap().port, 587);
        assert_eq!(p("::1").unwrap().host, "::1");
        assert_eq!(p("[::1]:2525").unwrap().display(), "[::1]:2525");
        for bad in ["", ":25", "h:x", "h:0", "[::1", "[::1]x", "a b:25"] {
            assert!(p(bad).is_err(), "{bad}");
        }
    }
}
