//! [`Browser`]: headless Chromium (Debian's `chromium`) driven through its
//! DevTools protocol over `--remote-debugging-pipe` (file descriptors 3 and
//! 4, NUL-separated JSON): no WebSocket, no chromedriver. One page; every
//! call has a deadline; the browser is killed when dropped. It is started
//! with everything that would reach the network turned off, and the tests
//! load only loopback addresses.

use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::io::FromRawFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{json, Value};

use super::TempDir;

/// Where Debian's package puts it.
pub const CHROMIUM: &str = "/usr/bin/chromium";

pub struct Browser {
    child: Child,
    to: File,
    from: mpsc::Receiver<Value>,
    next_id: u64,
    session: String,
    _profile: TempDir,
}

fn pipe() -> (i32, i32) {
    let mut fds = [0i32; 2];
    // SAFETY: fds is two ints, as pipe2 wants.
    let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    assert_eq!(rc, 0, "pipe2: {}", std::io::Error::last_os_error());
    // above 10, so that moving them to 3 and 4 in the child clobbers neither
    let high = |fd: i32| {
        // SAFETY: fd is an open descriptor of ours.
        let moved = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 10) };
        assert!(moved >= 10, "fcntl: {}", std::io::Error::last_os_error());
        // SAFETY: as above; it is not used again.
        unsafe { libc::close(fd) };
        moved
    };
    (high(fds[0]), high(fds[1]))
}

impl Browser {
    /// Whether Chromium is installed.
    pub fn available() -> bool {
        Path::new(CHROMIUM).exists()
    }

