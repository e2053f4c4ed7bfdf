//! `missive mx` against the DNSSEC testbed: whether each MX answer is
//! secure and what each host's TLSA records ask (RFC 7672).

use std::path::Path;

use serde_json::Value;

use super::anchor;
use crate::support::testbed::testbed_with_dnssec;
use crate::support::*;

/// `missive mx --json` through NSD, validating against the root's key.
pub(super) fn mx_report(
    dns: &str,
    anchor: Option<&Path>,
    domains: &[&str],
) -> (Output, Vec<Value>) {
    let mut cmd = Cmd::new(["mx", "--json", "--dns-server", dns]);
    if let Some(a) = anchor {
        cmd = cmd.arg("--dnssec-trust-anchor").arg(a);
    }
    let out = cmd.args(domains).run();
    let reports = out.json().as_array().cloned().unwrap_or_default();
    (out, reports)
}

pub(super) fn report<'a>(reports: &'a [Value], domain: &str) -> &'a Value {
    reports
        .iter()
        .find(|r| r["domain"] == domain)
        .unwrap_or_else(|| panic!("no report for {domain}: {reports:?}"))
}

#[test]
fn mx_shows_the_dnssec_status_and_each_hosts_dane_requirements() {
    let (dns, dir) = dnssec!();
    let domains = [
        "ee.dane.test",
        "pkix.dane.test",
        "notlsa.dane.test",
        "insecure.test",
        "tlsa.bogus.test",
    ];
    let (out, reports) = mx_report(&dns, Some(&anchor(&dir)), &domains);
    out.assert_code(0);
    let ee = report(&reports, "ee.dane.test");
    assert_eq!(ee["dnssec"], "secure", "{out}");
    let dane = &ee["hosts"][0]["dane"];
    assert_eq!(dane["status"], "verify", "{out}");
    let tlsa = dane["tlsa"][0].as_str().unwrap();
    assert!(
        tlsa.starts_with("3 1 1 ") && tlsa.len() == "3 1 1 ".len() + 64,
        "the record in full: {tlsa}"
    );
    let pkix = &report(&reports, "pkix.dane.test")["hosts"][0]["dane"];
    assert_eq!(pkix["status"], "encrypt-only", "{out}");
    assert_eq!(pkix["tlsa"].as_array().unwrap().len(), 2, "{out}");
    let none = &report(&reports, "notlsa.dane.test")["hosts"][0]["dane"];
    assert_eq!(none["status"], "none", "{out}");
    // An unsigned zone: its TLSA record must not count (RFC 7672 §2.2.1).
    let insecure = report(&reports, "insecure.test");
    assert_eq!(insecure["dnssec"], "insecure", "{out}");
    assert!(insecure["hosts"][0].get("dane").is_none(), "{out}");
    let failed = &report(&reports, "tlsa.bogus.test")["hosts"][0]["dane"];
    assert_eq!(failed["status"], "lookup-failed", "{out}");
    assert!(
        failed["detail"]
            .as_str()
            .unwrap()
            .contains("never downgrading"),
        "{out}"
    );

    // A bogus MX answer is an error for that domain (exit 75), said as bogus.
    let (out, reports) = mx_report(&dns, Some(&anchor(&dir)), &["bogus.test"]);
    out.assert_code(75);
    let bogus = report(&reports, "bogus.test");
    assert_eq!(bogus["kind"], "error", "{out}");
    assert_eq!(bogus["dnssec"], "bogus", "{out}");

    // Without a trust anchor (the default with --dns-server): no verdicts.
    let (out, reports) = mx_report(&dns, None, &["ee.dane.test", "bogus.test"]);
    out.assert_code(0);
    for r in &reports {
        assert_eq!(r["dnssec"], "not-validated", "{out}");
        assert!(r["hosts"][0].get("dane").is_none(), "{out}");
    }
}

#[test]
fn mx_says_what_dane_asks_in_words() {
    let (dns, dir) = dnssec!();
    let out = Cmd::new(["mx", "--dns-server", &dns, "--dnssec-trust-anchor"])
        .arg(anchor(&dir))
        .args(["ee.dane.test", "insecure.test"])
        .run();
    out.assert_code(0);
    assert!(
        out.stdout.contains("DNSSEC: the MX answer is secure")
            && out
                .stdout
                .contains("DANE: STARTTLS required, certificate checked against TLSA 3 1 1 ")
            && out.stdout.contains("DNSSEC: the MX answer is insecure"),
        "{out}"
    );
}
