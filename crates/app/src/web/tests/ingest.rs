//! `/api/logs` and `/v1/logs` called in-process: formats, limits, backpressure, the token.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use axum::response::Response;
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use prost::Message;
use serde_json::Value;
use tokio::sync::{mpsc, watch};
use tower::ServiceExt;

use crate::pipeline::{Envelope, SharedCounters};
use crate::sources::demo::DemoState;
use crate::web::*;

struct Harness {
    app: Router,
    rx: mpsc::Receiver<Envelope>,
    counters: SharedCounters,
    gate: Arc<IngestGate>,
}

/// The whole app on a channel of `capacity` chunks, nothing reading it.
async fn harness(capacity: usize, limits: IngestSettings) -> Harness {
    let store: Arc<dyn ic_store::Store> =
        Arc::new(ic_store::open("sqlite::memory:").await.unwrap());
    let (demo, _) = watch::channel(DemoState {
        running: true,
        meltdown: false,
        rate: None,
    });
    let counters = SharedCounters::default();
    let live = Live::new(counters.clone(), Some(demo));
    let (control, _) = mpsc::channel(4);
    let state = AppState {
        writes: Default::default(),
        journal: None,
        live,
        store,
        control,
        metrics: crate::metrics::handle().unwrap(),
        shutdown: CancellationToken::new(),
        nats: None,
        silences: Default::default(),
    };
    let (tx, rx) = mpsc::channel(capacity);
    let gate = IngestGate::new(tx);
    let ingest = Ingest::new(gate.clone(), counters.clone(), &limits);
    Harness {
        app: app(state, ingest, &limits),
        rx,
        counters,
        gate,
    }
}

async fn default_harness() -> Harness {
    harness(64, IngestSettings::default()).await
}

fn post(path: &str, content_type: &str, body: impl Into<Body>) -> Request<Body> {
    Request::post(path)
        .header(header::CONTENT_TYPE, content_type)
        .body(body.into())
        .unwrap()
}

async fn call(h: &Harness, request: Request<Body>) -> (StatusCode, Response) {
    let response = h.app.clone().oneshot(request).await.unwrap();
    (response.status(), response)
}

