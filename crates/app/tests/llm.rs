//! LLM analysis end to end: the real binary against fake OpenAI and Gemini servers on
//! loopback, in `analyze` (each window waits for its call) and in `serve` (the built-in report
//! at once, the LLM's when it comes).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;

use incident_commander::testing::{Received, Reply, fake_receiver_on_a_thread};
use serde_json::{Value, json};

mod common;
use common::server::{PATIENCE, Server};
use common::{BIN, run};

const KEY: &str = "sk-test-0123456789abcdefghijklmn";
const TITLE: &str = "Connection pool of inventory-db exhausted";
const ANSWER: &str = r#"{"title": "Connection pool of inventory-db exhausted",
  "severity": "Critical", "root_cause_service": "inventory-db",
  "impacted_services": ["inventory-db", "order-service"],
  "summary": "inventory-db refuses new connections; dependent services fail with it."}"#;

/// A fake OpenAI-compatible API whose model always gives [`ANSWER`].
fn fake_openai() -> (String, mpsc::Receiver<Received>) {
    fake_receiver_on_a_thread(|_| {
        Reply::Json(json!({
            "choices": [{"index": 0, "message": {"role": "assistant", "content": ANSWER},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": PROMPT_TOKENS, "completion_tokens": 60}
        }))
    })
}

/// What the fake model says each prompt took.
const PROMPT_TOKENS: u64 = 900;

/// Two minutes of normal demo traffic, one of meltdown, then five quiet ones.
fn outage() -> Vec<u8> {
    let args = [
        "demo-logs",
        "--fast",
        "--seed",
        "5",
        "--start",
        "2026-03-01T10:00:00Z",
        "--count",
        &(1200 + 30_000 + 3000).to_string(),
        "--meltdown-after",
        "120",
        "--meltdown-for",
        "60",
    ];
    run(&args, b"").stdout
}

fn reports(stdout: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|err| panic!("{err}: {line}")))
        .collect()
}

fn analyze(args: &[&str], env: &[(&str, &str)], input: &[u8]) -> (Vec<Value>, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("outage.log");
    std::fs::write(&path, input).unwrap();
    let output = Command::new(BIN)
        .args(["analyze", path.to_str().unwrap(), "--format", "json"])
        .args(args)
        .env_remove("IC_LLM_API_KEY")
        .env_remove("OPENAI_API_KEY")
        .env_remove("GEMINI_API_KEY")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{stderr}");
    (reports(&output.stdout), stderr)
}

#[test]
fn analyze_with_openai_has_the_incident_windows_written_by_the_model() {
    let (base, requests) = fake_openai();
    let base_url = format!("{base}/v1");
    let (reports, stderr) = analyze(
        &[
            "--analyzer",
            "openai",
            "--llm-base-url",
            &base_url,
            "--llm-model",
            "fake-model",
        ],
        &[("IC_LLM_API_KEY", KEY)],
        &outage(),
    );
    let requests: Vec<Received> = requests.try_iter().collect();
    assert!(!requests.is_empty(), "the meltdown is asked about");
    for request in &requests {
        assert_eq!(request.path, "/v1/chat/completions");
        assert_eq!(request.headers["authorization"], format!("Bearer {KEY}"));
        assert_eq!(request.body["model"], "fake-model");
    }
    let by_model: Vec<&Value> = reports
        .iter()
        .filter(|r| r["analyzer"] == "openai:fake-model")
        .collect();
    // One report per answer, and only windows of an incident that opened or escalated (or
    // after the refresh time) are asked about: a few calls for thousands of meltdown lines.
    assert_eq!(by_model.len(), requests.len());
    assert!(requests.len() <= 5, "{} calls", requests.len());
    for report in &by_model {
        assert_eq!(report["title"], TITLE);
        assert_eq!(report["severity"], "Critical");
        assert!(report["llm"]["prompt_tokens"].as_u64().unwrap() > 0);
    }
    for report in &reports {
        if report["severity"] == "Info" {
            assert_eq!(report["analyzer"], "builtin", "{report}");
        }
    }
    assert!(
        stderr.contains(TITLE),
        "the incident carries the model's title: {stderr}"
    );
}

