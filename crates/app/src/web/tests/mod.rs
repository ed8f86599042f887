//! The router with a real (in-memory) store, called in-process.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use chrono::{TimeZone, Utc};
use futures::StreamExt;
use ic_core::Severity;
use ic_core::incident::{Incident, IncidentEvent, Transition};
use ic_store::Store;
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};
use tower::ServiceExt;

use super::*;
use crate::pipeline::SharedCounters;
use crate::sources::demo::DemoState;

mod ingest;

struct Harness {
    app: Router,
    store: Arc<dyn Store>,
    control: mpsc::Receiver<Control>,
    demo: watch::Sender<DemoState>,
}

async fn harness() -> Harness {
    let store: Arc<dyn Store> = Arc::new(ic_store::open("sqlite::memory:").await.unwrap());
    let (demo, _) = watch::channel(DemoState {
        running: true,
        meltdown: false,
        rate: None,
    });
    let live = Live::new(SharedCounters::default(), Some(demo.clone()));
    let (control_tx, control) = mpsc::channel(4);
    let state = AppState {
        writes: Default::default(),
        journal: None,
        live,
        store: store.clone(),
        control: control_tx,
        metrics: crate::metrics::handle().unwrap(),
        shutdown: CancellationToken::new(),
        nats: None,
        silences: Default::default(),
    };
    Harness {
        app: router(state),
        store,
        control,
        demo,
    }
}

fn incident(id: &str) -> Incident {
    let at = Utc.timestamp_opt(1_700_000_000, 0).unwrap();
    let mut incident = ic_core::testing::incident(id, "inventory-db", Severity::Critical);
    incident.fingerprint = format!("fp-{id}");
    incident.title = "inventory-db failing: <img src=x onerror=alert(1)>".into();
    incident.summary = "70 of 100 lines".into();
    incident.root_cause.template = "Pool exhausted".into();
    (incident.opened_at, incident.last_seen) = (at, at);
    (
        incident.windows,
        incident.lines,
        incident.noise_reduction_ratio,
    ) = (3, 210, 210.0);
    incident
}

async fn saved(h: &Harness, id: &str) {
    let event = IncidentEvent {
        transition: Transition::Opened,
        incident: incident(id),
    };
    h.store.save(&event).await.unwrap();
}

async fn call(
    app: &Router,
    method: &str,
    uri: &str,
    body: &str,
) -> (StatusCode, axum::http::HeaderMap, Value) {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_owned()))
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let (status, headers) = (response.status(), response.headers().clone());
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    let value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
    (status, headers, value)
}

#[tokio::test]
async fn the_page_is_served_with_a_strict_content_security_policy() {
    let h = harness().await;
    let (status, headers, body) = call(&h.app, "GET", "/", "").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let csp = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert!(body.as_str().unwrap().contains("/app.js"));
    let (status, headers, _) = call(&h.app, "GET", "/app.js", "").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .contains("javascript")
    );
    let (status, headers, body) = call(&h.app, "GET", "/api/nothing", "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(headers.contains_key(header::CONTENT_SECURITY_POLICY));
    assert!(body["error"].as_str().unwrap().contains("/api"));
}

#[tokio::test]
async fn stats_health_readiness_and_metrics_answer() {
    let h = harness().await;
    let (status, _, stats) = call(&h.app, "GET", "/api/stats", "").await;
    assert_eq!(status, StatusCode::OK);
    for key in [
        "logs_processed",
        "lines_per_second",
        "open_incidents",
        "status",
        "noise_reduction",
    ] {
        assert!(stats.get(key).is_some(), "{key} missing: {stats}");
    }
    assert_eq!(stats["status"], "NORMAL");
    assert_eq!(
        stats["demo"],
        json!({"running": true, "meltdown": false, "rate": null})
    );
    assert_eq!(call(&h.app, "GET", "/healthz", "").await.0, StatusCode::OK);
    assert_eq!(call(&h.app, "GET", "/readyz", "").await.0, StatusCode::OK);
    let (status, headers, _) = call(&h.app, "GET", "/metrics", "").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
}

