//! `missive probe HOST[:PORT]`: what a server offers, before and after TLS,
//! its certificate and whether it verifies, and (with credentials) whether
//! the login works, then QUIT without sending anything. Replaces
//! `openssl s_client -starttls smtp` plus telnet for this job.

use std::time::Duration;

use missive_smtp::client::{ClientConfig, TlsMode};
use missive_smtp::{Capabilities, Credentials, Mechanism};
use serde::Serialize;

use crate::cli::ProbeArgs;
use crate::error::{exit, AppError, Result};
use crate::secrets::{Login, SecretSource};
use crate::settings::{self, AuthSetting, Overrides, TlsSetting};
use crate::transport::net::ServerAddr;
use crate::transport::session::{Session, SessionOptions, CONNECT_TIMEOUT};
use crate::transport::tls::{TlsContext, TlsInfo, TlsOptions};
use crate::transport::transcript::Transcript;

#[derive(Debug, Serialize, Default)]
struct Report {
    server: String,
    greeting: Option<String>,
    /// EHLO keywords before TLS (or the only ones, without TLS).
    ehlo: Vec<String>,
    starttls_offered: bool,
    tls: Option<TlsInfo>,
    /// EHLO keywords after STARTTLS.
    ehlo_after_tls: Option<Vec<String>>,
    auth_mechanisms: Vec<String>,
    /// AUTH is offered only once TLS is up.
    auth_only_after_tls: bool,
    size_limit: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    login: Option<LoginResult>,
    exit_code: i32,
}

#[derive(Debug, Serialize)]
struct LoginResult {
    ok: bool,
    reply: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    hint: Option<String>,
}

pub(super) async fn run(a: ProbeArgs) -> Result<()> {
    let server = ServerAddr::parse(&a.server, 587)?;
    let mode = match a.tls {
        Some(t) => TlsSetting::from(t).mode(),
        None if server.port == 465 => TlsMode::Implicit,
        // Probing reports a missing STARTTLS rather than stopping at it.
        None => TlsMode::Opportunistic,
    };
    // Certificate problems are reported, not fatal, so the chain can be shown.
    let tls = TlsContext::new(&TlsOptions {
        cafile: a.cafile.clone(),
        insecure: true,
        ..TlsOptions::default()
    })?;
    let mut report = Report {
        server: server.display(),
        ..Report::default()
    };
    let base = ClientConfig {
        ehlo_name: a.ehlo.clone().unwrap_or_default(),
        tls: mode,
        credentials: None,
        mechanism: None,
        allow_plaintext_auth: a.allow_plaintext_auth,
        server_host: server.host.clone(),
        server_port: server.port,
        chunking: false,
    };
    let proxy = settings::resolve(&Overrides {
        proxy: a.proxy.proxy.clone(),
        proxy_password_cmd: a.proxy.proxy_password_cmd.clone(),
        ..Overrides::default()
    })?
    .proxy
    .map(|p| p.proxy())
    .transpose()?;
    let opts = |smtp: ClientConfig| SessionOptions {
        server: server.clone(),
        addrs: Vec::new(),
        connect_timeout: CONNECT_TIMEOUT,
        smtp,
        tls: tls.tolerant(),
        timeout: Some(Duration::from_secs(a.timeout.max(1))),
        proxy: proxy.clone(),
        deadline: None,
    };
    let session = Session::open(opts(base.clone()), Transcript::new(a.verbose)).await?;
    let c = session.client();
    report.greeting = c.greeting().map(|g| g.summary());
    let after = c.capabilities();
    let before: &Capabilities = c.capabilities_before_tls().unwrap_or(after);
    report.ehlo = before.keywords();
    report.starttls_offered = before.starttls;
    report.tls = session.tls.clone();
    if c.capabilities_before_tls().is_some() {
        report.ehlo_after_tls = Some(after.keywords());
    }
    report.auth_mechanisms = after.auth.iter().map(|m| m.name().to_string()).collect();
    report.auth_only_after_tls =
        c.capabilities_before_tls().is_some() && before.auth.is_empty() && !after.auth.is_empty();
    report.size_limit = after.size;
    session.quit().await;

    let unverified = report.tls.as_ref().is_some_and(|t| !t.verified) && !a.insecure;
    if unverified {
        report.exit_code = exit::NOPERM;
    }
    if a.auth.is_some() || a.login.user.is_some() {
        let strict = TlsContext::new(&TlsOptions {
            cafile: a.cafile.clone(),
            insecure: a.insecure,
            ..TlsOptions::default()
        })?;
        let login = try_login(&a, base, |smtp| SessionOptions {
            tls: strict.clone(),
            ..opts(smtp)
        })
        .await;
        if !login.ok {
            report.exit_code = exit::NOPERM;
        }
        report.login = Some(login);
    }
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
    } else if !a.quiet {
        print_text(&report);
    }
    match report.exit_code {
        exit::OK => Ok(()),
        code => Err(AppError::Refused(
            if unverified {
                "the server's certificate did not verify (see above)".into()
            } else {
                "the login failed (see above)".into()
            },
            code,
        )),
    }
}

