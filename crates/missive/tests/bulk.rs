//! `missive bulk`: personalisation checked in the delivered messages, the
//! sessions Postfix saw, refused and deferred rows and the resume that
//! retries only those, a run killed with SIGKILL and resumed, errors that
//! stop a run before anything is sent, rate limits.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::compose::{nodes, python_parse};
use crate::serve::Server as Capture;
use crate::support::*;

/// A directory with a CSV and a template.
struct Job {
    dir: TempDir,
}

impl Job {
    fn new(csv: &str, template: &str) -> Job {
        let dir = TempDir::new("bulk");
        dir.write("rows.csv", csv.as_bytes());
        dir.write("message.tmpl", template.as_bytes());
        Job { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// `missive bulk --csv rows.csv --template message.tmpl ARGS`.
    fn cmd(&self, args: &[&str]) -> Cmd {
        Cmd::new(["bulk", "--csv"])
            .arg(self.path("rows.csv"))
            .arg("--template")
            .arg(self.path("message.tmpl"))
            .args(args)
            .current_dir(self.dir.path())
            .timeout(Duration::from_secs(120))
    }

    fn journal(&self) -> String {
        std::fs::read_to_string(self.path("rows.csv.journal")).unwrap_or_default()
    }
}

/// The route to the testbed's MX port (STARTTLS verified, no AUTH).
fn mx(tb: &Testbed) -> Vec<String> {
    vec![
        "--server".into(),
        tb.mx(),
        "--cafile".into(),
        tb.ca().into(),
        "--yes".into(),
    ]
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

const TEMPLATE: &str = "From: Billing Team <billing@example.test>\nSubject: Rechnung für {{ name }}\nX-Invoice: {{ id }}\n\nHallo {{ name }},\n{% if amount|float > 100 %}a large{% else %}a small{% endif %} invoice: {{ amount }}.\nNote: {{ note }}\n";

#[test]
fn rows_are_personalised_in_the_delivered_messages() {
    let tb = testbed!();
    let (a, b, c) = (
        unique_addr("bulk-a"),
        unique_addr("bulk-b"),
        unique_addr("bulk-c"),
    );
    let csv = format!(
        "\u{feff}email,name,id,amount,note\n\"Jörg Müller <{a}>\",Jörg Müller,7,1200.50,\"commas, and \"\"quotes\"\"\"\n{b},\"Zoë, the \"\"Boss\"\"\",8,3,\"two\nlines\"\n{c},<b>&amp;</b>,9,50,plain\n"
    );
    let job = Job::new(&csv, TEMPLATE);
    job.dir.write("page.html", b"<p>Hello {{ name }}</p>");
    let out = job
        .cmd(&strs(&mx(&tb)))
        .args(["--html-file", "page.html", "--json"])
        .run();
    assert_eq!(out.code, 0, "{out}");
    let lines: Vec<serde_json::Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4, "three rows and a summary: {out}");
    assert!(
        lines[..3]
            .iter()
            .all(|l| l["state"] == "accepted" && l["code"] == 250),
        "{out}"
    );
    assert_eq!(lines[3]["accepted"], 3);

    // Read back with Python's email package: subject, recipient, and the parts.
    let parsed = |addr: &str| {
        let v = python_parse(&tb.wait_for_mail(addr), &[]);
        let text = |t: &str| {
            nodes(&v["tree"])
                .into_iter()
                .find(|(n, _)| n["type"] == t)
                .map(|(n, _)| n["text"].as_str().unwrap_or("").to_string())
                .unwrap_or_default()
        };
        (
            v["subject"].as_str().unwrap_or("").to_string(),
            v["to"].clone(),
            text("text/plain"),
            text("text/html"),
        )
    };
    let (subject, to, text, _) = parsed(&a);
    assert_eq!(subject, "Rechnung für Jörg Müller");
    assert_eq!(
        to,
        serde_json::json!([{"name": "Jörg Müller", "addr": a}]),
        "To is the row's recipient alone"
    );
    assert!(text.contains("Hallo Jörg Müller,"), "{text}");
    assert!(text.contains("a large invoice: 1200.50."), "{text}");
    assert!(text.contains("Note: commas, and \"quotes\""), "{text}");

    let (subject, _, text, _) = parsed(&b);
    assert_eq!(subject, "Rechnung für Zoë, the \"Boss\"");
    assert!(text.contains("a small invoice: 3."), "{text}");
    assert!(text.contains("Note: two\nlines"), "{text}");

    // Values inserted into HTML are escaped; the text part has them as they are.
    let (_, _, text, html) = parsed(&c);
    assert!(
        html.contains("<p>Hello &lt;b&gt;&amp;amp;&lt;&#x2f;b&gt;</p>"),
        "{html}"
    );
    assert!(text.contains("Hallo <b>&amp;</b>,"), "{text}");
    let head = String::from_utf8_lossy(&tb.wait_for_mail(&c)).to_string();
    assert!(head.contains("X-Invoice: 9"), "{head}");
    // Each message has its own Message-ID.
    let ids: std::collections::HashSet<String> = lines[..3]
        .iter()
        .map(|l| l["message_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 3);
}

#[test]
fn sessions_stay_within_connections() {
    let tb = testbed!();
    let rcpts: Vec<String> = (0..24)
        .map(|i| unique_addr(&format!("bulk-s{i}")))
        .collect();
    let mut csv = String::from("email,name,id,amount,note\n");
    for (i, r) in rcpts.iter().enumerate() {
        csv.push_str(&format!("{r},N{i},{i},1,x\n"));
    }
    let job = Job::new(&csv, TEMPLATE);
    let out = job.cmd(&strs(&mx(&tb))).args(["--connections", "2"]).run();
    assert_eq!(out.code, 0, "{out}");
    for r in &rcpts {
        tb.wait_for_mail(r);
    }
    let sessions = sessions_for(&tb, &rcpts);
    let carried: usize = sessions.iter().map(|s| s.queue_ids.len()).sum();
    assert_eq!(carried, 24, "{sessions:#?}");
    assert!((1..=2).contains(&sessions.len()), "{sessions:#?}");
}

#[test]
fn refused_and_deferred_rows_then_a_resume_retries_only_the_deferred() {
    let tb = testbed!();
    let ok = unique_addr("bulk-ok");
    let reject = format!("reject+{}", unique_addr("b"));
    let tempfail = format!("tempfail+{}", unique_addr("b"));
    let csv =
        format!("email,name,id,amount,note\n{ok},A,1,1,x\n{reject},B,2,1,x\n{tempfail},C,3,1,x\n");
    let job = Job::new(&csv, TEMPLATE);
    let out = job.cmd(&strs(&mx(&tb))).run();
    assert_eq!(out.code, 75, "a deferred row is left to retry: {out}");
    assert!(
        out.stderr
            .contains(&format!("row 2 {reject} refused: 550 5.1.1")),
        "{out}"
    );
    assert!(
        out.stderr
            .contains(&format!("row 3 {tempfail} deferred: 450 4.2.1")),
        "{out}"
    );
    tb.wait_for_mail(&ok);

    let out = job.cmd(&strs(&mx(&tb))).run();
    assert_eq!(out.code, 75, "{out}");
    assert!(out.stdout.contains("2 rows were done before"), "{out}");
    let journal = job.journal();
    let sending = |row: usize| {
        journal
            .lines()
            .filter(|l| l.contains(&format!("\"row\":{row},\"state\":\"sending\"")))
            .count()
    };
    assert_eq!((sending(1), sending(2), sending(3)), (1, 1, 2), "{journal}");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        tb.mail_files(&ok).len(),
        1,
        "the accepted row is never sent again"
    );

    // A journal of another CSV is refused rather than mixed.
    std::fs::write(job.path("rows.csv"), format!("{csv}{ok},D,4,1,x\n")).unwrap();
    let out = job.cmd(&strs(&mx(&tb))).run();
    assert_eq!(out.code, 64, "{out}");
    assert!(out.stderr.contains("belongs to another run"), "{out}");
}

/// Messages in a capture server's Maildir, by envelope recipient.
fn delivered_count(srv: &Capture, rcpt: &str) -> usize {
    srv.messages()
        .iter()
        .filter(|m| m.envelope_to.iter().any(|t| t == rcpt))
        .count()
}

#[test]
fn a_run_killed_with_sigkill_resumes_without_sending_twice() {
    let srv = Capture::start(&["--delay", "end-of-data=150"]);
    let rcpts: Vec<String> = (0..30).map(|i| format!("row{i}@kill.test")).collect();
    let mut csv = String::from("email,name,id,amount,note\n");
    for (i, r) in rcpts.iter().enumerate() {
        csv.push_str(&format!("{r},N{i},{i},1,x\n"));
    }
    let job = Job::new(&csv, TEMPLATE);
    let route = [
        "--server",
        &srv.addr,
        "--cafile",
        &srv.ca_str(),
        "--yes",
        "--connections",
        "2",
    ];
    let mut child = job.cmd(&route).spawn();
    let deadline = Instant::now() + Duration::from_secs(60);
    while srv.messages().len() < 8 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        srv.messages().len() >= 8,
        "the run did not get going: {}",
        srv.stderr()
    );
    // SIGKILL: no chance to clean up.
    child.kill().unwrap();
    child.wait().unwrap();
    let before = srv.messages().len();
    assert!(
        before < 30,
        "killed too late to test anything ({before} delivered)"
    );

    let in_doubt = |journal: &str| -> Vec<usize> {
        let mut last = std::collections::BTreeMap::new();
        for l in journal.lines().skip(1) {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(l) {
                last.insert(
                    v["row"].as_u64().unwrap() as usize,
                    v["state"].as_str().unwrap().to_string(),
                );
            }
        }
        last.into_iter()
            .filter(|(_, s)| s == "committing")
            .map(|(r, _)| r)
            .collect()
    };
    let doubtful = in_doubt(&job.journal());
    let out = job.cmd(&route).run();
    // Rows in doubt are not sent again: they are reported and left (75).
    let expect = if doubtful.is_empty() { 0 } else { 75 };
    assert_eq!(out.code, expect, "{out}");
    for r in &doubtful {
        assert!(
            out.stderr.contains(&format!("row {r} is in doubt")),
            "{out}"
        );
    }
    for (i, r) in rcpts.iter().enumerate() {
        let n = delivered_count(&srv, r);
        if doubtful.contains(&(i + 1)) {
            assert!(n <= 1, "row {} in doubt was sent again: {n}", i + 1);
        } else {
            assert_eq!(n, 1, "row {} ({r}) delivered {n} times", i + 1);
        }
    }
}

#[test]
fn bad_rows_stop_the_run_before_anything_is_sent() {
    let srv = Capture::start(&[]);
    let route = ["--server", &srv.addr, "--cafile", &srv.ca_str(), "--yes"];
    let good = "email,name,id,amount,note\na@x.test,A,1,1,x\nb@x.test,B,2,1,x\n";
    let cases: Vec<(String, &str, Vec<&str>, &str)> = vec![
        (
            format!("{good}not-an-address,C,3,1,x\n"),
            TEMPLATE,
            vec![],
            "row 3",
        ),
        (
            format!("{good}c@x.test,\"C\r\nBcc: evil@x.test\",3,1,x\n"),
            TEMPLATE,
            vec![],
            "row 3: header Subject: the value of column \"name\" has a line break",
        ),
        (
            good.to_string(),
            "Subject: {{ nmae }}\n\nhi\n",
            vec![],
            "has no column \"nmae\"",
        ),
        (
            good.to_string(),
            TEMPLATE,
            vec!["--attach", "invoices/{{ id }}.pdf"],
            "row 1: --attach invoices/1.pdf",
        ),
        (
            format!("{good}d@x.test,D\n"),
            TEMPLATE,
            vec![],
            "line 4: 2 fields where the header has 5",
        ),
    ];
    for (csv, template, extra, expect) in cases {
        let job = Job::new(&csv, template);
        let out = job.cmd(&route).args(&extra).run();
        assert_eq!(out.code, 65, "{expect}: {out}");
        assert!(out.one_error_line().contains(expect), "{expect}: {out}");
        assert!(srv.messages().is_empty(), "nothing may be sent: {out}");
    }
}

#[test]
fn without_yes_and_no_terminal_nothing_is_sent() {
    let srv = Capture::start(&[]);
    let job = Job::new("email,name,id,amount,note\na@x.test,A,1,1,x\n", TEMPLATE);
    let out = job
        .cmd(&["--server", &srv.addr, "--cafile", &srv.ca_str()])
        .run();
    assert_eq!(out.code, 64, "{out}");
    assert!(out.stderr.contains("add --yes"), "{out}");
    assert!(srv.messages().is_empty());
}

#[test]
fn dry_run_prints_the_first_messages_and_sends_nothing() {
    let srv = Capture::start(&[]);
    let job = Job::new(
        "email,name,id,amount,note\na@x.test,Ann,1,1,x\nb@x.test,Bo,2,1,x\nc@x.test,Cy,3,1,x\n",
        TEMPLATE,
    );
    let out = job
        .cmd(&[
            "--server",
            &srv.addr,
            "--cafile",
            &srv.ca_str(),
            "--dry-run",
            "2",
        ])
        .run();
    assert_eq!(out.code, 0, "{out}");
    assert!(out.stdout.contains("RCPT TO:<a@x.test>") && out.stdout.contains("RCPT TO:<b@x.test>"));
    assert!(!out.stdout.contains("RCPT TO:<c@x.test>"), "{out}");
    assert!(out.stdout.contains("Hallo Bo,"), "{out}");
    assert!(out.stdout.contains("3 messages"), "{out}");
    assert!(srv.messages().is_empty());
    assert!(
        !Path::new(&job.path("rows.csv.journal")).exists(),
        "a dry run writes no journal"
    );
}

#[test]
fn rate_limits_hold_across_connections() {
    let srv = Capture::start(&[]);
    let mut csv = String::from("email,name,id,amount,note\n");
    for i in 0..12 {
        csv.push_str(&format!("r{i}@rate.test,N,{i},1,x\n"));
    }
    let job = Job::new(&csv, TEMPLATE);
    let started = Instant::now();
    let out = job
        .cmd(&["--server", &srv.addr, "--cafile", &srv.ca_str(), "--yes"])
        .args(["--connections", "3", "--rate", "5/s"])
        .run();
    let took = started.elapsed();
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(srv.messages().len(), 12);
    // 12 messages at 5 a second: the third batch cannot start before 2 s.
    assert!(took >= Duration::from_millis(1900), "{took:?}");
}

#[test]
fn a_server_that_says_slow_down_pauses_the_run_and_gets_the_row_later() {
    use crate::support::fake_smtp::{Script, Server, Step};
    use missive_smtp::Command;
    // The second RCPT of the session is answered "too many", once.
    let mut rcpts = 0;
    let mut throttling = false;
    let server = Server::start(
        Script::new()
            .caps(&["PIPELINING"])
            .on(move |c, cmd| match cmd {
                Command::Rcpt { .. } => {
                    rcpts += 1;
                    throttling = rcpts == 2;
                    match throttling {
                        true => {
                            c.reply("451 4.7.1 Too many messages, slow down");
                            Step::Next
                        }
                        false => Step::Default,
                    }
                }
                Command::Data if throttling => {
                    throttling = false;
                    c.reply("554 5.5.1 Error: no valid recipients");
                    Step::Next
                }
                _ => Step::Default,
            }),
    );
    let job = Job::new(
        "email,name,id,amount,note\na@x.test,A,1,1,x\nb@x.test,B,2,1,x\nc@x.test,C,3,1,x\n",
        TEMPLATE,
    );
    let started = Instant::now();
    let out = job
        .cmd(&[
            "--server",
            &format!("127.0.0.1:{}", server.port),
            "--tls",
            "none",
            "--yes",
        ])
        .args(["--connections", "1"])
        .run();
    let log = server.finish();
    assert_eq!(out.code, 0, "every row goes in the end: {out}");
    assert!(
        out.stderr.contains("row 2: the server asked to slow down"),
        "{out}"
    );
    assert!(started.elapsed() >= Duration::from_millis(900), "it paused");
    assert_eq!(log.messages.len(), 3, "{:?}", log.lines);
    let rcpt_b = log
        .lines
        .iter()
        .filter(|l| l.contains("RCPT TO:<b@x.test>"))
        .count();
    assert_eq!(rcpt_b, 2, "row 2 was tried again: {:?}", log.lines);
}
