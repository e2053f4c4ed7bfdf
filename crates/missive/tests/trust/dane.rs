//! DANE (RFC 7672) in direct delivery against real DNSSEC: NSD serving a
//! private root signed with ldns at testbed start (`testbed/dnssec-up.sh`:
//! the zones, their TLSA records and the certificates they are computed
//! from), `missive serve` instances as the MX hosts on their own loopback
//! addresses, and the root's DNSKEY as the trust anchor.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::support::fake_smtp::{Script, Server};
use crate::support::testbed::testbed_with_dnssec;
use crate::support::*;

/// NSD's address and the testbed's dnssec directory, or return (skipped).
macro_rules! dnssec {
    () => {
        match testbed_with_dnssec() {
            Some(t) => t,
            None => return,
        }
    };
}

/// The MX addresses of the zones (see dnssec-up.sh).
const MX_EE: &str = "127.0.0.31";
const MX_TA: &str = "127.0.0.32";
const MX_BAD: &str = "127.0.0.33";
const MX_NOTLSA: &str = "127.0.0.34";
const MX_PLAIN: &str = "127.0.0.35";
const MX_PKIX: &str = "127.0.0.36";
const MX_INSECURE: &str = "127.0.0.37";
const MX_BOGUS: &str = "127.0.0.38";
const MX_TLSA_BOGUS: &str = "127.0.0.39";

/// A `missive serve` MX host at `ip:port` with the certificate `cert`
/// (`ee`: self-signed for another name; `mx`: leaf of the DANE CA;
/// `mx-chain`: the same with the CA after it).
fn mx(dir: &Path, ip: &str, port: u16, cert: &str) -> Capture {
    let key = if cert == "ee" { "ee.key" } else { "mx.key" };
    let cert = dir.join(format!(
        "{cert}.{}",
        if cert == "mx-chain" { "pem" } else { "crt" }
    ));
    Capture::start_at(
        ip,
        port,
        &[
            "--cert",
            &cert.display().to_string(),
            "--key",
            &dir.join(key).display().to_string(),
        ],
    )
}

/// `missive send --direct --json` through NSD, validating against the root's key.
fn send(dns: &str, dir: &Path, port: u16, rcpt: &str) -> Output {
    send_with(dns, &anchor(dir), port, rcpt)
}

fn anchor(dir: &Path) -> PathBuf {
    dir.join("root.key")
}

fn send_with(dns: &str, anchor: &Path, port: u16, rcpt: &str) -> Output {
    Cmd::new(["send", "--dns-server", dns, "--mx-port", &port.to_string()])
        .arg("--dnssec-trust-anchor")
        .arg(anchor)
        .args(["--from", "sender@client.test", "--to", rcpt])
        .args(["--body", "dane", "--json", "--direct-deadline", "60"])
        .run()
}

fn one(out: &Output, rcpt: &str) -> Value {
    recipient(&out.json(), rcpt).clone()
}

#[test]
fn secure_matching_dane_ee_delivers_without_a_name_or_ca_check() {
    let (dns, dir) = dnssec!();
    let port = free_port();
    // the certificate is self-signed and names unrelated.invalid: only the
    // TLSA record (3 1 1 of its key) vouches for it
    let server = mx(&dir, MX_EE, port, "ee");
    let rcpt = format!("{}@ee.dane.test", unique("ee"));
    let out = send(&dns, &dir, port, &rcpt);
    out.assert_code(0);
    let r = one(&out, &rcpt);
    assert_eq!(r["policy"], "dane", "{r:#}");
    assert_eq!(r["tls"], true, "{r:#}");
    assert_eq!(r["tls_verified"], true, "{r:#}");
    assert_eq!(r["mx"], "mx-ee.dane.test", "{r:#}");
    server.wait_for(1, DELIVERY_WAIT);
    assert!(server.messages()[0].contains(&rcpt));
}

