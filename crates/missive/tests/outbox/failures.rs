//! What goes wrong: garbage in the spool, recipients out of lifetime (a
//! failure notice), a full disk, and secrets that must never be stored.

use super::*;

#[test]
fn garbage_in_the_spool_is_moved_aside_once_and_the_rest_delivered() {
    let q = Outbox::new("outbox-garbage");
    let server = Capture::start(&[]);
    let ids = q.queue_always(&server.addr(), 2, "garbage");
    std::fs::write(q.dir().join("1-deadbeef.json"), b"{ not json").unwrap();
    std::fs::write(q.dir().join("notes.txt"), b"left here by someone").unwrap();
    let out = q.queue(&["run"]);
    for name in ["1-deadbeef.json", "notes.txt"] {
        assert!(
            out.stderr.contains(&format!("{name} cannot be read")),
            "{name} not reported:\n{out}"
        );
        assert!(
            q.dir().join("corrupt").join(name).exists(),
            "{name} not moved"
        );
        assert!(!q.dir().join(name).exists());
    }
    let counts = server.by_message_id();
    for id in &ids {
        assert_eq!(counts.get(id), Some(&1), "{counts:?}");
    }
    assert!(q.list().is_empty());
    // Reported once: the next run says nothing about them.
    let out = q.queue(&["run"]);
    assert!(!out.stderr.contains("cannot be read"), "{out}");
}

/// Queues a message from `sender` to a recipient the testbed always
/// defers; returns the queue id and the recipient.
fn queue_tempfail(q: &Outbox, tb: &Testbed, sender: &str, subject: &str) -> (String, String) {
    let t = format!("tempfail-{}", unique_addr("obx-life"));
    let out = q
        .cmd(&["sendmail", "-t", "-i", "-f", sender])
        .env("MISSIVE_SERVER", tb.mx())
        .env("MISSIVE_CAFILE", tb.ca())
        .stdin(format!(
            "From: {sender}\nTo: {t}\nSubject: {subject}\n\nhello\n"
        ))
        .run();
    out.assert_code(0);
    (queued_id(&out.stderr), t)
}

#[test]
fn out_of_lifetime_the_sender_gets_a_failure_notice_and_the_entry_is_in_failed() {
    let tb = testbed!();
    let q = Outbox::new("outbox-lifetime");
    let sender = unique_addr("obx-sender");
    let subject = unique("lifetime subject");
    let (qid, t) = queue_tempfail(&q, &tb, &sender, &subject);
    let out = q
        .cmd(&["queue", "run"])
        .env("MISSIVE_QUEUE_LIFETIME", "0s")
        .run();
    out.assert_code(0);
    assert!(
        out.stderr.contains(&format!(
            "{qid}: moved to failed/; failure notice queued as"
        )),
        "{out}"
    );
    assert!(
        q.list().is_empty(),
        "the notice was not sent in the same run: {out}"
    );
    assert!(q.dir().join("failed").join(format!("{qid}.json")).exists());
    assert!(q.dir().join("failed").join(format!("{qid}.msg")).exists());
    let show = q.queue(&["show", &qid]);
    assert!(
        show.stdout
            .contains("failed: the queue lifetime (0s) ran out"),
        "{show}"
    );
    assert!(show.stdout.contains(&format!("refused {t}")), "{show}");

    let notice = tb.wait_for_only_mail(&sender);
    // Postfix writes the null reverse path (MAIL FROM:<>) this way.
    assert!(
        notice.contains("Return-Path: <MAILER-DAEMON>"),
        "not from the null sender:\n{notice}"
    );
    assert!(
        notice.contains("multipart/report; report-type=delivery-status"),
        "{notice}"
    );
    assert!(
        notice.contains("Content-Type: message/delivery-status"),
        "{notice}"
    );
    assert!(
        notice.contains(&format!("Final-Recipient: rfc822; {t}")),
        "{notice}"
    );
    assert!(notice.contains("Action: failed"), "{notice}");
    assert!(
        notice.contains("Diagnostic-Code: smtp; 450 4.2.1"),
        "{notice}"
    );
    assert!(
        notice.contains("Content-Type: text/rfc822-headers"),
        "{notice}"
    );
    assert!(
        notice.contains(&format!("Subject: {subject}")),
        "original headers missing:\n{notice}"
    );
    assert!(notice.contains("Auto-Submitted: auto-replied"), "{notice}");
}

