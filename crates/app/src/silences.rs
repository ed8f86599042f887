//! The silences this instance honours: those of the store not yet expired, compiled, read
//! again every few seconds so that a silence made on another instance (or with `silences add`)
//! mutes here within seconds too.

use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use ic_core::incident::{Incident, IncidentStatus};
use ic_core::silence::{CompiledSilence, Silence, SilenceState};
use ic_store::{IncidentFilter, Store, StoreError};
use serde::Serialize;

/// The silences in force or to come, shared by the notifier's sink and the API.
#[derive(Debug, Default)]
pub struct Silences {
    kept: RwLock<Arc<Vec<CompiledSilence>>>,
}

impl Silences {
    /// Reads the silences not expired at `now` from the store and keeps them instead of those
    /// held so far; sets the `ic_silences_active` gauge.
    pub async fn refresh(&self, store: &dyn Store, now: DateTime<Utc>) -> Result<(), StoreError> {
        let stored = store.silences(Some(now)).await?;
        let compiled: Vec<CompiledSilence> = stored
            .iter()
            .filter_map(|silence| match silence.compile() {
                Ok(compiled) => Some(compiled),
                Err(err) => {
                    // Stored by a newer version, or by hand: one bad row must not stop the rest.
                    tracing::warn!(silence = %silence.id, %err, "Ignoring a stored silence.");
                    None
                }
            })
            .collect();
        let active = compiled.iter().filter(|s| s.silence.mutes_at(now)).count();
        metrics::gauge!(crate::metrics::SILENCES_ACTIVE).set(active as f64);
        *self.kept.write().expect("not poisoned") = Arc::new(compiled);
        Ok(())
    }

    /// The ids of the silences that mute `incident` at `now`.
    pub fn muting(&self, incident: &Incident, now: DateTime<Utc>) -> Vec<String> {
        self.snapshot()
            .iter()
            .filter(|s| s.mutes(incident, now))
            .map(|s| s.silence.id.clone())
            .collect()
    }

    /// The silences held now (cheap: shared, not copied).
    pub fn snapshot(&self) -> Arc<Vec<CompiledSilence>> {
        Arc::clone(&self.kept.read().expect("not poisoned"))
    }
}

/// Open incidents a listing matches silences against, at most (the most recently seen).
const MAX_OPEN_MATCHED: u32 = 1000;

/// A silence as the API and `silences --json` show it: Alertmanager's gettable silence
/// (`status.state` beside the silence) and the open incidents it mutes now.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Shown {
    #[serde(flatten)]
    pub silence: Silence,
    pub status: Status,
    /// Ids of the open incidents it mutes now.
    pub mutes: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct Status {
    pub state: SilenceState,
}

/// Records which silences mute an open incident at `now`, for those never seen to match
/// (a silence that matched nothing in its whole life is listed as such).
pub async fn mark_matched(
    store: &dyn Store,
    silences: &Silences,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let snapshot = silences.snapshot();
    let unmatched: Vec<&CompiledSilence> = snapshot
        .iter()
        .filter(|s| s.silence.matched_at.is_none() && s.silence.mutes_at(now))
        .collect();
    if unmatched.is_empty() {
        return Ok(());
    }
    let open = open_incidents(store).await?;
    let matched: Vec<String> = unmatched
        .iter()
        .filter(|s| open.iter().any(|incident| s.mutes(incident, now)))
        .map(|s| s.silence.id.clone())
        .collect();
    if matched.is_empty() {
        return Ok(());
    }
    store.mark_silences_matched(&matched, now).await?;
    silences.refresh(store, now).await
}

async fn open_incidents(store: &dyn Store) -> Result<Vec<Incident>, StoreError> {
    store
        .list(&IncidentFilter {
            status: Some(IncidentStatus::Open),
            limit: Some(MAX_OPEN_MATCHED),
            ..Default::default()
        })
        .await
}

/// `silences` as [`Shown`], matched against the store's open incidents at `now`.
pub async fn shown(
    store: &dyn Store,
    silences: Vec<Silence>,
    now: DateTime<Utc>,
) -> Result<Vec<Shown>, StoreError> {
    let open = open_incidents(store).await?;
    Ok(silences
        .into_iter()
        .map(|silence| {
            let mutes = match silence.compile() {
                Ok(compiled) => open
                    .iter()
                    .filter(|incident| compiled.mutes(incident, now))
                    .map(|incident| incident.id.clone())
                    .collect(),
                Err(_) => Vec::new(),
            };
            Shown {
                status: Status {
                    state: silence.state(now),
                },
                silence,
                mutes,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;
    use ic_core::Severity;
    use ic_core::silence::SilenceSpec;
    use ic_core::testing::{epoch, incident};

    use super::*;

    fn silence(id: &str, service: &str) -> Silence {
        let spec: SilenceSpec = serde_json::from_value(serde_json::json!({
            "matchers": [{"name": "service", "value": service}],
            "startsAt": epoch(), "endsAt": epoch() + TimeDelta::hours(1),
            "createdBy": "ana", "comment": "upgrade",
        }))
        .unwrap();
        spec.into_silence(id.into(), epoch())
    }

    #[tokio::test]
    async fn honours_what_the_store_holds() {
        let store = ic_store::open("sqlite::memory:").await.unwrap();
        store
            .save_silence(&silence("s1", "db"), epoch())
            .await
            .unwrap();
        let silences = Silences::default();
        let db = incident("i", "db", Severity::Critical);
        let api = incident("j", "api", Severity::Critical);
        assert!(silences.muting(&db, epoch()).is_empty(), "not read yet");
        silences.refresh(&store, epoch()).await.unwrap();
        assert_eq!(silences.muting(&db, epoch()), ["s1"]);
        assert!(
            silences
                .muting(&db, epoch() + TimeDelta::hours(1))
                .is_empty()
        );
        assert!(silences.muting(&api, epoch()).is_empty());
        // A refresh replaces what was held with what the store holds.
        store.expire_silence("s1", epoch()).await.unwrap();
        silences.refresh(&store, epoch()).await.unwrap();
        assert!(silences.muting(&db, epoch()).is_empty());
    }
}
