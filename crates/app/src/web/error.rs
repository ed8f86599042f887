//! API errors: one enum, a status code each, `{"error": "…"}` bodies; and the reasons
//! the ingest endpoints count what they refuse by.

use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use ic_store::StoreError;

use crate::journal::JournalError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("the demo source is not running; start serve with --source demo")]
    NoDemo,
    #[error("no incident {0}")]
    NoIncident(String),
    #[error("no silence {0}; GET /api/silences lists them")]
    NoSilence(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("no such page or endpoint; the API is under /api (see the README)")]
    NotFound,
    #[error("the incident store failed: {0}")]
    Store(StoreError),
    #[error("{0}")]
    TooLarge(String),
    #[error("the ingest queue is full; retry later")]
    QueueFull,
    #[error("this endpoint needs `Authorization: Bearer TOKEN` with the ingest token")]
    Unauthorized,
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("the server is shutting down and takes no more logs")]
    ShuttingDown,
    #[error("the log stream did not take the lines ({0}); retry later")]
    Upstream(String),
    #[error("{0}")]
    Journal(#[from] crate::journal::JournalError),
    #[error("{0}")]
    TooSlow(String),
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound { id } => ApiError::NoIncident(id),
            StoreError::NoSilence { id } => ApiError::NoSilence(id),
            err @ StoreError::TooManySilences { .. } => ApiError::Conflict(err.to_string()),
            other => ApiError::Store(other),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match self {
            ApiError::NoDemo
            | ApiError::NoIncident(_)
            | ApiError::NoSilence(_)
            | ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Store(_) | ApiError::ShuttingDown | ApiError::Upstream(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::QueueFull | ApiError::Journal(JournalError::Full(_)) => {
                StatusCode::TOO_MANY_REQUESTS
            }
            ApiError::Journal(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::TooSlow(_) => StatusCode::REQUEST_TIMEOUT,
        };
        if let ApiError::Store(_) | ApiError::Upstream(_) = self {
            tracing::error!(error = %self, "API request failed.");
        }
        let mut response = (
            status,
            Json(serde_json::json!({ "error": self.to_string() })),
        )
            .into_response();
        // Clients back off this many seconds; the pipeline drains a full queue in well under.
        if let ApiError::QueueFull
        | ApiError::ShuttingDown
        | ApiError::Upstream(_)
        | ApiError::Journal(_) = self
        {
            let retry = axum::http::HeaderValue::from_static("1");
            response.headers_mut().insert(header::RETRY_AFTER, retry);
        }
        if let ApiError::Unauthorized = self {
            let bearer = axum::http::HeaderValue::from_static("Bearer");
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, bearer);
        }
        response
    }
}

/// Why a request or its lines were refused: the `reason` label of the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    TooLarge,
    Full,
    Malformed,
    Unauthorized,
    Unsupported,
    ShuttingDown,
    Journal,
    Slow,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::TooLarge => "too_large",
            Reason::Full => "full",
            Reason::Malformed => "malformed",
            Reason::Unauthorized => "unauthorized",
            Reason::Unsupported => "unsupported",
            Reason::ShuttingDown => "shutting_down",
            Reason::Journal => "journal",
            Reason::Slow => "slow",
        }
    }

    /// The reason behind an error answer, if it is a rejection.
    pub fn of(err: &ApiError) -> Option<Reason> {
        Some(match err {
            ApiError::TooLarge(_) => Reason::TooLarge,
            ApiError::QueueFull => Reason::Full,
            ApiError::BadRequest(_) => Reason::Malformed,
            ApiError::Unauthorized => Reason::Unauthorized,
            ApiError::UnsupportedMediaType(_) => Reason::Unsupported,
            ApiError::ShuttingDown => Reason::ShuttingDown,
            ApiError::Journal(JournalError::Full(_)) => Reason::Full,
            ApiError::Journal(_) => Reason::Journal,
            ApiError::TooSlow(_) => Reason::Slow,
            _ => return None,
        })
    }
}

pub fn count_rejected_request(reason: Reason) {
    metrics::counter!(crate::metrics::REQUESTS_REJECTED, "reason" => reason.as_str()).increment(1);
}

pub fn count_rejected_lines(reason: Reason, lines: u64) {
    metrics::counter!(crate::metrics::LINES_REJECTED, "reason" => reason.as_str()).increment(lines);
}
