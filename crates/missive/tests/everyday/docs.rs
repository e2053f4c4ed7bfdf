//! `missive completions SHELL`, `missive man` and `--version`.

use crate::support::*;

fn have(program: &str) -> bool {
    std::process::Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn completions_parse_in_their_shells() {
    let dir = TempDir::new("completions");
    for (shell, checker) in [
        ("bash", Some("bash")),
        ("zsh", Some("zsh")),
        ("fish", Some("fish")),
        ("elvish", None),
        ("powershell", None),
    ] {
        let out = run(["completions", shell]);
        out.assert_code(0);
        assert!(out.stdout.contains("missive"), "{shell}: {}", out.stdout);
        // Every subcommand and a few options are offered.
        for word in ["send", "probe", "completions", "--server"] {
            assert!(out.stdout.contains(word), "{shell} lacks {word}");
        }
        let Some(checker) = checker.filter(|c| have(c)) else {
            continue;
        };
        let path = dir.join(format!("missive.{shell}"));
        std::fs::write(&path, &out.stdout).unwrap();
        let check = Cmd::program(checker).arg("-n").arg(&path).run();
        assert_eq!(check.code, 0, "{checker} -n: {}", check.stderr);
    }
    assert!(have("bash"), "bash is always checked");
    let bad = run(["completions", "tcsh"]);
    bad.assert_code(64);
}

#[test]
fn man_pages_render_for_every_subcommand() {
    let dir = TempDir::new("man");
    let out = run(["man", "--dir", dir.path().to_str().unwrap()]);
    out.assert_code(0);
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for page in [
        "missive.1",
        "missive-send.1",
        "missive-sendmail.1",
        "missive-probe.1",
        "missive-serve.1",
        "missive-mx.1",
        "missive-account-add.1",
        "missive-config-show.1",
        "missive-completions.1",
    ] {
        assert!(names.iter().any(|n| n == page), "{page} missing: {names:?}");
    }
    for page in &names {
        let rendered = Cmd::program("man")
            .args(["-l", "-P", "cat"])
            .arg(dir.join(page))
            .env("MANWIDTH", "100")
            .run();
        assert_eq!(rendered.code, 0, "man -l {page}: {}", rendered.stderr);
        assert!(
            rendered.stdout.contains("NAME"),
            "{page}: {}",
            rendered.stdout
        );
        assert!(
            !rendered.stderr.contains("warning"),
            "{page}: {}",
            rendered.stderr
        );
    }
    let send = Cmd::program("man")
        .args(["-l", "-P", "cat"])
        .arg(dir.join("missive-send.1"))
        .env("MANWIDTH", "200")
        .run();
    for text in ["SYNOPSIS", "--server", "--from", "The sender"] {
        assert!(send.stdout.contains(text), "{text}: {}", send.stdout);
    }
    // Without --dir: every page on standard output, one after another.
    let all = run(["man"]);
    all.assert_code(0);
    assert_eq!(all.stdout.matches(".TH ").count(), names.len());
}

#[test]
fn version_names_tls_library_and_protocols() {
    for flag in ["--version", "-V"] {
        let out = run([flag]);
        out.assert_code(0);
        let first = out.stdout.lines().next().unwrap_or_default();
        assert!(first.starts_with("missive 0."), "{}", out.stdout);
        for text in ["rustls 0.", "TLS 1.3", "SMTP", "SMTPUTF8", "SOCKS5"] {
            assert!(out.stdout.contains(text), "{text}: {}", out.stdout);
        }
        assert!(!out.stdout.contains("unknown"), "{}", out.stdout);
    }
}
