//! Accounts, presets, settings precedence, hints and probe, end to end: the
//! real `missive` binary with a configuration of its own (XDG_CONFIG_HOME and
//! HOME point into a fresh directory, and no MISSIVE_* variable leaks in
//! from the caller), against scripted fake servers and the Postfix testbed
//! (`testbed/`; the tests that need it are skipped when it is not running,
//! unless MISSIVE_TESTBED is set).

mod fake;
#[path = "common/support.rs"]
mod support;

use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::Command as Process;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use fake::{Script, Server, Step};
use missive_smtp::Command;
use support::{run_finished, TempDir};

/// The longest one run of `missive` may take before it is killed.
const RUN_DEADLINE: Duration = Duration::from_secs(60);
/// How long to poll for a delivered Maildir file.
const DELIVERY_WAIT: Duration = Duration::from_secs(10);

// ---- an isolated home ------------------------------------------------------------

/// A directory of its own for one test: `xdg/` is XDG_CONFIG_HOME, `home/` is
/// HOME. Removed when dropped.
struct Home {
    root: TempDir,
}

impl Home {
    fn new(tag: &str) -> Home {
        let root = TempDir::new_in(
            Path::new(env!("CARGO_TARGET_TMPDIR")),
            &format!("accounts-{tag}"),
        );
        std::fs::create_dir_all(root.join("xdg")).unwrap();
        std::fs::create_dir_all(root.join("home")).unwrap();
        Home { root }
    }

    fn xdg(&self) -> PathBuf {
        self.root.join("xdg")
    }

    /// Where missive looks for its configuration by default.
    fn config_path(&self) -> PathBuf {
        self.xdg().join("missive").join("config.toml")
    }

    /// Writes the default configuration file with this mode.
    fn config(&self, text: &str, mode: u32) -> PathBuf {
        let path = self.config_path();
        write_mode(&path, text, mode);
        path
    }

    /// Writes a file under the root with this mode.
    fn file(&self, name: &str, text: &str, mode: u32) -> PathBuf {
        let path = self.root.join(name);
        write_mode(&path, text, mode);
        path
    }

    /// `missive ARGS` with this home.
    fn cmd(&self, args: &[&str]) -> Cmd {
        Cmd {
            args: args.iter().map(|s| s.to_string()).collect(),
            envs: vec![
                ("XDG_CONFIG_HOME".into(), self.xdg().display().to_string()),
                ("HOME".into(), self.root.join("home").display().to_string()),
            ],
            stdin: None,
        }
    }
}

fn write_mode(path: &Path, text: &str, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).unwrap();
    }
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn mode_of(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

// ---- running the binary -------------------------------------------------------------

struct Cmd {
    args: Vec<String>,
    envs: Vec<(String, String)>,
    stdin: Option<Vec<u8>>,
}

/// How a run ended.
struct Out {
    code: i32,
    stdout: String,
    stderr: String,
    elapsed: Duration,
}

impl std::fmt::Display for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {} after {:?}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.elapsed, self.stdout, self.stderr
        )
    }
}

impl Out {
    /// stdout and stderr together.
    fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }

    /// stdout as JSON.
    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e})\n{self}"))
    }

    /// The first `missive: ` line of stderr and the line right after it.
    fn error_and_next(&self) -> (&str, Option<&str>) {
        let lines: Vec<&str> = self.stderr.lines().collect();
        let i = lines
            .iter()
            .position(|l| l.starts_with("missive: "))
            .unwrap_or_else(|| panic!("no error line\n{self}"));
        (lines[i], lines.get(i + 1).copied())
    }

    /// The `hint: …` line that follows the (last) error line.
    fn hint(&self) -> String {
        let lines: Vec<&str> = self.stderr.lines().collect();
        let i = lines
            .iter()
            .rposition(|l| l.starts_with("missive: "))
            .unwrap_or_else(|| panic!("no error line\n{self}"));
        let next = lines
            .get(i + 1)
            .unwrap_or_else(|| panic!("no line after the error\n{self}"));
        next.strip_prefix("hint: ")
            .unwrap_or_else(|| panic!("the line after the error is not a hint: {next:?}\n{self}"))
            .to_string()
    }
}

