//! Ready-made messages (`--message`, standard input) and `--dry-run`.

use super::*;

/// A ready-made message with To, Cc and a folded Bcc; its body has dot lines,
/// 8-bit octets that are not UTF-8, trailing white space and empty lines.
fn ready_message(to: &str, cc: &str, bcc1: &str, bcc2: &str, eol: &str) -> (Vec<u8>, Vec<u8>) {
    let head = format!(
        "From: Ready Sender <ready@client.test>{eol}To: {to}{eol}Cc: \"Copy, Person\" <{cc}>{eol}Bcc: {bcc1},{eol} {bcc2}{eol}Subject: ready made{eol}Message-ID: <{}@client.test>{eol}MIME-Version: 1.0{eol}Content-Type: text/plain; charset=iso-8859-1{eol}Content-Transfer-Encoding: 8bit{eol}{eol}",
        unique("ready")
    );
    let mut body = Vec::new();
    for line in [
        &b"first line"[..],
        b".",
        b"..two",
        b".dot start",
        b"",
        b"Gr\xfc\xdfe aus K\xf6ln",
        b"trailing space   ",
        b"From the start",
        b"last",
    ] {
        body.extend_from_slice(line);
        body.extend_from_slice(eol.as_bytes());
    }
    (head.into_bytes(), body)
}

#[test]
fn message_file_with_bcc_reaches_everyone_without_bcc_header() {
    let tb = testbed!();
    let (to, cc, b1, b2) = (
        unique_addr("ready-to"),
        unique_addr("ready-cc"),
        unique_addr("ready-bcc1"),
        unique_addr("ready-bcc2"),
    );
    let dir = TempDir::new("ready");
    let (head, body) = ready_message(&to, &cc, &b1, &b2, "\r\n");
    let path = dir.write("m.eml", &[head.clone(), body.clone()].concat());
    let out = Cmd::new([
        "send",
        "--server",
        &tb.mx(),
        "--tls",
        "none",
        "-v",
        "--message",
        &path,
        "-t",
    ])
    .run();
    out.assert_code(0);
    let rcpts: Vec<&str> = client_lines(&out.stderr, "RCPT");
    assert_eq!(rcpts.len(), 4, "{rcpts:?}");
    assert!(client_lines(&out.stderr, "MAIL")[0].starts_with("MAIL FROM:<ready@client.test>"));
    for addr in [&to, &cc, &b1, &b2] {
        let (h, got) = delivered(&tb, addr);
        assert!(
            header_values(&h, "Bcc").is_empty(),
            "Bcc in {addr}'s copy:\n{h}"
        );
        assert!(
            !h.contains(b1.as_str()) && !h.contains(b2.as_str()),
            "Bcc address in {addr}'s copy:\n{h}"
        );
        assert_eq!(one_header(&h, "Subject"), "ready made");
        assert_eq!(got, lf(&body), "{addr}: body changed beyond CRLF");
    }
}

#[test]
fn message_from_stdin_is_sent_as_is() {
    let tb = testbed!();
    let (to, cc, b1, b2) = (
        unique_addr("stdin-to"),
        unique_addr("stdin-cc"),
        unique_addr("stdin-bcc1"),
        unique_addr("stdin-bcc2"),
    );
    let (head, body) = ready_message(&to, &cc, &b1, &b2, "\n");
    let out = Cmd::new([
        "send",
        "--server",
        &tb.mx(),
        "--tls",
        "none",
        "--message",
        "-",
        "--to",
        &to,
    ])
    .stdin([head, body.clone()].concat())
    .run();
    out.assert_code(0);
    let (h, got) = delivered(&tb, &to);
    assert!(header_values(&h, "Bcc").is_empty(), "{h}");
    assert_eq!(got, body);
    // without -t only --to gets it
    tb.assert_none_delivered(&[&cc, &b1, &b2], true);
}

#[test]
fn dry_run_prints_envelope_and_message_and_sends_nothing() {
    let tb = testbed!();
    let (to, cc, b1, b2) = (
        unique_addr("dry-to"),
        unique_addr("dry-cc"),
        unique_addr("dry-bcc1"),
        unique_addr("dry-bcc2"),
    );
    let dir = TempDir::new("dry");
    let (head, body) = ready_message(&to, &cc, &b1, &b2, "\n");
    let path = dir.write("m.eml", &[head, body.clone()].concat());
    let out = Cmd::new([
        "send",
        "--server",
        &tb.mx(),
        "--tls",
        "none",
        "--message",
        &path,
        "-t",
        "--dry-run",
    ])
    .run();
    out.assert_code(0);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(
        lines.contains(&"MAIL FROM:<ready@client.test>"),
        "{}",
        out.stdout
    );
    for a in [&to, &cc, &b1, &b2] {
        assert!(
            lines.contains(&format!("RCPT TO:<{a}>").as_str()),
            "no RCPT for {a}:\n{}",
            out.stdout
        );
    }
    assert!(out.stdout.contains("Subject: ready made"), "{}", out.stdout);
    assert!(!out.stdout.contains("Bcc:"), "{}", out.stdout);
    assert!(
        out.stdout.contains("first line") && out.stdout.contains("..two"),
        "{}",
        out.stdout
    );
    // and a composed message
    let composed = unique_addr("dry-composed");
    let out2 = mx(&tb, "a@client.test", &composed)
        .args(["--dry-run", "--subject", "dry", "--body", "dry body\n"])
        .run();
    out2.assert_code(0);
    assert!(
        out2.stdout.contains(&format!("RCPT TO:<{composed}>")),
        "{}",
        out2.stdout
    );
    assert!(
        out2.stdout.contains("Subject: dry") && out2.stdout.contains("dry body"),
        "{}",
        out2.stdout
    );
    tb.assert_none_delivered(&[&to, &cc, &b1, &b2, &composed], true);
}
