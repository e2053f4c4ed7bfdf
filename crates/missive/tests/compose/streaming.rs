//! Attachments stream from disk to socket in bounded memory.

use std::time::{Duration, Instant};

use crate::support::process::{drain, RUN_TIMEOUT};

use super::*;

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
    let mut child = Cmd::new([
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
    .spawn();
    let pid = child.id();
    let out = drain(child.stdout.take().expect("stdout"));
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
    let _ = out.join();
    let stderr = err.join().unwrap_or_default();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(peak > 0, "could not read VmHWM of pid {pid}");
    eprintln!("peak RSS of missive sending 50 MB: {peak} KiB");
    assert!(
        peak < 64 * 1024,
        "peak RSS {peak} KiB for a 50 MB attachment"
    );
}
