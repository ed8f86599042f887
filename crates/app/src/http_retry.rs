//! Outgoing HTTP calls that may fail and be tried again, shared by the webhooks and the LLM
//! client: the kinds of failure, `Retry-After`, and the backoff loop.

use std::error::Error as _;
use std::fmt;
use std::future::Future;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use reqwest::header::{HeaderMap, RETRY_AFTER};

/// Makes ring the TLS provider of this process, which reqwest (built without a provider of its
/// own) needs before its first client. Installing twice is harmless: the second call loses.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Why one attempt failed. No variant holds the URL: reqwest's errors are stripped of it
/// before they are kept, since a URL may carry a secret.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("HTTP {status}")]
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

impl HttpError {
    /// A failed `send()` under a per-request `timeout`.
    pub fn sending(err: reqwest::Error, timeout: Duration) -> Self {
        if err.is_timeout() {
            HttpError::Timeout(timeout)
        } else {
            HttpError::Transport(err.without_url())
        }
    }

    /// A response that is not a success, with what it asked for.
    pub fn status(response: &reqwest::Response) -> Self {
        HttpError::Status {
            status: response.status().as_u16(),
            retry_after: retry_after(response.headers()),
        }
    }

    /// Failures that may pass: 429, 5xx, timeouts and connection errors. Other answers
    /// (4xx, or a redirect, which is not followed) say the request itself is wrong.
    pub fn is_retryable(&self) -> bool {
        match self {
            HttpError::Status { status, .. } => *status == 429 || (500..=599).contains(status),
            HttpError::Timeout(_) | HttpError::Transport(_) => true,
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            HttpError::Status { retry_after, .. } => *retry_after,
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

/// How often and how patiently a call is tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Attempts, the first one included.
    pub max_attempts: usize,
    /// Wait before the first retry; it doubles at each retry (with jitter).
    pub min_delay: Duration,
    /// Longest wait between two attempts chosen by the backoff.
    pub max_delay: Duration,
    /// Longest `Retry-After` honoured; a longer one is cut to this.
    pub max_retry_after: Duration,
}

/// Runs `attempt` until it succeeds, fails for good, or the attempts are used up, waiting
/// with exponential backoff or as `Retry-After` asks. `on_retry` hears of each retry.
pub async fn with_retries<T, F, Fut>(
    backoff: Backoff,
    attempt: F,
    on_retry: impl Fn(&HttpError, Duration),
) -> Result<T, HttpError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, HttpError>>,
{
    let policy = ExponentialBuilder::default()
        .with_min_delay(backoff.min_delay)
        .with_max_delay(backoff.max_delay)
        .with_max_times(backoff.max_attempts.saturating_sub(1))
        .with_jitter();
    let max_retry_after = backoff.max_retry_after;
    attempt
        .retry(policy)
        .sleep(tokio::time::sleep)
        .when(HttpError::is_retryable)
        // `next` is `None` once the attempts are used up: a Retry-After does not add one.
        .adjust(move |err, next| {
            next.map(|delay| {
                err.retry_after()
                    .map_or(delay, |asked| asked.min(max_retry_after))
            })
        })
        .notify(on_retry)
        .await
}

/// `Retry-After` as seconds or as an HTTP date (RFC 9110 section 10.2.3).
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
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
        let status = |status| HttpError::Status {
            status,
            retry_after: None,
        };
        for code in [429, 500, 502, 503, 504] {
            assert!(status(code).is_retryable(), "{code}");
        }
        for code in [301, 400, 401, 403, 404, 410, 413] {
            assert!(!status(code).is_retryable(), "{code}");
        }
        assert!(HttpError::Timeout(Duration::from_secs(1)).is_retryable());
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_sets_the_wait_and_the_attempts_stay_bounded() {
        let backoff = Backoff {
            max_attempts: 3,
            min_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(10),
            max_retry_after: Duration::from_secs(5),
        };
        let started = tokio::time::Instant::now();
        let attempts = std::sync::atomic::AtomicUsize::new(0);
        let result: Result<(), _> = with_retries(
            backoff,
            || async {
                attempts.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                Err(HttpError::Status {
                    status: 429,
                    retry_after: Some(Duration::from_secs(60)),
                })
            },
            |_, _| {},
        )
        .await;
        assert!(matches!(result, Err(HttpError::Status { status: 429, .. })));
        assert_eq!(attempts.into_inner(), 3);
        // Two waits, each cut to the longest Retry-After honoured.
        assert_eq!(started.elapsed(), Duration::from_secs(10));
    }
}
