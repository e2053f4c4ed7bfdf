//! `missive send`: from command-line options to a message on a server, and a
//! result for every recipient.

use std::io::{IsTerminal, Read};
use std::time::{Duration, SystemTime};

use missive_smtp::client::{ClientConfig, TlsMode};
use missive_smtp::envelope::Dsn;
use missive_smtp::{Credentials, Envelope, Mechanism, Reply, TransactionOutcome};
use serde::Serialize;

use crate::cli::{AuthArg, SendArgs, TlsArg};
use crate::compose::{self, Attachment, Composition};
use crate::credentials::{run_secret_command, SecretSource};
use crate::error::{exit, reply_code_exit, AppError, Result};
use crate::message::{self, Mailbox};
use crate::net::ServerAddr;
use crate::ready;
use crate::session::{Session, SessionOptions, TlsInfo};
use crate::source::Message;
use crate::tls::{TlsContext, TlsOptions};
use crate::transcript::Transcript;

/// The `--json` report.
#[derive(Debug, Serialize)]
pub struct Report {
    /// The relay, or `null` for direct delivery (each recipient names its MX host).
    pub server: Option<String>,
    pub tls: Option<TlsInfo>,
    pub authenticated: bool,
    pub message_id: String,
    pub queue_id: Option<String>,
    pub recipients: Vec<RecipientReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What to do about the error, when missive knows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    pub exit_code: i32,
}

#[derive(Debug, Serialize, Default)]
pub struct RecipientReport {
    pub address: String,
    pub accepted: bool,
    pub code: Option<u16>,
    pub enhanced: Option<String>,
    pub text: Option<String>,
    /// What to do about a refusal, when missive knows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// Direct delivery: how this recipient's domain was reached.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub direct: Option<crate::direct::DirectDetail>,
}

impl RecipientReport {
    /// A recipient's line from a reply (or none).
    pub fn from_reply(address: &str, accepted: bool, reply: Option<&Reply>) -> RecipientReport {
        RecipientReport {
            address: address.to_string(),
            accepted,
            code: reply.map(|x| x.code.value()),
            enhanced: reply.and_then(|x| x.enhanced).map(|e| e.to_string()),
            text: reply.map(Reply::text),
            hint: reply
                .filter(|_| !accepted)
                .and_then(crate::hints::for_reply),
            direct: None,
        }
    }
}

/// Everything `send` needs, checked, before any connection is made.
pub struct Prepared {
    /// The relay; `None`: direct delivery to each domain's MX hosts.
    pub server: Option<ServerAddr>,
    pub smtp: ClientConfig,
    pub tls: TlsContext,
    pub timeout: Option<Duration>,
    pub envelope: Envelope,
    pub message: Message,
    pub message_id: String,
    /// Direct delivery: `--dns-server` and `--mx-port`.
    pub dns_server: Option<String>,
    pub mx_port: u16,
}

pub async fn run(mut args: SendArgs) -> Result<()> {
    if args.sandbox {
        return crate::sandbox::run(args).await;
    }
    args.auth_explicit = !matches!(args.auth, None | Some(AuthArg::Auto) | Some(AuthArg::None));
    let prepared = crate::settings::resolve(&mut args).and_then(|_| prepare(&args, None));
    match prepared {
        Ok(prepared) => run_prepared(&args, prepared).await,
        Err(e) => {
            if args.json {
                println!("{:#}", e.json());
            }
            Err(e)
        }
    }
}

/// `--dry-run`: the envelope, then the message as it would go on the wire
/// (line endings normalised; DATA's dot-stuffing is transport, not shown).
fn dry_run(p: &Prepared) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let io = |e: std::io::Error| AppError::Io(format!("writing to standard output: {e}"));
    let via = match &p.server {
        Some(s) => format!("via {}", s.display()),
        None => "direct to each domain's MX hosts".into(),
    };
    writeln!(
        out,
        "# dry run: nothing is sent ({via}, {} octets)",
        p.message.size()
    )
    .map_err(io)?;
    writeln!(out, "MAIL FROM:<{}>", p.envelope.from).map_err(io)?;
    for r in &p.envelope.to {
        writeln!(out, "RCPT TO:<{r}>").map_err(io)?;
    }
    writeln!(out).map_err(io)?;
    let mut reader = p.message.open();
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