#[test]
fn secure_matching_dane_ta_delivers_when_the_chain_holds_the_anchor() {
    let (dns, dir) = dnssec!();
    let port = free_port();
    let server = mx(&dir, MX_TA, port, "mx-chain");
    let rcpt = format!("{}@ta.dane.test", unique("ta"));
    let out = send(&dns, &dir, port, &rcpt);
    out.assert_code(0);
    let r = one(&out, &rcpt);
    assert_eq!(r["policy"], "dane", "{r:#}");
    assert_eq!(r["tls_verified"], true, "{r:#}");
    server.wait_for(1, DELIVERY_WAIT);
    drop(server);
    // the same host without the CA in its chain: nothing to anchor to (RFC 7672 §3.2.2)
    let server = mx(&dir, MX_TA, port, "mx");
    let rcpt = format!("{}@ta.dane.test", unique("ta-nochain"));
    let out = send(&dns, &dir, port, &rcpt);
    out.assert_code(75);
    assert!(
        one(&out, &rcpt)["text"]
            .as_str()
            .unwrap()
            .contains("TLSA mismatch"),
        "{}",
        out.stdout
    );
    assert!(server.messages().is_empty());
}

#[test]
fn a_tlsa_mismatch_is_a_temporary_failure_and_the_next_mx_is_tried() {
    let (dns, dir) = dnssec!();
    let port = free_port();
    let bad = mx(&dir, MX_BAD, port, "mx");
    let rcpt = format!("{}@bad.dane.test", unique("bad"));
    let out = send(&dns, &dir, port, &rcpt);
    out.assert_code(75);
    let r = one(&out, &rcpt);
    assert_eq!(r["policy"], "dane", "{r:#}");
    assert_eq!(r["accepted"], false, "{r:#}");
    let text = r["text"].as_str().unwrap();
    assert!(text.contains("TLSA mismatch"), "{text}");
    assert!(text.contains("_25._tcp.mx-bad.dane.test"), "{text}");
    assert!(out.stderr.contains("TLSA mismatch"), "{}", out.stderr);
    // --insecure does not weaken DANE, nor does trusting the host's CA
    let out = Cmd::new(["send", "--dns-server", &dns, "--mx-port", &port.to_string()])
        .arg("--dnssec-trust-anchor")
        .arg(anchor(&dir))
        .arg("--insecure")
        .arg("--cafile")
        .arg(dir.join("ca.crt"))
        .args(["--from", "sender@client.test", "--to", &rcpt, "--body", "x"])
        .run();
    out.assert_code(75);
    assert!(out.stderr.contains("TLSA mismatch"), "{}", out.stderr);
    assert!(bad.messages().is_empty(), "mail went to a mismatching host");

    // second.dane.test: MX 10 mx-bad (mismatch), MX 20 mx-ee (matches)
    let ee = mx(&dir, MX_EE, port, "ee");
    let rcpt = format!("{}@second.dane.test", unique("second"));
    let out = send(&dns, &dir, port, &rcpt);
    out.assert_code(0);
    let r = one(&out, &rcpt);
    assert_eq!(r["mx"], "mx-ee.dane.test", "{r:#}");
    assert_eq!(r["policy"], "dane", "{r:#}");
    let attempts = r["attempts"].to_string();
    assert!(
        attempts.contains("mx-bad.dane.test") && attempts.contains("TLSA mismatch"),
        "{r:#}"
    );
    ee.wait_for(1, DELIVERY_WAIT);
    assert!(bad.messages().is_empty());
}

#[test]
fn a_secure_zone_without_tlsa_falls_back_to_opportunistic_tls() {
    let (dns, dir) = dnssec!();
    let port = free_port();
    // a certificate no trust anchor vouches for: accepted only opportunistically
    let server = mx(&dir, MX_NOTLSA, port, "mx");
    let rcpt = format!("{}@notlsa.dane.test", unique("notlsa"));
    let out = send(&dns, &dir, port, &rcpt);
    out.assert_code(0);
    let r = one(&out, &rcpt);
    assert_eq!(r["policy"], "none", "{r:#}");
    assert_eq!(r["tls"], true, "{r:#}");
    assert_eq!(r["tls_verified"], false, "{r:#}");
    server.wait_for(1, DELIVERY_WAIT);
}

