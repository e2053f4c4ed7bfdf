//! Secrets in the configuration: they never show in `config show`, dry runs
//! or failures, and a plain password in a file others can read is refused.
//! The real `missive` binary runs with a configuration of its own
//! ([`Home`]).

use crate::support::*;

const FILE_SECRET: &str = "Pl41n-F1le-S3cret";

const ENV_SECRET: &str = "Env-S3cret-V4lue";

/// What the password command prints; its own text does not contain it.
const CMD_SECRET: &str = "Cmd-S3cret-Output";

const MISSIVE_PW_SECRET: &str = "M1ss1ve-Passw0rd-Env";

fn secrets_config(home: &Home) -> String {
    let marker = home.root.join("password-cmd-ran");
    format!(
        r#"
[accounts.filepw]
server = "127.0.0.1:9"
user = "u@x.test"
from = "u@x.test"
password = "{FILE_SECRET}"

[accounts.envpw]
server = "127.0.0.1:9"
user = "u@x.test"
password_env = "ACCT_PW"

[accounts.cmdpw]
server = "127.0.0.1:9"
user = "u@x.test"
password_cmd = "touch {}; printf %s-%s Cmd-S3cret Output"
"#,
        marker.display()
    )
}

#[track_caller]
fn assert_no_secret(out: &Output) {
    out.assert_no_secret(&[FILE_SECRET, ENV_SECRET, CMD_SECRET, MISSIVE_PW_SECRET]);
}

#[test]
fn config_show_never_prints_a_secret() {
    let home = Home::new("secrets");
    let path = home.config(&secrets_config(&home), 0o600);
    for account in ["filepw", "envpw", "cmdpw"] {
        for json in [false, true] {
            let mut args = vec!["config", "show", "--account", account];
            if json {
                args.push("--json");
            }
            let out = home.cmd(&args).env("ACCT_PW", ENV_SECRET).run();
            assert_eq!(out.code, 0, "{out}");
            assert_no_secret(&out);
            assert!(out.stdout.contains("<redacted>"), "{out}");
            if json {
                let j = out.json();
                let e = entry(&j, "secret");
                assert!(
                    e["value"].as_str().unwrap().starts_with("<redacted>"),
                    "{j:#}"
                );
                assert_eq!(e["source"]["name"], account);
            } else {
                let (value, source) = shown(&out, "secret").expect("secret line");
                assert!(value.starts_with("<redacted>"), "{out}");
                assert_eq!(source, format!("account {account}"));
            }
        }
    }
    // Showing the configuration does not run the password command.
    assert!(
        !home.root.join("password-cmd-ran").exists(),
        "config show ran the password command"
    );
    // MISSIVE_PASSWORD is a secret too.
    for json in [false, true] {
        let mut args = vec!["config", "show", "--account", "envpw"];
        if json {
            args.push("--json");
        }
        let out = home
            .cmd(&args)
            .env("MISSIVE_PASSWORD", MISSIVE_PW_SECRET)
            .run();
        assert_eq!(out.code, 0, "{out}");
        assert_no_secret(&out);
        assert!(out.stdout.contains("<redacted>"), "{out}");
        assert!(out.stdout.contains("MISSIVE_PASSWORD"), "{out}");
    }
    // The file is untouched by reading it.
    assert_eq!(mode_of(&path), 0o600);
}

#[test]
fn secrets_stay_out_of_dry_runs_and_failures() {
    let home = Home::new("secrets-send");
    home.config(&secrets_config(&home), 0o600);
    for account in ["filepw", "envpw", "cmdpw"] {
        let out = home
            .cmd(&[
                "send",
                "--account",
                account,
                "--from",
                "u@x.test",
                "--to",
                "r@x.test",
                "--body",
                "hello",
                "--dry-run",
            ])
            .env("ACCT_PW", ENV_SECRET)
            .run();
        assert_eq!(out.code, 0, "{out}");
        assert_no_secret(&out);
        // A real attempt against a port where nothing listens: an error, no secret.
        let out = home
            .cmd(&[
                "send",
                "--account",
                account,
                "--from",
                "u@x.test",
                "--to",
                "r@x.test",
                "--body",
                "hello",
                "--timeout",
                "5",
                "--json",
                "-v",
            ])
            .env("ACCT_PW", ENV_SECRET)
            .run();
        assert_ne!(out.code, 0, "{out}");
        assert_no_secret(&out);
    }
}

#[test]
fn a_plain_password_in_a_readable_file_is_refused() {
    let home = Home::new("perm");
    let text = format!("[accounts.a]\nserver = \"127.0.0.1:9\"\nuser = \"u@x.test\"\npassword = \"{FILE_SECRET}\"\n");
    for mode in [0o644, 0o640, 0o604] {
        let path = home.config(&text, mode);
        for args in [
            &["config", "show"][..],
            &["config", "show", "--json"][..],
            &[
                "send",
                "--account",
                "a",
                "--from",
                "u@x.test",
                "--to",
                "r@x.test",
                "--body",
                "x",
            ][..],
        ] {
            let out = home.cmd(args).run();
            assert_eq!(out.code, 78, "mode {mode:o} {args:?}\n{out}");
            if args[0] == "send" {
                // With --json the report carries the same error.
                let mut json = args.to_vec();
                json.push("--json");
                let out = home.cmd(&json).run();
                assert_eq!(out.code, 78, "{out}");
                let j = out.json();
                assert_eq!(j["exit_code"], 78, "{j:#}");
                assert!(j["error"].as_str().unwrap().contains("chmod 600"), "{j:#}");
                assert_no_secret(&out);
            }
            let (line, _) = out.error_and_next();
            assert!(line.contains("chmod 600"), "{out}");
            assert!(
                line.contains(&path.display().to_string()),
                "the message names the file\n{out}"
            );
            assert_no_secret(&out);
        }
    }
    // 0600 (and 0400) are fine.
    for mode in [0o600, 0o400] {
        home.config(&text, mode);
        let out = home.cmd(&["config", "show"]).run();
        assert_eq!(out.code, 0, "mode {mode:o}\n{out}");
        assert_no_secret(&out);
    }
    // Without a plain password a readable file is fine.
    home.config(
        "[accounts.a]\nserver = \"x.test\"\npassword_env = \"PW\"\n",
        0o644,
    );
    let out = home.cmd(&["config", "show"]).run();
    assert_eq!(out.code, 0, "{out}");
}