#[tokio::test]
async fn incidents_are_listed_shown_acknowledged_and_resolved() {
    let mut h = harness().await;
    saved(&h, "a").await;
    saved(&h, "b").await;
    let (status, _, list) = call(
        &h.app,
        "GET",
        "/api/incidents?status=open&severity=critical&limit=1",
        "",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list.as_array().unwrap().len(), 1);
    let (status, _, one) = call(&h.app, "GET", "/api/incidents/a", "").await;
    assert_eq!((status, one["id"].as_str()), (StatusCode::OK, Some("a")));
    assert_eq!(one["timeline"][0]["event"], "opened", "{one}");

    let (status, _, refused) =
        call(&h.app, "POST", "/api/incidents/a/ack", r#"{"who": "ana"}"#).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    let (status, _, acked) = call(&h.app, "POST", "/api/incidents/a/ack", r#"{"by": "ana"}"#).await;
    assert_eq!(status, StatusCode::OK);
    assert!(acked["acknowledged_at"].is_string());
    let (_, _, one) = call(&h.app, "GET", "/api/incidents/a", "").await;
    let events: Vec<(&str, &str)> = one["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["event"].as_str().unwrap(),
                e["detail"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        events,
        [("opened", ""), ("acknowledged", "by ana")],
        "{one}"
    );

    let (status, _, resolved) = call(&h.app, "POST", "/api/incidents/b/resolve", "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(resolved["status"], "resolved");
    let (_, _, two) = call(&h.app, "GET", "/api/incidents/b", "").await;
    let last = two["timeline"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (&last["event"], &last["detail"]),
        (&json!("resolved"), &json!("by hand"))
    );
    match h.control.recv().await {
        Some(Control::Resolved { id, fingerprint }) => {
            assert_eq!((id.as_str(), fingerprint.as_str()), ("b", "fp-b"));
        }
        other => panic!("the correlator was not told: {other:?}"),
    }
}

#[tokio::test]
async fn bad_requests_get_json_errors_with_a_message() {
    let h = harness().await;
    let (status, _, body) = call(&h.app, "GET", "/api/incidents/nope", "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"], "no incident nope");
    let (status, _, body) = call(&h.app, "GET", "/api/incidents?status=maybe", "").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"].as_str().unwrap().contains("open or resolved"));
    let (status, _, body) = call(&h.app, "GET", "/api/incidents?colour=red", "").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, _, body) = call(&h.app, "POST", "/api/demo", r#"{"melt":1}"#).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"].is_string());
}

#[tokio::test]
async fn the_demo_switches_over_http() {
    let h = harness().await;
    let (status, _, body) = call(&h.app, "POST", "/api/demo", r#"{"meltdown":true}"#).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({"running": true, "meltdown": true, "rate": null})
    );
    assert!(h.demo.borrow().meltdown);
    let (_, _, body) = call(&h.app, "POST", "/api/demo", r#"{"rate":20000}"#).await;
    assert_eq!(body["rate"], 20000.0);
    let (status, _, _) = call(&h.app, "POST", "/api/demo", r#"{"rate":-1}"#).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (_, _, body) = call(&h.app, "POST", "/api/demo", r#"{"rate":null}"#).await;
    assert_eq!(body["rate"], Value::Null);
    let (_, _, body) = call(&h.app, "GET", "/api/demo", "").await;
    assert_eq!(body["meltdown"], true);
}

#[tokio::test]
async fn the_event_stream_starts_with_a_snapshot_of_the_incidents() {
    let h = harness().await;
    saved(&h, "a").await;
    let request = Request::get("/api/events").body(Body::empty()).unwrap();
    let response = h.app.clone().oneshot(request).await.unwrap();
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "text/event-stream"
    );
    let mut body = response.into_body().into_data_stream();
    let first = body.next().await.unwrap().unwrap();
    let text = String::from_utf8(first.to_vec()).unwrap();
    assert!(text.starts_with("event: snapshot\n"), "{text}");
    let data = text.lines().find_map(|l| l.strip_prefix("data: ")).unwrap();
    let snapshot: Value = serde_json::from_str(data).unwrap();
    assert_eq!(snapshot["incidents"][0]["id"], "a");
    assert_eq!(snapshot["stats"]["status"], "NORMAL");
}

/// A window report with `lines` lines.
fn window(seq: u64, lines: u32) -> ic_core::Report {
    ic_core::testing::report(seq, Utc.timestamp_opt(1_700_000_000, 0).unwrap(), lines)
}

#[tokio::test]
async fn a_store_that_cannot_write_makes_the_instance_unready_and_the_batch_waits_for_it() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("ic.db").display());
    let store: Arc<dyn Store> = Arc::new(ic_store::open(&url).await.unwrap());
    let writes = Arc::new(crate::pipeline::sink::WriteHealth::default());
    let sink = Arc::new(crate::pipeline::sink::IncidentSink::new(
        Some(store.clone()),
        None,
        Default::default(),
        &ic_core::incident::CorrelatorConfig::default(),
        writes.clone(),
    ));
    let (control_tx, _control) = mpsc::channel(4);
    let app = router(AppState {
        writes: writes.clone(),
        journal: None,
        live: Live::new(SharedCounters::default(), None),
        store: store.clone(),
        control: control_tx,
        metrics: crate::metrics::handle().unwrap(),
        shutdown: CancellationToken::new(),
        nats: None,
        silences: Default::default(),
    });
    let ready = || call(&app, "GET", "/readyz", "");
    let running = CancellationToken::new();
    sink.store(&[window(1, 10)], &[], &[], &running).await;
    assert_eq!(ready().await.0, StatusCode::OK);

    // The store still answers, but its windows table is gone: the batch fails, and waits.
    ic_store::testing::sqlite_execute(&url, "ALTER TABLE windows RENAME TO windows_away").await;
    let mut failing = writes.watch();
    let waiting = tokio::spawn({
        let (sink, running) = (sink.clone(), running.clone());
        async move { sink.store(&[window(2, 10)], &[], &[], &running).await }
    });
    failing.wait_for(Option::is_some).await.unwrap();
    assert!(store.ping().await.is_ok(), "it answers");
    let (status, _, body) = ready().await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let error = body["error"].to_string();
    assert!(
        error.contains("cannot write") && error.contains("windows"),
        "{error}"
    );
    assert!(!waiting.is_finished(), "a failed batch is tried again");

    // The cause goes away: the batch is stored and the instance is ready again.
    ic_store::testing::sqlite_execute(&url, "ALTER TABLE windows_away RENAME TO windows").await;
    waiting.await.unwrap();
    assert_eq!(ready().await.0, StatusCode::OK);
    assert_eq!(store.totals().await.unwrap().windows, 2);

    // Shutting down, a batch the store refuses is given up rather than waited for forever.
    ic_store::testing::sqlite_execute(&url, "ALTER TABLE windows RENAME TO windows_away").await;
    running.cancel();
    sink.store(&[window(3, 10)], &[], &[], &running).await;
    assert_eq!(ready().await.0, StatusCode::SERVICE_UNAVAILABLE);
}

fn silence_body(service: &str, minutes: i64) -> String {
    let now = Utc::now();
    json!({
        "matchers": [{"name": "service", "value": service, "isRegex": false, "isEqual": true}],
        "startsAt": now - chrono::TimeDelta::minutes(1),
        "endsAt": now + chrono::TimeDelta::minutes(minutes),
        "createdBy": "ana <script>",
        "comment": "db upgrade \u{202e}evil",
    })
    .to_string()
}

#[tokio::test]
async fn silences_speak_alertmanagers_json_and_list_what_they_mute() {
    let h = harness().await;
    saved(&h, "a").await;
    let (status, _, created) = call(
        &h.app,
        "POST",
        "/api/silences",
        &silence_body("inventory-*", 60),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let id = created["silenceID"].as_str().unwrap().to_owned();

    let (status, _, listed) = call(&h.app, "GET", "/api/v2/silences", "").await;
    assert_eq!(status, StatusCode::OK);
    let shown = &listed[0];
    assert_eq!(shown["id"], id.as_str());
    assert_eq!(shown["status"]["state"], "active");
    assert_eq!(shown["mutes"], json!(["a"]));
    assert_eq!(shown["matchers"][0]["value"], "inventory-*");
    assert_eq!(shown["createdBy"], "ana <script>", "stored as given");
    assert!(shown["matchedAt"].is_string(), "it mutes an open incident");

    // Posting it again with its id replaces it; deleting expires it and keeps it listed.
    let mut replaced: Value = serde_json::from_str(&silence_body("other", 30)).unwrap();
    replaced["id"] = json!(id);
    let (status, _, again) = call(&h.app, "POST", "/api/silences", &replaced.to_string()).await;
    assert_eq!((status, &again["silenceID"]), (StatusCode::OK, &json!(id)));
    let (_, _, one) = call(&h.app, "GET", &format!("/api/silences/{id}"), "").await;
    assert_eq!(one["mutes"], json!([]));
    let (status, _, expired) = call(&h.app, "DELETE", &format!("/api/v2/silence/{id}"), "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(expired["status"]["state"], "expired");
    let (_, _, listed) = call(&h.app, "GET", "/api/silences", "").await;
    assert_eq!(listed.as_array().unwrap().len(), 1);
    let (status, _, refused) = call(&h.app, "POST", "/api/silences", &replaced.to_string()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(refused["error"].as_str().unwrap().contains("has expired"));
}

#[tokio::test]
async fn a_silence_that_cannot_work_is_refused_with_what_to_change() {
    let h = harness().await;
    for (body, expected) in [
        (json!({}), "missing field"),
        (
            json!({"matchers": [], "startsAt": Utc::now(), "endsAt": Utc::now() + chrono::TimeDelta::hours(1), "createdBy": "a", "comment": "c"}),
            "at least one matcher",
        ),
        (
            json!({"matchers": [{"name": "host", "value": "x"}], "startsAt": Utc::now(), "endsAt": Utc::now(), "createdBy": "a", "comment": "c"}),
            "unknown variant `host`",
        ),
        (
            json!({"matchers": [{"name": "service", "value": "(", "isRegex": true}], "startsAt": Utc::now(), "endsAt": Utc::now() + chrono::TimeDelta::hours(1), "createdBy": "a", "comment": "c"}),
            "matcher service",
        ),
    ] {
        let (status, _, answer) = call(&h.app, "POST", "/api/silences", &body.to_string()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        let message = answer["error"].as_str().unwrap();
        assert!(message.contains(expected), "{message}");
    }
    let (status, _, _) = call(&h.app, "DELETE", "/api/silences/nope", "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
