//! `GET /api/events`: server-sent events for the dashboard.
//!
//! Every connection starts with a `snapshot` (stats and the latest incidents), then follows the
//! hub: `stats`, `incident`, `lines`. A client that falls behind skips messages rather than
//! slowing anyone, and gets a fresh snapshot instead, so no incident update is lost; a client
//! that reconnects gets one too. The stream ends at shutdown.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use ic_core::incident::Incident;
use ic_store::IncidentFilter;
use serde::Serialize;
use tokio::sync::broadcast::error::RecvError;

use super::AppState;
use crate::web::live::{HubMessage, Stats};

/// Incidents in a snapshot: the most recently seen.
const SNAPSHOT_INCIDENTS: u32 = 50;

#[derive(Serialize)]
struct Snapshot {
    stats: Stats,
    incidents: Vec<Incident>,
}

pub async fn stream(
    State(state): State<AppState>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let hub = state.live.subscribe();
    let stream =
        futures::stream::unfold((state, hub, true), |(state, mut hub, fresh)| async move {
            if fresh {
                let event = snapshot(&state).await;
                return Some((Ok(event), (state, hub, false)));
            }
            let message = tokio::select! {
                () = state.shutdown.cancelled() => return None,
                message = hub.recv() => message,
            };
            match message {
                Ok(message) => Some((Ok(to_event(&message)), (state, hub, false))),
                Err(RecvError::Lagged(skipped)) => {
                    tracing::debug!(
                        skipped,
                        "A dashboard client fell behind; sending a snapshot."
                    );
                    let event = snapshot(&state).await;
                    Some((Ok(event), (state, hub, false)))
                }
                Err(RecvError::Closed) => None,
            }
        });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

async fn snapshot(state: &AppState) -> Event {
    let filter = IncidentFilter {
        limit: Some(SNAPSHOT_INCIDENTS),
        ..IncidentFilter::default()
    };
    let incidents = match state.store.list(&filter).await {
        Ok(incidents) => incidents,
        Err(err) => {
            tracing::error!(%err, "Listing incidents for a dashboard snapshot failed.");
            Vec::new()
        }
    };
    let snapshot = Snapshot {
        stats: state.live.stats(),
        incidents,
    };
    json_event("snapshot", &snapshot)
}

fn to_event(message: &HubMessage) -> Event {
    match message {
        HubMessage::Stats(stats) => json_event("stats", stats),
        HubMessage::Incident(event) => json_event("incident", &**event),
        HubMessage::Lines(lines) => json_event("lines", lines),
    }
}

fn json_event<T: Serialize>(name: &str, data: &T) -> Event {
    Event::default()
        .event(name)
        .json_data(data)
        .unwrap_or_else(|_| Event::default().event(name).data("null"))
}
