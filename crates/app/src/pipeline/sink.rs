//! Where the analysis goes after the correlator: incident transitions to the store and the
//! webhooks, and every window's count to the store, for totals across instances.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use ic_core::Report;
use ic_core::incident::{CorrelatorConfig, Incident, IncidentEvent, IncidentStatus, Transition};
use ic_store::{Consumed, Contribution, IncidentFilter, Retention, Since, Store};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::notify::Notifier;
use crate::pipeline::Held;
use crate::silences::Silences;

/// How far back a restarted correlator looks for "seen before" and reopening.
const RESTORE_DAYS: i64 = 7;

/// Opens the store and reads what a restarted correlator needs. A `notifying` store keeps the
/// transitions for the webhooks in its outbox ([`IncidentSink`] sends them).
pub async fn open_store(
    url: &str,
    notifying: bool,
) -> anyhow::Result<(Arc<dyn Store>, Vec<Incident>)> {
    let store = ic_store::open(url).await?.notifying(notifying);
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
///
/// With a store, this instance's correlator only proposes: each of its incidents is a copy,
/// merged into the stored incident of its fingerprint, which every instance sharing the
/// database adds to; what the stored incident went through is what is shown and sent (from
/// the store's outbox, so that each transition is sent once across instances).
pub struct IncidentSink {
    store: Option<Arc<dyn Store>>,
    /// Whether the store takes what this instance writes, for the readiness check.
    writes: Arc<WriteHealth>,
    notifier: Option<Notifier>,
    /// What mutes notifications, read from the store (see [`IncidentSink::watch_silences`]).
    silences: Arc<Silences>,
    /// Names this run's windows in the store: host, process and start time, so that no two
    /// runs, here or on another machine, share one.
    instance: String,
    /// Templates an incident keeps, as the correlator keeps them.
    max_templates: usize,
    /// How long a quiet incident stays open, as the correlator keeps it.
    resolve_after: Duration,
    /// The correlator's copies by their id: where each was last merged, and as what.
    merged: Mutex<HashMap<String, Merged>>,
}

/// Whether the store takes what this instance writes: failing from a batch's first failure
/// until it is stored. An instance whose store cannot write is not ready: a balancer should
/// send its logs elsewhere.
#[derive(Debug)]
pub struct WriteHealth {
    /// Since when writes fail, and the latest error.
    failing: watch::Sender<Option<(DateTime<Utc>, String)>>,
}

impl Default for WriteHealth {
    fn default() -> Self {
        Self {
            failing: watch::Sender::new(None),
        }
    }
}

impl WriteHealth {
    pub fn succeeded(&self) {
        self.failing
            .send_if_modified(|failing| failing.take().is_some());
    }

    pub fn failed(&self, err: &ic_store::StoreError) {
        metrics::counter!(crate::metrics::STORE_WRITE_FAILURES).increment(1);
        self.failing.send_modify(|failing| {
            let since = failing.as_ref().map_or_else(Utc::now, |(since, _)| *since);
            *failing = Some((since, err.to_string()));
        });
    }

    /// Hears of every change between failing and not.
    #[cfg(test)]
    pub fn watch(&self) -> watch::Receiver<Option<(DateTime<Utc>, String)>> {
        self.failing.subscribe()
    }

    /// What keeps the store from taking this instance's writes, if anything does.
    pub fn problem(&self) -> Option<String> {
        let failing = self.failing.borrow();
        let (since, error) = failing.as_ref()?;
        Some(format!(
            "writing results has failed since {}: {error}",
            since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ))
    }
}

/// A copy of an incident as it was last merged into the stored incident `stored_id`.
struct Merged {
    stored_id: String,
    copy: Incident,
    /// When it was merged, by the wall clock, for forgetting it.
    at: chrono::DateTime<Utc>,
}

/// A batch that failed is tried again after this, then after twice as long each time, up to
/// [`LAST_RETRY`].
const FIRST_RETRY: Duration = Duration::from_millis(250);
const LAST_RETRY: Duration = Duration::from_secs(30);
/// Transitions taken from the outbox at a time.
const OUTBOX_BATCH: u32 = 100;
/// Copies of incidents resolved this long ago are forgotten (a reopen comes within minutes).
const FORGET_AFTER: chrono::TimeDelta = chrono::TimeDelta::days(1);

impl IncidentSink {
    pub fn new(
        store: Option<Arc<dyn Store>>,
        notifier: Option<Notifier>,
        silences: Arc<Silences>,
        correlator: &CorrelatorConfig,
        writes: Arc<WriteHealth>,
    ) -> Self {
        Self {
            store,
            writes,
            notifier,
            silences,
            instance: crate::instance::name().to_owned(),
            max_templates: correlator.max_templates,
            resolve_after: correlator.resolve_after,
            merged: Mutex::new(HashMap::new()),
        }
    }

    /// The incidents a restarted correlator picked up are copies of the stored ones as they
    /// are now.
    pub fn restored(&self, incidents: &[Incident]) {
        let mut merged = self.merged.lock().expect("not poisoned");
        for incident in incidents {
            merged.insert(
                incident.id.clone(),
                Merged {
                    stored_id: incident.id.clone(),
                    copy: incident.clone(),
                    at: Utc::now(),
                },
            );
        }
    }

    /// Stores one batch of results in one transaction: the windows of `reports` (a revision
    /// rewrites its window) with what they counted of stream messages, and the changes the
    /// correlator made to its incidents (in order; a run of updates to one incident is merged
    /// once, as its latest state: a storm updates its incident every window). Returns what the
    /// stored incidents went through, and tells the messages' sources.
    ///
    /// Together, they cannot part in a crash: a window stored without its incident's change,
    /// or a change merged for a window that was not stored and is analyzed again when its
    /// message comes back, would count its lines once too few or twice. A batch that fails is
    /// undone whole, logged, and tried again, with backoff, until it is stored: meanwhile
    /// nothing more is taken in (the pipeline fills, the NATS source stops pulling and keeps
    /// its messages in progress, HTTP ingest answers 429 once its queue is full) and the
    /// instance is not ready. Only once `give_up` is cancelled does a failing batch stay
    /// unstored: its stream messages come again, to whichever instance pulls next; what it held
    /// of other sources is lost, and the log says how much.
    pub async fn store(
        &self,
        reports: &[Report],
        origins: &[Held],
        events: &[IncidentEvent],
        give_up: &CancellationToken,
    ) -> Vec<IncidentEvent> {
        let Some(store) = &self.store else {
            // Nothing shared: what the correlator did is what happened.
            if let Some(notifier) = &self.notifier {
                events.iter().for_each(|event| notifier.notify(event));
            }
            return events.to_vec();
        };
        let changes: Vec<&IncidentEvent> = latest_changes(events).collect();
        if reports.is_empty() && origins.is_empty() && changes.is_empty() {
            return Vec::new();
        }
        let reports: Vec<&Report> = reports.iter().collect();
        let consumed = consumed(origins);
        let mut wait = FIRST_RETRY;
        loop {
            let written = self
                .write_batch(store.as_ref(), &reports, &consumed, &changes)
                .await;
            let err = match written {
                Ok(stored) => {
                    self.writes.succeeded();
                    for origin in Held::all(origins) {
                        origin.receipt.stored(origin.events);
                    }
                    self.send_waiting().await;
                    return stored;
                }
                Err(err) => err,
            };
            self.writes.failed(&err);
            let (windows, incidents) = (reports.len(), changes.len());
            if give_up.is_cancelled() {
                let lines: u64 = reports.iter().map(|r| u64::from(r.window.log_count)).sum();
                tracing::error!(
                    %err,
                    windows,
                    lines,
                    incidents,
                    "Storing windows and their incidents failed; given up at shutdown. \
                     Stream messages among them come again; lines from other sources are lost."
                );
                for origin in Held::all(origins) {
                    origin.receipt.failed();
                }
                return Vec::new();
            }
            tracing::error!(
                %err,
                windows,
                incidents,
                retry_in = ?wait,
                "Storing windows and their incidents failed; undone, trying again."
            );
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = give_up.cancelled() => {}
            }
            wait = (wait * 2).min(LAST_RETRY);
        }
    }

    /// One transaction: the windows, then each change merged; what the copies were merged
    /// into is remembered only once it committed.
    async fn write_batch(
        &self,
        store: &dyn Store,
        reports: &[&Report],
        consumed: &[Consumed],
        changes: &[&IncidentEvent],
    ) -> Result<Vec<IncidentEvent>, ic_store::StoreError> {
        let fingerprints: Vec<&str> = changes
            .iter()
            .map(|c| c.incident.fingerprint.as_str())
            .collect();
        let mut batch = store.begin(&fingerprints).await?;
        if !reports.is_empty() || !consumed.is_empty() {
            batch
                .record_windows(&self.instance, reports, consumed)
                .await?;
        }
        let mut merged = Vec::with_capacity(changes.len());
        // Within the batch, a copy merged earlier in it is found where it went.
        let mut pending: HashMap<String, Merged> = HashMap::new();
        for change in changes {
            let (local, since) = self.contribution_of(change, &pending);
            let contribution = Contribution {
                event: &local,
                since: since
                    .as_ref()
                    .map(|(stored_id, copy)| Since { stored_id, copy }),
                max_templates: self.max_templates,
            };
            let stored = batch.merge(&contribution).await?;
            pending.insert(
                change.incident.id.clone(),
                Merged {
                    stored_id: stored.incident.id.clone(),
                    copy: local.incident,
                    at: Utc::now(),
                },
            );
            merged.push(stored);
        }
        batch.commit().await?;
        self.merged.lock().expect("not poisoned").extend(pending);
        Ok(merged)
    }

    /// A change as the store is to merge it, and where its copy was merged last: the
    /// correlator names incidents by its copies' ids, the store by the stored ones. `pending`
    /// holds what an unfinished batch merged.
    fn contribution_of(
        &self,
        event: &IncidentEvent,
        pending: &HashMap<String, Merged>,
    ) -> (IncidentEvent, Option<(String, Incident)>) {
        let merged = self.merged.lock().expect("not poisoned");
        let known = |id: &str| pending.get(id).or_else(|| merged.get(id));
        let mut local = event.clone();
        // The correlator groups under its own copy's id; the store knows the stored one.
        if let Some(parent) = local.incident.parent.as_mut()
            && let Some(m) = known(parent.as_str())
        {
            parent.clone_from(&m.stored_id);
        }
        let since = known(&event.incident.id).map(|m| (m.stored_id.clone(), m.copy.clone()));
        (local, since)
    }

    /// What other instances sharing the store changed in the incidents a dashboard shows
    /// (`shown`: the open ones, with their windows): the open incidents it does not show or
    /// shows with other counts, and those it shows open that are no longer, as updates.
    /// Failures are logged; the next look tries again.
    pub async fn shared_changes(&self, shown: &HashMap<String, u64>) -> Vec<IncidentEvent> {
        let Some(store) = &self.store else {
            return Vec::new();
        };
        let filter = IncidentFilter {
            status: Some(IncidentStatus::Open),
            ..IncidentFilter::default()
        };
        let open = match store.list(&filter).await {
            Ok(open) => open,
            Err(err) => {
                tracing::warn!(%err, "Reading the shared incidents failed.");
                return Vec::new();
            }
        };
        let mut changed: Vec<Incident> = Vec::new();
        for id in shown.keys() {
            if !open.iter().any(|i| &i.id == id) {
                match store.get(id).await {
                    Ok(incident) => changed.push(incident),
                    Err(err) => tracing::warn!(%id, %err, "Reading a shared incident failed."),
                }
            }
        }
        changed.extend(
            open.into_iter()
                .filter(|i| shown.get(&i.id) != Some(&i.windows)),
        );
        changed
            .into_iter()
            .map(|incident| IncidentEvent {
                transition: Transition::Updated,
                incident,
            })
            .collect()
    }

    /// Resolves the shared incidents whose latest copy's instance died before resolving them:
    /// no instance wrote them for twice the resolve time, and this one does not see them.
    /// Whichever instance looks first resolves them; failures are logged.
    pub async fn resolve_abandoned(&self) -> Vec<IncidentEvent> {
        let Some(store) = &self.store else {
            return Vec::new();
        };
        let seen_here: Vec<String> = {
            let merged = self.merged.lock().expect("not poisoned");
            merged
                .values()
                .filter(|m| m.copy.status == IncidentStatus::Open)
                .map(|m| m.stored_id.clone())
                .collect()
        };
        let quiet_for = self.resolve_after.saturating_mul(2);
        match store
            .resolve_abandoned(quiet_for, self.resolve_after, &seen_here, Utc::now())
            .await
        {
            Ok(resolved) => resolved,
            Err(err) => {
                tracing::warn!(%err, "Looking for abandoned incidents failed.");
                Vec::new()
            }
        }
    }

    /// Reads the silences again (another instance or `silences add` may have changed them), and
    /// gives back to the outbox the notifications held for incidents nothing mutes any more;
    /// failures are logged, never fatal. The next [`IncidentSink::send_waiting`] sends them.
    pub async fn watch_silences(&self) {
        let Some(store) = &self.store else { return };
        let now = Utc::now();
        if let Err(err) = self.silences.refresh(store.as_ref(), now).await {
            tracing::warn!(%err, "Reading the silences failed; the last ones read still hold.");
        }
        if let Err(err) = crate::silences::mark_matched(store.as_ref(), &self.silences, now).await {
            tracing::warn!(%err, "Recording which silences matched failed.");
        }
        if self.notifier.is_none() {
            return;
        }
        let muted = |incident: &Incident| self.silences.muting(incident, now);
        match store.release_held(&muted, now).await {
            Ok(released) => {
                for event in released {
                    tracing::info!(
                        incident = %event.incident.id,
                        transition = event.transition.as_str(),
                        "No silence mutes the incident any more; notifying what was held."
                    );
                }
            }
            Err(err) => tracing::error!(%err, "Releasing held notifications failed."),
        }
    }

    /// Sends the transitions waiting in the store's outbox, this instance's and those of an
    /// instance that died before sending them, but those a silence mutes, which wait in the
    /// store (see [`IncidentSink::watch_silences`]); failures are logged, never fatal.
    pub async fn send_waiting(&self) {
        let (Some(store), Some(notifier)) = (&self.store, &self.notifier) else {
            return;
        };
        let now = Utc::now();
        let muted = |incident: &Incident| self.silences.muting(incident, now);
        loop {
            match store.take_notifications(OUTBOX_BATCH, &muted, now).await {
                Ok(taken) => {
                    taken.send.iter().for_each(|event| notifier.notify(event));
                    for event in &taken.held {
                        metrics::counter!(crate::metrics::NOTIFICATIONS_SUPPRESSED, "reason" => "silenced")
                            .increment(1);
                        tracing::info!(
                            incident = %event.incident.id,
                            transition = event.transition.as_str(),
                            "A silence holds the notification back."
                        );
                    }
                    if taken.send.len() + taken.held.len() < OUTBOX_BATCH as usize {
                        return;
                    }
                }
                Err(err) => {
                    tracing::error!(%err, "Taking notifications from the outbox failed.");
                    return;
                }
            }
        }
    }

    /// Deletes what the retention allows; failures are logged, never fatal.
    pub async fn prune(&self, retention: &Retention) {
        let Some(store) = &self.store else { return };
        let forget = Utc::now() - FORGET_AFTER;
        self.merged
            .lock()
            .expect("not poisoned")
            .retain(|_, m| m.copy.resolved_at.is_none() || m.at > forget);
        let now = Utc::now();
        match store.prune(retention, now).await {
            Ok(pruned) if pruned.is_empty() => {}
            Ok(pruned) => {
                for (table, rows) in [
                    ("incidents", pruned.incidents),
                    ("windows", pruned.windows),
                    ("consumed", pruned.consumed),
                    ("silences", pruned.silences),
                ] {
                    metrics::counter!(crate::metrics::ROWS_PRUNED, "table" => table)
                        .increment(rows);
                }
                tracing::info!(
                    incidents = pruned.incidents,
                    windows = pruned.windows,
                    consumed = pruned.consumed,
                    silences = pruned.silences,
                    max_age_days = retention.max_age.as_secs_f64() / 86_400.0,
                    max_count = retention.max_count,
                    "Pruned rows stored longer ago than the retention keeps."
                );
            }
            Err(err) => tracing::error!(%err, "Pruning past the retention failed."),
        }
    }

    /// Lets the webhooks deliver what is queued, for at most `grace`.
    pub async fn close(self, grace: Duration) {
        self.send_waiting().await;
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

/// The changes worth merging, in order: of a run of updates to one incident, only the last.
fn latest_changes(events: &[IncidentEvent]) -> impl Iterator<Item = &IncidentEvent> {
    events.iter().enumerate().filter_map(|(i, event)| {
        let superseded = event.transition == Transition::Updated
            && events[i + 1..]
                .iter()
                .any(|later| later.incident.id == event.incident.id);
        (!superseded).then_some(event)
    })
}

/// What each window holds of each stream message.
fn consumed(origins: &[Held]) -> Vec<Consumed> {
    origins
        .iter()
        .flat_map(|held| {
            held.origins.iter().map(|origin| {
                let (stream, seq) = origin.receipt.key();
                Consumed {
                    stream: stream.to_owned(),
                    seq,
                    first: origin.first,
                    events: origin.events,
                    window: held.window,
                }
            })
        })
        .collect()
}
