//! End-to-end tests of what missive composes and how it hands it over: the
//! real `missive` binary against the real testbed (Postfix on 2525 with SIZE,
//! CHUNKING, DSN and SMTPUTF8; smtp-sink on 2526), and every delivered message
//! parsed back by an independent MIME parser, Debian's `/usr/bin/python3`
//! `email` package with `policy.default`.
//!
//! Every test uses recipients that no other test uses. Without a running
//! testbed the tests print "skipped: testbed not running" and pass, unless
//! MISSIVE_TESTBED is set, in which case they fail.

mod common;

use std::collections::HashSet;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

/// The testbed, or return from the test (skipped) when it is not there.
macro_rules! testbed {
    () => {
        match common::testbed() {
            Some(tb) => tb,
            None => return,
        }
    };
}

/// The independent parser: Debian's system Python, not whatever is on PATH.
const PYTHON: &str = "/usr/bin/python3";

/// Reads a message (bytes) on stdin, parses it with `email.policy.default`
/// and prints JSON: the header names, decoded Subject and addresses, the MIME
/// tree (types, dispositions, file names, Content-IDs, the SHA-256 of every
/// decoded leaf payload, the decoded text of inline text parts), the longest
/// line, and the SHA-256 of each file named on the command line.
const PARSE_PY: &str = r#"
import sys, json, email, hashlib
from email import policy

data = sys.stdin.buffer.read()
msg = email.message_from_bytes(data, policy=policy.default)

def addrs(name):
    h = msg[name]
    if h is None:
        return None
    return [{"name": a.display_name, "addr": a.addr_spec} for a in h.addresses]

def node(p):
    cid = p.get("Content-ID")
    d = {
        "type": p.get_content_type(),
        "disposition": p.get_content_disposition(),
        "filename": p.get_filename(),
        "content_id": None if cid is None else str(cid).strip(),
        "header_names": list(p.keys()),
        "defects": [type(x).__name__ for x in p.defects],
    }
    if p.is_multipart():
        d["parts"] = [node(c) for c in p.iter_parts()]
    else:
        payload = p.get_payload(decode=True) or b""
        d["sha256"] = hashlib.sha256(payload).hexdigest()
        d["size"] = len(payload)
        if p.get_content_maintype() == "text" and p.get_content_disposition() != "attachment":
            d["text"] = p.get_content()
    return d

def sha(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()

lines = data.split(b"\n")
out = {
    "header_names": list(msg.keys()),
    "subject": None if msg["Subject"] is None else str(msg["Subject"]),
    "from": addrs("From"),
    "to": addrs("To"),
    "reply_to": addrs("Reply-To"),
    "tree": node(msg),
    "max_line": max(len(l[:-1] if l.endswith(b"\r") else l) for l in lines),
    "files": {p: sha(p) for p in sys.argv[1:]},
}
print(json.dumps(out))
"#;

/// Parses `message` with Python's `email` package; `files` are hashed too.
fn python_parse(message: &[u8], files: &[&Path]) -> Value {
    let mut child = Command::new(PYTHON)
        .arg("-c")
        .arg(PARSE_PY)
        .args(files)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {PYTHON}: {e}"));
    let mut stdin = child.stdin.take().expect("stdin");
    let bytes = message.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&bytes);
    });
    let out = child.wait_with_output().expect("waiting for python");
    writer.join().expect("writer thread");
    assert!(
        out.status.success(),
        "python failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "python printed no JSON ({e}):\n{}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// Every node of a parsed MIME tree, depth first, with its parent's type.
fn nodes(tree: &Value) -> Vec<(&Value, Option<&str>)> {
    fn walk<'a>(
        v: &'a Value,
        parent: Option<&'a str>,
        out: &mut Vec<(&'a Value, Option<&'a str>)>,
    ) {
        out.push((v, parent));
        if let Some(parts) = v["parts"].as_array() {
            for p in parts {
                walk(p, v["type"].as_str(), out);
            }
        }
    }
    let mut out = Vec::new();
    walk(tree, None, &mut out);
    out
}

/// A header name list with no name twice (case-insensitive).
#[track_caller]
fn assert_no_duplicate_headers(names: &Value, what: &str) {
    let mut seen = HashSet::new();
    for n in names.as_array().expect("header_names is an array") {
        let n = n.as_str().expect("a header name").to_ascii_lowercase();
        assert!(
            seen.insert(n.clone()),
            "{what}: header {n} twice in {names}"
        );
    }
}

/// `missive send` to Postfix's MX-style port 2525 in plaintext (no AUTH there).
fn mx(tb: &Testbed, from: &str, rcpt: &str) -> Cmd {
    Cmd::new([
        "send",
        "--server",
        &tb.mx(),
        "--tls",
        "none",
        "--from",
        from,
        "--to",
        rcpt,
    ])
}

/// Header block and body of the message as the client sent it (LF line ends).
fn delivered(tb: &Testbed, addr: &str) -> (String, Vec<u8>) {
    split_message(&original(&tb.wait_for_mail(addr)))
}

/// The one value of a header field.
#[track_caller]
fn one_header(head: &str, name: &str) -> String {
    let v = header_values(head, name);
    assert_eq!(v.len(), 1, "expected one {name} header in:\n{head}");
    v.into_iter().next().unwrap()
}

/// The transcript's client lines (`C: …`) that start with `verb`.
fn client_lines<'a>(stderr: &'a str, verb: &str) -> Vec<&'a str> {
    stderr
        .lines()
        .filter_map(|l| l.strip_prefix("C: "))
        .filter(|l| l.starts_with(verb))
        .collect()
}

