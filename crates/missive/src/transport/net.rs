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
    /// A host name or an IP literal (without brackets).
    pub host: String,
    /// The TCP port.
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

/// The addresses of `server` through the system resolver.
pub async fn resolve(server: &ServerAddr, timeout: Duration) -> Result<Vec<SocketAddr>> {
    let target = (server.host.as_str(), server.port);
    match tokio::time::timeout(timeout, tokio::net::lookup_host(target)).await {
        Err(_) => Err(AppError::Network(format!(
            "looking up {} timed out",
            server.host
        ))),
        // Only "no such name" is permanent; a resolver that cannot answer
        // now (EAI_AGAIN, no network) is worth retrying.
        Ok(Err(e)) if is_temporary_lookup_failure(&e) => Err(AppError::Network(format!(
            "cannot resolve {} now: {}",
            server.host,
            short_io(&e)
        ))),
        Ok(Err(e)) => Err(AppError::NoHost(format!(
            "cannot resolve {}: {}",
            server.host,
            short_io(&e)
        ))),
        Ok(Ok(a)) => Ok(a.collect()),
    }
}

/// getaddrinfo's temporary failures, by their text (std gives no error code).
fn is_temporary_lookup_failure(e: &std::io::Error) -> bool {
    let text = e.to_string().to_ascii_lowercase();
    [
        "temporary failure",
        "try again",
        "timed out",
        "network is unreachable",
    ]
    .iter()
    .any(|t| text.contains(t))
}

/// How long one connection attempt runs alone before the next one starts
/// beside it (RFC 8305 §5 recommends 250 ms).
const ATTEMPT_DELAY: Duration = Duration::from_millis(250);

/// Connects to the first of `addrs` that answers ("Happy Eyeballs", RFC 8305):
/// IPv6 and IPv4 alternate, a new attempt starts every 250 ms (or at once
/// when one fails) while earlier ones go on, the first to connect wins, and
/// each attempt gives up after `timeout`. A dead address family costs 250 ms,
/// not a whole timeout.
pub async fn connect_any(
    server: &ServerAddr,
    addrs: &[SocketAddr],
    timeout: Duration,
) -> Result<TcpStream> {
    let order = interleave(addrs, SocketAddr::ip);
    let mut attempts = tokio::task::JoinSet::new();
    let mut next = 0;
    let mut last = None;
    loop {
        if next < order.len() {
            let addr = order[next];
            next += 1;
            attempts.spawn(async move {
                let result = tokio::time::timeout(timeout, TcpStream::connect(addr)).await;
                (addr, result)
            });
        }
        if attempts.is_empty() {
            break;
        }
        let more = next < order.len();
        tokio::select! {
            done = attempts.join_next() => match done {
                Some(Ok((_, Ok(Ok(s))))) => {
                    // Each command group goes out in one write; without NODELAY a
                    // small write waits for the previous one's ACK (Nagle).
                    s.set_nodelay(true).ok();
                    quick_ack(&s);
                    return Ok(s); // dropping the set aborts the other attempts
                }
                Some(Ok((addr, Ok(Err(e))))) => last = Some(format!("{}: {}", fmt_addr(&addr), short_io(&e))),
                Some(Ok((addr, Err(_)))) => {
                    last = Some(format!("{}: timed out after {} s", fmt_addr(&addr), timeout.as_secs()))
                }
                Some(Err(e)) => last = Some(format!("connection attempt failed: {e}")),
                None => {}
            },
            _ = tokio::time::sleep(ATTEMPT_DELAY), if more => {}
        }
    }
    Err(AppError::Network(format!(
        "cannot connect to {}: {}",
        server.display(),
        last.unwrap_or_else(|| "no address".into())
    )))
}

/// Addresses with IPv6 first, then alternating families, keeping each
/// family's order, so a dead family costs one attempt, not all of its own.
pub fn interleave<T: Copy>(addrs: &[T], ip: impl Fn(&T) -> std::net::IpAddr) -> Vec<T> {
    let (v6, v4): (Vec<T>, Vec<T>) = addrs.iter().partition(|a| ip(a).is_ipv6());
    let mut out = Vec::with_capacity(addrs.len());
    for i in 0..v6.len().max(v4.len()) {
        out.extend(v6.get(i));
        out.extend(v4.get(i));
    }
    out
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
    fn families_alternate() {
        let a: Vec<SocketAddr> = ["127.0.0.1:1", "127.0.0.2:1", "[::1]:1"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        let out: Vec<String> = interleave(&a, SocketAddr::ip)
            .iter()
            .map(|a| a.to_string())
            .collect();
        assert_eq!(out, ["[::1]:1", "127.0.0.1:1", "127.0.0.2:1"]);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn first_address_that_answers_wins() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let good = listener.local_addr().unwrap();
        // a port that refuses: bind, note it, close
        let refused = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let server = ServerAddr {
            host: "localhost".into(),
            port: good.port(),
        };
        let s = connect_any(&server, &[refused, good], Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(s.peer_addr().unwrap(), good);
        let e = connect_any(&server, &[refused], Duration::from_secs(5))
            .await
            .unwrap_err();
        assert!(e.to_string().contains("refused"), "{e}");
        assert_eq!(e.exit_code(), crate::error::exit::TEMPFAIL);
    }

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
