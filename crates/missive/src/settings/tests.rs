use super::*;

/// Runs `resolve` with a config file and environment of its own.
fn with(config: &str, env_vars: &[(&str, &str)], flags: Overrides) -> Settings {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("missive-settings-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("config.toml");
    crate::secrets::files::write_private(&path, config.as_bytes()).unwrap();
    let flags = Overrides {
        config: Some(path),
        ..flags
    };
    // The environment is process-wide: these tests set only variables no other test reads.
    let _guard = ENV_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    for (k, v) in env_vars {
        std::env::set_var(k, v);
    }
    let s = resolve(&flags);
    for (k, _) in env_vars {
        std::env::remove_var(k);
    }
    std::fs::remove_dir_all(&dir).ok();
    s.unwrap()
}

static ENV_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

const CONFIG: &str = "[accounts.work]\npreset = \"office365\"\nuser = \"alice@contoso.test\"\nfrom = \"*@contoso.test\"\nauth = \"login\"\npassword_cmd = \"pass show work\"\n\n[accounts.home]\nserver = \"smtp.home.test\"\nport = 2525\nfrom = \"me@home.test\"\npassword = \"s3cret\"\n";

fn secret_of(s: &Settings) -> Option<&SecretSource> {
    s.login.as_ref().map(|l| &l.secret)
}

#[test]
fn precedence_flag_env_account_preset() {
    let s = with(
        CONFIG,
        &[],
        Overrides {
            from: Some("bob@contoso.test".into()),
            ..Overrides::default()
        },
    );
    let p = &s.provenance;
    assert_eq!(p.account.as_deref(), Some("work"));
    assert_eq!(s.server.as_deref(), Some("smtp.office365.com:587"));
    assert_eq!(s.tls, Some(TlsSetting::Starttls));
    assert_eq!(s.auth, AuthSetting::Login, "account beats preset");
    assert!(matches!(secret_of(&s), Some(SecretSource::Command(c)) if c == "pass show work"));
    assert_eq!(
        p.source_of("server"),
        Some(&Source::Preset("office365".into()))
    );
    assert_eq!(p.source_of("auth"), Some(&Source::Account("work".into())));
    assert_eq!(p.source_of("from"), Some(&Source::Flag));

    let s = with(
        CONFIG,
        &[
            ("MISSIVE_SERVER", "smtp.office365.com:25"),
            ("MISSIVE_TLS", "none"),
        ],
        Overrides {
            from: Some("bob@contoso.test".into()),
            tls: Some(TlsSetting::Implicit),
            ..Overrides::default()
        },
    );
    assert_eq!(
        s.server.as_deref(),
        Some("smtp.office365.com:25"),
        "environment beats account and preset"
    );
    assert_eq!(
        s.tls,
        Some(TlsSetting::Implicit),
        "command line beats environment"
    );
    assert_eq!(
        s.provenance.source_of("server"),
        Some(&Source::Env("MISSIVE_SERVER".into()))
    );
    assert!(
        secret_of(&s).is_some(),
        "the same host keeps the account's login"
    );
}

#[test]
fn account_port_plain_password_and_redaction() {
    let s = with(
        CONFIG,
        &[],
        Overrides {
            account: Some("home".into()),
            user: Some("me".into()),
            ..Overrides::default()
        },
    );
    assert_eq!(s.server.as_deref(), Some("smtp.home.test:2525"));
    assert_eq!(s.from.as_deref(), Some("me@home.test"));
    assert!(matches!(secret_of(&s), Some(SecretSource::Value(v)) if v.expose() == "s3cret"));
    let shown = serde_json::to_string(&s.provenance).unwrap();
    assert!(!shown.contains("s3cret"), "{shown}");
    assert!(shown.contains("<redacted>"));
}

#[test]
fn credentials_stay_with_the_account_server() {
    const ACCOUNT: &str = "default = \"home\"\n[accounts.home]\npreset = \"office365\"\nuser = \"me@contoso.test\"\npassword = \"s3cret\"\n";
    let cases = [
        (
            Overrides {
                server: Some("elsewhere.test:587".into()),
                ..Overrides::default()
            },
            vec![],
        ),
        (
            Overrides::default(),
            vec![("MISSIVE_SERVER", "elsewhere.test")],
        ),
        (
            Overrides {
                preset: Some("gmail".into()),
                ..Overrides::default()
            },
            vec![],
        ),
    ];
    for (flags, env) in cases {
        let s = with(ACCOUNT, &env, flags);
        assert!(!s.server.as_deref().unwrap().contains("office365"));
        assert!(s.login.is_none(), "{:?} to {:?}", s.login, s.server);
        assert!(s.user.is_none());
        let shown = serde_json::to_string(&s.provenance).unwrap();
        assert!(shown.contains("are for smtp.office365.com"), "{shown}");
    }
    let s = with(
        ACCOUNT,
        &[],
        Overrides {
            server: Some("SMTP.office365.com:25".into()),
            ..Overrides::default()
        },
    );
    assert!(s.login.is_some(), "the account's own host, another port");
    let s = with(ACCOUNT, &[], Overrides::default());
    assert!(matches!(secret_of(&s), Some(SecretSource::Value(_))));
}

#[test]
fn ports_join_servers() {
    assert_eq!(with_port("h.test", 25), "h.test:25");
    assert_eq!(with_port("h.test:26", 25), "h.test:26");
    assert_eq!(with_port("::1", 5870), "[::1]:5870");
    assert_eq!(with_port("[::1]", 5870), "[::1]:5870");
    assert_eq!(with_port("[::1]:26", 5870), "[::1]:26");
}

#[test]
fn direct_keeps_server_empty() {
    let s = with(
        CONFIG,
        &[],
        Overrides {
            direct: true,
            account: Some("home".into()),
            ..Overrides::default()
        },
    );
    assert!(s.server.is_none());
}

#[test]
fn the_dnssec_trust_anchor_comes_from_flag_env_or_account() {
    let config = "[accounts.a]\ndnssec_trust_anchor = \"/etc/missive/root.key\"\n";
    let a = |flag: Option<&str>| Overrides {
        account: Some("a".into()),
        dnssec_trust_anchor: flag.map(PathBuf::from),
        ..Overrides::default()
    };
    let s = with(config, &[], a(None));
    assert_eq!(
        s.dnssec_trust_anchor,
        Some(PathBuf::from("/etc/missive/root.key"))
    );
    let s = with(config, &[("MISSIVE_DNSSEC_TRUST_ANCHOR", "none")], a(None));
    assert_eq!(s.dnssec_trust_anchor, Some(PathBuf::from("none")));
    let s = with(
        config,
        &[("MISSIVE_DNSSEC_TRUST_ANCHOR", "none")],
        a(Some("/tmp/k.ds")),
    );
    assert_eq!(s.dnssec_trust_anchor, Some(PathBuf::from("/tmp/k.ds")));
    assert_eq!(
        with("", &[], Overrides::default()).dnssec_trust_anchor,
        None
    );
}

#[test]
fn direct_connection_limits_are_settings() {
    let config = "[accounts.a]\ndirect_connections = 12\ndirect_connections_per_domain = 3\n";
    let a = || Overrides {
        account: Some("a".into()),
        ..Overrides::default()
    };
    let s = with(config, &[], a());
    assert_eq!(
        (s.direct_connections, s.direct_connections_per_domain),
        (Some(12), Some(3))
    );
    let s = with(
        config,
        &[
            ("MISSIVE_DIRECT_CONNECTIONS", "7"),
            ("MISSIVE_DIRECT_CONNECTIONS_PER_DOMAIN", "1"),
        ],
        a(),
    );
    assert_eq!(
        (s.direct_connections, s.direct_connections_per_domain),
        (Some(7), Some(1))
    );
    let s = with("", &[], Overrides::default());
    assert_eq!(
        (s.direct_connections, s.direct_connections_per_domain),
        (None, None)
    );
}

#[test]
fn the_deadline_of_each_route_and_the_direct_only_name() {
    use std::time::Duration;
    let config = "[accounts.a]\nfrom = \"a@a.test\"\ndeadline = 90\ndirect_deadline = 42\n";
    let opts = |s: &Settings| mailer_options(s, true, 0).unwrap().deadline;
    let relay = Overrides {
        account: Some("a".into()),
        server: Some("smtp.a.test".into()),
        ..Overrides::default()
    };
    let direct = Overrides {
        account: Some("a".into()),
        direct: true,
        ..Overrides::default()
    };
    // The account's own: relay takes `deadline`, direct the direct-only name.
    assert_eq!(
        opts(&with(config, &[], relay.clone())),
        Some(Duration::from_secs(90))
    );
    assert_eq!(
        opts(&with(config, &[], direct.clone())),
        Some(Duration::from_secs(42))
    );
    // A higher layer's `deadline` beats the account's `direct_deadline`.
    let flag = Overrides {
        deadline: Some(5),
        ..direct.clone()
    };
    assert_eq!(opts(&with(config, &[], flag)), Some(Duration::from_secs(5)));
    // Nothing set: the default, which grows with the message.
    let none = with("", &[], Overrides::default());
    let o = mailer_options(&none, true, 0).unwrap();
    assert_eq!(o.deadline, None);
    assert_eq!(o.deadline_for(0), Duration::from_secs(600));
    assert_eq!(o.deadline_for(64 * 1024 * 100), Duration::from_secs(700));
}
