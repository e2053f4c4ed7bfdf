//! From what the user asked for (`send`'s and `sendmail`'s options, already
//! parsed into plain values) to a [`Mail`]: a composed message, or a
//! ready-made one with its recipients, and the envelope.

use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};

use missive_smtp::envelope::Dsn;

use super::header::{self, Mailbox};
use super::{ready, Attachment, Mail, MessageBuilder};
use crate::error::{AppError, Result};

/// What the sendmail interface changes in a send.
#[derive(Debug, Clone, Default)]
pub struct SendmailMode {
    /// `-F`: the full name for a From the message lacks.
    pub full_name: Option<String>,
    /// Without `-i`, a lone `.` ends the input.
    pub dot_ends_input: bool,
}

/// The parts of a message and its envelope, as given.
#[derive(Debug, Clone, Default)]
pub struct Draft {
    /// The sender, resolved from the settings.
    pub from: Option<String>,
    /// The login user: the sender when it is an address and no From is given.
    pub user: Option<String>,
    /// The send logs in (to a provider, which checks the sender): the
    /// local user at a host name that is not fully qualified will not do.
    pub logs_in: bool,
    pub to: Vec<String>,
    pub cc: Vec<String>,
    pub bcc: Vec<String>,
    pub subject: Option<String>,
    pub body: Option<String>,
    pub body_file: Option<PathBuf>,
    pub html: Option<String>,
    pub html_file: Option<PathBuf>,
    /// `PATH[;type=TYPE][;name=NAME]` each.
    pub attach: Vec<String>,
    pub inline: Vec<String>,
    /// `Name: value` each.
    pub header: Vec<String>,
    pub reply_to: Vec<String>,
    /// A ready-made message (`-`: standard input).
    pub message: Option<String>,
    /// Also send to the To, Cc and Bcc of the ready-made message.
    pub read_recipients: bool,
    pub sendmail: Option<SendmailMode>,
    /// DSN NOTIFY as given (`never`, or `success,failure,delay`).
    pub dsn_notify: Option<String>,
    /// DSN RET: `FULL` or `HDRS`.
    pub dsn_ret: Option<String>,
    pub envid: Option<String>,
    /// A default sender for the sandbox (no From needed).
    pub default_from: Option<String>,
    /// Add `TLS-Required: No` (RFC 8689 §5).
    pub tls_required_no: bool,
}

impl Draft {
    /// Builds the message (or loads the ready-made one) and its envelope.
    pub fn mail(&self) -> Result<Mail> {
        let mut mail = self.outgoing()?;
        if self.tls_required_no {
            let field = super::content::Segment::Bytes(b"TLS-Required: No\r\n".to_vec());
            std::sync::Arc::make_mut(&mut mail.message.segments).insert(0, field);
            mail.envelope.size = Some(mail.message.size());
        }
        mail.envelope.dsn = Dsn {
            ret: self.dsn_ret.clone(),
            envid: self.envid.clone(),
            notify: self.dsn_notify.as_deref().map(dsn_notify).transpose()?,
        };
        Ok(mail)
    }

    /// The From a sendmail message gets when it has none: -f (or
    /// MISSIVE_FROM, or the account's), else the login user when it is an
    /// address, else the local user at this host's fully qualified name
    /// (see [`default_sender`]), with -F's full name.
    pub fn sendmail_from(&self) -> Result<Mailbox> {
        let from = match (&self.from, self.user_address()) {
            (Some(f), _) => f.clone(),
            (None, Some(u)) => u.to_string(),
            (None, None) => default_sender(self.logs_in)?,
        };
        let mut mailbox = Mailbox::parse(&from)?;
        if let Some(name) = self.sendmail.as_ref().and_then(|m| m.full_name.as_ref()) {
            header::reject_crlf("full name (-F)", name)?;
            mailbox.name = Some(name.clone());
        }
        Ok(mailbox)
    }

    /// The login user, when it is an address (then it is the default sender).
    fn user_address(&self) -> Option<&str> {
        self.user.as_deref().filter(|u| u.contains('@'))
    }

