//! `missive config show`, `missive account add`, `missive account set-password`.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

use clap::{Args, Subcommand};
use missive_smtp::Secret;

use crate::cli::{AuthArg, Login, SendArgs, TlsArg};
use crate::config::{self, Account};
use crate::error::{AppError, Result};
use crate::{credentials, presets, settings};

#[derive(Subcommand, Debug, Clone)]
pub enum ConfigCmd {
    /// Print the effective settings and where each comes from (secrets redacted).
    Show(ShowArgs),
}

#[derive(Args, Debug, Clone, Default)]
pub struct ShowArgs {
    #[arg(long, value_name = "NAME")]
    pub account: Option<String>,
    /// The sender whose account is chosen (as `send --from` would).
    #[arg(long, value_name = "ADDR")]
    pub from: Option<String>,
    #[arg(long, value_name = "NAME")]
    pub preset: Option<String>,
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Subcommand, Debug, Clone)]
pub enum AccountCmd {
    /// Add an account to the configuration file (created with mode 0600).
    Add(Box<AddArgs>),
    /// Sign in with OAuth2 (device code, or a browser on this machine) and store the tokens.
    Login {
        name: String,
        /// device: enter a code on any device; browser: sign in here (loopback redirect).
        #[arg(long, value_enum)]
        flow: Option<crate::oauth::Flow>,
        /// Only print the sign-in address; do not open a browser.
        #[arg(long)]
        no_browser: bool,
        #[arg(long, value_name = "PATH")]
        config: Option<PathBuf>,
    },
    /// Print a fresh access token (for msmtp's passwordeval, git send-email, …).
    Token {
        name: String,
        #[arg(long, value_name = "PATH")]
        config: Option<PathBuf>,
    },
    /// Store an account's password in the OS keyring (asked for without echo).
    SetPassword {
        name: String,
        #[arg(long, value_name = "PATH")]
        config: Option<PathBuf>,
    },
}

#[derive(Args, Debug, Clone, Default)]
pub struct AddArgs {
    pub name: String,
    #[arg(long)]
    pub preset: Option<String>,
    #[arg(long, value_name = "HOST[:PORT]")]
    pub server: Option<String>,
    #[arg(long, value_enum)]
    pub tls: Option<TlsArg>,
    #[arg(long, value_enum)]
    pub auth: Option<AuthArg>,
    #[command(flatten)]
    pub login: Login,
    /// The sender address, or a pattern like '*@example.com' that selects this account.
    #[arg(long)]
    pub from: Option<String>,
    /// OAuth2: the application (client) id registered with the provider;
    /// with --preset office365, outlook or gmail this sets up sign-in.
    #[arg(long, value_name = "ID")]
    pub client_id: Option<String>,
    /// OAuth2, Microsoft: common, organizations, consumers or a tenant id.
    #[arg(long, value_name = "TENANT")]
    pub tenant: Option<String>,
    /// The password is kept in the OS keyring (set it with `account set-password`).
    #[arg(long)]
    pub keyring: bool,
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
}

pub fn config(cmd: ConfigCmd) -> Result<()> {
    let ConfigCmd::Show(a) = cmd;
    let mut args = SendArgs {
        account: a.account,
        from: a.from,
        preset: a.preset,
        config: a.config,
        ..SendArgs::default()
    };
    let p = match settings::resolve(&mut args) {
        Ok(p) => p,
        Err(e) => {
            if a.json {
                println!("{:#}", e.json());
            }
            return Err(e);
        }
    };
    if a.json {
        println!("{}", serde_json::to_string_pretty(&p).unwrap_or_default());
        return Ok(());
    }
    let mut out = std::io::stdout().lock();
    let file = p
        .config
        .as_ref()
        .map_or("none".into(), |c| c.display().to_string());
    let _ = writeln!(out, "config   {file}");
    let _ = writeln!(out, "account  {}", p.account.as_deref().unwrap_or("none"));
    let _ = writeln!(out, "preset   {}", p.preset.as_deref().unwrap_or("none"));
    for e in &p.entries {
        let _ = writeln!(out, "{:<8} {}  ({})", e.key, e.value, e.source);
    }
    if args.server.is_none() {
        let _ = writeln!(
            out,
            "(no server: mail goes directly to each recipient's MX hosts)"
        );
    }
    if let Some(note) = &p.note {
        let _ = writeln!(out, "note     {note}");
    }
    Ok(())
}

/// The OAuth settings of an account.
fn oauth_of(name: &str, config: Option<&std::path::Path>) -> Result<crate::oauth::OAuthConfig> {
    let cfg = config::Config::load(config)?;
    let account = cfg.file.accounts.get(name).ok_or_else(|| {
        AppError::Config(format!(
            "no account {name:?}: add it with missive account add {name}"
        ))
    })?;
    account.oauth.clone().ok_or_else(|| {
        AppError::Config(format!(
            "account {name} has no [accounts.{name}.oauth] table: add one (provider, client_id), or use --preset office365/gmail with --client-id in account add"
        ))
    })
}

