//! Direct delivery end to end: the real `missive` binary looks up MX records
//! at the testbed's dnsmasq (127.0.0.1:5353) and delivers to the testbed's
//! Postfix on the MX-style port (2525), as it would to port 25 of the real
//! MX hosts. Every test uses local parts that no other test (or run) uses and
//! checks what arrived on disk or what Postfix logged, not only what missive
//! says.
//!
//! Without a running testbed (Postfix and dnsmasq) the tests print
//! "skipped: …" and pass, unless MISSIVE_TESTBED is set, in which case they
//! fail.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::testbed::dns_server;
use crate::support::*;

/// `missive send` by direct delivery (no --server) through the testbed's DNS
/// and to its MX-style port.
fn direct(tb: &Testbed, rcpts: &[&str]) -> Cmd {
    let mut cmd = Cmd::new([
        "send",
        "--dns-server",
        &dns_server(),
        "--mx-port",
        tb.var("SMTP_PORT_MX"),
        "--from",
        "sender@client.test",
        "--subject",
        "direct delivery",
        "--body",
        "Hello from a direct delivery test.",
    ]);
    for r in rcpts {
        cmd = cmd.args(["--to", r]);
    }
    cmd
}

/// The attempts array of a recipient entry.
fn attempts(r: &Value) -> &Vec<Value> {
    r["attempts"]
        .as_array()
        .unwrap_or_else(|| panic!("no attempts array in {r:#}"))
}

/// Lines of stderr that mention `needle`.
fn stderr_lines<'a>(out: &'a Output, needle: &str) -> Vec<&'a str> {
    out.stderr.lines().filter(|l| l.contains(needle)).collect()
}

