//! The HTTP server: health and the demo's switches. Handed its listener and shutdown signal,
//! so tests bind port 0 and stop it themselves.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::sources::demo::{DemoControl, DemoState};

/// What the handlers share.
#[derive(Clone, Default)]
pub struct AppState {
    /// The demo's switches, when the demo source runs.
    pub demo: Option<DemoControl>,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/api/demo", get(get_demo).post(set_demo))
        .with_state(state)
}

/// Serves until `shutdown` fires.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
}

/// An API error: a status and a message for the user, as `{"error": "…"}`.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("the demo source is not running; start serve with --source demo")]
    NoDemo,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match self {
            ApiError::NoDemo => StatusCode::NOT_FOUND,
        };
        (
            status,
            Json(serde_json::json!({ "error": self.to_string() })),
        )
            .into_response()
    }
}

async fn get_demo(State(state): State<AppState>) -> Result<Json<DemoState>, ApiError> {
    let demo = state.demo.ok_or(ApiError::NoDemo)?;
    Ok(Json(*demo.borrow()))
}

/// `POST /api/demo` body: either switch may be left out.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DemoUpdate {
    running: Option<bool>,
    meltdown: Option<bool>,
}

async fn set_demo(
    State(state): State<AppState>,
    Json(update): Json<DemoUpdate>,
) -> Result<Json<DemoState>, ApiError> {
    let demo = state.demo.ok_or(ApiError::NoDemo)?;
    demo.send_modify(|s| {
        s.running = update.running.unwrap_or(s.running);
        s.meltdown = update.meltdown.unwrap_or(s.meltdown);
    });
    tracing::info!(
        running = demo.borrow().running,
        meltdown = demo.borrow().meltdown,
        "Demo switched."
    );
    Ok(Json(*demo.borrow()))
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    use super::*;

    fn demo() -> (DemoControl, AppState) {
        let (tx, _rx) = tokio::sync::watch::channel(DemoState {
            running: true,
            meltdown: false,
        });
        (tx.clone(), AppState { demo: Some(tx) })
    }

    async fn call(
        app: Router,
        method: &str,
        uri: &str,
        body: &str,
    ) -> (StatusCode, serde_json::Value) {
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .header("content-type", "application/json")
            .body(Body::from(body.to_owned()))
            .unwrap();
        let response = app.oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
        )
    }

    #[tokio::test]
    async fn the_demo_switches_over_http() {
        let (control, state) = demo();
        let (status, body) = call(router(state), "POST", "/api/demo", r#"{"meltdown":true}"#).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, serde_json::json!({"running": true, "meltdown": true}));
        assert!(control.borrow().meltdown);
    }

    #[tokio::test]
    async fn errors_are_json_with_a_message() {
        let (status, body) = call(router(AppState::default()), "GET", "/api/demo", "").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(body["error"].as_str().unwrap().contains("--source demo"));
        let (_, state) = demo();
        let (status, _) = call(router(state), "POST", "/api/demo", r#"{"melt":1}"#).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    }

    #[tokio::test]
    async fn health_answers() {
        let request = Request::get("/healthz").body(Body::empty()).unwrap();
        let response = router(AppState::default()).oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
}
