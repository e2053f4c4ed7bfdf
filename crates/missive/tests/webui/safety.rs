//! The web side's safety rules: a login when asked for, loopback by
//! default, no other Host, the HTML body only in a sandbox, bounded
//! requests, and answers while the SMTP side is busy.

use std::io::Write;
use std::time::{Duration, Instant};

use super::*;

#[test]
fn a_login_protects_the_page_and_the_api() {
    let dir = TempDir::new("webauth");
    let pw = dir.join("pw");
    std::fs::write(&pw, "s3cret pass\nignored\n").unwrap();
    let pw = pw.display().to_string();
    let mut web = Web::start(&["--http-auth-user", "dev", "--http-auth-password-file", &pw]);
    for path in [
        "/",
        "/app.js",
        "/api/v1/messages",
        "/api/v1/events",
        "/view/x.html",
    ] {
        let r = web.get(path);
        assert_eq!(r.status, 401, "{path}");
        assert_eq!(
            r.header("www-authenticate"),
            Some("Basic realm=\"missive\", charset=\"UTF-8\"")
        );
    }
    web.login("dev", "wrong");
    assert_eq!(web.get("/api/v1/messages").status, 401);
    web.login("dev", "s3cret pass");
    assert_eq!(web.get("/api/v1/messages").status, 200);
    assert_eq!(web.get("/").status, 200);

    // the password never on the command line
    let out = Cmd::new([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--http",
        "0",
        "--http-auth-user",
        "dev",
    ])
    .arg("--maildir")
    .arg(dir.join("m"))
    .run();
    out.assert_code(64);
    assert!(out.stderr.contains("MISSIVE_HTTP_PASSWORD"), "{out}");
}

#[test]
fn a_port_alone_listens_on_loopback_and_other_hosts_are_refused() {
    let dir = TempDir::new("webport");
    let port = free_port();
    let mut child = Cmd::new(["serve", "--listen", &format!("127.0.0.1:{}", free_port())])
        .arg("--http")
        .arg(port.to_string())
        .arg("--maildir")
        .arg(dir.join("m"))
        .spawn();
    let stderr = child.stderr.take().unwrap();
    let lines = crate::support::process::drain(stderr);
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "no HTTP listener on 127.0.0.1:{port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    let err = lines.join().unwrap();
    assert!(
        err.contains(&format!("web page and API on http://127.0.0.1:{port}/")),
        "{err}"
    );

    let web = Web::start(&[]);
    for host in ["localhost", "127.0.0.1", "[::1]:8025", "app.localhost:1"] {
        assert_eq!(
            web.get_with("/api/v1/messages", &[("Host", host)]).status,
            200,
            "{host}"
        );
    }
    // DNS rebinding: a page of another site whose name now points here
    let r = web.get_with("/api/v1/messages", &[("Host", "attacker.example:8025")]);
    assert_eq!(r.status, 421);
}

