//! The delivery log (`--log`, `MISSIVE_LOG`, an account's `log`): one line
//! per message, whole even with concurrent writers, never a secret.

use std::os::unix::net::UnixDatagram;
use std::time::Duration;

use crate::support::*;

/// The fields of a log line after its time, as `key=value` pairs.
fn fields(line: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = line.split_once(' ').map_or("", |(_, r)| r);
    while !rest.is_empty() {
        let (key, after) = rest.split_once('=').expect("key=value");
        let (value, next) = if let Some(quoted) = after.strip_prefix('"') {
            let end = quoted.find("\" ").map_or(quoted.len() - 1, |i| i);
            (
                quoted[..end].to_string(),
                quoted.get(end + 2..).unwrap_or(""),
            )
        } else {
            match after.split_once(' ') {
                Some((v, n)) => (v.to_string(), n),
                None => (after.to_string(), ""),
            }
        };
        out.push((key.to_string(), value));
        rest = next;
    }
    out
}

fn field(line: &str, key: &str) -> String {
    fields(line)
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
        .unwrap_or_else(|| panic!("no {key} in {line}"))
}

#[test]
fn sendmail_logs_one_line_per_message_without_secrets() {
    let tb = testbed!();
    let dir = TempDir::new("log");
    let log = dir.join("missive.log");
    let ok = unique_addr("logged");
    let sendmail = |rcpts: &[&str]| {
        let mut cmd = Cmd::new(["sendmail", "-i"])
            .args(rcpts)
            .stdin("Subject: logged\n\nhi\n")
            .env("MISSIVE_SERVER", tb.submission())
            .env("MISSIVE_CAFILE", tb.ca())
            .env("MISSIVE_USER", tb.user())
            .env("MISSIVE_PASSWORD", tb.pass())
            .env("MISSIVE_LOG", &log);
        cmd = cmd.env("USER", "cron");
        cmd.run()
    };
    sendmail(&[&ok]).assert_code(0);
    sendmail(&[&unique_addr("half"), "reject@example.test"]).assert_code(69);
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    let first = lines[0];
    assert!(
        first.starts_with("20") && first.as_bytes()[19] == b'Z',
        "{first}"
    );
    assert_eq!(field(first, "account"), "-");
    assert_eq!(field(first, "route"), tb.submission());
    assert_eq!(field(first, "from"), format!("<{}>", tb.user()));
    assert_eq!(field(first, "to"), format!("<{ok}>:250/2.0.0"));
    assert!(field(first, "message_id").starts_with('<'), "{first}");
    assert!(field(first, "size").parse::<u64>().unwrap() > 20);
    assert!(!field(first, "queue_id").is_empty() && field(first, "queue_id") != "-");
    field(first, "duration_ms").parse::<u64>().unwrap();
    assert_eq!(field(first, "exit"), "0");
    let second = lines[1];
    assert!(
        field(second, "to").ends_with(",<reject@example.test>:550/5.1.1"),
        "{second}"
    );
    assert_eq!(field(second, "exit"), "69");
    for secret in [
        tb.pass().to_string(),
        base64_encode(format!("\0{}\0{}", tb.user(), tb.pass()).as_bytes()),
    ] {
        assert!(!text.contains(&secret), "a secret in the log: {text}");
    }
}

#[test]
fn concurrent_writers_never_interleave_lines() {
    let tb = testbed!();
    let dir = TempDir::new("log-concurrent");
    let log = dir.join("shared.log");
    let rcpts: Vec<String> = (0..8).map(|i| unique_addr(&format!("conc{i}"))).collect();
    let children: Vec<_> = rcpts
        .iter()
        .map(|r| {
            Cmd::new(["send", "--server", &tb.mx(), "--tls", "none"])
                .args(["--from", "a@client.test", "--to", r, "--body", "x"])
                .args(["--subject", &"long subject ".repeat(40)])
                .arg("--log")
                .arg(&log)
                .spawn()
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(text.lines().count(), 8, "{text}");
    for r in &rcpts {
        let line = text
            .lines()
            .find(|l| l.contains(&format!("<{r}>")))
            .expect("its line");
        assert!(line.ends_with(" exit=0"), "{line}");
        assert_eq!(field(line, "to"), format!("<{r}>:250/2.0.0"));
    }
}

#[test]
fn syslog_gets_the_line_with_facility_mail() {
    let tb = testbed!();
    let dir = TempDir::new("log-syslog");
    let sock_path = dir.join("log.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let rcpt = unique_addr("syslog");
    let home = Home::new("log-account");
    let config = format!(
        "[accounts.relay]\nserver = \"{}\"\ntls = \"none\"\nfrom = \"acct@client.test\"\nlog = \"syslog:{}\"\n",
        tb.mx(),
        sock_path.display()
    );
    home.config(&config, 0o600);
    let out = home
        .cmd(&["send", "--account", "relay", "--to", &rcpt, "--body", "x"])
        .run();
    out.assert_code(0);
    let mut buf = vec![0u8; 8192];
    let n = sock.recv(&mut buf).expect("a syslog datagram");
    let datagram = String::from_utf8_lossy(&buf[..n]).to_string();
    assert!(datagram.starts_with("<22>"), "{datagram}");
    assert!(datagram.contains(" missive["), "{datagram}");
    assert!(datagram.contains("account=relay "), "{datagram}");
    assert!(datagram.contains(&format!("to=<{rcpt}>:250")), "{datagram}");
}
