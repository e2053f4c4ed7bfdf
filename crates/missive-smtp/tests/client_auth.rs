//! AUTH in the client: PLAIN, LOGIN, CRAM-MD5, XOAUTH2 and OAUTHBEARER
//! exchanges, error challenges, refusals, and secrets kept out of transcripts.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use missive_smtp::{Credentials, Error, Mechanism, Next, Secret, Stage, TlsMode};

use crate::util::*;

fn implicit(creds: Credentials, mechanism: Option<Mechanism>, mode: Chunking) -> Driver {
    let mut cfg = config(TlsMode::Implicit, Some(creds));
    cfg.mechanism = mechanism;
    Driver::new(cfg, mode)
}

#[test]
fn auth_login_exchange() {
    for mode in ALL_CHUNKINGS {
        let mut d = implicit(password(), None, mode);
        assert_eq!(
            hello(&mut d, &ehlo(&["AUTH LOGIN", "PIPELINING"])),
            Ok(read(Stage::Auth))
        );
        d.expect_writes(&["AUTH LOGIN\r\n"]);
        assert_eq!(d.server("334 VXNlcm5hbWU6\r\n"), Ok(read(Stage::Auth)));
        d.expect_writes(&[&format!("{}\r\n", B64.encode(USER))]);
        assert_eq!(d.server("334 UGFzc3dvcmQ6\r\n"), Ok(read(Stage::Auth)));
        d.expect_writes(&[&format!("{}\r\n", B64.encode(PASSWORD))]);
        assert_eq!(
            d.server("235 2.7.0 Authentication successful\r\n"),
            Ok(Next::Ready)
        );
        assert!(d.c.is_authenticated());
        assert_eq!(
            d.sent(),
            vec!["EHLO client.test", "AUTH LOGIN", "<redacted>", "<redacted>"]
        );
        d.check_transcript();
        d.check_no_secret();
    }
}

#[test]
fn auth_cram_md5_exchange() {
    // RFC 2195 §2
    let creds = Credentials::Password {
        user: "tim".into(),
        password: Secret::new("tanstaaftanstaaf"),
    };
    for mode in ALL_CHUNKINGS {
        let mut d = implicit(creds.clone(), Some(Mechanism::CramMd5), mode);
        assert_eq!(
            hello(&mut d, &ehlo(&["AUTH PLAIN LOGIN CRAM-MD5"])),
            Ok(read(Stage::Auth))
        );
        d.expect_writes(&["AUTH CRAM-MD5\r\n"]);
        let challenge = B64.encode("<1896.697170952@postoffice.reston.mci.net>");
        assert_eq!(
            d.server(format!("334 {challenge}\r\n")),
            Ok(read(Stage::Auth))
        );
        d.expect_writes(&["dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw\r\n"]);
        assert_eq!(d.server("235 ok\r\n"), Ok(Next::Ready));
        assert!(!d
            .sent()
            .iter()
            .any(|s| s.contains("dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw")));
        d.check_transcript();
    }
}

#[test]
fn auth_xoauth2_error_challenge() {
    let json = r#"{"status":"400","schemes":"Bearer","scope":"https://mail.google.com/"}"#;
    for mode in ALL_CHUNKINGS {
        let mut d = implicit(token(), None, mode);
        assert_eq!(
            hello(&mut d, &ehlo(&["AUTH LOGIN PLAIN XOAUTH2 OAUTHBEARER"])),
            Ok(read(Stage::Auth))
        );
        let initial = B64.encode(format!("user={USER}\x01auth=Bearer {TOKEN}\x01\x01"));
        d.expect_writes(&[&format!("AUTH XOAUTH2 {initial}\r\n")]);
        assert_eq!(
            d.server(format!("334 {}\r\n", B64.encode(json))),
            Ok(read(Stage::Auth))
        );
        d.expect_writes(&["\r\n"]);
        let r = d.server("535-5.7.8 Username and Password not accepted.\r\n535 5.7.8 https://support.google.com/mail/?p=BadCredentials\r\n");
        match &r {
            Err(Error::AuthFailed { reply, detail }) => {
                assert_eq!(reply.code.value(), 535);
                assert_eq!(detail.as_deref(), Some(json));
            }
            other => panic!("{other:?}"),
        }
        assert!(r.unwrap_err().to_string().contains(json));
        d.expect_writes(&[]);
        assert!(!d.c.is_authenticated());
        assert_eq!(
            d.sent(),
            vec!["EHLO client.test", "AUTH XOAUTH2 <redacted>", "<redacted>"]
        );
        d.check_transcript();
        d.check_no_secret();
    }
}