#[test]
fn analyze_with_gemini_down_falls_back_and_every_window_is_reported() {
    let (base, requests) = fake_receiver_on_a_thread(|_| Reply::Status(500));
    let input = outage();
    let (builtin, _) = analyze(&[], &[], &input);
    let (reports, stderr) = analyze(
        &["--analyzer", "gemini", "--llm-base-url", &base],
        &[("IC_LLM_API_KEY", KEY)],
        &input,
    );
    assert_eq!(reports.len(), builtin.len(), "one report per window");
    let fallbacks: Vec<&str> = reports
        .iter()
        .filter_map(|r| r["analyzer"].as_str())
        .filter(|a| a.starts_with("builtin (fallback: "))
        .collect();
    assert!(!fallbacks.is_empty(), "{stderr}");
    assert!(
        fallbacks.contains(&"builtin (fallback: HTTP 500)"),
        "{fallbacks:?}"
    );
    for (ours, plain) in reports.iter().zip(&builtin) {
        assert_eq!(ours["title"], plain["title"]);
        assert_eq!(ours["severity"], plain["severity"]);
    }
    let request = requests.try_iter().next().expect("the API was called");
    assert_eq!(
        request.path,
        "/v1beta/models/gemini-2.5-flash:generateContent"
    );
    assert_eq!(request.headers["x-goog-api-key"], KEY);
}

#[test]
fn an_llm_without_a_key_is_refused_with_a_clear_message() {
    let output = Command::new(BIN)
        .args(["analyze", "-", "--analyzer", "openai"])
        .env_remove("IC_LLM_API_KEY")
        .env_remove("OPENAI_API_KEY")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("needs an API key"), "{stderr}");
}

#[test]
fn serve_shows_the_builtin_card_at_once_and_the_llms_when_it_comes() {
    let (base, requests) = fake_openai();
    let base_url = format!("{base}/v1");
    let server = Server::start(
        &["--analyzer", "openai", "--llm-base-url", &base_url],
        &[("IC_LLM_API_KEY", KEY)],
    );
    // The dashboard's stream, read until the card carries the model's title.
    let mut events = Command::new("curl")
        .args(["-sN", "--max-time", "60", &server.url("/api/events")])
        .stdout(Stdio::piped())
        .spawn()
        .expect("curl is needed for this test (apt-get install curl)");
    let stream = BufReader::new(events.stdout.take().unwrap());

    // Live lines: the incident stays open while the LLM answers.
    let now = chrono::Utc::now().to_rfc3339();
    let lines: String = (0..100)
        .map(|i| {
            let message = if i % 10 == 0 {
                format!("Request processed successfully in {i}ms")
            } else {
                "Database Connection Refused: Pool exhausted".to_owned()
            };
            let service = if i % 10 == 0 {
                "frontend-proxy"
            } else {
                "inventory-db"
            };
            let level = if i % 10 == 0 { "INFO" } else { "ERROR" };
            format!(
                "{}\n",
                json!({"timestamp": now, "service": service,
                       "level": level, "message": message})
            )
        })
        .collect();
    let (status, body) = server.post_ndjson(&lines);
    assert_eq!(status, 202, "{body}");

    let request = requests.recv_timeout(PATIENCE).expect("the LLM is asked");
    assert_eq!(request.body["model"], "gpt-4o-mini");
    let updated = stream
        .lines()
        .map_while(Result::ok)
        .find(|line| line.starts_with("data:") && line.contains(TITLE));
    let _ = events.kill();
    let _ = events.wait();
    let updated = updated.expect("the incident card gets the model's title");
    let event: Value = serde_json::from_str(updated.trim_start_matches("data:").trim()).unwrap();
    assert_eq!(event["incident"]["analyzer"], "openai:gpt-4o-mini");

    let metrics = server.metrics();
    for series in [
        "ic_llm_calls_total{analyzer=\"openai:gpt-4o-mini\",outcome=\"ok\"} 1",
        "ic_llm_tokens_total{analyzer=\"openai:gpt-4o-mini\",kind=\"completion\"} 60",
    ] {
        assert!(metrics.contains(series), "{series} missing from {metrics}");
    }

    let (status, stdout) = server.terminate();
    assert!(status.success());
    let reports = reports(stdout.as_bytes());
    let analyzers: Vec<&str> = reports
        .iter()
        .filter(|r| r["window"]["seq"] == 1)
        .map(|r| r["analyzer"].as_str().unwrap())
        .collect();
    assert_eq!(
        analyzers,
        ["builtin", "openai:gpt-4o-mini"],
        "first, then its revision"
    );
}
