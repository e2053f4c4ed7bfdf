//! [`Web`]: a `missive serve --http` process (a [`Capture`] with its web
//! side on a loopback port) and a small HTTP client for its API.

use std::time::Duration;

use serde_json::Value;

use super::{free_port, Capture, Cmd, Output};

pub struct Web {
    pub capture: Capture,
    pub http_port: u16,
    agent: ureq::Agent,
    login: Option<(String, String)>,
}

/// A response: status, headers we look at, body.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
}

impl Web {
    /// `missive serve --http 127.0.0.1:PORT` with `extra` options.
    pub fn start(extra: &[&str]) -> Web {
        let http_port = free_port();
        let http = format!("127.0.0.1:{http_port}");
        let mut args = vec!["--http", &http];
        args.extend_from_slice(extra);
        let capture = Capture::start(&args);
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .proxy(None)
            .max_redirects(0)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        Web {
            capture,
            http_port,
            agent,
            login: None,
        }
    }

    /// Sends HTTP Basic with every request from now on.
    pub fn login(&mut self, user: &str, password: &str) {
        self.login = Some((user.into(), password.into()));
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.http_port)
    }

    fn auth(&self) -> Option<String> {
        use base64::Engine;
        self.login.as_ref().map(|(u, p)| {
            let b = base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"));
            format!("Basic {b}")
        })
    }

    fn reply(r: Result<ureq::http::Response<ureq::Body>, ureq::Error>, what: &str) -> Reply {
        let mut r = r.unwrap_or_else(|e| panic!("{what}: {e}"));
        let headers = r
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        Reply {
            status: r.status().as_u16(),
            headers,
            body: r
                .body_mut()
                .with_config()
                .limit(64 * 1024 * 1024)
                .read_to_vec()
                .unwrap_or_default(),
        }
    }

    /// `GET path` with extra headers.
    pub fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        let mut req = self.agent.get(self.url(path));
        if let Some(a) = self.auth() {
            req = req.header("Authorization", a);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        Web::reply(req.call(), &format!("GET {path}"))
    }

    pub fn get(&self, path: &str) -> Reply {
        self.get_with(path, &[])
    }

    /// `GET path`, which must answer 200 with JSON.
    pub fn json(&self, path: &str) -> Value {
        let r = self.get(path);
        assert_eq!(r.status, 200, "GET {path}: {}", r.text());
        r.json()
    }

    /// `DELETE path` with an optional JSON body.
    pub fn delete(&self, path: &str, body: Option<&str>) -> Reply {
        let mut req = self.agent.delete(self.url(path));
        if let Some(a) = self.auth() {
            req = req.header("Authorization", a);
        }
        let r = match body {
            Some(b) => req
                .header("Content-Type", "application/json")
                .force_send_body()
                .send(b),
            None => req.call(),
        };
        Web::reply(r, &format!("DELETE {path}"))
    }

    /// The list's messages.
    pub fn messages(&self, query: &str) -> Vec<Value> {
        let v = self.json(&format!("/api/v1/messages{query}"));
        v["messages"].as_array().cloned().unwrap_or_default()
    }

    /// `missive send --server … --cafile CA` plus `args`; must succeed.
    pub fn send(&self, args: &[&str]) -> Output {
        let ca = self.capture.maildir.join("missive-ca.pem");
        let out = Cmd::new(["send", "--server", &self.capture.addr()])
            .arg("--cafile")
            .arg(&ca)
            .args(args)
            .env("WEB_TEST_PW", "pw")
            .run();
        out.assert_code(0);
        out
    }
}
