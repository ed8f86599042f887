//! Webhook notifications: incidents that open, escalate or resolve are posted to the configured
//! targets, in generic JSON, Slack or PagerDuty Events v2 form.
//!
//! [`Notifier::notify`] is called by the pipeline and never waits: it puts the event in each
//! target's own bounded queue, which drops its oldest event when full. One worker per target
//! delivers its queue in order, with the target's timeout, retrying failures that may pass
//! (429, 5xx, timeouts, connection errors) with exponential backoff. A slow or dead target
//! therefore delays neither the pipeline nor the other targets. URLs are secrets: our log lines
//! name a target by its position and format (`webhook #2 (slack)`).

mod delivery;
mod lane;
mod payload;
mod route;
mod target;
#[cfg(test)]
pub(crate) mod testing;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use ic_core::incident::IncidentEvent;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::warn;

use delivery::Worker;
use lane::Lane;
use route::{NotifyEvent, Route};

pub use target::{TargetError, WebhookConfig, WebhookFormat, WebhookTarget};

/// How the notifier queues and retries. [`Default`] suits production.
#[derive(Debug, Clone)]
pub struct NotifierConfig {
    /// Events waiting per target; when full, the oldest waiting one is dropped.
    pub queue_capacity: usize,
    /// Attempts per event and target, the first one included.
    pub max_attempts: usize,
    /// Wait before the first retry; it doubles at each retry (with jitter).
    pub min_backoff: Duration,
    /// Longest wait between two attempts chosen by the backoff.
    pub max_backoff: Duration,
    /// Longest `Retry-After` honoured; a longer one is cut to this.
    pub max_retry_after: Duration,
    /// Requests in flight at once over all targets: each attempt holds a permit. A dead target
    /// holds at most one, for at most its timeout.
    pub max_in_flight: usize,
}

impl Default for NotifierConfig {
    fn default() -> Self {
        NotifierConfig {
            queue_capacity: 64,
            max_attempts: 5,
            min_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(60),
            max_in_flight: 8,
        }
    }
}

/// Names a target in log lines and metrics: its position (from 1) and its format, never its URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TargetLabel {
    /// Position among the configured targets, counting from 1.
    pub index: usize,
    pub format: WebhookFormat,
}

impl fmt::Display for TargetLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "webhook #{} ({})", self.index, self.format)
    }
}

/// What happened to one target's events so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TargetStats {
    /// Events the target accepted (a 2xx answer).
    pub delivered: u64,
    /// Attempts that failed and were tried again.
    pub retried: u64,
    /// Events given up: refused (4xx other than 429) or still failing after every attempt.
    pub failed: u64,
    /// Events never attempted to the end: pushed out of a full queue, or cut off by shutdown.
    pub dropped: u64,
}

/// A `[[webhooks]]` table of the configuration file that is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("[[webhooks]] table {index} of the config file: {source}")]
pub struct WebhookTableError {
    /// Its position in the file, counting from 1.
    pub index: usize,
    pub source: TargetError,
}

/// The targets to notify: those of the `--webhook` flags when any is given (`URL`,
/// `slack:URL`, `pagerduty:URL`), otherwise those of the file's `[[webhooks]]` tables.
///
/// Take the flags as strings and parse them here, not with a clap value parser: clap's own
/// error message would quote the value, and the URL is a secret.
pub fn targets(
    flags: &[String],
    file: &[WebhookConfig],
) -> Result<Vec<WebhookTarget>, WebhookSettingError> {
    if !flags.is_empty() {
        return flags
            .iter()
            .map(|flag| flag.parse().map_err(WebhookSettingError::Flag))
            .collect();
    }
    file.iter()
        .enumerate()
        .map(|(i, table)| {
            table.validate().map_err(|source| {
                WebhookSettingError::Table(WebhookTableError {
                    index: i + 1,
                    source,
                })
            })
        })
        .collect()
}

/// Why the webhook settings were refused. Like [`TargetError`], it never shows a URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookSettingError {
    #[error("--webhook: {0}")]
    Flag(TargetError),
    #[error(transparent)]
    Table(WebhookTableError),
}

