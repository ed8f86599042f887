//! The command line as users and scripts call it: the real binary, real pipes.

use serde_json::Value;

mod common;
use common::run;
use common::server::Server;

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/mixed.log");

fn json_lines(out: &[u8]) -> Vec<Value> {
    String::from_utf8(out.to_vec())
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .collect()
}

/// Lines over every window of these reports.
fn events_in(reports: &[Value]) -> u64 {
    reports
        .iter()
        .map(|r| r["window"]["log_count"].as_u64().unwrap())
        .sum()
}

fn demo_logs(extra: &[&str]) -> Vec<u8> {
    let mut args = vec![
        "demo-logs",
        "--fast",
        "--seed",
        "7",
        "--start",
        "2026-01-01T00:00:00Z",
    ];
    args.extend_from_slice(extra);
    let out = run(&args, b"");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
fn demo_logs_piped_into_analyze_gives_one_report_per_window_and_finds_the_meltdown() {
    let logs = demo_logs(&["--count", "3000", "--meltdown-after", "120"]);
    assert_eq!(logs.iter().filter(|b| **b == b'\n').count(), 3000);
    let out = run(&["analyze", "--format", "json"], &logs);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reports = json_lines(&out.stdout);
    let total = events_in(&reports);
    assert_eq!(total, 3000, "every line in exactly one window");

    let meltdown_start = "2026-01-01T00:02:00";
    let (before, during): (Vec<&Value>, Vec<&Value>) = reports
        .iter()
        .partition(|r| r["window"]["start"].as_str().unwrap() < meltdown_start);
    assert!(before.iter().all(|r| r["severity"] != "Critical"));
    let first = during.first().expect("meltdown windows");
    assert_eq!(first["severity"], "Critical", "{first:#}");
    assert_eq!(first["root_cause"]["service"], "inventory-db");
    assert_eq!(first["impacted_services"][0], "inventory-db");
    for key in [
        "title",
        "summary",
        "noise_reduction_ratio",
        "templates",
        "analyzer",
    ] {
        assert!(!first[key].is_null(), "{key} missing");
    }

    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("3000 lines"),
        "final summary on stderr: {stderr}"
    );
    assert!(stderr.contains("critical"), "{stderr}");
}

#[test]
fn analyze_ends_with_the_incidents_it_found() {
    let logs = demo_logs(&[
        "--count",
        "40000",
        "--meltdown-after",
        "60",
        "--meltdown-for",
        "30",
    ]);
    let out = run(&["analyze", "--format", "json"], &logs);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("Incidents: 1\n"), "{stderr}");
    assert!(stderr.contains("resolved inventory-db failing"), "{stderr}");
    let reports = json_lines(&out.stdout);
    assert!(
        reports.iter().all(|r| r.get("title").is_some()),
        "stdout holds only reports"
    );

    let out = run(
        &["analyze", "--format", "text", "--min-severity", "critical"],
        &logs,
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("Incidents: 1\n"), "{text}");
}

#[test]
fn analyze_reads_a_file_of_mixed_formats_without_losing_a_line() {
    let out = run(&["analyze", FIXTURE, "--format", "json"], b"");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reports = json_lines(&out.stdout);
    let events = events_in(&reports);
    assert_eq!(
        events, 9,
        "13 lines, the stack trace joined into one event: {reports:#?}"
    );
    let services: Vec<String> = reports
        .iter()
        .flat_map(|r| r["templates"].as_array().unwrap().iter())
        .flat_map(|t| t["services"].as_array().unwrap().iter())
        .map(|s| s.as_str().unwrap().to_owned())
        .collect();
    for service in ["checkout", "inventory-db", "payments", "sshd"] {
        assert!(
            services.iter().any(|s| s == service),
            "{service} not in {services:?}"
        );
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("13 lines (9 events)"), "{stderr}");
}