/// Sends a prepared message and reports on it.
pub async fn run_prepared(args: &SendArgs, prepared: Prepared) -> Result<()> {
    if args.dry_run {
        return dry_run(&prepared);
    }
    let json = args.json;
    let mut report = Report {
        server: prepared.server.as_ref().map(ServerAddr::display),
        tls: None,
        authenticated: false,
        message_id: prepared.message_id.clone(),
        queue_id: None,
        recipients: Vec::new(),
        error: None,
        hint: None,
        exit_code: exit::OK,
    };
    let quiet = args.quiet || json;
    let transcript = Transcript::new(args.verbose);
    let mut prepared = prepared;
    let result = match prepared.server.is_some() {
        true => {
            let first = deliver(&prepared, transcript.clone(), &mut report, quiet).await;
            match (
                &first,
                &args.configured.oauth,
                prepared.smtp.credentials.clone(),
            ) {
                // The server rejected the token (XOAUTH2/OAUTHBEARER error
                // challenge, then 535): refresh once, try again on a new connection.
                (
                    Err(AppError::Smtp(missive_smtp::Error::AuthFailed { .. })),
                    Some((acct, cfg)),
                    Some(Credentials::Token { user, .. }),
                ) => match crate::oauth::access_token(acct, cfg, true) {
                    Ok(token) => {
                        transcript.info(
                            "the server rejected the access token; refreshed it, trying again",
                        );
                        prepared.smtp.credentials = Some(Credentials::Token { user, token });
                        deliver(&prepared, transcript, &mut report, quiet).await
                    }
                    Err(e) => Err(e),
                },
                _ => first,
            }
        }
        false => crate::direct::deliver(prepared, transcript, &mut report, quiet).await,
    };
    if let Err(e) = &result {
        report.error = Some(e.to_string());
        if let Some(h) = e.hint() {
            report.hint = Some(h);
        }
        report.exit_code = e.exit_code();
    }
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
    }
    result
}

async fn deliver(
    p: &Prepared,
    transcript: Transcript,
    report: &mut Report,
    quiet: bool,
) -> Result<()> {
    let server = p
        .server
        .clone()
        .ok_or(AppError::Usage("no server".into()))?;
    let opts = SessionOptions {
        server,
        addrs: Vec::new(),
        connect_timeout: crate::session::CONNECT_TIMEOUT,
        smtp: p.smtp.clone(),
        tls: p.tls.clone(),
        timeout: p.timeout,
    };
    let mut session = Session::open(opts, transcript).await?;
    report.tls = session.tls.clone();
    report.authenticated = session.client().is_authenticated();
    let outcome = match session
        .send_mail(p.envelope.clone(), &mut p.message.open())
        .await
    {
        Ok(o) => o,
        Err(e) => {
            session.close_after_error().await;
            return Err(e);
        }
    };
    session.quit().await;
    judge(&outcome, report)?;
    if !quiet {
        let to: Vec<&str> = report
            .recipients
            .iter()
            .map(|r| r.address.as_str())
            .collect();
        let queued = report
            .queue_id
            .as_ref()
            .map(|q| format!(" (queued as {q})"))
            .unwrap_or_default();
        let id = match report.message_id.is_empty() {
            true => "the message".to_string(),
            false => report.message_id.clone(),
        };
        println!(
            "sent {id} to {} via {}{queued}",
            to.join(", "),
            report.server.as_deref().unwrap_or("?")
        );
    }
    Ok(())
}

/// Reports each recipient and turns refusals into the exit code: permanent
/// (69) beats temporary (75).
fn judge(outcome: &TransactionOutcome, report: &mut Report) -> Result<()> {
    report.queue_id = outcome.final_reply.as_ref().and_then(Reply::queue_id);
    let mut worst = exit::OK;
    let mut refused = 0;
    let results = outcome.recipients();
    for r in &results {
        report
            .recipients
            .push(RecipientReport::from_reply(r.address, r.accepted, r.reply));
        if !r.accepted {
            refused += 1;
            let why = r.reply.map_or("no reply".to_string(), Reply::summary);
            eprintln!("missive: {} refused: {why}", r.address);
            if let Some(h) = r.reply.and_then(crate::hints::for_reply) {
                eprintln!("hint: {h}");
            }
            let transient = r.reply.is_some_and(|x| x.code.is_transient());
            let code = reply_code_exit(transient);
            if worst != exit::UNAVAILABLE {
                worst = code;
            }
        }
    }
    if refused == 0 {
        return Ok(());
    }
    let total = results.len();
    let msg = if refused == total {
        format!("the message was not accepted for any of the {total} recipient(s)")
    } else {
        format!("{refused} of {total} recipients refused; the message was accepted for the others")
    };
    Err(AppError::Refused(msg, worst))
}

