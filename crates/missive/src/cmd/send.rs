//! `missive send` and `missive sendmail`: options → settings → a mail and
//! a mailer → the outcome, reported.

use std::io::Read;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::report::{self, Output};
use crate::cli::SendArgs;
use crate::deliver::{Diagnosis, Mailer, MailerOptions, QuitAfter, Route, Status};
use crate::error::{exit, AppError, Result};
use crate::message::draft::{local_sender, SendmailMode};
use crate::message::{header, Mail};
use crate::outbox;
use crate::serve::sandbox::Sandbox;
use crate::settings::{self, QueueWhen, Settings};

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
    if let Some(stage) = args.quit_after() {
        let result = quit_after(&args, stage).await;
        return super::diagnosis::finish(result, stage, out);
    }
    let default_queue = match sendmail {
        Some(_) => QueueWhen::OnFailure,
        None => QueueWhen::Never,
    };
    let (mail, options, settings) = match plan(&args, sendmail) {
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
    let when = settings.queue.when.unwrap_or(default_queue);
    if when == QueueWhen::Always {
        let id = outbox::enqueue(&settings, &mail, None)?;
        eprintln!("missive: queued as {id}: queue = always; `missive queue run` delivers it");
        if args.json {
            let to = &mail.envelope.to;
            println!(
                "{:#}",
                serde_json::json!({ "queued_as": id, "message_id": mail.message_id, "recipients": to, "exit_code": 0 })
            );
        }
        return Ok(());
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
    let queue = (when == QueueWhen::OnFailure).then_some(&settings);
    let log = settings.log.clone().map(|target| LogTo {
        target,
        account: settings.provenance.account.clone(),
    });
    deliver(&mailer, &mail, out, queue, log).await
}

/// Where the delivery log goes, and the account it names.
struct LogTo {
    target: String,
    account: Option<String>,
}

/// Sends, and with `queue` (on-failure) keeps what failed temporarily in
/// the outbox; with `log`, writes the message's line.
async fn deliver(
    mailer: &Mailer,
    mail: &Mail,
    out: Output,
    queue: Option<&Settings>,
    log: Option<LogTo>,
) -> Result<()> {
    let server = match &mailer.options().route {
        Route::Relay(r) => Some(r.server.display()),
        Route::Direct(_) => None,
    };
    // Set just before the end of the message goes out: after that, an
    // error leaves the server maybe holding it (RFC 1047).
    let committed = AtomicBool::new(false);
    let started = std::time::Instant::now();
    let result = mailer
        .send_committing(mail, &|| committed.store(true, Ordering::SeqCst))
        .await;
    mailer.close().await;
    let tried = match (&result, queue) {
        (Ok(o), Some(_)) if o.recipients.iter().any(|r| r.status == Status::Deferred) => {
            Some(Ok(o))
        }
        (Err(e), Some(_)) if e.exit_code() == exit::TEMPFAIL => Some(Err(e)),
        _ => None,
    }
    .map(|result| outbox::Tried {
        result,
        committed: committed.load(Ordering::SeqCst),
    });
    let queued = match (tried, queue) {
        (Some(tried), Some(settings)) => match outbox::enqueue(settings, mail, Some(tried)) {
            Ok(id) => Some(id),
            // Not queued: the temporary failure is reported as it is (exit 75).
            Err(e) => {
                report::error(&AppError::Spool(format!("cannot queue the message: {e}")));
                None
            }
        },
        _ => None,
    };
    let Some(log) = log else {
        return report::finish(result, mail, server, out, queued.as_deref());
    };
    let entry = super::log::Entry {
        account: log.account,
        server: server.clone(),
        duration: started.elapsed(),
    };
    // The exit code is known only once the outcome is judged.
    let seen = result.as_ref().cloned().map_err(|e| e.to_string());
    let judged = report::finish(result, mail, server, out, queued.as_deref());
    let exit = judged.as_ref().err().map_or(0, |e| e.exit_code());
    let line = super::log::line(&entry, mail, &seen, exit, queued.as_deref());
    if let Err(e) = super::log::write(&log.target, &line, exit != 0) {
        // The message's fate stands; a log that cannot be written is a warning.
        report::hint_line("missive: warning", &e.to_string());
    }
    judged
}

/// `--quit-after`: a session that stops after `stage`. The envelope (from
/// --from and --to) is needed only for `mail` and `rcpt`.
async fn quit_after(args: &SendArgs, stage: QuitAfter) -> Result<Diagnosis> {
    let settings = settings::resolve(&args.route.overrides())?;
    check_ehlo(settings.ehlo.as_deref())?;
    let options = settings::mailer_options(&settings, args.dry_run, args.verbose)?;
    let mail = match stage >= QuitAfter::Mail {
        true => Some(mail(args, &settings, None)?),
        false => None,
    };
    let mailer = Mailer::new(options)?;
    let result = mailer
        .quit_after(mail.as_ref().map(|m| &m.envelope), stage)
        .await;
    mailer.close().await;
    result
}

/// The mail as asked for, with the sender the settings resolve.
fn mail(args: &SendArgs, settings: &Settings, sendmail: Option<SendmailMode>) -> Result<Mail> {
    let mut draft = args.draft();
    draft.from = settings.from.clone();
    draft.user = settings.user.clone();
    draft.logs_in = settings.server.is_some() && settings.login.is_some();
    draft.sendmail = sendmail;
    let signers = crate::message::dkim::signers(&settings.dkim)?;
    let mut mail = draft.mail()?.signed(&signers)?;
    mail.envelope.require_tls = settings.require_tls;
    Ok(mail)
}

/// Settings resolved once, then the mail and the mailer's options.
fn plan(
    args: &SendArgs,
    sendmail: Option<SendmailMode>,
) -> Result<(Mail, MailerOptions, Settings)> {
    if args.route.direct && args.route.server.is_some() {
        return Err(AppError::Usage(
            "--direct and --server exclude each other".into(),
        ));
    }
    let mut overrides = args.route.overrides();
    overrides.queue = args.queue.map(Into::into);
    let settings = settings::resolve(&overrides)?;
    check_ehlo(settings.ehlo.as_deref())?;
    let mail = mail(args, &settings, sendmail)?;
    if settings.insecure {
        report::hint_line("missive: warning", "--insecure: the server's certificate is not verified; anyone on the path can read and change this session");
    }
    let mut options = settings::mailer_options(&settings, args.dry_run, args.verbose)?;
    options.progress_over = progress_over(args);
    Ok((mail, options, settings))
}

pub(super) fn check_ehlo(ehlo: Option<&str>) -> Result<()> {
    if let Some(ehlo) = ehlo {
        header::reject_crlf("EHLO name", ehlo)?;
        if ehlo.is_empty() || ehlo.contains(' ') {
            return Err(AppError::Usage(format!("invalid --ehlo {ehlo:?}")));
        }
    }
    Ok(())
}

/// Messages from this size on get a progress bar ("a few MB": 4 MiB; a
/// smaller one goes out in about a second even on a slow uplink).
const PROGRESS_OVER: u64 = 4 * 1024 * 1024;

/// A progress bar only on a terminal, and never with --json or -q.
fn progress_over(args: &SendArgs) -> Option<u64> {
    use std::io::IsTerminal;
    let wanted = !args.json && !args.quiet && std::io::stderr().is_terminal();
    wanted.then_some(PROGRESS_OVER)
}

/// `--sandbox`: a real send to the capture server started in this process.
async fn sandbox(args: SendArgs) -> Result<()> {
    let maildir = args
        .maildir
        .clone()
        .unwrap_or_else(|| PathBuf::from(SANDBOX_MAILDIR));
    let mut sandbox = Sandbox::start(&maildir).await?;
    if !args.json && !args.quiet {
        eprintln!(
            "missive: sandbox: capture server on {} (STARTTLS with a throwaway CA, AUTH required), Maildir {}",
            sandbox.address(),
            maildir.display()
        );
    }
    check_ehlo(args.route.ehlo.as_deref())?;
    let mut draft = args.draft();
    draft.default_from = Some(local_sender());
    let mut mail = draft.mail()?;
    // --dkim-key signs in the sandbox too (the only settings it reads)
    if !args.route.dkim_key.is_empty() {
        let settings = settings::resolve(&args.route.overrides())?;
        mail = mail.signed(&crate::message::dkim::signers(&settings.dkim)?)?;
    }
    let options = MailerOptions {
        ehlo: args.route.ehlo.clone(),
        timeout: args.route.timeout.map(Duration::from_secs),
        chunking: !args.route.no_chunking,
        connections: 1,
        verbosity: if args.json || args.quiet {
            args.verbose
        } else {
            args.verbose.max(1)
        },
        progress_over: progress_over(&args),
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
    deliver(&mailer, &mail, out, None, None).await?;
    let stored = sandbox.next_stored(Duration::from_secs(5)).await?;
    if !args.json && !args.quiet {
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
