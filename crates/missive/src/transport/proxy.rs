//! Connecting through a proxy: SOCKS5 (RFC 1928, with the user/password
//! login of RFC 1929) and HTTP CONNECT (RFC 9110 §9.3.6). `socks5://`
//! resolves the server's name here and gives the proxy an address;
//! `socks5h://` and `http://` give the proxy the name to resolve. When the
//! addresses are already known (direct delivery resolves its MX hosts
//! itself), the proxy is given those.

use std::net::SocketAddr;
use std::time::Duration;

use base64::Engine as _;
use missive_smtp::Secret;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::net::{self, ServerAddr};
use crate::error::{AppError, Result};

/// The kinds of proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyKind {
    /// SOCKS5, names resolved locally.
    Socks5,
    /// SOCKS5, names resolved by the proxy.
    Socks5h,
    /// An HTTP proxy that takes CONNECT.
    Http,
}

/// A proxy every connection goes through.
#[derive(Clone)]
pub struct Proxy {
    /// SOCKS5 or HTTP CONNECT.
    pub kind: ProxyKind,
    /// The proxy itself.
    pub server: ServerAddr,
    /// Its login (SOCKS5 user/password, HTTP Basic).
    pub user: Option<String>,
    /// Its password (with `user`).
    pub password: Option<Secret>,
    /// Hosts reached without the proxy (`NO_PROXY`, for a proxy from `ALL_PROXY`).
    pub no_proxy: Vec<String>,
}

/// Never shows the password.
impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Proxy({})", self.display())
    }
}

