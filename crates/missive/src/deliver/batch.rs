//! Several messages at once through a relay session, their transactions
//! pipelined behind each other when the server offers PIPELINING (RFC 2920
//! §3.1): one round trip a message. What bulk sending uses.

use std::time::{Duration, Instant};

use super::mailer::Mailer;
use super::{relay, Outcome, Route};
use crate::error::{AppError, Result};
use crate::message::Mail;
use crate::transport::session::{Item, OnCommitAt};

/// What became of one message of a batch.
#[derive(Debug)]
pub struct Batched {
    /// Its outcome, or why it was not sent.
    pub result: Result<Outcome>,
    /// The end of the message went out: after an error the server may have
    /// it (RFC 1047), so it must not be sent again blindly.
    pub committed: bool,
}

impl Mailer {
    /// Sends `mails` in order, on one relay session; `on_commit(i)` runs
    /// (and is awaited) just before the end of message `i` goes out. Each
    /// message gets its own result. A pooled session the server had closed
    /// is replaced, and the messages whose end had not gone out are sent on
    /// the new one. Direct delivery sends them one after the other.
    pub async fn send_batch(&self, mails: &[&Mail], on_commit: &OnCommitAt<'_>) -> Vec<Batched> {
        if let Route::Direct(_) = &self.options().route {
            let mut out = Vec::new();
            for (i, mail) in mails.iter().enumerate() {
                let committed = std::sync::atomic::AtomicBool::new(false);
                let hook = || -> futures_util::future::BoxFuture<'_, Result<()>> {
                    let f = on_commit(i);
                    Box::pin(async {
                        f.await?;
                        committed.store(true, std::sync::atomic::Ordering::SeqCst);
                        Ok(())
                    })
                };
                let result = self.send_with_commit(mail, &hook).await;
                out.push(Batched {
                    result,
                    committed: committed.load(std::sync::atomic::Ordering::SeqCst),
                });
            }
            return out;
        }
        let Ok(_slot) = self.slot().await else {
            return fail_all(
                mails.len(),
                &AppError::Smtp(missive_smtp::Error::Misuse("mailer closed")),
            );
        };
        // The deadline is per message: a batch has the sum of its messages'.
        let allowed: Duration = mails
            .iter()
            .map(|m| self.options().deadline_for(m.message.size()))
            .sum();
        let end = Instant::now() + allowed;
        let late = |e, in_doubt| relay::past_deadline(e, end, allowed, in_doubt);
        let (mut session, reused) = match self.take_idle() {
            Some(s) => (s, true),
            None => match relay::open(self.engine(), self.transcript(), None, Some(end)).await {
                Ok(s) => (s, false),
                Err(e) => return fail_all(mails.len(), &late(e, false)),
            },
        };
        session.set_deadline(Some(end));
        let items = |m: &[&Mail]| -> Vec<Item<'_>> {
            m.iter()
                .map(|m| Item {
                    envelope: m.envelope.clone(),
                    body: Box::new(m.message.open()),
                })
                .collect()
        };
        let mut sent = session.send_pipelined(items(mails), on_commit).await;
        // The server closed the idle session before anything went out: the
        // whole batch again, on a new one.
        let stale = reused
            && sent.first().is_some_and(|s| {
                !s.committed && s.result.as_ref().is_err_and(super::mailer::stale)
            })
            && sent.iter().all(|s| !s.committed);
        if stale {
            session
                .transcript
                .info("the idle session ended; sending on a new one");
            session = match relay::open(self.engine(), self.transcript(), None, Some(end)).await {
                Ok(s) => s,
                Err(e) => return fail_all(mails.len(), &late(e, false)),
            };
            sent = session.send_pipelined(items(mails), on_commit).await;
        }
        let out = sent
            .into_iter()
            .zip(mails)
            .map(|(s, mail)| Batched {
                result: s
                    .result
                    .map(|tx| {
                        let mut o = relay::outcome(&session, &tx);
                        o.message_id = mail.message_id.clone();
                        o
                    })
                    .map_err(|e| late(e, s.committed)),
                committed: s.committed,
            })
            .collect();
        if session.is_ready() {
            self.put_back(session).await;
        } else {
            session.close_after_error().await;
        }
        out
    }
}

fn fail_all(n: usize, e: &AppError) -> Vec<Batched> {
    (0..n)
        .map(|_| Batched {
            result: Err(e.clone()),
            committed: false,
        })
        .collect()
}
