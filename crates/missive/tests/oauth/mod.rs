//! OAuth2 end to end: the real `missive` binary, with a HOME, XDG_CONFIG_HOME
//! and XDG_STATE_HOME of its own, signs in against a mock authorization
//! server ([`crate::support::oauth_mock`]: device authorization grant,
//! authorization code with PKCE and a loopback redirect), refreshes and
//! rotates tokens, and sends with XOAUTH2 to a small SMTP server that accepts
//! only the mock's current access token ([`crate::support::xoauth2_smtp`]).
//! Every run is checked for leaked secrets: no access token, refresh token,
//! client secret, authorization code, device code or PKCE verifier may
//! appear in what missive prints (except the token that `account token`
//! prints on stdout, because it was asked for).

mod browser;
mod device;
mod sending;
mod tokens;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::Child;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::support::oauth_mock::*;
use crate::support::process::{finish, RUN_TIMEOUT};
use crate::support::xoauth2_smtp::{SmtpServer, USER};
use crate::support::*;

const ACCOUNT: &str = "work";

const TO: &str = "bob@example.test";
/// The longest a test waits for a line from missive.
const IO_WAIT: Duration = Duration::from_secs(10);

// ---- small helpers ------------------------------------------------------------------

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

// ---- an isolated environment and the binary ----------------------------------------------

/// The configuration and state of one test ([`Home`]), with the account
/// `work` signing in at a [`MockAuth`].
struct Env {
    home: Home,
}

impl Env {
    fn new(tag: &str) -> Env {
        Env {
            home: Home::new(&format!("oauth-{tag}")),
        }
    }

    fn token_dir(&self) -> PathBuf {
        self.home.token_dir()
    }

    fn token_path(&self) -> PathBuf {
        self.token_dir().join(format!("{ACCOUNT}.json"))
    }

    /// The account `work` with a custom provider pointing at `mock`.
    fn configure(&self, mock: &MockAuth) {
        let text = format!(
            "[accounts.{ACCOUNT}]\nuser = \"{USER}\"\nfrom = \"{USER}\"\n\n\
             [accounts.{ACCOUNT}.oauth]\nprovider = \"custom\"\nclient_id = \"{CLIENT_ID}\"\n\
             client_secret = \"{CLIENT_SECRET}\"\nscopes = \"{SCOPES}\"\n\
             authorize_url = \"{}\"\ntoken_url = \"{}\"\ndevice_url = \"{}\"\n",
            mock.url("/authorize"),
            mock.url("/token"),
            mock.url("/device"),
        );
        self.home.config(&text, 0o600);
    }

    /// Writes the token store by hand: a file of `mode` in a 0700 directory.
    fn store_tokens(
        &self,
        access: Option<&str>,
        refresh: Option<&str>,
        expires_at: u64,
        mode: u32,
    ) {
        let dir = self.token_dir();
        std::fs::create_dir_all(&dir).unwrap();
        set_mode(&dir, 0o700);
        let v = serde_json::json!({
            "access_token": access,
            "refresh_token": refresh,
            "expires_at": expires_at,
        });
        std::fs::write(self.token_path(), v.to_string()).unwrap();
        set_mode(&self.token_path(), mode);
    }

    /// The token store as JSON.
    fn stored(&self) -> serde_json::Value {
        let text = std::fs::read_to_string(self.token_path()).expect("the token file exists");
        serde_json::from_str(&text).expect("the token file is JSON")
    }

    /// Runs `missive ARGS` to its end (killed, and the test failed, after a minute).
    fn run(&self, args: &[&str]) -> Output {
        self.home.cmd(args).run()
    }

    /// `missive send` through `smtp` with the account `work`, and `extra` options.
    fn send(&self, smtp: &SmtpServer, extra: &[&str]) -> Output {
        let server = format!("127.0.0.1:{}", smtp.port);
        let mut args = vec![
            "send",
            "--account",
            ACCOUNT,
            "--server",
            &server,
            "--tls",
            "none",
            "--allow-plaintext-auth",
            "--ehlo",
            "client.test",
            "--from",
            USER,
            "--to",
            TO,
            "--subject",
            "oauth test",
            "--body",
            "Hello over XOAUTH2.\n",
        ];
        args.extend_from_slice(extra);
        self.run(&args)
    }
}

/// A running `missive` whose stderr is read line by line as it comes; killed
/// if the test gives up before [`Live::finish`].
struct Live {
    child: Option<Child>,
    lines: mpsc::Receiver<String>,
    stderr: Option<JoinHandle<String>>,
}

impl Live {
    fn spawn(env: &Env, args: &[&str]) -> Live {
        let mut child = env.home.cmd(args).spawn();
        let err = child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel();
        let t = std::thread::spawn(move || {
            let mut all = String::new();
            for line in BufReader::new(err).lines() {
                let Ok(line) = line else { break };
                all.push_str(&line);
                all.push('\n');
                let _ = tx.send(line);
            }
            all
        });
        Live {
            child: Some(child),
            lines: rx,
            stderr: Some(t),
        }
    }

    /// The first stderr line that starts with `prefix` (waiting up to 10 s).
    fn line_starting(&mut self, prefix: &str) -> String {
        let deadline = Instant::now() + IO_WAIT;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) if l.starts_with(prefix) => return l,
                Ok(l) => seen.push(l),
                Err(_) => panic!("no stderr line starting with {prefix:?}; saw {seen:?}"),
            }
        }
    }

    /// Waits for it to end (killed, and the test failed, after a minute).
    fn finish(mut self) -> Output {
        let mut child = self.child.take().expect("running");
        finish(&mut child, self.stderr.take(), Instant::now(), RUN_TIMEOUT)
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        if let Some(c) = self.child.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Signs in with the device flow (no waiting: interval 0, granted at once).
fn login_device(env: &Env, mock: &MockAuth) {
    mock.device_script(Some(0), &["grant"]);
    let out = env.run(&["account", "login", ACCOUNT]);
    assert_eq!(out.code, 0, "login\n{out}");
    out.assert_no_secret(&mock.secrets());
}
