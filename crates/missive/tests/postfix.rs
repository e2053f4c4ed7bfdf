//! End-to-end tests: the real `missive` binary against the real Postfix
//! testbed on loopback (testbed/README.md). Every test uses recipients that
//! no other test uses, so they run in parallel, and checks what the server
//! received on disk, not only what missive says.
//!
//! Without a running testbed the tests print "skipped: testbed not running"
//! and pass, unless MISSIVE_TESTBED is set (test.sh sets it), in which case
//! they fail.

mod common;

use common::*;
use serde_json::Value;

/// The testbed, or return from the test (skipped) when it is not there.
macro_rules! testbed {
    () => {
        match common::testbed() {
            Some(tb) => tb,
            None => return,
        }
    };
}

/// The environment variable the tests hand passwords through.
const PASS_VAR: &str = "MISSIVE_TEST_PASSWORD";

/// `missive send` through the submission port as user 1 (password in
/// [`PASS_VAR`]), trusting the testbed CA.
fn submit(tb: &Testbed, server: &str, rcpt: &str) -> Cmd {
    Cmd::new([
        "send",
        "--server",
        server,
        "--cafile",
        tb.ca(),
        "--user",
        tb.user(),
        "--password-env",
        PASS_VAR,
        "--from",
        tb.user(),
        "--to",
        rcpt,
    ])
    .env(PASS_VAR, tb.pass())
}

/// `missive send` to the MX-style port, no AUTH, STARTTLS with the testbed CA.
fn mx_send(tb: &Testbed, rcpt: &str) -> Cmd {
    Cmd::new([
        "send",
        "--server",
        &tb.mx(),
        "--cafile",
        tb.ca(),
        "--from",
        "sender@client.test",
        "--to",
        rcpt,
    ])
}

fn s(v: &Value) -> &str {
    v.as_str()
        .unwrap_or_else(|| panic!("expected a string, got {v}"))
}

/// The one recipient entry of a --json report whose address is `addr`.
fn recipient<'a>(report: &'a Value, addr: &str) -> &'a Value {
    report["recipients"]
        .as_array()
        .expect("recipients is an array")
        .iter()
        .find(|r| r["address"] == addr)
        .unwrap_or_else(|| panic!("{addr} not in the report: {report:#}"))
}

/// Header block and body of the message as sent, from a delivered file.
fn delivered_parts(file: &[u8]) -> (String, Vec<u8>) {
    split_message(&original(file))
}

fn one_header(head: &str, name: &str) -> String {
    let v = header_values(head, name);
    assert_eq!(v.len(), 1, "expected one {name} header in:\n{head}");
    v.into_iter().next().unwrap()
}

/// Every form in which a password could leak: as is, and in base64 alone and
/// inside an AUTH PLAIN response (with and without an authorization identity).
fn secret_forms(user: &str, password: &str) -> Vec<String> {
    vec![
        password.to_string(),
        base64_encode(password.as_bytes()),
        base64_encode(format!("\0{user}\0{password}").as_bytes()),
        base64_encode(format!("{user}\0{user}\0{password}").as_bytes()),
    ]
}

#[track_caller]
fn assert_no_secret(out: &Output, user: &str, password: &str) {
    let all = out.all();
    for form in secret_forms(user, password) {
        assert!(
            !all.contains(&form),
            "the password leaked as {form:?}:\n{all}"
        );
    }
}

// ---------------------------------------------------------------- sessions

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
    assert!(s(&j["tls"]["version"]).starts_with("TLSv1."), "{j:#}");
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
    let queue_id = s(&j["queue_id"]);
    assert!(
        received.contains(&format!("id {queue_id}")),
        "queue id {queue_id} not in {received}"
    );
    let (head, body) = delivered_parts(&file);
    assert_eq!(one_header(&head, "Message-ID"), s(&j["message_id"]));
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
    let (_, body) = delivered_parts(&file);
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
        .map(s)
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
    let (_, body) = delivered_parts(&file);
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
    assert!(!s(&j["tls"]["cipher"]).is_empty(), "{j:#}");
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
    let (head, _) = delivered_parts(&file);
    let mid = one_header(&head, "Message-ID");
    assert!(line.contains(&format!("sent {mid} ")), "{line} vs {mid}");

    let rcpt = unique_addr("quiet");
    let out = mx_send(&tb, &rcpt).args(["--body", "x\n", "-q"]).run();
    out.assert_code(0);
    assert!(out.stdout.is_empty(), "-q printed: {}", out.stdout);
    assert!(out.stderr.is_empty(), "-q printed: {}", out.stderr);
    tb.wait_for_mail(&rcpt);
}

