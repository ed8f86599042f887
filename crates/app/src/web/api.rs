//! The REST API: stats, incidents (list, one, acknowledge, resolve), the demo's switches,
//! health, readiness and metrics.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use chrono::Utc;
use ic_core::incident::{Incident, IncidentEvent, IncidentStatus, Transition};
use ic_store::IncidentFilter;
use serde::{Deserialize, Serialize};

use super::{ApiError, AppState};
use crate::pipeline::Control;
use crate::sources::demo::DemoState;
use crate::web::live::Stats;

/// Incidents listed when no `limit` is given, and the most a request may ask for.
const DEFAULT_LIMIT: u32 = 50;
const MAX_LIMIT: u32 = 1000;

pub async fn healthz() -> &'static str {
    "ok"
}

/// Ready when the incident store answers.
/// Ready when the database answers and, on a gateway, NATS is connected.
pub async fn readyz(State(state): State<AppState>) -> Result<&'static str, ApiError> {
    state.store.ping().await?;
    if let Some(problem) = state.writes.problem() {
        return Err(ApiError::Upstream(format!(
            "the store answers but cannot write: {problem}"
        )));
    }
    if let Some(problem) = state.journal.as_ref().and_then(|j| j.problem()) {
        return Err(ApiError::Upstream(format!(
            "the ingest journal cannot write: {problem}"
        )));
    }
    if let Some(nats) = &state.nats
        && nats.connection_state() != async_nats::connection::State::Connected
    {
        return Err(ApiError::Upstream("NATS is not connected".into()));
    }
    Ok("ready")
}

pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}

pub async fn stats(State(state): State<AppState>) -> Json<Stats> {
    Json(state.live.stats())
}

/// `GET /api/incidents` query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    status: Option<String>,
    severity: Option<String>,
    service: Option<String>,
    limit: Option<u32>,
}

impl ListQuery {
    fn filter(self) -> Result<IncidentFilter, ApiError> {
        let status = match self.status.as_deref() {
            None | Some("") => None,
            Some("open") => Some(IncidentStatus::Open),
            Some("resolved") => Some(IncidentStatus::Resolved),
            Some(other) => {
                return Err(ApiError::BadRequest(format!(
                    "status must be open or resolved, not {other:?}"
                )));
            }
        };
        let min_severity = match self.severity.as_deref() {
            None | Some("") => None,
            Some(text) => Some(
                serde_json::from_value(serde_json::Value::String(capitalize(text))).map_err(
                    |_| {
                        ApiError::BadRequest(format!(
                            "severity must be Info, Warning or Critical, not {text:?}"
                        ))
                    },
                )?,
            ),
        };
        Ok(IncidentFilter {
            status,
            min_severity,
            service: self.service.filter(|s| !s.is_empty()),
            limit: Some(self.limit.unwrap_or(DEFAULT_LIMIT).min(MAX_LIMIT)),
        })
    }
}

fn capitalize(text: &str) -> String {
    let lower = text.to_ascii_lowercase();
    let mut chars = lower.chars();
    chars
        .next()
        .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
        .unwrap_or_default()
}

pub async fn list_incidents(
    State(state): State<AppState>,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Vec<Incident>>, ApiError> {
    let Query(query) = query.map_err(|err| ApiError::BadRequest(err.body_text()))?;
    Ok(Json(state.store.list(&query.filter()?).await?))
}

/// An incident with its timeline (see [`crate::timeline`]).
#[derive(Serialize)]
pub struct Shown {
    #[serde(flatten)]
    incident: Incident,
    timeline: Vec<crate::timeline::Entry>,
}

pub async fn get_incident(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Shown>, ApiError> {
    let incident = state.store.get(&id).await?;
    let recorded = crate::timeline::Recorded::read(state.store.as_ref(), &id).await?;
    let timeline = crate::timeline::of(&incident, &recorded);
    Ok(Json(Shown { incident, timeline }))
}

/// Who acknowledges or resolves by hand, for the timeline: `{"by": "ana"}`, or no body.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ByWhom {
    by: Option<String>,
}

/// Longest name a person may give.
const MAX_NAME_BYTES: usize = 256;

impl ByWhom {
    fn read(body: &[u8]) -> Result<Option<String>, ApiError> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        let who: ByWhom = serde_json::from_slice(body).map_err(|err| {
            ApiError::BadRequest(format!(
                "the body: {err}; send {{\"by\": \"NAME\"}} or nothing"
            ))
        })?;
        match who.by {
            Some(name) if name.len() > MAX_NAME_BYTES => Err(ApiError::BadRequest(format!(
                "\"by\" is longer than {MAX_NAME_BYTES} bytes"
            ))),
            by => Ok(by.filter(|name| !name.trim().is_empty())),
        }
    }
}

pub async fn acknowledge(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<Incident>, ApiError> {
    let by = ByWhom::read(&body)?;
    let incident = state
        .store
        .acknowledge(&id, Utc::now(), by.as_deref())
        .await?;
    state.live.publish_incident(&IncidentEvent {
        transition: Transition::Updated,
        incident: incident.clone(),
    });
    Ok(Json(incident))
}

/// Resolves in the store at once (the answer shows it), and tells the correlator, which then
/// announces the transition to the dashboard and the webhooks like any other.
pub async fn resolve(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<Incident>, ApiError> {
    let by = ByWhom::read(&body)?;
    let incident = state.store.resolve(&id, Utc::now(), by.as_deref()).await?;
    let fingerprint = incident.fingerprint.clone();
    let _ = state
        .control
        .send(Control::Resolved { id, fingerprint })
        .await;
    Ok(Json(incident))
}

pub async fn get_demo(State(state): State<AppState>) -> Result<Json<DemoState>, ApiError> {
    let demo = state.live.demo().ok_or(ApiError::NoDemo)?;
    Ok(Json(*demo.borrow()))
}

/// `POST /api/demo` body: any field may be left out; `"rate": null` restores the mode's rate.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoUpdate {
    running: Option<bool>,
    meltdown: Option<bool>,
    #[serde(default, deserialize_with = "present")]
    rate: Option<Option<f64>>,
}

/// Tells a field given as `null` (`Some(None)`) from a field left out (`None`).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<f64>>, D::Error> {
    Option::<f64>::deserialize(d).map(Some)
}

/// The fastest demo rate accepted, in lines per second.
const MAX_DEMO_RATE: f64 = 1_000_000.0;

pub async fn set_demo(
    State(state): State<AppState>,
    update: Result<Json<DemoUpdate>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<DemoState>, ApiError> {
    let Json(update) = update.map_err(|err| ApiError::BadRequest(err.body_text()))?;
    let demo = state.live.demo().ok_or(ApiError::NoDemo)?;
    if let Some(Some(rate)) = update.rate
        && !(rate > 0.0 && rate <= MAX_DEMO_RATE)
    {
        return Err(ApiError::BadRequest(format!(
            "rate must be between 0 and {MAX_DEMO_RATE} lines per second, not {rate}"
        )));
    }
    demo.send_modify(|s| {
        s.running = update.running.unwrap_or(s.running);
        s.meltdown = update.meltdown.unwrap_or(s.meltdown);
        s.rate = update.rate.unwrap_or(s.rate);
    });
    let now = *demo.borrow();
    tracing::info!(
        running = now.running,
        meltdown = now.meltdown,
        "Demo switched."
    );
    Ok(Json(now))
}

pub async fn not_found() -> (StatusCode, ApiError) {
    (StatusCode::NOT_FOUND, ApiError::NotFound)
}
