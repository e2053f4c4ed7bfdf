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
