//! `missive send` and `missive sendmail`: options → settings → a mail and
//! a mailer → the outcome, reported.

use std::io::Read;
use std::path::PathBuf;
use std::time::Duration;

use missive_smtp::client::TlsMode;

use super::report::{self, Output};
use crate::cli::SendArgs;
use crate::deliver::{Direct, Mailer, MailerOptions, Relay, Route, Trust, DIRECT_DEADLINE};
use crate::error::{AppError, Result};
use crate::message::draft::{local_sender, SendmailMode};
use crate::message::{header, Mail};
use crate::serve::sandbox::Sandbox;
use crate::settings::{self, Settings};
use crate::transport::net::ServerAddr;

/// Where sandbox mail goes unless `--maildir` says otherwise.
const SANDBOX_MAILDIR: &str = "missive-sandbox";

/// Runs `send` (or `sendmail`, with its mode).
pub(crate) async fn run(args: SendArgs, sendmail: Option<SendmailMode>) -> Result<()> {
    if args.sandbox {
        return sandbox(args).await;
    }
    let out = Output {
        json: args.json,
        quiet: args.quiet,
    };
    let (mail, options) = match plan(&args, sendmail) {
        Ok(p) => p,
        Err(e) => {
            if args.json {
                println!("{:#}", e.json());
            }
            return Err(e);
        }
    };
    if args.dry_run {
        return dry_run(&mail, &options.route);
    }
    let mailer = match Mailer::new(options) {
        Ok(m) => m,
        Err(e) => {
            if args.json {
                println!("{:#}", e.json());
            }
            return Err(e);
        }
    };
    deliver(&mailer, &mail, out).await
}

async fn deliver(mailer: &Mailer, mail: &Mail, out: Output) -> Result<()> {
    let server = match &mailer.options().route {
        Route::Relay(r) => Some(r.server.display()),
        Route::Direct(_) => None,
    };
    let result = mailer.send(mail).await;
    mailer.close().await;
    report::finish(result, mail, server, out)
}

/// Settings resolved once, then the mail and the mailer's options.
fn plan(args: &SendArgs, sendmail: Option<SendmailMode>) -> Result<(Mail, MailerOptions)> {
    if args.route.direct && args.route.server.is_some() {
        return Err(AppError::Usage(
            "--direct and --server exclude each other".into(),
        ));
    }
    let settings = settings::resolve(&args.route.overrides())?;
    check_ehlo(settings.ehlo.as_deref())?;
    let mut draft = args.draft();
    draft.from = settings.from.clone();
    draft.user = settings.user.clone();
    draft.sendmail = sendmail;
    let mail = draft.mail()?;
    let options = mailer_options(&settings, args)?;
    Ok((mail, options))
}

fn check_ehlo(ehlo: Option<&str>) -> Result<()> {
    if let Some(ehlo) = ehlo {
        header::reject_crlf("EHLO name", ehlo)?;
        if ehlo.is_empty() || ehlo.contains(' ') {
            return Err(AppError::Usage(format!("invalid --ehlo {ehlo:?}")));
        }
    }
    Ok(())
}