impl Proxy {
    /// `socks5://[USER[:PASSWORD]@]HOST[:PORT]` (port 1080), `socks5h://…`,
    /// or `http://[USER[:PASSWORD]@]HOST[:PORT]` (port 8080); user and
    /// password percent-encoded.
    pub fn parse(url: &str) -> Result<Proxy> {
        let bad = |why: &str| AppError::Usage(format!("invalid proxy {:?}: {why}", redact(url)));
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| bad("expected socks5://, socks5h:// or http://HOST:PORT"))?;
        let (kind, default_port) = match scheme.to_ascii_lowercase().as_str() {
            "socks5" => (ProxyKind::Socks5, 1080),
            "socks5h" => (ProxyKind::Socks5h, 1080),
            "http" => (ProxyKind::Http, 8080),
            _ => return Err(bad("the scheme must be socks5, socks5h or http")),
        };
        let rest = rest.trim_end_matches('/');
        let (login, host) = match rest.rsplit_once('@') {
            Some((l, h)) => (Some(l), h),
            None => (None, rest),
        };
        let (user, password) = match login {
            None => (None, None),
            Some(l) => match l.split_once(':') {
                Some((u, p)) => (Some(decode(u)), Some(Secret::new(decode(p)))),
                None => (Some(decode(l)), None),
            },
        };
        if host.contains('/') {
            return Err(bad("a proxy URL has no path"));
        }
        let server = ServerAddr::parse(host, default_port).map_err(|_| bad("bad HOST[:PORT]"))?;
        Ok(Proxy {
            kind,
            server,
            user: user.filter(|u| !u.is_empty()),
            password,
            no_proxy: Vec::new(),
        })
    }

    /// `scheme://host:port`, without the login.
    pub fn display(&self) -> String {
        let scheme = match self.kind {
            ProxyKind::Socks5 => "socks5",
            ProxyKind::Socks5h => "socks5h",
            ProxyKind::Http => "http",
        };
        format!("{scheme}://{}", self.server.display())
    }

    /// Whether `host` is reached without the proxy (`NO_PROXY`: `*`, a
    /// name and its subdomains, `.domain`, or an address).
    pub fn bypasses(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.no_proxy.iter().any(|entry| {
            let e = entry
                .trim()
                .trim_start_matches("*.")
                .trim_start_matches('.');
            let e = e.to_ascii_lowercase();
            entry.trim() == "*"
                || (!e.is_empty() && (host == e || host.ends_with(&format!(".{e}"))))
        })
    }

    /// A connection to `target` through the proxy, within `timeout`.
    /// `addrs`: the target's addresses when already resolved.
    pub async fn connect(
        &self,
        target: &ServerAddr,
        addrs: &[SocketAddr],
        timeout: Duration,
    ) -> Result<TcpStream> {
        let work = async {
            let destinations: Vec<Dest> = match (self.kind, addrs.is_empty()) {
                (_, false) => addrs.iter().map(|a| Dest::Addr(*a)).collect(),
                (ProxyKind::Socks5, true) => net::resolve(target, timeout)
                    .await?
                    .into_iter()
                    .map(Dest::Addr)
                    .collect(),
                (_, true) => vec![Dest::Name(target.host.clone(), target.port)],
            };
            let mut last = None;
            for dest in &destinations {
                match self.tunnel(dest, timeout).await {
                    Ok(s) => return Ok(s),
                    // The proxy itself is unreachable or refuses us: no use trying further.
                    Err(e @ (AppError::Auth(_) | AppError::Config(_))) => return Err(e),
                    Err(e) => last = Some(e),
                }
            }
            Err(last.unwrap_or_else(|| {
                AppError::Network(format!("no address for {}", target.display()))
            }))
        };
        tokio::time::timeout(timeout, work).await.map_err(|_| {
            AppError::Network(format!(
                "connecting to {} through the proxy {} timed out after {} s",
                target.display(),
                self.display(),
                timeout.as_secs()
            ))
        })?
    }

    async fn tunnel(&self, dest: &Dest, timeout: Duration) -> Result<TcpStream> {
        let proxy_addrs = net::resolve(&self.server, timeout).await?;
        let mut s = net::connect_any(&self.server, &proxy_addrs, timeout)
            .await
            .map_err(|e| AppError::Network(format!("the proxy {}: {e}", self.display())))?;
        let io = |e: std::io::Error| {
            AppError::Network(format!(
                "the proxy {}: {}",
                self.display(),
                net::short_io(&e)
            ))
        };
        match self.kind {
            ProxyKind::Socks5 | ProxyKind::Socks5h => {
                self.socks5(&mut s, dest).await.map_err(|e| match e {
                    Step::Io(e) => io(e),
                    Step::App(e) => e,
                })?
            }
            ProxyKind::Http => self.http_connect(&mut s, dest).await.map_err(|e| match e {
                Step::Io(e) => io(e),
                Step::App(e) => e,
            })?,
        }
        Ok(s)
    }

    async fn socks5(&self, s: &mut TcpStream, dest: &Dest) -> std::result::Result<(), Step> {
        let login = self.user.is_some();
        let hello: &[u8] = if login { &[5, 2, 0, 2] } else { &[5, 1, 0] };
        s.write_all(hello).await?;
        let mut choice = [0u8; 2];
        s.read_exact(&mut choice).await?;
        match choice {
            [5, 0] => {}
            [5, 2] if login => {
                let user = self.user.as_deref().unwrap_or_default().as_bytes();
                let password = self.password.as_ref().map(|p| p.expose().as_bytes().to_vec());
                let password = password.unwrap_or_default();
                if user.len() > 255 || password.len() > 255 {
                    return Err(self.config("the SOCKS5 user and password are at most 255 octets each"));
                }
                let mut msg = vec![1, user.len() as u8];
                msg.extend_from_slice(user);
                msg.push(password.len() as u8);
                msg.extend_from_slice(&password);
                s.write_all(&msg).await?;
                let mut status = [0u8; 2];
                s.read_exact(&mut status).await?;
                if status[1] != 0 {
                    return Err(Step::App(AppError::Auth(format!(
                        "the proxy {} refused the login of {}",
                        self.display(),
                        self.user.as_deref().unwrap_or_default()
                    ))));
                }
            }
            [5, 0xff] => {
                return Err(Step::App(AppError::Auth(format!(
                    "the proxy {} wants a login: give it in the URL (socks5://USER:PASSWORD@HOST:PORT) or with a proxy password source",
                    self.display()
                ))))
            }
            _ => return Err(self.protocol("answered the greeting with something that is not SOCKS5")),
        }
        let mut req = vec![5, 1, 0];
        match dest {
            Dest::Addr(SocketAddr::V4(a)) => {
                req.push(1);
                req.extend_from_slice(&a.ip().octets());
            }
            Dest::Addr(SocketAddr::V6(a)) => {
                req.push(4);
                req.extend_from_slice(&a.ip().octets());
            }
            Dest::Name(name, _) => {
                if name.len() > 255 {
                    return Err(self.config("a host name over 255 octets"));
                }
                req.push(3);
                req.push(name.len() as u8);
                req.extend_from_slice(name.as_bytes());
            }
        }
        req.extend_from_slice(&dest.port().to_be_bytes());
        s.write_all(&req).await?;
        let mut head = [0u8; 4];
        s.read_exact(&mut head).await?;
        if head[0] != 5 {
            return Err(self.protocol("answered CONNECT with something that is not SOCKS5"));
        }
        if head[1] != 0 {
            let why = match head[1] {
                1 => "general failure",
                2 => "not allowed by its rules",
                3 => "network unreachable",
                4 => "host unreachable",
                5 => "connection refused",
                6 => "TTL expired",
                7 => "command not supported",
                8 => "address type not supported",
                _ => "unknown error",
            };
            return Err(Step::App(AppError::Network(format!(
                "the proxy {} could not connect to {}: {why}",
                self.display(),
                dest.shown()
            ))));
        }
        let rest = match head[3] {
            1 => 4 + 2,
            4 => 16 + 2,
            3 => {
                let mut len = [0u8; 1];
                s.read_exact(&mut len).await?;
                len[0] as usize + 2
            }
            _ => return Err(self.protocol("answered with an unknown address type")),
        };
        let mut bound = vec![0u8; rest];
        s.read_exact(&mut bound).await?;
        Ok(())
    }

    async fn http_connect(&self, s: &mut TcpStream, dest: &Dest) -> std::result::Result<(), Step> {
        let authority = dest.shown();
        let mut req = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n");
        if let Some(user) = &self.user {
            let password = self.password.as_ref().map_or("", |p| p.expose());
            let basic =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            req.push_str(&format!("Proxy-Authorization: Basic {basic}\r\n"));
        }
        req.push_str("\r\n");
        s.write_all(req.as_bytes()).await?;
        // Byte by byte: the server's greeting may follow the proxy's answer at once.
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            if head.len() > 16 * 1024 {
                return Err(self.protocol("sent an answer to CONNECT over 16 KiB"));
            }
            if s.read(&mut byte).await? == 0 {
                return Err(self.protocol("closed the connection during CONNECT"));
            }
            head.push(byte[0]);
        }
        let status_line = String::from_utf8_lossy(&head)
            .lines()
            .next()
            .unwrap_or_default()
            .to_string();
        let code = status_line.split_whitespace().nth(1).unwrap_or_default();
        match code {
            c if c.starts_with('2') && status_line.starts_with("HTTP/") => Ok(()),
            "407" => Err(Step::App(AppError::Auth(format!(
                "the proxy {} wants a login ({status_line}): give it in the URL (http://USER:PASSWORD@HOST:PORT) or with a proxy password source",
                self.display()
            )))),
            _ => Err(Step::App(AppError::Network(format!(
                "the proxy {} refused CONNECT {authority}: {status_line}",
                self.display()
            )))),
        }
    }

    fn protocol(&self, what: &str) -> Step {
        Step::App(AppError::Network(format!(
            "the proxy {} {what}",
            self.display()
        )))
    }

    fn config(&self, what: &str) -> Step {
        Step::App(AppError::Config(format!(
            "the proxy {}: {what}",
            self.display()
        )))
    }
}