// ---------------------------------------------------------------- authentication failures

#[test]
fn wrong_password_plain_fails_77_and_leaks_nothing() {
    let tb = testbed!();
    let rcpt = unique_addr("wrongpw");
    let bad = format!("Wr0ng-{}", unique("pw"));
    // Dovecot delays repeated failures from one address (its auth penalty),
    // so two runs only: everything shown, and the plain error line
    for extra in [&["-vv", "--json"][..], &[][..]] {
        let out = submit(&tb, &tb.submission(), &rcpt)
            .env(PASS_VAR, &bad)
            .args(["--body", "must not arrive\n"])
            .args(extra)
            .run();
        out.assert_code(77);
        assert!(
            out.stderr
                .contains("535 5.7.8 Error: authentication failed"),
            "the server's 535 text is not on stderr ({extra:?}):\n{}",
            out.stderr
        );
        assert_no_secret(&out, tb.user(), &bad);
        if extra.contains(&"-v") || extra.contains(&"-vv") {
            assert!(
                out.stderr.contains("C: AUTH PLAIN <redacted>"),
                "{}",
                out.stderr
            );
            assert!(!out.stderr.contains("C: MAIL"), "{}", out.stderr);
        }
        if extra.contains(&"--json") {
            let j = out.json();
            assert_eq!(j["exit_code"], 77, "{j:#}");
            assert_eq!(j["authenticated"], false, "{j:#}");
            assert!(s(&j["error"]).contains("535"), "{j:#}");
        }
    }
    tb.assert_nothing_for(&rcpt);
}

#[test]
fn wrong_password_login_fails_77_and_leaks_nothing() {
    let tb = testbed!();
    let rcpt = unique_addr("wrongpw-login");
    let bad = format!("bad pässword {}", unique("pw"));
    let out = Cmd::new([
        "send",
        "--server",
        &tb.submission6(), // [::1]: its own Dovecot auth penalty
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
        "must not arrive\n",
        "-vv",
    ])
    .env(PASS_VAR, &bad)
    .run();
    out.assert_code(77);
    assert!(out.stderr.contains("535 5.7.8"), "{}", out.stderr);
    assert!(out.stderr.contains("C: AUTH LOGIN"), "{}", out.stderr);
    assert!(out.stderr.contains("C: <redacted>"), "{}", out.stderr);
    assert_no_secret(&out, tb.user2(), &bad);
    tb.assert_nothing_for(&rcpt);
}

// ---------------------------------------------------------------- message bytes

#[test]
fn dot_lines_arrive_byte_exact() {
    let tb = testbed!();
    let rcpt = unique_addr("dots");
    let body = ".leading dot\n.\n..two dots\nmiddle\n. space after dot\n...\nend.\n.\n";
    let out = submit(&tb, &tb.submission(), &rcpt)
        .args(["--subject", "dots", "--body", body, "-v"])
        .run();
    out.assert_code(0);
    let file = tb.wait_for_mail(&rcpt);
    let (head, got) = delivered_parts(&file);
    assert_eq!(one_header(&head, "Content-Transfer-Encoding"), "7bit");
    assert_eq!(
        String::from_utf8_lossy(&got),
        String::from_utf8_lossy(&lf(body.as_bytes()))
    );
}

#[test]
fn bare_lf_body_file_is_normalised_to_crlf() {
    let tb = testbed!();
    let rcpt = unique_addr("barelf-file");
    let body = "line one\nline two\n\n.dot line\nlast line\n";
    let file = TempFile::new(body.as_bytes());
    // Postfix refuses any bare LF (550 5.5.2): acceptance proves CRLF on the wire
    let out = mx_send(&tb, &rcpt)
        .args(["--body-file", file.path_str()])
        .run();
    out.assert_code(0);
    assert!(!out.stderr.contains("bare <LF>"), "{}", out.stderr);
    let delivered = tb.wait_for_mail(&rcpt);
    let (_, got) = delivered_parts(&delivered);
    assert_eq!(String::from_utf8_lossy(&got), body);
}

