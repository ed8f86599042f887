//! `POST /api/logs` and `POST /v1/logs` fed by real clients: `curl`, and the official
//! OpenTelemetry Python SDK with its OTLP/HTTP exporter, against the real binary
//! (`serve --source none`). A missing `curl` or `python3` fails the test, with the reason.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

mod common;
use common::server::{Server, curl, json};

const REPO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
const OTEL_SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/ingest/otel_send.py"
);

fn ndjson(from: usize, lines: usize) -> String {
    (from..from + lines)
        .map(|i| {
            format!(
                "{{\"ts\":\"2026-01-01T00:00:00Z\",\"level\":\"error\",\"service\":\"inventory-db\",\
                 \"msg\":\"Database Connection Refused: Pool exhausted (active={i})\"}}\n"
            )
        })
        .collect()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

fn post_file(
    server: &Server,
    path: &str,
    content_type: &str,
    file: &Path,
    extra: &[&str],
) -> (u16, String) {
    let data = format!("@{}", file.display());
    let content_type = format!("Content-Type: {content_type}");
    let mut args = vec!["-X", "POST", "-H", &content_type, "--data-binary", &data];
    args.extend_from_slice(extra);
    let url = server.url(path);
    args.push(&url);
    curl(&args)
}

/// A counter's value in the Prometheus text, 0 when absent.
fn counter(metrics: &str, series: &str) -> u64 {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn client_curl_sends_ndjson_gzip_arrays_bad_lines_and_oversized_bodies() {
    let server = Server::start(&["--max-body-bytes", "100000"], &[]);
    let plain = server.file("plain.ndjson", ndjson(0, 3).as_bytes());
    let (status, body) = post_file(&server, "/api/logs", "application/x-ndjson", &plain, &[]);
    assert_eq!(
        (status, json(&body)),
        (202, serde_json::json!({"accepted": 3}))
    );

    let zipped = server.file("zipped.ndjson.gz", &gzip(ndjson(3, 500).as_bytes()));
    let (status, body) = post_file(
        &server,
        "/api/logs",
        "application/x-ndjson",
        &zipped,
        &["-H", "Content-Encoding: gzip"],
    );
    assert_eq!((status, json(&body)["accepted"].as_u64()), (202, Some(500)));

    let bad = format!("{}{{\"truncated\": \n{}", ndjson(503, 1), ndjson(504, 1));
    let bad = server.file("bad.ndjson", bad.as_bytes());
    let (status, body) = post_file(&server, "/api/logs", "application/x-ndjson", &bad, &[]);
    let answer = json(&body);
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["accepted"], 2, "{answer}");
    assert_eq!(answer["rejected"][0]["line"], 2, "{answer}");

    let array = server.file(
        "array.json",
        br#"[{"service":"api","msg":"a"},"ERROR checkout: b"]"#,
    );
    let (status, _) = post_file(&server, "/api/logs", "application/json", &array, &[]);
    assert_eq!(status, 202);

    let huge = server.file("huge.ndjson", ndjson(0, 2000).as_bytes());
    let (status, body) = post_file(&server, "/api/logs", "application/x-ndjson", &huge, &[]);
    assert_eq!(status, 413, "{body}");
    assert!(
        json(&body)["error"]
            .as_str()
            .unwrap()
            .contains("100000 bytes")
    );

    assert_eq!(server.logs_processed(), 3 + 500 + 2 + 2);
    let metrics = server.metrics();
    assert_eq!(
        counter(&metrics, "ic_lines_ingested_total{source=\"http\"}"),
        507
    );
    assert_eq!(
        counter(&metrics, "ic_lines_rejected_total{reason=\"malformed\"}"),
        1
    );
    assert_eq!(
        counter(
            &metrics,
            "ic_ingest_requests_rejected_total{reason=\"too_large\"}"
        ),
        1
    );
}

#[test]
fn client_curl_needs_the_token_beyond_loopback() {
    let refused = Server::try_start(&["--listen", "0.0.0.0:0"], &[]).err();
    let refused = refused.expect("no token, no listening beyond loopback");
    assert!(refused.contains("IC_INGEST_TOKEN"), "{refused}");

    let server = Server::start(&["--listen", "0.0.0.0:0"], &[("IC_INGEST_TOKEN", "s3cret")]);
    let lines = server.file("lines.txt", b"ERROR checkout: payment failed\n");
    let (status, body) = post_file(&server, "/api/logs", "text/plain", &lines, &[]);
    assert_eq!(status, 401, "{body}");
    let (status, _) = post_file(
        &server,
        "/api/logs",
        "text/plain",
        &lines,
        &["-H", "Authorization: Bearer wrong"],
    );
    assert_eq!(status, 401);
    let (status, _) = post_file(
        &server,
        "/api/logs",
        "text/plain",
        &lines,
        &["-H", "Authorization: Bearer s3cret"],
    );
    assert_eq!(status, 202);
    assert_eq!(server.logs_processed(), 1);
    let metrics = server.metrics();
    assert_eq!(
        counter(
            &metrics,
            "ic_ingest_requests_rejected_total{reason=\"unauthorized\"}"
        ),
        2
    );
}

#[test]
fn client_curl_sends_otlp_json() {
    let server = Server::start(&[], &[]);
    let body = serde_json::json!({"resourceLogs": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "checkout"}}]},
        "scopeLogs": [{"logRecords": [
            {"timeUnixNano": "1767225600000000000", "severityNumber": 17,
             "body": {"stringValue": "payment gateway timeout"},
             "attributes": [{"key": "attempt", "value": {"intValue": "3"}}]},
            {"severityText": "WARN", "body": {"stringValue": "retrying"}}
        ]}]
    }]});
    let file = server.file("otlp.json", body.to_string().as_bytes());
    let (status, answer) = post_file(&server, "/v1/logs", "application/json", &file, &[]);
    assert_eq!(status, 200, "{answer}");
    assert!(json(&answer).is_object(), "{answer}");
    assert_eq!(server.logs_processed(), 2);
    assert_eq!(
        counter(
            &server.metrics(),
            "ic_lines_ingested_total{source=\"otlp\"}"
        ),
        2
    );
}

