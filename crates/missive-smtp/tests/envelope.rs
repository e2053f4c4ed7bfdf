//! Envelope paths: the server role's check of what arrives in MAIL FROM
//! and RCPT TO (RFC 5321 §4.1.2), next to the client's check of what it sends.

use missive_smtp::envelope::{validate_address, validate_received_path};

#[test]
fn received_paths_that_rfc_5321_allows() {
    for (path, mailbox) in [
        ("bob@example.test", "bob@example.test"),
        (
            "first.last+tag@sub-1.example.co.uk",
            "first.last+tag@sub-1.example.co.uk",
        ),
        (
            "o'brien!#$%&*/=?^_`{|}~@x.test",
            "o'brien!#$%&*/=?^_`{|}~@x.test",
        ),
        ("\"john q. public\"@x.test", "\"john q. public\"@x.test"),
        ("\"a\\\"b\"@x.test", "\"a\\\"b\"@x.test"),
        ("j\u{f6}rg@ex\u{e4}mple.test", "j\u{f6}rg@ex\u{e4}mple.test"),
        ("a@[192.0.2.1]", "a@[192.0.2.1]"),
        ("a@[IPv6:2001:db8::1]", "a@[IPv6:2001:db8::1]"),
        ("a@[x-tag:opaque]", "a@[x-tag:opaque]"),
        ("@relay.test:c@d.test", "c@d.test"),
        ("@relay.test,@r2.test:c@d.test", "c@d.test"),
    ] {
        assert_eq!(validate_received_path(path), Ok(mailbox), "{path:?}");
    }
}

#[test]
fn received_paths_that_it_does_not() {
    let long_local = format!("{}@x.test", "a".repeat(65));
    let long_label = format!("a@{}.test", "b".repeat(64));
    let long_path = format!("a@{}", vec!["b".repeat(60); 5].join("."));
    for path in [
        "a@b\rX-Injected: 1",
        "a@b\r\nX-Injected: 1",
        "a\u{0}b@x.test",
        "a@x.test\u{7f}",
        "a@x.test\u{9b}",
        "\"a\tb\"@x.test",
        "bob",
        "@x.test",
        "bob@",
        "bob@@x.test",
        "\"\"@x.test",
        "\"unterminated@x.test",
        "\"a\"b@x.test",
        "a.@x.test",
        "a..b@x.test",
        "a(b)@x.test",
        "a@x_y.test",
        "a@x.-test",
        "a@[300.1.1.1]",
        "a@[IPv6:::g]",
        "a@[192.0.2.1",
        "@relay.test",
        "@relay..test:c@d.test",
        "relay.test:c@d.test",
        &long_local,
        &long_label,
        &long_path,
    ] {
        assert!(validate_received_path(path).is_err(), "{path:?} accepted");
    }
}

/// Whatever the server accepts is something the client would send too
/// (the client's check is the looser one: it does not parse the grammar).
#[test]
fn the_client_sends_what_the_server_accepts() {
    for path in [
        "bob@example.test",
        "first.last+tag@sub-1.example.co.uk",
        "j\u{f6}rg@ex\u{e4}mple.test",
        "a@[192.0.2.1]",
    ] {
        assert!(validate_received_path(path).is_ok());
        assert!(validate_address(path).is_ok(), "{path:?}");
    }
}
