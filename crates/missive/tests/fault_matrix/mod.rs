//! The fault matrix (issue 14): every stage of the conversation (greeting,
//! EHLO, STARTTLS, the TLS handshake, AUTH, MAIL, RCPT, DATA, BDAT, the end
//! of data, QUIT) times every fault (the connection dropped, a 4xx, a 5xx, a
//! stall past the timeout, garbage, an oversized reply, 421), for relay,
//! direct delivery and the outbox (relay through `queue flush`, [`outbox`]),
//! each cell a run of the real `missive` binary against a scripted server
//! ([`crate::support::fake_smtp`]).
//!
//! Each cell asserts the exit code, the error line (it names the reply or
//! what went wrong), that nothing was sent that should not have been (no
//! body before a 354, no credentials before verified TLS), and that the
//! command ended within a bound of its timeout. The matrix is printed as a
//! table (`cargo test … fault_matrix -- --nocapture` shows it on success;
//! it is also written to `target/tmp/fault-matrix.txt`).
//!
//! Direct delivery points missive's MX lookups at the testbed's dnsmasq
//! (`example2.test` has one MX host, 127.0.0.1) and its MX port at the
//! scripted server; without the testbed that half is skipped.

mod outbox;

use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

use missive_smtp::Command;

use crate::support::fake_smtp::{ca_file, Conn, Log, Script, Server, Step, BODY, FROM};
use crate::support::testbed::{dns_server, testbed_with_dns};
use crate::support::*;

const PASSWORD: &str = "matrix-secret-7c1e";
/// `--timeout` of every cell.
const TIMEOUT: u64 = 2;
/// Cells run at once.
const WORKERS: usize = 6;
/// The recipient of direct delivery: its domain's one MX host is 127.0.0.1.
const DIRECT_TO: &str = "bob@example2.test";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    Greeting,
    Ehlo,
    StartTls,
    Handshake,
    Auth,
    Mail,
    Rcpt,
    Data,
    Bdat,
    EndOfData,
    Quit,
}

const STAGES: [Stage; 11] = [
    Stage::Greeting,
    Stage::Ehlo,
    Stage::StartTls,
    Stage::Handshake,
    Stage::Auth,
    Stage::Mail,
    Stage::Rcpt,
    Stage::Data,
    Stage::Bdat,
    Stage::EndOfData,
    Stage::Quit,
];

