//! Sessions that deliver: STARTTLS and AUTH on the submission port, over
//! IPv4 and IPv6, implicit TLS, and the MX-style port with and without TLS.

use super::*;

#[test]
fn submission_starttls_auth_plain_delivers() {
    let tb = testbed!();
    let rcpt = unique_addr("plain");
    let subject = format!("plain {rcpt}");
    let out = submit(&tb, &tb.submission(), &rcpt)
        .args([
            "--auth",
            "plain",
            "--subject",
            &subject,
            "--body",
            "hello over submission\n",
            "--json",
            "-v",
        ])
        .run();
    out.assert_code(0);
    let j = out.json();
    assert_eq!(j["server"], tb.submission());
    assert_eq!(j["authenticated"], true, "{j:#}");
    assert_eq!(j["tls"]["verified"], true, "{j:#}");
    assert!(str_of(&j["tls"]["version"]).starts_with("TLSv1."), "{j:#}");
    assert_eq!(j["exit_code"], 0);
    assert!(j.get("error").is_none_or(Value::is_null), "{j:#}");
    let r = recipient(&j, &rcpt);
    assert_eq!(r["accepted"], true);
    // the transcript: STARTTLS first, then AUTH PLAIN, redacted
    let starttls = out.stderr.find("C: STARTTLS").expect("STARTTLS in -v");
    let auth = out
        .stderr
        .find("C: AUTH PLAIN <redacted>")
        .unwrap_or_else(|| panic!("no redacted AUTH PLAIN line:\n{}", out.stderr));
    assert!(starttls < auth, "AUTH before STARTTLS:\n{}", out.stderr);
    assert!(out.stderr.contains("S: 235 2.7.0"), "{}", out.stderr);
    assert_no_secret(&out, tb.user(), tb.pass());

    let file = tb.wait_for_mail(&rcpt);
    let received = received_header(&file);
    assert!(received.contains("with ESMTPSA"), "{received}");
    assert!(
        received.contains(&format!("(Authenticated sender: {})", tb.user())),
        "{received}"
    );
    let queue_id = str_of(&j["queue_id"]);
    assert!(
        received.contains(&format!("id {queue_id}")),
        "queue id {queue_id} not in {received}"
    );
    let (head, body) = sent_parts(&file);
    assert_eq!(one_header(&head, "Message-ID"), str_of(&j["message_id"]));
    assert_eq!(one_header(&head, "Subject"), subject);
    assert_eq!(one_header(&head, "From"), tb.user());
    assert_eq!(one_header(&head, "To"), rcpt);
    assert_eq!(header_values(&head, "Date").len(), 1, "{head}");
    assert_eq!(body, b"hello over submission\n");
}

#[test]
fn submission_auth_login_user2_utf8_password() {
    let tb = testbed!();
    assert_eq!(tb.pass2(), "päss wörd:€ 1", "the testbed's second password");
    let rcpt = unique_addr("login");
    let out = Cmd::new([
        "send",
        "--server",
        &tb.submission(),
        "--cafile",
        tb.ca(),
        "--auth",
        "login",
        "--user",
        tb.user2(),
        "--password-env",
        PASS_VAR,
        "--from",
        tb.user2(),
        "--to",
        &rcpt,
        "--body",
        "login works\n",
        "-v",
    ])
    .env(PASS_VAR, tb.pass2())
    .run();
    out.assert_code(0);
    assert!(out.stderr.contains("C: AUTH LOGIN"), "{}", out.stderr);
    assert!(out.stderr.contains("S: 235 2.7.0"), "{}", out.stderr);
    assert_no_secret(&out, tb.user2(), tb.pass2());
    let file = tb.wait_for_mail(&rcpt);
    let received = received_header(&file);
    assert!(
        received.contains(&format!("(Authenticated sender: {})", tb.user2())),
        "{received}"
    );
    let (_, body) = sent_parts(&file);
    assert_eq!(body, b"login works\n");
}

#[test]
fn submission_over_ipv6() {
    let tb = testbed!();
    let rcpt = unique_addr("ipv6");
    let out = submit(&tb, &tb.submission6(), &rcpt)
        .args(["--body", "over ::1\n", "--json"])
        .run();
    out.assert_code(0);
    let j = out.json();
    assert_eq!(j["server"], tb.submission6());
    assert_eq!(j["tls"]["verified"], true, "{j:#}");
    assert_eq!(j["authenticated"], true, "{j:#}");
    let file = tb.wait_for_mail(&rcpt);
    let received = received_header(&file);
    assert!(received.contains("[IPv6:::1]"), "not over IPv6: {received}");
    assert!(received.contains("with ESMTPSA"), "{received}");
}

