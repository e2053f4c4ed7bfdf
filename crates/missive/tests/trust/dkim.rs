//! DKIM signing, checked by dkimpy (not by missive's own code): composed
//! and ready-made messages, 8-bit text, a large attachment, both
//! algorithms, both canonicalisations, `send`, `sendmail` and `bulk`;
//! oversigning; the key file's mode; `dkim keygen` and `dkim check`.

use super::*;

/// The delivered file with `line` put in front of its header section.
fn with_header_added(file: &[u8], line: &str) -> Vec<u8> {
    let mut out = line.as_bytes().to_vec();
    out.extend_from_slice(file);
    out
}

#[test]
fn a_composed_message_gets_rsa_and_ed25519_signatures_that_dkimpy_verifies() {
    let tb = testbed!();
    let mut keys = Keys::new();
    let rsa = keys.keygen("rsa1", "rsa");
    let ed = keys.keygen("ed1", "ed25519");
    let attachment = keys.dir.random_file("data.bin", 20_000);
    let rcpt = unique_addr("dkim-composed");
    let out = to_mx(&tb, &rcpt)
        .args([
            "--subject",
            "Grüße   mit  Leerzeichen",
            "--cc",
            "cc@example.test",
        ])
        .args(["--body", "Hallo  Welt,  \n\ttabs\tand trailing   \n\n\n"])
        .args(["--html", "<p>Hallo</p>", "--attach", &attachment])
        .args([
            "--reply-to",
            "r@example.test",
            "--header",
            "X-Not-Signed: 1",
        ])
        .args(["--dkim-key", &rsa, "--dkim-key", &ed])
        .args(["--dkim-selector", "rsa1", "--dkim-selector", "ed1"])
        .args(["--dkim-domain", "example.test"])
        .run();
    out.assert_code(0);
    let file = tb.wait_for_mail(&rcpt);
    let lines = keys.assert_pass(&file, 2);
    assert!(
        lines.contains("0 pass a=rsa-sha256 d=example.test s=rsa1 c=relaxed/relaxed"),
        "{lines}"
    );
    assert!(
        lines.contains("1 pass a=ed25519-sha256 d=example.test s=ed1"),
        "{lines}"
    );
    // From, To and Subject oversigned; the other default fields that are present signed once
    assert!(
        lines.lines().all(|l| l.ends_with(
            " h=from:from:to:to:cc:subject:subject:date:message-id:reply-to:mime-version:content-type"
        )),
        "{lines}"
    );
    // a changed body fails both
    let text = String::from_utf8_lossy(&file).replace("tabs", "tab5");
    let (code, lines) = keys.verify(text.as_bytes());
    assert_eq!(code, 1, "{lines}");
    assert_eq!(lines.matches(" fail ").count(), 2, "{lines}");
}

#[test]
fn a_from_or_subject_added_after_signing_breaks_the_signature() {
    let tb = testbed!();
    let mut keys = Keys::new();
    let ed = keys.keygen("ov", "ed25519");
    let rcpt = unique_addr("dkim-oversign");
    to_mx(&tb, &rcpt)
        .args(["--subject", "original", "--body", "text"])
        .args([
            "--dkim-key",
            &ed,
            "--dkim-selector",
            "ov",
            "--dkim-domain",
            "example.test",
        ])
        .run()
        .assert_code(0);
    let file = tb.wait_for_mail(&rcpt);
    keys.assert_pass(&file, 1);
    // an unsigned field may be added; a second Subject or From may not
    let (code, lines) = keys.verify(&with_header_added(&file, "X-Added: fine\n"));
    assert_eq!(code, 0, "{lines}");
    for added in ["Subject: spoofed\n", "From: Boss <boss@example.test>\n"] {
        let (code, lines) = keys.verify(&with_header_added(&file, added));
        assert_eq!(code, 1, "{added}: {lines}");
    }
}

