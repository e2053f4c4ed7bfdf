//! Provider presets (data/presets.toml) in `send`, `config show` and
//! `--help`, and `missive probe` against the Postfix testbed, each run with a
//! configuration of its own ([`Home`]).

use crate::support::*;

// ======================================================================================
// Presets
// ======================================================================================

/// The presets of data/presets.toml: key, server, tls, note.
fn presets() -> Vec<(String, String, String, String)> {
    let table: toml::Table =
        toml::from_str(include_str!("../data/presets.toml")).expect("presets.toml parses");
    table
        .iter()
        .map(|(k, v)| {
            let s = |f: &str| v[f].as_str().unwrap().to_string();
            (k.clone(), s("server"), s("tls"), s("note"))
        })
        .collect()
}

#[test]
fn preset_office365_in_send_and_config_show() {
    let home = Home::new("o365");
    let out = home
        .cmd(&[
            "send",
            "--preset",
            "office365",
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
        out.stdout
            .lines()
            .next()
            .unwrap_or("")
            .contains("via smtp.office365.com:587"),
        "{out}"
    );
    let out = home.cmd(&["config", "show", "--preset", "office365"]).run();
    assert_eq!(out.code, 0, "{out}");
    assert_shown(&out, "tls", "starttls", "preset office365");
    assert_shown(&out, "auth", "xoauth2", "preset office365");
    assert_shown(&out, "server", "smtp.office365.com:587", "preset office365");
    let note = head(&out, "note");
    assert!(note.contains("OAuth2"), "{out}");
    assert!(note.contains("5.7.30"), "{out}");
    let j = home
        .cmd(&["config", "show", "--preset", "office365", "--json"])
        .run()
        .json();
    assert_eq!(j["preset"], "office365");
    assert_eq!(j["note"].as_str().unwrap(), note);
}

#[test]
fn every_preset_works_in_config_show() {
    let home = Home::new("presets");
    let all = presets();
    assert!(all.len() >= 11, "{all:?}");
    for (key, server, tls, note) in &all {
        let out = home.cmd(&["config", "show", "--preset", key]).run();
        assert_eq!(out.code, 0, "{key}\n{out}");
        let src = format!("preset {key}");
        assert_shown(&out, "server", server, &src);
        assert_shown(&out, "tls", tls, &src);
        assert!(shown(&out, "auth").is_some(), "{key}\n{out}");
        assert_eq!(&head(&out, "note"), note, "{key}");
        // And a dry run goes to that server.
        let out = home
            .cmd(&[
                "send",
                "--preset",
                key,
                "--from",
                "a@b.test",
                "--to",
                "c@d.test",
                "--body",
                "x",
                "--auth",
                "none",
                "--dry-run",
            ])
            .run();
        assert_eq!(out.code, 0, "{key}\n{out}");
        assert!(
            out.stdout.contains(&format!("via {server},")),
            "{key}\n{out}"
        );
    }
}

#[test]
fn the_presets_named_in_send_help_are_the_presets_there_are() {
    let home = Home::new("help");
    let out = home.cmd(&["send", "--help"]).run();
    assert_eq!(out.code, 0, "{out}");
    let line = out
        .stdout
        .lines()
        .skip_while(|l| !l.contains("--preset"))
        .nth(1)
        .unwrap_or_default()
        .to_string();
    let listed: std::collections::BTreeSet<String> = line
        .split_once(':')
        .map(|(_, l)| l)
        .unwrap_or_default()
        .trim()
        .trim_end_matches('.')
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    let known: std::collections::BTreeSet<String> = presets().into_iter().map(|p| p.0).collect();
    assert_eq!(listed, known, "send --help:\n{}", out.stdout);
}

#[test]
fn an_unknown_preset_is_a_usage_error_listing_the_known_ones() {
    let home = Home::new("nopreset");
    for args in [
        &["config", "show", "--preset", "hotmale"][..],
        &[
            "send",
            "--preset",
            "hotmale",
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
        assert_eq!(out.code, 64, "{out}");
        let (line, _) = out.error_and_next();
        assert!(line.contains("hotmale"), "{out}");
        for (key, ..) in presets() {
            assert!(line.contains(&key), "{key} not listed\n{out}");
        }
    }
    // The same from an account and from MISSIVE_PRESET.
    home.config("[accounts.default]\npreset = \"hotmale\"\n", 0o600);
    let out = home.cmd(&["config", "show"]).run();
    assert_eq!(out.code, 64, "{out}");
    assert!(out.stderr.contains("office365"), "{out}");
    let empty = Home::new("nopreset-env");
    let out = empty
        .cmd(&["config", "show"])
        .env("MISSIVE_PRESET", "hotmale")
        .run();
    assert_eq!(out.code, 64, "{out}");
}

// ======================================================================================
// probe against Postfix
// ======================================================================================

#[test]
fn probe_submission_reports_starttls_auth_after_tls_certificate_and_size() {
    let tb = testbed!();
    let home = Home::new("probe");
    let ca = tb.ca();
    let out = home.cmd(&["probe", "127.0.0.1:5870", "--cafile", ca]).run();
    assert_eq!(out.code, 0, "{out}");
    let line = |k: &str| head(&out, k);
    assert_eq!(line("starttls"), "offered", "{out}");
    assert!(line("certificate").contains("CN=mx.testbed.test"), "{out}");
    assert_eq!(line("verified"), "yes", "{out}");
    assert!(line("auth").contains("offered only after TLS"), "{out}");
    assert!(line("size").starts_with("10485760"), "{out}");

    let out = home
        .cmd(&["probe", "127.0.0.1:5870", "--cafile", ca, "--json"])
        .run();
    assert_eq!(out.code, 0, "{out}");
    let j = out.json();
    assert_eq!(j["starttls_offered"], true, "{j:#}");
    assert_eq!(j["auth_only_after_tls"], true, "{j:#}");
    assert_eq!(j["size_limit"], 10485760, "{j:#}");
    assert_eq!(j["tls"]["verified"], true, "{j:#}");
    assert!(j["tls"]["certificate"]["subject"]
        .as_str()
        .unwrap()
        .contains("CN=mx.testbed.test"));
    assert!(
        !j["ehlo"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k.as_str().unwrap().starts_with("AUTH")),
        "no AUTH before TLS: {j:#}"
    );
    let mechs: Vec<&str> = j["auth_mechanisms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap())
        .collect();
    assert!(
        mechs.contains(&"PLAIN") && mechs.contains(&"LOGIN"),
        "{j:#}"
    );
    assert_eq!(j["exit_code"], 0);
}

#[test]
fn probe_implicit_tls_port() {
    let tb = testbed!();
    let home = Home::new("probe-465");
    let out = home
        .cmd(&[
            "probe",
            "localhost:4650",
            "--tls",
            "implicit",
            "--cafile",
            tb.ca(),
            "--json",
        ])
        .run();
    assert_eq!(out.code, 0, "{out}");
    let j = out.json();
    assert_eq!(j["tls"]["verified"], true, "{j:#}");
    assert_eq!(j["starttls_offered"], false, "{j:#}");
    assert!(j["greeting"].as_str().unwrap().starts_with("220 "), "{j:#}");
    assert!(
        !j["auth_mechanisms"].as_array().unwrap().is_empty(),
        "{j:#}"
    );
    assert_eq!(j["size_limit"], 10485760);
}

#[test]
fn probe_without_the_ca_says_not_verified() {
    // probes the testbed's submission port, without its CA
    testbed!();
    let home = Home::new("probe-noca");
    let out = home.cmd(&["probe", "127.0.0.1:5870"]).run();
    assert_eq!(out.code, 77, "{out}");
    let verified = head(&out, "verified");
    assert!(verified.starts_with("NO"), "{out}");
    assert!(verified.contains("CA"), "the reason names the CA\n{out}");
    // The report is still complete.
    assert!(
        head(&out, "certificate").contains("CN=mx.testbed.test"),
        "{out}"
    );
    let out = home.cmd(&["probe", "127.0.0.1:5870", "--json"]).run();
    assert_eq!(out.code, 77, "{out}");
    let j = out.json();
    assert_eq!(j["tls"]["verified"], false, "{j:#}");
    assert_eq!(j["exit_code"], 77, "{j:#}");
}

#[test]
fn probe_login_with_right_and_wrong_password() {
    let tb = testbed!();
    let home = Home::new("probe-login");
    let ca = tb.ca();
    let args = [
        "probe",
        "127.0.0.1:5870",
        "--cafile",
        ca,
        "--user",
        "tester@example.test",
        "--password-env",
        "P",
    ];
    let out = home.cmd(&args).env("P", "testpass").run();
    assert_eq!(out.code, 0, "{out}");
    assert!(head(&out, "login").starts_with("ok"), "{out}");

    let out = home.cmd(&args).env("P", "Wr0ng-Pr0be-Pw").run();
    assert_eq!(out.code, 77, "{out}");
    assert!(head(&out, "login").starts_with("FAILED"), "{out}");
    assert!(head(&out, "login").contains("535"), "{out}");
    let hint = head(&out, "hint");
    assert!(hint.contains("password"), "{out}");
    assert!(!out.all().contains("Wr0ng-Pr0be-Pw"), "{out}");

    let mut json_args = args.to_vec();
    json_args.push("--json");
    let out = home.cmd(&json_args).env("P", "Wr0ng-Pr0be-Pw").run();
    assert_eq!(out.code, 77, "{out}");
    let j = out.json();
    assert_eq!(j["login"]["ok"], false, "{j:#}");
    assert!(j["login"]["hint"].as_str().is_some(), "{j:#}");
    let out = home.cmd(&json_args).env("P", "testpass").run();
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(out.json()["login"]["ok"], true);
}

#[test]
fn probe_mx_port_offers_starttls() {
    let tb = testbed!();
    let home = Home::new("probe-mx");
    let out = home
        .cmd(&["probe", "127.0.0.1:2525", "--cafile", tb.ca()])
        .run();
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(head(&out, "starttls"), "offered", "{out}");
    assert_eq!(head(&out, "verified"), "yes", "{out}");
    assert_eq!(head(&out, "auth"), "none offered", "{out}");
}
