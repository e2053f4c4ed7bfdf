//! MTA-STS (RFC 8461) in direct delivery: policies served over HTTPS on
//! loopback (support::policy_server), the testbed's DNS for the TXT
//! records and MX hosts, Postfix as the MX. Each test has its own state
//! directory, so the policy cache is its own.

use serde_json::Value;

use crate::support::policy_server::{Answer, PolicyServer};
use crate::support::testbed::dns_server;
use crate::support::*;

const HOSTS: &[&str] = &[
    "mta-sts.sts-enforce.test",
    "mta-sts.sts-mismatch.test",
    "mta-sts.sts-testing.test",
    "mta-sts.sts-none.test",
    "mta-sts.sts-badcert.test",
];

fn policy(mode: &str, mx: &[&str]) -> Answer {
    let mut text = format!("version: STSv1\r\nmode: {mode}\r\n");
    for m in mx {
        text.push_str(&format!("mx: {m}\r\n"));
    }
    text.push_str("max_age: 86400\r\n");
    Answer::policy(&text)
}

/// Direct delivery with `--json`, the policy server's port and CA bundle,
/// and `state` as the state directory (the policy cache).
fn send(tb: &Testbed, server: &PolicyServer, state: &TempDir, rcpt: &str) -> Output {
    Cmd::new([
        "send",
        "--dns-server",
        &dns_server(),
        "--mx-port",
        tb.var("SMTP_PORT_MX"),
    ])
    .args(["--cafile", &server.cafile.display().to_string()])
    .args([
        "--from",
        "sender@client.test",
        "--to",
        rcpt,
        "--body",
        "sts",
        "--json",
    ])
    .env("MISSIVE_MTA_STS_PORT", server.port.to_string())
    .env("XDG_STATE_HOME", state.path())
    .run()
}

fn one(out: &Output, rcpt: &str) -> Value {
    recipient(&out.json(), rcpt).clone()
}

#[test]
fn enforce_delivers_to_a_matching_mx_over_verified_tls() {
    let tb = testbed!(dns);
    let server = PolicyServer::start(HOSTS, tb.ca());
    server.serve(
        "mta-sts.sts-enforce.test",
        policy("enforce", &["mx1.example.test", "*.example.test"]),
    );
    let state = TempDir::new("sts-enforce");
    let rcpt = format!("{}@sts-enforce.test", unique("enforce"));
    let out = send(&tb, &server, &state, &rcpt);
    out.assert_code(0);
    let r = one(&out, &rcpt);
    assert_eq!(r["policy"], "mta-sts enforce", "{r:#}");
    assert_eq!(r["tls_verified"], true, "{r:#}");
    assert_eq!(server.hits("mta-sts.sts-enforce.test"), 1);
    tb.wait_for_mail(&rcpt);
    // a domain without a record: no policy
    let plain = unique_addr("sts-plain");
    let out = send(&tb, &server, &state, &plain);
    out.assert_code(0);
    assert_eq!(one(&out, &plain)["policy"], "none");
}

#[test]
fn enforce_with_no_matching_mx_is_a_temporary_failure_and_nothing_is_sent() {
    let tb = testbed!(dns);
    let server = PolicyServer::start(HOSTS, tb.ca());
    server.serve(
        "mta-sts.sts-mismatch.test",
        policy("enforce", &["*.other.test"]),
    );
    let state = TempDir::new("sts-mismatch");
    let rcpt = format!("{}@sts-mismatch.test", unique("mismatch"));
    let out = send(&tb, &server, &state, &rcpt);
    out.assert_code(75);
    let r = one(&out, &rcpt);
    assert_eq!(r["policy"], "mta-sts enforce", "{r:#}");
    assert!(
        r["text"].as_str().unwrap().contains("MTA-STS (enforce)"),
        "{r:#}"
    );
    assert!(
        r["policy_note"]
            .as_str()
            .unwrap()
            .contains("mx1.example.test not in the policy's mx"),
        "{r:#}"
    );
    tb.assert_nothing_for(&rcpt);
}

#[test]
fn enforce_refuses_an_mx_whose_certificate_is_not_for_its_name() {
    let tb = testbed!(dns);
    let server = PolicyServer::start(HOSTS, tb.ca());
    server.serve(
        "mta-sts.sts-badcert.test",
        policy("enforce", &["mx.sts-badcert.test"]),
    );
    let state = TempDir::new("sts-badcert");
    let rcpt = format!("{}@sts-badcert.test", unique("badcert"));
    let out = send(&tb, &server, &state, &rcpt);
    out.assert_code(75);
    let r = one(&out, &rcpt);
    assert_eq!(r["policy"], "mta-sts enforce", "{r:#}");
    let attempts = r["attempts"].to_string();
    assert!(attempts.contains("certificate"), "{r:#}");
    // --insecure does not weaken the policy
    let out = Cmd::new([
        "send",
        "--dns-server",
        &dns_server(),
        "--mx-port",
        tb.var("SMTP_PORT_MX"),
    ])
    .args([
        "--cafile",
        &server.cafile.display().to_string(),
        "--insecure",
    ])
    .args([
        "--from",
        "sender@client.test",
        "--to",
        &rcpt,
        "--body",
        "sts",
        "--json",
    ])
    .env("MISSIVE_MTA_STS_PORT", server.port.to_string())
    .env("XDG_STATE_HOME", state.path())
    .run();
    out.assert_code(75);
    assert!(
        one(&out, &rcpt)["attempts"]
            .to_string()
            .contains("certificate"),
        "{}",
        out.stdout
    );
    tb.assert_nothing_for(&rcpt);

    // mode none: the same host takes the mail (opportunistic TLS)
    server.serve("mta-sts.sts-none.test", policy("none", &[]));
    let rcpt = format!("{}@sts-none.test", unique("none"));
    let out = send(&tb, &server, &state, &rcpt);
    out.assert_code(0);
    assert_eq!(one(&out, &rcpt)["policy"], "none");
}

