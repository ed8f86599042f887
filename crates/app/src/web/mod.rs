//! The HTTP server: the dashboard, its live events, the REST API, log ingestion (HTTP and
//! OTLP), health and metrics. Handed its listener and shutdown signal, so tests bind port 0
//! and stop it themselves.

mod api;
mod assets;
mod auth;
mod decoded;
mod error;
mod events;
mod ingest;
mod intake;
pub mod limits;
mod linger;
mod listener;
pub mod live;
mod otlp;
mod replay;
mod silences;

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderName, HeaderValue, header};
use std::time::Duration;

use axum::http::StatusCode;
use axum::routing::{get, post};
use ic_store::Store;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;

pub use error::ApiError;
pub use intake::{Ingest, IngestGate};
pub use limits::IngestSettings;
pub use replay::replay;

use crate::pipeline::Control;
use crate::web::live::Live;

/// Where the server listens unless told: loopback only, so a first run exposes nothing.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    pub live: Arc<Live>,
    pub store: Arc<dyn Store>,
    /// Tells the analysis stage about incidents resolved by hand.
    pub control: mpsc::Sender<Control>,
    pub metrics: PrometheusHandle,
    /// Ends the live event streams, so a graceful shutdown does not wait on them forever.
    pub shutdown: CancellationToken,
    /// The NATS connection of a gateway or a NATS source, for readiness.
    pub nats: Option<async_nats::Client>,
    /// Whether the store takes this instance's writes, for readiness.
    pub writes: Arc<crate::pipeline::sink::WriteHealth>,
    /// Whether the ingest journal can write, for readiness.
    pub journal: Option<Arc<crate::journal::Journal>>,
    /// The silences honoured here; the API shares what it makes at once.
    pub silences: Arc<crate::silences::Silences>,
}

/// Only our own scripts, styles and connections: log text that slipped into the page could
/// run nothing.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; \
    frame-ancestors 'none'";

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(assets::index))
        .route("/{file}", get(assets::file))
        .route("/healthz", get(api::healthz))
        .route("/readyz", get(api::readyz))
        .route("/metrics", get(api::metrics))
        .route("/api/stats", get(api::stats))
        .route("/api/events", get(events::stream))
        .route("/api/incidents", get(api::list_incidents))
        .route("/api/incidents/{id}", get(api::get_incident))
        .route("/api/incidents/{id}/ack", post(api::acknowledge))
        .route("/api/incidents/{id}/resolve", post(api::resolve))
        .route("/api/demo", get(api::get_demo).post(api::set_demo))
        .route("/api/silences", get(silences::list).post(silences::create))
        .route(
            "/api/silences/{id}",
            get(silences::get).delete(silences::expire),
        )
        // Alertmanager's own paths, for amtool and scripts written for it.
        .route(
            "/api/v2/silences",
            get(silences::list).post(silences::create),
        )
        .route(
            "/api/v2/silence/{id}",
            get(silences::get).delete(silences::expire),
        )
        .fallback(api::not_found)
        .layer(header_layer(
            header::CONTENT_SECURITY_POLICY,
            CONTENT_SECURITY_POLICY,
        ))
        .layer(header_layer(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(header_layer(header::REFERRER_POLICY, "no-referrer"))
        .with_state(state)
}

/// The whole server: [`router`] plus the ingest endpoints, with the token check in front of
/// everything that feeds or steers it, and every answer given over HTTP/2 before its request's
/// body was read delivered whole (see [`linger`]).
pub fn app(state: AppState, ingest: Ingest, limits: &IngestSettings) -> Router {
    router(state)
        .merge(ingest_routes(ingest, limits.request_timeout))
        .layer(axum::middleware::from_fn_with_state(
            limits.token.clone(),
            auth::require_token,
        ))
        .layer(axum::middleware::from_fn_with_state(
            limits.max_body_bytes,
            linger::linger,
        ))
}

/// The ingest routes, with their own state and a deadline for each request.
fn ingest_routes(ingest: Ingest, request_timeout: Duration) -> Router {
    Router::new()
        .route("/api/logs", post(ingest::logs))
        .route("/v1/logs", post(otlp::export))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            request_timeout,
        ))
        .with_state(ingest)
}

fn header_layer(name: HeaderName, value: &'static str) -> SetResponseHeaderLayer<HeaderValue> {
    SetResponseHeaderLayer::overriding(name, HeaderValue::from_static(value))
}

/// Serves until `shutdown` fires, within the connection limits and timeouts of `limits`.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: CancellationToken,
    limits: IngestSettings,
) -> std::io::Result<()> {
    listener::serve(listener, app, shutdown, &limits).await
}

#[cfg(test)]
mod tests;
