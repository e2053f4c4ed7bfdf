//! The real mail servers of `testbed/` (see its README): [`testbed`] loads
//! `credentials.env` from `$MISSIVE_TESTBED` (else `/tmp/smtp-testbed`) and
//! checks that the servers answer. When they do not, it panics if
//! `MISSIVE_TESTBED` is set (test.sh sets it: the testbed must be there), and
//! otherwise prints "skipped: testbed not running" and returns None.
//! [`testbed_with_dns`] also wants its dnsmasq, for direct delivery.

use std::collections::HashMap;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs, UdpSocket};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long to poll for a delivered Maildir file.
pub const DELIVERY_WAIT: Duration = Duration::from_secs(10);
/// How long to wait before concluding that nothing was delivered.
pub const NO_DELIVERY_WAIT: Duration = Duration::from_millis(1200);

/// The running testbed: its directory and the values of its credentials.env.
#[derive(Debug, Clone)]
pub struct Testbed {
    pub dir: PathBuf,
    pub vars: HashMap<String, String>,
}

/// The testbed, or None (after printing "skipped: testbed not running") when it
/// is not there and `MISSIVE_TESTBED` is not set. Panics when it is required
/// (`MISSIVE_TESTBED` set) but absent.
pub fn testbed() -> Option<Testbed> {
    let required = std::env::var_os("MISSIVE_TESTBED").filter(|v| !v.is_empty());
    let dir = required
        .clone()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/tmp/smtp-testbed"));
    match Testbed::load(&dir) {
        Ok(tb) => Some(tb),
        Err(why) if required.is_some() => panic!(
            "MISSIVE_TESTBED={} is set but the testbed is not usable: {why}",
            dir.display()
        ),
        Err(why) => {
            eprintln!("skipped: testbed not running ({why})");
            None
        }
    }
}

impl Testbed {
    fn load(dir: &Path) -> Result<Testbed, String> {
        let file = dir.join("credentials.env");
        let text = std::fs::read_to_string(&file)
            .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        let vars = parse_env_file(&text);
        for key in [
            "SMTP_HOST",
            "SMTP_HOST6",
            "SMTP_PORT_MX",
            "SMTP_PORT_SUBMISSION",
            "SMTP_PORT_SMTPS",
            "SMTP_USER",
            "SMTP_PASS",
            "SMTP_USER2",
            "SMTP_PASS2",
            "SMTP_CA",
            "SMTP_MAILDIR_BASE",
        ] {
            if !vars.contains_key(key) {
                return Err(format!("{} has no {key}", file.display()));
            }
        }
        let tb = Testbed {
            dir: dir.to_path_buf(),
            vars,
        };
        for port in ["SMTP_PORT_MX", "SMTP_PORT_SUBMISSION", "SMTP_PORT_SMTPS"] {
            let addr = format!("{}:{}", tb.var("SMTP_HOST"), tb.var(port));
            let sock: SocketAddr = addr
                .to_socket_addrs()
                .ok()
                .and_then(|mut a| a.next())
                .ok_or_else(|| format!("cannot resolve {addr}"))?;
            TcpStream::connect_timeout(&sock, Duration::from_secs(2))
                .map_err(|e| format!("nothing answers on {addr}: {e}"))?;
        }
        Ok(tb)
    }

    /// A value from credentials.env.
    pub fn var(&self, key: &str) -> &str {
        self.vars
            .get(key)
            .unwrap_or_else(|| panic!("credentials.env has no {key}"))
    }

    pub fn user(&self) -> &str {
        self.var("SMTP_USER")
    }
    pub fn pass(&self) -> &str {
        self.var("SMTP_PASS")
    }
    pub fn user2(&self) -> &str {
        self.var("SMTP_USER2")
    }
    pub fn pass2(&self) -> &str {
        self.var("SMTP_PASS2")
    }
    /// The path of the testbed CA certificate.
    pub fn ca(&self) -> &str {
        self.var("SMTP_CA")
    }

    /// `127.0.0.1:2525`: MX-style, STARTTLS optional, no AUTH.
    pub fn mx(&self) -> String {
        format!("{}:{}", self.var("SMTP_HOST"), self.var("SMTP_PORT_MX"))
    }
    /// `127.0.0.1:5870`: submission, STARTTLS and AUTH required.
    pub fn submission(&self) -> String {
        format!(
            "{}:{}",
            self.var("SMTP_HOST"),
            self.var("SMTP_PORT_SUBMISSION")
        )
    }
    /// `[::1]:5870`.
    pub fn submission6(&self) -> String {
        format!(
            "[{}]:{}",
            self.var("SMTP_HOST6"),
            self.var("SMTP_PORT_SUBMISSION")
        )
    }
    /// The implicit-TLS port.
    pub fn smtps_port(&self) -> &str {
        self.var("SMTP_PORT_SMTPS")
    }
    /// `127.0.0.1:2526`: smtp-sink (no TLS, discards everything).
    pub fn sink(&self) -> String {
        format!("{}:2526", self.var("SMTP_HOST"))
    }
    /// Whether the smtp-sink answers (it is optional for these tests).
    pub fn sink_running(&self) -> bool {
        self.sink()
            .parse::<SocketAddr>()
            .ok()
            .is_some_and(|a| TcpStream::connect_timeout(&a, Duration::from_secs(2)).is_ok())
    }

