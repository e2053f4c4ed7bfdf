//! `missive account add` and `set-password`, and sending through an account
//! to the Postfix testbed. The real `missive` binary runs with a
//! configuration of its own ([`Home`]: HOME and the XDG directories point
//! into a fresh directory, and no MISSIVE_* variable leaks in from the
//! caller).

use crate::support::*;

// ======================================================================================
// account add
// ======================================================================================

#[test]
fn account_add_creates_a_private_file_keeps_accounts_and_refuses_duplicates() {
    let home = Home::new("add");
    let path = home.config_path();
    assert!(!path.exists());
    let out = home
        .cmd(&[
            "account",
            "add",
            "tb",
            "--server",
            "127.0.0.1:5870",
            "--user",
            "tester@example.test",
            "--password-cmd",
            "printf testpass",
        ])
        .run();
    assert_eq!(out.code, 0, "{out}");
    assert!(path.exists(), "{out}");
    assert_eq!(mode_of(&path), 0o600, "a new file is created 0600");
    assert!(
        out.stderr.contains(&path.display().to_string()),
        "says where\n{out}"
    );

    // A second account, with a preset: the first stays, the note is shown.
    let out = home
        .cmd(&[
            "account",
            "add",
            "g",
            "--preset",
            "gmail",
            "--user",
            "me@gmail.com",
        ])
        .run();
    assert_eq!(out.code, 0, "{out}");
    assert!(
        out.stderr.contains("app password"),
        "the preset's note\n{out}"
    );
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.contains("[accounts.tb]") && text.contains("[accounts.g]"),
        "{text}"
    );

    // A duplicate is refused and the file is unchanged.
    let out = home
        .cmd(&["account", "add", "tb", "--server", "other.test:25"])
        .run();
    assert_eq!(out.code, 78, "{out}");
    assert!(out.stderr.contains("already exists"), "{out}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text);

    // Bad names and presets, and no server at all, are usage errors.
    for args in [
        &["account", "add", "bad name", "--server", "x.test"][..],
        &["account", "add", "p", "--preset", "nope"][..],
        &["account", "add", "p"][..],
    ] {
        let out = home.cmd(args).run();
        assert_eq!(out.code, 64, "{args:?}\n{out}");
    }
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text);

    // The added accounts are used.
    let out = home
        .cmd(&[
            "send",
            "--account",
            "tb",
            "--to",
            "rcpt@example.test",
            "--subject",
            "added",
            "--body",
            "x",
            "--dry-run",
        ])
        .run();
    assert_eq!(out.code, 0, "{out}");
    assert!(out.stdout.contains("via 127.0.0.1:5870,"), "{out}");
    assert!(
        out.stdout.contains("MAIL FROM:<tester@example.test>"),
        "from defaults to the user\n{out}"
    );
    assert!(out.stdout.contains("From: tester@example.test"), "{out}");
    let out = home.cmd(&["config", "show", "--account", "g"]).run();
    assert_eq!(out.code, 0, "{out}");
    assert_shown(&out, "server", "smtp.gmail.com:465", "preset gmail");
    assert_shown(&out, "user", "me@gmail.com", "account g");
    // The account's from selects it.
    let out = home
        .cmd(&["config", "show", "--from", "me@gmail.com"])
        .run();
    assert_eq!(head(&out, "account"), "g", "{out}");
}