#[test]
fn bare_lf_and_mixed_stdin_body_is_normalised() {
    let tb = testbed!();
    let rcpt = unique_addr("barelf-stdin");
    let body = "from stdin\r\nbare lf next\nmixed\r\n\n.\nno newline at the end";
    let out = submit(&tb, &tb.submission(), &rcpt).stdin(body).run();
    out.assert_code(0);
    let delivered = tb.wait_for_mail(&rcpt);
    let (_, got) = delivered_parts(&delivered);
    assert_eq!(
        String::from_utf8_lossy(&got),
        "from stdin\nbare lf next\nmixed\n\n.\nno newline at the end\n"
    );
}

#[test]
fn utf8_and_long_lines_arrive_as_quoted_printable() {
    let tb = testbed!();
    let rcpt = unique_addr("qp");
    let long = "0123456789=".repeat(150); // 1650 octets, with '='
    let body = format!("Grüße aus Köln, 世界 ✓\ntrailing space \n=start\n{long}\n.\n");
    let out = submit(&tb, &tb.submission(), &rcpt)
        .args(["--body", &body])
        .run();
    out.assert_code(0);
    let file = tb.wait_for_mail(&rcpt);
    let (head, got) = delivered_parts(&file);
    assert_eq!(
        one_header(&head, "Content-Transfer-Encoding"),
        "quoted-printable"
    );
    assert_eq!(
        one_header(&head, "Content-Type"),
        "text/plain; charset=utf-8"
    );
    for line in got.split(|&b| b == b'\n') {
        assert!(line.len() <= 76, "a QP line of {} octets", line.len());
        assert!(line.is_ascii(), "8-bit data in a QP body");
    }
    assert_eq!(String::from_utf8_lossy(&decode_qp(&got)), body);
}

#[test]
fn large_body_with_dots_at_every_offset_arrives_byte_exact() {
    let tb = testbed!();
    let rcpt = unique_addr("large");
    // ~600 KiB of short lines, many starting with '.' or being only '.': line
    // starts and CRLFs fall on every alignment, so the 64 KiB read chunks
    // split them everywhere.
    let pieces = [".", "..", ".x", "x.", "", "...", ". ", "ab.cd", ".\t."];
    let mut body = String::new();
    let mut i = 0usize;
    while body.len() < 600 * 1024 {
        body.push_str(pieces[i % pieces.len()]);
        body.push_str(&"y".repeat(i % 13));
        body.push('\n');
        i += 1;
    }
    let file = TempFile::new(body.as_bytes());
    let out = mx_send(&tb, &rcpt)
        .args(["--body-file", file.path_str()])
        .run();
    out.assert_code(0);
    let delivered = tb.wait_for_mail(&rcpt);
    let (_, got) = delivered_parts(&delivered);
    assert_eq!(got.len(), body.len(), "length differs");
    assert!(got == body.as_bytes(), "bytes differ");
}

// ---------------------------------------------------------------- refused recipients

#[test]
fn reject_beats_tempfail_exit_69_good_one_delivered() {
    let tb = testbed!();
    let good = unique_addr("good69");
    let reject = format!("reject+{}@example.test", unique("r"));
    let tempfail = format!("tempfail+{}@example.test", unique("t"));
    let out = mx_send(&tb, &good)
        .args([
            "--to",
            &reject,
            "--to",
            &tempfail,
            "--body",
            "some refused\n",
        ])
        .run();
    out.assert_code(69);
    assert!(
        out.stderr
            .contains(&format!("missive: {reject} refused: 550 5.1.1 ")),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains(&format!("missive: {tempfail} refused: 450 4.2.1 ")),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains(&format!("{good} refused")));
    let (_, body) = delivered_parts(&tb.wait_for_mail(&good));
    assert_eq!(body, b"some refused\n");
}