#[test]
fn html_is_served_only_into_a_sandbox_and_downloads_are_attachments() {
    let web = Web::start(&[]);
    send_rich(
        &web,
        "bob@y.test",
        "sandbox",
        "https://tracker.example/pixel.png",
    );
    let id = web.messages("")[0]["ID"].as_str().unwrap().to_string();

    let page = web.get("/");
    let csp = page.header("content-security-policy").unwrap();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("default-src 'none'"),
        "{csp}"
    );
    assert!(
        !csp.contains("unsafe-inline") || csp.contains("style-src 'self'"),
        "{csp}"
    );
    assert_eq!(page.header("x-frame-options"), Some("DENY"));
    assert!(
        !page.text().contains("http://") && !page.text().contains("https://"),
        "no external requests"
    );
    let js = web.get("/app.js").text();
    assert!(
        !js.contains("innerHTML"),
        "message data goes in with textContent only"
    );
    assert!(js.contains("setAttribute(\"sandbox\", \"\")"));

    let frame = web.get(&format!("/view/{id}.html"));
    assert_eq!(frame.status, 200);
    let csp = frame.header("content-security-policy").unwrap();
    assert!(csp.starts_with("sandbox;"), "{csp}");
    assert!(
        csp.contains("img-src data:;"),
        "remote images blocked: {csp}"
    );
    assert!(!csp.contains("script-src"), "no scripts: {csp}");
    assert_eq!(frame.header("x-content-type-options"), Some("nosniff"));
    let html = frame.text();
    assert!(
        html.contains("src=\"data:image/png;base64,"),
        "cid: became data: {html}"
    );
    assert!(!html.contains("cid:logo.png"));
    let remote = web.get(&format!("/view/{id}.html?remote=1"));
    assert!(remote
        .header("content-security-policy")
        .unwrap()
        .contains("img-src data: http: https:"));

    for path in [
        format!("/api/v1/message/{id}/raw"),
        format!("/api/v1/message/{id}/part/2"),
    ] {
        let r = web.get(&path);
        assert_eq!(r.status, 200, "{path}");
        assert!(
            r.header("content-security-policy")
                .unwrap()
                .starts_with("sandbox"),
            "{path}"
        );
        assert_eq!(
            r.header("x-content-type-options"),
            Some("nosniff"),
            "{path}"
        );
    }
    // an HTML part downloads, it is never shown in the page's origin
    let d = web.json(&format!("/api/v1/message/{id}"));
    let html_part = d["MIME"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["ContentType"] == "text/html")
        .unwrap()["PartID"]
        .as_str()
        .unwrap()
        .to_string();
    let r = web.get(&format!("/api/v1/message/{id}/part/{html_part}"));
    assert!(r
        .header("content-disposition")
        .unwrap()
        .starts_with("attachment;"));
}

#[test]
fn requests_are_bounded() {
    let web = Web::start(&[]);
    // 32 waits at once; the next one is refused, other requests still served
    let waits: Vec<std::net::TcpStream> = (0..32)
        .map(|_| {
            let mut s = std::net::TcpStream::connect(("127.0.0.1", web.http_port)).unwrap();
            s.write_all(
                b"GET /api/v1/wait?to=nobody&timeout=10 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
            )
            .unwrap();
            s
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = web.get("/api/v1/wait?to=nobody&timeout=0");
        if r.status == 503 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "a 33rd wait was not refused: {}",
            r.status
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(web.get("/api/v1/messages").status, 200);
    drop(waits);

    let big = format!("{{\"IDs\": [\"{}\"]}}", "a".repeat(100 * 1024));
    let r = web.delete("/api/v1/messages", Some(&big));
    assert_eq!(r.status, 413, "{}", r.text());
    assert_eq!(web.get("/api/v1/messages?limit=abc").status, 400);
    assert_eq!(web.get("/nowhere").status, 404);
}

#[test]
fn the_api_answers_while_smtp_is_busy() {
    let web = Web::start(&["--max-connections", "200"]);
    // 150 SMTP clients that connect and say nothing, holding sessions open
    let idle: Vec<std::net::TcpStream> = (0..150)
        .map(|_| std::net::TcpStream::connect(web.capture.addr()).unwrap())
        .collect();
    let sent = std::thread::scope(|s| {
        let senders: Vec<_> = (0..4)
            .map(|t| {
                let web = &web;
                s.spawn(move || {
                    for i in 0..5 {
                        web.send(&[
                            "--from",
                            "load@x.test",
                            "--to",
                            "b@y.test",
                            "--subject",
                            &format!("load {t}.{i}"),
                            "--body",
                            "b",
                        ]);
                    }
                })
            })
            .collect();
        let mut slowest = Duration::ZERO;
        for _ in 0..20 {
            let t = Instant::now();
            assert_eq!(web.get("/api/v1/messages?limit=5").status, 200);
            slowest = slowest.max(t.elapsed());
            std::thread::sleep(Duration::from_millis(50));
        }
        for h in senders {
            h.join().unwrap();
        }
        slowest
    });
    // Not a speed test: an API stuck behind the SMTP sessions (which never
    // end on their own) would wait for the client's 60 s timeout. 10 s
    // tells the two apart on a loaded machine, where 2 s once did not.
    assert!(
        sent < Duration::from_secs(10),
        "slowest API answer under load: {sent:?}"
    );
    assert_eq!(web.json("/api/v1/messages")["total"], 20);
    for mut s in idle {
        let _ = s.write_all(b"QUIT\r\n");
    }
}
