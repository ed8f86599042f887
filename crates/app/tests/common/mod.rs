//! Running the real binary, shared by the end-to-end tests.

// Each test file is its own crate and uses only some of these.
#![allow(dead_code)]

pub mod server;

use std::io::Write;
use std::process::{Command, Output, Stdio};

use incident_commander::testing::{Received, Reply, fake_receiver_on_a_thread};

pub const BIN: &str = env!("CARGO_BIN_EXE_incident-commander");

/// Runs the binary with `args`, writes `stdin` to it, and waits for it to end.
pub fn run(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let mut input = child.stdin.take().unwrap();
    let stdin = stdin.to_vec();
    // A separate writer: the child may fill its stdout pipe before reading all of its input.
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&stdin);
    });
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap();
    output
}

/// What `stats --db` says of a database.
pub fn stats(db: &str) -> serde_json::Value {
    let output = run(&["stats", "--db", db, "--json"], b"");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// Waits until the database holds `lines` analyzed lines, or `patience` runs out; what it
/// holds then.
pub fn wait_for_lines(db: &str, lines: u64, patience: std::time::Duration) -> serde_json::Value {
    let deadline = std::time::Instant::now() + patience;
    loop {
        let stats = stats(db);
        if stats["lines_analyzed"].as_u64() >= Some(lines) || std::time::Instant::now() > deadline {
            return stats;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// A process's peak resident memory so far (`VmHWM`), in MiB.
pub fn peak_rss_mib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .expect("Linux reports VmHWM");
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap();
    kib / 1024
}

/// A webhook target that answers 200; every request it gets comes out of the channel.
pub fn webhook() -> (String, std::sync::mpsc::Receiver<Received>) {
    let (base, requests) = fake_receiver_on_a_thread(|_| Reply::Status(200));
    (format!("{base}/hook"), requests)
}

/// [`run`], which must succeed.
pub fn run_ok(args: &[&str], stdin: &[u8]) -> Output {
    let output = run(args, stdin);
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// `demo-logs` traffic: two minutes of normal traffic, a meltdown of `minutes`, then five quiet
/// minutes; as fast as it can be written, timestamps spaced as the live demo would space them.
pub fn outage(start: &str, minutes: u32) -> Vec<u8> {
    let meltdown = (minutes * 60).to_string();
    let count = (120 * 10 + minutes * 60 * 500 + 300 * 10).to_string();
    let args = [
        "demo-logs",
        "--fast",
        "--seed",
        "3",
        "--start",
        start,
        "--count",
        &count,
        "--meltdown-after",
        "120",
        "--meltdown-for",
        &meltdown,
    ];
    run_ok(&args, b"").stdout
}

/// A SQLite database in `dir`, as `--db` takes it.
pub fn db_url(dir: &tempfile::TempDir) -> String {
    format!("sqlite://{}", dir.path().join("incidents.db").display())
}
