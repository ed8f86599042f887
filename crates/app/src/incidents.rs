//! Where the analysis goes after the correlator: incident transitions to the store and the
//! webhooks, and every window's count to the store, for totals across instances.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use ic_core::Report;
use ic_core::incident::{Incident, IncidentEvent, Transition};
use ic_store::{Consumed, Retention, Store, StoreError};

use crate::notify::Notifier;
use crate::pipeline::Origin;

/// How far back a restarted correlator looks for "seen before" and reopening.
const RESTORE_DAYS: i64 = 7;

/// Opens the store and reads what a restarted correlator needs.
pub async fn open_store(url: &str) -> anyhow::Result<(Arc<dyn Store>, Vec<Incident>)> {
    let store = ic_store::open(url).await?;
    let since = Utc::now() - chrono::TimeDelta::days(RESTORE_DAYS);
    let restored = store.restore(since).await?;
    let open = restored.iter().filter(|i| i.resolved_at.is_none()).count();
    tracing::info!(
        db = %ic_store::redact_url(url),
        open,
        recent = restored.len() - open,
        "Incident store opened."
    );
    Ok((Arc::new(store), restored))
}

/// Saves transitions and windows, and sends the transitions people are told about.
pub struct IncidentSink {
    store: Option<Arc<dyn Store>>,
    notifier: Option<Notifier>,
    /// Names this run's windows in the store: host, process and start time, so that no two
    /// runs, here or on another machine, share one.
    instance: String,
}

impl IncidentSink {
    pub fn new(store: Option<Arc<dyn Store>>, notifier: Option<Notifier>) -> Self {
        Self {
            store,
            notifier,
            instance: instance_name().to_owned(),
        }
    }

    /// Records the windows of `reports` (a revision rewrites its window) with the stream
    /// messages whose events they hold, then tells those messages' sources. Failures are
    /// logged, never fatal: the messages are then delivered again.
    pub async fn record_windows(&self, reports: &[Report], origins: &[Origin]) {
        let Some(store) = &self.store else { return };
        if reports.is_empty() && origins.is_empty() {
            return;
        }
        let reports: Vec<&Report> = reports.iter().collect();
        let consumed = consumed(origins);
        match store
            .record_windows(&self.instance, &reports, &consumed)
            .await
        {
            Ok(()) => {
                for origin in origins {
                    origin.receipt.stored(origin.events);
                }
            }
            Err(err) => {
                tracing::error!(%err, windows = reports.len(), "Recording windows failed.");
                for origin in origins {
                    origin.receipt.failed();
                }
            }
        }
    }

    /// Handles one group of transitions, in order. A run of updates to one incident is saved
    /// once, as its latest state: a storm updates its incident every window.
    pub async fn handle(&self, events: &[IncidentEvent]) {
        for (i, event) in events.iter().enumerate() {
            if let Some(notifier) = &self.notifier {
                notifier.notify(event);
            }
            let superseded = event.transition == Transition::Updated
                && events[i + 1..]
                    .iter()
                    .any(|later| later.incident.id == event.incident.id);
            if !superseded {
                self.save(event).await;
            }
        }
    }

    async fn save(&self, event: &IncidentEvent) {
        let Some(store) = &self.store else { return };
        match store.save(event).await {
            Ok(()) => {}
            Err(StoreError::DuplicateOpen { fingerprint, .. }) => tracing::warn!(
                id = %event.incident.id,
                %fingerprint,
                "Another instance holds the open incident of this fingerprint; not saved."
            ),
            Err(err) => {
                tracing::error!(id = %event.incident.id, %err, "Saving an incident failed.")
            }
        }
    }

    /// Deletes what the retention allows; failures are logged, never fatal.
    pub async fn prune(&self, retention: &Retention) {
        let Some(store) = &self.store else { return };
        match store.prune(retention, Utc::now()).await {
            Ok(0) => {}
            Ok(deleted) => tracing::info!(deleted, "Old incidents pruned."),
            Err(err) => tracing::error!(%err, "Pruning old incidents failed."),
        }
    }

    /// Lets the webhooks deliver what is queued, for at most `grace`.
    pub async fn close(self, grace: Duration) {
        if let Some(notifier) = self.notifier {
            for (target, stats) in notifier.shutdown(tokio::time::Instant::now() + grace).await {
                tracing::info!(
                    %target,
                    delivered = stats.delivered,
                    failed = stats.failed,
                    dropped = stats.dropped,
                    "Webhook closed."
                );
            }
        }
    }
}

/// Events per stream message, one record per message.
fn consumed(origins: &[Origin]) -> Vec<Consumed> {
    let mut events: HashMap<(&str, u64), u64> = HashMap::new();
    for origin in origins {
        *events.entry(origin.receipt.key()).or_default() += origin.events;
    }
    events
        .into_iter()
        .map(|((stream, seq), events)| Consumed {
            stream: stream.to_owned(),
            seq,
            events,
        })
        .collect()
}

/// This run's name, `HOST-PID-MILLIS`: the host from the kernel (or `HOSTNAME`), this
/// process, and its start; no two runs, here or on another machine, share one.
pub fn instance_name() -> &'static str {
    static NAME: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    NAME.get_or_init(name_this_run)
}

fn name_this_run() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned());
    format!(
        "{host}-{}-{}",
        std::process::id(),
        Utc::now().timestamp_millis()
    )
}
