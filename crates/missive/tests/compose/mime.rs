//! Composed MIME parsed back by Python: structure, attachments, inline
//! parts, encoded words and long lines.

use super::*;

#[test]
fn composed_message_parses_back_identically_in_python() {
    let tb = testbed!();
    let to = unique_addr("mime-to");
    let bcc = unique_addr("mime-bcc");
    let dir = TempDir::new("mime");
    let big = dir.random_file("random-3mb.bin", 3 * 1024 * 1024 + 17);
    let small_name = "Bericht für Jörg – Übersicht.txt";
    let small = dir.write(
        small_name,
        "small text attachment\nzweite Zeile äöü\n".as_bytes(),
    );
    let logo = dir.write(
        "logo.png",
        b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR-not-really-a-png\xff\x00",
    );
    let subject = "Grüße aus Köln — 测试 ✓ ".repeat(3) + "Ende";
    let display = "Müller, Jörg";
    let from = format!("\"{display}\" <sender@client.test>");
    let long_line = "0123456789".repeat(200); // 2000 characters, one line
    let text = format!("Hello,\n{long_line}\n.\nbye\n");
    let html = "<html><body><p>Hi <img src=\"cid:logo.png\" alt=\"logo\"></p></body></html>\n";
    let out = mx(&tb, &from, &to)
        .args([
            "--bcc",
            &bcc,
            "--reply-to",
            "replies@client.test",
            "--subject",
            &subject,
            "--body",
            &text,
            "--html",
            html,
            "--inline",
            &logo,
            "--attach",
            &big,
            "--attach",
            &format!("{small};type=text/plain"),
        ])
        .run();
    out.assert_code(0);

    for addr in [&to, &bcc] {
        let file = tb.wait_for_mail(addr);
        let sent = original(&file);
        let (head, _) = split_message(&sent);
        assert!(
            header_values(&head, "Bcc").is_empty() && !head.contains(bcc.as_str()),
            "Bcc shows in {addr}'s copy:\n{head}"
        );
        for line in file.split(|&b| b == b'\n') {
            assert!(
                line.len() <= 998,
                "a line of {} octets in {addr}'s copy",
                line.len()
            );
        }
        let p = python_parse(
            &sent,
            &[Path::new(&big), Path::new(&small), Path::new(&logo)],
        );
        assert!(p["max_line"].as_u64().unwrap() <= 998, "{}", p["max_line"]);
        assert_no_duplicate_headers(&p["header_names"], "top level");
        assert!(
            !p["header_names"]
                .as_array()
                .unwrap()
                .iter()
                .any(|n| n.as_str().unwrap().eq_ignore_ascii_case("bcc")),
            "Bcc header: {}",
            p["header_names"]
        );
        // trimmed: the leading space a fold right after "Subject:" leaves in
        // Python's reading is checked (and reported) by the test below
        assert_eq!(
            p["subject"].as_str().map(str::trim_start),
            Some(subject.as_str()),
            "decoded Subject"
        );
        assert_eq!(p["from"][0]["name"], display, "decoded display name");
        assert_eq!(p["from"][0]["addr"], "sender@client.test");
        assert_eq!(p["to"][0]["addr"], to.as_str());
        assert_eq!(p["reply_to"][0]["addr"], "replies@client.test");

        let tree = &p["tree"];
        assert_eq!(tree["type"], "multipart/mixed", "{tree:#}");
        let all = nodes(tree);
        for (n, _) in &all {
            assert_eq!(n["defects"], serde_json::json!([]), "MIME defects in {n:#}");
            assert_no_duplicate_headers(&n["header_names"], n["type"].as_str().unwrap());
        }
        // text and HTML side by side in multipart/alternative
        let text_part = all
            .iter()
            .find(|(n, parent)| {
                n["type"] == "text/plain"
                    && n["disposition"].is_null()
                    && *parent == Some("multipart/alternative")
            })
            .unwrap_or_else(|| panic!("no text/plain in multipart/alternative: {tree:#}"));
        assert_eq!(
            text_part.0["text"],
            text.as_str(),
            "text part after decoding"
        );
        let html_part = all
            .iter()
            .find(|(n, _)| n["type"] == "text/html")
            .unwrap_or_else(|| panic!("no text/html: {tree:#}"));
        assert_eq!(html_part.0["text"], html);
        assert!(
            matches!(
                html_part.1,
                Some("multipart/alternative" | "multipart/related")
            ),
            "text/html under {:?}",
            html_part.1
        );
        let alt = all
            .iter()
            .find(|(n, _)| n["type"] == "multipart/alternative")
            .expect("a multipart/alternative");
        let alt_types: Vec<&str> = alt.0["parts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["type"].as_str().unwrap())
            .collect();
        assert_eq!(
            alt_types[0], "text/plain",
            "plain text first: {alt_types:?}"
        );
        // the inline image: in multipart/related next to the HTML, with the cid it names
        let (img, parent) = all
            .iter()
            .find(|(n, _)| n["type"] == "image/png")
            .unwrap_or_else(|| panic!("no image/png: {tree:#}"));
        assert_eq!(*parent, Some("multipart/related"), "{tree:#}");
        assert_eq!(img["content_id"], "<logo.png>");
        assert!(html.contains("cid:logo.png"));
        assert_eq!(img["disposition"], "inline");
        assert_eq!(img["sha256"], p["files"][logo.as_str()]);
        let related = all
            .iter()
            .find(|(n, _)| n["type"] == "multipart/related")
            .unwrap();
        assert_eq!(
            related.0["parts"][0]["type"], "text/html",
            "HTML first in related"
        );
        // attachments: byte-identical, names decoded
        let attachments: Vec<&Value> = all
            .iter()
            .map(|(n, _)| *n)
            .filter(|n| n["disposition"] == "attachment")
            .collect();
        assert_eq!(attachments.len(), 2, "{tree:#}");
        let a_big = attachments
            .iter()
            .find(|a| a["filename"] == "random-3mb.bin")
            .unwrap_or_else(|| panic!("no random-3mb.bin: {attachments:#?}"));
        assert_eq!(a_big["size"], 3 * 1024 * 1024 + 17);
        assert_eq!(
            a_big["sha256"],
            p["files"][big.as_str()],
            "3 MB attachment differs"
        );
        let a_small = attachments
            .iter()
            .find(|a| a["filename"] == small_name)
            .unwrap_or_else(|| panic!("no attachment named {small_name:?}: {attachments:#?}"));
        assert_eq!(a_small["type"], "text/plain");
        assert_eq!(
            a_small["sha256"],
            p["files"][small.as_str()],
            "text attachment differs"
        );
    }
}

#[test]
fn long_encoded_subject_decodes_without_a_leading_space() {
    let tb = testbed!();
    let rcpt = unique_addr("subj-space");
    let subject = "Rechnung für Ihre Bestellung Nr. 12345 vom 28.11.";
    let out = mx(&tb, "a@client.test", &rcpt)
        .args(["--subject", subject, "--body", "b\n"])
        .run();
    out.assert_code(0);
    let (head, _) = delivered(&tb, &rcpt);
    let p = python_parse(head.as_bytes(), &[]);
    assert_eq!(p["subject"], subject, "raw header:\n{head}");
}

#[test]
fn body_with_a_2000_character_line_survives_quoted_printable() {
    let tb = testbed!();
    let rcpt = unique_addr("qp2000");
    let line: String = (0..2000).map(|i| (b'a' + (i % 26) as u8) as char).collect();
    let body = format!("{line}\n=3D is not an escape here\ntrailing space \n");
    let file = TempFile::new(body.as_bytes());
    let out = mx(&tb, "qp@client.test", &rcpt)
        .args(["--subject", "qp", "--body-file", file.path_str()])
        .run();
    out.assert_code(0);
    let (head, raw_body) = delivered(&tb, &rcpt);
    assert_eq!(
        one_header(&head, "Content-Transfer-Encoding"),
        "quoted-printable"
    );
    assert!(raw_body.split(|&b| b == b'\n').all(|l| l.len() <= 76));
    assert_eq!(String::from_utf8_lossy(&decode_qp(&raw_body)), body);
    let p = python_parse(&[head.as_bytes(), b"\n", &raw_body].concat(), &[]);
    assert_eq!(
        p["tree"]["text"],
        body.as_str(),
        "Python's decoding differs"
    );
}

#[test]
fn long_words_in_headers_keep_lines_within_998_octets() {
    let tb = testbed!();
    let rcpt = unique_addr("longword");
    let dir = TempDir::new("longword");
    let word = "x".repeat(1500);
    let att = dir.write("a.txt", b"attachment\n");
    let out = mx(&tb, "long@client.test", &rcpt)
        .args([
            "--subject",
            &format!("see {word}"),
            "--header",
            &format!("X-Token: {word}"),
            "--attach",
            &format!("{att};name=ü{word}.txt"),
            "--body",
            "b\n",
        ])
        .run();
    // refusing (65) would be acceptable; sending over-long lines is not
    if out.code == 65 {
        tb.assert_nothing_for(&rcpt);
        return;
    }
    out.assert_code(0);
    let file = tb.wait_for_mail(&rcpt);
    let longest = file.split(|&b| b == b'\n').map(<[u8]>::len).max().unwrap();
    assert!(longest <= 998, "a line of {longest} octets was sent");
    let p = python_parse(&original(&file), &[]);
    assert_eq!(p["subject"], format!("see {word}"));
}