/// Polls `dir` (up to DELIVERY_WAIT) for a file that contains `needle`.
fn wait_for_file_containing(dir: &Path, needle: &str) -> Vec<u8> {
    let deadline = Instant::now() + DELIVERY_WAIT;
    loop {
        if let Ok(rd) = std::fs::read_dir(dir) {
            for e in rd.flatten() {
                if let Ok(bytes) = std::fs::read(e.path()) {
                    if bytes.windows(needle.len()).any(|w| w == needle.as_bytes()) {
                        return bytes;
                    }
                }
            }
        }
        assert!(
            Instant::now() < deadline,
            "no file with {needle:?} in {} within {DELIVERY_WAIT:?}",
            dir.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs `program` (for runs `Cmd` cannot make: another argv[0]) with `args`,
/// extra environment and standard input, killing it after RUN_TIMEOUT.
fn run_program(program: &Path, args: &[&str], env: &[(&str, &str)], stdin: &[u8]) -> Finished {
    let mut cmd = Command::new(program);
    cmd.args(args).envs(env.iter().copied());
    run_finished(&mut cmd, Some(stdin.to_vec()), RUN_TIMEOUT)
}

// ---------------------------------------------------------------- composed MIME, parsed back by Python

#[test]
fn composed_message_parses_back_identically_in_python() {
    let tb = testbed!();
    let to = unique_addr("mime-to");
    let bcc = unique_addr("mime-bcc");
    let dir = TempDir::new("mime");
    let big = dir.random_file("random-3mb.bin", 3 * 1024 * 1024 + 17);
    let small_name = "Bericht für Jörg – Übersicht.txt";
    let small = dir.write(
        small_name,
        "small text attachment\nzweite Zeile äöü\n".as_bytes(),
    );
    let logo = dir.write(
        "logo.png",
        b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR-not-really-a-png\xff\x00",
    );
    let subject = "Grüße aus Köln — 测试 ✓ ".repeat(3) + "Ende";
    let display = "Müller, Jörg";
    let from = format!("\"{display}\" <sender@client.test>");
    let long_line = "0123456789".repeat(200); // 2000 characters, one line
    let text = format!("Hello,\n{long_line}\n.\nbye\n");
    let html = "<html><body><p>Hi <img src=\"cid:logo.png\" alt=\"logo\"></p></body></html>\n";
    let out = mx(&tb, &from, &to)
        .args([
            "--bcc",
            &bcc,
            "--reply-to",
            "replies@client.test",
            "--subject",
            &subject,
            "--body",
            &text,
            "--html",
            html,
            "--inline",
            &logo,
            "--attach",
            &big,
            "--attach",
            &format!("{small};type=text/plain"),
        ])
        .run();
    out.assert_code(0);

    for addr in [&to, &bcc] {
        let file = tb.wait_for_mail(addr);
        let sent = original(&file);
        let (head, _) = split_message(&sent);
        assert!(
            header_values(&head, "Bcc").is_empty() && !head.contains(bcc.as_str()),
            "Bcc shows in {addr}'s copy:\n{head}"
        );
        for line in file.split(|&b| b == b'\n') {
            assert!(
                line.len() <= 998,
                "a line of {} octets in {addr}'s copy",
                line.len()
            );
        }
        let p = python_parse(
            &sent,
            &[Path::new(&big), Path::new(&small), Path::new(&logo)],
        );
        assert!(p["max_line"].as_u64().unwrap() <= 998, "{}", p["max_line"]);
        assert_no_duplicate_headers(&p["header_names"], "top level");
        assert!(
            !p["header_names"]
                .as_array()
                .unwrap()
                .iter()
                .any(|n| n.as_str().unwrap().eq_ignore_ascii_case("bcc")),
            "Bcc header: {}",
            p["header_names"]
        );
        // trimmed: the leading space a fold right after "Subject:" leaves in
        // Python's reading is checked (and reported) by the test below
        assert_eq!(
            p["subject"].as_str().map(str::trim_start),
            Some(subject.as_str()),
            "decoded Subject"
        );
        assert_eq!(p["from"][0]["name"], display, "decoded display name");
        assert_eq!(p["from"][0]["addr"], "sender@client.test");
        assert_eq!(p["to"][0]["addr"], to.as_str());
        assert_eq!(p["reply_to"][0]["addr"], "replies@client.test");

        let tree = &p["tree"];
        assert_eq!(tree["type"], "multipart/mixed", "{tree:#}");
        let all = nodes(tree);
        for (n, _) in &all {
            assert_eq!(n["defects"], serde_json::json!([]), "MIME defects in {n:#}");
            assert_no_duplicate_headers(&n["header_names"], n["type"].as_str().unwrap());
        }
        // text and HTML side by side in multipart/alternative
        let text_part = all
            .iter()
            .find(|(n, parent)| {
                n["type"] == "text/plain"
                    && n["disposition"].is_null()
                    && *parent == Some("multipart/alternative")
            })
            .unwrap_or_else(|| panic!("no text/plain in multipart/alternative: {tree:#}"));
        assert_eq!(
            text_part.0["text"],
            text.as_str(),
            "text part after decoding"
        );
        let html_part = all
            .iter()
            .find(|(n, _)| n["type"] == "text/html")
            .unwrap_or_else(|| panic!("no text/html: {tree:#}"));
        assert_eq!(html_part.0["text"], html);
        assert!(
            matches!(
                html_part.1,
                Some("multipart/alternative" | "multipart/related")
            ),
            "text/html under {:?}",
            html_part.1
        );
        let alt = all
            .iter()
            .find(|(n, _)| n["type"] == "multipart/alternative")
            .expect("a multipart/alternative");
        let alt_types: Vec<&str> = alt.0["parts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["type"].as_str().unwrap())
            .collect();
        assert_eq!(
            alt_types[0], "text/plain",
            "plain text first: {alt_types:?}"
        );
        // the inline image: in multipart/related next to the HTML, with the cid it names
        let (img, parent) = all
            .iter()
            .find(|(n, _)| n["type"] == "image/png")
            .unwrap_or_else(|| panic!("no image/png: {tree:#}"));
        assert_eq!(*parent, Some("multipart/related"), "{tree:#}");
        assert_eq!(img["content_id"], "<logo.png>");
        assert!(html.contains("cid:logo.png"));
        assert_eq!(img["disposition"], "inline");
        assert_eq!(img["sha256"], p["files"][logo.as_str()]);
        let related = all
            .iter()
            .find(|(n, _)| n["type"] == "multipart/related")
            .unwrap();
        assert_eq!(
            related.0["parts"][0]["type"], "text/html",
            "HTML first in related"
        );
        // attachments: byte-identical, names decoded
        let attachments: Vec<&Value> = all
            .iter()
            .map(|(n, _)| *n)
            .filter(|n| n["disposition"] == "attachment")
            .collect();
        assert_eq!(attachments.len(), 2, "{tree:#}");
        let a_big = attachments
            .iter()
            .find(|a| a["filename"] == "random-3mb.bin")
            .unwrap_or_else(|| panic!("no random-3mb.bin: {attachments:#?}"));
        assert_eq!(a_big["size"], 3 * 1024 * 1024 + 17);
        assert_eq!(
            a_big["sha256"],
            p["files"][big.as_str()],
            "3 MB attachment differs"
        );
        let a_small = attachments
            .iter()
            .find(|a| a["filename"] == small_name)
            .unwrap_or_else(|| panic!("no attachment named {small_name:?}: {attachments:#?}"));
        assert_eq!(a_small["type"], "text/plain");
        assert_eq!(
            a_small["sha256"],
            p["files"][small.as_str()],
            "text attachment differs"
        );
    }
}

#[test]
fn long_encoded_subject_decodes_without_a_leading_space() {
    let tb = testbed!();
    let rcpt = unique_addr("subj-space");
    let subject = "Rechnung für Ihre Bestellung Nr. 12345 vom 28.11.";
    let out = mx(&tb, "a@client.test", &rcpt)
        .args(["--subject", subject, "--body", "b\n"])
        .run();
    out.assert_code(0);
    let (head, _) = delivered(&tb, &rcpt);
    let p = python_parse(head.as_bytes(), &[]);
    assert_eq!(p["subject"], subject, "raw header:\n{head}");
}

#[test]
fn body_with_a_2000_character_line_survives_quoted_printable() {
    let tb = testbed!();
    let rcpt = unique_addr("qp2000");
    let line: String = (0..2000).map(|i| (b'a' + (i % 26) as u8) as char).collect();
    let body = format!("{line}\n=3D is not an escape here\ntrailing space \n");
    let file = TempFile::new(body.as_bytes());
    let out = mx(&tb, "qp@client.test", &rcpt)
        .args(["--subject", "qp", "--body-file", file.path_str()])
        .run();
    out.assert_code(0);
    let (head, raw_body) = delivered(&tb, &rcpt);
    assert_eq!(
        one_header(&head, "Content-Transfer-Encoding"),
        "quoted-printable"
    );
    assert!(raw_body.split(|&b| b == b'\n').all(|l| l.len() <= 76));
    assert_eq!(String::from_utf8_lossy(&decode_qp(&raw_body)), body);
    let p = python_parse(&[head.as_bytes(), b"\n", &raw_body].concat(), &[]);
    assert_eq!(
        p["tree"]["text"],
        body.as_str(),
        "Python's decoding differs"
    );
}

#[test]
fn long_words_in_headers_keep_lines_within_998_octets() {
    let tb = testbed!();
    let rcpt = unique_addr("longword");
    let dir = TempDir::new("longword");
    let word = "x".repeat(1500);
    let att = dir.write("a.txt", b"attachment\n");
    let out = mx(&tb, "long@client.test", &rcpt)
        .args([
            "--subject",
            &format!("see {word}"),
            "--header",
            &format!("X-Token: {word}"),
            "--attach",
            &format!("{att};name=ü{word}.txt"),
            "--body",
            "b\n",
        ])
        .run();
    // refusing (65) would be acceptable; sending over-long lines is not
    if out.code == Some(65) {
        tb.assert_nothing_for(&rcpt);
        return;
    }
    out.assert_code(0);
    let file = tb.wait_for_mail(&rcpt);
    let longest = file.split(|&b| b == b'\n').map(<[u8]>::len).max().unwrap();
    assert!(longest <= 998, "a line of {longest} octets was sent");
    let p = python_parse(&original(&file), &[]);
    assert_eq!(p["subject"], format!("see {word}"));
}

// ---------------------------------------------------------------- header injection and header names

#[test]
fn line_breaks_in_any_header_value_are_refused_65_and_nothing_sent() {
    let tb = testbed!();
    let mut watched: Vec<String> = Vec::new();
    for (k, brk) in ["\r", "\n", "\r\n"].iter().enumerate() {
        for field in [
            "subject",
            "header",
            "to",
            "cc",
            "from",
            "reply-to",
            "attach-name",
        ] {
            let rcpt = unique_addr(&format!("inj-{field}-{k}"));
            let evil = unique_addr(&format!("evil-{field}-{k}"));
            let payload = format!("x{brk}Bcc: {evil}");
            let dir = TempDir::new("inj");
            let att = dir.write("a.txt", b"a\n");
            let mut cmd = Cmd::new([
                "send",
                "--server",
                &tb.mx(),
                "--tls",
                "none",
                "-v",
                "--body",
                "b\n",
            ]);
            let (from, to) = match field {
                "from" => (format!("a@client.test{brk}Bcc: {evil}"), rcpt.clone()),
                "to" => (
                    "a@client.test".to_string(),
                    format!("{rcpt}{brk}Bcc: {evil}"),
                ),
                _ => ("a@client.test".to_string(), rcpt.clone()),
            };
            cmd = cmd.args(["--from", &from, "--to", &to]);
            cmd = match field {
                "subject" => cmd.args(["--subject", &payload]),
                "header" => cmd.args(["--header", &format!("X-Tag: {payload}")]),
                "cc" => cmd.args(["--cc", &format!("c@client.test{brk}Bcc: {evil}")]),
                "reply-to" => cmd.args(["--reply-to", &format!("r@client.test{brk}Bcc: {evil}")]),
                "attach-name" => cmd.args(["--attach", &format!("{att};name={payload}")]),
                _ => cmd,
            };
            let out = cmd.run();
            assert_eq!(
                out.code,
                Some(65),
                "{field} with {brk:?}: expected 65\n{}",
                out.stderr
            );
            assert!(
                client_lines(&out.stderr, "").is_empty(),
                "{field} with {brk:?}: something was sent:\n{}",
                out.stderr
            );
            assert!(
                out.stderr.contains("line break"),
                "{field}: unclear message:\n{}",
                out.stderr
            );
            watched.push(rcpt);
            watched.push(evil);
        }
    }
    let refs: Vec<&str> = watched.iter().map(String::as_str).collect();
    tb.assert_none_delivered(&refs, true);
}

#[test]
fn invalid_header_names_are_65() {
    let tb = testbed!();
    let mut watched = Vec::new();
    for spec in [
        "Bad Name: x",
        "Bäd: x",
        ": x",
        "Tab\tName: x",
        "Na\u{7f}me: x",
    ] {
        let rcpt = unique_addr("badname");
        let out = mx(&tb, "a@client.test", &rcpt)
            .args(["--header", spec, "--body", "b\n"])
            .run();
        assert_eq!(out.code, Some(65), "--header {spec:?}\n{}", out.stderr);
        assert!(
            out.stderr.contains("not a valid header field name"),
            "--header {spec:?}: {}",
            out.stderr
        );
        watched.push(rcpt);
    }
    let refs: Vec<&str> = watched.iter().map(String::as_str).collect();
    tb.assert_none_delivered(&refs, true);
}

#[test]
fn header_subject_replaces_the_default_subject() {
    let tb = testbed!();
    let rcpt = unique_addr("subj-override");
    let out = mx(&tb, "a@client.test", &rcpt)
        .args([
            "--subject",
            "default subject",
            "--header",
            "Subject: override",
            "--header",
            "X-Extra: kept",
            "--body",
            "b\n",
        ])
        .run();
    out.assert_code(0);
    let (head, _) = delivered(&tb, &rcpt);
    assert_eq!(one_header(&head, "Subject"), "override");
    assert_eq!(one_header(&head, "X-Extra"), "kept");
    assert!(!head.contains("default subject"), "{head}");
    let p = python_parse(head.as_bytes(), &[]);
    assert_no_duplicate_headers(&p["header_names"], "top level");
    assert_eq!(p["subject"], "override");
}

// ---------------------------------------------------------------- SIZE

#[test]
fn attachment_over_the_advertised_size_is_refused_69_before_mail() {
    let tb = testbed!();
    let sender = unique_addr("size-from");
    let rcpt = unique_addr("size-to");
    let dir = TempDir::new("size");
    let big = dir.random_file("eleven.bin", 11 * 1024 * 1024);
    let started = Instant::now();
    let out = mx(&tb, &sender, &rcpt)
        .args(["-v", "--body", "b\n", "--attach", &big])
        .run();
    let took = started.elapsed();
    out.assert_code(69);
    assert!(took < Duration::from_secs(5), "took {took:?}");
    assert!(
        out.stderr.contains("SIZE 10485760"),
        "Postfix did not advertise SIZE?\n{}",
        out.stderr
    );
    let msg = out
        .stderr
        .lines()
        .find(|l| l.starts_with("missive: "))
        .unwrap_or_else(|| panic!("no error line:\n{}", out.stderr));
    assert!(
        msg.contains("10485760") && msg.contains("limit"),
        "unclear message: {msg}"
    );
    assert!(
        client_lines(&out.stderr, "MAIL").is_empty()
            && client_lines(&out.stderr, "BDAT").is_empty(),
        "MAIL or data was sent:\n{}",
        out.stderr
    );
    tb.assert_none_delivered(&[&sender, &rcpt], true);
}

#[test]
fn size_refusal_still_ends_the_session_with_quit() {
    let tb = testbed!();
    let rcpt = unique_addr("size-quit");
    let dir = TempDir::new("sizequit");
    let big = dir.random_file("eleven.bin", 11 * 1024 * 1024);
    let out = mx(&tb, "a@client.test", &rcpt)
        .args(["-v", "--body", "b\n", "--attach", &big])
        .run();
    out.assert_code(69);
    assert_eq!(
        client_lines(&out.stderr, "QUIT").len(),
        1,
        "no QUIT (RFC 5321 4.1.1.10):\n{}",
        out.stderr
    );
}

#[test]
fn declared_size_of_a_lf_message_counts_crlf() {
    let tb = testbed!();
    let dir = TempDir::new("lfsize");
    // small: SIZE= must not be less than the octets sent with BDAT
    let rcpt = unique_addr("lfsize");
    let msg = dir.write(
        "small.eml",
        format!("From: a@client.test\nTo: {rcpt}\nSubject: lf\n\nl1\nl2\nl3\n").as_bytes(),
    );
    let out = Cmd::new([
        "send",
        "--server",
        &tb.mx(),
        "--tls",
        "none",
        "-v",
        "--message",
        &msg,
        "-t",
    ])
    .run();
    out.assert_code(0);
    let mail = client_lines(&out.stderr, "MAIL")[0];
    let declared: u64 = mail
        .split(' ')
        .find_map(|w| w.strip_prefix("SIZE="))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no SIZE= in {mail}"));
    let sent: u64 = client_lines(&out.stderr, "BDAT")
        .iter()
        .map(|l| l.split(' ').nth(1).unwrap().parse::<u64>().unwrap())
        .sum();
    assert!(
        declared >= sent,
        "declared SIZE={declared}, sent {sent} octets"
    );
    // big: 10,000,059 octets with LF, 12,000,061 with CRLF: over Postfix's
    // 10485760, so it should be refused before MAIL, not after the upload
    let rcpt = unique_addr("lfsize-big");
    let mut body = format!("From: a@client.test\nTo: {rcpt}\nSubject: big\n\n").into_bytes();
    body.extend(b"abcd\n".repeat(2_000_000));
    let big = dir.write("big.eml", &body);
    let out = Cmd::new([
        "send",
        "--server",
        &tb.mx(),
        "--tls",
        "none",
        "-v",
        "--message",
        &big,
        "-t",
    ])
    .run();
    out.assert_code(69);
    assert!(
        client_lines(&out.stderr, "MAIL").is_empty(),
        "the message went out before the size was refused:\n{}",
        out.stderr
            .lines()
            .filter(
                |l| !l.starts_with("C: BDAT 1048576") && !l.starts_with("S: 250 2.0.0 Ok: 1048576")
            )
            .collect::<Vec<_>>()
            .join("\n")
    );
}

// ---------------------------------------------------------------- BDAT and DATA

#[test]
fn bdat_and_data_deliver_identical_bodies() {
    let tb = testbed!();
    let body = ".leading dot\n.\n..two dots\nmiddle\n. dot space\nend.\n.\n";
    let mut bodies = Vec::new();
    for chunking in [true, false] {
        let rcpt = unique_addr(if chunking { "bdat" } else { "data" });
        let mut cmd = mx(&tb, "chunks@client.test", &rcpt).args([
            "-v",
            "--subject",
            "chunks",
            "--body",
            body,
        ]);
        if !chunking {
            cmd = cmd.arg("--no-chunking");
        }
        let out = cmd.run();
        out.assert_code(0);
        assert!(
            out.stderr.contains("CHUNKING"),
            "Postfix did not offer CHUNKING?\n{}",
            out.stderr
        );
        let (bdat, data) = (
            client_lines(&out.stderr, "BDAT"),
            client_lines(&out.stderr, "DATA"),
        );
        if chunking {
            assert!(
                !bdat.is_empty() && data.is_empty(),
                "expected BDAT only:\n{}",
                out.stderr
            );
            assert!(bdat.last().unwrap().ends_with(" LAST"), "{bdat:?}");
        } else {
            assert!(
                bdat.is_empty() && data.len() == 1,
                "expected DATA only:\n{}",
                out.stderr
            );
        }
        let (_, got) = delivered(&tb, &rcpt);
        bodies.push(got);
    }
    assert_eq!(String::from_utf8_lossy(&bodies[0]), body, "BDAT body");
    assert_eq!(bodies[0], bodies[1], "BDAT and DATA bodies differ");
}

#[test]
fn bdat_transcript_shows_no_dot_terminator() {
    let tb = testbed!();
    let rcpt = unique_addr("bdat-dot");
    let out = mx(&tb, "a@client.test", &rcpt)
        .args(["-v", "--body", "b\n"])
        .run();
    out.assert_code(0);
    assert!(!client_lines(&out.stderr, "BDAT").is_empty());
    assert!(
        !out.stderr.lines().any(|l| l == "C: ."),
        "a C: . line with BDAT:\n{}",
        out.stderr
    );
}

// ---------------------------------------------------------------- SMTPUTF8

#[test]
fn smtputf8_recipient_lands_in_its_utf8_maildir() {
    let tb = testbed!();
    let rcpt = "jörg@exämple.test";
    let id = format!("<{}@client.test>", unique("utf8-id"));
    let out = mx(&tb, "a@client.test", rcpt)
        .args([
            "-v",
            "--header",
            &format!("Message-ID: {id}"),
            "--body",
            "utf8\n",
        ])
        .run();
    out.assert_code(0);
    let mail = client_lines(&out.stderr, "MAIL");
    assert!(
        mail.len() == 1 && mail[0].split(' ').any(|w| w == "SMTPUTF8"),
        "MAIL without SMTPUTF8: {mail:?}"
    );
    assert_eq!(
        client_lines(&out.stderr, "RCPT"),
        [format!("RCPT TO:<{rcpt}>")]
    );
    let dir = Path::new(tb.var("SMTP_MAILDIR_BASE"))
        .join("exämple.test")
        .join("jörg")
        .join("new");
    let file = wait_for_file_containing(&dir, &id);
    let (head, body) = split_message(&original(&file));
    assert_eq!(one_header(&head, "To"), rcpt);
    assert_eq!(body, b"utf8\n");
    assert!(String::from_utf8_lossy(&file).contains(&format!("Delivered-To: {rcpt}")));
}

// ---------------------------------------------------------------- ready-made messages

/// A ready-made message with To, Cc and a folded Bcc; its body has dot lines,
/// 8-bit octets that are not UTF-8, trailing white space and empty lines.
fn ready_message(to: &str, cc: &str, bcc1: &str, bcc2: &str, eol: &str) -> (Vec<u8>, Vec<u8>) {
    let head = format!(
        "From: Ready Sender <ready@client.test>{eol}To: {to}{eol}Cc: \"Copy, Person\" <{cc}>{eol}Bcc: {bcc1},{eol} {bcc2}{eol}Subject: ready made{eol}Message-ID: <{}@client.test>{eol}MIME-Version: 1.0{eol}Content-Type: text/plain; charset=iso-8859-1{eol}Content-Transfer-Encoding: 8bit{eol}{eol}",
        unique("ready")
    );
    let mut body = Vec::new();
    for line in [
        &b"first line"[..],
        b".",
        b"..two",
        b".dot start",
        b"",
        b"Gr\xfc\xdfe aus K\xf6ln",
        b"trailing space   ",
        b"From the start",
        b"last",
    ] {
        body.extend_from_slice(line);
        body.extend_from_slice(eol.as_bytes());
    }
    (head.into_bytes(), body)
}

#[test]
fn message_file_with_bcc_reaches_everyone_without_bcc_header() {
    let tb = testbed!();
    let (to, cc, b1, b2) = (
        unique_addr("ready-to"),
        unique_addr("ready-cc"),
        unique_addr("ready-bcc1"),
        unique_addr("ready-bcc2"),
    );
    let dir = TempDir::new("ready");
    let (head, body) = ready_message(&to, &cc, &b1, &b2, "\r\n");
    let path = dir.write("m.eml", &[head.clone(), body.clone()].concat());
    let out = Cmd::new([
        "send",
        "--server",
        &tb.mx(),
        "--tls",
        "none",
        "-v",
        "--message",
        &path,
        "-t",
    ])
    .run();
    out.assert_code(0);
    let rcpts: Vec<&str> = client_lines(&out.stderr, "RCPT");
    assert_eq!(rcpts.len(), 4, "{rcpts:?}");
    assert!(client_lines(&out.stderr, "MAIL")[0].starts_with("MAIL FROM:<ready@client.test>"));
    for addr in [&to, &cc, &b1, &b2] {
        let (h, got) = delivered(&tb, addr);
        assert!(
            header_values(&h, "Bcc").is_empty(),
            "Bcc in {addr}'s copy:\n{h}"
        );
        assert!(
            !h.contains(b1.as_str()) && !h.contains(b2.as_str()),
            "Bcc address in {addr}'s copy:\n{h}"
        );
        assert_eq!(one_header(&h, "Subject"), "ready made");
        assert_eq!(got, lf(&body), "{addr}: body changed beyond CRLF");
    }
}

#[test]
fn message_from_stdin_is_sent_as_is() {
    let tb = testbed!();
    let (to, cc, b1, b2) = (
        unique_addr("stdin-to"),
        unique_addr("stdin-cc"),
        unique_addr("stdin-bcc1"),
        unique_addr("stdin-bcc2"),
    );
    let (head, body) = ready_message(&to, &cc, &b1, &b2, "\n");
    let out = Cmd::new([
        "send",
        "--server",
        &tb.mx(),
        "--tls",
        "none",
        "--message",
        "-",
        "--to",
        &to,
    ])
    .stdin([head, body.clone()].concat())
    .run();
    out.assert_code(0);
    let (h, got) = delivered(&tb, &to);
    assert!(header_values(&h, "Bcc").is_empty(), "{h}");
    assert_eq!(got, body);
    // without -t only --to gets it
    tb.assert_none_delivered(&[&cc, &b1, &b2], true);
}

#[test]
fn dry_run_prints_envelope_and_message_and_sends_nothing() {
    let tb = testbed!();
    let (to, cc, b1, b2) = (
        unique_addr("dry-to"),
        unique_addr("dry-cc"),
        unique_addr("dry-bcc1"),
        unique_addr("dry-bcc2"),
    );
    let dir = TempDir::new("dry");
    let (head, body) = ready_message(&to, &cc, &b1, &b2, "\n");
    let path = dir.write("m.eml", &[head, body.clone()].concat());
    let out = Cmd::new([
        "send",
        "--server",
        &tb.mx(),
        "--tls",
        "none",
        "--message",
        &path,
        "-t",
        "--dry-run",
    ])
    .run();
    out.assert_code(0);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(
        lines.contains(&"MAIL FROM:<ready@client.test>"),
        "{}",
        out.stdout
    );
    for a in [&to, &cc, &b1, &b2] {
        assert!(
            lines.contains(&format!("RCPT TO:<{a}>").as_str()),
            "no RCPT for {a}:\n{}",
            out.stdout
        );
    }
    assert!(out.stdout.contains("Subject: ready made"), "{}", out.stdout);
    assert!(!out.stdout.contains("Bcc:"), "{}", out.stdout);
    assert!(
        out.stdout.contains("first line") && out.stdout.contains("..two"),
        "{}",
        out.stdout
    );
    // and a composed message
    let composed = unique_addr("dry-composed");
    let out2 = mx(&tb, "a@client.test", &composed)
        .args(["--dry-run", "--subject", "dry", "--body", "dry body\n"])
        .run();
    out2.assert_code(0);
    assert!(
        out2.stdout.contains(&format!("RCPT TO:<{composed}>")),
        "{}",
        out2.stdout
    );
    assert!(
        out2.stdout.contains("Subject: dry") && out2.stdout.contains("dry body"),
        "{}",
        out2.stdout
    );
    tb.assert_none_delivered(&[&to, &cc, &b1, &b2, &composed], true);
}

// ---------------------------------------------------------------- DSN

#[test]
fn dsn_parameters_on_mail_and_rcpt_and_postfix_honours_them() {
    let tb = testbed!();
    let sender = unique_addr("dsn-from");
    let rcpt = unique_addr("dsn-to");
    let out = mx(&tb, &sender, &rcpt)
        .args([
            "-v",
            "--subject",
            "dsn subject",
            "--body",
            "dsn body text that RET=HDRS keeps out\n",
            "--dsn-notify",
            "success,failure",
            "--dsn-ret",
            "hdrs",
            "--envid",
            "abc+1",
        ])
        .run();
    out.assert_code(0);
    assert!(out.stderr.contains("250-DSN"), "{}", out.stderr);
    let mail = client_lines(&out.stderr, "MAIL");
    assert!(mail[0].contains(" RET=HDRS ENVID=abc+2B1"), "{mail:?}");
    let rcpt_line = client_lines(&out.stderr, "RCPT");
    assert!(
        rcpt_line[0].ends_with(&format!(" NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;{rcpt}")),
        "{rcpt_line:?}"
    );
    tb.wait_for_mail(&rcpt);
    // NOTIFY=SUCCESS: Postfix reports the delivery to the sender, with the
    // decoded ENVID and ORCPT, and (RET=HDRS) the headers without the body
    let report = String::from_utf8_lossy(&tb.wait_for_mail(&sender)).into_owned();
    assert!(report.contains("Original-Envelope-Id: abc+1"), "{report}");
    assert!(
        report.contains(&format!("Original-Recipient: rfc822;{rcpt}")),
        "{report}"
    );
    assert!(report.contains("Action: delivered"), "{report}");
    assert!(
        report.contains("text/rfc822-headers") && report.contains("Subject: dsn subject"),
        "{report}"
    );
    assert!(
        !report.contains("dsn body text"),
        "RET=HDRS but the body came back:\n{report}"
    );
}

// ---------------------------------------------------------------- sendmail

fn sendmail_env(tb: &Testbed) -> [(&'static str, String); 2] {
    [
        ("MISSIVE_SERVER", tb.mx()),
        ("MISSIVE_TLS", "none".to_string()),
    ]
}

fn sendmail(tb: &Testbed, args: &[&str], stdin: &[u8]) -> Output {
    let mut cmd = Cmd::new(["sendmail"]).args(args).stdin(stdin.to_vec());
    for (k, v) in sendmail_env(tb) {
        cmd = cmd.env(k, &v);
    }
    cmd.run()
}

#[test]
fn sendmail_t_i_as_cron_uses_it() {
    let tb = testbed!();
    let rcpt = unique_addr("cron");
    let out = sendmail(
        &tb,
        &["-t", "-i"],
        format!("To: {rcpt}\nSubject: cron\n\nhi\n").as_bytes(),
    );
    out.assert_code(0);
    assert!(
        out.stdout.is_empty(),
        "sendmail should be quiet: {}",
        out.stdout
    );
    let (head, body) = delivered(&tb, &rcpt);
    assert_eq!(one_header(&head, "Subject"), "cron");
    assert_eq!(one_header(&head, "To"), rcpt);
    // what an MTA adds on submission when missing
    for h in ["Date", "Message-ID", "From"] {
        one_header(&head, h);
    }
    assert_eq!(body, b"hi\n");
}

#[test]
fn sendmail_symlink_works_the_same() {
    let tb = testbed!();
    let rcpt = unique_addr("symlink");
    let dir = TempDir::new("symlink");
    let link = dir.join("sendmail");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_missive"), &link).expect("symlink");
    let env = sendmail_env(&tb);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let ran = run_program(
        &link,
        &["-t", "-i"],
        &env,
        format!("To: {rcpt}\nSubject: cron\n\nhi\n").as_bytes(),
    );
    assert_eq!(
        ran.code(),
        Some(0),
        "stdout:\n{}\nstderr:\n{}",
        ran.stdout,
        ran.stderr
    );
    let (head, body) = delivered(&tb, &rcpt);
    assert_eq!(one_header(&head, "Subject"), "cron");
    assert_eq!(body, b"hi\n");
    // and the usage error path goes through the symlink too
    let ran = run_program(&link, &["-i"], &env, b"Subject: x\n\nx\n");
    assert_eq!(ran.code(), Some(64), "{}", ran.stderr);
}

#[test]
fn sendmail_f_sets_the_envelope_sender() {
    let tb = testbed!();
    let rcpt = unique_addr("bounce");
    let out = sendmail(
        &tb,
        &["-i", "-f", "bounce@x.test", &rcpt],
        b"From: Header Author <author@client.test>\nSubject: f\n\nbody\n",
    );
    out.assert_code(0);
    let file = tb.wait_for_mail(&rcpt);
    let first = file.split(|&b| b == b'\n').next().unwrap();
    assert_eq!(first, b"Return-Path: <bounce@x.test>");
    let (head, _) = split_message(&original(&file));
    assert_eq!(
        one_header(&head, "From"),
        "Header Author <author@client.test>"
    );
}

#[test]
fn sendmail_without_recipients_is_64_with_a_clear_line() {
    let tb = testbed!();
    let out = sendmail(&tb, &["-i"], b"Subject: nobody\n\nbody\n");
    out.assert_code(64);
    assert!(
        out.stderr.starts_with("missive: ") && out.stderr.contains("no recipients"),
        "{}",
        out.stderr
    );
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    let out = sendmail(&tb, &["-t", "-i"], b"Subject: nobody\n\nbody\n");
    out.assert_code(64);
    assert!(
        out.stderr.contains("no recipients") && out.stderr.contains("no To, Cc or Bcc"),
        "{}",
        out.stderr
    );
}

#[test]
fn sendmail_lone_dot_ends_input_unless_i() {
    let tb = testbed!();
    let (r1, r2) = (unique_addr("dot-ends"), unique_addr("dot-kept"));
    let input = |r: &str| format!("To: {r}\nSubject: dot\n\nbefore\n.\nafter\n");
    sendmail(&tb, &["-t"], input(&r1).as_bytes()).assert_code(0);
    sendmail(&tb, &["-t", "-i"], input(&r2).as_bytes()).assert_code(0);
    assert_eq!(String::from_utf8_lossy(&delivered(&tb, &r1).1), "before\n");
    assert_eq!(
        String::from_utf8_lossy(&delivered(&tb, &r2).1),
        "before\n.\nafter\n"
    );
}

#[test]
fn sendmail_git_send_email_style_delivers_to_all_arguments() {
    let tb = testbed!();
    let (a, b) = (unique_addr("git-a"), unique_addr("git-b"));
    let patch = format!(
        "From: Dev Eloper <dev@client.test>\nTo: {a}\nCc: {b}\nSubject: [PATCH 1/1] fix the thing\nDate: Sat, 28 Nov 2026 12:00:00 +0000\nMessage-ID: <{}@client.test>\nX-Mailer: git-send-email 2.39.5\nMIME-Version: 1.0\nContent-Transfer-Encoding: 8bit\n\n",
        unique("patch")
    );
    let body = "Signed-off-by: Dev Eloper <dev@client.test>\n---\n file.c | 2 +-\n\ndiff --git a/file.c b/file.c\n--- a/file.c\n+++ b/file.c\n@@ -1 +1 @@\n-old\n+new\n.\n.. \n-- \n2.39.5\n\n";
    let out = sendmail(
        &tb,
        &["-i", &a, &b],
        [patch.as_bytes(), body.as_bytes()].concat().as_slice(),
    );
    out.assert_code(0);
    for r in [&a, &b] {
        let (head, got) = delivered(&tb, r);
        assert_eq!(one_header(&head, "Subject"), "[PATCH 1/1] fix the thing");
        assert_eq!(one_header(&head, "X-Mailer"), "git-send-email 2.39.5");
        assert_eq!(
            String::from_utf8_lossy(&got),
            body,
            "{r}: patch body changed"
        );
    }
}

// ---------------------------------------------------------------- streaming memory

/// Peak resident set (VmHWM, KiB) of a running process, if it is still there.
fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

#[test]
fn fifty_megabyte_attachment_streams_in_bounded_memory() {
    let tb = testbed!();
    if !tb.sink_running() {
        assert!(
            std::env::var_os("MISSIVE_TESTBED").is_none(),
            "smtp-sink is not running on {}",
            tb.sink()
        );
        eprintln!("skipped: smtp-sink not running");
        return;
    }
    let dir = TempDir::new("stream");
    let big = dir.random_file("fifty.bin", 50 * 1000 * 1000);
    let mut child = Command::new(env!("CARGO_BIN_EXE_missive"))
        .args([
            "send",
            "--server",
            &tb.sink(),
            "--tls",
            "none",
            "--from",
            "stream@client.test",
            "--to",
            &unique_addr("stream"),
            "--body",
            "see attachment\n",
            "--attach",
            &big,
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot start missive");
    let pid = child.id();
    let err = drain(child.stderr.take().expect("stderr"));
    let deadline = Instant::now() + RUN_TIMEOUT;
    let mut peak = 0u64;
    let status = loop {
        if let Some(k) = vm_hwm_kib(pid) {
            peak = peak.max(k);
        }
        if let Some(s) = child.try_wait().expect("try_wait") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("missive did not finish within {RUN_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let stderr = err.join().unwrap_or_default();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(peak > 0, "could not read VmHWM of pid {pid}");
    eprintln!("peak RSS of missive sending 50 MB: {peak} KiB");
    assert!(
        peak < 64 * 1024,
        "peak RSS {peak} KiB for a 50 MB attachment"
    );
}