#[test]
fn a_recipient_refused_in_a_run_is_noticed_and_the_others_delivered() {
    let tb = testbed!();
    let q = Outbox::new("outbox-refused");
    let sender = unique_addr("obx-refsender");
    let ok = unique_addr("obx-ok");
    let bad = format!("reject-{}", unique_addr("obx"));
    let out = q
        .cmd(&["sendmail", "--queue", "always", "-f", &sender, &ok, &bad])
        .env("MISSIVE_SERVER", tb.mx())
        .env("MISSIVE_CAFILE", tb.ca())
        .stdin(format!(
            "From: {sender}\nSubject: refused in a run\n\nhello\n"
        ))
        .run();
    out.assert_code(0);
    let qid = queued_id(&out.stderr);
    let out = q.queue(&["run"]);
    assert!(
        out.stdout.contains(&format!("{qid}: delivered to {ok}")),
        "{out}"
    );
    assert!(
        out.stderr
            .contains(&format!("{qid}: {bad} failed: 550 5.1.1")),
        "{out}"
    );
    assert!(q.list().is_empty(), "{out}");
    tb.wait_for_only_mail(&ok);
    let notice = tb.wait_for_only_mail(&sender);
    assert!(
        notice.contains(&format!("Final-Recipient: rfc822; {bad}")),
        "{notice}"
    );
    assert!(notice.contains("Status: 5.1.1"), "{notice}");
    assert!(
        !notice.contains(&format!("Final-Recipient: rfc822; {ok}")),
        "{notice}"
    );
    let show = q.queue(&["show", &qid]);
    assert!(show.stdout.contains(&format!("accepted {ok}")), "{show}");
    assert!(show.stdout.contains(&format!("refused {bad}")), "{show}");
}

#[test]
fn notify_failures_false_sends_no_notice() {
    let tb = testbed!();
    let q = Outbox::new("outbox-nonotice");
    q.home.config("notify_failures = false\n", 0o600);
    let sender = unique_addr("obx-quiet");
    let (qid, _) = queue_tempfail(&q, &tb, &sender, "no notice");
    let out = q
        .cmd(&["queue", "run"])
        .env("MISSIVE_QUEUE_LIFETIME", "0s")
        .run();
    out.assert_code(0);
    assert!(
        out.stderr.contains(&format!("{qid}: moved to failed/")),
        "{out}"
    );
    assert!(!out.stderr.contains("notice"), "{out}");
    assert!(q.list().is_empty());
    tb.assert_not_delivered(&sender);
}

#[test]
fn no_secret_of_the_configuration_is_in_the_spool_and_delivery_resolves_it_again() {
    let tb = testbed!();
    let q = Outbox::new("outbox-secret");
    let config = format!(
        "[accounts.tb]\nserver = \"{}\"\ntls = \"starttls\"\ncafile = \"{}\"\nuser = \"{}\"\npassword = \"{}\"\nfrom = \"{}\"\n",
        tb.submission(),
        tb.ca(),
        tb.user(),
        tb.pass(),
        tb.user()
    );
    q.home.config(&config, 0o600);
    let to = unique_addr("obx-secret");
    let id = format!("<{}@outbox.test>", unique("secret"));
    let out = q
        .cmd(&[
            "send",
            "--account",
            "tb",
            "--queue",
            "always",
            "--to",
            &to,
            "--header",
        ])
        .arg(format!("Message-ID: {id}"))
        .args(["--subject", "secret", "--body", "resolved at delivery"])
        .run();
    out.assert_code(0);
    let qid = queued_id(&out.stderr);
    let mut seen = 0;
    for e in std::fs::read_dir(q.dir()).unwrap().filter_map(|e| e.ok()) {
        if e.file_type().unwrap().is_file() {
            let bytes = std::fs::read(e.path()).unwrap();
            let text = String::from_utf8_lossy(&bytes);
            assert!(
                !text.contains(tb.pass()),
                "the password is in {}",
                e.path().display()
            );
            seen += 1;
        }
    }
    assert_eq!(seen, 2, "ID.json and ID.msg");
    let entry = std::fs::read_to_string(q.dir().join(format!("{qid}.json"))).unwrap();
    assert!(entry.contains("\"account\": \"tb\""), "{entry}");
    // Delivery logs in with the password read from the configuration again.
    let out = q.queue(&["run"]);
    assert!(out.stdout.contains(&format!("delivered to {to}")), "{out}");
    out.assert_no_secret(&[tb.pass()]);
    assert!(tb.wait_for_only_mail(&to).contains(&id));
}

#[test]
fn a_full_disk_is_exit_75_and_leaves_no_partial_entry() {
    let q = Outbox::new("outbox-full");
    let relay = format!("127.0.0.1:{}", free_port());
    // Larger than the file size limit below: writing it fails as on a full
    // disk (in lines a server takes: over 998 octets is refused up front).
    let body = format!("{}\n", "x".repeat(76)).repeat(2700);
    let msg = q.home.file(
        "big.eml",
        &format!("From: me@outbox.test\nTo: a@outbox.test\nSubject: big\n\n{body}\n"),
        0o600,
    );
    let script = format!(
        "trap '' XFSZ; ulimit -f 64; exec \"$0\" send --server {relay} --tls none --queue always --message \"$1\" --read-recipients"
    );
    let out = Cmd::program("sh")
        .args(["-c", &script, MISSIVE])
        .arg(&msg)
        .env("HOME", q.home.root.join("home"))
        .env("XDG_STATE_HOME", q.home.root.join("state"))
        .env("XDG_CONFIG_HOME", q.home.root.join("config"))
        .run();
    out.assert_code(75);
    assert!(out.stderr.contains("cannot write"), "{out}");
    assert!(!out.stderr.contains("queued as"), "{out}");
    for sub in ["", "tmp"] {
        let files: Vec<_> = std::fs::read_dir(q.dir().join(sub))
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().unwrap().is_file())
            .map(|e| e.path())
            .collect();
        assert!(files.is_empty(), "left behind in {sub}/: {files:?}");
    }
}
