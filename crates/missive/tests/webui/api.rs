//! The JSON API: what Mailpit's test helpers call, the envelope and the
//! session, filters and paging, the wait, delete.

use std::time::{Duration, Instant};

use super::*;

#[test]
fn a_message_from_missive_send_in_the_list_and_in_full() {
    let web = Web::start(&[]);
    send_rich(
        &web,
        "Bob <bob@y.test>",
        "Quarterly report",
        "http://192.0.2.1/x.png",
    );
    let list = web.json("/api/v1/messages");
    assert_eq!(
        (list["total"].as_u64(), list["count"].as_u64()),
        (Some(1), Some(1)),
        "{list}"
    );
    assert_eq!(list["unread"], 1);
    let m = &list["messages"][0];
    assert_eq!(m["Subject"], "Quarterly report");
    assert_eq!(m["From"]["Name"], "Alice Example");
    assert_eq!(m["From"]["Address"], "alice@x.test");
    assert_eq!(m["To"][0]["Address"], "bob@y.test");
    assert_eq!(m["To"][0]["Name"], "Bob");
    // Bcc is not in the headers: it comes from the envelope
    assert_eq!(m["Bcc"][0]["Address"], "hidden@y.test");
    assert_eq!(m["Envelope"]["From"], "alice@x.test");
    assert_eq!(
        m["Envelope"]["To"],
        serde_json::json!(["bob@y.test", "hidden@y.test"])
    );
    assert_eq!(m["Attachments"], 1, "the inline logo is not an attachment");
    assert_eq!(m["Read"], false);
    assert!(m["Size"].as_u64().unwrap() > 500);
    assert!(m["Created"].as_str().unwrap().ends_with('Z'));
    assert_eq!(m["Snippet"], "plain text body");
    let s = &m["Session"];
    assert_eq!(s["TLS"], true, "{s}");
    assert_eq!(s["TLSVersion"], "TLSv1.3");
    assert!(
        s["TLSCipher"].as_str().unwrap().starts_with("TLS13_"),
        "{s}"
    );
    assert_eq!(
        (s["Auth"].as_bool(), s["AuthUser"].as_str()),
        (Some(true), Some("u"))
    );

    let id = m["ID"].as_str().unwrap();
    let d = web.json(&format!("/api/v1/message/{id}"));
    assert_eq!(d["ID"], id);
    assert_eq!(d["Subject"], "Quarterly report");
    assert_eq!(d["ReturnPath"], "alice@x.test");
    assert!(!d["MessageID"].as_str().unwrap().is_empty());
    assert!(d["Date"].as_str().unwrap().ends_with('Z'));
    assert_eq!(d["Text"].as_str().unwrap().trim_end(), "plain text body");
    assert!(d["HTML"]
        .as_str()
        .unwrap()
        .contains("<h1 id=\"hi\">Hello from HTML</h1>"));
    let att = &d["Attachments"][0];
    assert_eq!(att["FileName"], "../../etc/Bericht Ü.pdf", "shown as sent");
    assert_eq!(att["ContentType"], "application/pdf");
    assert_eq!(att["Size"], 20);
    let inline = &d["Inline"][0];
    assert_eq!(inline["ContentID"], "logo.png");
    assert_eq!(inline["ContentType"], "image/png");
    let mime: Vec<&str> = d["MIME"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["ContentType"].as_str().unwrap())
        .collect();
    assert_eq!(
        mime,
        [
            "multipart/mixed",
            "multipart/alternative",
            "text/plain",
            "multipart/related",
            "text/html",
            "image/png",
            "application/pdf"
        ]
    );
    // reading it marks it read (the Maildir way: cur/, flag S)
    assert_eq!(web.json("/api/v1/messages")["unread"], 0);
    let cur: Vec<_> = std::fs::read_dir(web.capture.maildir.join("cur"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(cur, [format!("{id}:2,S")]);

    // the attachment, decoded, as a download with a safe name
    let part = att["PartID"].as_str().unwrap();
    let r = web.get(&format!("/api/v1/message/{id}/part/{part}"));
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"%PDF-1.4 not really\n");
    assert_eq!(r.header("content-type"), Some("application/pdf"));
    assert_eq!(
        r.header("content-disposition"),
        Some("attachment; filename=\"Bericht _.pdf\"; filename*=UTF-8''Bericht%20%C3%9C.pdf")
    );
    assert_eq!(
        web.get(&format!("/api/v1/message/{id}/part/99")).status,
        404
    );

    // raw: the message exactly as received
    let raw = web.get(&format!("/api/v1/message/{id}/raw"));
    assert_eq!(raw.status, 200);
    let file = std::fs::read(web.capture.maildir.join("cur").join(format!("{id}:2,S"))).unwrap();
    assert!(
        file.ends_with(&raw.body),
        "raw is the file after the server's lines"
    );
    assert!(
        raw.text().starts_with("From: ")
            || raw.text().contains("\r\nSubject: Quarterly report\r\n")
    );
    assert!(!raw.text().contains("X-Missive-Session"));

    // headers, by name
    let h = web.json(&format!("/api/v1/message/{id}/headers"));
    assert_eq!(h["Subject"], serde_json::json!(["Quarterly report"]));
    assert!(h.get("Bcc").is_none());

    assert_eq!(
        web.get("/api/v1/message/1796185397.M1P1Q1.missive").status,
        404
    );
    assert_eq!(
        web.get("/api/v1/message/..%2F..%2Fetc%2Fpasswd").status,
        404
    );
}

#[test]
fn swaks_without_tls_or_auth_is_recorded_as_such() {
    let web = Web::start(&[]);
    let out = Cmd::program("swaks")
        .args([
            "--server",
            "127.0.0.1",
            "--port",
            &web.capture.port.to_string(),
        ])
        .args([
            "--helo",
            "swaks.client.test",
            "--from",
            "cron@x.test",
            "--to",
            "ops@y.test",
        ])
        .args(["--header", "Subject: nightly job"])
        .args(["--body", "all fine"])
        .run();
    out.assert_code(0);
    let m = &web.messages("")[0];
    assert_eq!(m["Subject"], "nightly job");
    assert_eq!(m["Envelope"]["From"], "cron@x.test");
    let s = &m["Session"];
    assert_eq!(
        (s["TLS"].as_bool(), s["Auth"].as_bool(), s["Helo"].as_str()),
        (Some(false), Some(false), Some("swaks.client.test")),
        "{s}"
    );
    assert_eq!(s["TLSVersion"], "");
}

#[test]
fn filters_search_and_paging() {
    let web = Web::start(&[]);
    for (to, subject) in [
        ("carol@y.test", "Invoice 1"),
        ("dave@y.test", "Invoice 2"),
        ("carol@y.test", "Welcome aboard"),
    ] {
        web.send(&[
            "--from",
            "shop@x.test",
            "--to",
            to,
            "--subject",
            subject,
            "--body",
            "b",
        ]);
    }
    let subjects = |q: &str| -> Vec<String> {
        web.messages(q)
            .iter()
            .map(|m| m["Subject"].as_str().unwrap().to_string())
            .collect()
    };
    // newest first
    assert_eq!(subjects(""), ["Welcome aboard", "Invoice 2", "Invoice 1"]);
    assert_eq!(
        subjects("?to=carol@y.test"),
        ["Welcome aboard", "Invoice 1"]
    );
    assert_eq!(subjects("?subject=invoice"), ["Invoice 2", "Invoice 1"]);
    assert_eq!(subjects("?to=carol&subject=invoice"), ["Invoice 1"]);
    assert_eq!(subjects("?from=shop@x.test").len(), 3);
    assert!(subjects("?from=nobody").is_empty());
    assert_eq!(subjects("?limit=1&start=1"), ["Invoice 2"]);
    let v = web.json("/api/v1/messages?limit=1&to=carol");
    assert_eq!(
        (
            v["count"].as_u64(),
            v["messages_count"].as_u64(),
            v["total"].as_u64()
        ),
        (Some(1), Some(2), Some(3))
    );
    assert!(subjects("?since=2999-01-01").is_empty());
    assert_eq!(subjects("?since=2000-01-01T00:00:00Z").len(), 3);
    assert_eq!(web.get("/api/v1/messages?since=yesterday").status, 400);
    // Mailpit's search
    let s = web.json("/api/v1/search?query=to%3Acarol%20subject%3A%22welcome%20aboard%22");
    assert_eq!(s["messages"][0]["Subject"], "Welcome aboard");
    assert_eq!(s["messages_count"], 1);
    assert_eq!(
        web.json("/api/v1/search?query=invoice")["messages_count"],
        2
    );
    assert_eq!(
        web.json("/api/v1/search?query=invoice")["messages_unread"],
        2
    );
    assert_eq!(
        web.json("/api/v1/search?query=before:2000-01-01")["messages_count"],
        0
    );
    assert_eq!(
        web.json("/api/v1/search?query=before:2999-01-01")["messages_count"],
        3
    );
    // Mailpit's `latest`
    assert_eq!(
        web.json("/api/v1/message/latest")["Subject"],
        "Welcome aboard"
    );
    let raw = web.get("/api/v1/message/latest/raw").text();
    assert!(raw.contains("Subject: Welcome aboard"), "{raw}");
    // reading it made it read
    let read = web.json("/api/v1/search?query=is:read");
    assert_eq!(read["messages"][0]["Subject"], "Welcome aboard");
    assert_eq!(read["messages_count"], 1);
    assert_eq!(
        web.json("/api/v1/search?query=is:unread")["messages_count"],
        2
    );
    assert_eq!(web.get("/api/v1/search?query=is:starred").status, 400);
    let latest = web.json("/api/v1/message/latest")["ID"]
        .as_str()
        .unwrap()
        .to_string();
    let text = web.get(&format!("/view/{latest}.txt"));
    assert_eq!(text.text().trim_end(), "b");
    assert_eq!(
        text.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    // and Mailpit's delete by search
    assert_eq!(web.delete("/api/v1/search?query=invoice", None).status, 200);
    assert_eq!(subjects(""), ["Welcome aboard"]);
    assert_eq!(web.delete("/api/v1/search", None).status, 400);
}

#[test]
fn wait_answers_when_a_matching_message_arrives() {
    let web = Web::start(&[]);
    web.send(&[
        "--from",
        "a@x.test",
        "--to",
        "early@y.test",
        "--subject",
        "early",
        "--body",
        "b",
    ]);
    let url = "/api/v1/wait?to=late@y.test&subject=signup&timeout=30";
    let started = Instant::now();
    let waiter = std::thread::scope(|s| {
        let h = s.spawn(|| web.get(url));
        std::thread::sleep(Duration::from_millis(500));
        // not this one
        web.send(&[
            "--from",
            "a@x.test",
            "--to",
            "late@y.test",
            "--subject",
            "other",
            "--body",
            "b",
        ]);
        web.send(&[
            "--from",
            "a@x.test",
            "--to",
            "late@y.test",
            "--subject",
            "Your signup",
            "--body",
            "b",
        ]);
        h.join().unwrap()
    });
    assert_eq!(waiter.status, 200, "{}", waiter.text());
    assert_eq!(waiter.json()["Subject"], "Your signup");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    // one already there is answered at once
    let t = Instant::now();
    let r = web.get("/api/v1/wait?to=early@y.test&timeout=30");
    assert_eq!(r.json()["Subject"], "early");
    assert!(t.elapsed() < Duration::from_secs(5));
    // none: 408 after the timeout
    let t = Instant::now();
    let r = web.get("/api/v1/wait?to=never@y.test&timeout=0.5");
    assert_eq!(r.status, 408, "{}", r.text());
    assert!(r.json()["Error"]
        .as_str()
        .unwrap()
        .contains("no message matched"));
    assert!(t.elapsed() >= Duration::from_millis(450) && t.elapsed() < Duration::from_secs(5));
    assert_eq!(web.get("/api/v1/wait?timeout=-1").status, 400);
}

#[test]
fn delete_some_then_all() {
    let web = Web::start(&[]);
    for i in 0..3 {
        web.send(&[
            "--from",
            "a@x.test",
            "--to",
            "b@y.test",
            "--subject",
            &format!("m{i}"),
            "--body",
            "b",
        ]);
    }
    let ids: Vec<String> = web
        .messages("")
        .iter()
        .map(|m| m["ID"].as_str().unwrap().to_string())
        .collect();
    let r = web.delete(
        "/api/v1/messages",
        Some(&format!("{{\"IDs\": [\"{}\"]}}", ids[0])),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let left: Vec<String> = web
        .messages("")
        .iter()
        .map(|m| m["ID"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(left, ids[1..]);
    assert_eq!(
        web.delete("/api/v1/messages", Some("{not json")).status,
        400
    );
    assert_eq!(web.delete("/api/v1/messages", None).status, 200);
    assert_eq!(web.json("/api/v1/messages")["total"], 0);
    assert_eq!(
        std::fs::read_dir(web.capture.maildir.join("new"))
            .unwrap()
            .count(),
        0
    );
}

#[test]
fn events_stream_new_messages() {
    use std::io::{BufRead, BufReader, Write};
    let web = Web::start(&[]);
    let mut s = std::net::TcpStream::connect(("127.0.0.1", web.http_port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(s, "GET /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    let mut r = BufReader::new(s);
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    assert!(line.starts_with("HTTP/1.1 200"), "{line}");
    // the headers end; then a message arrives
    loop {
        line.clear();
        r.read_line(&mut line).unwrap();
        if line == "\r\n" {
            break;
        }
    }
    web.send(&[
        "--from",
        "a@x.test",
        "--to",
        "b@y.test",
        "--subject",
        "streamed",
        "--body",
        "b",
    ]);
    let mut event = String::new();
    while !event.contains("data:") {
        line.clear();
        assert!(r.read_line(&mut line).unwrap() > 0, "stream closed");
        if line.starts_with("event:") || line.starts_with("data:") {
            event.push_str(&line);
        }
    }
    assert!(event.starts_with("event: new"), "{event}");
    assert!(event.contains("\"Subject\":\"streamed\""), "{event}");
}
