//! A target's worker: takes its events in order and posts each one, retrying with backoff.

use std::sync::Arc;

use reqwest::header::CONTENT_TYPE;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use super::lane::{Lane, Outcome};
use super::payload;
use super::route::NotifyEvent;
use super::{NotifierConfig, WebhookTarget};
use crate::http_retry::{Backoff, HttpError, with_retries};

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
            let kind = NotifyEvent::of(event.transition).map_or("", NotifyEvent::as_str);
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
    async fn deliver(&self, body: bytes::Bytes) -> Result<(), HttpError> {
        let backoff = Backoff {
            max_attempts: self.config.max_attempts,
            min_delay: self.config.min_backoff,
            max_delay: self.config.max_backoff,
            max_retry_after: self.config.max_retry_after,
        };
        with_retries(
            backoff,
            || self.attempt(body.clone()),
            |err, after| {
                self.lane.record(Outcome::Retried, 1);
                debug!(webhook = %self.lane.label, error = %err, retry_in = ?after, "Webhook attempt failed; retrying.");
            },
        )
        .await
    }

    /// One POST, holding a permit so that deliveries over all targets stay bounded.
    async fn attempt(&self, body: bytes::Bytes) -> Result<(), HttpError> {
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
            .map_err(|err| HttpError::sending(err, timeout))?;
        if response.status().is_success() {
            return Ok(());
        }
        Err(HttpError::status(&response))
    }
}