/// The in-process capture server `--sandbox` sends to.
pub struct Sandbox {
    pub server: ServerAddr,
    pub ca: rustls::pki_types::CertificateDer<'static>,
    pub credentials: Credentials,
}

pub fn prepare(args: &SendArgs, sandbox: Option<&Sandbox>) -> Result<Prepared> {
    let server = match (&args.server, sandbox) {
        (_, Some(sb)) => Some(sb.server.clone()),
        (Some(_), None) if args.direct => {
            return Err(AppError::Usage(
                "--direct and --server exclude each other".into(),
            ))
        }
        (Some(s), None) => Some(ServerAddr::parse(s, 587)?),
        (None, None) => None,
    };
    let direct = server.is_none();
    if let Some(ehlo) = &args.ehlo {
        message::reject_crlf("EHLO name", ehlo)?;
        if ehlo.is_empty() || ehlo.contains(' ') {
            return Err(AppError::Usage(format!("invalid --ehlo {ehlo:?}")));
        }
    }
    let Outgoing {
        message,
        from,
        recipients,
        message_id,
    } = outgoing(args, sandbox.is_some())?;

    let tls_mode = match args.tls {
        _ if sandbox.is_some() => TlsMode::StartTls,
        Some(TlsArg::Starttls) => TlsMode::StartTls,
        Some(TlsArg::Implicit) => TlsMode::Implicit,
        Some(TlsArg::Opportunistic) => TlsMode::Opportunistic,
        Some(TlsArg::None) => TlsMode::None,
        None if direct => TlsMode::Opportunistic,
        None if server.as_ref().is_some_and(|s| s.port == 465) => TlsMode::Implicit,
        None => TlsMode::StartTls,
    };
    if args.insecure {
        eprintln!("missive: warning: --insecure: the server's certificate is not verified; anyone on the path can read and change this session");
    }
    let tls = match sandbox {
        Some(sb) => TlsContext::new(&TlsOptions {
            no_system_roots: true,
            extra_roots: vec![sb.ca.clone()],
            ..TlsOptions::default()
        })?,
        None => TlsContext::new(&TlsOptions {
            cafile: args.cafile.clone(),
            insecure: args.insecure,
            ..TlsOptions::default()
        })?,
    };
    let tls = if tls_mode == TlsMode::Opportunistic {
        tls.tolerant()
    } else {
        tls
    };

    let (credentials, mechanism) = match sandbox {
        Some(sb) => (Some(sb.credentials.clone()), None),
        // Nothing is sent: no password is asked for or run.
        None if args.dry_run => (None, None),
        // MX hosts are the recipients' servers: the user's credentials are
        // for their own provider and never go there.
        None if server.is_none() && args.auth_explicit => {
            return Err(AppError::Usage(
                "--auth is for a submission server (--server, --account, --preset); direct delivery to MX hosts does not log in".into(),
            ))
        }
        None if server.is_none() => (None, None),
        None => credentials(args)?,
    };
    let envelope = Envelope {
        from,
        to: recipients,
        eight_bit: message.eight_bit,
        size: Some(message.size()),
        dsn: Dsn {
            ret: args.dsn_ret.map(|r| r.wire().to_string()),
            envid: args.envid.clone(),
            notify: args.dsn_notify.as_deref().map(dsn_notify).transpose()?,
        },
    };
    Ok(Prepared {
        smtp: ClientConfig {
            ehlo_name: args.ehlo.clone().unwrap_or_default(),
            tls: tls_mode,
            credentials,
            mechanism,
            allow_plaintext_auth: args.allow_plaintext_auth,
            server_host: server.as_ref().map(|s| s.host.clone()).unwrap_or_default(),
            server_port: server.as_ref().map_or(25, |s| s.port),
            chunking: !args.no_chunking,
        },
        dns_server: args.dns_server.clone(),
        mx_port: args.mx_port.unwrap_or(25),
        server,
        tls,
        timeout: args.timeout.map(Duration::from_secs),
        envelope,
        message,
        message_id,
    })
}

