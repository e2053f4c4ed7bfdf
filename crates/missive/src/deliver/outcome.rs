//! What became of a message: one [`RecipientOutcome`] per recipient, from
//! the relay or from each domain's MX hosts alike, ordered by [`Status`].

use missive_smtp::{Reply, TransactionOutcome};
use serde::Serialize;

use crate::transport::tls::TlsInfo;

/// One recipient's fate, from best to worst: `Ord` gives the overall
/// result of a message (the worst of its recipients).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The server took responsibility for it (2xx after the message).
    Accepted,
    /// A temporary failure (4xx, a connection or DNS problem): try again later.
    Deferred,
    /// The recipient's domain does not exist.
    NoSuchDomain,
    /// A permanent refusal (5xx, null MX): do not retry.
    Refused,
}

/// How direct delivery reached a recipient's domain.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Hop {
    /// The recipient's domain.
    pub domain: String,
    /// The MX host that gave the final answer, if one did.
    pub mx: Option<String>,
    /// Its address.
    pub ip: Option<String>,
    /// The hop was encrypted (STARTTLS).
    pub tls: bool,
    /// The server's certificate verified (meaningful only with `tls`).
    pub tls_verified: bool,
    /// Why it did not verify (opportunistic TLS goes on regardless).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_problem: Option<String>,
    /// Each host and address tried before, and why it was left.
    pub attempts: Vec<Attempt>,
    /// The policy that applied: "none", "mta-sts testing" or "mta-sts enforce".
    pub policy: String,
    /// Where the policy came from, and (testing) what enforce would have refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy_note: Option<String>,
}

/// A host (and address) direct delivery tried and left.
#[derive(Debug, Clone, Serialize)]
pub struct Attempt {
    /// The MX host.
    pub host: String,
    /// The address tried, if it got that far.
    pub ip: Option<String>,
    /// Why it was left.
    pub error: String,
}

/// One recipient's outcome.
#[derive(Debug, Clone)]
pub struct RecipientOutcome {
    /// The envelope address.
    pub address: String,
    /// What became of it.
    pub status: Status,
    /// The reply that decided, when a server gave one.
    pub reply: Option<Reply>,
    /// Why, in words, when no reply says it (a connection or DNS failure).
    pub reason: Option<String>,
    /// Direct delivery: how the domain was reached.
    pub hop: Option<Hop>,
}

impl RecipientOutcome {
    /// Accepted, or refused by the server with `reply` (4xx: deferred).
    pub(crate) fn from_reply(address: &str, accepted: bool, reply: Option<&Reply>) -> Self {
        let status = match (accepted, reply) {
            (true, _) => Status::Accepted,
            (false, Some(r)) if r.code.is_transient() => Status::Deferred,
            (false, _) => Status::Refused,
        };
        RecipientOutcome {
            address: address.to_string(),
            status,
            reply: reply.cloned(),
            reason: None,
            hop: None,
        }
    }

    /// Failed without a reply that says why.
    #[cfg(test)]
    pub(crate) fn failed(address: &str, status: Status, reason: &str) -> Self {
        RecipientOutcome {
            address: address.to_string(),
            status,
            reply: None,
            reason: Some(reason.to_string()),
            hop: None,
        }
    }

    /// Whether the server took it.
    pub fn accepted(&self) -> bool {
        self.status == Status::Accepted
    }

    /// Why it failed, in one line: the reply, else the reason.
    pub fn why(&self) -> String {
        match (&self.reply, &self.reason) {
            (Some(r), _) => r.summary(),
            (None, Some(w)) => w.clone(),
            (None, None) => "no reply".into(),
        }
    }
}

/// What became of one message.
///
/// ```no_run
/// # async fn f(mailer: missive::Mailer, mail: missive::Mail) -> missive::Result<()> {
/// let outcome = mailer.send(&mail).await?;
/// for r in &outcome.recipients {
///     println!("{}: {:?} {}", r.address, r.status, r.why());
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// The message's Message-ID.
    pub message_id: String,
    /// The relay (`host:port`), or `None` for direct delivery.
    pub server: Option<String>,
    /// The relay session's TLS, if any.
    pub tls: Option<TlsInfo>,
    /// The relay session was authenticated.
    pub authenticated: bool,
    /// The relay's queue id from its final reply, when it gave one.
    pub queue_id: Option<String>,
    /// Each recipient, in envelope order.
    pub recipients: Vec<RecipientOutcome>,
}

impl Outcome {
    /// The worst status of any recipient (`Accepted` when there are none).
    pub fn worst(&self) -> Status {
        self.recipients
            .iter()
            .map(|r| r.status)
            .max()
            .unwrap_or(Status::Accepted)
    }

    /// Every recipient was accepted.
    pub fn all_accepted(&self) -> bool {
        self.worst() == Status::Accepted
    }

    /// Recipients not accepted.
    pub fn failed(&self) -> impl Iterator<Item = &RecipientOutcome> {
        self.recipients.iter().filter(|r| !r.accepted())
    }

    /// Per-recipient results of one relay transaction.
    pub(crate) fn from_transaction(tx: &TransactionOutcome) -> Vec<RecipientOutcome> {
        tx.recipients()
            .into_iter()
            .map(|r| RecipientOutcome::from_reply(r.address, r.accepted, r.reply))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permanent_beats_temporary() {
        let o = |s: &[Status]| Outcome {
            recipients: s
                .iter()
                .map(|&status| RecipientOutcome::failed("a@b", status, "x"))
                .collect(),
            ..Outcome::default()
        };
        assert_eq!(
            o(&[Status::Deferred, Status::Refused]).worst(),
            Status::Refused
        );
        assert_eq!(
            o(&[Status::Refused, Status::Deferred]).worst(),
            Status::Refused
        );
        assert_eq!(
            o(&[Status::Accepted, Status::Deferred]).worst(),
            Status::Deferred
        );
        assert_eq!(
            o(&[Status::NoSuchDomain, Status::Refused]).worst(),
            Status::Refused
        );
        assert_eq!(
            o(&[Status::Deferred, Status::NoSuchDomain]).worst(),
            Status::NoSuchDomain
        );
        assert!(o(&[]).all_accepted());
    }
}