/// Why the notifier could not start.
#[derive(Debug, thiserror::Error)]
pub enum NotifierError {
    #[error("cannot build the HTTP client for webhooks: {0}")]
    Client(#[source] reqwest::Error),
}

/// Sends incident events to webhook targets in the background. See the module documentation.
pub struct Notifier {
    lanes: Vec<Arc<Lane>>,
    tracker: TaskTracker,
    /// Cancels deliveries in progress when shutdown's deadline passes.
    abort: CancellationToken,
}

impl fmt::Debug for Notifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let labels: Vec<_> = self.lanes.iter().map(|lane| lane.label).collect();
        f.debug_struct("Notifier")
            .field("targets", &labels)
            .finish()
    }
}

impl Notifier {
    /// Starts one worker per target, with the default [`NotifierConfig`]. Call it inside a
    /// Tokio runtime. With no targets, the notifier does nothing.
    pub fn start(targets: Vec<WebhookTarget>) -> Result<Notifier, NotifierError> {
        Notifier::start_with(targets, NotifierConfig::default())
    }

    /// Starts one worker per target with the given queue and retry settings.
    pub fn start_with(
        targets: Vec<WebhookTarget>,
        config: NotifierConfig,
    ) -> Result<Notifier, NotifierError> {
        crate::http_retry::install_crypto_provider();
        let client = reqwest::Client::builder()
            // A redirect would resend the body (and its routing key) to another address.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("incident-commander/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|err| NotifierError::Client(err.without_url()))?;
        let config = Arc::new(config);
        let permits = Arc::new(Semaphore::new(config.max_in_flight.max(1)));
        let tracker = TaskTracker::new();
        let abort = CancellationToken::new();
        let mut lanes = Vec::with_capacity(targets.len());
        for (i, target) in targets.into_iter().enumerate() {
            let label = TargetLabel {
                index: i + 1,
                format: target.format,
            };
            let lane = Arc::new(Lane::new(
                label,
                config.queue_capacity.max(1),
                target.route.clone(),
            ));
            let worker = Worker {
                lane: Arc::clone(&lane),
                target,
                client: client.clone(),
                permits: Arc::clone(&permits),
                config: Arc::clone(&config),
                abort: abort.clone(),
            };
            tracker.spawn(worker.run());
            lanes.push(lane);
        }
        tracker.close();
        Ok(Notifier {
            lanes,
            tracker,
            abort,
        })
    }

    /// Queues the event for every target whose route sends it (see [`route`]). Never waits
    /// and never fails: a full queue drops its oldest event, counts it and logs a warning.
    pub fn notify(&self, event: &IncidentEvent) {
        let mut lanes = self
            .lanes
            .iter()
            .filter(|lane| lane.route.admits(event).is_some())
            .peekable();
        if lanes.peek().is_none() {
            if !self.lanes.is_empty() && NotifyEvent::of(event.transition).is_some() {
                metrics::counter!(crate::metrics::NOTIFICATIONS_SUPPRESSED, "reason" => "unrouted")
                    .increment(1);
            }
            return;
        }
        // One copy for all targets, however large the incident.
        let event = Arc::new(event.clone());
        for lane in lanes {
            if lane.push(Arc::clone(&event)) {
                warn!(
                    webhook = %lane.label,
                    capacity = lane.capacity(),
                    "Webhook queue full; dropped its oldest event."
                );
            }
        }
    }

    /// Counters of every target, in the order they were configured.
    pub fn stats(&self) -> Vec<(TargetLabel, TargetStats)> {
        self.lanes
            .iter()
            .map(|lane| (lane.label, lane.stats()))
            .collect()
    }

    /// Takes no more events and lets the workers deliver what is queued until `deadline`; then
    /// abandons what is left (counted as dropped). Returns the final counters.
    pub async fn shutdown(self, deadline: Instant) -> Vec<(TargetLabel, TargetStats)> {
        for lane in &self.lanes {
            lane.close();
        }
        if tokio::time::timeout_at(deadline, self.tracker.wait())
            .await
            .is_err()
        {
            self.abort.cancel();
            self.tracker.wait().await;
        }
        self.stats()
    }
}

/// A notifier dropped without [`Notifier::shutdown`] still lets its workers deliver what is
/// queued, then stop, rather than wait for events forever.
impl Drop for Notifier {
    fn drop(&mut self) {
        for lane in &self.lanes {
            lane.close();
        }
    }
}

#[cfg(test)]
mod tests;
