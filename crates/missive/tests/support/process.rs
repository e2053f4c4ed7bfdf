//! Running a program to its end under a deadline, capturing its output: the
//! one way these tests run `missive` (and swaks, msmtp or Python).

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The `missive` binary under test.
pub const MISSIVE: &str = env!("CARGO_BIN_EXE_missive");
/// Debian's system Python (the independent MIME parser, and smtplib as
/// another client), not whatever is on PATH.
pub const PYTHON: &str = "/usr/bin/python3";
/// The default upper bound on one run of a program.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(60);
/// How often a running child is polled.
const POLL: Duration = Duration::from_millis(5);

/// How a run ended.
#[derive(Debug)]
pub struct Output {
    /// The exit code; -1 when killed by a signal.
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    /// From just before it was started until it ended.
    pub elapsed: Duration,
}

impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "exit {} after {:?}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.elapsed, self.stdout, self.stderr
        )
    }
}

impl Output {
    /// Panics, showing everything, unless the exit code is `code`.
    #[track_caller]
    pub fn assert_code(&self, code: i32) -> &Output {
        assert_eq!(self.code, code, "unexpected exit code\n{self}");
        self
    }

    /// stdout and stderr together, for checks that neither holds something.
    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }

    /// Asserts that none of `secrets` shows on stdout or stderr.
    #[track_caller]
    pub fn assert_no_secret<S: AsRef<str>>(&self, secrets: &[S]) {
        self.assert_not_on("stdout", &self.stdout, secrets);
        self.assert_not_on("stderr", &self.stderr, secrets);
    }

    /// Asserts that none of `secrets` shows on stderr (stdout may hold one
    /// that was asked for).
    #[track_caller]
    pub fn assert_no_secret_on_stderr<S: AsRef<str>>(&self, secrets: &[S]) {
        self.assert_not_on("stderr", &self.stderr, secrets);
    }

    #[track_caller]
    fn assert_not_on<S: AsRef<str>>(&self, stream: &str, text: &str, secrets: &[S]) {
        for secret in secrets {
            let secret = secret.as_ref();
            let start: String = secret.chars().take(6).collect();
            assert!(
                !text.contains(secret),
                "a secret ({start}…) shows on {stream}\n{self}"
            );
        }
    }

    /// The `--json` report on stdout.
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e})\n{self}"))
    }

    /// Asserts stderr is exactly one line, `missive: …` (and at most one
    /// `hint: …` line after it), and returns it.
    #[track_caller]
    pub fn one_error_line(&self) -> &str {
        let lines: Vec<&str> = self
            .stderr
            .lines()
            .filter(|l| !l.starts_with("hint: "))
            .collect();
        assert_eq!(lines.len(), 1, "expected one error line\n{self}");
        assert!(
            self.stderr
                .lines()
                .filter(|l| l.starts_with("hint: "))
                .count()
                <= 1,
            "{self}"
        );
        assert!(lines[0].starts_with("missive: "), "{self}");
        lines[0]
    }

    /// The first `missive: ` line of stderr and the line right after it.
    #[track_caller]
    pub fn error_and_next(&self) -> (&str, Option<&str>) {
        let lines: Vec<&str> = self.stderr.lines().collect();
        let i = lines
            .iter()
            .position(|l| l.starts_with("missive: "))
            .unwrap_or_else(|| panic!("no error line\n{self}"));
        (lines[i], lines.get(i + 1).copied())
    }

    /// The `hint: …` line that follows the (last) error line.
    #[track_caller]
    pub fn hint(&self) -> String {
        let lines: Vec<&str> = self.stderr.lines().collect();
        let i = lines
            .iter()
            .rposition(|l| l.starts_with("missive: "))
            .unwrap_or_else(|| panic!("no error line\n{self}"));
        let next = lines
            .get(i + 1)
            .unwrap_or_else(|| panic!("no line after the error\n{self}"));
        next.strip_prefix("hint: ")
            .unwrap_or_else(|| panic!("the line after the error is not a hint: {next:?}\n{self}"))
            .to_string()
    }
}

/// One run of a program (`missive` unless [`Cmd::program`] says otherwise),
/// built up step by step. The child sees none of the caller's `MISSIVE_*`
/// settings and no proxy: only what the test gives it.
#[derive(Debug, Clone)]
pub struct Cmd {
    program: OsString,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    stdin: Option<Vec<u8>>,
    dir: Option<PathBuf>,
    timeout: Duration,
}

