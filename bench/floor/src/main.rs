//! The floor for missive's benchmarks: the least a client can do for the
//! same conversation, with nothing else (bench/README.md).
//!
//! floor submission HOST:PORT CAFILE USER PASSWORD_VAR FROM TO MESSAGE WARMUP COUNT
//!   connect, EHLO, STARTTLS, handshake (verified against CAFILE only, no
//!   session resumption), EHLO, AUTH PLAIN, MAIL+RCPT+DATA pipelined, the
//!   message, QUIT: WARMUP + COUNT times in this one process; prints each
//!   measured conversation's wall time in ms, one a line. With
//!   FLOOR_PAUSE_MS set, it pauses that long before each conversation
//!   (untimed), as bench/submission.sh does before each client's run.
//! floor data HOST:PORT TLS(none|implicit) CAFILE|- NAME FROM TO MESSAGE
//!   one conversation that writes MESSAGE (already CRLF, nothing to stuff)
//!   after DATA, in 64 KiB writes; prints its wall time in ms.
//!
//! TCP_NODELAY, and TCP_QUICKACK before each wait for a reply, so that the
//! 40 ms delayed-ACK stall after the TLS 1.3 ticket never happens.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::Instant;

use base64::Engine as _;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

trait Rw: Read + Write {}
impl<T: Read + Write> Rw for T {}

struct Conn {
    io: Box<dyn Rw>,
    fd: i32,
    buf: Vec<u8>,
}

fn quickack(fd: i32) {
    let one: libc::c_int = 1;
    unsafe {
        libc::setsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_QUICKACK,
            &one as *const _ as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

impl Conn {
    /// One whole reply; fails unless its code starts with `want`.
    fn reply(&mut self, want: u8) -> Res<String> {
        let mut text = String::new();
        loop {
            if let Some(end) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line: Vec<u8> = self.buf.drain(..end + 2).collect();
                let line = String::from_utf8_lossy(&line).into_owned();
                text.push_str(&line);
                if line.len() < 4 || line.as_bytes()[3] != b'-' {
                    if line.as_bytes().first() != Some(&want) {
                        return Err(format!("unexpected reply: {text}").into());
                    }
                    return Ok(text);
                }
                continue;
            }
            quickack(self.fd);
            let mut chunk = [0u8; 16384];
            let n = self.io.read(&mut chunk)?;
            if n == 0 {
                return Err("connection closed".into());
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    fn send(&mut self, s: &str) -> Res<()> {
        self.io.write_all(s.as_bytes())?;
        self.io.flush()?;
        Ok(())
    }
}

fn connect(addr: &str) -> Res<(TcpStream, i32)> {
    let tcp = TcpStream::connect(addr)?;
    tcp.set_nodelay(true)?;
    let fd = tcp.as_raw_fd();
    Ok((tcp, fd))
}

fn tls_config(cafile: &str) -> Res<Arc<rustls::ClientConfig>> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(cafile)? {
        roots.add(cert?)?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    // Each conversation is a fresh handshake, as each missive process's is.
    config.resumption = rustls::client::Resumption::disabled();
    Ok(Arc::new(config))
}

fn tls_wrap(tcp: TcpStream, config: &Arc<rustls::ClientConfig>, name: &str) -> Res<Box<dyn Rw>> {
    let name = ServerName::try_from(name.to_string())?;
    let conn = rustls::ClientConnection::new(config.clone(), name)?;
    Ok(Box::new(rustls::StreamOwned::new(conn, tcp)))
}

#[allow(clippy::too_many_arguments)]
fn submission(
    addr: &str,
    config: &Arc<rustls::ClientConfig>,
    plain: &str,
    from: &str,
    to: &str,
    message: &[u8],
) -> Res<()> {
    let (tcp, fd) = connect(addr)?;
    let mut c = Conn {
        io: Box::new(tcp.try_clone()?),
        fd,
        buf: Vec::new(),
    };
    c.reply(b'2')?;
    c.send("EHLO floor.test\r\n")?;
    c.reply(b'2')?;
    c.send("STARTTLS\r\n")?;
    c.reply(b'2')?;
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
    c.io = tls_wrap(tcp, config, host)?;
    c.send("EHLO floor.test\r\n")?;
    c.reply(b'2')?;
    c.send(&format!("AUTH PLAIN {plain}\r\n"))?;
    c.reply(b'2')?;
    c.send(&format!("MAIL FROM:<{from}>\r\nRCPT TO:<{to}>\r\nDATA\r\n"))?;
    c.reply(b'2')?;
    c.reply(b'2')?;
    c.reply(b'3')?;
    c.io.write_all(message)?;
    c.send(".\r\n")?;
    c.reply(b'2')?;
    c.send("QUIT\r\n")?;
    c.reply(b'2')?;
    Ok(())
}

fn data(args: &[String]) -> Res<()> {
    let [addr, tls, cafile, name, from, to, path] = args else {
        return Err(
            "usage: floor data HOST:PORT none|implicit CAFILE|- NAME FROM TO MESSAGE".into(),
        );
    };
    let start = Instant::now();
    let (tcp, fd) = connect(addr)?;
    let io: Box<dyn Rw> = match tls.as_str() {
        "implicit" => tls_wrap(tcp, &tls_config(cafile)?, name)?,
        _ => Box::new(tcp),
    };
    let mut c = Conn {
        io,
        fd,
        buf: Vec::new(),
    };
    c.reply(b'2')?;
    c.send("EHLO floor.test\r\n")?;
    c.reply(b'2')?;
    c.send(&format!("MAIL FROM:<{from}>\r\n"))?;
    c.reply(b'2')?;
    c.send(&format!("RCPT TO:<{to}>\r\n"))?;
    c.reply(b'2')?;
    c.send("DATA\r\n")?;
    c.reply(b'3')?;
    let mut file = std::fs::File::open(path)?;
    let mut chunk = vec![0u8; 65536];
    loop {
        let n = file.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        c.io.write_all(&chunk[..n])?;
    }
    c.send(".\r\n")?;
    c.reply(b'2')?;
    c.send("QUIT\r\n")?;
    let _ = c.reply(b'2');
    println!("{:.3}", start.elapsed().as_secs_f64() * 1000.0);
    Ok(())
}

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("submission") => {
            let [addr, cafile, user, pass_var, from, to, path, warmup, count] = &args[1..] else {
                return Err("usage: floor submission HOST:PORT CAFILE USER PASSWORD_VAR FROM TO MESSAGE WARMUP COUNT".into());
            };
            let pass = std::env::var(pass_var)?;
            let plain =
                base64::engine::general_purpose::STANDARD.encode(format!("\0{user}\0{pass}"));
            let mut message = std::fs::read(path)?;
            if !message.ends_with(b"\r\n") {
                message.extend_from_slice(b"\r\n");
            }
            let config = tls_config(cafile)?;
            let (warmup, count): (usize, usize) = (warmup.parse()?, count.parse()?);
            let pause = std::env::var("FLOOR_PAUSE_MS")
                .ok()
                .and_then(|ms| ms.parse().ok())
                .map(std::time::Duration::from_millis);
            for i in 0..warmup + count {
                if let Some(pause) = pause {
                    std::thread::sleep(pause);
                }
                let start = Instant::now();
                submission(addr, &config, &plain, from, to, &message)?;
                if i >= warmup {
                    println!("{:.3}", start.elapsed().as_secs_f64() * 1000.0);
                }
            }
            Ok(())
        }
        Some("data") => data(&args[1..]),
        _ => Err("usage: floor submission … | floor data … (see the source)".into()),
    }
}
