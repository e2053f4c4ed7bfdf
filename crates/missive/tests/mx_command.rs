//! `missive mx`: the MX hosts of a domain in the order direct delivery
//! tries them, from the testbed's dnsmasq.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::support::testbed::dns_server;
use crate::support::*;

/// A line with its runs of whitespace collapsed to one space.
fn squash(line: &str) -> String {
    line.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `missive mx --dns-server … DOMAIN…`.
fn mx(domains: &[&str]) -> Cmd {
    Cmd::new(["mx", "--dns-server", &dns_server()]).args(domains)
}

/// The `missive mx --json` entry for `domain`.
fn mx_entry<'a>(report: &'a Value, domain: &str) -> &'a Value {
    report
        .as_array()
        .unwrap_or_else(|| panic!("mx --json is not an array: {report:#}"))
        .iter()
        .find(|d| d["domain"] == domain)
        .unwrap_or_else(|| panic!("{domain} not in the mx report: {report:#}"))
}

#[test]
fn mx_command_lists_hosts_in_order() {
    let _tb = testbed!();
    let out = mx(&["example.test", "nullmx.test", "nomx.test", "noaddr.test"]).run();
    out.assert_code(0);
    let lines: Vec<String> = out.stdout.lines().map(squash).collect();
    let expect = [
        "example.test:",
        "10 mx1.example.test ::1 127.0.0.1",
        "20 mx2.example.test ::1 127.0.0.1",
        "nullmx.test: null MX (RFC 7505): the domain accepts no mail",
        "nomx.test: no MX records; implicit MX (its own addresses):",
        "0 nomx.test ::1 127.0.0.1",
        "noaddr.test:",
    ];
    assert_eq!(lines.len(), expect.len() + 1, "stdout:\n{}", out.stdout);
    for (i, want) in expect.iter().enumerate() {
        assert_eq!(&lines[i], want, "line {} of:\n{}", i + 1, out.stdout);
    }
    let ghost = &lines[expect.len()];
    assert!(
        ghost.starts_with("10 ghost.noaddr.test - ")
            && ghost.contains("skipped")
            && ghost.contains("NXDOMAIN"),
        "{ghost}"
    );
}

#[test]
fn mx_command_equal_preference_lists_both() {
    let _tb = testbed!();
    let out = mx(&["samepref.test"]).run();
    out.assert_code(0);
    let lines: Vec<String> = out.stdout.lines().map(squash).collect();
    assert_eq!(lines.len(), 3, "stdout:\n{}", out.stdout);
    assert_eq!(lines[0], "samepref.test:");
    let hosts: BTreeSet<&str> = lines[1..].iter().map(String::as_str).collect();
    let want: BTreeSet<&str> = [
        "10 mx1.example.test ::1 127.0.0.1",
        "10 mx2.example.test ::1 127.0.0.1",
    ]
    .into_iter()
    .collect();
    assert_eq!(hosts, want, "stdout:\n{}", out.stdout);
}

#[test]
fn mx_command_json() {
    let _tb = testbed!();
    let out = mx(&[
        "example.test",
        "nullmx.test",
        "nomx.test",
        "noaddr.test",
        "--json",
    ])
    .run();
    out.assert_code(0);
    let report = out.json();
    assert_eq!(report.as_array().map(Vec::len), Some(4), "{report:#}");

    let ex = mx_entry(&report, "example.test");
    assert_eq!(ex["kind"], "mx", "{ex:#}");
    let hosts: Vec<(u64, &str)> = ex["hosts"]
        .as_array()
        .expect("hosts")
        .iter()
        .map(|h| {
            (
                h["preference"].as_u64().expect("preference"),
                str_of(&h["host"]),
            )
        })
        .collect();
    assert_eq!(
        hosts,
        vec![(10, "mx1.example.test"), (20, "mx2.example.test")],
        "{ex:#}"
    );
    for h in ex["hosts"].as_array().expect("hosts") {
        assert_eq!(
            h["addresses"],
            serde_json::json!(["::1", "127.0.0.1"]),
            "{h:#}"
        );
    }

    let null = mx_entry(&report, "nullmx.test");
    assert_eq!(null["kind"], "null", "{null:#}");
    assert_eq!(null["hosts"], serde_json::json!([]), "{null:#}");

    let implicit = mx_entry(&report, "nomx.test");
    assert_eq!(implicit["kind"], "implicit", "{implicit:#}");
    assert_eq!(implicit["hosts"][0]["host"], "nomx.test", "{implicit:#}");
    assert_eq!(
        implicit["hosts"][0]["addresses"],
        serde_json::json!(["::1", "127.0.0.1"]),
        "{implicit:#}"
    );

    let dangling = mx_entry(&report, "noaddr.test");
    assert_eq!(dangling["kind"], "mx", "{dangling:#}");
    assert_eq!(
        dangling["hosts"][0]["host"], "ghost.noaddr.test",
        "{dangling:#}"
    );
    assert_eq!(
        dangling["hosts"][0]["addresses"],
        serde_json::json!([]),
        "{dangling:#}"
    );
    assert!(
        str_of(&dangling["hosts"][0]["note"]).contains("skipped"),
        "{dangling:#}"
    );
}

#[test]
fn mx_command_nxdomain_is_68() {
    let _tb = testbed!();
    let out = mx(&["nosuch.test"]).run();
    out.assert_code(68);
    assert!(
        out.stdout.contains("nosuch.test") && out.stdout.contains("NXDOMAIN"),
        "stdout:\n{}",
        out.stdout
    );

    // a good domain next to it is still listed, and --json says kind=error
    let out = mx(&["example.test", "nosuch.test", "--json"]).run();
    out.assert_code(68);
    let report = out.json();
    assert_eq!(
        mx_entry(&report, "example.test")["kind"],
        "mx",
        "{report:#}"
    );
    let gone = mx_entry(&report, "nosuch.test");
    assert_eq!(gone["kind"], "error", "{gone:#}");
    assert!(str_of(&gone["error"]).contains("NXDOMAIN"), "{gone:#}");
}