#[test]
fn binary_input_is_analyzed_with_a_warning_that_counts_its_lines() {
    let mut input = b"2026-01-01T00:00:00Z INFO [api] started\n".to_vec();
    input.extend_from_slice(b"\x7fELF\x02\x01\x01\0\0\0\n\xff\xfe binary\n");
    let out = run(&["analyze", "--format", "json"], &input);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("not text"), "{stderr}");
    assert!(stderr.contains("2 of 3 lines were not text"), "{stderr}");
    assert_eq!(
        events_in(&json_lines(&out.stdout)),
        3,
        "every line is still analyzed"
    );

    let text = run(
        &["analyze", "--format", "json"],
        b"2026-01-01T00:00:00Z INFO [api] ok\n",
    );
    assert!(!String::from_utf8_lossy(&text.stderr).contains("not text"));
}

#[test]
fn text_format_is_readable() {
    let logs = demo_logs(&["--count", "600", "--meltdown"]);
    let out = run(
        &["analyze", "--format", "text", "--min-severity", "critical"],
        &logs,
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("CRITICAL inventory-db failing"), "{text}");
    assert!(!text.contains('\u{1b}'), "NO_COLOR is honoured");
}

#[test]
fn templates_assign_prints_one_line_per_input_line() {
    let input = std::fs::read(FIXTURE).unwrap();
    let out = run(&["templates", "--assign", "-"], &input);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.lines().count(), 13);
    let ids: Vec<&str> = text
        .lines()
        .map(|l| l.split('\t').next().unwrap())
        .collect();
    assert_eq!(
        ids[1], ids[3],
        "the same message in JSON and in syslog: {text}"
    );
    assert!(text.lines().all(|l| l.split('\t').count() == 2));
}

#[test]
fn bad_input_gets_a_clear_error() {
    let out = run(&["analyze", "/no/such/file.log"], b"");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot open /no/such/file.log"), "{stderr}");

    let out = run(&["serve", "--source", "kafka"], b"");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("expected demo, stdin, file:PATH or nats")
    );

    let out = run(&["analyze", "--window-events", "0"], b"");
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least 1 event"));
}

#[test]
fn help_explains_every_command() {
    let out = run(&["--help"], b"");
    let help = String::from_utf8(out.stdout).unwrap();
    for command in ["serve", "analyze", "templates", "demo-logs"] {
        assert!(help.contains(command), "{help}");
    }
    let commands = [
        "serve",
        "analyze",
        "templates",
        "demo-logs",
        "incidents",
        "stats",
    ];
    for command in commands {
        let out = run(&[command, "--help"], b"");
        let help = String::from_utf8(out.stdout).unwrap();
        assert!(out.status.success(), "{command} --help");
        for line in help.lines() {
            assert!(
                line.matches("[default:").count() <= 1,
                "{command} --help says a default twice: {line}"
            );
        }
    }
}

/// `serve --source stdin` with this crate's debug logs, once it listens.
fn serve_stdin(extra: &[&str]) -> Server {
    let args = [&["--source", "stdin"], extra].concat();
    Server::start(&args, &[("IC_LOG", "incident_commander=debug")])
}

#[test]
fn serve_on_stdin_reports_and_exits_when_the_input_ends() {
    let mut server = serve_stdin(&[]);
    server.send(&std::fs::read(FIXTURE).unwrap());
    let (status, stdout) = server.close_stdin_and_wait();
    assert!(status.success());
    let events = events_in(&json_lines(stdout.as_bytes()));
    assert_eq!(events, 9);
}

#[test]
fn sigterm_flushes_the_open_window_and_exits_zero() {
    let mut server = serve_stdin(&["--window-secs", "3600"]);
    server.send(b"level=error service=db msg=\"disk full\"\n");
    server.wait_for_log("Window opened.");
    let (status, stdout) = server.terminate();
    assert!(status.success(), "exit code 0 after SIGTERM");
    let reports = json_lines(stdout.as_bytes());
    assert_eq!(reports.len(), 1, "{stdout}");
    assert_eq!(reports[0]["window"]["flush"], "end");
    assert_eq!(reports[0]["window"]["log_count"], 1);
}