#[test]
fn account_add_keeps_an_existing_file_and_tightens_it() {
    let home = Home::new("add-existing");
    let original = "# my accounts\ndefault = \"old\"\n\n[accounts.old]\nserver = \"old.test:2525\" # keep me\nfrom = \"old@old.test\"\n";
    let path = home.file("custom.toml", original, 0o644);
    let p = path.display().to_string();
    let out = home
        .cmd(&[
            "account",
            "add",
            "new",
            "--server",
            "new.test:587",
            "--from",
            "*@new.test",
            "--tls",
            "implicit",
            "--config",
            &p,
        ])
        .run();
    assert_eq!(out.code, 0, "{out}");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.starts_with(original),
        "the existing text is kept as it was\n{text}"
    );
    assert_eq!(mode_of(&path), 0o600, "the file is made private");
    // The default path was not touched.
    assert!(!home.config_path().exists());
    let out = home.cmd(&["config", "show", "--config", &p]).run();
    assert_eq!(head(&out, "account"), "old", "{out}");
    assert_shown(&out, "server", "old.test:2525", "account old");
    let out = home
        .cmd(&["config", "show", "--config", &p, "--from", "x@new.test"])
        .run();
    assert_eq!(head(&out, "account"), "new", "{out}");
    assert_shown(&out, "tls", "implicit", "account new");
    // MISSIVE_CONFIG is where `account add` writes when no --config is given.
    let out = home
        .cmd(&["account", "add", "third", "--server", "third.test"])
        .env("MISSIVE_CONFIG", &p)
        .run();
    assert_eq!(out.code, 0, "{out}");
    assert!(std::fs::read_to_string(&path)
        .unwrap()
        .contains("[accounts.third]"));
    assert!(!home.config_path().exists());
}

#[test]
fn set_password_needs_an_existing_account() {
    let home = Home::new("setpw");
    home.config("[accounts.a]\nserver = \"x.test\"\n", 0o600);
    let out = home
        .cmd(&["account", "set-password", "nope"])
        .stdin("whatever\n")
        .run();
    assert_eq!(out.code, 78, "{out}");
    assert!(out.stderr.contains("account add nope"), "{out}");
    assert!(!out.all().contains("whatever"), "{out}");
}

#[test]
fn account_add_round_trips_every_field_it_writes() {
    let home = Home::new("add-fields");
    let out = home
        .cmd(&[
            "account",
            "add",
            "k",
            "--server",
            "s.test:2525",
            "--tls",
            "opportunistic",
            "--auth",
            "cram-md5",
            "--user",
            "k-user",
            "--from",
            "K Person <k@k.test>",
            "--keyring",
        ])
        .run();
    assert_eq!(out.code, 0, "{out}");
    assert!(out.stderr.contains("account set-password k"), "{out}");
    let out = home.cmd(&["config", "show", "--account", "k"]).run();
    assert_eq!(out.code, 0, "{out}");
    assert_shown(&out, "server", "s.test:2525", "account k");
    assert_shown(&out, "tls", "opportunistic", "account k");
    assert_shown(&out, "auth", "cram-md5", "account k");
    assert_shown(&out, "user", "k-user", "account k");
    assert_shown(&out, "from", "K Person <k@k.test>", "account k");
    let (secret, source) = shown(&out, "secret").expect("secret line");
    assert!(
        secret.starts_with("<redacted>") && secret.contains("keyring"),
        "{out}"
    );
    assert_eq!(source, "account k");
    // An OAuth token command is shown as a source, never run.
    let marker = home.root.join("token-cmd-ran");
    let cmd = format!("touch {}; printf tok", marker.display());
    let out = home
        .cmd(&[
            "account",
            "add",
            "o",
            "--preset",
            "office365",
            "--user",
            "o@contoso.test",
            "--oauth-token-cmd",
            &cmd,
        ])
        .run();
    assert_eq!(out.code, 0, "{out}");
    let out = home.cmd(&["config", "show", "--account", "o"]).run();
    assert_eq!(out.code, 0, "{out}");
    let (secret, _) = shown(&out, "secret").expect("secret line");
    assert!(
        secret.starts_with("<redacted>") && secret.contains("OAuth token"),
        "{out}"
    );
    assert!(!marker.exists(), "config show ran the token command");
}

#[test]
fn account_port_applies_to_a_bare_ipv6_server() {
    let home = Home::new("v6-port");
    home.config(
        "[accounts.v6]\nserver = \"::1\"\nport = 5870\n[accounts.v6b]\nserver = \"[::1]\"\nport = 5870\n",
        0o600,
    );
    for account in ["v6b", "v6"] {
        let out = home
            .cmd(&[
                "send",
                "--account",
                account,
                "--from",
                "a@b.test",
                "--to",
                "c@d.test",
                "--body",
                "x",
                "--dry-run",
            ])
            .run();
        assert_eq!(out.code, 0, "{out}");
        assert!(
            out.stdout.contains("via [::1]:5870,"),
            "account {account}: the port field must apply\n{out}"
        );
    }
}