#[test]
fn testing_delivers_and_reports_what_enforce_would_refuse() {
    let tb = testbed!(dns);
    let server = PolicyServer::start(HOSTS, tb.ca());
    server.serve(
        "mta-sts.sts-testing.test",
        policy("testing", &["*.other.test"]),
    );
    let state = TempDir::new("sts-testing");
    let rcpt = format!("{}@sts-testing.test", unique("testing"));
    let out = send(&tb, &server, &state, &rcpt);
    out.assert_code(0);
    let r = one(&out, &rcpt);
    assert_eq!(r["policy"], "mta-sts testing", "{r:#}");
    assert!(
        r["policy_note"]
            .as_str()
            .unwrap()
            .contains("enforce would refuse"),
        "{r:#}"
    );
    tb.wait_for_mail(&rcpt);
}

#[test]
fn the_policy_is_cached_and_used_when_a_new_fetch_fails() {
    let tb = testbed!(dns);
    let server = PolicyServer::start(HOSTS, tb.ca());
    let host = "mta-sts.sts-mismatch.test";
    server.serve(host, policy("enforce", &["*.other.test"]));
    let state = TempDir::new("sts-cache");
    let rcpt = || format!("{}@sts-mismatch.test", unique("cache"));
    send(&tb, &server, &state, &rcpt()).assert_code(75);
    assert_eq!(server.hits(host), 1);
    let cache = state.join("missive/mta-sts/sts-mismatch.test.json");
    let cached: Value = serde_json::from_slice(&std::fs::read(&cache).unwrap()).unwrap();
    assert_eq!(cached["mode"], "enforce");
    assert_eq!(cached["id"], "1");

    // same id: the cache answers, no fetch
    server.serve(host, policy("none", &[]));
    send(&tb, &server, &state, &rcpt()).assert_code(75);
    assert_eq!(server.hits(host), 1, "fetched again within max_age");

    // the record's id changed (the cache holds an older one) and the fetch fails: the cached policy holds
    let mut stale = cached.clone();
    stale["id"] = Value::from("0");
    std::fs::write(&cache, stale.to_string()).unwrap();
    server.serve(
        host,
        Answer {
            status: "500 Internal Server Error",
            content_type: "text/plain",
            body: "down\n".into(),
        },
    );
    let r1 = rcpt();
    let out = send(&tb, &server, &state, &r1);
    out.assert_code(75);
    assert!(
        one(&out, &r1)["policy_note"]
            .as_str()
            .unwrap()
            .contains("using the cached policy"),
        "{}",
        out.stdout
    );
    assert_eq!(server.hits(host), 2);

    // the id changed and the fetch works: the new policy (none) replaces it
    server.serve(host, policy("none", &[]));
    let r2 = rcpt();
    let out = send(&tb, &server, &state, &r2);
    out.assert_code(0);
    assert_eq!(one(&out, &r2)["policy"], "none");
    assert_eq!(server.hits(host), 3);
}

#[test]
fn require_tls_by_direct_delivery_needs_an_enforce_policy_for_every_domain() {
    let tb = testbed!(dns);
    let server = PolicyServer::start(HOSTS, tb.ca());
    server.serve(
        "mta-sts.sts-enforce.test",
        policy("enforce", &["mx1.example.test"]),
    );
    let state = TempDir::new("sts-requiretls");
    let strict = format!("{}@sts-enforce.test", unique("rtls"));
    let plain = unique_addr("rtls-plain");
    let run = |rcpts: &[&str]| {
        let mut cmd = Cmd::new([
            "send",
            "--dns-server",
            &dns_server(),
            "--mx-port",
            tb.var("SMTP_PORT_MX"),
        ])
        .args([
            "--cafile",
            &server.cafile.display().to_string(),
            "--require-tls",
            "--json",
        ])
        .args(["--from", "sender@client.test", "--body", "rtls"])
        .env("MISSIVE_MTA_STS_PORT", server.port.to_string())
        .env("XDG_STATE_HOME", state.path());
        for r in rcpts {
            cmd = cmd.args(["--to", r]);
        }
        cmd.run()
    };
    // a domain without a policy among the recipients: nothing is sent to anyone
    let out = run(&[&strict, &plain]);
    out.assert_code(77);
    assert!(
        out.stderr.contains("has no MTA-STS enforce policy"),
        "{}",
        out.stderr
    );
    // enforce, but Postfix does not offer REQUIRETLS: not sent, a temporary failure
    let out = run(&[&strict]);
    out.assert_code(75);
    let r = one(&out, &strict);
    assert_eq!(r["policy"], "mta-sts enforce", "{r:#}");
    assert!(
        r["attempts"]
            .to_string()
            .contains("does not offer REQUIRETLS"),
        "{r:#}"
    );
    tb.assert_nothing_for(&strict);
    tb.assert_nothing_for(&plain);
}
