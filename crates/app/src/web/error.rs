//! API errors: one enum, a status code each, `{"error": "…"}` bodies.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ic_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("the demo source is not running; start serve with --source demo")]
    NoDemo,
    #[error("no incident {0}")]
    NoIncident(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("no such page or endpoint; the API is under /api (see the README)")]
    NotFound,
    #[error("the incident store failed: {0}")]
    Store(StoreError),
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound { id } => ApiError::NoIncident(id),
            other => ApiError::Store(other),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match self {
            ApiError::NoDemo | ApiError::NoIncident(_) | ApiError::NotFound => {
                StatusCode::NOT_FOUND
            }
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
        };
        if status.is_server_error() {
            tracing::error!(error = %self, "API request failed.");
        }
        (
            status,
            Json(serde_json::json!({ "error": self.to_string() })),
        )
            .into_response()
    }
}