#[test]
fn tempfail_only_exit_75_good_one_delivered() {
    let tb = testbed!();
    let good = unique_addr("good75");
    let tempfail = format!("tempfail-{}@example.test", unique("t"));
    let out = mx_send(&tb, &tempfail)
        .args(["--to", &good, "--body", "one temporary\n"])
        .run();
    out.assert_code(75);
    assert!(
        out.stderr
            .contains(&format!("missive: {tempfail} refused: 450 4.2.1 ")),
        "{}",
        out.stderr
    );
    tb.wait_for_mail(&good);
}

#[test]
fn refused_recipients_in_json_report() {
    let tb = testbed!();
    let good = unique_addr("goodjson");
    let reject = format!("reject.{}@example.test", unique("r"));
    let tempfail = format!("tempfail.{}@example.test", unique("t"));
    let out = mx_send(&tb, &good)
        .args([
            "--cc", &reject, "--bcc", &tempfail, "--body", "json\n", "--json",
        ])
        .run();
    out.assert_code(69);
    let j = out.json();
    assert_eq!(j["exit_code"], 69, "{j:#}");
    assert!(j["error"].is_string(), "{j:#}");
    assert_eq!(j["recipients"].as_array().map(Vec::len), Some(3), "{j:#}");
    let g = recipient(&j, &good);
    assert_eq!(g["accepted"], true, "{j:#}");
    let r = recipient(&j, &reject);
    assert_eq!(r["accepted"], false, "{j:#}");
    assert_eq!(r["code"], 550, "{j:#}");
    assert_eq!(r["enhanced"], "5.1.1", "{j:#}");
    assert!(
        s(&r["text"]).contains("permanent recipient rejection"),
        "{j:#}"
    );
    let t = recipient(&j, &tempfail);
    assert_eq!(t["accepted"], false, "{j:#}");
    assert_eq!(t["code"], 450, "{j:#}");
    assert_eq!(t["enhanced"], "4.2.1", "{j:#}");
    assert!(
        s(&t["text"]).contains("temporary recipient failure"),
        "{j:#}"
    );
    tb.wait_for_mail(&good);
}

#[test]
fn all_recipients_refused_sends_no_message() {
    let tb = testbed!();
    let reject = format!("reject-{}@example.test", unique("r"));
    let out = mx_send(&tb, &reject)
        .args(["--body", "nobody\n", "-v"])
        .run();
    out.assert_code(69);
    assert!(
        out.stderr
            .contains(&format!("missive: {reject} refused: 550 5.1.1 ")),
        "{}",
        out.stderr
    );
    assert!(
        !out.stderr.contains("<message body"),
        "a body was sent with no recipient:\n{}",
        out.stderr
    );
    tb.assert_not_delivered(&reject);
}

// ---------------------------------------------------------------- TLS required

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

// ---------------------------------------------------------------- headers

#[test]
fn bcc_gets_the_message_but_no_header() {
    let tb = testbed!();
    let to = unique_addr("bcc-to");
    let cc = unique_addr("bcc-cc");
    let bcc = unique_addr("bcc-hidden");
    let out = submit(&tb, &tb.submission(), &to)
        .args([
            "--cc",
            &cc,
            "--bcc",
            &bcc,
            "--subject",
            "bcc",
            "--body",
            "b\n",
        ])
        .run();
    out.assert_code(0);
    for addr in [&to, &cc, &bcc] {
        let file = tb.wait_for_mail(addr);
        let (head, _) = delivered_parts(&file);
        assert!(
            header_values(&head, "Bcc").is_empty(),
            "a Bcc header in {addr}'s copy:\n{head}"
        );
        assert!(
            !head.contains(&bcc),
            "the Bcc address shows in {addr}'s headers:\n{head}"
        );
        assert_eq!(one_header(&head, "To"), to);
        assert_eq!(one_header(&head, "Cc"), cc);
    }
}