/// Where the proxy is asked to connect.
#[derive(Debug, Clone)]
enum Dest {
    Addr(SocketAddr),
    Name(String, u16),
}

impl Dest {
    fn port(&self) -> u16 {
        match self {
            Dest::Addr(a) => a.port(),
            Dest::Name(_, p) => *p,
        }
    }

    /// `host:port` (`[v6]:port`).
    fn shown(&self) -> String {
        match self {
            Dest::Addr(a) => a.to_string(),
            Dest::Name(n, p) => format!("{n}:{p}"),
        }
    }
}

/// A failure inside a handshake: I/O, or already an error for the user.
enum Step {
    Io(std::io::Error),
    App(AppError),
}

impl From<std::io::Error> for Step {
    fn from(e: std::io::Error) -> Step {
        Step::Io(e)
    }
}

/// Percent-decoding of a URL's user or password.
fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).and_then(|b| hex(*b)),
            bytes.get(i + 2).and_then(|b| hex(*b)),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A proxy URL with any password replaced, for messages.
pub fn redact(url: &str) -> String {
    match (url.split_once("://"), url.rsplit_once('@')) {
        (Some((scheme, rest)), Some((_, host))) => {
            let user = rest
                .split('@')
                .next()
                .unwrap_or("")
                .split(':')
                .next()
                .unwrap_or("");
            format!("{scheme}://{user}:<redacted>@{host}")
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proxy_urls() {
        let p = Proxy::parse("socks5h://al%40ice:p%3Ass@127.0.0.1:1081/").unwrap();
        assert_eq!(p.kind, ProxyKind::Socks5h);
        assert_eq!(p.server.port, 1081);
        assert_eq!(p.user.as_deref(), Some("al@ice"));
        assert_eq!(p.password.as_ref().map(|s| s.expose()), Some("p:ss"));
        assert_eq!(p.display(), "socks5h://127.0.0.1:1081");
        assert!(!format!("{p:?}").contains("p:ss"));
        assert_eq!(Proxy::parse("socks5://h").unwrap().server.port, 1080);
        assert_eq!(Proxy::parse("http://[::1]").unwrap().server.port, 8080);
        for bad in ["h:1080", "ftp://h:1", "socks5://", "http://h:1/path"] {
            assert!(Proxy::parse(bad).is_err(), "{bad}");
        }
        let e = Proxy::parse("gopher://u:hunter2@h:1").unwrap_err();
        assert!(!e.to_string().contains("hunter2"), "{e}");
    }

    #[test]
    fn no_proxy_matches_names_and_subdomains() {
        let mut p = Proxy::parse("socks5://h:1").unwrap();
        p.no_proxy = vec!["example.com".into(), ".internal".into(), "127.0.0.1".into()];
        assert!(p.bypasses("example.com") && p.bypasses("smtp.example.com"));
        assert!(p.bypasses("mx.internal") && p.bypasses("127.0.0.1"));
        assert!(!p.bypasses("notexample.com") && !p.bypasses("127.0.0.2"));
        p.no_proxy = vec!["*".into()];
        assert!(p.bypasses("anything.test"));
    }
}
