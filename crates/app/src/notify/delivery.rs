//! A target's worker: takes its events in order and posts each one, retrying with backoff.

use std::error::Error as _;
use std::fmt;
use std::sync::Arc;

use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use reqwest::header::{CONTENT_TYPE, HeaderMap, RETRY_AFTER};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use super::lane::{Lane, Outcome};
use super::payload::{self, NotifyEvent};
use super::{NotifierConfig, WebhookTarget};

/// Why one delivery attempt failed. No variant holds the URL: reqwest's errors are stripped of
/// it before they are kept.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("the target answered HTTP {status}")]
    Status {
        status: u16,
        /// What its `Retry-After` header asked for, if anything.
        retry_after: Option<Duration>,
    },
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("the request failed: {}", Chain(.0))]
    Transport(#[source] reqwest::Error),
}

impl DeliveryError {
    /// Failures that may pass: 429, 5xx, timeouts and connection errors. Other answers
    /// (4xx, or a redirect, which is not followed) say the request itself is wrong.
    pub fn is_retryable(&self) -> bool {
        match self {
            DeliveryError::Status { status, .. } => *status == 429 || (500..=599).contains(status),
            DeliveryError::Timeout(_) | DeliveryError::Transport(_) => true,
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            DeliveryError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// An error and its sources, `a: b: c`, because reqwest's own message ("error sending
/// request") leaves the cause to its sources.
struct Chain<'a>(&'a reqwest::Error);

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(err) = source {
            write!(f, ": {err}")?;
            source = err.source();
        }
        Ok(())
    }
}

pub(super) struct Worker {
    pub lane: Arc<Lane>,
    pub target: WebhookTarget,
    pub client: reqwest::Client,
    pub permits: Arc<Semaphore>,
    pub config: Arc<NotifierConfig>,
    pub abort: CancellationToken,
}

impl Worker {
    /// Delivers the lane's events until it is closed and empty, or until `abort`.
    pub async fn run(self) {
        while let Some(event) = self.lane.next().await {
            let Some(body) = payload::render(&self.target, &event) else {
                continue;
            };
            let kind = NotifyEvent::of(&event).map_or("", NotifyEvent::as_str);
            let incident = event.incident.id.as_str();
            let outcome = tokio::select! {
                biased;
                () = self.abort.cancelled() => None,
                outcome = self.deliver(body.into()) => Some(outcome),
            };
            match outcome {
                Some(Ok(())) => {
                    self.lane.record(Outcome::Delivered, 1);
                    debug!(webhook = %self.lane.label, incident, event = kind, "Webhook delivered.");
                }
                Some(Err(err)) => {
                    self.lane.record(Outcome::Failed, 1);
                    warn!(
                        webhook = %self.lane.label, incident, event = kind, error = %err,
                        "Webhook delivery failed; giving up on this event."
                    );
                }
                None => {
                    let abandoned = 1 + self.lane.abandon();
                    self.lane.record(Outcome::Dropped, 1);
                    warn!(
                        webhook = %self.lane.label, abandoned,
                        "Shutdown deadline passed; webhook events not delivered."
                    );
                    return;
                }
            }
        }
    }

    /// Posts one body, retrying with exponential backoff, or as `Retry-After` asks.
    async fn deliver(&self, body: bytes::Bytes) -> Result<(), DeliveryError> {
        let backoff = ExponentialBuilder::default()
            .with_min_delay(self.config.min_backoff)
            .with_max_delay(self.config.max_backoff)
            .with_max_times(self.config.max_attempts.saturating_sub(1))
            .with_jitter();
        let max_retry_after = self.config.max_retry_after;
        (|| self.attempt(body.clone()))
            .retry(backoff)
            .sleep(tokio::time::sleep)
            .when(DeliveryError::is_retryable)
            // `next` is `None` once the attempts are used up: a Retry-After does not add one.
            .adjust(move |err, next| {
                next.map(|backoff| err.retry_after().map_or(backoff, |asked| asked.min(max_retry_after)))
            })
            .notify(|err, after| {
                self.lane.record(Outcome::Retried, 1);
                debug!(webhook = %self.lane.label, error = %err, retry_in = ?after, "Webhook attempt failed; retrying.");
            })
            .await
    }

    /// One POST, holding a permit so that deliveries over all targets stay bounded.
    async fn attempt(&self, body: bytes::Bytes) -> Result<(), DeliveryError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .expect("the semaphore is never closed");
        let timeout = self.target.timeout;
        let response = self
            .client
            .post(self.target.url.expose().clone())
            .timeout(timeout)
            .header(CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
            .map_err(|err| {
                if err.is_timeout() {
                    DeliveryError::Timeout(timeout)
                } else {
                    DeliveryError::Transport(err.without_url())
                }
            })?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        Err(DeliveryError::Status {
            status: status.as_u16(),
            retry_after: retry_after(response.headers()),
        })
    }
}

/// `Retry-After` as seconds or as an HTTP date (RFC 9110 section 10.2.3).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let wait = at.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(wait.to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(7)));
        headers.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(
            retry_after(&headers),
            Some(Duration::ZERO),
            "a past date: now"
        );
        headers.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&headers), None);
    }

    #[test]
    fn only_failures_that_may_pass_are_retried() {
        let status = |status| DeliveryError::Status {
            status,
            retry_after: None,
        };
        for code in [429, 500, 502, 503, 504] {
            assert!(status(code).is_retryable(), "{code}");
        }
        for code in [301, 400, 401, 403, 404, 410, 413] {
            assert!(!status(code).is_retryable(), "{code}");
        }
        assert!(DeliveryError::Timeout(Duration::from_secs(1)).is_retryable());
    }
}
