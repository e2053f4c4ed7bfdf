//! The durable outbox (issue 12): `--queue`, `missive queue …`, against
//! missive's own capture server and the Postfix testbed.
//!
//! Every test has its own HOME, XDG directories and so its own queue
//! (`$XDG_STATE_HOME/missive/queue`).

mod crashes;
mod failures;

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use crate::support::*;

/// One test's missive: its home, config and queue.
struct Outbox {
    home: Home,
}

impl Outbox {
    fn new(tag: &str) -> Outbox {
        Outbox {
            home: Home::new(tag),
        }
    }

    /// The queue directory (the default one under XDG_STATE_HOME).
    fn dir(&self) -> PathBuf {
        self.home.root.join("state/missive/queue")
    }

    fn cmd(&self, args: &[&str]) -> Cmd {
        self.home.cmd(args)
    }

    /// `missive sendmail ARGS` through `relay` without TLS, the message on stdin.
    fn sendmail(&self, relay: &str, args: &[&str], message: &str) -> Output {
        self.cmd(&[&["sendmail"], args].concat())
            .env("MISSIVE_SERVER", relay)
            .env("MISSIVE_TLS", "none")
            .stdin(message)
            .run()
    }

    /// `queue list --json`, which must succeed.
    fn list(&self) -> Vec<Value> {
        let out = self.cmd(&["queue", "list", "--json"]).run();
        out.assert_code(0);
        out.json().as_array().cloned().unwrap_or_default()
    }

    /// `queue run` (or another subcommand), which must exit 0.
    fn queue(&self, args: &[&str]) -> Output {
        let out = self.cmd(&[&["queue"], args].concat()).run();
        out.assert_code(0);
        out
    }

    /// Queues `n` messages for `relay` with `--queue always`; their Message-IDs.
    fn queue_always(&self, relay: &str, n: usize, tag: &str) -> Vec<String> {
        (0..n)
            .map(|i| {
                let id = format!("<{}@outbox.test>", unique(tag));
                let msg = message(
                    "sender@outbox.test",
                    "rcpt@outbox.test",
                    &format!("{tag} {i}"),
                    &id,
                );
                self.sendmail(relay, &["--queue", "always", "-t", "-i"], &msg)
                    .assert_code(0);
                id
            })
            .collect()
    }
}

/// A ready-made message.
fn message(from: &str, to: &str, subject: &str, message_id: &str) -> String {
    format!(
        "From: {from}\nTo: {to}\nSubject: {subject}\nMessage-ID: {message_id}\n\nThe body of {subject}.\n"
    )
}

/// The queue id in a `queued as ID: …` line.
fn queued_id(stderr: &str) -> String {
    let rest = stderr
        .split("queued as ")
        .nth(1)
        .unwrap_or_else(|| panic!("no `queued as` line:\n{stderr}"));
    rest.split(':').next().unwrap().trim().to_string()
}