#[test]
fn account_add_never_leaves_a_file_that_does_not_load() {
    let home = Home::new("add-inline");
    let original = "accounts = { old = { server = \"old.test\" } }\n";
    let path = home.config(original, 0o600);
    let out = home
        .cmd(&["account", "add", "new", "--server", "new.test"])
        .run();
    // Either it refuses and leaves the file alone, or the result loads.
    if out.code != 0 {
        assert_eq!(std::fs::read_to_string(&path).unwrap(), original, "{out}");
        return;
    }
    let show = home.cmd(&["config", "show", "--account", "old"]).run();
    assert_eq!(
        show.code,
        0,
        "account add exited 0 but the file no longer loads\n{show}\n{}",
        std::fs::read_to_string(&path).unwrap()
    );
    let show = home.cmd(&["config", "show", "--account", "new"]).run();
    assert_eq!(show.code, 0, "{show}");
}

#[test]
fn an_account_from_in_display_form_is_selected_by_its_address() {
    let home = Home::new("display-from");
    home.config(
        "[accounts.named]\nserver = \"named.test\"\nfrom = \"Alice Smith <alice@home.test>\"\n",
        0o600,
    );
    // It works as the sender ...
    let out = home.cmd(&["config", "show", "--account", "named"]).run();
    assert_eq!(out.code, 0, "{out}");
    assert_shown(
        &out,
        "from",
        "Alice Smith <alice@home.test>",
        "account named",
    );
    // ... so --from with that address should select it.
    let out = home
        .cmd(&["config", "show", "--from", "alice@home.test"])
        .run();
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(head(&out, "account"), "named", "{out}");
}

#[test]
fn a_dry_run_needs_no_secret() {
    let home = Home::new("dry-secret");
    // Exactly what `account add` writes without a terminal: a user, no secret.
    let out = home
        .cmd(&[
            "account",
            "add",
            "g",
            "--preset",
            "gmail",
            "--user",
            "me@gmail.com",
        ])
        .run();
    assert_eq!(out.code, 0, "{out}");
    let out = home
        .cmd(&[
            "send",
            "--account",
            "g",
            "--to",
            "c@d.test",
            "--body",
            "x",
            "--dry-run",
        ])
        .run();
    assert_eq!(out.code, 0, "{out}");
    assert!(out.stdout.contains("via smtp.gmail.com:465,"), "{out}");
    // Nor is the password command run.
    let marker = home.root.join("dry-run-ran-the-command");
    home.config(
        &format!(
            "[accounts.c]\nserver = \"c.test\"\nuser = \"c@c.test\"\npassword_cmd = \"touch {}; printf pw\"\n",
            marker.display()
        ),
        0o600,
    );
    let out = home
        .cmd(&[
            "send",
            "--account",
            "c",
            "--from",
            "c@c.test",
            "--to",
            "c@d.test",
            "--body",
            "x",
            "--dry-run",
        ])
        .run();
    assert_eq!(out.code, 0, "{out}");
    assert!(!marker.exists(), "the dry run ran the password command");
}

// ======================================================================================
// Sending through an account to Postfix
// ======================================================================================