    /// Postfix's log file.
    pub fn postfix_log(&self) -> PathBuf {
        self.dir.join("postfix").join("postfix.log")
    }

    /// The `new/` directory of `addr`'s Maildir (domain and local part
    /// lowercased, `/` as `_`, a leading `.` prefixed with `_`).
    pub fn maildir_new(&self, addr: &str) -> PathBuf {
        let (local, domain) = addr
            .rsplit_once('@')
            .unwrap_or_else(|| panic!("not an address: {addr}"));
        let fix = |s: &str| {
            let s = s.to_ascii_lowercase().replace('/', "_");
            if s.starts_with('.') {
                format!("_{s}")
            } else {
                s
            }
        };
        PathBuf::from(self.var("SMTP_MAILDIR_BASE"))
            .join(fix(domain))
            .join(fix(local))
            .join("new")
    }

    /// The delivered files of `addr`, sorted by name.
    pub fn mail_files(&self, addr: &str) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = match std::fs::read_dir(self.maildir_new(addr)) {
            Ok(rd) => rd.filter_map(|e| e.ok()).map(|e| e.path()).collect(),
            Err(_) => Vec::new(),
        };
        files.sort();
        files
    }

    /// Polls (up to [`DELIVERY_WAIT`]) for the Maildir file of a recipient
    /// that only this test uses, and returns its bytes.
    pub fn wait_for_mail(&self, addr: &str) -> Vec<u8> {
        let deadline = Instant::now() + DELIVERY_WAIT;
        loop {
            if let Some(f) = self.mail_files(addr).first() {
                return std::fs::read(f)
                    .unwrap_or_else(|e| panic!("cannot read {}: {e}", f.display()));
            }
            if Instant::now() > deadline {
                panic!(
                    "nothing delivered to {addr} within {DELIVERY_WAIT:?} (looked in {}); log lines:\n{}",
                    self.maildir_new(addr).display(),
                    self.log_lines_mentioning(addr).join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// [`Testbed::wait_for_mail`] for a recipient that gets one message
    /// only: asserts that it is the only one, and returns it as text.
    pub fn wait_for_only_mail(&self, addr: &str) -> String {
        let bytes = self.wait_for_mail(addr);
        let files = self.mail_files(addr);
        assert_eq!(files.len(), 1, "one message expected for {addr}: {files:?}");
        String::from_utf8(bytes)
            .unwrap_or_else(|e| panic!("the message to {addr} is not UTF-8: {e}"))
    }

    /// Lines of Postfix's log that mention `needle` (case-insensitive).
    pub fn log_lines_mentioning(&self, needle: &str) -> Vec<String> {
        let log = std::fs::read(self.postfix_log()).unwrap_or_default();
        let needle = needle.to_lowercase();
        String::from_utf8_lossy(&log)
            .lines()
            .filter(|l| l.to_lowercase().contains(&needle))
            .map(str::to_string)
            .collect()
    }

    /// Waits [`NO_DELIVERY_WAIT`], then asserts that no file arrived for
    /// `addr` and that Postfix's log never mentions it (no RCPT, no queue entry).
    pub fn assert_nothing_for(&self, addr: &str) {
        self.assert_none_delivered(&[addr], true);
    }

    /// Waits [`NO_DELIVERY_WAIT`] and asserts no file arrived for `addr`.
    pub fn assert_not_delivered(&self, addr: &str) {
        self.assert_none_delivered(&[addr], false);
    }

    /// Waits [`NO_DELIVERY_WAIT`] once, then asserts that no file arrived for
    /// any of `addrs` and, with `check_log`, that Postfix's log mentions none.
    pub fn assert_none_delivered(&self, addrs: &[&str], check_log: bool) {
        std::thread::sleep(NO_DELIVERY_WAIT);
        for addr in addrs {
            let files = self.mail_files(addr);
            assert!(files.is_empty(), "mail arrived for {addr}: {files:?}");
            if check_log {
                let lines = self.log_lines_mentioning(addr);
                assert!(
                    lines.is_empty(),
                    "Postfix's log mentions {addr}, so the server saw it:\n{}",
                    lines.join("\n")
                );
            }
        }
    }
}

/// Parses `KEY=VALUE` lines as the shell would for simple values: `\x`
/// escapes, '…' and "…" quoting; comments and blank lines are skipped.
pub fn parse_env_file(text: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for line in text.lines() {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((key, raw)) = line.split_once('=') else {
            continue;
        };
        let mut value = String::new();
        let mut chars = raw.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => value.extend(chars.next()),
                '\'' => value.extend(chars.by_ref().take_while(|&c| c != '\'')),
                '"' => {
                    while let Some(c) = chars.next() {
                        match c {
                            '"' => break,
                            '\\' => value.extend(chars.next()),
                            c => value.push(c),
                        }
                    }
                }
                c if c.is_whitespace() => break,
                c => value.push(c),
            }
        }
        out.insert(key.trim().to_string(), value);
    }
    out
}

/// Whether the testbed is required (`MISSIVE_TESTBED` set), so that its
/// absence fails the test instead of skipping it.
pub fn testbed_required() -> bool {
    std::env::var_os("MISSIVE_TESTBED").is_some_and(|v| !v.is_empty())
}

/// The testbed's DNS server, `127.0.0.1:$TB_DNS_PORT` (5353).
pub fn dns_server() -> String {
    let port = std::env::var("TB_DNS_PORT")
        .ok()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "5353".to_string());
    format!("127.0.0.1:{port}")
}