impl Cmd {
    fn env(mut self, k: &str, v: &str) -> Cmd {
        self.envs.push((k.into(), v.into()));
        self
    }

    fn stdin(mut self, data: &str) -> Cmd {
        self.stdin = Some(data.as_bytes().to_vec());
        self
    }

    fn run(self) -> Out {
        let mut cmd = Process::new(env!("CARGO_BIN_EXE_missive"));
        cmd.args(&self.args);
        // Nothing of the caller's missive settings may leak into the child.
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("MISSIVE_") {
                cmd.env_remove(&k);
            }
        }
        for (k, v) in &self.envs {
            cmd.env(k, v);
        }
        let f = run_finished(&mut cmd, self.stdin, RUN_DEADLINE);
        Out {
            code: f.code().unwrap_or(-1),
            stdout: f.stdout,
            stderr: f.stderr,
            elapsed: f.elapsed,
        }
    }
}

// ---- `config show` output ------------------------------------------------------------

/// The `(value, source)` of the `config show` line for `key`, if there is one.
fn shown(out: &Out, key: &str) -> Option<(String, String)> {
    out.stdout.lines().find_map(|l| {
        let rest = l.strip_prefix(key)?;
        if !rest.starts_with(' ') {
            return None;
        }
        let rest = rest.trim_start();
        let (value, source) = rest.rsplit_once("  (")?;
        Some((value.to_string(), source.strip_suffix(')')?.to_string()))
    })
}

/// The value of a header line of `config show` (`config`, `account`, `preset`, `note`).
fn head(out: &Out, key: &str) -> String {
    out.stdout
        .lines()
        .find_map(|l| {
            let rest = l.strip_prefix(key)?;
            rest.starts_with(' ').then(|| rest.trim().to_string())
        })
        .unwrap_or_else(|| panic!("no {key} line\n{out}"))
}

/// Asserts the `config show` line for `key` has this value and source.
#[track_caller]
fn assert_shown(out: &Out, key: &str, value: &str, source: &str) {
    let got = shown(out, key).unwrap_or_else(|| panic!("no {key} line\n{out}"));
    assert_eq!(
        (got.0.as_str(), got.1.as_str()),
        (value, source),
        "{key}\n{out}"
    );
}

