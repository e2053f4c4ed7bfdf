//! SASL exchanges checked on the server side: CRAM-MD5, LOGIN and XOAUTH2
//! error challenges, and a temporary AUTH failure.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};

use super::*;

fn cram_md5_digest(password: &str, challenge: &str) -> String {
    let mut mac = Hmac::<md5::Md5>::new_from_slice(password.as_bytes()).unwrap();
    mac.update(challenge.as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn cram_md5_server() -> Script {
    let challenge = format!(
        "<{}.{}@fake.test>",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    Script::new()
        .caps(&["STARTTLS", "AUTH CRAM-MD5"])
        .on(move |c, cmd| match cmd {
            Command::Auth { mechanism, initial } if mechanism == "CRAM-MD5" => {
                assert!(initial.is_none(), "CRAM-MD5 has no initial response");
                c.reply(&format!("334 {}", B64.encode(&challenge)));
                let Some(answer) = c.read_line() else {
                    return Step::Close;
                };
                let decoded = B64.decode(answer.trim()).unwrap_or_default();
                let expected = format!("{FROM} {}", cram_md5_digest(PASSWORD, &challenge));
                if decoded == expected.as_bytes() {
                    c.reply("235 2.7.0 Authentication successful");
                } else {
                    c.reply("535 5.7.8 Error: authentication failed: bad response");
                }
                Step::Next
            }
            _ => Step::Default,
        })
}

#[test]
fn auth_cram_md5_verified_by_server() {
    let server = Server::start(cram_md5_server());
    let run = with_password(server.client(), PASSWORD)
        .args(&["--cafile", &ca_file(), "--auth", "cram-md5"])
        .run();
    let log = server.finish();
    assert_eq!(run.code, 0, "{run}");
    let auth = log.position("AUTH").unwrap();
    assert!(auth > log.tls_at.unwrap());
    assert_eq!(log.lines[auth], "AUTH CRAM-MD5");
    assert!(message(&log).contains("Hello from missive."));
}

#[test]
fn auth_cram_md5_wrong_password_is_535() {
    let server = Server::start(cram_md5_server());
    let run = with_password(server.client(), "not the password")
        .args(&["--cafile", &ca_file()])
        .run();
    let log = server.finish();
    assert_eq!(run.code, 77, "{run}");
    assert!(run.one_error_line().contains("535"), "{run}");
    assert!(!log.has_verb("MAIL"));
}

#[test]
fn auth_login_verified_by_server() {
    const ODD_PASSWORD: &str = "pä$$ wörd:€ 1";
    let script = Script::new()
        .caps(&["STARTTLS", "AUTH LOGIN"])
        .on(|c, cmd| match cmd {
            Command::Auth { mechanism, initial } if mechanism == "LOGIN" => {
                let user = match initial {
                    Some(u) => u.clone(),
                    None => {
                        c.reply("334 VXNlcm5hbWU6");
                        match c.read_line() {
                            Some(u) => u,
                            None => return Step::Close,
                        }
                    }
                };
                c.reply("334 UGFzc3dvcmQ6");
                let Some(pass) = c.read_line() else {
                    return Step::Close;
                };
                let ok = B64.decode(user).unwrap_or_default() == FROM.as_bytes()
                    && B64.decode(pass).unwrap_or_default() == ODD_PASSWORD.as_bytes();
                c.reply(if ok {
                    "235 2.7.0 Authentication successful"
                } else {
                    "535 5.7.8 Error: authentication failed"
                });
                Step::Next
            }
            _ => Step::Default,
        });
    let server = Server::start(script);
    let run = with_password(server.client(), ODD_PASSWORD)
        .args(&["--cafile", &ca_file(), "-v"])
        .run();
    let log = server.finish();
    assert_eq!(run.code, 0, "{run}");
    assert!(log.position("AUTH").unwrap() > log.tls_at.unwrap());
    assert!(!run.stderr.contains(ODD_PASSWORD), "{run}");
    assert!(!run.stderr.contains(&B64.encode(ODD_PASSWORD)), "{run}");
    assert!(message(&log).contains("Hello from missive."));
}

#[test]
fn auth_xoauth2_error_challenge_then_535() {
    const TOKEN: &str = "ya29.FAKE-token-0123456789abcdef";
    let error_json = r#"{"status":"401","schemes":"bearer","scope":"https://mail.google.com/"}"#;
    let script = Script::new()
        .caps(&["STARTTLS", "AUTH XOAUTH2 PLAIN"])
        .on(move |c, cmd| match cmd {
            Command::Auth { mechanism, initial } if mechanism == "XOAUTH2" => {
                let ir = B64
                    .decode(initial.as_deref().unwrap_or_default())
                    .unwrap_or_default();
                if ir != format!("user={FROM}\x01auth=Bearer {TOKEN}\x01\x01").as_bytes() {
                    c.reply("501 5.5.2 bad XOAUTH2 initial response");
                    return Step::Next;
                }
                c.reply(&format!("334 {}", B64.encode(error_json)));
                if c.read_line().is_none() {
                    return Step::Close;
                }
                c.reply("535-5.7.8 Username and Password not accepted.\r\n535 5.7.8 https://support.example/?p=BadCredentials");
                Step::Next
            }
            _ => Step::Default,
        });
    let server = Server::start(script);
    let run = server
        .client()
        .args(&[
            "--user",
            FROM,
            "--oauth-token-cmd",
            &format!("printf '%s\\n' '{TOKEN}'"),
            "--cafile",
            &ca_file(),
            "-v",
        ])
        .run();
    let log = server.finish();
    assert_eq!(run.code, 77, "{run}");
    let auth = log.position("AUTH").expect("AUTH sent");
    assert!(auth > log.tls_at.unwrap());
    assert_eq!(
        log.lines.get(auth + 1).map(String::as_str),
        Some(""),
        "the error challenge must be answered with an empty line: {:?}",
        log.lines
    );
    assert!(!log.has_verb("MAIL"));
    let initial = log.lines[auth].strip_prefix("AUTH XOAUTH2 ").unwrap();
    for output in [&run.stdout, &run.stderr] {
        assert!(!output.contains(TOKEN), "the token leaked:\n{run}");
        assert!(!output.contains(initial), "the token leaked:\n{run}");
    }
    let last = run
        .stderr
        .lines()
        .rfind(|l| !l.starts_with("hint: "))
        .unwrap_or_default();
    assert!(
        last.starts_with("missive: ") && last.contains("535"),
        "{run}"
    );
    assert!(
        last.contains("401"),
        "the error challenge is not reported: {run}"
    );
}

#[test]
fn auth_454_is_temporary() {
    let script = Script::new()
        .caps(&["STARTTLS", "AUTH PLAIN"])
        .on(|c, cmd| match cmd {
            Command::Auth { .. } => {
                c.reply("454 4.7.0 Temporary authentication failure");
                Step::Next
            }
            _ => Step::Default,
        });
    let server = Server::start(script);
    let run = with_password(server.client(), PASSWORD)
        .args(&["--cafile", &ca_file()])
        .run();
    let log = server.finish();
    assert_eq!(run.code, 75, "{run}");
    assert!(run.one_error_line().contains("454"), "{run}");
    assert!(!log.has_verb("MAIL"));
}
