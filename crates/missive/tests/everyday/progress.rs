//! The progress bar: on a terminal, for a message of 4 MiB or more; never
//! when stderr is not a terminal, with --json or -q, or for a small message.

use crate::support::*;

/// `send --sandbox` with an attachment of `size` octets, plus `extra`.
fn sandbox_with(dir: &TempDir, size: usize, extra: &[&str]) -> Vec<String> {
    let data: Vec<u8> = (0..size).map(|i| (i * 7919 % 251) as u8).collect();
    let file = dir.join(format!("data-{size}.bin"));
    std::fs::write(&file, data).unwrap();
    let mut args: Vec<String> = [
        "send",
        "--sandbox",
        "--maildir",
        dir.join("mail").to_str().unwrap(),
        "--from",
        "me@x.test",
        "--to",
        "you@x.test",
        "--body",
        "a big one",
        "--attach",
        file.to_str().unwrap(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

fn has_bar(text: &str) -> bool {
    text.contains("MiB/") && text.contains("[==") && text.contains("/s")
}

#[test]
fn big_message_on_a_terminal_shows_a_bar() {
    let dir = TempDir::new("progress");
    let big = 5 * 1024 * 1024;
    let tty = in_pty(&sandbox_with(&dir, big, &[]), &[]);
    tty.assert_code(0);
    assert!(has_bar(&tty.stdout), "{}", tty.stdout);

    let piped = Cmd::new(sandbox_with(&dir, big, &[])).run();
    piped.assert_code(0);
    assert!(
        !has_bar(&piped.all()) && !piped.all().contains("MiB"),
        "{piped}"
    );

    for extra in [["--json"], ["-q"]] {
        let tty = in_pty(&sandbox_with(&dir, big, &extra), &[]);
        tty.assert_code(0);
        assert!(!tty.stdout.contains("MiB/"), "{extra:?}: {}", tty.stdout);
    }

    let small = in_pty(&sandbox_with(&dir, 300 * 1024, &[]), &[]);
    small.assert_code(0);
    assert!(!small.stdout.contains("B/"), "{}", small.stdout);
}