/// Sends one MX query for example.test over UDP and checks that an answer
/// with records comes back: dnsmasq is up with the testbed's zones.
fn dns_answers(server: &str) -> Result<(), String> {
    mx_answers(server, &["example", "test"])
}

/// One MX query for the name of `labels`: an answer with records comes back.
fn mx_answers(server: &str, labels: &[&str]) -> Result<(), String> {
    let sock = UdpSocket::bind("127.0.0.1:0").map_err(|e| format!("bind: {e}"))?;
    sock.set_read_timeout(Some(Duration::from_secs(2)))
        .map_err(|e| e.to_string())?;
    // header: id 0x4d49, RD, one question
    let mut q = vec![0x4d, 0x49, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in labels {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 15, 0, 1]); // root, QTYPE MX, QCLASS IN
    sock.send_to(&q, server)
        .map_err(|e| format!("cannot send to {server}: {e}"))?;
    let mut buf = [0u8; 1500];
    let (n, _) = sock
        .recv_from(&mut buf)
        .map_err(|e| format!("no DNS answer from {server}: {e}"))?;
    if n < 12 || buf[..2] != q[..2] {
        return Err(format!("bad DNS answer from {server}"));
    }
    let rcode = buf[3] & 0x0f;
    let answers = u16::from_be_bytes([buf[6], buf[7]]);
    if rcode != 0 || answers == 0 {
        return Err(format!(
            "{server} answers MX {} with rcode {rcode} and {answers} records",
            labels.join(".")
        ));
    }
    Ok(())
}

/// The testbed, if Postfix answers and dnsmasq serves the test zones (else
/// as [`testbed`]: None after saying "skipped", or a panic when required).
pub fn testbed_with_dns() -> Option<Testbed> {
    let tb = testbed()?;
    match dns_answers(&dns_server()) {
        Ok(()) => Some(tb),
        Err(why) if testbed_required() => {
            panic!("MISSIVE_TESTBED is set but the testbed's DNS is not usable: {why}")
        }
        Err(why) => {
            eprintln!("skipped: testbed DNS not running ({why})");
            None
        }
    }
}

/// The DNSSEC-signed zones of `testbed/dnssec-up.sh`: NSD on
/// 127.0.0.1:$TB_DNSSEC_PORT (5354) and its directory (trust anchor,
/// certificates). When NSD does not answer: None after "skipped", or a
/// panic when the testbed is required.
pub fn testbed_with_dnssec() -> Option<(String, PathBuf)> {
    let dir = testbed()?.dir.join("dnssec");
    let port = std::env::var("TB_DNSSEC_PORT")
        .ok()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "5354".to_string());
    let server = format!("127.0.0.1:{port}");
    let ready = match dir.join("root.key").is_file() {
        true => mx_answers(&server, &["ee", "dane", "test"]),
        false => Err(format!("no {}", dir.join("root.key").display())),
    };
    match ready {
        Ok(()) => Some((server, dir)),
        Err(why) if testbed_required() => {
            panic!(
                "MISSIVE_TESTBED is set but the testbed's NSD (dnssec-up.sh) is not usable: {why}"
            )
        }
        Err(why) => {
            eprintln!("skipped: testbed NSD not running ({why})");
            None
        }
    }
}

/// A name that resolves to loopback addresses only but is not in the
/// testbed's server certificate (the machine's own host name, usually), if
/// there is one.
pub fn loopback_name_not_in_certificate() -> Option<String> {
    let in_cert = [
        "mx.testbed.test",
        "localhost",
        "mx1.example.test",
        "mx2.example.test",
        "mx.example2.test",
        "mx6.ipv6only.test",
        "nomx.test",
    ];
    let mut candidates: Vec<String> = Vec::new();
    if let Ok(h) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
        candidates.push(h.trim().to_string());
    }
    candidates.push("vm".into());
    candidates.into_iter().find(|name| {
        !name.is_empty()
            && !in_cert.contains(&name.to_lowercase().as_str())
            && format!("{name}:0")
                .to_socket_addrs()
                .map(|addrs| {
                    let v: Vec<_> = addrs.collect();
                    !v.is_empty() && v.iter().all(|a| a.ip().is_loopback())
                })
                .unwrap_or(false)
    })
}
