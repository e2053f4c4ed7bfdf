//! The server's verdicts: refused and deferred recipients, refused senders
//! and messages, and the exit code and `--json` report for each.

use super::*;

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
    let (_, body) = sent_parts(&tb.wait_for_mail(&good));
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
        str_of(&r["text"]).contains("permanent recipient rejection"),
        "{j:#}"
    );
    let t = recipient(&j, &tempfail);
    assert_eq!(t["accepted"], false, "{j:#}");
    assert_eq!(t["code"], 450, "{j:#}");
    assert_eq!(t["enhanced"], "4.2.1", "{j:#}");
    assert!(
        str_of(&t["text"]).contains("temporary recipient failure"),
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
        let (head, _) = sent_parts(&tb.wait_for_mail(addr));
        assert_eq!(
            one_header(&head, "To"),
            format!("{a}, \"Smith, J.\" <{b}>, {c}")
        );
    }
}