#[test]
fn an_unsigned_zone_gets_no_dane_even_with_a_wrong_tlsa_record() {
    let (dns, dir) = dnssec!();
    let port = free_port();
    // mx.insecure.test publishes a TLSA record that matches nothing; the
    // zone has no DS, so the record is insecure and ignored
    let server = mx(&dir, MX_INSECURE, port, "mx");
    let rcpt = format!("{}@insecure.test", unique("insecure"));
    let out = send(&dns, &dir, port, &rcpt);
    out.assert_code(0);
    assert_eq!(one(&out, &rcpt)["policy"], "none", "{}", out.stdout);
    // a secure MX answer whose host is in the unsigned zone: the TLSA
    // lookup is answered insecure (not bogus), so no DANE either
    let rcpt = format!("{}@cross.dane.test", unique("cross"));
    let out = send(&dns, &dir, port, &rcpt);
    out.assert_code(0);
    assert_eq!(one(&out, &rcpt)["policy"], "none", "{}", out.stdout);
    server.wait_for(2, DELIVERY_WAIT);
}

#[test]
fn an_alias_counts_as_part_of_the_mx_answer() {
    let (dns, dir) = dnssec!();
    let port = free_port();
    let server = mx(&dir, MX_EE, port, "ee");
    // alias.dane.test CNAME ee.dane.test: signed all the way, so DANE
    let rcpt = format!("{}@alias.dane.test", unique("alias"));
    let out = send(&dns, &dir, port, &rcpt);
    out.assert_code(0);
    let r = one(&out, &rcpt);
    assert_eq!(r["policy"], "dane", "{r:#}");
    assert_eq!(r["tls_verified"], true, "{r:#}");
    // alias.insecure.test CNAME ee.dane.test: the alias is in the unsigned
    // zone, so the MX answer is insecure and its host's TLSA records do not
    // count (RFC 7672 §2.1.3, §2.2.1), though the MX records are signed
    let rcpt = format!("{}@alias.insecure.test", unique("alias-insecure"));
    let out = send(&dns, &dir, port, &rcpt);
    out.assert_code(0);
    let r = one(&out, &rcpt);
    assert_eq!(r["policy"], "none", "{r:#}");
    assert_eq!(
        r["tls_verified"], false,
        "the certificate names another host: {r:#}"
    );
    server.wait_for(2, DELIVERY_WAIT);

    let (out, reports) = mx::mx_report(&dns, Some(&anchor(&dir)), &["alias.insecure.test"]);
    out.assert_code(0);
    let alias = mx::report(&reports, "alias.insecure.test");
    assert_eq!(alias["dnssec"], "insecure", "{out}");
    assert!(alias["hosts"][0].get("dane").is_none(), "{out}");
}

#[test]
fn bogus_answers_are_a_temporary_failure_never_a_downgrade() {
    let (dns, dir) = dnssec!();
    let port = free_port();
    let bogus = mx(&dir, MX_BOGUS, port, "mx");
    let tlsa_bogus = mx(&dir, MX_TLSA_BOGUS, port, "ee");
    // the MX answer's signature does not verify
    let rcpt = format!("{}@bogus.test", unique("bogus"));
    let out = send(&dns, &dir, port, &rcpt);
    out.assert_code(75);
    let r = one(&out, &rcpt);
    assert_eq!(r["accepted"], false, "{r:#}");
    assert!(r["text"].as_str().unwrap().contains("DNSSEC"), "{r:#}");
    // the MX answer is good, the host's TLSA answer is bogus: the host is skipped
    let rcpt = format!("{}@tlsa.bogus.test", unique("tlsabogus"));
    let out = send(&dns, &dir, port, &rcpt);
    out.assert_code(75);
    let r = one(&out, &rcpt);
    let text = r["text"].as_str().unwrap();
    assert!(
        text.contains("TLSA lookup") && text.contains("DNSSEC"),
        "{r:#}"
    );
    // without validation the same zones deliver: the failure above is DNSSEC's
    let rcpt = format!("{}@bogus.test", unique("bogus-off"));
    let out = send_with(&dns, Path::new("none"), port, &rcpt);
    out.assert_code(0);
    assert_eq!(one(&out, &rcpt)["policy"], "none");
    bogus.wait_for(1, DELIVERY_WAIT);
    assert_eq!(bogus.messages().len(), 1);
    assert!(tlsa_bogus.messages().is_empty());
}

