//! A [`Mailer`](crate::Mailer) for synchronous programs: the same engine,
//! run on a small runtime of its own.

use super::{MailerOptions, Outcome};
use crate::error::{AppError, Result};
use crate::message::Mail;

/// A blocking mailer: [`send`](Mailer::send) returns when the server has answered.
///
/// ```no_run
/// # fn main() -> missive::Result<()> {
/// use missive::{blocking, Mail, MailerOptions, MessageBuilder, Relay, Route};
/// let mailer = blocking::Mailer::new(MailerOptions::new(Route::Relay(Relay::new("smtp.example.com")?)))?;
/// let built = MessageBuilder::new("me@example.com")?.to("you@example.com")?.text("hi").build()?;
/// let outcome = mailer.send(&Mail::new(&built.from_address, &["you@example.com"], built.message)?)?;
/// println!("{:?}", outcome.worst());
/// # Ok(()) }
/// ```
pub struct Mailer {
    inner: super::Mailer,
    runtime: tokio::runtime::Runtime,
}

impl Mailer {
    /// See [`crate::Mailer::new`].
    pub fn new(options: MailerOptions) -> Result<Mailer> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| AppError::Io(format!("cannot start a runtime: {e}")))?;
        Ok(Mailer {
            inner: super::Mailer::new(options)?,
            runtime,
        })
    }

    /// See [`crate::Mailer::send`].
    pub fn send(&self, mail: &Mail) -> Result<Outcome> {
        self.runtime.block_on(self.inner.send(mail))
    }

    /// See [`crate::Mailer::close`].
    pub fn close(&self) {
        self.runtime.block_on(self.inner.close())
    }
}

impl Drop for Mailer {
    fn drop(&mut self) {
        self.close();
    }
}
