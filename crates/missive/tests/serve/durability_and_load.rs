//! An acknowledged message survives SIGKILL; many connections at once.

use super::*;

// ---- durability ----------------------------------------------------------------

#[test]
fn acknowledged_message_survives_sigkill() {
    let mut srv = Server::start(&[]);
    let body = "first line\n.dot line\nthe body's last line";
    let mut args = srv.send();
    args.extend(strings(&[
        "--from",
        "alice@x.test",
        "--to",
        "bob@y.test",
        "--subject",
        "durable",
        "--body",
        body,
    ]));
    let out = missive(&args, None);
    out.assert_code(0);
    // the moment the client is done, the server dies without any cleanup
    Cmd::program("kill")
        .args(["-9", &srv.child.id().to_string()])
        .run()
        .assert_code(0);
    let status = srv.child.wait().expect("wait for the server");
    assert!(!status.success(), "the server was not killed: {status:?}");
    let m = srv.one_message();
    assert!(
        m.text()
            .ends_with("\r\n\r\nfirst line\r\n.dot line\r\nthe body's last line\r\n"),
        "incomplete: {:?}",
        m.text()
    );
    assert_eq!(srv.files_in("tmp"), 0, "tmp/ is not empty");
}

// ---- load ----------------------------------------------------------------------

const SMTPLIB_LOAD: &str = r#"
import smtplib, sys, threading
port, threads, per, run = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
errors = []
def worker(t):
    try:
        s = smtplib.SMTP("127.0.0.1", port, timeout=60)
        s.ehlo("load.test")
        for i in range(per):
            mid = "<load-%s-%d-%d@load.test>" % (run, t, i)
            msg = ("From: a@load.test\r\nTo: b@load.test\r\nSubject: load %d %d\r\n"
                   "Message-ID: %s\r\n\r\nmessage %d of thread %d\r\n.dot\r\n" % (t, i, mid, i, t)).encode()
            refused = s.sendmail("a@load.test", ["b%d@load.test" % t], msg)
            if refused:
                raise Exception("refused: %r" % refused)
        s.quit()
    except Exception as e:
        errors.append("thread %d: %r" % (t, e))
ts = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
for t in ts: t.start()
for t in ts: t.join()
if errors:
    sys.stderr.write("\n".join(errors) + "\n")
    sys.exit(1)
print("done", threads * per)
"#;

#[test]
fn load_8_connections_500_messages_each() {
    const THREADS: usize = 8;
    const PER: usize = 500;
    let limit = Duration::from_secs(120);
    let srv = Server::start(&["--quiet"]);
    let run_id = format!(
        "{}x{}",
        std::process::id(),
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_micros()
    );
    let out = Cmd::program(PYTHON)
        .args([
            "-c",
            SMTPLIB_LOAD,
            &srv.port(),
            &THREADS.to_string(),
            &PER.to_string(),
            &run_id,
        ])
        .timeout(limit)
        .run();
    out.assert_code(0);
    assert!(out.elapsed < limit);
    let messages = srv.messages();
    assert_eq!(messages.len(), THREADS * PER, "files in new/");
    let mut seen = HashSet::new();
    for m in &messages {
        let id = m
            .header("Message-ID")
            .unwrap_or_else(|| panic!("{}: no Message-ID", m.path.display()));
        assert!(seen.insert(id.clone()), "duplicate {id}");
        let (t, i) = id
            .trim_start_matches(&format!("<load-{run_id}-"))
            .trim_end_matches("@load.test>")
            .split_once('-')
            .unwrap_or_else(|| panic!("unexpected Message-ID {id}"));
        let (t, i): (usize, usize) = (t.parse().unwrap(), i.parse().unwrap());
        assert_eq!(m.envelope_to, [format!("b{t}@load.test")]);
        assert!(
            m.text()
                .ends_with(&format!("\r\n\r\nmessage {i} of thread {t}\r\n.dot\r\n")),
            "{}: {:?}",
            m.path.display(),
            m.text()
        );
    }
    for t in 0..THREADS {
        for i in 0..PER {
            let id = format!("<load-{run_id}-{t}-{i}@load.test>");
            assert!(seen.contains(&id), "missing {id}");
        }
    }
    assert_eq!(srv.files_in("tmp"), 0);
    // --quiet: no line per message
    assert!(srv.stdout().is_empty(), "{}", srv.stdout());
}