/// The JSON entry for `key` of `config show --json`.
fn entry(json: &serde_json::Value, key: &str) -> serde_json::Value {
    json["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .find(|e| e["key"] == key)
        .cloned()
        .unwrap_or_else(|| panic!("no entry {key}: {json:#}"))
}

// ---- the testbed ------------------------------------------------------------------------

fn testbed_dir() -> PathBuf {
    std::env::var_os("MISSIVE_TESTBED")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/tmp/smtp-testbed"))
}

fn testbed_ca() -> String {
    testbed_dir().join("tls/ca.crt").display().to_string()
}

/// True when Postfix answers on 5870, 4650 and 2525; false (after saying
/// "skipped") when it does not and MISSIVE_TESTBED is not set; panics when it
/// is required.
fn postfix() -> bool {
    let up = Path::new(&testbed_ca()).exists()
        && [5870, 4650, 2525].iter().all(|port| {
            TcpStream::connect_timeout(
                &format!("127.0.0.1:{port}").parse().unwrap(),
                Duration::from_secs(2),
            )
            .is_ok()
        });
    if !up {
        if std::env::var_os("MISSIVE_TESTBED").is_some_and(|v| !v.is_empty()) {
            panic!("MISSIVE_TESTBED is set but the Postfix testbed does not answer");
        }
        eprintln!("skipped: testbed not running (bash testbed/testbed.sh up)");
    }
    up
}

/// A local part no other test or run uses.
fn unique(tag: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "acct-{tag}-{}-{nanos:x}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Waits for the Maildir file of `local@example.test` and returns its text.
fn wait_for_mail(local: &str) -> String {
    let dir = testbed_dir()
        .join("mail/example.test")
        .join(local.to_ascii_lowercase())
        .join("new");
    let start = Instant::now();
    loop {
        if let Ok(entries) = std::fs::read_dir(&dir) {
            let files: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
            if let Some(f) = files.first() {
                assert_eq!(files.len(), 1, "one message expected in {}", dir.display());
                return std::fs::read_to_string(f).unwrap();
            }
        }
        if start.elapsed() > DELIVERY_WAIT {
            panic!(
                "nothing delivered to {} within {DELIVERY_WAIT:?}",
                dir.display()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// True when nothing arrives for `local@example.test` within a short wait.
fn nothing_delivered(local: &str) -> bool {
    let dir = testbed_dir()
        .join("mail/example.test")
        .join(local.to_ascii_lowercase())
        .join("new");
    std::thread::sleep(Duration::from_millis(1200));
    std::fs::read_dir(&dir).map_or(true, |mut d| d.next().is_none())
}

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
        .env("MISSIVE_CONFIG", &env_file.display().to_string())
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
        .env("MISSIVE_CONFIG", &env_file.display().to_string())
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
// Secrets
// ======================================================================================

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
fn assert_no_secret(out: &Out) {
    for s in [FILE_SECRET, ENV_SECRET, CMD_SECRET, MISSIVE_PW_SECRET] {
        assert!(!out.all().contains(s), "secret {s} printed\n{out}");
    }
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
            .env("MISSIVE_CONFIG", &other.display().to_string())
            .run();
        assert_eq!(out.code, 78, "{what}\n{out}");
        assert!(out.stderr.starts_with(&prefix), "{what}\n{out}");
    }
}

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
// Sending through an account to Postfix
// ======================================================================================

#[test]
fn send_through_an_account_to_postfix_submission() {
    if !postfix() {
        return;
    }
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
            testbed_ca()
        ),
        0o600,
    );
    let local = unique("send");
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
    let mail = wait_for_mail(&local);
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
    if !postfix() {
        return;
    }
    use base64::Engine;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let home = Home::new("postfix-filepw");
    home.config(
        &format!(
            "[accounts.default]\nserver = \"127.0.0.1:5870\"\ncafile = \"{}\"\nuser = \"tester@example.test\"\nfrom = \"tester@example.test\"\npassword = \"testpass\"\n",
            testbed_ca()
        ),
        0o600,
    );
    for mech in ["plain", "login"] {
        let local = unique(&format!("filepw-{mech}"));
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
        wait_for_mail(&local);
    }
}

#[test]
fn an_added_account_with_environment_settings_delivers_to_postfix() {
    if !postfix() {
        return;
    }
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
    let local = unique("added");
    let rcpt = format!("{local}@example.test");
    // `account add` has no --cafile: MISSIVE_CAFILE supplies it.
    let out = home
        .cmd(&["send", "--account", "sub", "--to", &rcpt, "--body", "added"])
        .env("MISSIVE_CAFILE", &testbed_ca())
        .env("SUB_PW", "testpass")
        .run();
    assert_eq!(out.code, 0, "{out}");
    assert!(out.stdout.contains("via localhost:5870"), "{out}");
    let mail = wait_for_mail(&local);
    assert!(
        mail.contains("Return-Path: <tester@example.test>"),
        "{mail}"
    );
    assert!(
        mail.contains("Authenticated sender: tester@example.test"),
        "{mail}"
    );

    // The wrong password from the environment: 77, a hint, nothing delivered.
    let local = unique("added-wrong");
    let rcpt = format!("{local}@example.test");
    let out = home
        .cmd(&["send", "--account", "sub", "--to", &rcpt, "--body", "added"])
        .env("MISSIVE_CAFILE", &testbed_ca())
        .env("SUB_PW", "wrong-password")
        .run();
    assert_eq!(out.code, 77, "{out}");
    assert!(out.hint().contains("password"), "{out}");
    assert!(!out.all().contains("wrong-password"), "{out}");
    assert!(nothing_delivered(&local));
}

// ======================================================================================
// probe against Postfix
// ======================================================================================

#[test]
fn probe_submission_reports_starttls_auth_after_tls_certificate_and_size() {
    if !postfix() {
        return;
    }
    let home = Home::new("probe");
    let ca = testbed_ca();
    let out = home
        .cmd(&["probe", "127.0.0.1:5870", "--cafile", &ca])
        .run();
    assert_eq!(out.code, 0, "{out}");
    let line = |k: &str| head(&out, k);
    assert_eq!(line("starttls"), "offered", "{out}");
    assert!(line("certificate").contains("CN=mx.testbed.test"), "{out}");
    assert_eq!(line("verified"), "yes", "{out}");
    assert!(line("auth").contains("offered only after TLS"), "{out}");
    assert!(line("size").starts_with("10485760"), "{out}");

    let out = home
        .cmd(&["probe", "127.0.0.1:5870", "--cafile", &ca, "--json"])
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
    if !postfix() {
        return;
    }
    let home = Home::new("probe-465");
    let out = home
        .cmd(&[
            "probe",
            "localhost:4650",
            "--tls",
            "implicit",
            "--cafile",
            &testbed_ca(),
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
    if !postfix() {
        return;
    }
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
    if !postfix() {
        return;
    }
    let home = Home::new("probe-login");
    let ca = testbed_ca();
    let args = [
        "probe",
        "127.0.0.1:5870",
        "--cafile",
        &ca,
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
    if !postfix() {
        return;
    }
    let home = Home::new("probe-mx");
    let out = home
        .cmd(&["probe", "127.0.0.1:2525", "--cafile", &testbed_ca()])
        .run();
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(head(&out, "starttls"), "offered", "{out}");
    assert_eq!(head(&out, "verified"), "yes", "{out}");
    assert_eq!(head(&out, "auth"), "none offered", "{out}");
}

// ======================================================================================
// Hints for real provider replies, from scripted fake servers
// ======================================================================================

/// A fake submission server (STARTTLS, then AUTH) that answers AUTH with `reply` (raw).
fn auth_refusing(reply: &'static str) -> Server {
    Server::start(
        Script::new()
            .caps(&[
                "STARTTLS",
                "AUTH PLAIN LOGIN",
                "ENHANCEDSTATUSCODES",
                "PIPELINING",
            ])
            .on(move |c, cmd| match cmd {
                Command::Auth { .. } if c.is_secure() => {
                    c.send(reply);
                    Step::Next
                }
                _ => Step::Default,
            }),
    )
}

/// `send` to a fake server with a user and a password from the environment.
fn send_to(home: &Home, port: u16, extra: &[&str]) -> Cmd {
    let server = format!("127.0.0.1:{port}");
    let ca = fake::ca_file();
    let mut args = vec![
        "send".to_string(),
        "--server".into(),
        server,
        "--cafile".into(),
        ca,
        "--ehlo".into(),
        "client.test".into(),
        "--from".into(),
        fake::FROM.into(),
        "--to".into(),
        fake::TO.into(),
        "--body".into(),
        fake::BODY.into(),
        "--timeout".into(),
        "20".into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    home.cmd(&a)
}

/// An account's password is for its own server: a `--server` or
/// `MISSIVE_SERVER` that names another host does not get it, even when that
/// host offers AUTH over verified TLS.
#[test]
fn account_credentials_do_not_follow_another_server() {
    let home = Home::new("bound");
    home.config(
        "default = \"home\"\n[accounts.home]\nserver = \"smtp.home.test\"\nuser = \"me@home.test\"\npassword = \"acct-secret-7731\"\n",
        0o600,
    );
    for via_env in [false, true] {
        let server =
            Server::start(Script::new().caps(&["STARTTLS", "AUTH PLAIN LOGIN", "PIPELINING"]));
        let out = match via_env {
            false => send_to(&home, server.port, &[]).run(),
            true => {
                let mut cmd = send_to(&home, server.port, &[]);
                cmd.args
                    .retain(|a| a != "--server" && !a.starts_with("127.0.0.1:"));
                cmd.env("MISSIVE_SERVER", &format!("127.0.0.1:{}", server.port))
                    .run()
            }
        };
        let log = server.finish();
        assert_eq!(out.code, 0, "{out}");
        assert!(!log.has_verb("AUTH"), "{:?}", log.lines);
        let seen: Vec<u8> = log.reads.concat();
        let seen = String::from_utf8_lossy(&seen);
        assert!(
            !seen.contains("acct-secret-7731") && !seen.contains("me@home.test"),
            "{seen}"
        );
        // The account's own server would have had them: the dry run says so.
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
}

/// Runs the case twice (text, then --json) and checks the exit code, the
/// `hint:` line right after the error, and the JSON `hint`.
fn check_auth_hint(reply: &'static str, code: i32, expect: &[&str], not: &[&str]) {
    let home = Home::new("hint");
    let login = ["--user", fake::FROM, "--password-env", "FAKE_PW"];
    let server = auth_refusing(reply);
    let out = send_to(&home, server.port, &login)
        .env("FAKE_PW", "fake-pw-9")
        .run();
    let log = server.finish();
    assert!(
        log.has_verb("AUTH"),
        "AUTH reached the server: {:?}",
        log.lines
    );
    assert!(!log.has_verb("MAIL"), "{:?}", log.lines);
    check_hint(&out, code, expect, not);
    let first_reply_line = reply.lines().next().unwrap();
    let (err, _) = out.error_and_next();
    assert!(
        err.contains(&first_reply_line[..3]),
        "the error shows the reply\n{out}"
    );

    let server = auth_refusing(reply);
    let mut json = login.to_vec();
    json.push("--json");
    let out = send_to(&home, server.port, &json)
        .env("FAKE_PW", "fake-pw-9")
        .run();
    server.finish();
    check_json_hint(&out, code, expect, not);
}

#[track_caller]
fn check_hint(out: &Out, code: i32, expect: &[&str], not: &[&str]) {
    assert_eq!(out.code, code, "{out}");
    let (_, next) = out.error_and_next();
    let hint = next
        .and_then(|l| l.strip_prefix("hint: "))
        .unwrap_or_else(|| panic!("the line after the error is not a hint\n{out}"));
    for e in expect {
        assert!(hint.contains(e), "hint should mention {e:?}\n{out}");
    }
    for n in not {
        assert!(!hint.contains(n), "hint should not mention {n:?}\n{out}");
    }
    assert!(!out.all().contains("fake-pw-9"), "{out}");
}

#[track_caller]
fn check_json_hint(out: &Out, code: i32, expect: &[&str], not: &[&str]) {
    assert_eq!(out.code, code, "{out}");
    let j = out.json();
    assert_eq!(j["exit_code"], code, "{j:#}");
    let hint = j["hint"]
        .as_str()
        .unwrap_or_else(|| panic!("no hint in the JSON report: {j:#}"));
    for e in expect {
        assert!(hint.contains(e), "JSON hint should mention {e:?}: {j:#}");
    }
    for n in not {
        assert!(
            !hint.contains(n),
            "JSON hint should not mention {n:?}: {j:#}"
        );
    }
    assert!(j["error"].as_str().is_some(), "{j:#}");
    assert!(!out.all().contains("fake-pw-9"), "{out}");
}

#[test]
fn hint_office365_smtp_auth_disabled_for_the_tenant() {
    check_auth_hint(
        "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. Visit https://aka.ms/smtp_auth_disabled for more information. [AM0PR02CA0002.eurprd02.prod.outlook.com]\r\n",
        77,
        &["Authenticated SMTP", "--auth xoauth2"],
        &[],
    );
}

#[test]
fn hint_office365_basic_authentication_retired() {
    check_auth_hint(
        "550 5.7.30 Basic authentication is not supported for Client Submission. Visit https://aka.ms/smtp_auth_basic for more information. [AM0PR02CA0002.eurprd02.prod.outlook.com]\r\n",
        77,
        &["OAuth2", "--auth xoauth2", "--oauth-token-cmd"],
        &[],
    );
}

#[test]
fn hint_gmail_application_specific_password_required() {
    check_auth_hint(
        "534-5.7.9 Application-specific password required. For more information, go to\r\n534 5.7.9  https://support.google.com/mail/?p=InvalidSecondFactor d9443c01a7336-21f7e4f0f7fsm1234567b3b.95 - gsmtp\r\n",
        77,
        &["Gmail", "app password"],
        &[],
    );
}

#[test]
fn hint_gmail_bad_credentials() {
    // BadCredentials is on the second line of Gmail's reply.
    check_auth_hint(
        "535-5.7.8 Username and Password not accepted. For more information, go to\r\n535 5.7.8  https://support.google.com/mail/?p=BadCredentials 5b1f17b1804b1-43a8d0b1234sm123456f8f.12 - gsmtp\r\n",
        77,
        &["Gmail", "app password"],
        &["many providers"],
    );
}

#[test]
fn hint_yahoo_too_many_bad_auth_attempts() {
    check_auth_hint(
        "535 5.7.0 (#AUTH005) Too many bad auth attempts.\r\n",
        77,
        &["Yahoo/AOL", "app password"],
        &[],
    );
}

#[test]
fn hint_must_issue_starttls_first_when_auth_goes_in_plaintext() {
    // A server that advertises AUTH in plaintext but wants TLS first; the client
    // was told --tls none --allow-plaintext-auth.
    let mk = || {
        Server::start(
            Script::new()
                .caps(&["AUTH PLAIN LOGIN", "ENHANCEDSTATUSCODES"])
                .on(|c, cmd| match cmd {
                    Command::Auth { .. } | Command::Mail { .. } => {
                        c.reply("530 5.7.0 Must issue a STARTTLS command first");
                        Step::Next
                    }
                    _ => Step::Default,
                }),
        )
    };
    let home = Home::new("hint-530");
    let args = [
        "--tls",
        "none",
        "--allow-plaintext-auth",
        "--user",
        fake::FROM,
        "--password-env",
        "FAKE_PW",
    ];
    let server = mk();
    let out = send_to(&home, server.port, &args)
        .env("FAKE_PW", "fake-pw-9")
        .run();
    let log = server.finish();
    assert!(log.has_verb("AUTH"), "{:?}", log.lines);
    check_hint(&out, 77, &["--tls starttls"], &[]);
    assert!(out.error_and_next().0.contains("530"), "{out}");
    let server = mk();
    let mut json = args.to_vec();
    json.push("--json");
    let out = send_to(&home, server.port, &json)
        .env("FAKE_PW", "fake-pw-9")
        .run();
    server.finish();
    check_json_hint(&out, 77, &["--tls starttls"], &[]);
}

#[test]
fn hint_must_issue_starttls_first_from_postfix() {
    if !postfix() {
        return;
    }
    // No user, no TLS: Postfix's submission port answers MAIL with 530.
    let home = Home::new("hint-530-postfix");
    let local = unique("530");
    let rcpt = format!("{local}@example.test");
    for json in [false, true] {
        let mut args = vec![
            "send",
            "--server",
            "127.0.0.1:5870",
            "--tls",
            "none",
            "--from",
            "tester@example.test",
            "--to",
            &rcpt,
            "--body",
            "x",
        ];
        if json {
            args.push("--json");
        }
        let out = home.cmd(&args).run();
        assert_eq!(out.code, 69, "{out}");
        if json {
            let j = out.json();
            let rcpt_hint = j["recipients"][0]["hint"].as_str().unwrap_or_default();
            let hint = j["hint"].as_str().unwrap_or(rcpt_hint);
            assert!(hint.contains("--tls starttls"), "{j:#}");
        } else {
            let (err, next) = out.error_and_next();
            assert!(err.contains("530"), "{out}");
            let hint = next.and_then(|l| l.strip_prefix("hint: "));
            assert!(hint.is_some_and(|h| h.contains("--tls starttls")), "{out}");
        }
    }
    assert!(nothing_delivered(&local));
}

#[test]
fn hint_invalid_domain_name_in_helo() {
    let mk = || {
        Server::start(Script::new().on(|c, cmd| match cmd {
            Command::Ehlo(_) | Command::Helo(_) => {
                c.reply("501 5.5.4 Invalid domain name in HELO");
                Step::Next
            }
            _ => Step::Default,
        }))
    };
    let home = Home::new("hint-501");
    let server = mk();
    let out = send_to(&home, server.port, &[]).run();
    let log = server.finish();
    assert!(log.has_verb("EHLO"), "{:?}", log.lines);
    assert!(!log.has_verb("MAIL"), "{:?}", log.lines);
    check_hint(&out, 69, &["--ehlo"], &[]);
    assert!(out.error_and_next().0.contains("501"), "{out}");
    let server = mk();
    let out = send_to(&home, server.port, &["--json"]).run();
    server.finish();
    check_json_hint(&out, 69, &["--ehlo"], &[]);
}

// ======================================================================================
// TLS mode mismatches and certificate names, against Postfix
// ======================================================================================

#[test]
fn starttls_to_the_implicit_tls_port_times_out_with_a_hint() {
    if !postfix() {
        return;
    }
    let home = Home::new("mismatch-465");
    let out = home
        .cmd(&[
            "send",
            "--server",
            "127.0.0.1:4650",
            "--tls",
            "starttls",
            "--timeout",
            "3",
            "--cafile",
            &testbed_ca(),
            "--from",
            "tester@example.test",
            "--to",
            "nobody@example.test",
            "--body",
            "x",
        ])
        .run();
    assert_eq!(out.code, 75, "{out}");
    assert!(out.elapsed < Duration::from_secs(10), "{out}");
    assert!(out.hint().contains("--tls implicit"), "{out}");
}

#[test]
fn implicit_tls_to_the_starttls_port_fails_with_a_hint() {
    if !postfix() {
        return;
    }
    let home = Home::new("mismatch-587");
    let out = home
        .cmd(&[
            "send",
            "--server",
            "127.0.0.1:5870",
            "--tls",
            "implicit",
            "--timeout",
            "5",
            "--cafile",
            &testbed_ca(),
            "--from",
            "tester@example.test",
            "--to",
            "nobody@example.test",
            "--body",
            "x",
        ])
        .run();
    assert_eq!(out.code, 77, "{out}");
    assert!(out.elapsed < Duration::from_secs(10), "{out}");
    assert!(out.hint().contains("STARTTLS"), "{out}");
}

/// The machine's host name, when it resolves to 127.0.0.1 and is not one of
/// the names in the testbed certificate.
fn hostname_on_loopback() -> Option<String> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()?
        .trim()
        .to_string();
    let in_cert = [
        "mx.testbed.test",
        "localhost",
        "mx1.example.test",
        "mx2.example.test",
        "mx.example2.test",
        "mx6.ipv6only.test",
        "nomx.test",
    ];
    if name.is_empty() || in_cert.contains(&name.to_ascii_lowercase().as_str()) {
        return None;
    }
    let addrs: Vec<_> = (name.as_str(), 5870).to_socket_addrs().ok()?.collect();
    addrs
        .iter()
        .any(|a| a.ip() == std::net::IpAddr::from([127, 0, 0, 1]))
        .then_some(name)
}

#[test]
fn a_certificate_name_mismatch_lists_the_certificates_names() {
    if !postfix() {
        return;
    }
    let Some(host) = hostname_on_loopback() else {
        eprintln!("skipped: the host name does not resolve to 127.0.0.1");
        return;
    };
    let home = Home::new("mismatch-name");
    for (port, tls) in [("5870", "starttls"), ("4650", "implicit")] {
        let server = format!("{host}:{port}");
        let out = home
            .cmd(&[
                "send",
                "--server",
                &server,
                "--tls",
                tls,
                "--timeout",
                "5",
                "--cafile",
                &testbed_ca(),
                "--user",
                "tester@example.test",
                "--password-env",
                "P",
                "--from",
                "tester@example.test",
                "--to",
                "nobody@example.test",
                "--body",
                "x",
            ])
            .env("P", "testpass")
            .run();
        assert_eq!(out.code, 77, "{out}");
        let (err, _) = out.error_and_next();
        assert!(err.contains(&host), "{out}");
        for name in ["mx.testbed.test", "localhost", "127.0.0.1"] {
            assert!(err.contains(name), "the message lists {name}\n{out}");
        }
        assert!(!out.all().contains("testpass"), "{out}");
    }
    // probe shows the same problem.
    let out = home
        .cmd(&["probe", &format!("{host}:5870"), "--cafile", &testbed_ca()])
        .run();
    assert_eq!(out.code, 77, "{out}");
    assert!(head(&out, "verified").starts_with("NO"), "{out}");
}

// ======================================================================================
// sendmail reads the same settings
// ======================================================================================

#[test]
fn sendmail_uses_the_default_account() {
    if !postfix() {
        return;
    }
    let home = Home::new("sendmail-default");
    home.config(
        &format!(
            "[accounts.default]\nserver = \"127.0.0.1:2525\"\ncafile = \"{}\"\nfrom = \"cron@example.test\"\n",
            testbed_ca()
        ),
        0o600,
    );
    let local = unique("sm-default");
    let msg = format!(
        "To: {local}@example.test\nSubject: sendmail {local}\n\nfrom cron\n.\nafter a dot\n"
    );
    let out = home.cmd(&["sendmail", "-t", "-i"]).stdin(&msg).run();
    assert_eq!(out.code, 0, "{out}");
    let mail = wait_for_mail(&local);
    assert!(mail.contains("Return-Path: <cron@example.test>"), "{mail}");
    assert!(mail.contains("From: cron@example.test"), "{mail}");
    assert!(
        mail.contains(&format!("Subject: sendmail {local}")),
        "{mail}"
    );
    assert!(
        mail.contains("\n.\nafter a dot"),
        "-i keeps the lone dot\n{mail}"
    );
    assert!(
        mail.contains("with ESMTPS"),
        "the account's cafile made TLS work\n{mail}"
    );
}

#[test]
fn sendmail_uses_missive_environment_variables() {
    if !postfix() {
        return;
    }
    let home = Home::new("sendmail-env");
    let local = unique("sm-env");
    let msg = format!("From: Env Sender <env@example.test>\nTo: {local}@example.test\nSubject: env {local}\n\nbody\n");
    let out = home
        .cmd(&["sendmail", "-t", "-i"])
        .env("MISSIVE_SERVER", "127.0.0.1:5870")
        .env("MISSIVE_CAFILE", &testbed_ca())
        .env("MISSIVE_USER", "tester@example.test")
        .env("MISSIVE_PASSWORD", "testpass")
        .stdin(&msg)
        .run();
    assert_eq!(out.code, 0, "{out}");
    let mail = wait_for_mail(&local);
    assert!(
        mail.contains("Authenticated sender: tester@example.test"),
        "{mail}"
    );
    assert!(mail.contains("Return-Path: <env@example.test>"), "{mail}");
}

#[test]
fn sendmail_f_selects_the_account_by_pattern() {
    if !postfix() {
        return;
    }
    let home = Home::new("sendmail-f");
    // The default account points at a port where nothing listens; -f's
    // address selects the working one.
    home.config(
        &format!(
            r#"
[accounts.default]
server = "127.0.0.1:9"

[accounts.corp]
server = "127.0.0.1:5870"
cafile = "{}"
user = "tester@example.test"
password_cmd = "printf testpass"
from = "*@corp.example.test"
"#,
            testbed_ca()
        ),
        0o600,
    );
    let local = unique("sm-f");
    let msg = format!("To: {local}@example.test\nSubject: f {local}\n\nbody\n");
    let out = home
        .cmd(&[
            "sendmail",
            "-i",
            "-f",
            "ops@corp.example.test",
            &format!("{local}@example.test"),
        ])
        .stdin(&msg)
        .run();
    assert_eq!(out.code, 0, "{out}");
    let mail = wait_for_mail(&local);
    assert!(
        mail.contains("Return-Path: <ops@corp.example.test>"),
        "{mail}"
    );
    assert!(
        mail.contains("Authenticated sender: tester@example.test"),
        "{mail}"
    );
}
