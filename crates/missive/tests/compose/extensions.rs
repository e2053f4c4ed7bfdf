//! The SMTP extensions that shape the hand-over: SIZE, BDAT (CHUNKING),
//! SMTPUTF8 and DSN.

use std::time::{Duration, Instant};

use super::*;

// ---------------------------------------------------------------- SIZE

#[test]
fn attachment_over_the_advertised_size_is_refused_69_before_mail() {
    let tb = testbed!();
    let sender = unique_addr("size-from");
    let rcpt = unique_addr("size-to");
    let dir = TempDir::new("size");
    let big = dir.random_file("eleven.bin", 11 * 1024 * 1024);
    let started = Instant::now();
    let out = mx(&tb, &sender, &rcpt)
        .args(["-v", "--body", "b\n", "--attach", &big])
        .run();
    let took = started.elapsed();
    out.assert_code(69);
    assert!(took < Duration::from_secs(5), "took {took:?}");
    assert!(
        out.stderr.contains("SIZE 10485760"),
        "Postfix did not advertise SIZE?\n{}",
        out.stderr
    );
    let msg = out
        .stderr
        .lines()
        .find(|l| l.starts_with("missive: "))
        .unwrap_or_else(|| panic!("no error line:\n{}", out.stderr));
    assert!(
        msg.contains("10485760") && msg.contains("limit"),
        "unclear message: {msg}"
    );
    assert!(
        client_lines(&out.stderr, "MAIL").is_empty()
            && client_lines(&out.stderr, "BDAT").is_empty(),
        "MAIL or data was sent:\n{}",
        out.stderr
    );
    tb.assert_none_delivered(&[&sender, &rcpt], true);
}

#[test]
fn size_refusal_still_ends_the_session_with_quit() {
    let tb = testbed!();
    let rcpt = unique_addr("size-quit");
    let dir = TempDir::new("sizequit");
    let big = dir.random_file("eleven.bin", 11 * 1024 * 1024);
    let out = mx(&tb, "a@client.test", &rcpt)
        .args(["-v", "--body", "b\n", "--attach", &big])
        .run();
    out.assert_code(69);
    assert_eq!(
        client_lines(&out.stderr, "QUIT").len(),
        1,
        "no QUIT (RFC 5321 4.1.1.10):\n{}",
        out.stderr
    );
}

#[test]
fn declared_size_of_a_lf_message_counts_crlf() {
    let tb = testbed!();
    let dir = TempDir::new("lfsize");
    // small: SIZE= must not be less than the octets sent with BDAT
    let rcpt = unique_addr("lfsize");
    let msg = dir.write(
        "small.eml",
        format!("From: a@client.test\nTo: {rcpt}\nSubject: lf\n\nl1\nl2\nl3\n").as_bytes(),
    );
    let out = Cmd::new([
        "send",
        "--server",
        &tb.mx(),
        "--tls",
        "none",
        "-v",
        "--message",
        &msg,
        "-t",
    ])
    .run();
    out.assert_code(0);
    let mail = client_lines(&out.stderr, "MAIL")[0];
    let declared: u64 = mail
        .split(' ')
        .find_map(|w| w.strip_prefix("SIZE="))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no SIZE= in {mail}"));
    let sent: u64 = client_lines(&out.stderr, "BDAT")
        .iter()
        .map(|l| l.split(' ').nth(1).unwrap().parse::<u64>().unwrap())
        .sum();
    assert!(
        declared >= sent,
        "declared SIZE={declared}, sent {sent} octets"
    );
    // big: 10,000,059 octets with LF, 12,000,061 with CRLF: over Postfix's
    // 10485760, so it should be refused before MAIL, not after the upload
    let rcpt = unique_addr("lfsize-big");
    let mut body = format!("From: a@client.test\nTo: {rcpt}\nSubject: big\n\n").into_bytes();
    body.extend(b"abcd\n".repeat(2_000_000));
    let big = dir.write("big.eml", &body);
    let out = Cmd::new([
        "send",
        "--server",
        &tb.mx(),
        "--tls",
        "none",
        "-v",
        "--message",
        &big,
        "-t",
    ])
    .run();
    out.assert_code(69);
    assert!(
        client_lines(&out.stderr, "MAIL").is_empty(),
        "the message went out before the size was refused:\n{}",
        out.stderr
            .lines()
            .filter(
                |l| !l.starts_with("C: BDAT 1048576") && !l.starts_with("S: 250 2.0.0 Ok: 1048576")
            )
            .collect::<Vec<_>>()
            .join("\n")
    );
}

// ---------------------------------------------------------------- BDAT and DATA