#[test]
fn send_through_an_account_to_postfix_submission() {
    let tb = testbed!();
    let home = Home::new("postfix-send");
    home.config(
        &format!(
            r#"
[accounts.testbed]
server = "127.0.0.1"
port = 5870
cafile = "{}"
user = "tester@example.test"
from = "*@example.test"
password_cmd = "printf testpass"
"#,
            tb.ca()
        ),
        0o600,
    );
    let local = unique("acct-send");
    let rcpt = format!("{local}@example.test");
    let subject = format!("account {local}");
    let out = home
        .cmd(&[
            "send",
            "--from",
            "tester@example.test",
            "--to",
            &rcpt,
            "--subject",
            &subject,
            "--body",
            "through an account",
            "--json",
        ])
        .run();
    assert_eq!(out.code, 0, "{out}");
    let j = out.json();
    assert_eq!(j["authenticated"], true, "{j:#}");
    assert_eq!(j["server"], "127.0.0.1:5870");
    assert_eq!(j["tls"]["verified"], true);
    let mail = tb.wait_for_only_mail(&format!("{local}@example.test"));
    assert!(mail.contains(&format!("Subject: {subject}")), "{mail}");
    assert!(
        mail.contains("Authenticated sender: tester@example.test"),
        "{mail}"
    );
    assert!(mail.contains("with ESMTPSA"), "{mail}");
    assert!(mail.contains("through an account"), "{mail}");
}

#[test]
fn a_file_password_never_shows_in_the_transcript() {
    let tb = testbed!();
    use base64::Engine;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let home = Home::new("postfix-filepw");
    home.config(
        &format!(
            "[accounts.default]\nserver = \"127.0.0.1:5870\"\ncafile = \"{}\"\nuser = \"tester@example.test\"\nfrom = \"tester@example.test\"\npassword = \"testpass\"\n",
            tb.ca()
        ),
        0o600,
    );
    for mech in ["plain", "login"] {
        let local = unique(&format!("acct-filepw-{mech}"));
        let rcpt = format!("{local}@example.test");
        let out = home
            .cmd(&["send", "--to", &rcpt, "--body", "x", "--auth", mech, "-vv"])
            .run();
        assert_eq!(out.code, 0, "{out}");
        assert!(
            out.stderr.contains("AUTH"),
            "the transcript shows AUTH\n{out}"
        );
        assert!(out.stderr.contains("<redacted>"), "{out}");
        for leak in [
            "testpass".to_string(),
            b64("testpass"),
            b64("\0tester@example.test\0testpass"),
        ] {
            assert!(!out.all().contains(&leak), "{leak} printed\n{out}");
        }
        tb.wait_for_only_mail(&format!("{local}@example.test"));
    }
}

#[test]
fn an_added_account_with_environment_settings_delivers_to_postfix() {
    let tb = testbed!();
    let home = Home::new("postfix-added");
    let out = home
        .cmd(&[
            "account",
            "add",
            "sub",
            "--server",
            "localhost:5870",
            "--user",
            "tester@example.test",
            "--password-env",
            "SUB_PW",
        ])
        .run();
    assert_eq!(out.code, 0, "{out}");
    let local = unique("acct-added");
    let rcpt = format!("{local}@example.test");
    // `account add` has no --cafile: MISSIVE_CAFILE supplies it.
    let out = home
        .cmd(&["send", "--account", "sub", "--to", &rcpt, "--body", "added"])
        .env("MISSIVE_CAFILE", tb.ca())
        .env("SUB_PW", "testpass")
        .run();
    assert_eq!(out.code, 0, "{out}");
    assert!(out.stdout.contains("via localhost:5870"), "{out}");
    let mail = tb.wait_for_only_mail(&format!("{local}@example.test"));
    assert!(
        mail.contains("Return-Path: <tester@example.test>"),
        "{mail}"
    );
    assert!(
        mail.contains("Authenticated sender: tester@example.test"),
        "{mail}"
    );

    // The wrong password from the environment: 77, a hint, nothing delivered.
    let local = unique("acct-added-wrong");
    let rcpt = format!("{local}@example.test");
    let out = home
        .cmd(&["send", "--account", "sub", "--to", &rcpt, "--body", "added"])
        .env("MISSIVE_CAFILE", tb.ca())
        .env("SUB_PW", "wrong-password")
        .run();
    assert_eq!(out.code, 77, "{out}");
    assert!(out.hint().contains("password"), "{out}");
    assert!(!out.all().contains("wrong-password"), "{out}");
    tb.assert_not_delivered(&format!("{local}@example.test"));
}
