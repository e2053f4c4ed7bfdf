//! Where each setting comes from, end to end: flag, environment, account,
//! preset and default, in `config show`, `send` and `--dry-run`; account
//! selection; which configuration file is read; configuration errors. The
//! real `missive` binary runs with a configuration of its own ([`Home`]:
//! HOME and the XDG directories point into a fresh directory, and no
//! MISSIVE_* variable leaks in from the caller).

use crate::support::*;

// ======================================================================================
// Settings precedence
// ======================================================================================

const WORK: &str = r#"
[accounts.work]
preset = "office365"
user = "alice@contoso.test"
from = "*@contoso.test"
auth = "login"
ehlo = "client.contoso.test"
timeout = 45
password_cmd = "pass show work"
"#;

#[test]
fn config_show_includes_the_outbox_settings() {
    let home = Home::new("queue-show");
    home.config(
        "queue = \"on-failure\"\nqueue_lifetime = \"2d\"\n[accounts.a]\nfrom = \"a@a.test\"\nqueue = \"always\"\n",
        0o600,
    );
    let out = home.cmd(&["config", "show"]).run();
    assert_eq!(out.code, 0, "{out}");
    let line = head(&out, "queue");
    assert!(line.starts_with("on-failure;"), "{line}");
    assert!(line.contains("for 2d"), "{line}");
    assert!(line.contains("doubling up to 1h"), "{line}");
    // The account's mode wins over the file's; the environment's lifetime over both.
    let out = home
        .cmd(&["config", "show", "--account", "a", "--json"])
        .env("MISSIVE_QUEUE_LIFETIME", "3h")
        .run();
    assert_eq!(out.code, 0, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
    assert_eq!(v["queue"]["when"], "always", "{out}");
    assert_eq!(v["queue"]["lifetime_secs"], 3 * 3600, "{out}");
}

#[test]
fn precedence_flag_environment_account_preset_in_config_show() {
    let home = Home::new("prec");
    home.config(WORK, 0o600);
    let out = home
        .cmd(&["config", "show", "--from", "bob@contoso.test"])
        .env("MISSIVE_SERVER", "relay.env.test:2525")
        .env("MISSIVE_TIMEOUT", "7")
        .run();
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(
        head(&out, "config"),
        home.config_path().display().to_string()
    );
    assert_eq!(head(&out, "account"), "work");
    assert_eq!(head(&out, "preset"), "office365");
    assert_shown(&out, "from", "bob@contoso.test", "command line");
    assert_shown(
        &out,
        "server",
        "relay.env.test:2525",
        "environment MISSIVE_SERVER",
    );
    assert_shown(&out, "timeout", "7", "environment MISSIVE_TIMEOUT");
    assert_shown(&out, "auth", "login", "account work");
    assert_shown(&out, "ehlo", "client.contoso.test", "account work");
    assert_shown(&out, "tls", "starttls", "preset office365");
    // The account's login belongs to its own server, not to the one the
    // environment names: neither its user nor its secret goes there.
    assert!(shown(&out, "user").is_none(), "{out}");
    assert_shown(
        &out,
        "secret",
        "none: the credentials of account work are for smtp.office365.com, not for this server",
        "account work",
    );

    // The same, as JSON.
    let out = home
        .cmd(&["config", "show", "--from", "bob@contoso.test", "--json"])
        .env("MISSIVE_SERVER", "relay.env.test:2525")
        .run();
    assert_eq!(out.code, 0, "{out}");
    let j = out.json();
    assert_eq!(j["account"], "work");
    assert_eq!(
        entry(&j, "server")["source"],
        serde_json::json!({"kind": "env", "name": "MISSIVE_SERVER"})
    );
    assert_eq!(entry(&j, "from")["source"]["kind"], "flag");
    assert_eq!(
        entry(&j, "auth")["source"],
        serde_json::json!({"kind": "account", "name": "work"})
    );
    assert_eq!(
        entry(&j, "tls")["source"],
        serde_json::json!({"kind": "preset", "name": "office365"})
    );

    // Without the environment the preset fills the server; MISSIVE_TLS beats the preset,
    // and MISSIVE_AUTH beats the account.
    let out = home
        .cmd(&["config", "show", "--from", "bob@contoso.test"])
        .env("MISSIVE_TLS", "implicit")
        .env("MISSIVE_AUTH", "plain")
        .env("MISSIVE_USER", "env-user@contoso.test")
        .run();
    assert_eq!(out.code, 0, "{out}");
    assert_shown(&out, "server", "smtp.office365.com:587", "preset office365");
    assert_shown(&out, "tls", "implicit", "environment MISSIVE_TLS");
    assert_shown(&out, "auth", "plain", "environment MISSIVE_AUTH");
    assert_shown(
        &out,
        "user",
        "env-user@contoso.test",
        "environment MISSIVE_USER",
    );
    assert_shown(&out, "ehlo", "client.contoso.test", "account work");
}

#[test]
fn preset_on_the_command_line_beats_the_accounts_preset() {
    let home = Home::new("prec-preset");
    home.config(WORK, 0o600);
    let out = home
        .cmd(&["config", "show", "--account", "work", "--preset", "gmail"])
        .run();
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(head(&out, "preset"), "gmail");
    assert_shown(&out, "server", "smtp.gmail.com:465", "preset gmail");
    assert_shown(&out, "tls", "implicit", "preset gmail");
    // The account's own auth still beats any preset.
    assert_shown(&out, "auth", "login", "account work");
    // MISSIVE_PRESET is below the command line, above the account.
    let out = home
        .cmd(&["config", "show", "--account", "work"])
        .env("MISSIVE_PRESET", "aol")
        .run();
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(head(&out, "preset"), "aol");
    assert_shown(&out, "server", "smtp.aol.com:465", "preset aol");
}

#[test]
fn send_dry_run_uses_the_same_precedence() {
    let home = Home::new("prec-send");
    home.config(
        "[accounts.work]\nserver = \"acct.contoso.test\"\nport = 2525\nfrom = \"*@contoso.test\"\n",
        0o600,
    );
    let send = |extra: &[&str]| {
        let mut args = vec![
            "send",
            "--from",
            "bob@contoso.test",
            "--to",
            "c@d.test",
            "--body",
            "x",
            "--dry-run",
        ];
        args.extend_from_slice(extra);
        args.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    };
    let args = send(&[]);
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = home.cmd(&a).run();
    assert_eq!(out.code, 0, "{out}");
    assert!(
        out.stdout.contains("via acct.contoso.test:2525,"),
        "the account's server and port\n{out}"
    );
    let out = home
        .cmd(&a)
        .env("MISSIVE_SERVER", "env.contoso.test:2526")
        .run();
    assert!(out.stdout.contains("via env.contoso.test:2526,"), "{out}");
    let args = send(&["--server", "flag.contoso.test:2527"]);
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = home
        .cmd(&a)
        .env("MISSIVE_SERVER", "env.contoso.test:2526")
        .run();
    assert!(out.stdout.contains("via flag.contoso.test:2527,"), "{out}");
}

#[test]
fn bad_environment_values_are_configuration_errors() {
    let home = Home::new("badenv");
    for (k, v) in [
        ("MISSIVE_TLS", "sometimes"),
        ("MISSIVE_AUTH", "magic"),
        ("MISSIVE_TIMEOUT", "soon"),
    ] {
        let out = home.cmd(&["config", "show"]).env(k, v).run();
        assert_eq!(out.code, 78, "{k}={v}\n{out}");
        assert!(out.stderr.contains(k), "the message names {k}\n{out}");
    }
}

const SELECTION: &str = r#"
default = "home"

[accounts.any-contoso]
server = "pattern.contoso.test"
from = "*@contoso.test"

[accounts.boss]
server = "boss.contoso.test"
from = "boss@contoso.test"

[accounts.home]
server = "home.test"
from = "me@home.test"
"#;

#[test]
fn account_selection_by_from_pattern_exact_name_and_default() {
    let home = Home::new("select");
    home.config(SELECTION, 0o600);
    let show = |args: &[&str], env: &[(&str, &str)]| {
        let mut all = vec!["config", "show"];
        all.extend_from_slice(args);
        let mut c = home.cmd(&all);
        for (k, v) in env {
            c = c.env(k, v);
        }
        let out = c.run();
        assert_eq!(out.code, 0, "{args:?}\n{out}");
        out
    };
    // A pattern, in any case.
    let out = show(&["--from", "x@CONTOSO.test"], &[]);
    assert_eq!(head(&out, "account"), "any-contoso");
    assert_shown(
        &out,
        "server",
        "pattern.contoso.test",
        "account any-contoso",
    );
    // The pattern's `*` is not a sender: the flag stays the sender.
    assert_shown(&out, "from", "x@CONTOSO.test", "command line");
    // A display form is matched by its address.
    let out = show(&["--from", "Bob <bob@contoso.test>"], &[]);
    assert_eq!(head(&out, "account"), "any-contoso");
    // An exact address beats a pattern, even one listed first, and in a display form.
    let out = show(&["--from", "Boss <boss@contoso.test>"], &[]);
    assert_eq!(head(&out, "account"), "boss");
    assert_shown(&out, "server", "boss.contoso.test", "account boss");
    // A subdomain does not match `*@contoso.test`: the default account.
    let out = show(&["--from", "x@sub.contoso.test"], &[]);
    assert_eq!(head(&out, "account"), "home");
    // No --from: the default account, and its from is the sender.
    let out = show(&[], &[]);
    assert_eq!(head(&out, "account"), "home");
    assert_shown(&out, "from", "me@home.test", "account home");
    // --account wins over a matching --from.
    let out = show(&["--account", "home", "--from", "boss@contoso.test"], &[]);
    assert_eq!(head(&out, "account"), "home");
    assert_shown(&out, "server", "home.test", "account home");
    // MISSIVE_ACCOUNT selects, below --account.
    let out = show(&[], &[("MISSIVE_ACCOUNT", "boss")]);
    assert_eq!(head(&out, "account"), "boss");
    let out = show(&["--account", "home"], &[("MISSIVE_ACCOUNT", "boss")]);
    assert_eq!(head(&out, "account"), "home");
    // MISSIVE_FROM selects like --from, and is the sender.
    let out = show(&[], &[("MISSIVE_FROM", "y@contoso.test")]);
    assert_eq!(head(&out, "account"), "any-contoso");
    assert_shown(&out, "from", "y@contoso.test", "environment MISSIVE_FROM");
}

#[test]
fn account_named_default_and_a_missing_default() {
    let home = Home::new("default");
    home.config(
        "[accounts.other]\nserver = \"other.test\"\n\n[accounts.default]\nserver = \"dflt.test:2525\"\n",
        0o600,
    );
    let out = home.cmd(&["config", "show"]).run();
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(head(&out, "account"), "default");
    assert_shown(&out, "server", "dflt.test:2525", "account default");

    // `default = NAME` that names no account is an error, not a silent fallback.
    home.config(
        "default = \"gone\"\n[accounts.other]\nserver = \"other.test\"\n",
        0o600,
    );
    let out = home.cmd(&["config", "show"]).run();
    assert_eq!(out.code, 78, "{out}");
    assert!(out.stderr.contains("gone"), "{out}");

    // No account at all: direct delivery is announced.
    home.config("[accounts.other]\nserver = \"other.test\"\n", 0o600);
    let out = home.cmd(&["config", "show"]).run();
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(head(&out, "account"), "none");
    assert!(out.stdout.contains("(no server"), "{out}");
}

#[test]
fn an_unknown_account_is_a_configuration_error_naming_the_accounts() {
    let home = Home::new("unknown-acct");
    home.config(SELECTION, 0o600);
    for args in [
        &["config", "show", "--account", "nope"][..],
        &[
            "send",
            "--account",
            "nope",
            "--to",
            "a@b.test",
            "--body",
            "x",
            "--dry-run",
        ][..],
    ] {
        let out = home.cmd(args).run();
        assert_eq!(out.code, 78, "{out}");
        let (line, _) = out.error_and_next();
        for name in ["nope", "any-contoso", "boss", "home"] {
            assert!(line.contains(name), "{name}\n{out}");
        }
    }
}

#[test]
fn the_config_file_comes_from_flag_then_missive_config_then_xdg() {
    let home = Home::new("path");
    home.config("[accounts.default]\nserver = \"xdg.test\"\n", 0o600);
    let env_file = home.file(
        "env.toml",
        "[accounts.default]\nserver = \"env.test\"\n",
        0o600,
    );
    let flag_file = home.file(
        "flag.toml",
        "[accounts.default]\nserver = \"flag.test\"\n",
        0o600,
    );
    let out = home.cmd(&["config", "show"]).run();
    assert_shown(&out, "server", "xdg.test", "account default");
    let out = home
        .cmd(&["config", "show"])
        .env("MISSIVE_CONFIG", &env_file)
        .run();
    assert_shown(&out, "server", "env.test", "account default");
    assert_eq!(head(&out, "config"), env_file.display().to_string());
    let out = home
        .cmd(&[
            "config",
            "show",
            "--config",
            &flag_file.display().to_string(),
        ])
        .env("MISSIVE_CONFIG", &env_file)
        .run();
    assert_shown(&out, "server", "flag.test", "account default");
    // Without XDG_CONFIG_HOME: ~/.config/missive/config.toml.
    write_mode(
        &home.root.join("home/.config/missive/config.toml"),
        "[accounts.default]\nserver = \"dot-config.test\"\n",
        0o600,
    );
    let out = home
        .cmd(&["config", "show"])
        .env("XDG_CONFIG_HOME", "")
        .run();
    assert_shown(&out, "server", "dot-config.test", "account default");
    // A named file that does not exist is an error; the default one is not.
    let out = home
        .cmd(&["config", "show", "--config", "/nonexistent/missive.toml"])
        .run();
    assert_eq!(out.code, 78, "{out}");
    let empty = Home::new("path-empty");
    let out = empty.cmd(&["config", "show"]).run();
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(head(&out, "config"), "none");
}

// ======================================================================================
// Configuration errors
// ======================================================================================

#[test]
fn configuration_errors_name_the_file_and_line() {
    let home = Home::new("errors");
    let cases = [
        (
            "invalid TOML",
            "# accounts\n[accounts.a]\nserver = \"x.test\"\n[accounts.b\nserver = \"y\"\n",
            4,
            "",
        ),
        (
            "unknown key",
            "[accounts.a]\nserver = \"x.test\"\n\nsever = \"typo\"\n",
            4,
            "sever",
        ),
        (
            "bad value",
            "# c\n[accounts.a]\nserver = \"x.test\"\ntls = \"sometimes\"\n",
            4,
            "sometimes",
        ),
        (
            "unknown top-level key",
            "defualt = \"a\"\n[accounts.a]\nserver = \"x.test\"\n",
            1,
            "defualt",
        ),
        (
            "wrong type",
            "[accounts.a]\nserver = \"x.test\"\nport = \"587\"\n",
            3,
            "",
        ),
    ];
    for (what, text, line, mention) in cases {
        let path = home.config(text, 0o600);
        let prefix = format!("{}:{line}:", path.display());
        for args in [
            &["config", "show"][..],
            &[
                "send",
                "--from",
                "a@b.test",
                "--to",
                "c@d.test",
                "--body",
                "x",
                "--dry-run",
            ][..],
        ] {
            let out = home.cmd(args).run();
            assert_eq!(out.code, 78, "{what}\n{out}");
            let (err, _) = out.error_and_next();
            assert!(
                err.starts_with(&format!("missive: {prefix}")),
                "{what}: expected {prefix}\n{out}"
            );
            assert!(err.contains(mention), "{what}: {mention}\n{out}");
        }
        // The same through --config and MISSIVE_CONFIG, with that path in the message.
        let other = home.file("other.toml", text, 0o600);
        let prefix = format!("missive: {}:{line}:", other.display());
        let out = home
            .cmd(&["config", "show", "--config", &other.display().to_string()])
            .run();
        assert_eq!(out.code, 78, "{what}\n{out}");
        assert!(out.stderr.starts_with(&prefix), "{what}\n{out}");
        let out = home
            .cmd(&["config", "show"])
            .env("MISSIVE_CONFIG", &other)
            .run();
        assert_eq!(out.code, 78, "{what}\n{out}");
        assert!(out.stderr.starts_with(&prefix), "{what}\n{out}");
    }
}

/// An account's password is for its own server: a `--server` or
/// `MISSIVE_SERVER` that names another host does not get it, even when that
/// host offers AUTH over verified TLS.
#[test]
fn account_credentials_do_not_follow_another_server() {
    use crate::support::fake_smtp::{self, Script, Server};
    let home = Home::new("bound");
    home.config(
        "default = \"home\"\n[accounts.home]\nserver = \"smtp.home.test\"\nuser = \"me@home.test\"\npassword = \"acct-secret-7731\"\n",
        0o600,
    );
    for via_env in [false, true] {
        let server =
            Server::start(Script::new().caps(&["STARTTLS", "AUTH PLAIN LOGIN", "PIPELINING"]));
        let address = format!("127.0.0.1:{}", server.port);
        let common = [
            "send",
            "--cafile",
            &fake_smtp::ca_file(),
            "--from",
            fake_smtp::FROM,
            "--to",
            fake_smtp::TO,
            "--body",
            fake_smtp::BODY,
            "--timeout",
            "20",
        ]
        .map(String::from);
        let cmd = match via_env {
            false => home.cmd(&[]).args(common).args(["--server", &address]),
            true => home.cmd(&[]).args(common).env("MISSIVE_SERVER", &address),
        };
        let out = cmd.run();
        let log = server.finish();
        assert_eq!(out.code, 0, "{out}");
        assert!(!log.has_verb("AUTH"), "{:?}", log.lines);
        let seen = String::from_utf8_lossy(&log.reads.concat()).to_string();
        assert!(
            !seen.contains("acct-secret-7731") && !seen.contains("me@home.test"),
            "{seen}"
        );
    }
    // The account's own server would have had them: the dry run goes there.
    let dry = home
        .cmd(&[
            "send",
            "--dry-run",
            "--from",
            "a@b.test",
            "--to",
            "c@d.test",
            "--body",
            "x",
        ])
        .run();
    assert!(dry.stdout.contains("via smtp.home.test:587"), "{dry}");
}
