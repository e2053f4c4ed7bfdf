//! The README's promises, checked by running them: the first command
//! (`send --sandbox`) works as written, and the test command it gives is
//! the one CI runs.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::support::*;

/// The workspace root (this crate is `crates/missive`).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the workspace root")
}

fn readme() -> String {
    std::fs::read_to_string(root().join("README.md")).expect("README.md")
}

/// Splits a command line as a POSIX shell would for the simple cases a
/// README uses: blanks separate words; '…' is literal; "…" keeps blanks and
/// takes \" \\ \$ \` as escapes; a backslash outside quotes escapes the next
/// character (and joins lines). Panics on an unterminated quote.
fn shell_split(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => cur.push(c),
                        None => panic!("unterminated ' in {line:?}"),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => cur.push(c),
                            Some('\n') => {}
                            Some(c) => {
                                cur.push('\\');
                                cur.push(c);
                            }
                            None => panic!("unterminated \" in {line:?}"),
                        },
                        Some(c) => cur.push(c),
                        None => panic!("unterminated \" in {line:?}"),
                    }
                }
            }
            '\\' => match chars.next() {
                Some('\n') => {}
                Some(c) => {
                    in_word = true;
                    cur.push(c);
                }
                None => {}
            },
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    words
}

#[test]
fn shell_split_handles_quotes() {
    assert_eq!(
        shell_split(r#"a "b c" 'd "e"' f\ g "h\"i" '' x"y"'z'"#),
        ["a", "b c", "d \"e\"", "f g", "h\"i", "", "xyz"]
    );
    assert_eq!(shell_split("  one\ttwo  "), ["one", "two"]);
    assert!(shell_split("").is_empty());
}

/// The value following `flag` in `words`.
fn value_of<'a>(words: &'a [String], flag: &str) -> &'a str {
    let i = words
        .iter()
        .position(|w| w == flag)
        .unwrap_or_else(|| panic!("the README command has no {flag}: {words:?}"));
    words
        .get(i + 1)
        .unwrap_or_else(|| panic!("{flag} has no value: {words:?}"))
}

#[test]
fn readme_sandbox_command_works_as_written() {
    let text = readme();
    let line = text
        .lines()
        .find(|l| {
            l.trim_start()
                .starts_with("cargo run --release -- send --sandbox")
        })
        .expect("README has a line starting with `cargo run --release -- send --sandbox`");
    let words = shell_split(line.trim());
    assert_eq!(words[..4], ["cargo", "run", "--release", "--"], "{words:?}");
    let args = &words[4..];
    let subject = value_of(args, "--subject");
    let body = value_of(args, "--body");
    let to = value_of(args, "--to");

    let dir = TempDir::new("sandbox");
    let start = Instant::now();
    let out = Cmd::new(args)
        .current_dir(dir.path())
        .timeout(Duration::from_secs(60))
        .run();
    let (stdout, stderr) = (&out.stdout, &out.stderr);
    out.assert_code(0);
    assert!(start.elapsed() < Duration::from_secs(60));

    // the message landed where the README says
    let delivered = stdout
        .lines()
        .find_map(|l| l.strip_prefix("delivered: "))
        .unwrap_or_else(|| panic!("no `delivered: <path>` line\n{out}"));
    let path = dir.join(delivered);
    assert!(path.is_file(), "{} does not exist\n{out}", path.display());
    let new_dir = dir.join("missive-sandbox").join("new");
    assert_eq!(
        path.parent().map(|p| p.canonicalize().unwrap()),
        Some(new_dir.canonicalize().expect("missive-sandbox/new/")),
        "{out}"
    );
    let content = String::from_utf8(std::fs::read(&path).unwrap()).expect("UTF-8");
    assert!(
        content.contains(&format!("\r\nX-Missive-Envelope-To: {to}\r\n")),
        "{content}"
    );
    assert!(
        content.contains(&format!("\r\nSubject: {subject}\r\n")),
        "{content}"
    );
    assert!(
        content.ends_with(&format!("\r\n\r\n{body}\r\n")),
        "{content}"
    );
    assert!(content.contains(&format!("\r\nTo: {to}\r\n")), "{content}");

    // the conversation is shown, secured and authenticated
    for want in [
        "C: STARTTLS",
        "C: AUTH PLAIN <redacted>",
        "(verified)",
        "S: 235 ",
    ] {
        assert!(stderr.contains(want), "no {want:?}\n{out}");
    }
    let tls = stderr.find("(verified)").unwrap();
    let auth = stderr.find("C: AUTH PLAIN").unwrap();
    let mail = stderr
        .find("C: MAIL FROM:")
        .expect("MAIL in the transcript");
    assert!(
        tls < auth && auth < mail,
        "TLS, then AUTH, then MAIL\n{out}"
    );
    // the sandbox's throwaway password never shows
    assert!(
        !stderr.lines().any(|l| l.starts_with("C: AUTH PLAIN A")),
        "{out}"
    );
}

#[test]
fn readme_test_command_is_what_ci_runs() {
    let text = readme();
    assert!(
        text.lines().any(|l| l.trim() == "./test.sh"),
        "the README does not give `./test.sh` as the test command"
    );
    let ci = std::fs::read_to_string(root().join(".ci/run")).expect(".ci/run");
    let runs_it = ci
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#'))
        .any(|l| shell_split(l).iter().any(|w| w == "./test.sh"));
    assert!(runs_it, ".ci/run does not invoke ./test.sh:\n{ci}");
    assert!(root().join("test.sh").is_file(), "test.sh is missing");
}