    /// Starts Chromium with a fresh profile and opens one blank page of
    /// `width` x `height` CSS pixels.
    pub fn start(width: u32, height: u32) -> Browser {
        let profile = TempDir::new("chromium");
        let (cmd_r, cmd_w) = pipe(); // we write commands, Chromium reads fd 3
        let (res_r, res_w) = pipe(); // Chromium writes fd 4, we read
        let mut c = Command::new(CHROMIUM);
        c.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--disable-domain-reliability",
            "--disable-client-side-phishing-detection",
            "--metrics-recording-only",
            "--remote-debugging-pipe",
            &format!("--window-size={width},{height}"),
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("about:blank")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        // SAFETY: only async-signal-safe calls (dup2) between fork and exec.
        unsafe {
            c.pre_exec(move || {
                if libc::dup2(cmd_r, 3) < 0 || libc::dup2(res_w, 4) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = c.spawn().expect("start chromium");
        // SAFETY: each fd is ours, open, and owned by exactly one File.
        let (to, mut from_pipe) = unsafe {
            libc::close(cmd_r);
            libc::close(res_w);
            (File::from_raw_fd(cmd_w), File::from_raw_fd(res_r))
        };
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let mut chunk = [0u8; 64 * 1024];
            loop {
                let n = match from_pipe.read(&mut chunk) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                buf.extend_from_slice(&chunk[..n]);
                while let Some(end) = buf.iter().position(|&b| b == 0) {
                    let msg: Vec<u8> = buf.drain(..=end).collect();
                    if let Ok(v) = serde_json::from_slice::<Value>(&msg[..msg.len() - 1]) {
                        if tx.send(v).is_err() {
                            return;
                        }
                    }
                }
            }
        });
        let mut b = Browser {
            child,
            to,
            from: rx,
            next_id: 0,
            session: String::new(),
            _profile: profile,
        };
        let target = b.browser_call("Target.createTarget", json!({ "url": "about:blank" }));
        let id = target["targetId"].as_str().expect("targetId").to_string();
        let attached = b.browser_call(
            "Target.attachToTarget",
            json!({ "targetId": id, "flatten": true }),
        );
        b.session = attached["sessionId"]
            .as_str()
            .expect("sessionId")
            .to_string();
        b.call("Page.enable", json!({}));
        b.call(
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": width, "height": height, "deviceScaleFactor": 1, "mobile": false }),
        );
        b
    }

    fn send(&mut self, method: &str, params: Value, session: Option<String>) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut msg = json!({ "id": id, "method": method, "params": params });
        if let Some(s) = session {
            msg["sessionId"] = json!(s);
        }
        let mut bytes = serde_json::to_vec(&msg).unwrap();
        bytes.push(0);
        self.to.write_all(&bytes).expect("write to chromium");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let v = self
                .from
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("chromium did not answer {method} within 30 s"));
            if v["id"].as_u64() == Some(id) {
                if let Some(e) = v.get("error") {
                    panic!("{method}: {e}");
                }
                return v["result"].clone();
            }
            // events are not used: the tests poll the page
        }
    }

    fn browser_call(&mut self, method: &str, params: Value) -> Value {
        self.send(method, params, None)
    }

    /// A DevTools call on the page.
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        let s = self.session.clone();
        self.send(method, params, Some(s))
    }

    pub fn navigate(&mut self, url: &str) {
        assert!(
            url.starts_with("http://127.0.0.1:") || url.starts_with("http://[::1]:"),
            "the tests load loopback pages only: {url}"
        );
        self.call("Page.navigate", json!({ "url": url }));
    }

    /// Evaluates a JavaScript expression in the page; its value.
    pub fn eval(&mut self, expr: &str) -> Value {
        let r = self.call(
            "Runtime.evaluate",
            json!({ "expression": expr, "returnByValue": true, "awaitPromise": true }),
        );
        if let Some(e) = r.get("exceptionDetails") {
            panic!("{expr}: {e}");
        }
        r["result"]["value"].clone()
    }

    /// Polls `expr` until it is `true`; panics with `what` after `limit`.
    pub fn wait_for(&mut self, expr: &str, limit: Duration, what: &str) {
        let deadline = Instant::now() + limit;
        loop {
            if self.eval(expr) == json!(true) {
                return;
            }
            assert!(Instant::now() < deadline, "{what} within {limit:?}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The whole document, frames included (`DOM.getDocument` with
    /// `pierce`): what is rendered, even in a frame that runs no scripts.
    pub fn document(&mut self) -> Value {
        self.call("DOM.getDocument", json!({ "depth": -1, "pierce": true }))
    }

    /// The documents of the page and of its frames. A sandboxed frame has
    /// an origin of its own, and Chromium may render it in a process of its
    /// own (an out-of-process frame, a target of its own): each such target
    /// is attached to and asked for its document too.
    pub fn documents(&mut self) -> Vec<Value> {
        let mut docs = vec![self.document()];
        let targets = self.browser_call("Target.getTargets", json!({}));
        let frames: Vec<String> = targets["targetInfos"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|t| t["type"] == "iframe")
            .filter_map(|t| t["targetId"].as_str().map(str::to_string))
            .collect();
        for id in frames {
            let attached = self.browser_call(
                "Target.attachToTarget",
                json!({ "targetId": id, "flatten": true }),
            );
            let Some(session) = attached["sessionId"].as_str().map(str::to_string) else {
                continue;
            };
            docs.push(self.send(
                "DOM.getDocument",
                json!({ "depth": -1, "pierce": true }),
                Some(session),
            ));
        }
        docs
    }

    /// A PNG of the page as it is, written to `path`.
    pub fn screenshot(&mut self, path: &Path) {
        let r = self.call("Page.captureScreenshot", json!({ "format": "png" }));
        let png = base64::engine::general_purpose::STANDARD
            .decode(r["data"].as_str().expect("screenshot data"))
            .expect("base64 screenshot");
        assert!(png.starts_with(b"\x89PNG"), "not a PNG");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::fs::write(path, png).unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every node of a `DOM.getDocument` tree (content documents of frames
/// included), depth first.
pub fn nodes(tree: &Value) -> Vec<&Value> {
    fn walk<'a>(n: &'a Value, out: &mut Vec<&'a Value>) {
        out.push(n);
        for key in ["children", "shadowRoots"] {
            if let Some(cs) = n[key].as_array() {
                for c in cs {
                    walk(c, out);
                }
            }
        }
        if n["contentDocument"].is_object() {
            walk(&n["contentDocument"], out);
        }
    }
    let mut out = Vec::new();
    walk(&tree["root"], &mut out);
    out
}

/// The value of an attribute of a DOM node.
pub fn attr<'a>(node: &'a Value, name: &str) -> Option<&'a str> {
    let a = node["attributes"].as_array()?;
    a.chunks(2)
        .find(|kv| kv[0].as_str() == Some(name))
        .and_then(|kv| kv.get(1)?.as_str())
}
