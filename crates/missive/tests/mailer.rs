//! The library: `missive::Mailer` against the real Postfix testbed (session
//! reuse, a bounded pool, per-recipient outcomes, the `send_many` example)
//! and against scripted servers for what Postfix will not do on cue (closing
//! an idle session, 421 between messages).

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::*;
use missive::{
    Login, Mail, Mailer, MailerOptions, MessageBuilder, Relay, Route, SecretSource, Status, TlsMode,
};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A mailer for the testbed's submission port, logged in as user 1.
fn submission(tb: &Testbed, connections: usize) -> Mailer {
    let relay = Relay::new(&tb.submission()).unwrap().login(Login::password(
        tb.user(),
        SecretSource::Value(missive::smtp::Secret::new(tb.pass().to_string())),
    ));
    let mut options = MailerOptions::new(Route::Relay(relay));
    options.trust.cafile = Some(tb.ca().into());
    options.connections = connections;
    Mailer::new(options).unwrap()
}

fn mail_to(to: &[&str], subject: &str) -> Mail {
    let mut b = MessageBuilder::new("Mailer Test <mailer@example.test>").unwrap();
    for t in to {
        b = b.to(t).unwrap();
    }
    let built = b
        .subject(subject)
        .text("Sent through missive::Mailer.")
        .build()
        .unwrap();
    let id = built.message_id.clone();
    Mail::new(&built.from_address, to, built.message)
        .unwrap()
        .with_message_id(id)
}

#[test]
fn consecutive_sends_reuse_one_session() {
    let tb = testbed!();
    let rcpts: Vec<String> = (0..5).map(|i| unique_addr(&format!("reuse{i}"))).collect();
    let rt = runtime();
    let mailer = submission(&tb, 1);
    rt.block_on(async {
        for (i, r) in rcpts.iter().enumerate() {
            let outcome = mailer
                .send(&mail_to(&[r], &format!("reuse {i}")))
                .await
                .unwrap();
            assert!(outcome.all_accepted(), "{outcome:?}");
            assert!(outcome.authenticated && outcome.tls.is_some());
        }
        mailer.close().await;
    });
    for r in &rcpts {
        tb.wait_for_mail(r);
    }
    let sessions = sessions_for(&tb, &rcpts);
    assert_eq!(sessions.len(), 1, "{sessions:#?}");
    let bye = sessions[0].disconnect.as_deref().unwrap_or("");
    assert!(bye.contains(" mail=5 ") && bye.contains(" quit=1"), "{bye}");
}

#[test]
fn a_pool_of_three_serves_twelve_concurrent_sends() {
    let tb = testbed!();
    let rcpts: Vec<String> = (0..12).map(|i| unique_addr(&format!("pool{i}"))).collect();
    let rt = runtime();
    let mailer = submission(&tb, 3);
    let outcomes = rt.block_on(async {
        let sends = rcpts
            .iter()
            .map(|r| {
                let mailer = mailer.clone();
                let mail = mail_to(&[r], "pooled");
                async move { mailer.send(&mail).await }
            })
            .collect::<Vec<_>>();
        let all = futures_util::future::join_all(sends).await;
        mailer.close().await;
        all
    });
    for o in &outcomes {
        assert!(o.as_ref().is_ok_and(|o| o.all_accepted()), "{o:?}");
    }
    for r in &rcpts {
        tb.wait_for_mail(r);
    }
    let sessions = sessions_for(&tb, &rcpts);
    assert!((1..=3).contains(&sessions.len()), "{sessions:#?}");
    let carried: usize = sessions.iter().map(|s| s.queue_ids.len()).sum();
    assert_eq!(carried, 12, "{sessions:#?}");
}

#[test]
fn each_recipient_has_its_own_outcome() {
    let tb = testbed!();
    let ok = unique_addr("outcome-ok");
    let (reject, tempfail) = (
        format!("reject+{}", unique_addr("o")),
        format!("tempfail+{}", unique_addr("o")),
    );
    let rt = runtime();
    let mailer = submission(&tb, 1);
    let outcome = rt
        .block_on(async {
            let o = mailer
                .send(&mail_to(&[&ok, &reject, &tempfail], "outcomes"))
                .await;
            mailer.close().await;
            o
        })
        .unwrap();
    let by = |a: &str| outcome.recipients.iter().find(|r| r.address == a).unwrap();
    assert_eq!(by(&ok).status, Status::Accepted);
    assert_eq!(by(&reject).status, Status::Refused);
    assert_eq!(by(&reject).reply.as_ref().unwrap().code.value(), 550);
    assert_eq!(
        by(&reject)
            .reply
            .as_ref()
            .unwrap()
            .enhanced
            .unwrap()
            .to_string(),
        "5.1.1"
    );
    assert_eq!(by(&tempfail).status, Status::Deferred);
    assert_eq!(
        by(&tempfail)
            .reply
            .as_ref()
            .unwrap()
            .enhanced
            .unwrap()
            .to_string(),
        "4.2.1"
    );
    assert_eq!(outcome.worst(), Status::Refused);
    assert!(outcome.queue_id.is_some());
    tb.wait_for_mail(&ok);
}