/// The delivery plan: the route, its TLS and login, from the settings.
fn mailer_options(s: &Settings, args: &SendArgs) -> Result<MailerOptions> {
    let server = s
        .server
        .as_deref()
        .map(|x| ServerAddr::parse(x, 587))
        .transpose()?;
    let tls = match (s.tls, &server) {
        (Some(t), _) => t.mode(),
        (None, None) => TlsMode::Opportunistic,
        (None, Some(srv)) if srv.port == 465 => TlsMode::Implicit,
        (None, Some(_)) => TlsMode::StartTls,
    };
    if s.insecure {
        eprintln!("missive: warning: --insecure: the server's certificate is not verified; anyone on the path can read and change this session");
    }
    let route = match server {
        // MX hosts are the recipients' servers: the user's credentials are
        // for their own provider and never go there.
        None if s.auth_explicit && !args.dry_run => {
            return Err(AppError::Usage(
                "--auth is for a submission server (--server, --account, --preset); direct delivery to MX hosts does not log in".into(),
            ))
        }
        None => Route::Direct(Direct {
            dns_server: s.dns_server.clone(),
            mx_port: s.mx_port.unwrap_or(25),
            tls,
            deadline: s
                .direct_deadline
                .map_or(DIRECT_DEADLINE, |d| Duration::from_secs(d.max(1))),
        }),
        Some(server) => {
            if s.auth_explicit && s.login.is_none() && !args.dry_run {
                return Err(AppError::Usage("--auth needs --user NAME".into()));
            }
            Route::Relay(Relay {
                server,
                tls,
                // Nothing is sent in a dry run: no password is asked for or run.
                login: s.login.clone().filter(|_| !args.dry_run),
                mechanism: s.auth.mechanism().flatten(),
                allow_plaintext_auth: s.allow_plaintext_auth,
            })
        }
    };
    Ok(MailerOptions {
        trust: Trust {
            cafile: s.cafile.clone(),
            insecure: s.insecure,
            ..Trust::default()
        },
        ehlo: s.ehlo.clone(),
        timeout: s.timeout.map(Duration::from_secs),
        chunking: s.chunking,
        connections: 1,
        verbosity: args.verbose,
        ..MailerOptions::new(route)
    })
}

/// `--sandbox`: a real send to the capture server started in this process.
async fn sandbox(args: SendArgs) -> Result<()> {
    let maildir = args
        .maildir
        .clone()
        .unwrap_or_else(|| PathBuf::from(SANDBOX_MAILDIR));
    let mut sandbox = Sandbox::start(&maildir).await?;
    if !args.json {
        eprintln!(
            "missive: sandbox: capture server on {} (STARTTLS with a throwaway CA, AUTH required), Maildir {}",
            sandbox.address(),
            maildir.display()
        );
    }
    check_ehlo(args.route.ehlo.as_deref())?;
    let mut draft = args.draft();
    draft.default_from = Some(local_sender());
    let mail = draft.mail()?;
    let options = MailerOptions {
        ehlo: args.route.ehlo.clone(),
        timeout: args.route.timeout.map(Duration::from_secs),
        chunking: !args.route.no_chunking,
        connections: 1,
        verbosity: if args.json {
            args.verbose
        } else {
            args.verbose.max(1)
        },
        ..sandbox.mailer_options()
    };
    if args.dry_run {
        return dry_run(&mail, &options.route);
    }
    let mailer = Mailer::new(options)?;
    let out = Output {
        json: args.json,
        quiet: args.quiet,
    };
    deliver(&mailer, &mail, out).await?;
    let stored = sandbox.next_stored(Duration::from_secs(5)).await?;
    if !args.json {
        println!("delivered: {}", stored.display());
    }
    Ok(())
}

/// `--dry-run`: the envelope, then the message as it would go on the wire
/// (line endings normalised; DATA's dot-stuffing is transport, not shown).
fn dry_run(mail: &Mail, route: &Route) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let io = |e: std::io::Error| AppError::Io(format!("writing to standard output: {e}"));
    let via = match route {
        Route::Relay(r) => format!("via {}", r.server.display()),
        Route::Direct(_) => "direct to each domain's MX hosts".into(),
    };
    writeln!(
        out,
        "# dry run: nothing is sent ({via}, {} octets)",
        mail.message.size()
    )
    .map_err(io)?;
    writeln!(out, "MAIL FROM:<{}>", mail.envelope.from).map_err(io)?;
    for r in &mail.envelope.to {
        writeln!(out, "RCPT TO:<{r}>").map_err(io)?;
    }
    writeln!(out).map_err(io)?;
    let mut reader = mail.message.open();
    let mut enc = missive_smtp::data::DataEncoder::for_bdat();
    let (mut buf, mut wire) = (vec![0u8; 64 * 1024], Vec::with_capacity(80 * 1024));
    loop {
        let n = reader
            .read(&mut buf)
            .map_err(|e| AppError::Io(format!("reading the message: {e}")))?;
        if n == 0 {
            break;
        }
        enc.encode(&buf[..n], &mut wire);
        out.write_all(&wire).map_err(io)?;
        wire.clear();
    }
    enc.finish_chunked(&mut wire);
    out.write_all(&wire).map_err(io)?;
    out.flush().map_err(io)
}
