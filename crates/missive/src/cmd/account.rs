//! `missive account add|login|token|set-password`.

use std::io::{BufRead, IsTerminal};

use missive_smtp::Secret;

use crate::cli::commands::{AccountCmd, AddArgs, FlowArg};
use crate::error::{AppError, Result};
use crate::secrets::{keyring, oauth};
use crate::settings::config::{self, Account};
use crate::settings::{presets, AuthSetting};

/// The OAuth settings of an account.
fn oauth_of(name: &str, config: Option<&std::path::Path>) -> Result<oauth::OAuthConfig> {
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

pub(super) fn run(cmd: AccountCmd) -> Result<()> {
    match cmd {
        AccountCmd::Add(a) => add(*a),
        AccountCmd::Login {
            name,
            flow,
            no_browser,
            config,
        } => {
            let o = oauth_of(&name, config.as_deref())?;
            let flow = flow.map(|f| match f {
                FlowArg::Device => oauth::Flow::Device,
                FlowArg::Browser => oauth::Flow::Browser,
            });
            oauth::login(&name, &o, flow, !no_browser)
        }
        AccountCmd::Token { name, config } => {
            let o = oauth_of(&name, config.as_deref())?;
            let token = oauth::access_token(&name, &o, false)?;
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
            keyring::set(&name, &secret)?;
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
        Some("office365") | Some("outlook") => Some(oauth::Provider::Microsoft),
        Some("gmail") => Some(oauth::Provider::Google),
        _ => None,
    };
    if a.client_id.is_none() && interactive && provider == Some(oauth::Provider::Microsoft) {
        a.client_id = Some(ask("OAuth2 client id (the app registered in Entra ID)")?)
            .filter(|c| !c.is_empty());
    }
    let oauth = match (&a.client_id, provider) {
        (Some(id), Some(p)) => Some(oauth::OAuthConfig {
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
    let mut auth: Option<AuthSetting> = a.auth.map(Into::into);
    if oauth.is_some() && auth.is_none() {
        auth = Some(AuthSetting::Xoauth2);
    }
    let account = Account {
        preset: a.preset.clone(),
        server: a.server,
        tls: a.tls.map(Into::into),
        auth,
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
    if a.quiet {
        return Ok(());
    }
    eprintln!("missive: added account {} to {}", a.name, path.display());
    if let Some(note) = a
        .preset
        .as_deref()
        .and_then(|p| presets::get(p).ok())
        .map(|p| p.note)
    {
        super::report::hint_line("note", &note);
    }
    if a.keyring {
        super::report::hint_line("next", &format!("missive account set-password {}", a.name));
    }
    if a.client_id.is_some() {
        super::report::hint_line("next", &format!("missive account login {}", a.name));
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