#[test]
fn non_ascii_subject_and_name_arrive_as_encoded_words() {
    let tb = testbed!();
    let rcpt = unique_addr("subject");
    let subject = "Grüße aus Köln — 测试 ✓ ".repeat(4) + "end";
    let from = format!("Jörg Müller <{}>", tb.user());
    let out = Cmd::new([
        "send",
        "--server",
        &tb.mx(),
        "--cafile",
        tb.ca(),
        "--from",
        &from,
        "--to",
        &rcpt,
        "--subject",
        &subject,
        "--body",
        "s\n",
    ])
    .run();
    out.assert_code(0);
    let file = tb.wait_for_mail(&rcpt);
    let (head, _) = delivered_parts(&file);
    assert!(head.is_ascii(), "raw 8-bit in the headers:\n{head}");
    let raw = one_header(&head, "Subject");
    assert!(raw.starts_with("=?UTF-8?B?"), "{raw}");
    assert_eq!(decode_b_words(&raw).as_deref(), Some(subject.as_str()));
    let raw_from = one_header(&head, "From");
    let (name, addr) = raw_from.rsplit_once(' ').expect("name and address");
    assert_eq!(addr, format!("<{}>", tb.user()));
    assert_eq!(decode_b_words(name).as_deref(), Some("Jörg Müller"));
}

#[test]
fn subject_with_crlf_is_refused_65_and_nothing_sent() {
    let tb = testbed!();
    let rcpt = unique_addr("inject");
    let evil = unique_addr("evil");
    let out = mx_send(&tb, &rcpt)
        .args([
            "--subject",
            &format!("a\r\nBcc: {evil}"),
            "--body",
            "x\n",
            "-v",
        ])
        .run();
    out.assert_code(65);
    assert!(!out.stderr.contains("C: "), "{}", out.stderr);
    tb.assert_none_delivered(&[&rcpt, &evil], true);
}

#[test]
fn address_with_crlf_is_refused_65() {
    let tb = testbed!();
    let rcpt = unique_addr("inject-to");
    let evil = unique_addr("evil-to");
    let out = mx_send(&tb, &format!("{rcpt}\r\nBcc: {evil}"))
        .args(["--body", "x\n"])
        .run();
    out.assert_code(65);
    tb.assert_none_delivered(&[&rcpt, &evil], true);
}

#[test]
fn smtputf8_recipient_is_delivered() {
    let tb = testbed!();
    let local = format!("jörg-{}", unique("u"));
    let rcpt = format!("{local}@exämple.test");
    let out = mx_send(&tb, &rcpt)
        .args(["--body", "utf8 address\n", "-v"])
        .run();
    out.assert_code(0);
    assert!(
        out.stderr.contains("SMTPUTF8"),
        "MAIL without SMTPUTF8:\n{}",
        out.stderr
    );
    let file = tb.wait_for_mail(&rcpt);
    let (head, body) = delivered_parts(&file);
    assert_eq!(one_header(&head, "To"), rcpt);
    assert_eq!(body, b"utf8 address\n");
}

// ---------------------------------------------------------------- usage and input errors (no server needed)

#[test]
fn bad_address_is_65() {
    let out = run([
        "send",
        "--server",
        "127.0.0.1:2525",
        "--from",
        "a@example.test",
        "--to",
        "bad address",
        "--body",
        "x",
    ]);
    out.assert_code(65);
    assert!(out.stderr.starts_with("missive: "), "{}", out.stderr);
    assert!(out.stderr.contains("bad address"), "{}", out.stderr);
}

/// Usage errors (64). Without --server, missive now delivers directly to the
/// MX hosts, so "no --server" is no longer one; these still are.
#[test]
fn usage_errors_are_64() {
    let base = ["send", "--body", "x"];
    let cases: [&[&str]; 4] = [
        // --server and --direct exclude each other
        &[
            "--server",
            "127.0.0.1:2525",
            "--direct",
            "--from",
            "a@example.test",
            "--to",
            "b@example.test",
        ],
        // no sender
        &["--server", "127.0.0.1:2525", "--to", "b@example.test"],
        // no recipient
        &["--server", "127.0.0.1:2525", "--from", "a@example.test"],
        // an option that does not exist
        &[
            "--server",
            "127.0.0.1:2525",
            "--from",
            "a@example.test",
            "--to",
            "b@example.test",
            "--no-such-option",
        ],
    ];
    for extra in cases {
        let out = Cmd::new(base).args(extra).run();
        out.assert_code(64);
        assert!(!out.stderr.trim().is_empty(), "no message for {extra:?}");
    }
}

