//! Crashes and concurrency: a runner killed with SIGKILL mid-delivery, two
//! runners at once.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use super::*;
use crate::support::process::finish;

#[test]
fn sigkill_mid_run_loses_nothing_and_duplicates_only_what_is_in_doubt() {
    const N: usize = 50;
    let q = Outbox::new("outbox-kill");
    // Each end of data waits 150 ms for its reply: the kill lands inside
    // some transaction, often in that window (end of data sent, no reply).
    let server = Capture::start(&["--delay", "end-of-data=150"]);
    let ids = q.queue_always(&server.addr(), N, "kill");
    assert_eq!(q.list().len(), N);

    let mut runner = q.cmd(&["queue", "run"]).spawn();
    // Kill it once a few messages are through, and before all are.
    server.wait_for(5, Duration::from_secs(60));
    runner.kill().expect("SIGKILL the runner");
    let status = runner.wait().unwrap();
    assert!(!status.success(), "the runner ended by itself: {status:?}");

    let delivered_before = server.messages().len();
    assert!(delivered_before < N, "the runner finished before the kill");
    let left = q.list();
    assert!(!left.is_empty() && left.len() < N, "{} left", left.len());
    // Nothing lost: every message is either delivered or still queued.
    let queued: HashSet<String> = left
        .iter()
        .map(|e| e["message_id"].as_str().unwrap().to_string())
        .collect();
    let counts = server.by_message_id();
    for id in &ids {
        assert!(
            queued.contains(id) || counts.contains_key(id),
            "{id} neither delivered nor queued"
        );
    }
    let in_doubt: HashSet<String> = left
        .iter()
        .filter(|e| e["in_doubt"] == true)
        .map(|e| e["message_id"].as_str().unwrap().to_string())
        .collect();
    for e in &left {
        assert_eq!(states(e)[0].1, "pending", "{e}");
    }
    // The server has it and it is still queued: only if the end of its
    // data went out before the kill, which the entry must say.
    for id in queued.iter().filter(|id| counts.contains_key(*id)) {
        assert!(
            in_doubt.contains(id),
            "{id} delivered, still queued, not in doubt"
        );
    }
    let show = left
        .iter()
        .find(|e| e["in_doubt"] == true)
        .map(|e| q.queue(&["show", e["id"].as_str().unwrap()]).stdout);
    if let Some(show) = show {
        assert!(show.contains("in doubt"), "{show}");
    }

    // Run again: the rest goes, and the queue is empty.
    let out = q
        .cmd(&["queue", "run"])
        .timeout(Duration::from_secs(120))
        .run();
    out.assert_code(0);
    assert!(q.list().is_empty(), "{out}");
    let counts = server.by_message_id();
    for id in &ids {
        let n = counts.get(id).copied().unwrap_or(0);
        match in_doubt.contains(id) {
            true => assert!((1..=2).contains(&n), "{id} in doubt, delivered {n} times"),
            false => assert_eq!(n, 1, "{id} delivered {n} times (not in doubt)"),
        }
    }
    assert_eq!(counts.len(), N, "{counts:?}");
}

#[test]
fn two_runners_at_once_send_every_message_exactly_once() {
    const N: usize = 30;
    let q = Outbox::new("outbox-two");
    let server = Capture::start(&["--delay", "end-of-data=30"]);
    let ids = q.queue_always(&server.addr(), N, "two");
    let start = Instant::now();
    let mut a = q.cmd(&["queue", "run"]).spawn();
    let mut b = q.cmd(&["queue", "run"]).spawn();
    let limit = Duration::from_secs(120);
    let out_a = finish(&mut a, None, start, limit);
    let out_b = finish(&mut b, None, start, limit);
    out_a.assert_code(0);
    out_b.assert_code(0);
    assert!(q.list().is_empty(), "{out_a}\n{out_b}");
    let counts = server.by_message_id();
    for id in &ids {
        assert_eq!(
            counts.get(id),
            Some(&1),
            "{id}: {counts:?}\n{out_a}\n{out_b}"
        );
    }
    assert_eq!(counts.len(), N);
    // Each message was reported delivered by exactly one of the two.
    let delivered = |o: &Output| o.stdout.matches(": delivered to ").count();
    assert_eq!(delivered(&out_a) + delivered(&out_b), N, "{out_a}\n{out_b}");
}

#[test]
fn a_connection_lost_after_the_end_of_data_is_queued_in_doubt() {
    let q = Outbox::new("outbox-lost");
    for (stage, doubt) in [("end-of-data", true), ("rcpt", false)] {
        let server = Capture::start(&["--drop-at", stage]);
        let out = q.sendmail(
            &server.addr(),
            &["-t", "-i"],
            &message(
                "me@outbox.test",
                "you@outbox.test",
                stage,
                &format!("<{}@outbox.test>", unique("lost")),
            ),
        );
        out.assert_code(0);
        let qid = queued_id(&out.stderr);
        let entry = q
            .list()
            .into_iter()
            .find(|e| e["id"] == qid.as_str())
            .expect("queued");
        assert_eq!(entry["in_doubt"], doubt, "dropped at {stage}: {entry}");
        let show = q.queue(&["show", &qid]).stdout;
        assert_eq!(show.contains("in doubt"), doubt, "{show}");
    }
}
