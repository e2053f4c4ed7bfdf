//! TLSA matching with certificates made by rcgen: every usage, selector
//! and matching type, and what DANE-EE and DANE-TA check or do not.

use super::*;
use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair, KeyUsagePurpose};

struct Pki {
    ca: CertificateDer<'static>,
    leaf: CertificateDer<'static>,
    /// Self-signed, for another name, long expired.
    stale: CertificateDer<'static>,
}

fn pki() -> Pki {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign];
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["mx.example.test".to_string()])
        .unwrap()
        .signed_by(&leaf_key, &ca_cert, &ca_key)
        .unwrap();
    let mut stale = CertificateParams::new(vec!["unrelated.invalid".to_string()]).unwrap();
    stale.not_before = rcgen::date_time_ymd(2001, 1, 1);
    stale.not_after = rcgen::date_time_ymd(2002, 1, 1);
    let stale = stale.self_signed(&KeyPair::generate().unwrap()).unwrap();
    Pki {
        ca: ca_cert.der().clone(),
        leaf: leaf.der().clone(),
        stale: stale.der().clone(),
    }
}

fn spki(cert: &[u8]) -> Vec<u8> {
    let (_, c) = x509_parser::parse_x509_certificate(cert).unwrap();
    c.tbs_certificate.subject_pki.raw.to_vec()
}

/// The record of `usage selector matching` for `cert`, computed here.
fn record(usage: u8, selector: u8, matching: u8, cert: &[u8]) -> Tlsa {
    let selected = match selector {
        0 => cert.to_vec(),
        _ => spki(cert),
    };
    let data = match matching {
        0 => selected,
        1 => ring::digest::digest(&ring::digest::SHA256, &selected)
            .as_ref()
            .to_vec(),
        _ => ring::digest::digest(&ring::digest::SHA512, &selected)
            .as_ref()
            .to_vec(),
    };
    Tlsa {
        usage,
        selector,
        matching,
        data,
    }
}

fn now() -> UnixTime {
    UnixTime::now()
}

#[test]
fn every_selector_and_matching_type_matches_its_own_certificate_only() {
    let p = pki();
    for selector in 0..=1 {
        for matching in 0..=2 {
            let r = record(DANE_EE, selector, matching, &p.leaf);
            assert!(r.usable(), "{r}");
            assert!(r.matches(&p.leaf), "{r}");
            assert!(!r.matches(&p.ca), "{r} matched the CA");
            let mut wrong = r.clone();
            let last = wrong.data.len() - 1;
            wrong.data[last] ^= 1;
            assert!(
                !wrong.matches(&p.leaf),
                "{wrong} matched with a flipped bit"
            );
        }
    }
}

#[test]
fn pkix_usages_and_unknown_fields_are_unusable() {
    let p = pki();
    let good = record(DANE_EE, 1, 1, &p.leaf);
    assert!(good.usable());
    for (usage, selector, matching) in [(0, 0, 1), (1, 1, 1), (4, 1, 1), (3, 2, 1), (3, 1, 3)] {
        let r = Tlsa {
            usage,
            selector,
            matching,
            ..good.clone()
        };
        assert!(!r.usable(), "{r} should be unusable");
    }
    // a digest of the wrong length
    let short = Tlsa {
        data: good.data[..31].to_vec(),
        ..good.clone()
    };
    assert!(!short.usable());
    // a verifier given only PKIX records matches nothing, even the right certificate
    let v = DaneVerifier::new(vec![record(1, 1, 1, &p.leaf)], "mx.example.test");
    assert!(v.check(&p.leaf, &[], now()).is_err());
}

#[test]
fn dane_ee_ignores_the_name_and_the_dates() {
    let p = pki();
    // the stale certificate is expired and names unrelated.invalid
    let v = DaneVerifier::new(vec![record(DANE_EE, 1, 1, &p.stale)], "mx.example.test");
    assert_eq!(v.check(&p.stale, &[], now()), Ok("DANE-EE"));
    let v = DaneVerifier::new(vec![record(DANE_EE, 0, 2, &p.stale)], "mx.example.test");
    assert_eq!(v.check(&p.stale, &[], now()), Ok("DANE-EE"));
    // another certificate does not match
    let err = v
        .check(&p.leaf, std::slice::from_ref(&p.ca), now())
        .unwrap_err();
    assert!(err.starts_with("TLSA mismatch"), "{err}");
    assert!(err.contains("_25._tcp.mx.example.test"), "{err}");
}

#[test]
fn dane_ta_needs_the_anchor_in_the_chain_and_the_mx_name_in_the_leaf() {
    let p = pki();
    for (selector, matching) in [(0, 1), (1, 1), (0, 0), (1, 2)] {
        let ta = record(DANE_TA, selector, matching, &p.ca);
        let v = DaneVerifier::new(vec![ta.clone()], "mx.example.test");
        assert_eq!(
            v.check(&p.leaf, std::slice::from_ref(&p.ca), now()),
            Ok("DANE-TA"),
            "{ta}"
        );
        // the server did not send its TA: nothing to match (RFC 7672 §3.2.2)
        assert!(v.check(&p.leaf, &[], now()).is_err(), "{ta}");
    }
    // the TA matches, but the leaf is not for this MX name (RFC 7672 §3.2.2)
    let v = DaneVerifier::new(vec![record(DANE_TA, 0, 1, &p.ca)], "other.example.test");
    let err = v
        .check(&p.leaf, std::slice::from_ref(&p.ca), now())
        .unwrap_err();
    assert!(err.contains("DANE-TA"), "{err}");
    assert!(err.contains("not valid for"), "{err}");
    // a DANE-TA record of the leaf itself is not a trust anchor for it
    let v = DaneVerifier::new(vec![record(DANE_TA, 0, 1, &p.leaf)], "mx.example.test");
    assert!(v
        .check(&p.leaf, std::slice::from_ref(&p.ca), now())
        .is_err());
    // a leaf that does not chain to the matched TA: the stale certificate sent as "chain"
    let v = DaneVerifier::new(vec![record(DANE_TA, 0, 1, &p.stale)], "mx.example.test");
    assert!(v
        .check(&p.leaf, std::slice::from_ref(&p.stale), now())
        .is_err());
}

#[test]
fn one_matching_record_among_others_is_enough() {
    let p = pki();
    let v = DaneVerifier::new(
        vec![
            record(1, 1, 1, &p.leaf),
            record(DANE_EE, 1, 1, &p.stale),
            record(DANE_TA, 0, 1, &p.ca),
        ],
        "mx.example.test",
    );
    assert_eq!(
        v.check(&p.leaf, std::slice::from_ref(&p.ca), now()),
        Ok("DANE-TA")
    );
    assert_eq!(v.check(&p.stale, &[], now()), Ok("DANE-EE"));
}