    fn outgoing(&self) -> Result<Mail> {
        let explicit_from = match (&self.from, self.user_address()) {
            (Some(f), _) => Some(Mailbox::parse(f)?),
            (None, Some(u)) if self.message.is_none() => Some(Mailbox::parse(u)?),
            _ => None,
        };
        let (to, cc, bcc) = (
            header::parse_list(&self.to)?,
            header::parse_list(&self.cc)?,
            header::parse_list(&self.bcc)?,
        );
        let mut listed: Vec<String> = to
            .iter()
            .chain(&cc)
            .chain(&bcc)
            .map(|m| m.addr.clone())
            .collect();

        if let Some(path) = &self.message {
            let load = match &self.sendmail {
                Some(mode) => ready::LoadOptions {
                    dot_ends_input: mode.dot_ends_input,
                    add_missing: Some(self.sendmail_from()?),
                },
                None => ready::LoadOptions::default(),
            };
            let ready = ready::load(path, &load)?;
            if self.read_recipients {
                listed.extend(ready.recipients.iter().map(|m| m.addr.clone()));
            }
            let user = self.user_address().map(Mailbox::parse).transpose()?;
            let from = explicit_from
                .or(ready.from)
                .or(user)
                .or(load.add_missing.clone())
                .ok_or_else(|| {
                    AppError::Usage("no sender: the message has no From; give --from ADDR".into())
                })?;
            if listed.is_empty() {
                let hint = if self.read_recipients {
                    "the message has no To, Cc or Bcc"
                } else {
                    "give --to ADDR or --read-recipients"
                };
                return Err(AppError::Usage(format!("no recipients: {hint}")));
            }
            dedup(&mut listed);
            return envelope(
                &from.addr,
                listed,
                ready.message,
                ready.message_id.unwrap_or_default(),
            );
        }

        let from = match (explicit_from, &self.default_from) {
            (Some(f), _) => f,
            (None, Some(d)) => Mailbox::parse(d)?,
            (None, None) => return Err(AppError::Usage("no sender: give --from ADDR".into())),
        };
        if listed.is_empty() {
            return Err(AppError::Usage("no recipients: give --to ADDR".into()));
        }
        dedup(&mut listed);
        let text = read_text(
            self.body.as_deref(),
            self.body_file.as_deref(),
            "--body-file",
            self.html.is_none() && self.html_file.is_none(),
        )?;
        let html = match (&self.html, &self.html_file) {
            (Some(h), _) => Some(h.clone()),
            (None, Some(p)) => read_text(None, Some(p), "--html-file", false)?,
            (None, None) => None,
        };
        let attachments = parse_attachments(&self.attach)?;
        let inline = parse_attachments(&self.inline)?;
        if !inline.is_empty() && html.is_none() {
            return Err(AppError::Usage("--inline images need an HTML part (--html or --html-file) that refers to them as cid:NAME".into()));
        }
        let mut b = MessageBuilder::with_sender(from);
        (b.to, b.cc) = (to, cc);
        b.reply_to = header::parse_list(&self.reply_to)?;
        b.subject = self.subject.clone();
        (b.text, b.html) = (text, html);
        (b.attachments, b.inline) = (attachments, inline);
        for h in &self.header {
            b.headers.push(super::compose::parse_header(h)?);
        }
        let built = b.build()?;
        envelope(&built.from_address, listed, built.message, built.message_id)
    }
}

fn envelope(from: &str, to: Vec<String>, message: super::Message, id: String) -> Result<Mail> {
    Ok(Mail {
        envelope: missive_smtp::Envelope {
            from: from.to_string(),
            to,
            eight_bit: message.eight_bit,
            size: Some(message.size()),
            dsn: Dsn::default(),
            require_tls: false,
        },
        message,
        message_id: id,
    })
}

fn parse_attachments(specs: &[String]) -> Result<Vec<Attachment>> {
    specs.iter().map(|a| Attachment::parse(a)).collect()
}

fn dedup(list: &mut Vec<String>) {
    let mut seen = std::collections::HashSet::new();
    list.retain(|a| seen.insert(a.to_ascii_lowercase()));
}

/// The sender when nothing names one (no --from, MISSIVE_FROM, account
/// `from`, nor a login user that is an address): the local user at this
/// host's fully qualified name. When the host has none (`vm`), a provider
/// would refuse `user@vm` (Office 365: SendAsDenied): with a login that is
/// an error saying what to set; without one (a local relay, direct
/// delivery) `user@vm` is sent as before.
pub fn default_sender(logs_in: bool) -> Result<String> {
    let host = crate::transport::hostname::fqdn();
    match (host, logs_in) {
        (Some(h), _) => Ok(format!("{}@{h}", local_user())),
        (None, false) => Ok(local_sender()),
        (None, true) => Err(AppError::Usage(format!(
            "no sender: this host's name {:?} is not fully qualified, so {} would be refused; \
             give --from ADDR, MISSIVE_FROM, or `from` in the account",
            crate::transport::hostname::system_hostname().unwrap_or_default(),
            local_sender()
        ))),
    }
}

/// The local user's name, when it can be a local part (else `missive`).
fn local_user() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .ok()
        .filter(|u| {
            !u.is_empty()
                && u.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        })
        .unwrap_or_else(|| "missive".into())
}

/// `user@host` of the local user, whatever the host name (the sandbox's default sender).
pub fn local_sender() -> String {
    let user = local_user();
    let host = crate::transport::hostname::system_hostname()
        .filter(|h| {
            h.chars()
                .all(|c| c.is_ascii_alphanumeric() || ".-".contains(c))
        })
        .unwrap_or_else(|| "localhost".into());
    format!("{user}@{host}")
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
    file: Option<&Path>,
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
                crate::transport::net::short_io(&e)
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