async fn json_of(response: Response) -> Value {
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// Every event waiting in the channel.
fn drain(h: &mut Harness) -> Vec<ic_core::LogEvent> {
    std::iter::from_fn(|| h.rx.try_recv().ok())
        .flat_map(|envelope| envelope.events)
        .collect()
}

fn ndjson(lines: usize) -> String {
    (0..lines)
        .map(|i| format!("{{\"level\":\"error\",\"service\":\"db\",\"msg\":\"refused {i}\"}}\n"))
        .collect()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

#[tokio::test]
async fn ndjson_is_accepted_counted_and_queued() {
    let mut h = default_harness().await;
    let (status, response) = call(&h, post("/api/logs", "application/x-ndjson", ndjson(3))).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(json_of(response).await, serde_json::json!({"accepted": 3}));
    let events = drain(&mut h);
    assert_eq!(events.len(), 3);
    assert_eq!(events[2].message, "refused 2");
    assert_eq!(events[2].service, "db");
    assert_eq!((h.counters.lines(), h.counters.events()), (3, 3));
}

#[tokio::test]
async fn gzip_bodies_arrays_and_text_are_read() {
    let mut h = default_harness().await;
    let mut request = post(
        "/api/logs",
        "application/x-ndjson",
        gzip(ndjson(5).as_bytes()),
    );
    request
        .headers_mut()
        .insert(header::CONTENT_ENCODING, "gzip".parse().unwrap());
    assert_eq!(call(&h, request).await.0, StatusCode::ACCEPTED);
    let array = r#"[{"service":"api","message":"a"},"ERROR db: b"]"#;
    let (status, response) = call(&h, post("/api/logs", "application/json", array)).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(json_of(response).await["accepted"], 2);
    let text = "ERROR boom\n  at a.b(C.java:1)\n";
    assert_eq!(
        call(&h, post("/api/logs", "text/plain", text)).await.0,
        StatusCode::ACCEPTED
    );
    assert_eq!(drain(&mut h).len(), 5 + 2 + 1);
    assert_eq!(h.counters.lines(), 5 + 2 + 2);
}

#[tokio::test]
async fn bodies_over_the_limit_are_refused_declared_streamed_or_zipped() {
    let limits = IngestSettings {
        max_body_bytes: 4000,
        ..IngestSettings::default()
    };
    let mut h = harness(64, limits).await;
    let big = ndjson(100);
    let (status, response) = call(&h, post("/api/logs", "application/x-ndjson", big.clone())).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(
        json_of(response).await["error"]
            .as_str()
            .unwrap()
            .contains("4000 bytes")
    );

    // No Content-Length: the limit holds while the body streams in.
    let pieces = big
        .into_bytes()
        .chunks(100)
        .map(|c| Ok::<_, std::io::Error>(c.to_vec()))
        .collect::<Vec<_>>();
    let streamed = Body::from_stream(futures::stream::iter(pieces));
    let (status, _) = call(&h, post("/api/logs", "application/x-ndjson", streamed)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);

    // A small body that inflates past the limit.
    let bomb = gzip(&vec![b' '; 1 << 20]);
    assert!(bomb.len() < 4000, "{}", bomb.len());
    let mut request = post("/api/logs", "text/plain", bomb);
    request
        .headers_mut()
        .insert(header::CONTENT_ENCODING, "gzip".parse().unwrap());
    assert_eq!(call(&h, request).await.0, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(drain(&mut h).is_empty());
}

#[tokio::test]
async fn malformed_lines_are_numbered_and_the_rest_accepted() {
    let mut h = default_harness().await;
    let body = format!("{}not json\n{}{{\"broken\n", ndjson(2), ndjson(1));
    let (status, response) = call(&h, post("/api/logs", "application/x-ndjson", body)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let answer = json_of(response).await;
    assert_eq!(answer["accepted"], 3);
    assert_eq!(answer["rejected_count"], 2);
    assert_eq!(answer["rejected"][0]["line"], 3);
    assert_eq!(answer["rejected"][1]["line"], 5);
    assert!(
        answer["error"].as_str().unwrap().contains("line 3"),
        "{answer}"
    );
    assert_eq!(drain(&mut h).len(), 3);
    assert_eq!(h.counters.lines(), 3);
}

#[tokio::test]
async fn a_full_channel_answers_429_and_takes_nothing() {
    let mut h = harness(2, IngestSettings::default()).await;
    // One chunk fits, the second waits in vain: the paused clock runs the wait out at once.
    tokio::time::pause();
    let (status, _) = call(&h, post("/api/logs", "application/x-ndjson", ndjson(1))).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let (status, response) = call(
        &h,
        post("/api/logs", "application/x-ndjson", ndjson(2 * 1024)),
    )
    .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers()[header::RETRY_AFTER], "1");
    assert_eq!(
        drain(&mut h).len(),
        1,
        "nothing of the refused body was taken"
    );
    assert_eq!(h.counters.lines(), 1);
    // With room again, the same body goes through whole.
    let (status, _) = call(
        &h,
        post("/api/logs", "application/x-ndjson", ndjson(2 * 1024)),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(drain(&mut h).len(), 2 * 1024);
}

#[tokio::test]
async fn a_closed_gate_answers_503_and_odd_types_415() {
    let h = default_harness().await;
    let (status, _) = call(&h, post("/api/logs", "image/png", "x")).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    h.gate.close();
    let (status, _) = call(&h, post("/api/logs", "text/plain", "hello")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn with_a_token_writes_need_it_and_reads_do_not() {
    let limits = IngestSettings {
        token: Some(crate::secret::SecretString::new("s3cret")),
        ..IngestSettings::default()
    };
    let mut h = harness(64, limits).await;
    let (status, response) = call(&h, post("/api/logs", "text/plain", "hello")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(response.headers()[header::WWW_AUTHENTICATE], "Bearer");
    let mut wrong = post("/v1/logs", "application/json", "{}");
    wrong
        .headers_mut()
        .insert(header::AUTHORIZATION, "Bearer nope".parse().unwrap());
    assert_eq!(call(&h, wrong).await.0, StatusCode::UNAUTHORIZED);
    let demo = post("/api/demo", "application/json", r#"{"meltdown":true}"#);
    assert_eq!(call(&h, demo).await.0, StatusCode::UNAUTHORIZED);
    let resolve = post("/api/incidents/x/resolve", "application/json", "");
    assert_eq!(call(&h, resolve).await.0, StatusCode::UNAUTHORIZED);
    let silence = post("/api/silences", "application/json", "{}");
    assert_eq!(call(&h, silence).await.0, StatusCode::UNAUTHORIZED);
    let expire = Request::delete("/api/v2/silence/x")
        .body(Body::empty())
        .unwrap();
    assert_eq!(call(&h, expire).await.0, StatusCode::UNAUTHORIZED);
    let silences = Request::get("/api/silences").body(Body::empty()).unwrap();
    assert_eq!(call(&h, silences).await.0, StatusCode::OK);
    let stats = Request::get("/api/stats").body(Body::empty()).unwrap();
    assert_eq!(call(&h, stats).await.0, StatusCode::OK);

    let mut right = post("/api/logs", "text/plain", "hello");
    right
        .headers_mut()
        .insert(header::AUTHORIZATION, "Bearer s3cret".parse().unwrap());
    assert_eq!(call(&h, right).await.0, StatusCode::ACCEPTED);
    assert_eq!(drain(&mut h).len(), 1);
}

fn otlp_request(records: usize) -> ExportLogsServiceRequest {
    let json = serde_json::json!({"resourceLogs": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "checkout"}}]},
        "scopeLogs": [{"logRecords": (0..records).map(|i| serde_json::json!({
            "severityNumber": 17, "body": {"stringValue": format!("payment failed {i}")}
        })).chain([serde_json::json!({"severityText": "INFO"})]).collect::<Vec<_>>()}]
    }]});
    serde_json::from_value(json).unwrap()
}

#[tokio::test]
async fn otlp_protobuf_and_json_answer_in_kind_with_partial_success() {
    let mut h = default_harness().await;
    let request = otlp_request(3);
    let (status, response) = call(
        &h,
        post(
            "/v1/logs",
            "application/x-protobuf",
            request.encode_to_vec(),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "application/x-protobuf"
    );
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let answer = ExportLogsServiceResponse::decode(bytes).unwrap();
    let partial = answer.partial_success.unwrap();
    assert_eq!(partial.rejected_log_records, 1, "the record without a body");

    let json = serde_json::to_string(&request).unwrap();
    let (status, response) = call(&h, post("/v1/logs", "application/json", json)).await;
    assert_eq!(status, StatusCode::OK);
    let answer = json_of(response).await;
    assert_eq!(
        answer["partialSuccess"]["rejectedLogRecords"], 1,
        "{answer}"
    );

    let events = drain(&mut h);
    assert_eq!(events.len(), 6);
    assert_eq!(events[0].service, "checkout");
    assert_eq!(events[0].level, ic_core::Level::Error);
    assert_eq!(events[0].message, "payment failed 0");
    assert_eq!(h.counters.lines(), 6);
}

#[tokio::test]
async fn otlp_errors_carry_a_status_in_the_request_encoding() {
    let h = default_harness().await;
    let (status, response) = call(
        &h,
        post("/v1/logs", "application/x-protobuf", "\u{ff}garbage"),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "application/x-protobuf"
    );
    let (status, response) = call(&h, post("/v1/logs", "application/json", "{")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let answer = json_of(response).await;
    assert_eq!(answer["code"], 3);
    assert!(
        answer["message"].as_str().unwrap().contains("OTLP"),
        "{answer}"
    );
    let (status, _) = call(&h, post("/v1/logs", "text/plain", "x")).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

/// A client's body: `chunks` pieces of `bytes` bytes, `every` apart, then the end (or, with
/// `stall`, nothing more ever).
fn paced_body(bytes: usize, every: Duration, chunks: usize, stall: bool) -> Body {
    use futures::StreamExt;
    let pieces = futures::stream::iter(0..chunks).then(move |i| async move {
        if i > 0 {
            tokio::time::sleep(every).await;
        }
        Ok::<_, std::io::Error>(axum::body::Bytes::from(vec![b'x'; bytes]))
    });
    let rest = futures::stream::pending().take(usize::from(stall));
    Body::from_stream(pieces.chain(rest))
}

async fn read_paced(body: Body) -> (Result<usize, ApiError>, Duration) {
    let started = tokio::time::Instant::now();
    let read = intake::read_body(&header::HeaderMap::new(), body, 10 << 20).await;
    (read.map(|b| b.len()), started.elapsed())
}

#[tokio::test(start_paused = true)]
async fn a_body_that_stops_coming_is_cut_off_after_the_grace() {
    let (read, took) = read_paced(paced_body(1000, Duration::ZERO, 1, true)).await;
    let err = read.unwrap_err();
    assert!(matches!(err, ApiError::TooSlow(_)), "{err}");
    assert_eq!(
        axum::response::IntoResponse::into_response(err).status(),
        StatusCode::REQUEST_TIMEOUT
    );
    // The grace, and what 1,000 bytes buy at the minimum rate.
    assert!(
        took < intake::BODY_GRACE + Duration::from_secs(1),
        "{took:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_trickle_under_the_minimum_rate_is_cut_off() {
    // 100 bytes a second, for ten minutes: long before the request deadline could end it.
    let (read, took) = read_paced(paced_body(100, Duration::from_secs(1), 600, false)).await;
    assert!(matches!(read, Err(ApiError::TooSlow(_))), "{read:?}");
    assert!(took < Duration::from_secs(10), "{took:?}");
}

#[tokio::test(start_paused = true)]
async fn a_body_at_a_modest_rate_is_read_whole() {
    // 32 KiB a second for 15 s: a slow link, twice the minimum rate.
    let (read, _) = read_paced(paced_body(32 << 10, Duration::from_secs(1), 15, false)).await;
    assert_eq!(read.unwrap(), 15 * (32 << 10));
}
