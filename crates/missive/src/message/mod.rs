//! The message: composed from parts ([`MessageBuilder`]) or ready-made
//! ([`Message::from_file`]), held as segments that stream from disk, and
//! paired with its envelope as a [`Mail`].

use std::path::Path;
use std::time::SystemTime;

use missive_smtp::Envelope;

use crate::error::{AppError, Result};

pub(crate) mod compose;
pub(crate) mod content;
pub mod dkim;
pub(crate) mod draft;
pub(crate) mod header;
pub(crate) mod ready;

pub use compose::Attachment;
pub use content::Message;
pub use header::Mailbox;

/// A message and its envelope (RFC 5321 §2.3.1: the "mail object"): what a
/// [`Mailer`](crate::Mailer) sends.
///
/// ```no_run
/// # fn main() -> missive::Result<()> {
/// use missive::{Mail, MessageBuilder};
/// let message = MessageBuilder::new("alice@example.com")?
///     .to("bob@example.com")?
///     .subject("Hello")
///     .text("It works.")
///     .build()?;
/// let mail = Mail::new(&message.from_address, &["bob@example.com"], message.message)?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Mail {
    /// MAIL FROM, RCPT TO and their parameters.
    pub envelope: Envelope,
    /// The content, streamed when sent.
    pub message: Message,
    /// The Message-ID header's value (empty when the message has none).
    pub message_id: String,
}

impl Mail {
    /// `message` from `from` to each of `to` (addresses only; `<>` is the null sender).
    pub fn new(from: &str, to: &[&str], message: Message) -> Result<Mail> {
        let check = |a: &str| match a.contains(['\r', '\n', '<', '>', ' ']) || !a.contains('@') {
            true => Err(AppError::Data(format!("invalid address {a:?}"))),
            false => Ok(a.to_string()),
        };
        let from = match from {
            "" | "<>" => String::new(),
            f => check(f)?,
        };
        if to.is_empty() {
            return Err(AppError::Usage("no recipients".into()));
        }
        Ok(Mail {
            envelope: Envelope {
                from,
                to: to.iter().map(|a| check(a)).collect::<Result<_>>()?,
                eight_bit: message.eight_bit,
                size: Some(message.size()),
                ..Envelope::default()
            },
            message,
            message_id: String::new(),
        })
    }

    /// The same mail with DKIM signatures in front of its header (none:
    /// unchanged); the envelope's SIZE follows.
    pub fn signed(mut self, signers: &[dkim::Signer]) -> Result<Mail> {
        if signers.is_empty() {
            return Ok(self);
        }
        self.message = dkim::sign(&self.message, signers, SystemTime::now())?;
        self.envelope.size = Some(self.message.size());
        Ok(self)
    }

    /// The same mail with its Message-ID recorded (for reports).
    pub fn with_message_id(mut self, id: impl Into<String>) -> Mail {
        self.message_id = id.into();
        self
    }
}

impl Message {
    /// A ready-made RFC 5322 message from a file, sent as it is (line
    /// endings normalised on the wire; a Bcc header is removed).
    pub fn from_file(path: &Path) -> Result<Message> {
        let path = path
            .to_str()
            .ok_or_else(|| AppError::Usage(format!("{} is not a UTF-8 path", path.display())))?;
        Ok(ready::load(path, &ready::LoadOptions::default())?.message)
    }
}

/// A composed message: text, HTML, inline images, attachments, headers.
/// Attachments are read from disk while sending, never held in memory.
///
/// ```no_run
/// # fn main() -> missive::Result<()> {
/// use missive::{Attachment, MessageBuilder};
/// let built = MessageBuilder::new("Jörg <j@example.com>")?
///     .to("a@example.com")?
///     .subject("Bericht")
///     .text("See the attachment.")
///     .html("<p>See the <b>attachment</b>.</p>")
///     .attach(Attachment::parse("report.pdf")?)
///     .header("X-Campaign", "7")?
///     .build()?;
/// println!("{} octets, id {}", built.message.size(), built.message_id);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct MessageBuilder {
    from: Mailbox,
    to: Vec<Mailbox>,
    cc: Vec<Mailbox>,
    reply_to: Vec<Mailbox>,
    subject: Option<String>,
    text: Option<String>,
    html: Option<String>,
    inline: Vec<Attachment>,
    attachments: Vec<Attachment>,
    headers: Vec<(String, String)>,
    date: Option<SystemTime>,
}