#[test]
fn an_mx_with_secure_tlsa_but_no_starttls_is_refused() {
    let (dns, dir) = dnssec!();
    let port = free_port();
    // the host offers no STARTTLS: DANE requires it (RFC 7672 §2.2)
    let server = Server::start_at(
        &format!("{MX_PLAIN}:{port}"),
        Script::new().caps(&["8BITMIME", "SIZE 10240000"]),
    );
    let rcpt = format!("{}@plain.dane.test", unique("plain"));
    let out = send(&dns, &dir, port, &rcpt);
    out.assert_code(75);
    let r = one(&out, &rcpt);
    assert_eq!(r["policy"], "dane", "{r:#}");
    let text = r["text"].as_str().unwrap();
    assert!(text.contains("DANE") && text.contains("STARTTLS"), "{r:#}");
    let log = server.finish();
    assert!(
        !log.has_verb("MAIL"),
        "MAIL sent in plaintext: {:?}",
        log.lines
    );
    assert!(log.messages.is_empty());
}

#[test]
fn only_unusable_tlsa_records_mean_tls_without_authentication() {
    let (dns, dir) = dnssec!();
    let port = free_port();
    // PKIX-TA and PKIX-EE only (RFC 7672 §3.1.3): STARTTLS still required
    let server = mx(&dir, MX_PKIX, port, "mx");
    let rcpt = format!("{}@pkix.dane.test", unique("pkix"));
    let out = send(&dns, &dir, port, &rcpt);
    out.assert_code(0);
    let r = one(&out, &rcpt);
    assert_eq!(r["policy"], "dane", "{r:#}");
    assert_eq!(r["tls"], true, "{r:#}");
    assert_eq!(r["tls_verified"], false, "{r:#}");
    let note = r["policy_note"].as_str().unwrap_or_default();
    assert!(note.contains("TLSA records all unusable"), "{r:#}");
    server.wait_for(1, DELIVERY_WAIT);
    drop(server);
    // and without STARTTLS it is refused
    let plain = Server::start_at(
        &format!("{MX_PKIX}:{port}"),
        Script::new().caps(&["8BITMIME"]),
    );
    let rcpt = format!("{}@pkix.dane.test", unique("pkix-plain"));
    let out = send(&dns, &dir, port, &rcpt);
    out.assert_code(75);
    assert!(plain.finish().messages.is_empty());
}

#[test]
fn ds_records_are_trust_anchors_too_at_the_root_or_below() {
    let (dns, dir) = dnssec!();
    let port = free_port();
    let server = mx(&dir, MX_EE, port, "ee");
    // the root's DS, and the DS of test. (a trust anchor below the root)
    for file in ["root.ds", "test.ds"] {
        let rcpt = format!("{}@ee.dane.test", unique("ds"));
        let out = send_with(&dns, &dir.join(file), port, &rcpt);
        out.assert_code(0);
        let r = one(&out, &rcpt);
        assert_eq!(r["policy"], "dane", "{file}: {r:#}");
        assert_eq!(r["tls_verified"], true, "{file}: {r:#}");
    }
    server.wait_for(2, DELIVERY_WAIT);
    // a DS whose digest matches no key of its zone: refused at once (exit 78)
    let wrong = TempDir::new("dane-ds");
    let ds = std::fs::read_to_string(dir.join("root.ds")).unwrap();
    let digest = ds.split_whitespace().last().unwrap().to_string();
    let flipped: String = digest
        .chars()
        .map(|c| if c == '0' { '1' } else { '0' })
        .collect();
    let path = wrong.write("bad.ds", ds.replace(&digest, &flipped).as_bytes());
    let out = send_with(&dns, Path::new(&path), port, &unique_addr("bad-ds"));
    out.assert_code(78);
    assert!(out.stderr.contains("matches its DS"), "{}", out.stderr);
}

