//! Header values and names given on the command line: injection refused,
//! invalid names refused, `--header Subject:` replacing the default.

use super::*;

#[test]
fn line_breaks_in_any_header_value_are_refused_65_and_nothing_sent() {
    let tb = testbed!();
    let mut watched: Vec<String> = Vec::new();
    for (k, brk) in ["\r", "\n", "\r\n"].iter().enumerate() {
        for field in [
            "subject",
            "header",
            "to",
            "cc",
            "from",
            "reply-to",
            "attach-name",
        ] {
            let rcpt = unique_addr(&format!("inj-{field}-{k}"));
            let evil = unique_addr(&format!("evil-{field}-{k}"));
            let payload = format!("x{brk}Bcc: {evil}");
            let dir = TempDir::new("inj");
            let att = dir.write("a.txt", b"a\n");
            let mut cmd = Cmd::new([
                "send",
                "--server",
                &tb.mx(),
                "--tls",
                "none",
                "-v",
                "--body",
                "b\n",
            ]);
            let (from, to) = match field {
                "from" => (format!("a@client.test{brk}Bcc: {evil}"), rcpt.clone()),
                "to" => (
                    "a@client.test".to_string(),
                    format!("{rcpt}{brk}Bcc: {evil}"),
                ),
                _ => ("a@client.test".to_string(), rcpt.clone()),
            };
            cmd = cmd.args(["--from", &from, "--to", &to]);
            cmd = match field {
                "subject" => cmd.args(["--subject", &payload]),
                "header" => cmd.args(["--header", &format!("X-Tag: {payload}")]),
                "cc" => cmd.args(["--cc", &format!("c@client.test{brk}Bcc: {evil}")]),
                "reply-to" => cmd.args(["--reply-to", &format!("r@client.test{brk}Bcc: {evil}")]),
                "attach-name" => cmd.args(["--attach", &format!("{att};name={payload}")]),
                _ => cmd,
            };
            let out = cmd.run();
            assert_eq!(
                out.code, 65,
                "{field} with {brk:?}: expected 65\n{}",
                out.stderr
            );
            assert!(
                client_lines(&out.stderr, "").is_empty(),
                "{field} with {brk:?}: something was sent:\n{}",
                out.stderr
            );
            assert!(
                out.stderr.contains("line break"),
                "{field}: unclear message:\n{}",
                out.stderr
            );
            watched.push(rcpt);
            watched.push(evil);
        }
    }
    let refs: Vec<&str> = watched.iter().map(String::as_str).collect();
    tb.assert_none_delivered(&refs, true);
}

#[test]
fn invalid_header_names_are_65() {
    let tb = testbed!();
    let mut watched = Vec::new();
    for spec in [
        "Bad Name: x",
        "Bäd: x",
        ": x",
        "Tab\tName: x",
        "Na\u{7f}me: x",
    ] {
        let rcpt = unique_addr("badname");
        let out = mx(&tb, "a@client.test", &rcpt)
            .args(["--header", spec, "--body", "b\n"])
            .run();
        assert_eq!(out.code, 65, "--header {spec:?}\n{}", out.stderr);
        assert!(
            out.stderr.contains("not a valid header field name"),
            "--header {spec:?}: {}",
            out.stderr
        );
        watched.push(rcpt);
    }
    let refs: Vec<&str> = watched.iter().map(String::as_str).collect();
    tb.assert_none_delivered(&refs, true);
}

#[test]
fn header_subject_replaces_the_default_subject() {
    let tb = testbed!();
    let rcpt = unique_addr("subj-override");
    let out = mx(&tb, "a@client.test", &rcpt)
        .args([
            "--subject",
            "default subject",
            "--header",
            "Subject: override",
            "--header",
            "X-Extra: kept",
            "--body",
            "b\n",
        ])
        .run();
    out.assert_code(0);
    let (head, _) = delivered(&tb, &rcpt);
    assert_eq!(one_header(&head, "Subject"), "override");
    assert_eq!(one_header(&head, "X-Extra"), "kept");
    assert!(!head.contains("default subject"), "{head}");
    let p = python_parse(head.as_bytes(), &[]);
    assert_no_duplicate_headers(&p["header_names"], "top level");
    assert_eq!(p["subject"], "override");
}