#[test]
fn missing_body_file_is_74() {
    let out = run([
        "send",
        "--server",
        "127.0.0.1:2525",
        "--from",
        "a@example.test",
        "--to",
        "b@example.test",
        "--body-file",
        "/nonexistent",
    ]);
    out.assert_code(74);
    assert!(out.stderr.contains("/nonexistent"), "{}", out.stderr);
}

// ---------------------------------------------------------------- password commands

#[test]
fn password_cmd_supplies_the_password() {
    let tb = testbed!();
    assert_eq!(tb.pass(), "testpass", "the command below hard-codes it");
    let rcpt = unique_addr("pwcmd");
    let out = Cmd::new([
        "send",
        "--server",
        &tb.submission(),
        "--cafile",
        tb.ca(),
        "--user",
        tb.user(),
        "--password-cmd",
        "printf testpass",
        "--from",
        tb.user(),
        "--to",
        &rcpt,
        "--body",
        "from a command\n",
        "--json",
    ])
    .run();
    out.assert_code(0);
    assert_eq!(out.json()["authenticated"], true);
    let file = tb.wait_for_mail(&rcpt);
    assert!(received_header(&file).contains("(Authenticated sender: tester@example.test)"));
}

#[test]
fn failing_password_cmd_is_78_and_shows_nothing() {
    let tb = testbed!();
    let rcpt = unique_addr("pwcmd-fail");
    let secret = unique("leaky-secret");
    let leaky = format!("printf '{secret}\\n'; exit 3");
    for cmd in ["false", leaky.as_str()] {
        let out = Cmd::new([
            "send",
            "--server",
            &tb.submission(),
            "--cafile",
            tb.ca(),
            "--user",
            tb.user(),
            "--password-cmd",
            cmd,
            "--from",
            tb.user(),
            "--to",
            &rcpt,
            "--body",
            "must not arrive\n",
            "-v",
        ])
        .run();
        out.assert_code(78);
        assert!(out.stdout.is_empty(), "{}", out.stdout);
        let lines: Vec<&str> = out.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "one error line expected:\n{}", out.stderr);
        assert!(lines[0].starts_with("missive: "), "{}", lines[0]);
        assert!(lines[0].contains("password command"), "{}", lines[0]);
        assert!(!out.all().contains(&secret), "leaked:\n{}", out.stderr);
        assert!(
            !out.all().contains("printf"),
            "the command leaked:\n{}",
            out.stderr
        );
    }
    tb.assert_nothing_for(&rcpt);
}

#[test]
fn encoded_word_header_lines_stay_within_limits() {
    let tb = testbed!();
    let rcpt = unique_addr("subject-len");
    let subject = "Grüße aus Köln — 测试 ✓ ".repeat(4) + "end";
    let out = mx_send(&tb, &rcpt)
        .args(["--subject", &subject, "--body", "s\n"])
        .run();
    out.assert_code(0);
    let file = tb.wait_for_mail(&rcpt);
    let (head, _) = delivered_parts(&file);
    assert_eq!(
        decode_b_words(&one_header(&head, "Subject")).as_deref(),
        Some(subject.as_str())
    );
    for line in head.lines() {
        // RFC 5322 §2.1.1 (SHOULD 78), RFC 2047 §2 (76 for lines with encoded words)
        let limit = if line.contains("=?") { 76 } else { 78 };
        assert!(
            line.len() <= limit,
            "a header line of {} octets (limit {limit}): {line}",
            line.len()
        );
    }
}

// ---------------------------------------------------------------- more server verdicts

