//! What a session's stages are (for timeouts and messages), and what became
//! of a mail transaction: a reply for every recipient.

use std::fmt;
use std::time::Duration;

use crate::envelope::Envelope;
use crate::reply::{Reply, ReplyCode};

/// Where the session is, for timeouts and error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Greeting,
    Ehlo,
    StartTls,
    Auth,
    Mail,
    Rcpt,
    Data,
    /// Writing the body; the timeout is per write.
    DataBlock,
    DataEnd,
    Rset,
    Quit,
}

impl Stage {
    /// The RFC 5321 §4.5.3.2 timeout for this stage.
    pub fn timeout(self) -> Duration {
        let mins = match self {
            Stage::Greeting | Stage::Ehlo | Stage::StartTls | Stage::Auth => 5,
            Stage::Mail | Stage::Rcpt | Stage::Rset => 5,
            Stage::Data => 2,
            Stage::DataBlock => 3,
            Stage::DataEnd => 10,
            Stage::Quit => return Duration::from_secs(30),
        };
        Duration::from_secs(mins * 60)
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stage::Greeting => "the greeting",
            Stage::Ehlo => "EHLO",
            Stage::StartTls => "STARTTLS",
            Stage::Auth => "AUTH",
            Stage::Mail => "MAIL FROM",
            Stage::Rcpt => "RCPT TO",
            Stage::Data => "DATA",
            Stage::DataBlock => "the message body",
            Stage::DataEnd => "the end of the message",
            Stage::Rset => "RSET",
            Stage::Quit => "QUIT",
        })
    }
}

/// What happened to one mail transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionOutcome {
    pub envelope: Envelope,
    /// The reply to MAIL FROM.
    pub mail: Option<Reply>,
    /// The reply to each RCPT TO, in envelope order (`None`: never sent).
    pub rcpt: Vec<Option<Reply>>,
    /// The reply to DATA (354, or a refusal).
    pub data: Option<Reply>,
    /// The reply after the body's terminator: the message's fate.
    pub final_reply: Option<Reply>,
}

/// One recipient's result, derived from a [`TransactionOutcome`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientResult<'a> {
    pub address: &'a str,
    /// The server took responsibility for delivering to this recipient.
    pub accepted: bool,
    /// The reply that decided: the RCPT refusal, else MAIL's, DATA's or the final one.
    pub reply: Option<&'a Reply>,
}

impl TransactionOutcome {
    /// Each recipient with the reply that decided its fate.
    pub fn recipients(&self) -> Vec<RecipientResult<'_>> {
        fn failed(r: &Option<Reply>) -> Option<&Reply> {
            r.as_ref().filter(|r| !r.code.is_positive())
        }
        let is_354 = |r: &Reply| r.code == ReplyCode::START_DATA;
        self.envelope
            .to
            .iter()
            .zip(&self.rcpt)
            .map(|(address, rcpt)| {
                let decisive = failed(&self.mail)
                    .or(failed(rcpt))
                    .or(self.data.as_ref().filter(|r| !is_354(r)))
                    .or(self.final_reply.as_ref())
                    .or(rcpt.as_ref());
                let accepted = self
                    .final_reply
                    .as_ref()
                    .is_some_and(|r| r.code.is_positive())
                    && rcpt.as_ref().is_some_and(|r| r.code.is_positive());
                RecipientResult {
                    address,
                    accepted,
                    reply: decisive,
                }
            })
            .collect()
    }
}