/// The `send_many` example, built by `cargo test` beside the test binaries.
fn example() -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    dir.join("examples").join("send_many")
}

fn run_example(tb: &Testbed, to: &str, count: usize, connections: usize) -> Output {
    Cmd::program(example())
        .env("MISSIVE_SERVER", tb.submission())
        .env("MISSIVE_USER", tb.user())
        .env("MISSIVE_PASSWORD", tb.pass())
        .env("MISSIVE_CAFILE", tb.ca())
        .args(["--to", to, "--count", &count.to_string()])
        .args(["--connections", &connections.to_string()])
        .timeout(Duration::from_secs(120))
        .run()
}

#[test]
fn the_send_many_example_reuses_sessions() {
    let tb = testbed!();
    if !example().exists() {
        panic!(
            "{} was not built (cargo test builds examples)",
            example().display()
        );
    }
    for (count, connections) in [(50, 1), (20, 4)] {
        let to = unique_addr(&format!("many{connections}"));
        let run = run_example(&tb, &to, count, connections);
        assert_eq!(run.code, 0, "{run}");
        let lines: Vec<serde_json::Value> = run
            .stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), count);
        assert!(
            lines
                .iter()
                .all(|l| l["accepted"] == true && l["code"] == 250),
            "{lines:?}"
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        while tb.mail_files(&to).len() < count && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        assert_eq!(tb.mail_files(&to).len(), count);
        let sessions = sessions_for(&tb, &vec![to.clone(); count]);
        let carried: usize = sessions.iter().map(|s| s.queue_ids.len()).sum();
        assert_eq!(carried, count, "{sessions:#?}");
        match connections {
            1 => {
                assert_eq!(sessions.len(), 1, "{sessions:#?}");
                let bye = sessions[0].disconnect.as_deref().unwrap_or("");
                assert!(bye.contains(&format!(" mail={count} ")), "{bye}");
            }
            n => assert!((1..=n).contains(&sessions.len()), "{sessions:#?}"),
        }
    }
}

// ---- scripted servers: what Postfix will not do on cue --------------------

/// A plain SMTP server (no TLS, no AUTH) that takes any number of
/// connections. `after(conn, n)` decides what happens after the n-th
/// message of a connection (1-based): keep going, close, or answer the next
/// MAIL with 421.
struct Scripted {
    port: u16,
    connections: Arc<AtomicUsize>,
    messages: Arc<AtomicUsize>,
}

#[derive(Clone, Copy, PartialEq)]
enum After {
    Continue,
    Close,
    Reply421,
    /// Take the message, then vanish without answering it.
    Vanish,
}

impl Scripted {
    fn start(after: fn(usize, usize) -> After) -> Scripted {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let connections = Arc::new(AtomicUsize::new(0));
        let messages = Arc::new(AtomicUsize::new(0));
        let (c, m) = (connections.clone(), messages.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let n = c.fetch_add(1, Ordering::SeqCst) + 1;
                let m = m.clone();
                std::thread::spawn(move || serve(stream, n, after, &m));
            }
        });
        Scripted {
            port,
            connections,
            messages,
        }
    }

    fn mailer(&self) -> Mailer {
        let relay = Relay::new(&format!("127.0.0.1:{}", self.port))
            .unwrap()
            .tls(TlsMode::None);
        let mut options = MailerOptions::new(Route::Relay(relay));
        options.connections = 1;
        options.timeout = Some(Duration::from_secs(10));
        Mailer::new(options).unwrap()
    }
}

