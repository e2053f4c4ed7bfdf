//! missive: send mail by speaking SMTP itself.
//!
//! The protocol lives in [`smtp`] (the `missive-smtp` crate: sans-IO). This
//! crate is the engine around it, the same one under the `missive` command:
//!
//! - build a message with [`MessageBuilder`] (text, HTML, attachments
//!   streamed from disk, inline images, headers) or load a ready-made one
//!   with [`Message::from_file`], and pair it with its envelope as a [`Mail`];
//! - choose a [`Route`]: a [`Relay`] (submission server, STARTTLS or
//!   implicit TLS, AUTH with a [`Login`] whose secret comes from a
//!   [`SecretSource`]), [`Direct`] delivery to MX hosts, or the in-process
//!   [`Sandbox`];
//! - send with a [`Mailer`]: sessions are reused and pooled, and every
//!   [`Outcome`] has each recipient's result ([`RecipientOutcome`], with the
//!   reply and its enhanced status code). [`blocking::Mailer`] is the same
//!   for synchronous code.
//!
//! ```no_run
//! # async fn f() -> missive::Result<()> {
//! use missive::{Login, Mail, Mailer, MailerOptions, MessageBuilder, Relay, Route, SecretSource};
//!
//! let relay = Relay::new("smtp.example.com:587")?
//!     .login(Login::password("me@example.com", SecretSource::Env("SMTP_PASSWORD".into())));
//! let mailer = Mailer::new(MailerOptions::new(Route::Relay(relay)))?;
//! let built = MessageBuilder::new("Me <me@example.com>")?
//!     .to("you@example.com")?
//!     .subject("Hello")
//!     .text("Sent by missive.")
//!     .build()?;
//! let mail = Mail::new(&built.from_address, &["you@example.com"], built.message)?;
//! let outcome = mailer.send(&mail).await?;
//! for r in &outcome.recipients {
//!     println!("{}: {:?} {}", r.address, r.status, r.why());
//! }
//! mailer.close().await;
//! # Ok(()) }
//! ```
//!
//! Layers, each importing only those below it: `cli` and `cmd` (the
//! command line), `outbox` (the durable queue), `settings` (configuration, presets, precedence),
//! `secrets`, `message` and `deliver` (the engine), `serve` (the capture
//! server), `transport` (sockets, TLS, the session), `error`.

#![warn(missing_docs)]

mod bulk;
mod cli;
mod cmd;
mod date;
mod deliver;
mod error;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod message;
mod outbox;
mod secrets;
mod serve;
mod settings;
mod transport;

pub use deliver::blocking;
pub use deliver::Batched;
pub use deliver::{
    Attempt, Direct, Hop, Mailer, MailerOptions, Outcome, RecipientOutcome, Relay, Route, Status,
    Trust,
};
pub use error::{exit, AppError as Error, Result};
pub use message::{Attachment, Built, Mail, Mailbox, Message, MessageBuilder};
pub use missive_smtp as smtp;
pub use missive_smtp::client::TlsMode;
pub use secrets::{Login, SecretSource, TokenProvider};
pub use serve::sandbox::Sandbox;
pub use transport::net::ServerAddr;
pub use transport::proxy::{Proxy, ProxyKind};
pub use transport::session::OnCommitAt;
pub use transport::tls::{CertSummary, TlsInfo};

/// Runs the `missive` command line and returns its exit code (the binary's `main`).
#[doc(hidden)]
pub fn run_cli() -> i32 {
    cmd::main()
}
