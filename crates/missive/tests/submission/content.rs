//! What arrives: the message bytes (dots, line ends, long and non-ASCII
//! lines), Bcc, encoded-word headers and SMTPUTF8 recipients.

use super::*;

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
    let (head, got) = sent_parts(&file);
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
    let (_, got) = sent_parts(&delivered);
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
    let (_, got) = sent_parts(&delivered);
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
    let (head, got) = sent_parts(&file);
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
    let (_, got) = sent_parts(&delivered);
    assert_eq!(got.len(), body.len(), "length differs");
    assert!(got == body.as_bytes(), "bytes differ");
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
        let (head, _) = sent_parts(&file);
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
    let (head, _) = sent_parts(&file);
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
fn encoded_word_header_lines_stay_within_limits() {
    let tb = testbed!();
    let rcpt = unique_addr("subject-len");
    let subject = "Grüße aus Köln — 测试 ✓ ".repeat(4) + "end";
    let out = mx_send(&tb, &rcpt)
        .args(["--subject", &subject, "--body", "s\n"])
        .run();
    out.assert_code(0);
    let file = tb.wait_for_mail(&rcpt);
    let (head, _) = sent_parts(&file);
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
    let (head, body) = sent_parts(&file);
    assert_eq!(one_header(&head, "To"), rcpt);
    assert_eq!(body, b"utf8 address\n");
}