pub fn credentials(args: &SendArgs) -> Result<(Option<Credentials>, Option<Mechanism>)> {
    let mechanism = match args.auth.unwrap_or_default() {
        AuthArg::None => return Ok((None, None)),
        AuthArg::Auto => None,
        AuthArg::Plain => Some(Mechanism::Plain),
        AuthArg::Login => Some(Mechanism::Login),
        AuthArg::CramMd5 => Some(Mechanism::CramMd5),
        AuthArg::Xoauth2 => Some(Mechanism::XOAuth2),
        AuthArg::Oauthbearer => Some(Mechanism::OAuthBearer),
    };
    let Some(user) = args.login.user.clone() else {
        if args.auth_explicit {
            return Err(AppError::Usage("--auth needs --user NAME".into()));
        }
        return Ok((None, None));
    };
    let token = args.login.oauth_token_cmd.is_some()
        || mechanism.as_ref().is_some_and(Mechanism::uses_token);
    let creds = if let Some(cmd) = &args.login.oauth_token_cmd {
        Credentials::Token {
            user,
            token: run_secret_command(cmd, "OAuth token")?,
        }
    } else if let Some((account, cfg)) = &args.configured.oauth {
        // Signed in with `missive account login`: the stored token, refreshed when due.
        Credentials::Token {
            user,
            token: crate::oauth::access_token(account, cfg, false)?,
        }
    } else {
        let source = SecretSource {
            env: args.login.password_env.clone(),
            cmd: args.login.password_cmd.clone(),
            value: args.configured.password.clone(),
            keyring: args.configured.keyring_account.clone(),
        };
        let what = if token { "OAuth token" } else { "password" };
        let secret = source.resolve(&user, what)?;
        if token {
            Credentials::Token {
                user,
                token: secret,
            }
        } else {
            Credentials::Password {
                user,
                password: secret,
            }
        }
    };
    Ok((Some(creds), mechanism))
}

/// The message to send and its envelope addresses.
pub struct Outgoing {
    pub message: Message,
    /// The envelope sender (empty: the null reverse-path).
    pub from: String,
    pub recipients: Vec<String>,
    pub message_id: String,
}

