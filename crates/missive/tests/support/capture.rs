//! [`Capture`]: a `missive serve` process on a loopback port chosen by the
//! test (so a test can queue mail for a relay that is down, then start it),
//! its Maildir read back by Message-ID. Killed when dropped.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Child;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::{Cmd, TempDir};

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

/// A running `missive serve --listen 127.0.0.1:PORT --maildir DIR`.
pub struct Capture {
    child: Child,
    pub port: u16,
    pub maildir: PathBuf,
    _dir: TempDir,
}

impl Capture {
    /// Starts it on `port` with `extra` options and waits until it is ready.
    pub fn start_on(port: u16, extra: &[&str]) -> Capture {
        Capture::start_at("127.0.0.1", port, extra)
    }

    /// [`Capture::start_on`] at another loopback address (an MX host of its own).
    pub fn start_at(ip: &str, port: u16, extra: &[&str]) -> Capture {
        let dir = TempDir::new("capture");
        let maildir = dir.join("mail");
        let mut child = Cmd::new(["serve", "--listen", &format!("{ip}:{port}")])
            .arg("--maildir")
            .arg(&maildir)
            .arg("--quiet")
            .args(extra)
            .spawn();
        let (tx, rx) = mpsc::channel::<String>();
        let pipe = child.stderr.take().expect("stderr piped");
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut seen = String::new();
        while Instant::now() < deadline {
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(line) if line.contains("writing messages to") => {
                    return Capture {
                        child,
                        port,
                        maildir,
                        _dir: dir,
                    }
                }
                Ok(line) => seen.push_str(&format!("{line}\n")),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("missive serve did not start on port {port}:\n{seen}");
    }

    /// Starts it on a free port.
    pub fn start(extra: &[&str]) -> Capture {
        Capture::start_on(free_port(), extra)
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The delivered messages (new/), as text.
    pub fn messages(&self) -> Vec<String> {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(self.maildir.join("new"))
            .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.path()).collect())
            .unwrap_or_default();
        paths.sort();
        paths
            .iter()
            .filter_map(|p| std::fs::read(p).ok())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .collect()
    }

    /// How many times each Message-ID was delivered.
    pub fn by_message_id(&self) -> HashMap<String, usize> {
        let mut counts = HashMap::new();
        for m in self.messages() {
            let id = m
                .lines()
                .take_while(|l| !l.is_empty() && *l != "\r")
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("Message-ID")
                        .then(|| value.trim().to_string())
                })
                .unwrap_or_default();
            *counts.entry(id).or_insert(0) += 1;
        }
        counts
    }

    /// Polls until at least `n` messages are delivered; panics after `limit`.
    pub fn wait_for(&self, n: usize, limit: Duration) -> usize {
        let deadline = Instant::now() + limit;
        loop {
            let got = self.messages().len();
            if got >= n {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "{got} of {n} messages delivered to {} within {limit:?}",
                self.maildir.display()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