#[test]
fn auth_oauthbearer_error_challenge() {
    let json = r#"{"status":"invalid_token"}"#;
    let mut d = implicit(token(), Some(Mechanism::OAuthBearer), Chunking::Odd);
    assert_eq!(
        hello(&mut d, &ehlo(&["AUTH XOAUTH2 OAUTHBEARER"])),
        Ok(read(Stage::Auth))
    );
    let w = d.take_writes();
    assert_eq!(w.len(), 1);
    let initial = w[0]
        .strip_prefix("AUTH OAUTHBEARER ")
        .and_then(|s| s.strip_suffix("\r\n"))
        .unwrap();
    assert_eq!(
        B64.decode(initial).unwrap(),
        format!("n,a={USER},\x01host=mx.test\x01port=587\x01auth=Bearer {TOKEN}\x01\x01")
            .as_bytes()
    );
    assert_eq!(
        d.server(format!("334 {}\r\n", B64.encode(json))),
        Ok(read(Stage::Auth))
    );
    d.expect_writes(&["AQ==\r\n"]);
    let r = d.server("535 5.7.8 bad token\r\n");
    assert!(
        matches!(&r, Err(Error::AuthFailed { detail: Some(j), .. }) if j == json),
        "{r:?}"
    );
    d.check_no_secret();
}

#[test]
fn auth_plain_refused() {
    let mut d = implicit(password(), None, Chunking::Bytes);
    assert_eq!(hello(&mut d, &ehlo(&["AUTH PLAIN"])), Ok(read(Stage::Auth)));
    d.take_writes();
    let r = d.server("535 5.7.8 Error: authentication failed\r\n");
    assert!(
        matches!(&r, Err(Error::AuthFailed { reply, detail: None }) if reply.code.value() == 535),
        "{r:?}"
    );
    d.expect_writes(&[]);
    assert_eq!(
        d.c.send_mail(envelope(&["b@x.test"])).map_err(|_| ()),
        Err(())
    );
    d.check_no_secret();
}

#[test]
fn auth_unavailable() {
    // no mechanism fits
    let mut d = implicit(token(), None, Chunking::Whole);
    let r = hello(&mut d, &ehlo(&["AUTH PLAIN LOGIN"]));
    assert_eq!(
        r,
        Err(Error::AuthUnavailable {
            offered: vec![Mechanism::Plain, Mechanism::Login],
            wanted: None
        })
    );
    d.expect_writes(&[]);

    // the one asked for is not offered
    let mut d = implicit(password(), Some(Mechanism::CramMd5), Chunking::Whole);
    let r = hello(&mut d, &ehlo(&["AUTH PLAIN LOGIN"]));
    assert!(
        matches!(
            &r,
            Err(Error::AuthUnavailable {
                wanted: Some(Mechanism::CramMd5),
                ..
            })
        ),
        "{r:?}"
    );
    d.expect_writes(&[]);

    // no AUTH at all
    let mut d = implicit(password(), None, Chunking::Whole);
    let r = hello(&mut d, &ehlo(&["PIPELINING"]));
    assert!(matches!(&r, Err(Error::AuthUnavailable { offered, .. }) if offered.is_empty()));
    d.check_no_secret();
}
