//! What missive composes and how it hands it over: the real `missive`
//! binary against the real testbed (Postfix on 2525 with SIZE, CHUNKING, DSN
//! and SMTPUTF8; smtp-sink on 2526), and every delivered message parsed back
//! by an independent MIME parser, Debian's `/usr/bin/python3` `email`
//! package with `policy.default`.
//!
//! Every test uses recipients that no other test uses. Without a running
//! testbed the tests print "skipped: testbed not running" and pass, unless
//! MISSIVE_TESTBED is set, in which case they fail.

mod extensions;
mod headers;
mod mime;
mod ready_messages;
mod streaming;

use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::*;

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
pub(crate) fn python_parse(message: &[u8], files: &[&Path]) -> Value {
    let out = Cmd::program(PYTHON)
        .arg("-c")
        .arg(PARSE_PY)
        .args(files)
        .stdin(message)
        .run();
    assert_eq!(out.code, 0, "python failed\n{out}");
    serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("python printed no JSON ({e}):\n{}", out.stdout))
}

/// Every node of a parsed MIME tree, depth first, with its parent's type.
pub(crate) fn nodes(tree: &Value) -> Vec<(&Value, Option<&str>)> {
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