pub fn account(cmd: AccountCmd) -> Result<()> {
    match cmd {
        AccountCmd::Add(a) => add(*a),
        AccountCmd::Login {
            name,
            flow,
            no_browser,
            config,
        } => {
            let o = oauth_of(&name, config.as_deref())?;
            crate::oauth::login(&name, &o, flow, !no_browser)
        }
        AccountCmd::Token { name, config } => {
            let o = oauth_of(&name, config.as_deref())?;
            let token = crate::oauth::access_token(&name, &o, false)?;
            // The one place a token is printed: the user asked for it, on stdout.
            println!("{}", token.expose());
            Ok(())
        }
        AccountCmd::SetPassword { name, config } => {
            let cfg = config::Config::load(config.as_deref())?;
            if !cfg.file.accounts.contains_key(&name) {
                return Err(AppError::Config(format!(
                    "no account {name:?}: add it first with missive account add {name}"
                )));
            }
            let secret = read_secret(&format!("password for account {name}"))?;
            credentials::keyring_set(&name, &secret)?;
            eprintln!("missive: stored the password of account {name} in the OS keyring");
            Ok(())
        }
    }
}

fn add(mut a: AddArgs) -> Result<()> {
    let interactive = std::io::stdin().is_terminal();
    if a.preset.is_none() && a.server.is_none() {
        if !interactive {
            return Err(AppError::Usage(
                "account add needs --preset NAME or --server HOST[:PORT]".into(),
            ));
        }
        let keys: Vec<String> = presets::all().keys().cloned().collect();
        let answer = ask(&format!("preset ({}) or server HOST:PORT", keys.join(", ")))?;
        if keys.contains(&answer) {
            a.preset = Some(answer);
        } else {
            a.server = Some(answer);
        }
    }
    if let Some(p) = &a.preset {
        presets::get(p)?;
    }
    if a.login.user.is_none() && interactive {
        a.login.user = Some(ask("user name (often the full address)")?).filter(|u| !u.is_empty());
    }
    if a.from.is_none() {
        a.from = a.login.user.clone().filter(|u| u.contains('@'));
    }
    let provider = match a.preset.as_deref() {
        Some("office365") | Some("outlook") => Some(crate::oauth::Provider::Microsoft),
        Some("gmail") => Some(crate::oauth::Provider::Google),
        _ => None,
    };
    if a.client_id.is_none() && interactive && provider == Some(crate::oauth::Provider::Microsoft) {
        a.client_id = Some(ask("OAuth2 client id (the app registered in Entra ID)")?)
            .filter(|c| !c.is_empty());
    }
    let oauth = match (&a.client_id, provider) {
        (Some(id), Some(p)) => Some(crate::oauth::OAuthConfig {
            provider: Some(p),
            client_id: id.clone(),
            tenant: a.tenant.clone(),
            ..Default::default()
        }),
        (Some(_), None) => {
            return Err(AppError::Usage(
                "--client-id goes with --preset office365, outlook or gmail; for other providers write the oauth table by hand".into(),
            ))
        }
        (None, _) => None,
    };
    if oauth.is_some() && a.auth.is_none() {
        a.auth = Some(AuthArg::Xoauth2);
    }
    let account = Account {
        preset: a.preset.clone(),
        server: a.server,
        tls: a.tls,
        auth: a.auth,
        user: a.login.user,
        from: a.from,
        password_cmd: a.login.password_cmd,
        password_env: a.login.password_env,
        oauth_token_cmd: a.login.oauth_token_cmd,
        keyring: a.keyring.then_some(true),
        oauth,
        ..Account::default()
    };
    let (path, _) = config::config_path(a.config.as_deref()).ok_or_else(|| {
        AppError::Config(
            "no configuration path: set HOME or XDG_CONFIG_HOME, or give --config".into(),
        )
    })?;
    config::add_account(&path, &a.name, &account)?;
    eprintln!("missive: added account {} to {}", a.name, path.display());
    if let Some(note) = a
        .preset
        .as_deref()
        .and_then(|p| presets::get(p).ok())
        .map(|p| p.note)
    {
        eprintln!("note: {note}");
    }
    if a.keyring {
        eprintln!("next: missive account set-password {}", a.name);
    }
    if a.client_id.is_some() {
        eprintln!("next: missive account login {}", a.name);
    }
    Ok(())
}

fn ask(question: &str) -> Result<String> {
    eprint!("{question}: ");
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| AppError::Io(format!("reading the answer: {e}")))?;
    Ok(line.trim().to_string())
}

/// A secret from the terminal without echo, or the first line of standard input.
fn read_secret(what: &str) -> Result<Secret> {
    let value = if std::io::stdin().is_terminal() {
        rpassword::prompt_password(format!("{what}: "))
            .map_err(|e| AppError::Io(format!("reading the {what}: {e}")))?
    } else {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| AppError::Io(format!("reading the {what}: {e}")))?;
        line.trim_end_matches(['\r', '\n']).to_string()
    };
    if value.is_empty() {
        return Err(AppError::Usage(format!("empty {what}")));
    }
    Ok(Secret::new(value))
}
