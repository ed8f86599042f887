//! Where incident transitions go after the correlator: the store and the webhooks.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use ic_core::incident::{Incident, IncidentEvent, Transition};
use ic_store::{Retention, Store, StoreError};

use crate::notify::Notifier;

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

/// Saves transitions and sends the ones people are told about.
pub struct IncidentSink {
    store: Option<Arc<dyn Store>>,
    notifier: Option<Notifier>,
}

impl IncidentSink {
    pub fn new(store: Option<Arc<dyn Store>>, notifier: Option<Notifier>) -> Self {
        Self { store, notifier }
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
