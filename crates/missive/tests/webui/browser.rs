//! The page in a real browser: headless Chromium (Debian's `chromium`,
//! installed by `testbed/install.sh`) driven through its DevTools protocol.
//! A new message appears without a reload; opening it shows the HTML tab in
//! a sandboxed frame where the message's script did not run and its remote
//! image was not loaded until asked for. Screenshots of the list and of the
//! message go to `target/tmp/webui/`.

use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::*;
use crate::support::chromium::{attr, nodes, Browser};

const WAIT: Duration = Duration::from_secs(20);

/// A loopback listener that counts the requests a remote image makes.
fn tracker() -> (u16, Arc<AtomicUsize>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            h.fetch_add(1, Ordering::SeqCst);
            use std::io::Write;
            let mut s = s;
            let _ = s.write_all(
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
        }
    });
    (port, hits)
}

fn shots() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("webui")
}

#[test]
fn chromium_sees_new_mail_live_and_the_html_only_in_a_sandbox() {
    if !Browser::available() {
        assert!(
            std::env::var_os("MISSIVE_TESTBED").is_none(),
            "chromium is missing: testbed/install.sh installs it"
        );
        eprintln!("skipped: no {}", crate::support::chromium::CHROMIUM);
        return;
    }
    let web = Web::start(&[]);
    web.send(&[
        "--from",
        "Build Bot <ci@x.test>",
        "--to",
        "dev@y.test",
        "--subject",
        "Build #41 passed",
        "--body",
        "All 312 tests passed.",
    ]);
    let (tracker_port, hits) = tracker();
    let mut b = Browser::start(1280, 800);
    b.navigate(&web.url("/"));
    b.wait_for(
        "document.querySelectorAll('#messages li').length === 1 && document.getElementById('live').className === ''",
        WAIT,
        "the list with one message and the event stream open",
    );
    // anything that reloads the page forgets this
    b.eval("window.__sameDocument = 'yes'; true");

    send_rich(
        &web,
        "Dev Team <dev@y.test>",
        "Your weekly report",
        &format!("http://127.0.0.1:{tracker_port}/pixel.png"),
    );
    b.wait_for(
        "document.querySelectorAll('#messages li').length === 2",
        WAIT,
        "the new message in the list without a reload",
    );
    assert_eq!(
        b.eval("window.__sameDocument"),
        json!("yes"),
        "the page was reloaded"
    );
    assert_eq!(
        b.eval("document.querySelector('#messages li .subject').textContent"),
        json!("Your weekly report"),
        "newest first"
    );
    assert_eq!(
        b.eval("document.getElementById('count').textContent"),
        json!("2 messages, 2 unread")
    );
    b.screenshot(&shots().join("list.png"));

    // open it
    b.eval("document.querySelector('#messages li').click(); true");
    b.wait_for(
        "document.getElementById('subject').textContent === 'Your weekly report' && !!document.querySelector('#frame-wrap iframe')",
        WAIT,
        "the message view with its HTML frame",
    );
    assert_eq!(
        b.eval("document.querySelector('#tabs [aria-selected=true]').dataset.tab"),
        json!("html")
    );
    assert_eq!(
        b.eval("document.querySelector('#frame-wrap iframe').getAttribute('sandbox')"),
        json!("")
    );
    // the frame's document has an origin of its own: the page cannot reach in
    assert_eq!(
        b.eval("(() => { try { return document.querySelector('#frame-wrap iframe').contentDocument === null } catch (e) { return true } })()"),
        json!(true)
    );
    // what the frame rendered (DevTools sees into it though the page cannot)
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let docs = b.documents();
        let all: Vec<_> = docs.iter().flat_map(nodes).collect();
        if all.iter().any(|n| attr(n, "id") == Some("hi")) {
            std::thread::sleep(Duration::from_millis(500)); // time for a script, were it allowed
            let docs = b.documents();
            let all: Vec<_> = docs.iter().flat_map(nodes).collect();
            assert!(
                !all.iter().any(|n| attr(n, "id") == Some("script-ran")),
                "the message's script ran"
            );
            let logo = all
                .iter()
                .find(|n| attr(n, "id") == Some("logo"))
                .expect("the logo");
            assert!(
                attr(logo, "src")
                    .unwrap()
                    .starts_with("data:image/png;base64,"),
                "the cid: image is shown"
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the HTML body rendered in the frame"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_ne!(b.eval("document.title"), json!("pwned"));
    assert_eq!(
        web.json("/api/v1/messages")["total"],
        2,
        "the script's DELETE did not happen"
    );
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "a remote image was loaded without asking"
    );
    assert_eq!(
        b.eval("document.getElementById('remote-bar').hidden"),
        json!(false)
    );
    b.screenshot(&shots().join("message.png"));

    // the other tabs
    b.eval("document.querySelector('#tabs [data-tab=text]').click(); true");
    b.wait_for(
        "document.getElementById('pane-text').classList.contains('active') && document.getElementById('text').textContent.includes('plain text body')",
        WAIT,
        "the text tab",
    );
    b.eval("document.querySelector('#tabs [data-tab=raw]').click(); true");
    b.wait_for(
        "document.getElementById('raw').textContent.includes('Subject: Your weekly report')",
        WAIT,
        "the raw tab",
    );
    b.eval("document.querySelector('#tabs [data-tab=attachments]').click(); true");
    assert_eq!(
        b.eval(
            "[...document.querySelectorAll('#attachments a')].map(a => a.textContent).join('|')"
        ),
        json!("../../etc/Bericht Ü.pdf|logo.png")
    );

    // remote images only when asked
    b.eval("document.querySelector('#tabs [data-tab=html]').click(); document.getElementById('remote').click(); true");
    let deadline = std::time::Instant::now() + WAIT;
    while hits.load(Ordering::SeqCst) == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the remote image after the click"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // search, then delete from the page
    b.eval("const s = document.getElementById('search'); s.value = 'subject:build'; s.dispatchEvent(new Event('input')); true");
    b.wait_for(
        "document.querySelectorAll('#messages li').length === 1 && document.querySelector('#messages li .subject').textContent === 'Build #41 passed'",
        WAIT,
        "the search",
    );
    b.eval("document.querySelector('#messages li').click(); true");
    b.wait_for(
        "document.getElementById('subject').textContent === 'Build #41 passed'",
        WAIT,
        "the found message open",
    );
    b.eval("document.getElementById('delete').click(); true");
    b.wait_for(
        "document.querySelectorAll('#messages li').length === 0",
        WAIT,
        "the list after deleting the open message",
    );
    assert_eq!(web.json("/api/v1/messages")["total"], 1);

    // on a phone: the list, then the message alone with a way back
    b.call(
        "Emulation.setDeviceMetricsOverride",
        json!({ "width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": true }),
    );
    b.eval("const q = document.getElementById('search'); q.value = ''; q.dispatchEvent(new Event('input')); true");
    b.wait_for(
        "document.querySelectorAll('#messages li').length === 1",
        WAIT,
        "the list on a phone",
    );
    b.eval("document.querySelector('#messages li').click(); true");
    b.wait_for(
        "document.getElementById('subject').textContent === 'Your weekly report' && getComputedStyle(document.getElementById('list')).display === 'none' && getComputedStyle(document.getElementById('back')).display !== 'none'",
        WAIT,
        "the message alone, with a back button, on a phone",
    );
    assert_eq!(
        b.eval("document.documentElement.scrollWidth <= 390"),
        json!(true),
        "nothing wider than the phone"
    );
    b.screenshot(&shots().join("phone.png"));
}