fn serve(stream: TcpStream, conn: usize, after: fn(usize, usize) -> After, messages: &AtomicUsize) {
    stream.set_read_timeout(Some(Duration::from_secs(20))).ok();
    let mut out = stream.try_clone().unwrap();
    let mut input = BufReader::new(stream);
    let mut say = |s: &str| out.write_all(format!("{s}\r\n").as_bytes()).is_ok();
    say("220 scripted.test ESMTP");
    let (mut n, mut pending) = (0, After::Continue);
    let mut line = String::new();
    loop {
        line.clear();
        if input.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
        let ok = match verb.as_str() {
            "EHLO" => say("250-scripted.test\r\n250 PIPELINING"),
            "MAIL" if pending == After::Reply421 => {
                say("421 4.7.0 scripted.test too many messages, closing");
                return;
            }
            "MAIL" | "RCPT" | "RSET" | "NOOP" => say("250 2.0.0 ok"),
            "QUIT" => {
                say("221 2.0.0 bye");
                return;
            }
            "DATA" => {
                say("354 go ahead");
                let mut body = String::new();
                while body != ".\r\n" {
                    body.clear();
                    if input.read_line(&mut body).unwrap_or(0) == 0 {
                        return;
                    }
                }
                n += 1;
                messages.fetch_add(1, Ordering::SeqCst);
                pending = after(conn, n);
                if pending == After::Vanish {
                    return;
                }
                let ok = say(&format!("250 2.0.0 queued as C{conn}M{n}"));
                if pending == After::Close {
                    std::thread::sleep(Duration::from_millis(50));
                    return;
                }
                ok
            }
            _ => say("502 5.5.2 what"),
        };
        if !ok {
            return;
        }
    }
}