impl Stage {
    fn name(self) -> &'static str {
        match self {
            Stage::Greeting => "greeting",
            Stage::Ehlo => "EHLO",
            Stage::StartTls => "STARTTLS",
            Stage::Handshake => "TLS handshake",
            Stage::Auth => "AUTH",
            Stage::Mail => "MAIL",
            Stage::Rcpt => "RCPT",
            Stage::Data => "DATA",
            Stage::Bdat => "BDAT LAST",
            Stage::EndOfData => "end of data",
            Stage::Quit => "QUIT",
        }
    }

    /// Whether the message body may have left when the fault comes.
    fn body_may_be_sent(self) -> bool {
        matches!(self, Stage::Bdat | Stage::EndOfData | Stage::Quit)
    }

    /// The temporary and the permanent refusal the server gives here.
    fn refusals(self) -> (&'static str, &'static str) {
        match self {
            Stage::Greeting => ("451 4.3.2 busy, try later", "554 5.3.2 no service here"),
            Stage::Ehlo => ("451 4.3.0 try later", "554 5.7.1 go away"),
            Stage::StartTls => ("454 4.7.0 TLS not available", "554 5.7.3 no TLS"),
            Stage::Auth => (
                "454 4.7.0 Temporary authentication failure",
                "535 5.7.8 Authentication credentials invalid",
            ),
            Stage::Mail => ("451 4.3.0 sender check failed", "550 5.7.1 sender refused"),
            Stage::Rcpt => ("450 4.2.1 mailbox busy", "550 5.1.1 user unknown"),
            Stage::Data => ("451 4.3.0 try DATA later", "554 5.5.1 no DATA for you"),
            Stage::Bdat | Stage::EndOfData => {
                ("451 4.3.0 error in processing", "554 5.7.1 rejected")
            }
            Stage::Handshake | Stage::Quit => ("451 4.3.0 later", "554 5.0.0 no"),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    Drop,
    Temp,
    Perm,
    Stall,
    Garbage,
    Oversized,
    Closing,
}

const FAULTS: [Fault; 7] = [
    Fault::Drop,
    Fault::Temp,
    Fault::Perm,
    Fault::Stall,
    Fault::Garbage,
    Fault::Oversized,
    Fault::Closing,
];

impl Fault {
    fn name(self) -> &'static str {
        match self {
            Fault::Drop => "dropped",
            Fault::Temp => "4xx",
            Fault::Perm => "5xx",
            Fault::Stall => "stall",
            Fault::Garbage => "garbage",
            Fault::Oversized => "oversized",
            Fault::Closing => "421",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Route {
    Relay,
    Direct,
    /// The relay's message queued, then delivered by `queue flush`.
    Outbox,
}

const GARBAGE: &str = "\u{1}\u{2}this is not SMTP at all\r\n";

fn oversized(code: u16) -> String {
    format!("{code}-{}\r\n", "x".repeat(100 * 1024))
}

/// The server's side of the fault, where its reply would go.
fn inflict(c: &mut Conn, stage: Stage, fault: Fault) -> Step {
    let (temp, perm) = stage.refusals();
    match fault {
        Fault::Drop => Step::Close,
        Fault::Temp => {
            c.reply(temp);
            Step::Next
        }
        Fault::Perm => {
            c.reply(perm);
            Step::Next
        }
        Fault::Stall => Step::Stall,
        Fault::Garbage => {
            c.send(GARBAGE);
            Step::Stall
        }
        Fault::Oversized => {
            c.send(&oversized(250));
            Step::Stall
        }
        Fault::Closing => {
            c.reply("421 4.3.2 Service shutting down");
            Step::Close
        }
    }
}

fn script(route: Route, stage: Stage, fault: Fault) -> Script {
    let mut caps = vec![
        "8BITMIME",
        "SIZE 10240000",
        "ENHANCEDSTATUSCODES",
        "STARTTLS",
    ];
    if route == Route::Relay {
        caps.push("AUTH PLAIN LOGIN");
    }
    if stage == Stage::Bdat {
        caps.push("CHUNKING");
    }
    let s = Script::new().caps(&caps);
    if stage == Stage::Greeting {
        let (temp, perm) = stage.refusals();
        return match fault {
            Fault::Drop => s.greeting_then_close(""),
            Fault::Temp => s.greeting(Some(&format!("{temp}\r\n"))),
            Fault::Perm => s.greeting(Some(&format!("{perm}\r\n"))),
            Fault::Stall => s.greeting(None),
            Fault::Garbage => s.greeting(Some(GARBAGE)),
            Fault::Oversized => s.greeting(Some(&oversized(220))),
            Fault::Closing => s.greeting_then_close("421 4.3.2 too busy\r\n"),
        };
    }
    s.on(move |c, cmd| match (stage, cmd) {
        (Stage::Ehlo, Command::Ehlo(_)) if !c.is_secure() => inflict(c, stage, fault),
        (Stage::StartTls, Command::StartTls) => inflict(c, stage, fault),
        (Stage::Handshake, Command::StartTls) => {
            c.reply("220 2.0.0 Ready to start TLS");
            // Garbage only once the ClientHello came: sent with the 220 it
            // would be plaintext injected before the handshake, which the
            // client refuses as such (a protocol error, tested elsewhere).
            if matches!(fault, Fault::Garbage | Fault::Oversized) {
                c.read_raw(1);
            }
            match fault {
                Fault::Drop => Step::Close,
                Fault::Garbage => {
                    c.send(GARBAGE);
                    Step::Stall
                }
                Fault::Oversized => {
                    c.send(&"x".repeat(100 * 1024));
                    Step::Stall
                }
                _ => Step::Stall,
            }
        }
        (Stage::Auth, Command::Auth { .. }) => inflict(c, stage, fault),
        (Stage::Mail, Command::Mail { .. }) => inflict(c, stage, fault),
        (Stage::Rcpt, Command::Rcpt { .. }) => inflict(c, stage, fault),
        (Stage::Data, Command::Data) => inflict(c, stage, fault),
        (Stage::EndOfData, Command::Data) => {
            c.reply("354 End data with <CR><LF>.<CR><LF>");
            match c.read_body() {
                None => Step::Close,
                Some(_) => inflict(c, stage, fault),
            }
        }
        (Stage::Bdat, Command::Bdat { size, .. }) => {
            c.read_raw(*size as usize);
            inflict(c, stage, fault)
        }
        (Stage::Quit, Command::Quit) => inflict(c, stage, fault),
        _ => Step::Default,
    })
}

/// What a cell must come to.
struct Expect {
    code: i32,
    /// In the first error line (nothing for a success).
    needle: &'static str,
}

/// `None`: the fault has no meaning at this stage. (The outbox's cells
/// start from the relay's: [`outbox::fate`].)
fn expect(route: Route, stage: Stage, fault: Fault) -> Option<Expect> {
    use Fault::*;
    use Stage::*;
    let route = match route {
        Route::Outbox => Route::Relay,
        r => r,
    };
    let (temp, perm) = stage.refusals();
    let e = |code, needle| Some(Expect { code, needle });
    if stage == Handshake && matches!(fault, Temp | Perm | Closing) {
        return None;
    }
    if route == Route::Direct && stage == Auth {
        return None;
    }
    if stage == Quit {
        // The message was accepted at the end of data: QUIT cannot undo it.
        return e(0, "");
    }
    let direct = route == Route::Direct;
    match (stage, fault) {
        (_, Stall) if stage == Handshake => e(75, "timed out"),
        (_, Stall) => e(75, "timed out"),
        (Handshake, _) if direct => e(75, "not delivered"),
        (Handshake, _) => e(77, "TLS with"),
        // Opportunistic TLS (direct): a refused STARTTLS means plaintext.
        (StartTls, Temp | Perm) if direct => e(0, ""),
        (StartTls, Temp) => e(77, &temp[..3]),
        (StartTls, Perm) => e(77, &perm[..3]),
        (_, Temp) => e(75, &temp[..3]),
        (_, Perm) if stage == Auth => e(77, &perm[..3]),
        (_, Perm) => e(69, &perm[..3]),
        (_, Closing) => e(75, "421"),
        (_, Drop) => e(75, "connection"),
        (_, Garbage | Oversized) if direct => e(75, "protocol"),
        (_, Garbage | Oversized) => e(76, "protocol"),
    }
}

/// What one cell came to.
struct Cell {
    route: Route,
    stage: Stage,
    fault: Fault,
    /// None: not applicable; else the table's text, or what went wrong.
    result: Option<Result<String, String>>,
}

fn run_cell(route: Route, stage: Stage, fault: Fault, mx_ok: bool) -> Cell {
    let mut cell = Cell {
        route,
        stage,
        fault,
        result: None,
    };
    let Some(want) = expect(route, stage, fault) else {
        return cell;
    };
    if route == Route::Direct && !mx_ok {
        return cell;
    }
    if route == Route::Outbox {
        cell.result = Some(outbox::run_cell(stage, fault, &want));
        return cell;
    }
    let server = Server::start(script(route, stage, fault));
    let timeout = TIMEOUT.to_string();
    let out = match route {
        Route::Relay => server
            .client()
            .args(&[
                "--tls",
                "starttls",
                "--cafile",
                &ca_file(),
                "--user",
                FROM,
                "--password-env",
                "MATRIX_PW",
                "--timeout",
                &timeout,
            ])
            .env("MATRIX_PW", PASSWORD)
            .run(),
        Route::Direct => Cmd::new([
            "send",
            "--dns-server",
            &dns_server(),
            "--mx-port",
            &server.port.to_string(),
            "--from",
            FROM,
            "--to",
            DIRECT_TO,
            "--ehlo",
            "client.test",
            "--subject",
            "fault matrix",
            "--body",
            BODY,
            "--timeout",
            &timeout,
        ])
        .run(),
        Route::Outbox => unreachable!("run above"),
    };
    let log = server.finish();
    cell.result = Some(
        check(stage, fault, &want, &out, &log)
            .map(|()| format!("{} ok {:.1}s", out.code, out.elapsed.as_secs_f32())),
    );
    cell
}

fn check(stage: Stage, fault: Fault, want: &Expect, out: &Output, log: &Log) -> Result<(), String> {
    let mut problems = Vec::new();
    if out.code != want.code {
        problems.push(format!("exit {} (expected {})", out.code, want.code));
    }
    let lines: Vec<&str> = out.stderr.lines().collect();
    if want.code != 0 {
        match lines.first() {
            None => problems.push("no error line".into()),
            Some(first) => {
                if !lines
                    .iter()
                    .all(|l| l.starts_with("missive: ") || l.starts_with("hint: "))
                {
                    problems.push("stderr has lines that are neither error nor hint".into());
                }
                if !first.contains(want.needle) {
                    problems.push(format!("the error line lacks {:?}", want.needle));
                }
            }
        }
    }
    problems.extend(check_log(stage, want.code, log));
    // The client already used STARTTLS: a hint to use it would mislead.
    if stage == Stage::Handshake && out.stderr.contains("use --tls starttls") {
        problems.push("a hint to use the STARTTLS the client already used".into());
    }
    if out.elapsed > bound(fault) {
        problems.push(format!("took {:?} (bound {:?})", out.elapsed, bound(fault)));
    }
    match problems.is_empty() {
        true => Ok(()),
        false => Err(format!("{}\n{out}", problems.join("; "))),
    }
}

/// How long a run may take: the stall's timeout and a margin.
fn bound(fault: Fault) -> Duration {
    match fault {
        Fault::Stall => Duration::from_secs(TIMEOUT + 6),
        _ => Duration::from_secs(10),
    }
}

/// What the server received that it should not have: the body without a
/// 354 (when the cell is not a success, `code` 0), credentials before TLS,
/// AUTH after a failed TLS setup.
fn check_log(stage: Stage, code: i32, log: &Log) -> Vec<String> {
    let mut problems = Vec::new();
    // Nothing that should not have been sent.
    let body_line = BODY.trim_end();
    if !stage.body_may_be_sent() && code != 0 {
        // (At the handshake the raw bytes read are the ClientHello.)
        if !log.messages.is_empty()
            || (log.raw_body_bytes > 0 && stage != Stage::Handshake)
            || log.lines.iter().any(|l| l.contains(body_line))
        {
            problems.push("the body was sent without a 354".into());
        }
    }
    let secret_b64 = base64_encode(format!("\0{FROM}\0{PASSWORD}").as_bytes());
    for (i, l) in log.lines.iter().enumerate() {
        let is_auth = l.to_ascii_uppercase().starts_with("AUTH") || l.contains(&secret_b64);
        if is_auth && log.tls_at.is_none_or(|t| i < t) {
            problems.push(format!("credentials before TLS: {l:?}"));
        }
    }
    if matches!(
        stage,
        Stage::Greeting | Stage::Ehlo | Stage::StartTls | Stage::Handshake
    ) && log.has_verb("AUTH")
    {
        problems.push("AUTH after a failed TLS setup".into());
    }
    problems
}

/// The matrix of one route as a table.
fn table(route: Route, cells: &[Cell]) -> String {
    let what = match route {
        Route::Outbox => outbox::LEGEND,
        _ => "exit code and time per cell",
    };
    let mut s = format!(
        "\n{route:?}: {what} (FAIL: a check failed), `-` not applicable, `skip` without the testbed\n"
    );
    let _ = write!(s, "{:<14}", "stage");
    for f in FAULTS {
        let _ = write!(s, "| {:<12}", f.name());
    }
    s.push('\n');
    s.push_str(&"-".repeat(14 + 14 * FAULTS.len()));
    s.push('\n');
    for stage in STAGES {
        let _ = write!(s, "{:<14}", stage.name());
        for fault in FAULTS {
            let cell = cells
                .iter()
                .find(|c| c.route == route && c.stage == stage && c.fault == fault)
                .expect("every cell ran");
            let text = match &cell.result {
                None if expect(route, stage, fault).is_none() => "-",
                None => "skip",
                Some(Ok(text)) => text.as_str(),
                Some(Err(_)) => "FAIL",
            };
            let _ = write!(s, "| {text:<12}");
        }
        s.push('\n');
    }
    s
}

#[test]
fn fault_matrix() {
    let mx_ok = testbed_with_dns().is_some();
    let mut todo: Vec<(Route, Stage, Fault)> = Vec::new();
    for route in [Route::Relay, Route::Direct, Route::Outbox] {
        for stage in STAGES {
            for fault in FAULTS {
                todo.push((route, stage, fault));
            }
        }
    }
    // The slow cells first, so they overlap with the rest.
    todo.sort_by_key(|&(_, _, f)| f != Fault::Stall);
    let queue = Mutex::new(todo.into_iter());
    let done = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..WORKERS {
            s.spawn(|| loop {
                let next = queue.lock().unwrap().next();
                let Some((route, stage, fault)) = next else {
                    return;
                };
                let cell = run_cell(route, stage, fault, mx_ok);
                done.lock().unwrap().push(cell);
            });
        }
    });
    let cells = done.into_inner().unwrap();
    let mut report = table(Route::Relay, &cells);
    report.push_str(&table(Route::Direct, &cells));
    report.push_str(&table(Route::Outbox, &cells));
    println!("{report}");
    let saved = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("fault-matrix.txt");
    let _ = std::fs::write(&saved, &report);
    let failures: Vec<String> = cells
        .iter()
        .filter_map(|c| match &c.result {
            Some(Err(e)) => Some(format!(
                "--- {:?} {} × {}: {e}",
                c.route,
                c.stage.name(),
                c.fault.name()
            )),
            _ => None,
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} cell(s) failed:\n{}\n{report}",
        failures.len(),
        failures.join("\n")
    );
}