/// Builds the message from the options, or loads a ready-made one.
fn outgoing(args: &SendArgs, sandbox: bool) -> Result<Outgoing> {
    let explicit_from = match (&args.from, &args.login.user) {
        (Some(f), _) => Some(Mailbox::parse(f)?),
        (None, Some(u)) if u.contains('@') && args.message.is_none() => Some(Mailbox::parse(u)?),
        _ => None,
    };
    let (to, cc, bcc) = (
        message::parse_list(&args.to)?,
        message::parse_list(&args.cc)?,
        message::parse_list(&args.bcc)?,
    );
    let mut listed: Vec<String> = to
        .iter()
        .chain(&cc)
        .chain(&bcc)
        .map(|m| m.addr.clone())
        .collect();

    if let Some(path) = &args.message {
        let load = match &args.sendmail {
            Some(mode) => ready::LoadOptions {
                dot_ends_input: mode.dot_ends_input,
                add_missing: Some(crate::sendmail::default_from(args)?),
            },
            None => ready::LoadOptions::default(),
        };
        let ready = ready::load(path, &load)?;
        if args.read_recipients {
            listed.extend(ready.recipients.iter().map(|m| m.addr.clone()));
        }
        let from = explicit_from
            .or(ready.from)
            .or(load.add_missing.clone())
            .ok_or_else(|| {
                AppError::Usage("no sender: the message has no From; give --from ADDR".into())
            })?;
        if listed.is_empty() {
            let hint = if args.read_recipients {
                "the message has no To, Cc or Bcc"
            } else {
                "give --to ADDR or --read-recipients"
            };
            return Err(AppError::Usage(format!("no recipients: {hint}")));
        }
        dedup(&mut listed);
        let message_id = ready.message_id.unwrap_or_default();
        return Ok(Outgoing {
            message: ready.message,
            from: from.addr,
            recipients: listed,
            message_id,
        });
    }

    let from = match explicit_from {
        Some(f) => f,
        None if sandbox => Mailbox::parse(&crate::sandbox::default_from())?,
        None => return Err(AppError::Usage("no sender: give --from ADDR".into())),
    };
    if listed.is_empty() {
        return Err(AppError::Usage("no recipients: give --to ADDR".into()));
    }
    dedup(&mut listed);
    let text = read_text(
        args.body.as_deref(),
        args.body_file.as_deref(),
        "--body-file",
        args.html.is_none() && args.html_file.is_none(),
    )?;
    let html = match (&args.html, &args.html_file) {
        (Some(h), _) => Some(h.clone()),
        (None, Some(p)) => read_text(None, Some(p), "--html-file", false)?,
        (None, None) => None,
    };
    let attachments = args
        .attach
        .iter()
        .map(|a| Attachment::parse(a))
        .collect::<Result<Vec<_>>>()?;
    let inline = args
        .inline
        .iter()
        .map(|a| Attachment::parse(a))
        .collect::<Result<Vec<_>>>()?;
    if !inline.is_empty() && html.is_none() {
        return Err(AppError::Usage("--inline images need an HTML part (--html or --html-file) that refers to them as cid:NAME".into()));
    }
    let headers = args
        .header
        .iter()
        .map(|h| compose::parse_header(h))
        .collect::<Result<Vec<_>>>()?;
    let reply_to = message::parse_list(&args.reply_to)?;
    let message_id = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("Message-ID"))
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| message::message_id(from.domain()));
    let message = Composition {
        from: &from,
        to: &to,
        cc: &cc,
        reply_to: &reply_to,
        subject: args.subject.as_deref(),
        text: text.as_deref(),
        html: html.as_deref(),
        inline: &inline,
        attachments: &attachments,
        headers: &headers,
        date: SystemTime::now(),
        message_id: &message_id,
    }
    .build()?;
    Ok(Outgoing {
        message,
        from: from.addr,
        recipients: listed,
        message_id,
    })
}

fn dedup(list: &mut Vec<String>) {
    let mut seen = std::collections::HashSet::new();
    list.retain(|a| seen.insert(a.to_ascii_lowercase()));
}

/// `NEVER` or a comma list of SUCCESS, FAILURE, DELAY (RFC 3461 §4.1).
fn dsn_notify(s: &str) -> Result<String> {
    let words: Vec<String> = s
        .split(',')
        .map(|w| w.trim().to_ascii_uppercase())
        .collect();
    let ok = match words.as_slice() {
        [w] if w == "NEVER" => true,
        ws => {
            !ws.is_empty()
                && ws
                    .iter()
                    .all(|w| matches!(w.as_str(), "SUCCESS" | "FAILURE" | "DELAY"))
        }
    };
    match ok {
        true => Ok(words.join(",")),
        false => Err(AppError::Usage(format!(
            "--dsn-notify {s:?}: use never, or a list of success,failure,delay"
        ))),
    }
}

/// Text from an option, a file, or (when `stdin` is allowed and it is not a terminal) standard input.
fn read_text(
    value: Option<&str>,
    file: Option<&std::path::Path>,
    flag: &str,
    stdin: bool,
) -> Result<Option<String>> {
    let bytes = if let Some(v) = value {
        return Ok(Some(v.to_string()));
    } else if let Some(path) = file {
        std::fs::read(path).map_err(|e| {
            let why = if e.kind() == std::io::ErrorKind::NotFound {
                "no such file"
            } else {
                "cannot read it"
            };
            AppError::Io(format!(
                "{flag} {}: {why} ({})",
                path.display(),
                crate::net::short_io(&e)
            ))
        })?
    } else if stdin && !std::io::stdin().is_terminal() {
        let mut v = Vec::new();
        std::io::stdin()
            .read_to_end(&mut v)
            .map_err(|e| AppError::Io(format!("reading standard input: {e}")))?;
        v
    } else {
        return Ok(None);
    };
    String::from_utf8(bytes).map(Some).map_err(|_| {
        AppError::Data(format!(
            "the text from {} is not UTF-8; send other data with --attach",
            if file.is_some() {
                flag
            } else {
                "standard input"
            }
        ))
    })
}