fn send_three(server: &Scripted) -> Vec<missive::Outcome> {
    let rt = runtime();
    let mailer = server.mailer();
    rt.block_on(async {
        let mut all = Vec::new();
        for i in 0..3 {
            let o = mailer
                .send(&mail_to(&["bob@example.test"], &format!("m{i}")))
                .await
                .unwrap_or_else(|e| panic!("message {i}: {e}"));
            all.push(o);
            // Let the server's close reach us before the next send.
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        mailer.close().await;
        all
    })
}

#[test]
fn a_session_the_server_closed_while_idle_is_replaced() {
    let server = Scripted::start(|_, _| After::Close);
    let outcomes = send_three(&server);
    assert!(outcomes.iter().all(|o| o.all_accepted()), "{outcomes:?}");
    assert_eq!(
        server.messages.load(Ordering::SeqCst),
        3,
        "each message once"
    );
    assert_eq!(server.connections.load(Ordering::SeqCst), 3);
    let ids: Vec<_> = outcomes
        .iter()
        .map(|o| o.queue_id.clone().unwrap())
        .collect();
    assert_eq!(ids, ["C1M1", "C2M1", "C3M1"]);
}

#[test]
fn a_421_between_messages_moves_to_a_new_session() {
    // The first connection takes two messages, then answers MAIL with 421.
    let server = Scripted::start(|conn, n| match (conn, n) {
        (1, 2) => After::Reply421,
        _ => After::Continue,
    });
    let outcomes = send_three(&server);
    assert!(outcomes.iter().all(|o| o.all_accepted()), "{outcomes:?}");
    assert_eq!(server.messages.load(Ordering::SeqCst), 3);
    assert_eq!(server.connections.load(Ordering::SeqCst), 2);
    let ids: Vec<_> = outcomes
        .iter()
        .map(|o| o.queue_id.clone().unwrap())
        .collect();
    assert_eq!(ids, ["C1M1", "C1M2", "C2M1"]);
}

#[test]
fn a_session_is_replaced_after_max_messages() {
    let server = Scripted::start(|_, _| After::Continue);
    let rt = runtime();
    let relay = Relay::new(&format!("127.0.0.1:{}", server.port))
        .unwrap()
        .tls(TlsMode::None);
    let mut options = MailerOptions::new(Route::Relay(relay));
    options.max_messages_per_connection = 2;
    let mailer = Mailer::new(options).unwrap();
    rt.block_on(async {
        for i in 0..5 {
            let o = mailer
                .send(&mail_to(&["bob@example.test"], &format!("m{i}")))
                .await;
            assert!(o.unwrap().all_accepted());
        }
        mailer.close().await;
    });
    assert_eq!(server.messages.load(Ordering::SeqCst), 5);
    assert_eq!(server.connections.load(Ordering::SeqCst), 3, "2 + 2 + 1");
}

#[test]
fn a_message_whose_end_went_out_unanswered_is_not_sent_again() {
    // The second message's end of data goes out and no reply comes: the
    // server may have it (RFC 1047), so it is an error, never a resend.
    let server = Scripted::start(|conn, n| match (conn, n) {
        (1, 2) => After::Vanish,
        _ => After::Continue,
    });
    let mailer = server.mailer();
    let commits = AtomicUsize::new(0);
    let on_commit = || {
        commits.fetch_add(1, Ordering::SeqCst);
    };
    let rt = runtime();
    let (first, second) = rt.block_on(async {
        let first = mailer
            .send_committing(&mail_to(&["bob@example.test"], "one"), &on_commit)
            .await;
        let second = mailer
            .send_committing(&mail_to(&["bob@example.test"], "two"), &on_commit)
            .await;
        mailer.close().await;
        (first, second)
    });
    assert!(first.unwrap().all_accepted());
    let e = second.expect_err("no reply to the second message");
    assert_eq!(e.exit_code(), missive::exit::TEMPFAIL, "{e}");
    assert_eq!(
        commits.load(Ordering::SeqCst),
        2,
        "the hook ran before each end of data"
    );
    assert_eq!(server.messages.load(Ordering::SeqCst), 2, "not resent");
    assert_eq!(
        server.connections.load(Ordering::SeqCst),
        1,
        "no new session for it"
    );
}

/// `send_batch` pipelines transactions: the server holds back the reply to
/// the first message's end until the second MAIL has arrived, which only
/// happens if the client sends it without waiting (RFC 2920 §3.1).
#[test]
fn a_batch_sends_the_next_mail_before_the_previous_final_reply() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut out = stream.try_clone().unwrap();
        let mut input = BufReader::new(stream);
        let mut say = |s: &str| out.write_all(format!("{s}\r\n").as_bytes()).unwrap();
        say("220 pipelining.test ESMTP");
        let (mut held, mut early, mut n) = (0, 0, 0);
        let mut line = String::new();
        loop {
            // While a final reply is held back, wait a little for the next
            // MAIL; then give the reply (the last message has no next).
            let wait = if held > 0 { 700 } else { 5000 };
            input
                .get_ref()
                .set_read_timeout(Some(Duration::from_millis(wait)))
                .unwrap();
            line.clear();
            match input.read_line(&mut line) {
                Ok(0) => break,
                Ok(_) => {}
                Err(_) if held > 0 => {
                    for _ in 0..held {
                        n += 1;
                        say(&format!("250 2.0.0 queued as M{n}"));
                    }
                    held = 0;
                    continue;
                }
                Err(_) => break,
            }
            match line.get(..4).unwrap_or("").to_ascii_uppercase().as_str() {
                "EHLO" => say("250-pipelining.test\r\n250 PIPELINING"),
                "MAIL" => {
                    if held > 0 {
                        early += 1;
                        for _ in 0..held {
                            n += 1;
                            say(&format!("250 2.0.0 queued as M{n}"));
                        }
                        held = 0;
                    }
                    say("250 2.1.0 ok")
                }
                "RCPT" => say("250 2.1.5 ok"),
                "DATA" => {
                    say("354 go");
                    loop {
                        line.clear();
                        if input.read_line(&mut line).unwrap_or(0) == 0 || line == ".\r\n" {
                            break;
                        }
                    }
                    held += 1;
                }
                "QUIT" => {
                    say("221 bye");
                    break;
                }
                _ => say("502 what"),
            }
        }
        (early, n)
    });
    let relay = Relay::new(&format!("127.0.0.1:{port}"))
        .unwrap()
        .tls(TlsMode::None);
    let mut options = MailerOptions::new(Route::Relay(relay));
    options.timeout = Some(Duration::from_secs(10));
    let mailer = Mailer::new(options).unwrap();
    let mails: Vec<Mail> = (0..3)
        .map(|i| mail_to(&["bob@example.test"], &format!("b{i}")))
        .collect();
    let refs: Vec<&Mail> = mails.iter().collect();
    let commits = AtomicUsize::new(0);
    let on_commit = |_: usize| -> futures_util::future::BoxFuture<'_, missive::Result<()>> {
        commits.fetch_add(1, Ordering::SeqCst);
        Box::pin(async { Ok(()) })
    };
    let rt = runtime();
    let results = rt.block_on(async {
        let r = mailer.send_batch(&refs, &on_commit).await;
        mailer.close().await;
        r
    });
    let (early, delivered) = server.join().unwrap();
    assert_eq!(
        early, 2,
        "the 2nd and 3rd MAIL came before the previous final reply"
    );
    assert_eq!(delivered, 3);
    assert_eq!(commits.load(Ordering::SeqCst), 3);
    let ids: Vec<String> = results
        .into_iter()
        .map(|b| {
            assert!(b.committed);
            b.result.unwrap().queue_id.unwrap()
        })
        .collect();
    assert_eq!(
        ids,
        ["M1", "M2", "M3"],
        "each message has its own outcome, in order"
    );
}
