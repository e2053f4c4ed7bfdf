//! Regression tests for the defects of the hardening review (issue 14): a
//! hostile server, a hostile client of `missive serve`, or a malformed input.
//! Each test failed before its fix.

mod config;
mod escaping;
mod ready;
mod timeouts;

use std::io::Write;
use std::net::TcpListener;
use std::time::Duration;

/// A raw server on 127.0.0.1 that, for one connection, writes each of
/// `lines` (CRLF added) `every` apart, then holds the connection open until
/// the client leaves (or 60 s). Returns the port.
pub fn drip_server(lines: Vec<String>, every: Duration) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        let Ok((mut s, _)) = listener.accept() else {
            return;
        };
        drop(listener);
        for l in lines {
            if s.write_all(format!("{l}\r\n").as_bytes()).is_err() {
                return;
            }
            std::thread::sleep(every);
        }
        let _ = s.set_read_timeout(Some(Duration::from_secs(60)));
        let mut buf = [0u8; 1024];
        while matches!(std::io::Read::read(&mut s, &mut buf), Ok(n) if n > 0) {}
    });
    port
}
