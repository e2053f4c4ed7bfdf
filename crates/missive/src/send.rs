//! `missive send`: from command-line options to a message on a server, and a
//! result for every recipient.

use std::io::{IsTerminal, Read};
use std::time::{Duration, SystemTime};

use missive_smtp::client::{ClientConfig, TlsMode};
use missive_smtp::{Credentials, Envelope, Mechanism, Reply, TransactionOutcome};
use serde::Serialize;

use crate::cli::{AuthArg, SendArgs, TlsArg};
use crate::credentials::{run_secret_command, SecretSource};
use crate::error::{exit, reply_code_exit, AppError, Result};
use crate::message::{self, Mailbox, PlainMessage};
use crate::net::ServerAddr;
use crate::session::{Session, SessionOptions, TlsInfo};
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
    pub exit_code: i32,
}

#[derive(Debug, Serialize, Default)]
pub struct RecipientReport {
    pub address: String,
    pub accepted: bool,
    pub code: Option<u16>,
    pub enhanced: Option<String>,
    pub text: Option<String>,
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
    pub message: Vec<u8>,
    pub message_id: String,
    /// Direct delivery: `--dns-server` and `--mx-port`.
    pub dns_server: Option<String>,
    pub mx_port: u16,
}

pub async fn run(args: SendArgs) -> Result<()> {
    if args.sandbox {
        return crate::sandbox::run(args).await;
    }
    match prepare(&args, None) {
        Ok(prepared) => run_prepared(&args, prepared).await,
        Err(e) => {
            if args.json {
                let report =
                    serde_json::json!({ "error": e.to_string(), "exit_code": e.exit_code() });
                println!("{report:#}");
            }
            Err(e)
        }
    }
}

/// Sends a prepared message and reports on it.
pub async fn run_prepared(args: &SendArgs, prepared: Prepared) -> Result<()> {
    let json = args.json;
    let mut report = Report {
        server: prepared.server.as_ref().map(ServerAddr::display),
        tls: None,
        authenticated: false,
        message_id: prepared.message_id.clone(),
        queue_id: None,
        recipients: Vec::new(),
        error: None,
        exit_code: exit::OK,
    };
    let quiet = args.quiet || json;
    let transcript = Transcript::new(args.verbose);
    let result = match prepared.server.is_some() {
        true => deliver(prepared, transcript, &mut report, quiet).await,
        false => crate::direct::deliver(prepared, transcript, &mut report, quiet).await,
    };
    if let Err(e) = &result {
        report.error = Some(e.to_string());
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
    p: Prepared,
    transcript: Transcript,
    report: &mut Report,
    quiet: bool,
) -> Result<()> {
    let server = p.server.ok_or(AppError::Usage("no server".into()))?;
    let opts = SessionOptions {
        server,
        addrs: Vec::new(),
        connect_timeout: crate::session::CONNECT_TIMEOUT,
        smtp: p.smtp,
        tls: p.tls,
        timeout: p.timeout,
    };
    let mut session = Session::open(opts, transcript).await?;
    report.tls = session.tls.clone();
    report.authenticated = session.client().is_authenticated();
    let outcome = session
        .send_mail(p.envelope, &mut p.message.as_slice())
        .await?;
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
        println!(
            "sent {} to {} via {}{queued}",
            report.message_id,
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
    let from = match (&args.from, &args.user) {
        (Some(f), _) => Mailbox::parse(f)?,
        (None, Some(u)) if u.contains('@') => Mailbox::parse(u)?,
        (None, _) if sandbox.is_some() => Mailbox::parse(&crate::sandbox::default_from())?,
        _ => return Err(AppError::Usage("no sender: give --from ADDR".into())),
    };
    let (to, cc, bcc) = (
        message::parse_list(&args.to)?,
        message::parse_list(&args.cc)?,
        message::parse_list(&args.bcc)?,
    );
    if to.is_empty() && cc.is_empty() && bcc.is_empty() {
        return Err(AppError::Usage("no recipients: give --to ADDR".into()));
    }
    if let Some(ehlo) = &args.ehlo {
        message::reject_crlf("EHLO name", ehlo)?;
        if ehlo.is_empty() || ehlo.contains(' ') {
            return Err(AppError::Usage(format!("invalid --ehlo {ehlo:?}")));
        }
    }
    let body = read_body(args)?;
    let message_id = message::message_id(from.domain());
    let message = PlainMessage {
        from: &from,
        to: &to,
        cc: &cc,
        subject: args.subject.as_deref(),
        body: &body,
        date: SystemTime::now(),
        message_id: &message_id,
    }
    .build()?;

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
        None => credentials(args)?,
    };
    let envelope = Envelope {
        from: from.addr.clone(),
        to: to
            .iter()
            .chain(&cc)
            .chain(&bcc)
            .map(|m| m.addr.clone())
            .collect(),
        eight_bit: false,
        size: Some(message.len() as u64),
        dsn: Default::default(),
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
            chunking: false,
        },
        dns_server: args.dns_server.clone(),
        mx_port: args.mx_port,
        server,
        tls,
        timeout: args.timeout.map(Duration::from_secs),
        envelope,
        message,
        message_id,
    })
}

fn credentials(args: &SendArgs) -> Result<(Option<Credentials>, Option<Mechanism>)> {
    let mechanism = match args.auth {
        AuthArg::None => return Ok((None, None)),
        AuthArg::Auto => None,
        AuthArg::Plain => Some(Mechanism::Plain),
        AuthArg::Login => Some(Mechanism::Login),
        AuthArg::CramMd5 => Some(Mechanism::CramMd5),
        AuthArg::Xoauth2 => Some(Mechanism::XOAuth2),
        AuthArg::Oauthbearer => Some(Mechanism::OAuthBearer),
    };
    let Some(user) = args.user.clone() else {
        if mechanism.is_some() {
            return Err(AppError::Usage("--auth needs --user NAME".into()));
        }
        return Ok((None, None));
    };
    let token =
        args.oauth_token_cmd.is_some() || mechanism.as_ref().is_some_and(Mechanism::uses_token);
    let creds = if let Some(cmd) = &args.oauth_token_cmd {
        Credentials::Token {
            user,
            token: run_secret_command(cmd, "OAuth token")?,
        }
    } else {
        let source = SecretSource {
            env: args.password_env.clone(),
            cmd: args.password_cmd.clone(),
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

fn read_body(args: &SendArgs) -> Result<String> {
    let bytes = if let Some(b) = &args.body {
        return Ok(b.clone());
    } else if let Some(path) = &args.body_file {
        std::fs::read(path).map_err(|e| {
            let code = if e.kind() == std::io::ErrorKind::NotFound {
                "no such file"
            } else {
                "cannot read it"
            };
            AppError::Io(format!(
                "--body-file {}: {code} ({})",
                path.display(),
                crate::net::short_io(&e)
            ))
        })?
    } else if !std::io::stdin().is_terminal() {
        let mut v = Vec::new();
        std::io::stdin()
            .read_to_end(&mut v)
            .map_err(|e| AppError::Io(format!("reading standard input: {e}")))?;
        v
    } else {
        Vec::new()
    };
    String::from_utf8(bytes).map_err(|_| {
        AppError::Data(
            "the message text is not UTF-8; attachments and other encodings are not supported yet"
                .into(),
        )
    })
}