impl Cmd {
    /// `missive ARGS`.
    pub fn new<I, S>(args: I) -> Cmd
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        Cmd::program(MISSIVE).args(args)
    }

    /// Another program, for runs `missive` cannot make (another argv[0],
    /// another client).
    pub fn program(program: impl AsRef<OsStr>) -> Cmd {
        Cmd {
            program: program.as_ref().to_os_string(),
            args: Vec::new(),
            env: Vec::new(),
            stdin: None,
            dir: None,
            timeout: RUN_TIMEOUT,
        }
    }

    pub fn arg(mut self, a: impl AsRef<OsStr>) -> Cmd {
        self.args.push(a.as_ref().to_os_string());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Cmd
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|s| s.as_ref().to_os_string()));
        self
    }

    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Cmd {
        self.env
            .push((key.as_ref().to_os_string(), value.as_ref().to_os_string()));
        self
    }

    /// Bytes for standard input (else it is /dev/null).
    pub fn stdin(mut self, bytes: impl AsRef<[u8]>) -> Cmd {
        self.stdin = Some(bytes.as_ref().to_vec());
        self
    }

    /// The working directory (else the test's).
    pub fn current_dir(mut self, dir: impl AsRef<Path>) -> Cmd {
        self.dir = Some(dir.as_ref().to_path_buf());
        self
    }

    /// The deadline (else [`RUN_TIMEOUT`]); a run that passes it fails the test.
    pub fn timeout(mut self, t: Duration) -> Cmd {
        self.timeout = t;
        self
    }

    /// The process to start, its standard streams not set up yet.
    fn command(&self) -> Command {
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.args);
        for (k, _) in std::env::vars_os() {
            let name = k.to_string_lossy().to_ascii_lowercase();
            if name.starts_with("missive_") || name.ends_with("_proxy") {
                cmd.env_remove(&k);
            }
        }
        cmd.env("NO_PROXY", "127.0.0.1,localhost");
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        if let Some(dir) = &self.dir {
            cmd.current_dir(dir);
        }
        cmd
    }

    /// Starts it with stdin from /dev/null and stdout and stderr piped, for a
    /// test that watches it while it runs; end it with [`finish`].
    pub fn spawn(&self) -> Child {
        self.command()
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {:?}: {e}", self.program))
    }

    /// Runs it to its end: standard input written from a thread, stdout and
    /// stderr captured. Panics (showing its output) if it has to be killed
    /// at the deadline.
    #[track_caller]
    pub fn run(&self) -> Output {
        let mut cmd = self.command();
        cmd.stdin(if self.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let start = Instant::now();
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {:?}: {e}", self.program));
        let writer = match (child.stdin.take(), self.stdin.clone()) {
            (Some(mut pipe), Some(bytes)) => Some(std::thread::spawn(move || {
                // the child may exit before reading it all; that is not our failure
                let _ = pipe.write_all(&bytes);
            })),
            _ => None,
        };
        let out = finish(&mut child, None, start, self.timeout);
        if let Some(w) = writer {
            let _ = w.join();
        }
        out
    }
}

/// Runs `missive ARGS` (stdin from /dev/null).
#[track_caller]
pub fn run<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    Cmd::new(args).run()
}

/// Reads `pipe` to its end in a thread (lossily as UTF-8).
pub fn drain(mut pipe: impl Read + Send + 'static) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = pipe.read_to_end(&mut v);
        String::from_utf8_lossy(&v).into_owned()
    })
}

/// Waits for `child`, started at `start` with stdout and stderr piped, and
/// collects its output. Kills it and panics (showing its output) once
/// `limit` has passed since `start`. `stderr`: a thread already reading its
/// stderr, if the caller started one.
#[track_caller]
pub fn finish(
    child: &mut Child,
    stderr: Option<JoinHandle<String>>,
    start: Instant,
    limit: Duration,
) -> Output {
    let out = drain(child.stdout.take().expect("stdout piped"));
    let err = stderr.unwrap_or_else(|| drain(child.stderr.take().expect("stderr piped")));
    let status = loop {
        if let Some(s) = child.try_wait().expect("waiting for the child") {
            break Some(s);
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(POLL);
    };
    let output = Output {
        code: status.and_then(|s| s.code()).unwrap_or(-1),
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
        elapsed: start.elapsed(),
    };
    if status.is_none() {
        panic!("it hung: killed after {limit:?}\n{output}");
    }
    output
}
