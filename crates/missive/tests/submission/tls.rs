//! TLS that cannot be trusted or is missing: no CA, no STARTTLS, a name
//! not in the certificate, an IP literal. Nothing is sent then.

use crate::support::testbed::loopback_name_not_in_certificate;

use super::*;

#[test]
fn without_cafile_starttls_fails_77_before_mail() {
    let tb = testbed!();
    let rcpt = unique_addr("noca");
    let out = Cmd::new([
        "send",
        "--server",
        &tb.submission(),
        "--user",
        tb.user(),
        "--password-env",
        PASS_VAR,
        "--from",
        tb.user(),
        "--to",
        &rcpt,
        "--body",
        "must not arrive\n",
        "-v",
    ])
    .env(PASS_VAR, tb.pass())
    .run();
    out.assert_code(77);
    assert!(
        out.stderr.to_lowercase().contains("certificate"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("C: AUTH"), "{}", out.stderr);
    assert!(!out.stderr.contains("C: MAIL"), "{}", out.stderr);
    assert_no_secret(&out, tb.user(), tb.pass());
    tb.assert_nothing_for(&rcpt);
}

#[test]
fn without_cafile_implicit_tls_fails_77() {
    let tb = testbed!();
    let rcpt = unique_addr("noca-smtps");
    let out = Cmd::new([
        "send",
        "--server",
        &format!("localhost:{}", tb.smtps_port()),
        "--tls",
        "implicit",
        "--user",
        tb.user(),
        "--password-env",
        PASS_VAR,
        "--from",
        tb.user(),
        "--to",
        &rcpt,
        "--body",
        "must not arrive\n",
    ])
    .env(PASS_VAR, tb.pass())
    .run();
    out.assert_code(77);
    tb.assert_nothing_for(&rcpt);
}

#[test]
fn tls_none_with_credentials_refuses_plaintext_auth() {
    let tb = testbed!();
    let rcpt = unique_addr("tlsnone");
    let out = submit(&tb, &tb.submission(), &rcpt)
        .args(["--tls", "none", "--body", "must not arrive\n", "-v"])
        .run();
    out.assert_code(77);
    assert!(!out.stderr.contains("C: STARTTLS"), "{}", out.stderr);
    assert!(!out.stderr.contains("C: AUTH"), "{}", out.stderr);
    assert!(!out.stderr.contains("C: MAIL"), "{}", out.stderr);
    assert_no_secret(&out, tb.user(), tb.pass());
    tb.assert_nothing_for(&rcpt);
}

#[test]
fn starttls_is_required_when_the_server_does_not_offer_it() {
    let tb = testbed!();
    if !tb.sink_running() {
        eprintln!("skipped: smtp-sink (127.0.0.1:2526) not running");
        return;
    }
    // smtp-sink offers no STARTTLS: --tls starttls (and the default) must stop
    for tls in [&["--tls", "starttls"][..], &[][..]] {
        let out = Cmd::new([
            "send",
            "--server",
            &tb.sink(),
            "--from",
            "a@client.test",
            "--to",
            "b@sink.test",
            "--body",
            "x\n",
            "-v",
        ])
        .args(tls)
        .run();
        out.assert_code(77);
        assert!(out.stderr.contains("STARTTLS"), "{}", out.stderr);
        assert!(!out.stderr.contains("C: MAIL"), "{}", out.stderr);
    }
    // ...while opportunistic goes on in plaintext
    let out = Cmd::new([
        "send",
        "--server",
        &tb.sink(),
        "--tls",
        "opportunistic",
        "--from",
        "a@client.test",
        "--to",
        "b@sink.test",
        "--body",
        "x\n",
        "--json",
    ])
    .run();
    out.assert_code(0);
    assert!(out.json()["tls"].is_null());
}

#[test]
fn certificate_name_mismatch_fails_77() {
    let tb = testbed!();
    let Some(name) = loopback_name_not_in_certificate() else {
        eprintln!("skipped: no host name resolves to 127.0.0.1 outside the certificate");
        return;
    };
    let rcpt = unique_addr("mismatch");
    let out = submit(
        &tb,
        &format!("{name}:{}", tb.var("SMTP_PORT_SUBMISSION")),
        &rcpt,
    )
    .args(["--body", "must not arrive\n", "-v"])
    .run();
    out.assert_code(77);
    assert!(!out.stderr.contains("C: AUTH"), "{}", out.stderr);
    assert_no_secret(&out, tb.user(), tb.pass());
    tb.assert_nothing_for(&rcpt);

    // opportunistic TLS goes on, but says the certificate did not verify
    let rcpt = unique_addr("mismatch-oppo");
    let out = Cmd::new([
        "send",
        "--server",
        &format!("{name}:{}", tb.var("SMTP_PORT_MX")),
        "--cafile",
        tb.ca(),
        "--tls",
        "opportunistic",
        "--from",
        "a@client.test",
        "--to",
        &rcpt,
        "--body",
        "x\n",
        "--json",
    ])
    .run();
    out.assert_code(0);
    let j = out.json();
    assert_eq!(j["tls"]["verified"], false, "{j:#}");
    tb.wait_for_mail(&rcpt);
}

#[test]
fn implicit_tls_to_an_ip_literal_verifies() {
    let tb = testbed!();
    for host in [
        tb.var("SMTP_HOST").to_string(),
        format!("[{}]", tb.var("SMTP_HOST6")),
    ] {
        let rcpt = unique_addr("smtps-ip");
        let out = submit(&tb, &format!("{host}:{}", tb.smtps_port()), &rcpt)
            .args(["--tls", "implicit", "--body", "ip\n", "--json"])
            .run();
        out.assert_code(0);
        assert_eq!(out.json()["tls"]["verified"], true);
        tb.wait_for_mail(&rcpt);
    }
}