/// What [`MessageBuilder::build`] returns.
#[derive(Debug, Clone)]
pub struct Built {
    /// The message.
    pub message: Message,
    /// Its Message-ID.
    pub message_id: String,
    /// The From address (for the envelope).
    pub from_address: String,
    /// To and Cc addresses (for the envelope; Bcc is the caller's to add).
    pub recipients: Vec<String>,
}

impl MessageBuilder {
    /// A message from `from` (an address or `Name <address>`).
    pub fn new(from: &str) -> Result<MessageBuilder> {
        Ok(MessageBuilder::with_sender(Mailbox::parse(from)?))
    }

    pub(crate) fn with_sender(from: Mailbox) -> MessageBuilder {
        MessageBuilder {
            from,
            to: Vec::new(),
            cc: Vec::new(),
            reply_to: Vec::new(),
            subject: None,
            text: None,
            html: None,
            inline: Vec::new(),
            attachments: Vec::new(),
            headers: Vec::new(),
            date: None,
        }
    }

    /// Adds a To recipient.
    pub fn to(mut self, addr: &str) -> Result<Self> {
        self.to.push(Mailbox::parse(addr)?);
        Ok(self)
    }

    /// Adds a Cc recipient.
    pub fn cc(mut self, addr: &str) -> Result<Self> {
        self.cc.push(Mailbox::parse(addr)?);
        Ok(self)
    }

    /// Adds a Reply-To address.
    pub fn reply_to(mut self, addr: &str) -> Result<Self> {
        self.reply_to.push(Mailbox::parse(addr)?);
        Ok(self)
    }

    /// The subject (encoded words when not ASCII).
    pub fn subject(mut self, s: impl Into<String>) -> Self {
        self.subject = Some(s.into());
        self
    }

    /// The text part.
    pub fn text(mut self, s: impl Into<String>) -> Self {
        self.text = Some(s.into());
        self
    }

    /// The HTML part (with a text part: multipart/alternative).
    pub fn html(mut self, s: impl Into<String>) -> Self {
        self.html = Some(s.into());
        self
    }

    /// An attachment.
    pub fn attach(mut self, a: Attachment) -> Self {
        self.attachments.push(a);
        self
    }

    /// An image the HTML shows as `cid:NAME`.
    pub fn inline(mut self, a: Attachment) -> Self {
        self.inline.push(a);
        self
    }

    /// Another header field; From, To, Cc, Subject, Date, Reply-To and
    /// Message-ID given this way replace the defaults. CR or LF is refused.
    pub fn header(mut self, name: &str, value: &str) -> Result<Self> {
        self.headers
            .push(compose::parse_header(&format!("{name}: {value}"))?);
        Ok(self)
    }

    /// The Date (default: now).
    pub fn date(mut self, t: SystemTime) -> Self {
        self.date = Some(t);
        self
    }

    /// Builds the message.
    pub fn build(self) -> Result<Built> {
        if !self.inline.is_empty() && self.html.is_none() {
            return Err(AppError::Usage(
                "inline images need an HTML part that refers to them as cid:NAME".into(),
            ));
        }
        let message_id = self
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("Message-ID"))
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| header::message_id(self.from.domain()));
        let message = compose::Composition {
            from: &self.from,
            to: &self.to,
            cc: &self.cc,
            reply_to: &self.reply_to,
            subject: self.subject.as_deref(),
            text: self.text.as_deref(),
            html: self.html.as_deref(),
            inline: &self.inline,
            attachments: &self.attachments,
            headers: &self.headers,
            date: self.date.unwrap_or_else(SystemTime::now),
            message_id: &message_id,
        }
        .build()?;
        Ok(Built {
            message,
            message_id,
            from_address: self.from.addr.clone(),
            recipients: self
                .to
                .iter()
                .chain(&self.cc)
                .map(|m| m.addr.clone())
                .collect(),
        })
    }
}
