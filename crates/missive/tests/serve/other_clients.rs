//! Other clients against `missive serve`: swaks, msmtp and Python's smtplib.

use super::*;

/// A message with full headers, a line starting with '.', and a lone '.'.
fn eml(tag: &str) -> Vec<u8> {
    format!(
        "From: alice@x.test\r\nTo: bob@y.test\r\nSubject: {tag} test\r\n\
         Date: Sat, 28 Nov 2026 18:00:00 +0000\r\nMessage-ID: <{tag}-{}@x.test>\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n\
         hello from {tag}\r\n.leading dot\r\n..two dots\r\n.\r\nlast line\r\n",
        std::process::id()
    )
    .into_bytes()
}

#[test]
fn swaks_starttls_auth_plain() {
    let srv = Server::start(&["--auth-user", "u"]);
    let dir = TempDir::new("swaks");
    let sent = eml("swaks");
    // swaks appends CRLF.CRLF to --data: a file without the final line
    // break arrives as written, with one CRLF ending the last line.
    let file = dir.path().join("msg.eml");
    std::fs::write(&file, &sent[..sent.len() - 2]).unwrap();
    let out = Cmd::program("swaks")
        .args(["--server", "127.0.0.1", "--port", &srv.port()])
        .args(["--tls", "--tls-verify", "--tls-ca-path", &srv.ca_str()])
        .args([
            "--auth",
            "PLAIN",
            "--auth-user",
            "u",
            "--auth-password",
            "pw",
        ])
        .args(["--from", "alice@x.test", "--to", "bob@y.test"])
        .arg("--data")
        .arg(&file)
        .run();
    out.assert_code(0);
    assert!(out.stdout.contains("235 2.7.0"), "{}", out);
    assert!(out.stdout.contains("~> ..leading dot"), "{}", out);
    let m = srv.one_message();
    assert_eq!(m.return_path, "alice@x.test");
    assert_eq!(m.envelope_to, ["bob@y.test"]);
    assert_bytes_eq(&m.message, &sent, "swaks's message");

    // and a wrong password
    let out = Cmd::program("swaks")
        .args(["--server", "127.0.0.1", "--port", &srv.port()])
        .args(["--tls", "--tls-verify", "--tls-ca-path", &srv.ca_str()])
        .args([
            "--auth",
            "PLAIN",
            "--auth-user",
            "u",
            "--auth-password",
            "bad",
        ])
        .args(["--from", "alice@x.test", "--to", "bob@y.test"])
        .arg("--data")
        .arg(&file)
        .run();
    assert_ne!(out.code, 0, "{}", out);
    assert!(out.stdout.contains("535 5.7.8"), "{}", out);
    assert_eq!(srv.messages().len(), 1);
}

#[test]
fn msmtp_starttls_auth_plain() {
    let srv = Server::start(&["--auth-user", "u"]);
    let dir = TempDir::new("msmtp");
    let conf = dir.path().join("msmtprc");
    std::fs::write(
        &conf,
        format!(
            "defaults\nlogfile {}\naccount t\nhost 127.0.0.1\nport {}\ntls on\ntls_starttls on\n\
             tls_trust_file {}\nauth plain\nuser u\npassword pw\nfrom alice@x.test\n\
             account default : t\n",
            dir.path().join("msmtp.log").display(),
            srv.port(),
            srv.ca_str()
        ),
    )
    .unwrap();
    set_mode(&conf, 0o600);
    let sent = eml("msmtp");
    let out = Cmd::program("msmtp")
        .arg("-C")
        .arg(&conf)
        .arg("bob@y.test")
        .stdin(sent.clone())
        .run();
    out.assert_code(0);
    let log = std::fs::read_to_string(dir.path().join("msmtp.log")).unwrap_or_default();
    assert!(log.contains("tls=on auth=on"), "msmtp log: {log}");
    let m = srv.one_message();
    assert_eq!(m.return_path, "alice@x.test");
    assert_eq!(m.envelope_to, ["bob@y.test"]);
    assert_bytes_eq(&crlf(&m.message), &crlf(&sent), "msmtp's message");
}

const SMTPLIB_SEND: &str = r#"
import smtplib, ssl, sys
port, ca, path = int(sys.argv[1]), sys.argv[2], sys.argv[3]
msg = open(path, "rb").read()
s = smtplib.SMTP("127.0.0.1", port, timeout=30)
s.ehlo("python.test")
assert s.has_extn("starttls"), s.esmtp_features
s.starttls(context=ssl.create_default_context(cafile=ca))
s.ehlo("python.test")
assert "PLAIN" in s.esmtp_features.get("auth", ""), s.esmtp_features
s.login("u", "pw")
refused = s.sendmail("alice@x.test", ["bob@y.test", "carol@y.test"], msg)
assert not refused, refused
s.quit()
print("python sent", len(msg))
"#;

#[test]
fn python_smtplib_starttls_login() {
    let srv = Server::start(&["--auth-user", "u"]);
    let dir = TempDir::new("python");
    let sent = eml("python");
    let file = dir.path().join("msg.eml");
    std::fs::write(&file, &sent).unwrap();
    let out = Cmd::program(PYTHON)
        .args(["-c", SMTPLIB_SEND, &srv.port(), &srv.ca_str()])
        .arg(&file)
        .run();
    out.assert_code(0);
    assert!(out.stdout.contains("python sent"), "{}", out);
    let m = srv.one_message();
    assert_eq!(m.return_path, "alice@x.test");
    assert_eq!(m.envelope_to, ["bob@y.test", "carol@y.test"]);
    assert_bytes_eq(&m.message, &sent, "smtplib's message");
}