#[test]
fn a_trust_anchor_that_is_not_the_root_key_makes_every_answer_bogus() {
    let (dns, dir) = dnssec!();
    // a real key, but dane.test's, given as the root's: validation fails, nothing is sent
    let wrong = TempDir::new("dane-anchor");
    let other = std::fs::read_dir(dir.join("keys"))
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .find(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            name.starts_with("Kdane.test.") && name.ends_with(".key")
        })
        .expect("dane.test's key in the testbed's keys/");
    let line = std::fs::read_to_string(other).unwrap();
    let path = wrong.write("root.key", line.replacen("dane.test.", ".", 1).as_bytes());
    let port = free_port();
    let server = mx(&dir, MX_EE, port, "ee");
    let rcpt = format!("{}@ee.dane.test", unique("wronganchor"));
    let out = send_with(&dns, Path::new(&path), port, &rcpt);
    out.assert_code(75);
    assert!(
        one(&out, &rcpt)["text"]
            .as_str()
            .unwrap()
            .contains("DNSSEC"),
        "{}",
        out.stdout
    );
    assert!(server.messages().is_empty());
    // a file that is not a trust anchor is a configuration error (exit 78)
    let junk = wrong.write("junk.key", b"this is not a key\n");
    let out = send_with(&dns, Path::new(&junk), port, &rcpt);
    out.assert_code(78);
    assert!(out.stderr.contains("DNSKEY"), "{}", out.stderr);
}

#[test]
fn a_server_without_dnssec_makes_explicit_validation_fail_not_downgrade() {
    // dnsmasq serves unsigned zones and refuses the root's DNSKEY query:
    // hickory cannot prove the zones unsigned, so with the IANA keys asked
    // for explicitly every answer is bogus, a temporary failure
    let tb = testbed!(dns);
    let rcpt = unique_addr("iana");
    let out = send_with(
        &crate::support::testbed::dns_server(),
        Path::new("iana"),
        tb.var("SMTP_PORT_MX").parse().unwrap(),
        &rcpt,
    );
    out.assert_code(75);
    let r = one(&out, &rcpt);
    assert!(r["text"].as_str().unwrap().contains("DNSSEC"), "{r:#}");
    tb.assert_nothing_for(&rcpt);
}

#[test]
fn auto_validates_only_when_the_dns_passes_dnssec_and_says_so_when_not() {
    // `auto` (the default with the system's DNS): the IANA keys, if the
    // root's DNSKEY set validates with them through this DNS. NSD's private
    // root does not, so nothing is validated: no DANE, and the note says why
    let (dns, dir) = dnssec!();
    let port = free_port();
    let server = mx(&dir, MX_BAD, port, "mx");
    let rcpt = format!("{}@bad.dane.test", unique("auto"));
    let out = send_with(&dns, Path::new("auto"), port, &rcpt);
    out.assert_code(0);
    let r = one(&out, &rcpt);
    assert_eq!(r["policy"], "none", "{r:#}");
    let note = r["policy_note"].as_str().unwrap_or_default();
    assert!(note.contains("DNSSEC not validated"), "{r:#}");
    server.wait_for(1, DELIVERY_WAIT);
}

