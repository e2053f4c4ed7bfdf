//! Several messages on one session, each transaction's commands going out
//! behind the end of the message before it (RFC 2920 §3.1) when the server
//! offers PIPELINING: one round trip a message instead of two. Every
//! message keeps its own outcome, and says whether its end went out.

use std::collections::VecDeque;
use std::io::Read;

use missive_smtp::client::Next;
use missive_smtp::{Envelope, TransactionOutcome};

use super::super::body::BdatChunks;
use super::Session;
use crate::error::{AppError, Result};

/// What runs (and is awaited) as the end of message `i` of a batch is
/// about to go out; an error stops that message before its end.
pub type OnCommitAt<'a> =
    dyn Fn(usize) -> futures_util::future::BoxFuture<'a, Result<()>> + Send + Sync + 'a;

/// One message of a batch: its envelope and its content, read as it goes.
pub struct Item<'a> {
    pub envelope: Envelope,
    pub body: Box<dyn Read + Send + 'a>,
}

/// What became of one message of a batch.
pub struct Sent {
    pub result: Result<TransactionOutcome>,
    /// Its end went out: after an error, the server may have it.
    pub committed: bool,
}

impl Session {
    /// Sends `items` in order on this session, pipelining transactions.
    /// After an error that ends the session, the messages not yet finished
    /// fail with it (those whose end went out say so in `committed`).
    pub async fn send_pipelined(
        &mut self,
        items: Vec<Item<'_>>,
        on_commit: &OnCommitAt<'_>,
    ) -> Vec<Sent> {
        let n = items.len();
        let mut results: Vec<Option<Result<TransactionOutcome>>> = (0..n).map(|_| None).collect();
        let mut committed = vec![false; n];
        let mut pending: VecDeque<usize> = VecDeque::new();
        let mut fatal: Option<String> = None;
        'messages: for (i, mut item) in items.into_iter().enumerate() {
            if let Err(e) = self.check_eight_bit(&item.envelope) {
                results[i] = Some(Err(e));
                continue;
            }
            while !(self.client.is_ready() || self.client.can_pipeline_next()) {
                let next = self.drive().await;
                self.collect(&mut pending, &mut results);
                match next {
                    Ok(Next::Ready) => {}
                    Ok(other) => {
                        fatal = Some(format!("the session ended ({other:?})"));
                        break 'messages;
                    }
                    Err(e) => {
                        fatal = Some(e.to_string());
                        break 'messages;
                    }
                }
            }
            self.collect(&mut pending, &mut results);
            if let Err(e) = self.client.send_mail(item.envelope) {
                results[i] = Some(Err(e.into()));
                continue;
            }
            self.flush_events();
            self.committed = false;
            pending.push_back(i);
            let hook = || on_commit(i);
            let mut chunks = BdatChunks::new();
            // The end goes out with the next message's commands.
            self.hold_end = i + 1 < n;
            loop {
                let next = self.drive().await;
                self.collect(&mut pending, &mut results);
                let next = match next {
                    Ok(next) => next,
                    Err(e) => {
                        fatal = Some(e.to_string());
                        break 'messages;
                    }
                };
                let sent = match next {
                    Next::SendBody if self.client.uses_bdat() => {
                        self.bdat_chunk(&mut chunks, &mut item.body, &hook, None)
                            .await
                    }
                    Next::SendBody => {
                        let done = self.send_body(&mut item.body, &hook, None).await;
                        done.map(|stats| {
                            self.transcript.body_done(&stats, true);
                            self.client.body_sent();
                            true
                        })
                    }
                    Next::Ready | Next::Closed => break,
                    other => Err(AppError::Smtp(missive_smtp::Error::Protocol(format!(
                        "unexpected state {other:?} during the transaction"
                    )))),
                };
                // Set once the end of this message is going out, even if writing it failed.
                committed[i] |= self.committed;
                match sent {
                    // The end went out: the next message may follow at once.
                    Ok(true) if i + 1 < n && self.client.can_pipeline_next() => break,
                    Ok(_) => {}
                    Err(e) => {
                        fatal = Some(e.to_string());
                        break 'messages;
                    }
                }
            }
        }
        self.hold_end = false;
        while fatal.is_none() && !pending.is_empty() {
            let next = self.drive().await;
            self.collect(&mut pending, &mut results);
            match next {
                Ok(Next::Ready) | Ok(Next::Closed) => break,
                Ok(Next::SendBody) => {
                    fatal = Some("the server asked for a body out of turn".into())
                }
                Ok(_) => {}
                Err(e) => fatal = Some(e.to_string()),
            }
        }
        self.collect(&mut pending, &mut results);
        self.committed = false;
        let why = fatal.unwrap_or_else(|| "no outcome".into());
        results
            .into_iter()
            .zip(committed)
            .map(|(r, committed)| Sent {
                result: r
                    .unwrap_or_else(|| Err(AppError::Network(format!("connection lost: {why}")))),
                committed,
            })
            .collect()
    }

    /// Outcomes that came, to the messages waiting for them (in order).
    fn collect(
        &mut self,
        pending: &mut VecDeque<usize>,
        results: &mut [Option<Result<TransactionOutcome>>],
    ) {
        while let Some(tx) = self.client.take_outcome() {
            if let Some(i) = pending.pop_front() {
                results[i] = Some(Ok(tx));
                self.messages += 1;
            }
        }
    }
}