#[test]
fn a_ready_made_8bit_message_is_signed_simple_in_place_and_keeps_its_old_signature() {
    let tb = testbed!();
    let mut keys = Keys::new();
    let rsa = keys.keygen("simple", "rsa");
    let home = Home::new("dkim-account");
    home.config(
        &format!(
            "[accounts.mx]\nserver = \"{}\"\ncafile = \"{}\"\n\n[[accounts.mx.dkim]]\ndomain = \"example.test\"\nselector = \"simple\"\nkey_file = \"{rsa}\"\nalgorithm = \"rsa\"\ncanonicalization = \"simple/simple\"\nexpire = 3600\n",
            tb.mx(),
            tb.ca()
        ),
        0o600,
    );
    let rcpt = unique_addr("dkim-ready");
    let old = "DKIM-Signature: v=1; a=rsa-sha256; d=old.test; s=x; h=from;\n bh=AAAA; b=AAAA\n";
    let message = format!(
        "X-First: stays first\n{old}From: Jörg <sender@example.test>\nTo: {rcpt}\nSubject: ready\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\nGrüße aus Köln,  with  spaces  \n\n\n"
    );
    let path = keys.dir.write("ready.eml", message.as_bytes());
    home.cmd(&["send", "--account", "mx", "--message", &path, "--to", &rcpt])
        .run()
        .assert_code(0);
    let file = tb.wait_for_mail(&rcpt);
    let (code, lines) = keys.verify(&file);
    assert!(
        lines.contains("0 pass a=rsa-sha256 d=example.test s=simple c=simple/simple"),
        "{lines}"
    );
    assert!(lines.contains("1 fail a=rsa-sha256 d=old.test"), "{lines}");
    // x= an hour after t=
    let got_head = String::from_utf8_lossy(&file).replace("\n\t", " ");
    let tag = |name: &str| -> u64 {
        let start = got_head.find(&format!(" {name}=")).unwrap() + name.len() + 2;
        got_head[start..]
            .split(';')
            .next()
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    assert_eq!(tag("x"), tag("t") + 3600);
    assert_eq!(code, 1, "the old signature cannot verify: {lines}");
    // ours first, then the message's own header section exactly as it was
    let got = String::from_utf8_lossy(&original(&file)).into_owned();
    let after_ours = got
        .split_once("\nX-First: stays first\n")
        .map(|x| x.1)
        .unwrap_or("");
    assert!(
        got.starts_with("DKIM-Signature: v=1; a=rsa-sha256; c=simple/simple; d=example.test;"),
        "{got}"
    );
    assert!(
        after_ours
            .starts_with(&message["X-First: stays first\n".len()..message.find("\n\n").unwrap()]),
        "{got}"
    );
    // simple body canonicalisation: a changed space fails it
    let (code, _) = keys.verify(
        String::from_utf8_lossy(&file)
            .replace("with  spaces", "with spaces")
            .as_bytes(),
    );
    assert_eq!(code, 1);
}

#[test]
fn a_large_attachment_is_signed_while_it_streams() {
    let tb = testbed!();
    let mut keys = Keys::new();
    let rsa = keys.keygen("big-rsa", "rsa");
    let ed = keys.keygen("big-ed", "ed25519");
    let big = keys.dir.random_file("big.bin", 3 * 1024 * 1024);
    let rcpt = unique_addr("dkim-big");
    to_mx(&tb, &rcpt)
        .args([
            "--subject",
            "big",
            "--body",
            "see attachment",
            "--attach",
            &big,
        ])
        .args(["--dkim-key", &rsa, "--dkim-selector", "big-rsa"])
        .args(["--dkim-key", &ed, "--dkim-selector", "big-ed"])
        .args(["--dkim-domain", "example.test"])
        .run()
        .assert_code(0);
    let file = tb.wait_for_mail(&rcpt);
    assert!(file.len() > 4 * 1024 * 1024);
    keys.assert_pass(&file, 2);
}

#[test]
fn sendmail_and_bulk_sign_too() {
    let tb = testbed!();
    let mut keys = Keys::new();
    let ed = keys.keygen("sm", "ed25519");
    let rcpt = unique_addr("dkim-sendmail");
    Cmd::new([
        "sendmail",
        "-t",
        "-i",
        "--dkim-key",
        &ed,
        "--dkim-selector=sm",
    ])
    .args(["--dkim-domain", "example.test"])
    .env("MISSIVE_SERVER", tb.mx())
    .env("MISSIVE_CAFILE", tb.ca())
    .stdin(format!(
        "From: cron@example.test\nTo: {rcpt}\nSubject: nightly\n\nok\n"
    ))
    .run()
    .assert_code(0);
    keys.assert_pass(&tb.wait_for_mail(&rcpt), 1);

    // MISSIVE_DKIM_* (the sendmail way to configure it)
    let rcpt = unique_addr("dkim-sendmail-env");
    Cmd::new(["sendmail", "-i", &rcpt])
        .env("MISSIVE_SERVER", tb.mx())
        .env("MISSIVE_CAFILE", tb.ca())
        .env("MISSIVE_DKIM_KEY", &ed)
        .env("MISSIVE_DKIM_SELECTOR", "sm")
        .env("MISSIVE_DKIM_DOMAIN", "example.test")
        .stdin("From: cron@example.test\nSubject: env\n\nok\n")
        .run()
        .assert_code(0);
    keys.assert_pass(&tb.wait_for_mail(&rcpt), 1);

    let (a, b) = (unique_addr("dkim-bulk-a"), unique_addr("dkim-bulk-b"));
    let csv = keys.dir.write(
        "rows.csv",
        format!("email,name\n{a},Ann\n{b},Bob\n").as_bytes(),
    );
    let tmpl = keys.dir.write(
        "m.tmpl",
        b"From: news@example.test\nSubject: Hi {{ name }}\n\nHello {{ name }}\n",
    );
    Cmd::new(["bulk", "--csv", &csv, "--template", &tmpl, "--yes"])
        .args(["--server", &tb.mx(), "--cafile", tb.ca()])
        .args([
            "--dkim-key",
            &ed,
            "--dkim-selector",
            "sm",
            "--dkim-domain",
            "example.test",
        ])
        .run()
        .assert_code(0);
    for r in [&a, &b] {
        keys.assert_pass(&tb.wait_for_mail(r), 1);
    }
}

#[test]
fn a_key_others_can_read_is_refused_and_nothing_is_sent() {
    let tb = testbed!();
    let mut keys = Keys::new();
    let ed = keys.keygen("open", "ed25519");
    set_mode(Path::new(&ed), 0o644);
    let rcpt = unique_addr("dkim-open-key");
    let out = to_mx(&tb, &rcpt)
        .args(["--body", "x", "--dkim-key", &ed, "--dkim-selector", "open"])
        .args(["--dkim-domain", "example.test"])
        .run();
    out.assert_code(78);
    assert!(out.stderr.contains("readable by others"), "{}", out.stderr);
    // a selector without a key is a usage error
    to_mx(&tb, &rcpt)
        .args(["--body", "x", "--dkim-selector", "open"])
        .run()
        .assert_code(64);
    tb.assert_nothing_for(&rcpt);
}

#[test]
fn dkim_check_compares_the_published_record_with_the_key() {
    let tb = testbed!(dns);
    let _ = &tb;
    let dir = TempDir::new("dkim-check");
    let key = dir.join("fixed.pem");
    let fixed = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/trust/keys/ed25519.pem");
    write_mode(&key, &std::fs::read_to_string(fixed).unwrap(), 0o600);
    let dns = crate::support::testbed::dns_server();
    let check = |selector: &str| {
        Cmd::new([
            "dkim",
            "check",
            "--domain",
            "example.test",
            "--selector",
            selector,
        ])
        .args(["--dns-server", &dns, "--key"])
        .arg(&key)
        .run()
    };
    let out = check("fixed");
    out.assert_code(0);
    assert!(out.stdout.contains("matches"), "{}", out.stdout);
    let out = check("other");
    out.assert_code(65);
    assert!(out.stderr.contains("does not match"), "{}", out.stderr);
    check("nokey").assert_code(69);
}

#[test]
fn the_sandbox_signs_with_dkim_key_too() {
    let mut keys = Keys::new();
    let ed = keys.keygen("sandbox", "ed25519");
    let maildir = keys.dir.join("sandbox-mail");
    Cmd::new([
        "send",
        "--sandbox",
        "--to",
        "you@example.com",
        "--body",
        "hi",
        "-q",
    ])
    .arg("--maildir")
    .arg(&maildir)
    .args([
        "--dkim-key",
        &ed,
        "--dkim-selector",
        "sandbox",
        "--dkim-domain",
        "example.test",
    ])
    .run()
    .assert_code(0);
    let file = std::fs::read_dir(maildir.join("new"))
        .unwrap()
        .next()
        .expect("a message")
        .unwrap()
        .path();
    keys.assert_pass(&std::fs::read(file).unwrap(), 1);
}