#[test]
fn nsec3_signed_zones_validate_their_records_and_denials() {
    // n3.test. is signed with NSEC3: a secure TLSA record, a secure
    // NXDOMAIN for a missing one, and an insecure delegation proven by NSEC3
    let (dns, dir) = dnssec!();
    let port = free_port();
    let ee = mx(&dir, MX_EE, port, "ee");
    let notlsa = mx(&dir, MX_NOTLSA, port, "mx");
    let unsigned = mx(&dir, MX_INSECURE, port, "mx");
    let cases = [
        ("ee.n3.test", "dane", true),
        ("notlsa.n3.test", "none", false),
        ("unsigned.n3.test", "none", false),
    ];
    for (domain, policy, verified) in cases {
        let rcpt = format!("{}@{domain}", unique("n3"));
        let out = send(&dns, &dir, port, &rcpt);
        out.assert_code(0);
        let r = one(&out, &rcpt);
        assert_eq!(r["policy"], policy, "{domain}: {r:#}");
        assert_eq!(r["tls_verified"], verified, "{domain}: {r:#}");
    }
    for server in [&ee, &notlsa, &unsigned] {
        server.wait_for(1, DELIVERY_WAIT);
    }
}

/// A scripted MX host that offers STARTTLS and REQUIRETLS, with the DANE-EE certificate.
fn requiretls_mx(dir: &Path, ip: &str, port: u16) -> Server {
    Server::start_at(
        &format!("{ip}:{port}"),
        Script::new()
            .caps(&["STARTTLS", "8BITMIME", "REQUIRETLS"])
            .certificate(&dir.join("ee.crt"), &dir.join("ee.key")),
    )
}

fn send_requiretls(dns: &str, dir: &Path, port: u16, rcpt: &str) -> Output {
    Cmd::new(["send", "--dns-server", dns, "--mx-port", &port.to_string()])
        .arg("--dnssec-trust-anchor")
        .arg(anchor(dir))
        .args(["--from", "sender@client.test", "--to", rcpt])
        .args(["--body", "dane", "--require-tls", "--direct-deadline", "60"])
        .run()
}

#[test]
fn requiretls_is_honoured_through_dane_alone() {
    // ee.dane.test has no MTA-STS policy; DANE for its only MX host is
    // enough for REQUIRETLS by direct delivery (RFC 8689 §4.2.1)
    let (dns, dir) = dnssec!();
    let port = free_port();
    let server = requiretls_mx(&dir, MX_EE, port);
    let rcpt = format!("{}@ee.dane.test", unique("requiretls"));
    let out = send_requiretls(&dns, &dir, port, &rcpt);
    let log = server.finish();
    out.assert_code(0);
    let mail = log
        .lines
        .iter()
        .find(|l| l.to_ascii_uppercase().starts_with("MAIL FROM:"))
        .expect("MAIL sent");
    assert!(mail.ends_with(" REQUIRETLS"), "{mail}");
    assert!(log.position("MAIL").unwrap() >= log.tls_at.expect("STARTTLS"));
    assert_eq!(log.messages.len(), 1);
}

#[test]
fn requiretls_without_dane_for_every_host_sends_nothing() {
    let (dns, dir) = dnssec!();
    let port = free_port();
    // nothing listens: exit 77 means it was refused before connecting
    for (domain, why) in [
        (
            "notlsa.dane.test",
            "has no usable DNSSEC-signed TLSA records",
        ),
        ("insecure.test", "not DNSSEC-signed"),
        ("pkix.dane.test", "has no usable DNSSEC-signed TLSA records"),
    ] {
        let rcpt = format!("{}@{domain}", unique("requiretls-no"));
        let out = send_requiretls(&dns, &dir, port, &rcpt);
        out.assert_code(77);
        assert!(
            out.stderr.contains("no DANE for every MX host") && out.stderr.contains(why),
            "{domain}: {}",
            out.stderr
        );
    }
}

/// `missive mx`'s DNSSEC and DANE report, through the same NSD.
mod mx;
