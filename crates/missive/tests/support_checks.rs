//! The helpers in `support/` that other tests trust, checked themselves.

use crate::support::testbed::parse_env_file;
use crate::support::*;

#[test]
fn env_file_unquoting() {
    let v = parse_env_file("# c\nA=x\nB=p\\ w:\\€\\ 1\nC='a b'\nD=\"q \\\" r\"\n");
    assert_eq!(v["A"], "x");
    assert_eq!(v["B"], "p w:€ 1");
    assert_eq!(v["C"], "a b");
    assert_eq!(v["D"], "q \" r");
}

#[test]
fn base64_round_trip() {
    for s in [
        "",
        "f",
        "fo",
        "foo",
        "foob",
        "fooba",
        "foobar",
        "päss wörd:€ 1",
    ] {
        let e = base64_encode(s.as_bytes());
        assert_eq!(base64_decode(&e).as_deref(), Some(s.as_bytes()), "{e}");
    }
    assert_eq!(base64_encode(b"foobar"), "Zm9vYmFy");
    assert_eq!(base64_encode(b"fo"), "Zm8=");
}

#[test]
fn original_strips_postfix_headers() {
    let file = b"Return-Path: <a@x>\nX-Original-To: b@x\nDelivered-To: b@x\nReceived: from x\n\tby y\n\tfor z\nFrom: a@x\nReceived: kept\n\nbody\n";
    assert_eq!(original(file), b"From: a@x\nReceived: kept\n\nbody\n");
}