/// The queue ids in Postfix's delivery lines (`QID: to=<addr>, … status=sent`)
/// for `addr`, polling until at least one is there.
fn queue_ids_sent_to(tb: &Testbed, addr: &str) -> BTreeSet<String> {
    let deadline = Instant::now() + DELIVERY_WAIT;
    let needle = format!(": to=<{}>,", addr.to_lowercase());
    loop {
        let ids: BTreeSet<String> = tb
            .log_lines_mentioning(addr)
            .iter()
            .filter(|l| l.contains("status=sent"))
            .filter_map(|l| {
                let l = l.to_lowercase();
                let pos = l.find(&needle)?;
                l[..pos].rsplit(' ').next().map(|q| q.to_uppercase())
            })
            .collect();
        if !ids.is_empty() {
            return ids;
        }
        assert!(
            Instant::now() < deadline,
            "Postfix logged no delivery to {addr}; lines:\n{}",
            tb.log_lines_mentioning(addr).join("\n")
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn first_mx_down_falls_back_to_the_second() {
    let tb = testbed!(dns);
    let rcpt = format!("{}@firstdown.test", unique("down"));
    let out = direct(&tb, &[&rcpt]).arg("--json").run();
    out.assert_code(0);
    tb.wait_for_mail(&rcpt);
    let report = out.json();
    assert_eq!(report["exit_code"], 0, "{report:#}");
    let r = recipient(&report, &rcpt);
    assert_eq!(r["accepted"], true, "{r:#}");
    assert_eq!(r["domain"], "firstdown.test", "{r:#}");
    assert_eq!(r["mx"], "mx2.example.test", "{r:#}");
    let tried = attempts(r);
    assert_eq!(tried.len(), 1, "one address failed before mx2: {r:#}");
    let a = &tried[0];
    assert_eq!(a["host"], "dead.firstdown.test", "{r:#}");
    assert_eq!(a["ip"], "127.0.0.2", "{r:#}");
    let error = str_of(&a["error"]).to_lowercase();
    assert!(
        error.contains("connect") && error.contains("127.0.0.2"),
        "the attempt does not say the connection failed: {r:#}"
    );
}

#[test]
fn null_mx_fails_at_once_without_connecting() {
    let tb = testbed!(dns);
    let rcpt = format!("{}@nullmx.test", unique("null"));
    let started = Instant::now();
    let out = direct(&tb, &[&rcpt]).arg("-v").run();
    let took = started.elapsed();
    out.assert_code(69);
    assert!(
        took < Duration::from_secs(5),
        "null MX took {took:?}: it should fail without any connection"
    );
    let lines: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.contains("5.1.10"))
        .collect();
    assert_eq!(lines.len(), 1, "stderr:\n{}", out.stderr);
    assert!(
        lines[0].contains("nullmx") && lines[0].contains(&rcpt),
        "the 5.1.10 line names neither the domain nor the recipient: {}",
        lines[0]
    );
    // no SMTP conversation in the -v transcript
    assert!(
        !out.stderr
            .lines()
            .any(|l| l.contains("C: ") || l.contains("S: 220")),
        "an SMTP conversation took place:\n{}",
        out.stderr
    );
    tb.assert_nothing_for(&rcpt);
}

#[test]
fn null_mx_json_reports_556_5_1_10() {
    let tb = testbed!(dns);
    let rcpt = format!("{}@nullmx.test", unique("nulljson"));
    let out = direct(&tb, &[&rcpt]).arg("--json").run();
    out.assert_code(69);
    let report = out.json();
    assert_eq!(report["exit_code"], 69, "{report:#}");
    let r = recipient(&report, &rcpt);
    assert_eq!(r["accepted"], false, "{r:#}");
    assert_eq!(r["enhanced"], "5.1.10", "{r:#}");
    assert_eq!(r["code"], 556, "{r:#}");
    assert_eq!(r["domain"], "nullmx.test", "{r:#}");
    assert_eq!(r["mx"], Value::Null, "{r:#}");
    assert!(attempts(r).is_empty(), "{r:#}");
}

#[test]
fn implicit_mx_delivers_to_the_domain_itself() {
    let tb = testbed!(dns);
    let rcpt = format!("{}@nomx.test", unique("implicit"));
    let out = direct(&tb, &[&rcpt]).arg("--json").run();
    out.assert_code(0);
    tb.wait_for_mail(&rcpt);
    let r = recipient(&out.json(), &rcpt).clone();
    assert_eq!(r["accepted"], true, "{r:#}");
    assert_eq!(r["domain"], "nomx.test", "{r:#}");
    assert_eq!(r["mx"], "nomx.test", "{r:#}");
    assert!(
        ["::1", "127.0.0.1"].contains(&str_of(&r["ip"])),
        "unexpected address: {r:#}"
    );
}

#[test]
fn three_domains_in_one_send_all_delivered() {
    let tb = testbed!(dns);
    let a = format!("{}@example.test", unique("three-a"));
    let b = format!("{}@example2.test", unique("three-b"));
    let c = format!("{}@ipv6only.test", unique("three-c"));
    let out = direct(&tb, &[&a, &b, &c])
        .args(["--direct", "--json"])
        .run();
    out.assert_code(0);
    let report = out.json();
    assert_eq!(report["exit_code"], 0, "{report:#}");
    assert_eq!(report["server"], Value::Null, "{report:#}");
    let all = report["recipients"].as_array().expect("recipients");
    assert_eq!(all.len(), 3, "one entry per recipient: {report:#}");
    let expect = [
        (&a, "example.test", &["mx1.example.test"][..]),
        (&b, "example2.test", &["mx.example2.test"][..]),
        (&c, "ipv6only.test", &["mx6.ipv6only.test"][..]),
    ];
    for (addr, domain, hosts) in expect {
        let r = recipient(&report, addr);
        assert_eq!(r["accepted"], true, "{r:#}");
        assert_eq!(r["domain"], domain, "{r:#}");
        assert!(hosts.contains(&str_of(&r["mx"])), "{r:#}");
        assert!(r["ip"].is_string(), "{r:#}");
    }
    // example2.test has only an IPv4 address, ipv6only.test only IPv6
    assert_eq!(recipient(&report, &b)["ip"], "127.0.0.1", "{report:#}");
    assert_eq!(recipient(&report, &c)["ip"], "::1", "{report:#}");

    tb.wait_for_mail(&a);
    let v4 = received_header(&tb.wait_for_mail(&b));
    let v6 = received_header(&tb.wait_for_mail(&c));
    assert!(v4.contains("[127.0.0.1]"), "{v4}");
    assert!(v6.contains("IPv6:::1"), "ipv6only.test not over ::1: {v6}");
}

#[test]
fn tempfail_recipient_gives_75_and_the_others_are_delivered() {
    let tb = testbed!(dns);
    let temp = format!("tempfail+{}@example.test", unique("tf"));
    let same = format!("{}@example.test", unique("tf-same"));
    let other = format!("{}@example2.test", unique("tf-other"));
    let v6 = format!("{}@ipv6only.test", unique("tf-v6"));
    let out = direct(&tb, &[&temp, &same, &other, &v6]).run();
    out.assert_code(75);
    tb.wait_for_mail(&same);
    tb.wait_for_mail(&other);
    tb.wait_for_mail(&v6);
    let lines = stderr_lines(&out, &temp);
    assert_eq!(lines.len(), 1, "stderr:\n{}", out.stderr);
    assert!(
        lines[0].contains("450 4.2.1"),
        "no 450 4.2.1 in: {}",
        lines[0]
    );
    assert!(
        lines[0].contains("mx1.example.test") || lines[0].contains("mx2.example.test"),
        "the line does not name the MX host: {}",
        lines[0]
    );
    for good in [&same, &other, &v6] {
        assert!(
            stderr_lines(&out, good).is_empty(),
            "{good} reported as failed:\n{}",
            out.stderr
        );
    }
    tb.assert_not_delivered(&temp);
}

#[test]
fn reject_beats_tempfail_exit_69() {
    let tb = testbed!(dns);
    let temp = format!("tempfail+{}@example.test", unique("rj-tf"));
    let rej = format!("reject+{}@example.test", unique("rj"));
    let other = format!("{}@example2.test", unique("rj-other"));
    let implicit = format!("{}@nomx.test", unique("rj-nomx"));
    let out = direct(&tb, &[&temp, &rej, &other, &implicit])
        .arg("--json")
        .run();
    out.assert_code(69);
    tb.wait_for_mail(&other);
    tb.wait_for_mail(&implicit);
    let report = out.json();
    assert_eq!(report["exit_code"], 69, "{report:#}");
    let r = recipient(&report, &rej);
    assert_eq!(
        (r["accepted"].clone(), r["code"].clone()),
        (false.into(), 550.into()),
        "{r:#}"
    );
    assert_eq!(r["enhanced"], "5.1.1", "{r:#}");
    let t = recipient(&report, &temp);
    assert_eq!(
        (t["accepted"].clone(), t["code"].clone()),
        (false.into(), 450.into()),
        "{t:#}"
    );
    assert_eq!(t["enhanced"], "4.2.1", "{t:#}");
    for good in [&other, &implicit] {
        assert_eq!(recipient(&report, good)["accepted"], true, "{report:#}");
    }
    // one line per problem
    assert_eq!(stderr_lines(&out, &rej).len(), 1, "{}", out.stderr);
    assert!(
        stderr_lines(&out, &rej)[0].contains("550 5.1.1"),
        "{}",
        out.stderr
    );
    assert_eq!(stderr_lines(&out, &temp).len(), 1, "{}", out.stderr);
    tb.assert_not_delivered(&rej);
}

#[test]
fn nxdomain_recipient_domain_is_68() {
    let tb = testbed!(dns);
    let rcpt = format!("{}@nosuch.test", unique("nx"));
    let out = direct(&tb, &[&rcpt]).run();
    out.assert_code(68);
    let lines = stderr_lines(&out, &rcpt);
    assert_eq!(lines.len(), 1, "stderr:\n{}", out.stderr);
    assert!(
        lines[0].contains("nosuch.test") && lines[0].contains("NXDOMAIN"),
        "{}",
        lines[0]
    );
    tb.assert_nothing_for(&rcpt);
}

#[test]
fn nxdomain_domain_among_good_ones_is_68_and_the_others_delivered() {
    let tb = testbed!(dns);
    let gone = format!("{}@nosuch.test", unique("nx-mixed"));
    let good = format!("{}@example2.test", unique("nx-good"));
    let out = direct(&tb, &[&gone, &good]).run();
    out.assert_code(68);
    tb.wait_for_mail(&good);
    assert!(stderr_lines(&out, &good).is_empty(), "{}", out.stderr);
    assert_eq!(stderr_lines(&out, &gone).len(), 1, "{}", out.stderr);
}

#[test]
fn dangling_mx_target_is_75_and_skipped() {
    let tb = testbed!(dns);
    let rcpt = format!("{}@noaddr.test", unique("dangling"));
    let out = direct(&tb, &[&rcpt]).arg("--json").run();
    out.assert_code(75);
    let report = out.json();
    assert_eq!(report["exit_code"], 75, "{report:#}");
    let r = recipient(&report, &rcpt);
    assert_eq!(r["accepted"], false, "{r:#}");
    assert_eq!(r["domain"], "noaddr.test", "{r:#}");
    assert_eq!(r["mx"], Value::Null, "{r:#}");
    let tried = attempts(r);
    assert_eq!(tried.len(), 1, "{r:#}");
    assert_eq!(tried[0]["host"], "ghost.noaddr.test", "{r:#}");
    assert_eq!(tried[0]["ip"], Value::Null, "{r:#}");
    assert!(
        str_of(&tried[0]["error"]).contains("skipped"),
        "the attempt does not say the host was skipped: {r:#}"
    );
    tb.assert_nothing_for(&rcpt);
}

#[test]
fn tls_verified_with_cafile() {
    let tb = testbed!(dns);
    let rcpt = format!("{}@example.test", unique("tls-ca"));
    let out = direct(&tb, &[&rcpt])
        .args(["--cafile", tb.ca(), "--json"])
        .run();
    out.assert_code(0);
    let r = recipient(&out.json(), &rcpt).clone();
    assert_eq!(r["tls"], true, "{r:#}");
    assert_eq!(r["tls_verified"], true, "{r:#}");
    assert!(
        r.get("tls_problem").is_none_or(Value::is_null),
        "a verified hop has a tls_problem: {r:#}"
    );
    let received = received_header(&tb.wait_for_mail(&rcpt));
    assert!(
        received.contains("using TLS") && received.contains("ESMTPS"),
        "{received}"
    );
}

#[test]
fn tls_unverified_without_cafile_still_delivers() {
    let tb = testbed!(dns);
    let rcpt = format!("{}@example.test", unique("tls-noca"));
    let out = direct(&tb, &[&rcpt]).arg("--json").run();
    out.assert_code(0);
    let r = recipient(&out.json(), &rcpt).clone();
    assert_eq!(r["accepted"], true, "{r:#}");
    assert_eq!(r["tls"], true, "{r:#}");
    assert_eq!(r["tls_verified"], false, "{r:#}");
    let problem = r["tls_problem"]
        .as_str()
        .unwrap_or_else(|| panic!("no tls_problem for an unverified hop: {r:#}"));
    assert!(
        problem.to_lowercase().contains("certificate"),
        "tls_problem does not say what is wrong: {problem}"
    );
    let received = received_header(&tb.wait_for_mail(&rcpt));
    assert!(received.contains("using TLS"), "{received}");
}

#[test]
fn tls_none_is_plaintext() {
    let tb = testbed!(dns);
    let rcpt = format!("{}@example.test", unique("tls-none"));
    let out = direct(&tb, &[&rcpt])
        .args(["--tls", "none", "--json"])
        .run();
    out.assert_code(0);
    let r = recipient(&out.json(), &rcpt).clone();
    assert_eq!(r["tls"], false, "{r:#}");
    assert_eq!(r["tls_verified"], false, "{r:#}");
    let received = received_header(&tb.wait_for_mail(&rcpt));
    assert!(
        !received.contains("using TLS") && received.contains("with ESMTP "),
        "{received}"
    );
}

#[test]
fn recipients_of_one_domain_share_one_transaction() {
    let tb = testbed!(dns);
    let a = format!("{}@example.test", unique("share-a"));
    let b = format!("{}@example.test", unique("share-b"));
    let out = direct(&tb, &[&a, &b]).arg("-v").run();
    out.assert_code(0);
    tb.wait_for_mail(&a);
    tb.wait_for_mail(&b);

    // the transcript: one MAIL FROM, then RCPT TO for both
    let mails = out
        .stderr
        .lines()
        .filter(|l| l.contains("C: MAIL FROM:"))
        .count();
    assert_eq!(mails, 1, "stderr:\n{}", out.stderr);
    for r in [&a, &b] {
        let rcpts = out
            .stderr
            .lines()
            .filter(|l| l.contains(&format!("C: RCPT TO:<{r}>")))
            .count();
        assert_eq!(rcpts, 1, "RCPT TO for {r}:\n{}", out.stderr);
    }

    // Postfix: one queue id for both
    let qa = queue_ids_sent_to(&tb, &a);
    let qb = queue_ids_sent_to(&tb, &b);
    assert_eq!(qa.len(), 1, "{a}: {qa:?}");
    assert_eq!(qa, qb, "the two recipients went in different transactions");
}

#[test]
fn domains_are_grouped_case_insensitively() {
    let tb = testbed!(dns);
    let a = format!("{}@example.test", unique("case-a"));
    let b = format!("{}@EXAMPLE.Test", unique("case-b"));
    let out = direct(&tb, &[&a, &b]).args(["-v", "--tls", "none"]).run();
    out.assert_code(0);
    let mails = out
        .stderr
        .lines()
        .filter(|l| l.contains("C: MAIL FROM:"))
        .count();
    assert_eq!(mails, 1, "one transaction for one domain:\n{}", out.stderr);
    tb.wait_for_mail(&a);
    tb.wait_for_mail(&b);
}

#[test]
fn required_starttls_never_falls_back_to_plaintext() {
    let tb = testbed!(dns);
    let rcpt = format!("{}@example.test", unique("tls-required"));
    // without the CA the certificate cannot verify, on either MX host
    let out = direct(&tb, &[&rcpt])
        .args(["--tls", "starttls", "--json", "-v"])
        .run();
    assert!(
        matches!(out.code, 75 | 77),
        "expected 75 or 77, got {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.code,
        out.stdout,
        out.stderr
    );
    assert!(
        !out.stderr.lines().any(|l| l.contains("C: MAIL FROM:")),
        "MAIL FROM was sent without verified TLS:\n{}",
        out.stderr
    );
    let report = out.json();
    let r = recipient(&report, &rcpt);
    assert_eq!(r["accepted"], false, "{r:#}");
    let hosts: BTreeSet<&str> = attempts(r).iter().map(|a| str_of(&a["host"])).collect();
    assert_eq!(
        hosts,
        ["mx1.example.test", "mx2.example.test"]
            .into_iter()
            .collect(),
        "both MX hosts should have been tried: {r:#}"
    );
    for a in attempts(r) {
        assert!(str_of(&a["error"]).contains("TLS"), "{r:#}");
    }
    tb.assert_nothing_for(&rcpt);
}

/// The user's credentials are for their provider: direct delivery never
/// logs in at a recipient's MX (found in review: it used to send AUTH there).
#[test]
fn direct_delivery_never_sends_credentials() {
    let tb = testbed!(dns);
    let rcpt = format!("{}@example.test", unique("noauth"));
    // credentials from the environment, as cron's sendmail would have them
    let out = direct(&tb, &[&rcpt])
        .env("MISSIVE_USER", "tester@example.test")
        .env("MISSIVE_PASSWORD", "testpass")
        .arg("-v")
        .run();
    out.assert_code(0);
    tb.wait_for_mail(&rcpt);
    assert!(
        !out.stderr.contains("AUTH"),
        "AUTH was sent to an MX:\n{}",
        out.stderr
    );
    // asking for AUTH explicitly with direct delivery is a usage error
    let out = direct(&tb, &[&rcpt])
        .args(["--auth", "plain", "--user", "tester@example.test"])
        .env("P", "testpass")
        .args(["--password-env", "P"])
        .run();
    out.assert_code(64);
    assert!(out.stderr.contains("direct delivery"), "{}", out.stderr);
}
