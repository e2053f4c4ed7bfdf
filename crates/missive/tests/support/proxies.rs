//! Real proxies on loopback for the `--proxy` tests, started by the test
//! and stopped (by their own pid) when dropped: microsocks (SOCKS5, with an
//! optional login) and tinyproxy (HTTP CONNECT, with an optional Basic
//! login), both Debian packages that `testbed/install.sh` installs. Each
//! logs the connections it makes, so a test can see that missive went
//! through it.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::tempdir::TempDir;
use super::testbed::testbed_required;

/// A running proxy.
pub struct Proxy {
    child: Child,
    pub port: u16,
    log: PathBuf,
    _dir: TempDir,
}

impl Proxy {
    /// microsocks on 127.0.0.1, with `USER:PASSWORD` when given; `None` when
    /// it is not installed (and the testbed is not required).
    pub fn socks5(login: Option<(&str, &str)>) -> Option<Proxy> {
        let program = find("microsocks")?;
        let dir = TempDir::new("microsocks");
        let port = free_port();
        let log = dir.join("microsocks.log");
        let mut cmd = Command::new(program);
        cmd.args(["-i", "127.0.0.1", "-p", &port.to_string()]);
        if let Some((u, p)) = login {
            cmd.args(["-u", u, "-P", p]);
        }
        Some(Proxy::spawn(cmd, port, log.clone(), log, dir))
    }

    /// tinyproxy on 127.0.0.1 (in the foreground), with Basic `USER:PASSWORD` when given.
    pub fn http(login: Option<(&str, &str)>) -> Option<Proxy> {
        let program = find("tinyproxy")?;
        let dir = TempDir::new("tinyproxy");
        let port = free_port();
        let log = dir.join("tinyproxy.log");
        let mut conf = format!(
            "Port {port}\nListen 127.0.0.1\nTimeout 60\nLogFile \"{}\"\nLogLevel Info\nMaxClients 20\nAllow 127.0.0.1\nDisableViaHeader Yes\n",
            log.display()
        );
        if let Some((u, p)) = login {
            conf.push_str(&format!("BasicAuth {u} {p}\n"));
        }
        let conf_path = dir.join("tinyproxy.conf");
        std::fs::write(&conf_path, conf).expect("write tinyproxy.conf");
        let mut cmd = Command::new(program);
        cmd.arg("-d").arg("-c").arg(&conf_path);
        let out = dir.join("tinyproxy.out");
        Some(Proxy::spawn(cmd, port, log, out, dir))
    }

    fn spawn(mut cmd: Command, port: u16, log: PathBuf, out: PathBuf, dir: TempDir) -> Proxy {
        let file = std::fs::File::create(&out).expect("proxy output file");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("dup"))
            .stderr(file)
            .spawn()
            .expect("start the proxy");
        let proxy = Proxy {
            child,
            port,
            log,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "the proxy did not start on port {port}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        proxy
    }

    /// What the proxy logged so far (waiting a moment for it to flush).
    pub fn log(&self) -> String {
        std::thread::sleep(Duration::from_millis(200));
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The program's path, or `None` (the test is skipped) when it is not
/// installed and the testbed is not required.
fn find(program: &str) -> Option<PathBuf> {
    for dir in ["/usr/bin", "/usr/sbin", "/usr/local/bin"] {
        let p = PathBuf::from(dir).join(program);
        if p.exists() {
            return Some(p);
        }
    }
    assert!(
        !testbed_required(),
        "{program} is not installed: run testbed/install.sh"
    );
    eprintln!("skipped: {program} not installed (testbed/install.sh installs it)");
    None
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}
