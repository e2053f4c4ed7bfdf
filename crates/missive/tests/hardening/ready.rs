//! Defect 2 (and the ready-made parts of 10): what a ready-made message may
//! hide from header parsing or put on the wire.

use crate::support::*;

/// `missive send --message FILE -t --dry-run` on these bytes.
fn dry_run(bytes: &[u8]) -> Output {
    let dir = TempDir::new("hardening-ready");
    let path = dir.write("m.eml", bytes);
    Cmd::new([
        "send",
        "--from",
        "a@example.test",
        "--server",
        "127.0.0.1:9",
        "--message",
        &path,
        "-t",
        "--dry-run",
    ])
    .run()
}

#[test]
fn a_bcc_behind_a_bare_cr_is_refused_not_sent() {
    let out = dry_run(b"To: a@x.test\nSubject: hi\rBcc: hidden@x.test\n\nbody\n");
    out.assert_code(65);
    assert!(!out.stdout.contains("hidden"), "{out}");
    out.one_error_line();
}

#[test]
fn a_body_line_over_998_octets_is_refused() {
    let mut m = b"To: a@x.test\nSubject: long\n\n".to_vec();
    m.extend(std::iter::repeat_n(b'x', 999));
    m.extend(b"\nend\n");
    let out = dry_run(&m);
    out.assert_code(65);
    assert!(out.one_error_line().contains("998"), "{out}");
}

#[test]
fn a_header_line_over_998_octets_is_refused() {
    let mut m = b"To: a@x.test\nSubject: ".to_vec();
    m.extend(std::iter::repeat_n(b'x', 1000));
    m.extend(b"\n\nbody\n");
    dry_run(&m).assert_code(65);
}

#[test]
fn a_nul_in_the_body_is_refused() {
    let out = dry_run(b"To: a@x.test\nSubject: nul\n\nbefore\0after\n");
    out.assert_code(65);
    assert!(out.one_error_line().contains("NUL"), "{out}");
}

#[test]
fn eight_bit_data_is_not_sent_to_a_server_without_8bitmime() {
    use crate::support::fake_smtp::{Script, Server};
    let dir = TempDir::new("hardening-8bit");
    let path = dir.write(
        "m.eml",
        b"From: a@example.test\nTo: bob@example.test\nSubject: 8bit\n\nGr\xfc\xdfe\n",
    );
    let server = Server::start(Script::new().caps(&["SIZE 1000000"]));
    let out = Cmd::new([
        "send",
        "--server",
        &format!("127.0.0.1:{}", server.port),
        "--tls",
        "none",
        "--message",
        &path,
        "--to",
        "bob@example.test",
    ])
    .run();
    let log = server.finish();
    out.assert_code(65);
    assert!(out.one_error_line().contains("8BITMIME"), "{out}");
    assert!(!log.has_verb("MAIL"), "{:?}", log.lines);
}