#[test]
fn bdat_and_data_deliver_identical_bodies() {
    let tb = testbed!();
    let body = ".leading dot\n.\n..two dots\nmiddle\n. dot space\nend.\n.\n";
    let mut bodies = Vec::new();
    for chunking in [true, false] {
        let rcpt = unique_addr(if chunking { "bdat" } else { "data" });
        let mut cmd = mx(&tb, "chunks@client.test", &rcpt).args([
            "-v",
            "--subject",
            "chunks",
            "--body",
            body,
        ]);
        if !chunking {
            cmd = cmd.arg("--no-chunking");
        }
        let out = cmd.run();
        out.assert_code(0);
        assert!(
            out.stderr.contains("CHUNKING"),
            "Postfix did not offer CHUNKING?\n{}",
            out.stderr
        );
        let (bdat, data) = (
            client_lines(&out.stderr, "BDAT"),
            client_lines(&out.stderr, "DATA"),
        );
        if chunking {
            assert!(
                !bdat.is_empty() && data.is_empty(),
                "expected BDAT only:\n{}",
                out.stderr
            );
            assert!(bdat.last().unwrap().ends_with(" LAST"), "{bdat:?}");
        } else {
            assert!(
                bdat.is_empty() && data.len() == 1,
                "expected DATA only:\n{}",
                out.stderr
            );
        }
        let (_, got) = delivered(&tb, &rcpt);
        bodies.push(got);
    }
    assert_eq!(String::from_utf8_lossy(&bodies[0]), body, "BDAT body");
    assert_eq!(bodies[0], bodies[1], "BDAT and DATA bodies differ");
}

#[test]
fn bdat_transcript_shows_no_dot_terminator() {
    let tb = testbed!();
    let rcpt = unique_addr("bdat-dot");
    let out = mx(&tb, "a@client.test", &rcpt)
        .args(["-v", "--body", "b\n"])
        .run();
    out.assert_code(0);
    assert!(!client_lines(&out.stderr, "BDAT").is_empty());
    assert!(
        !out.stderr.lines().any(|l| l == "C: ."),
        "a C: . line with BDAT:\n{}",
        out.stderr
    );
}

// ---------------------------------------------------------------- SMTPUTF8

#[test]
fn smtputf8_recipient_lands_in_its_utf8_maildir() {
    let tb = testbed!();
    let rcpt = "jörg@exämple.test";
    let id = format!("<{}@client.test>", unique("utf8-id"));
    let out = mx(&tb, "a@client.test", rcpt)
        .args([
            "-v",
            "--header",
            &format!("Message-ID: {id}"),
            "--body",
            "utf8\n",
        ])
        .run();
    out.assert_code(0);
    let mail = client_lines(&out.stderr, "MAIL");
    assert!(
        mail.len() == 1 && mail[0].split(' ').any(|w| w == "SMTPUTF8"),
        "MAIL without SMTPUTF8: {mail:?}"
    );
    assert_eq!(
        client_lines(&out.stderr, "RCPT"),
        [format!("RCPT TO:<{rcpt}>")]
    );
    let dir = Path::new(tb.var("SMTP_MAILDIR_BASE"))
        .join("exämple.test")
        .join("jörg")
        .join("new");
    let file = wait_for_file_containing(&dir, &id);
    let (head, body) = split_message(&original(&file));
    assert_eq!(one_header(&head, "To"), rcpt);
    assert_eq!(body, b"utf8\n");
    assert!(String::from_utf8_lossy(&file).contains(&format!("Delivered-To: {rcpt}")));
}

// ---------------------------------------------------------------- DSN

#[test]
fn dsn_parameters_on_mail_and_rcpt_and_postfix_honours_them() {
    let tb = testbed!();
    let sender = unique_addr("dsn-from");
    let rcpt = unique_addr("dsn-to");
    let out = mx(&tb, &sender, &rcpt)
        .args([
            "-v",
            "--subject",
            "dsn subject",
            "--body",
            "dsn body text that RET=HDRS keeps out\n",
            "--dsn-notify",
            "success,failure",
            "--dsn-ret",
            "hdrs",
            "--envid",
            "abc+1",
        ])
        .run();
    out.assert_code(0);
    assert!(out.stderr.contains("250-DSN"), "{}", out.stderr);
    let mail = client_lines(&out.stderr, "MAIL");
    assert!(mail[0].contains(" RET=HDRS ENVID=abc+2B1"), "{mail:?}");
    let rcpt_line = client_lines(&out.stderr, "RCPT");
    assert!(
        rcpt_line[0].ends_with(&format!(" NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;{rcpt}")),
        "{rcpt_line:?}"
    );
    tb.wait_for_mail(&rcpt);
    // NOTIFY=SUCCESS: Postfix reports the delivery to the sender, with the
    // decoded ENVID and ORCPT, and (RET=HDRS) the headers without the body
    let report = String::from_utf8_lossy(&tb.wait_for_mail(&sender)).into_owned();
    assert!(report.contains("Original-Envelope-Id: abc+1"), "{report}");
    assert!(
        report.contains(&format!("Original-Recipient: rfc822;{rcpt}")),
        "{report}"
    );
    assert!(report.contains("Action: delivered"), "{report}");
    assert!(
        report.contains("text/rfc822-headers") && report.contains("Subject: dsn subject"),
        "{report}"
    );
    assert!(
        !report.contains("dsn body text"),
        "RET=HDRS but the body came back:\n{report}"
    );
}