/// The Python of a virtualenv with the OpenTelemetry SDK and OTLP/HTTP exporter, created at
/// the repository's `.venv-otel` when missing.
fn otel_python() -> PathBuf {
    let venv = Path::new(REPO).join(".venv-otel");
    let python = venv.join("bin/python");
    let has_sdk = |python: &Path| {
        Command::new(python)
            .args([
                "-c",
                "import opentelemetry.sdk._logs, opentelemetry.exporter.otlp.proto.http",
            ])
            .status()
            .is_ok_and(|s| s.success())
    };
    if has_sdk(&python) {
        return python;
    }
    let created = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .status()
        .unwrap_or_else(|err| panic!("python3 is needed for the OpenTelemetry SDK test: {err}"));
    assert!(
        created.success(),
        "python3 -m venv {} failed",
        venv.display()
    );
    let installed = Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "-q",
            "opentelemetry-sdk",
            "opentelemetry-exporter-otlp-proto-http",
        ])
        .status()
        .unwrap();
    assert!(
        installed.success(),
        "pip could not install the OpenTelemetry SDK"
    );
    assert!(has_sdk(&python), "the OpenTelemetry SDK does not import");
    python
}

#[test]
fn client_otel_python_sdk_exports_protobuf_plain_and_gzipped() {
    let python = otel_python();
    let server = Server::start(&[], &[]);
    let endpoint = server.url("/v1/logs");
    for (count, mode) in [(250, "plain"), (120, "gzip")] {
        let out = Command::new(&python)
            .args([OTEL_SCRIPT, &endpoint, &count.to_string(), mode])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "the SDK's exports failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(server.logs_processed(), 370);
    assert_eq!(
        counter(
            &server.metrics(),
            "ic_lines_ingested_total{source=\"otlp\"}"
        ),
        370
    );
}

#[test]
fn sigterm_stops_the_endpoints_and_every_accepted_line_is_reported() {
    let server = Server::start(&[], &[]);
    let lines = server.file("lines.ndjson", ndjson(0, 250).as_bytes());
    let (status, _) = post_file(&server, "/api/logs", "application/x-ndjson", &lines, &[]);
    assert_eq!(status, 202);
    let (exit, stdout) = server.terminate();
    assert!(exit.success(), "{exit:?}");
    let reported: u64 = stdout
        .lines()
        .map(|line| json(line)["window"]["log_count"].as_u64().unwrap())
        .sum();
    assert_eq!(reported, 250, "every accepted line in exactly one window");
}