fn states(entry: &Value) -> Vec<(String, String, u64)> {
    entry["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["address"].as_str().unwrap().to_string(),
                r["state"].as_str().unwrap().to_string(),
                r["attempts"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn sendmail_queues_while_the_relay_is_down_and_queue_run_delivers_once() {
    let q = Outbox::new("outbox-down");
    let port = free_port();
    let relay = format!("127.0.0.1:{port}");
    let id = format!("<{}@outbox.test>", unique("down"));
    let out = q.sendmail(
        &relay,
        &["-t", "-i"],
        &message("me@outbox.test", "you@outbox.test", "while down", &id),
    );
    // sendmail's default is on-failure: accepted for delivery.
    out.assert_code(0);
    let qid = queued_id(&out.stderr);
    assert!(out.stderr.contains("Connection refused"), "{out}");
    let list = q.list();
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["id"], qid.as_str());
    assert_eq!(list[0]["message_id"], id.as_str());
    assert_eq!(list[0]["sender"], "me@outbox.test");
    assert_eq!(
        states(&list[0]),
        [("you@outbox.test".to_string(), "pending".to_string(), 1)]
    );
    assert!(list[0]["next_attempt_in_secs"].as_u64().unwrap() > 0);

    let server = Capture::start_on(port, &[]);
    // Not due yet (backoff 1 minute): a run leaves it alone.
    let out = q.queue(&["run"]);
    assert!(!out.stdout.contains("delivered"), "{out}");
    assert_eq!(q.list().len(), 1);
    assert!(server.messages().is_empty());
    // Due now: delivered once, the queue empty.
    q.queue(&["retry", &qid]);
    let out = q.queue(&["run"]);
    assert!(
        out.stdout
            .contains(&format!("{qid}: delivered to you@outbox.test")),
        "{out}"
    );
    assert!(q.list().is_empty());
    q.queue(&["flush"]);
    let counts = server.by_message_id();
    assert_eq!(counts.get(&id), Some(&1), "{counts:?}");
    assert_eq!(counts.len(), 1, "{counts:?}");
    // The spool: 0700, nothing left but the empty folders.
    assert_eq!(mode_of(&q.dir()), 0o700);
    let left: Vec<_> = std::fs::read_dir(q.dir())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().unwrap().is_file())
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn queue_always_stores_private_files_and_returns_at_once() {
    let q = Outbox::new("outbox-always");
    // Nothing listens: with `always` no connection is even tried.
    let relay = format!("127.0.0.1:{}", free_port());
    let id = format!("<{}@outbox.test>", unique("always"));
    let out = q
        .cmd(&[
            "send",
            "--server",
            &relay,
            "--tls",
            "none",
            "--queue",
            "always",
            "--from",
            "me@outbox.test",
            "--to",
            "a@outbox.test",
            "--to",
            "b@outbox.test",
            "--subject",
            "later",
            "--header",
            &format!("Message-ID: {id}"),
            "--body",
            "kept",
        ])
        .run();
    out.assert_code(0);
    let qid = queued_id(&out.stderr);
    assert!(!out.stderr.contains("refused"), "{out}");
    for ext in ["json", "msg"] {
        let f = q.dir().join(format!("{qid}.{ext}"));
        assert_eq!(mode_of(&f), 0o600, "{}", f.display());
    }
    let msg = std::fs::read_to_string(q.dir().join(format!("{qid}.msg"))).unwrap();
    assert!(msg.contains(&id) && msg.contains("kept"), "{msg}");
    let list = q.list();
    assert_eq!(list[0]["attempts"], 0);
    assert_eq!(list[0]["next_attempt_in_secs"], 0);
    // show: the entry and its headers; remove: gone.
    let show = q.queue(&["show", &qid]);
    assert!(show.stdout.contains("pending a@outbox.test"), "{show}");
    assert!(show.stdout.contains("Subject: later"), "{show}");
    q.queue(&["remove", &qid]);
    assert!(q.list().is_empty());
    assert!(!q.dir().join(format!("{qid}.msg")).exists());
    let out = q.cmd(&["queue", "show", &qid]).run();
    assert_eq!(out.code, 64, "{out}");
}

#[test]
fn send_does_not_queue_by_default() {
    let q = Outbox::new("outbox-never");
    let relay = format!("127.0.0.1:{}", free_port());
    let out = q
        .cmd(&[
            "send",
            "--server",
            &relay,
            "--tls",
            "none",
            "--from",
            "me@outbox.test",
            "--to",
            "a@outbox.test",
            "--body",
            "now or never",
        ])
        .run();
    out.assert_code(75);
    assert!(!out.stderr.contains("queued as"), "{out}");
    // sendmail --queue never: the same.
    let out = q.sendmail(
        &relay,
        &["--queue", "never", "a@outbox.test"],
        "Subject: x\n\nbody\n",
    );
    out.assert_code(75);
    assert!(q.list().is_empty());
}

#[test]
fn only_the_tempfailed_recipient_stays_queued() {
    let tb = testbed!();
    let q = Outbox::new("outbox-tempfail");
    let a = unique_addr("obx-a");
    let b = unique_addr("obx-b");
    let t = format!("tempfail-{}", unique_addr("obx"));
    let id = format!("<{}@outbox.test>", unique("tempfail"));
    let out = q
        .cmd(&["sendmail", "-t", "-i"])
        .env("MISSIVE_SERVER", tb.mx())
        .env("MISSIVE_CAFILE", tb.ca())
        .stdin(format!(
            "From: me@outbox.test\nTo: {a}, {b}, {t}\nSubject: three\nMessage-ID: {id}\n\nhello\n"
        ))
        .run();
    out.assert_code(0);
    assert!(out.stderr.contains(&format!("{t}: 450")), "{out}");
    let qid = queued_id(&out.stderr);
    assert!(tb.wait_for_only_mail(&a).contains(&id));
    assert!(tb.wait_for_only_mail(&b).contains(&id));
    let list = q.list();
    assert_eq!(list.len(), 1);
    let want = |s: &str, n| {
        vec![
            (a.clone(), "accepted".into(), 1),
            (b.clone(), "accepted".into(), 1),
            (t.clone(), s.to_string(), n),
        ]
    };
    assert_eq!(states(&list[0]), want("pending", 1));
    // A flush sends to the third only: the others' attempts stay at one.
    let out = q.queue(&["flush"]);
    assert!(
        out.stderr.contains(&format!("{qid}: {t} deferred: 450")),
        "{out}"
    );
    assert_eq!(states(&q.list()[0]), want("pending", 2));
    assert_eq!(tb.mail_files(&a).len(), 1);
    assert_eq!(tb.mail_files(&b).len(), 1);
    // The schedule doubles: 1 minute after the first attempt, 2 after the second.
    let next = q.list()[0]["next_attempt_in_secs"].as_u64().unwrap();
    assert!((100..=120).contains(&next), "{next}");
}

#[test]
fn watch_delivers_a_message_that_arrives_while_it_runs() {
    let q = Outbox::new("outbox-watch");
    let server = Capture::start(&[]);
    let mut watcher = q.cmd(&["queue", "run", "--watch"]).spawn();
    let ids = q.queue_always(&server.addr(), 1, "watch");
    server.wait_for(1, Duration::from_secs(20));
    // The server has it; the watcher records the delivery right after.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !q.list().is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = watcher.kill();
    let _ = watcher.wait();
    assert_eq!(server.by_message_id().get(&ids[0]), Some(&1));
    assert!(q.list().is_empty());
}

#[test]
fn messages_to_one_route_share_a_connection() {
    let q = Outbox::new("outbox-share");
    let server = Capture::start(&[]);
    let ids = q.queue_always(&server.addr(), 3, "share");
    let out = q.queue(&["run", "-v"]);
    assert_eq!(out.stderr.matches("C: EHLO").count(), 1, "{out}");
    assert_eq!(out.stderr.matches("C: MAIL FROM").count(), 3, "{out}");
    let counts = server.by_message_id();
    assert!(
        ids.iter().all(|id| counts.get(id) == Some(&1)),
        "{counts:?}"
    );
}

#[test]
fn the_queue_setting_comes_from_the_flag_the_environment_the_account_and_the_file() {
    let q = Outbox::new("outbox-setting");
    let relay = format!("127.0.0.1:{}", free_port());
    q.home.config(
        &format!(
            "queue = \"always\"\n[accounts.now]\nserver = \"{relay}\"\ntls = \"none\"\nqueue = \"never\"\n[accounts.file]\nserver = \"{relay}\"\ntls = \"none\"\n"
        ),
        0o600,
    );
    let send = |account: &str, extra: &[&str], env: Option<&str>| {
        let mut cmd = q.cmd(
            &[
                &[
                    "send",
                    "--account",
                    account,
                    "--from",
                    "me@outbox.test",
                    "--to",
                    "a@outbox.test",
                    "--body",
                    "x",
                ],
                extra,
            ]
            .concat(),
        );
        if let Some(v) = env {
            cmd = cmd.env("MISSIVE_QUEUE", v);
        }
        cmd.run()
    };
    // The file's top level: always (send's own default is never).
    let out = send("file", &[], None);
    out.assert_code(0);
    assert!(out.stderr.contains("queued as"), "{out}");
    // The account beats the file.
    send("now", &[], None).assert_code(75);
    // The environment beats the account.
    send("now", &[], Some("always")).assert_code(0);
    send("file", &[], Some("never")).assert_code(75);
    // The flag beats everything.
    send("file", &["--queue", "never"], Some("always")).assert_code(75);
    let out = send("now", &["--queue", "on-failure"], Some("never"));
    out.assert_code(0);
    assert!(
        out.stderr.contains("queued as") && out.stderr.contains("Connection refused"),
        "{out}"
    );
    assert_eq!(q.list().len(), 3);
}

#[test]
fn the_queue_dir_comes_from_the_environment_or_the_file() {
    let q = Outbox::new("outbox-dir");
    let relay = format!("127.0.0.1:{}", free_port());
    let env_dir = q.home.root.join("env-queue");
    let out = q
        .cmd(&["sendmail", "--queue", "always", "a@outbox.test"])
        .env("MISSIVE_SERVER", &relay)
        .env("MISSIVE_QUEUE_DIR", &env_dir)
        .stdin("Subject: where\n\nbody\n")
        .run();
    out.assert_code(0);
    let qid = queued_id(&out.stderr);
    assert!(env_dir.join(format!("{qid}.json")).exists());
    assert_eq!(mode_of(&env_dir), 0o700);
    assert!(q.list().is_empty(), "the default queue is not used");
    let dir = env_dir.to_str().unwrap();
    let listed = q.queue(&["list", "--queue-dir", dir]);
    assert!(listed.stdout.contains(&qid), "{listed}");
    q.home.config(&format!("queue_dir = \"{dir}\"\n"), 0o600);
    assert_eq!(q.list().len(), 1, "queue_dir of the file");
}