#[test]
fn implicit_tls_as_localhost() {
    let tb = testbed!();
    let rcpt = unique_addr("smtps");
    let server = format!("localhost:{}", tb.smtps_port());
    let out = submit(&tb, &server, &rcpt)
        .args([
            "--tls",
            "implicit",
            "--body",
            "implicit tls\n",
            "--json",
            "-v",
        ])
        .run();
    out.assert_code(0);
    let j = out.json();
    assert_eq!(j["tls"]["verified"], true, "{j:#}");
    assert_eq!(j["authenticated"], true, "{j:#}");
    let names: Vec<&str> = j["tls"]["certificate"]["names"]
        .as_array()
        .expect("certificate names")
        .iter()
        .map(str_of)
        .collect();
    assert!(names.contains(&"localhost"), "{names:?}");
    // implicit TLS: no STARTTLS in the conversation, TLS before the greeting
    assert!(!out.stderr.contains("STARTTLS"), "{}", out.stderr);
    let tls_line = out.stderr.find("* TLS ").expect("a TLS line in -v");
    let greeting = out.stderr.find("S: 220 ").expect("the greeting in -v");
    assert!(tls_line < greeting, "{}", out.stderr);
    let file = tb.wait_for_mail(&rcpt);
    let received = received_header(&file);
    assert!(received.contains("with ESMTPSA"), "{received}");
    let (_, body) = sent_parts(&file);
    assert_eq!(body, b"implicit tls\n");
}

#[test]
fn mx_port_opportunistic_tls_verified_with_cafile() {
    let tb = testbed!();
    let rcpt = unique_addr("oppo");
    let out = mx_send(&tb, &rcpt)
        .args(["--tls", "opportunistic", "--body", "mx\n", "--json"])
        .run();
    out.assert_code(0);
    let j = out.json();
    assert!(j["tls"].is_object(), "no TLS: {j:#}");
    assert_eq!(j["tls"]["verified"], true, "{j:#}");
    assert!(!str_of(&j["tls"]["cipher"]).is_empty(), "{j:#}");
    assert_eq!(j["authenticated"], false, "{j:#}");
    assert_eq!(recipient(&j, &rcpt)["accepted"], true);
    let file = tb.wait_for_mail(&rcpt);
    let received = received_header(&file);
    assert!(received.contains("with ESMTPS id"), "{received}");
    assert!(!received.contains("Authenticated sender"), "{received}");
}

#[test]
fn mx_port_opportunistic_tls_without_ca_still_encrypts_but_unverified() {
    let tb = testbed!();
    let rcpt = unique_addr("oppo-noca");
    let out = Cmd::new([
        "send",
        "--server",
        &tb.mx(),
        "--tls",
        "opportunistic",
        "--from",
        "sender@client.test",
        "--to",
        &rcpt,
        "--body",
        "unverified\n",
        "--json",
    ])
    .run();
    out.assert_code(0);
    let j = out.json();
    assert!(j["tls"].is_object(), "no TLS: {j:#}");
    assert_eq!(j["tls"]["verified"], false, "{j:#}");
    assert!(j["tls"]["problem"].is_string(), "{j:#}");
    let file = tb.wait_for_mail(&rcpt);
    assert!(received_header(&file).contains("with ESMTPS id"));
}

#[test]
fn mx_port_tls_none_is_plaintext() {
    let tb = testbed!();
    let rcpt = unique_addr("plaintext");
    let out = mx_send(&tb, &rcpt)
        .args(["--tls", "none", "--body", "clear\n", "--json", "-v"])
        .run();
    out.assert_code(0);
    let j = out.json();
    assert!(j["tls"].is_null(), "{j:#}");
    assert!(!out.stderr.contains("C: STARTTLS"), "{}", out.stderr);
    let file = tb.wait_for_mail(&rcpt);
    let received = received_header(&file);
    assert!(received.contains("with ESMTP id"), "{received}");
}

#[test]
fn success_line_and_quiet() {
    let tb = testbed!();
    let rcpt = unique_addr("line");
    let out = mx_send(&tb, &rcpt).args(["--body", "x\n"]).run();
    out.assert_code(0);
    let line = out.stdout.trim_end();
    assert!(line.starts_with("sent <"), "{line}");
    assert!(
        line.contains(&format!(" to {rcpt} via {} (queued as ", tb.mx())),
        "{line}"
    );
    assert!(out.stderr.is_empty(), "{}", out.stderr);
    let file = tb.wait_for_mail(&rcpt);
    let (head, _) = sent_parts(&file);
    let mid = one_header(&head, "Message-ID");
    assert!(line.contains(&format!("sent {mid} ")), "{line} vs {mid}");

    let rcpt = unique_addr("quiet");
    let out = mx_send(&tb, &rcpt).args(["--body", "x\n", "-q"]).run();
    out.assert_code(0);
    assert!(out.stdout.is_empty(), "-q printed: {}", out.stdout);
    assert!(out.stderr.is_empty(), "-q printed: {}", out.stderr);
    tb.wait_for_mail(&rcpt);
}

#[test]
fn submission_auth_plain_user2_utf8_password() {
    let tb = testbed!();
    let rcpt = unique_addr("plain2");
    let out = Cmd::new([
        "send",
        "--server",
        &tb.submission6(),
        "--cafile",
        tb.ca(),
        "--auth",
        "plain",
        "--user",
        tb.user2(),
        "--password-env",
        PASS_VAR,
        "--from",
        tb.user2(),
        "--to",
        &rcpt,
        "--body",
        "plain, utf-8 password\n",
        "-v",
    ])
    .env(PASS_VAR, tb.pass2())
    .run();
    out.assert_code(0);
    assert!(
        out.stderr.contains("C: AUTH PLAIN <redacted>"),
        "{}",
        out.stderr
    );
    assert_no_secret(&out, tb.user2(), tb.pass2());
    let file = tb.wait_for_mail(&rcpt);
    assert!(received_header(&file).contains(&format!("(Authenticated sender: {})", tb.user2())));
}
