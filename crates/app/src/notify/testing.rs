//! Fixtures for the notifier's tests: incidents, and fake HTTP receivers (webhook targets, LLM
//! APIs) that report every request on a channel so tests wait for deliveries instead of
//! sleeping.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use chrono::{TimeZone, Utc};
use ic_core::incident::{Evidence, Incident, IncidentEvent, IncidentStatus, Transition};
use ic_core::report::RootCause;
use ic_core::{Level, Severity};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// The inventory-db meltdown as an incident, with two templates.
pub(crate) fn incident() -> Incident {
    let at = Utc.with_ymd_and_hms(2026, 1, 1, 0, 2, 0).unwrap();
    let evidence = |id: &str, template: &str, service: &str, count| Evidence {
        template_id: id.to_owned(),
        template: template.to_owned(),
        level: Level::Error,
        services: vec![service.to_owned()],
        count,
        first_lines: vec![format!("{service} ERROR {template} #1")],
        last_lines: vec![format!("{service} ERROR {template} #{count}")],
    };
    Incident {
        id: "20260101-000200-9f2c41".to_owned(),
        fingerprint: "9f2c41d07a1b3e55".to_owned(),
        status: IncidentStatus::Open,
        severity: Severity::Critical,
        title: "inventory-db connection pool exhausted".to_owned(),
        summary: "inventory-db refuses connections; checkout fails with it.".to_owned(),
        root_cause: RootCause {
            service: "inventory-db".to_owned(),
            template: "Database Connection Refused: Pool exhausted".to_owned(),
            candidates: Vec::new(),
        },
        impacted_services: vec!["inventory-db".to_owned(), "checkout".to_owned()],
        opened_at: at,
        last_seen: at,
        resolved_at: None,
        windows: 3,
        lines: 1400,
        noise_reduction_ratio: 700.0,
        templates: vec![
            evidence(
                "t1",
                "Database Connection Refused: Pool exhausted",
                "inventory-db",
                1200,
            ),
            evidence(
                "t2",
                "checkout failed: upstream <*> timed out",
                "checkout",
                200,
            ),
        ],
        parent: None,
        seen_before: None,
        reopened: 0,
        acknowledged_at: None,
        analyzer: "builtin".into(),
    }
}

pub(crate) fn event(transition: Transition) -> IncidentEvent {
    let mut incident = incident();
    if transition == Transition::Resolved {
        incident.status = IncidentStatus::Resolved;
        incident.resolved_at = Some(incident.last_seen);
    }
    IncidentEvent {
        transition,
        incident,
    }
}

/// An incident as large as it gets: many services and templates, megabyte lines full of
/// characters that JSON and Slack escape.
pub(crate) fn huge_event(transition: Transition) -> IncidentEvent {
    let line = "a&<b>\"\\\u{1}é".repeat(1_000_000 / 8);
    let mut event = event(transition);
    let incident = &mut event.incident;
    incident.title = line.clone();
    incident.summary = line.clone();
    incident.root_cause.template = line.clone();
    incident.impacted_services = (0..500)
        .map(|i| format!("service-{i}-{line:.300}"))
        .collect();
    // Megabyte strings in the first templates only, to keep the fixture's memory small.
    incident.templates = (0..40)
        .map(|i| {
            let text = if i < 3 {
                line.clone()
            } else {
                format!("{i} {line:.2000}")
            };
            Evidence {
                template_id: format!("t{i}"),
                template: text.clone(),
                level: Level::Error,
                services: incident.impacted_services[..50].to_vec(),
                count: 1000 - i,
                first_lines: vec![text.clone()],
                last_lines: vec![format!("{i}{text}")],
            }
        })
        .collect();
    event
}

/// One request a fake receiver got.
#[derive(Debug)]
pub(crate) struct Received {
    pub path: String,
    pub headers: HeaderMap,
    pub body: serde_json::Value,
}

/// How a fake receiver answers its n-th request (counting from 0).
pub(crate) type Answer = Arc<dyn Fn(usize) -> Reply + Send + Sync>;

/// A fake receiver's answer.
#[derive(Debug, Clone)]
pub(crate) enum Reply {
    Status(u16),
    /// 200 with this JSON body.
    Json(serde_json::Value),
    /// 200 once the gate is opened with `notify_one`.
    After(Arc<tokio::sync::Notify>),
    /// A 429 or 503 with `Retry-After: SECS`.
    RetryAfter(u16, u64),
    /// Never answers.
    Hang,
}

#[derive(Clone)]
struct Fake {
    answer: Answer,
    count: Arc<AtomicUsize>,
    seen: mpsc::UnboundedSender<Received>,
}

/// Starts a receiver on a port-0 listener; returns its base URL and the channel of requests.
/// Each request is reported when it arrives, before it is answered.
pub(crate) async fn fake_receiver(
    answer: impl Fn(usize) -> Reply + Send + Sync + 'static,
) -> (String, mpsc::UnboundedReceiver<Received>) {
    let (seen, received) = mpsc::unbounded_channel();
    let fake = Fake {
        answer: Arc::new(answer),
        count: Arc::default(),
        seen,
    };
    let app = Router::new()
        .route("/{*path}", post(receive))
        .with_state(fake);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), received)
}

async fn receive(
    State(fake): State<Fake>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    let n = fake.count.fetch_add(1, Ordering::SeqCst);
    let _ = fake.seen.send(Received {
        path: uri.to_string(),
        headers,
        body: serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
    });
    match (fake.answer)(n) {
        Reply::Status(code) => StatusCode::from_u16(code).unwrap().into_response(),
        Reply::Json(body) => axum::Json(body).into_response(),
        Reply::RetryAfter(code, secs) => (
            StatusCode::from_u16(code).unwrap(),
            [("retry-after", secs.to_string())],
        )
            .into_response(),
        Reply::After(gate) => {
            gate.notified().await;
            StatusCode::OK.into_response()
        }
        Reply::Hang => std::future::pending().await,
    }
}