#[test]
fn sender_and_data_rejections_map_to_exit_codes() {
    let tb = testbed!();
    // (sender local part, expected exit, expected code, enhanced) — the
    // testbed rejects these senders at RCPT (delayed) or after the final dot
    let cases = [
        ("reject-sender", 69, 553, "5.7.1"),
        ("tempfail-sender", 75, 451, "4.3.0"),
        ("reject-data", 69, 554, "5.7.0"),
        ("tempfail-data", 75, 451, "4.7.1"),
    ];
    let mut refused = Vec::new();
    for (sender, exit, code, enhanced) in cases {
        let rcpt = unique_addr(&format!("v-{sender}"));
        let out = Cmd::new([
            "send",
            "--server",
            &tb.mx(),
            "--cafile",
            tb.ca(),
            "--from",
            &format!("{sender}@client.test"),
            "--to",
            &rcpt,
            "--body",
            "refused\n",
            "--json",
        ])
        .run();
        out.assert_code(exit);
        let j = out.json();
        assert_eq!(j["exit_code"], exit, "{j:#}");
        let r = recipient(&j, &rcpt);
        assert_eq!(r["accepted"], false, "{sender}: {j:#}");
        assert_eq!(r["code"], code, "{sender}: {j:#}");
        assert_eq!(r["enhanced"], enhanced, "{sender}: {j:#}");
        assert!(
            out.stderr
                .contains(&format!("missive: {rcpt} refused: {code} {enhanced} ")),
            "{sender}: {}",
            out.stderr
        );
        refused.push(rcpt);
    }
    let refused: Vec<&str> = refused.iter().map(String::as_str).collect();
    tb.assert_none_delivered(&refused, false);
}

#[test]
fn comma_separated_recipients_all_delivered() {
    let tb = testbed!();
    let (a, b, c) = (
        unique_addr("list-a"),
        unique_addr("list-b"),
        unique_addr("list-c"),
    );
    let out = mx_send(&tb, &format!("{a}, \"Smith, J.\" <{b}>"))
        .args(["--to", &c, "--body", "list\n"])
        .run();
    out.assert_code(0);
    for addr in [&a, &b, &c] {
        let (head, _) = delivered_parts(&tb.wait_for_mail(addr));
        assert_eq!(
            one_header(&head, "To"),
            format!("{a}, \"Smith, J.\" <{b}>, {c}")
        );
    }
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

/// A name that resolves to 127.0.0.1 but is not in the server certificate
/// (the machine's own host name, usually), if there is one.
fn loopback_name_not_in_certificate() -> Option<String> {
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
        use std::net::ToSocketAddrs;
        !name.is_empty()
            && !in_cert.contains(&name.to_lowercase().as_str())
            && format!("{name}:0")
                .to_socket_addrs()
                .map(|addrs| {
                    let v: Vec<_> = addrs.collect();
                    !v.is_empty() && v.iter().all(|a| a.ip().to_string() == "127.0.0.1")
                })
                .unwrap_or(false)
    })
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

#[test]
fn silent_server_times_out_75() {
    let tb = testbed!();
    // the implicit-TLS port waits for a ClientHello: a STARTTLS client waits
    // for a greeting that never comes
    let started = std::time::Instant::now();
    let out = Cmd::new([
        "send",
        "--server",
        &format!("{}:{}", tb.var("SMTP_HOST"), tb.smtps_port()),
        "--tls",
        "starttls",
        "--timeout",
        "2",
        "--from",
        "a@client.test",
        "--to",
        "b@example.test",
        "--body",
        "x\n",
    ])
    .timeout(std::time::Duration::from_secs(30))
    .run();
    out.assert_code(75);
    assert!(out.stderr.contains("timed out"), "{}", out.stderr);
    let took = started.elapsed();
    assert!(
        took >= std::time::Duration::from_millis(1900) && took < std::time::Duration::from_secs(15),
        "--timeout 2 took {took:?}"
    );
}

#[test]
fn closed_port_is_75_and_unknown_host_is_68() {
    let out = run([
        "send",
        "--server",
        "127.0.0.1:1",
        "--from",
        "a@client.test",
        "--to",
        "b@example.test",
        "--body",
        "x\n",
    ]);
    out.assert_code(75);
    assert!(out.stderr.contains("127.0.0.1:1"), "{}", out.stderr);
    let out = run([
        "send",
        "--server",
        "no-such-host.invalid",
        "--from",
        "a@client.test",
        "--to",
        "b@example.test",
        "--body",
        "x\n",
    ]);
    out.assert_code(68);
    assert!(
        out.stderr.contains("no-such-host.invalid"),
        "{}",
        out.stderr
    );
}