/// The probe's login: `--auth` asks for one, so a user is required.
fn credentials(a: &ProbeArgs) -> Result<(Option<Credentials>, Option<Mechanism>)> {
    let auth: AuthSetting = a.auth.map(Into::into).unwrap_or_default();
    let Some(mechanism) = auth.mechanism() else {
        return Ok((None, None));
    };
    let user = a
        .login
        .user
        .clone()
        .ok_or_else(|| AppError::Usage("--auth needs --user NAME".into()))?;
    let l = &a.login;
    let (secret, token) = match (&l.oauth_token_cmd, &l.password_cmd, &l.password_env) {
        (Some(c), _, _) => (SecretSource::Command(c.clone()), true),
        (_, Some(c), _) => (SecretSource::Command(c.clone()), false),
        (_, _, Some(v)) => (SecretSource::Env(v.clone()), false),
        _ => (SecretSource::Prompt, false),
    };
    let login = Login {
        user,
        secret,
        token,
    };
    let creds = login.credentials(mechanism.as_ref(), false)?;
    Ok((Some(creds), mechanism))
}

/// A second connection that logs in and QUITs.
async fn try_login(
    a: &ProbeArgs,
    mut smtp: ClientConfig,
    opts: impl Fn(ClientConfig) -> SessionOptions,
) -> LoginResult {
    let creds = match credentials(a) {
        Ok(c) => c,
        Err(e) => {
            return LoginResult {
                ok: false,
                reply: e.to_string(),
                hint: e.hint(),
            }
        }
    };
    (smtp.credentials, smtp.mechanism) = creds;
    if smtp.tls == TlsMode::Opportunistic {
        // Credentials go only over TLS, unless plaintext was allowed.
        smtp.tls = if a.allow_plaintext_auth {
            TlsMode::Opportunistic
        } else {
            TlsMode::StartTls
        };
    }
    match Session::open(opts(smtp), Transcript::new(a.verbose)).await {
        Ok(s) => {
            let ok = s.client().is_authenticated();
            s.quit().await;
            LoginResult {
                ok,
                reply: if ok {
                    "authenticated".into()
                } else {
                    "no AUTH was attempted".into()
                },
                hint: None,
            }
        }
        Err(e) => LoginResult {
            ok: false,
            reply: e.to_string(),
            hint: e.hint(),
        },
    }
}

fn print_text(r: &Report) {
    let line = |k: &str, v: &str| println!("{k:<12} {}", crate::error::printable(v));
    line("server", &r.server);
    line("greeting", r.greeting.as_deref().unwrap_or("-"));
    line("ehlo", &r.ehlo.join(", "));
    line(
        "starttls",
        if r.starttls_offered {
            "offered"
        } else {
            "not offered"
        },
    );
    match &r.tls {
        None => line("tls", "none (the session is not encrypted)"),
        Some(t) => {
            line("tls", &format!("{} {}", t.version, t.cipher));
            for (i, c) in t.certificate.iter().chain(&t.chain).enumerate() {
                let key = if i == 0 {
                    "certificate".to_string()
                } else {
                    format!("chain[{i}]")
                };
                line(&key, &c.subject);
                line("  issuer", &c.issuer);
                if !c.names.is_empty() {
                    line("  names", &c.names.join(", "));
                }
                line(
                    "  expires",
                    &format!("{} ({} days left)", c.not_after, c.days_left),
                );
            }
            match &t.problem {
                None => line("verified", "yes"),
                Some(p) => line("verified", &format!("NO: {p}")),
            }
        }
    }
    if let Some(e) = &r.ehlo_after_tls {
        line("ehlo (tls)", &e.join(", "));
    }
    let auth = match (r.auth_mechanisms.is_empty(), r.auth_only_after_tls) {
        (true, _) => "none offered".to_string(),
        (false, true) => format!("{} (offered only after TLS)", r.auth_mechanisms.join(" ")),
        (false, false) => r.auth_mechanisms.join(" "),
    };
    line("auth", &auth);
    line(
        "size",
        &match r.size_limit {
            None => "not advertised".to_string(),
            Some(0) => "no stated limit".to_string(),
            Some(n) => format!("{n} octets ({:.1} MiB)", n as f64 / 1048576.0),
        },
    );
    if let Some(l) = &r.login {
        line(
            "login",
            &format!("{}: {}", if l.ok { "ok" } else { "FAILED" }, l.reply),
        );
        if let Some(h) = &l.hint {
            line("hint", h);
        }
    }
}
