//! Sending limits over sliding windows (`30/min`, `10000/day`), held across
//! every connection of a run, and a pause when the server says to slow down.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::error::{AppError, Result};

/// At most `count` messages in any `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rate {
    pub count: usize,
    pub window: Duration,
}

impl Rate {
    /// `N/s`, `N/sec`, `N/min`, `N/h`, `N/hour`, `N/day`.
    pub fn parse(s: &str) -> Result<Rate> {
        let bad = || AppError::Usage(format!("--rate {s:?}: expected N/s, N/min, N/h or N/day"));
        let (n, unit) = s.split_once('/').ok_or_else(bad)?;
        let count: usize = n.trim().parse().ok().filter(|&n| n > 0).ok_or_else(bad)?;
        let secs = match unit.trim().to_ascii_lowercase().as_str() {
            "s" | "sec" | "second" => 1,
            "m" | "min" | "minute" => 60,
            "h" | "hour" => 3600,
            "d" | "day" => 86_400,
            _ => return Err(bad()),
        };
        Ok(Rate {
            count,
            window: Duration::from_secs(secs),
        })
    }
}

/// The limits of a run, shared by its connections.
pub(crate) struct Limiter {
    rates: Vec<Rate>,
    state: Mutex<LimiterState>,
}

struct LimiterState {
    /// When each recent message started, oldest first (as far back as the longest window).
    sent: VecDeque<Instant>,
    /// No message starts before this (the server asked to slow down).
    paused_until: Option<Instant>,
    /// How long the next pause is.
    backoff: Duration,
}

impl Limiter {
    pub fn new(rates: Vec<Rate>) -> Limiter {
        Limiter {
            rates,
            state: Mutex::new(LimiterState {
                sent: VecDeque::new(),
                paused_until: None,
                backoff: Duration::from_secs(1),
            }),
        }
    }

    /// How long to wait before the next message may start (zero: now, and it is counted).
    fn try_take(&self, now: Instant) -> Duration {
        let Ok(mut s) = self.state.lock() else {
            return Duration::ZERO;
        };
        if let Some(p) = s.paused_until.filter(|p| *p > now) {
            return p - now;
        }
        let longest = self
            .rates
            .iter()
            .map(|r| r.window)
            .max()
            .unwrap_or_default();
        while s
            .sent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= longest)
        {
            s.sent.pop_front();
        }
        let mut wait = Duration::ZERO;
        for r in &self.rates {
            // Messages started within this window.
            let first = s
                .sent
                .partition_point(|t| now.duration_since(*t) >= r.window);
            let within = s.sent.len() - first;
            if within >= r.count {
                // The window frees a place when the oldest of its last `count` leaves it.
                let oldest = s.sent[s.sent.len() - r.count];
                wait = wait.max(r.window - now.duration_since(oldest));
            }
        }
        if wait.is_zero() {
            s.sent.push_back(now);
        }
        wait
    }

    /// Waits until a message may start, and counts it.
    pub async fn acquire(&self) {
        loop {
            let wait = self.try_take(Instant::now());
            if wait.is_zero() {
                return;
            }
            tokio::time::sleep(wait).await;
        }
    }

    /// The server said to slow down: no new message for a while, longer each time (to 60 s).
    pub fn slow_down(&self) -> Duration {
        let Ok(mut s) = self.state.lock() else {
            return Duration::ZERO;
        };
        let pause = s.backoff;
        s.backoff = (s.backoff * 2).min(Duration::from_secs(60));
        s.paused_until = Some(Instant::now() + pause);
        pause
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse() {
        assert_eq!(
            Rate::parse("30/min").unwrap(),
            Rate {
                count: 30,
                window: Duration::from_secs(60)
            }
        );
        assert_eq!(
            Rate::parse("10000/day").unwrap().window,
            Duration::from_secs(86400)
        );
        assert!(Rate::parse("0/s").is_err());
        assert!(Rate::parse("5/fortnight").is_err());
        assert!(Rate::parse("5").is_err());
    }

    #[test]
    fn a_window_holds() {
        let l = Limiter::new(vec![
            Rate::parse("2/s").unwrap(),
            Rate::parse("3/min").unwrap(),
        ]);
        let t0 = Instant::now();
        assert!(l.try_take(t0).is_zero());
        assert!(l.try_take(t0).is_zero());
        let w = l.try_take(t0 + Duration::from_millis(100));
        assert!(
            w > Duration::from_millis(800) && w <= Duration::from_millis(900),
            "{w:?}"
        );
        assert!(
            l.try_take(t0 + Duration::from_secs(1)).is_zero(),
            "the second's window moved"
        );
        let w = l.try_take(t0 + Duration::from_secs(2));
        assert!(w >= Duration::from_secs(57), "three a minute: {w:?}");
    }
}
