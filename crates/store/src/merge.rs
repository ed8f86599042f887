//! One incident per fingerprint across instances: each instance's copy is merged into the
//! stored incident under a lock on it, and the transitions a webhook may be told of (all but
//! updates; each target's route picks) go to an outbox in the same transaction.

use chrono::{DateTime, Utc};
use ic_core::incident::{Incident, IncidentEvent, IncidentStatus, Transition, merge};
use sqlx::{Any, Transaction};

use crate::columns::{incident_from_row, select_incidents, time, transition_time};
use crate::incident_rows::{Write, record_transition, write_incident};
use crate::notes::note;
use crate::{Backend, Contribution, NoteEvent, SqlStore, StoreError};

/// How a store writes: what a merge needs to know besides its transaction.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Writing {
    pub backend: Backend,
    /// Whether transitions go to the outbox.
    pub notifying: bool,
}

impl SqlStore {
    pub(crate) fn writing(&self) -> Writing {
        Writing {
            backend: self.backend(),
            notifying: self.notifying,
        }
    }

    /// One try of [`crate::Store::merge`] in a transaction of its own: fails with
    /// [`StoreError::DuplicateOpen`] when another instance opened the fingerprint's incident
    /// meanwhile.
    pub(crate) async fn merge_once(
        &self,
        contribution: &Contribution<'_>,
    ) -> Result<IncidentEvent, StoreError> {
        let mut tx = self.pool.begin().await?;
        let merged = merge_in(&mut tx, self.writing(), contribution).await?;
        tx.commit().await?;
        Ok(merged)
    }

    /// Resolves the open incident `id` at `at` if no instance wrote it since `cutoff` (one may
    /// have merged into it since it was read); the transition, when it did.
    pub(crate) async fn resolve_if_untouched(
        &self,
        id: &str,
        cutoff: String,
        at: DateTime<Utc>,
    ) -> Result<Option<IncidentEvent>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let resolved = sqlx::query(
            "UPDATE incidents SET status = 'resolved', resolved_at = $2, updated_at = $3
             WHERE id = $1 AND status = 'open' AND updated_at < $4",
        )
        .bind(id)
        .bind(time(at))
        .bind(time(Utc::now()))
        .bind(cutoff)
        .execute(&mut *tx)
        .await?;
        if resolved.rows_affected() == 0 {
            return Ok(None);
        }
        let event = self.announce_resolved(&mut tx, id, at).await?;
        tx.commit().await?;
        Ok(Some(event))
    }

    /// After `id` was resolved at `at` in `tx`: records the transition, and puts it in the
    /// outbox when the store is notifying.
    pub(crate) async fn announce_resolved(
        &self,
        tx: &mut Transaction<'_, Any>,
        id: &str,
        at: DateTime<Utc>,
    ) -> Result<IncidentEvent, StoreError> {
        let incident = find(tx, select_incidents!("WHERE id = $1"), id)
            .await?
            .ok_or_else(|| StoreError::NotFound { id: id.to_owned() })?;
        record_transition(tx, &incident, Transition::Resolved, at).await?;
        let event = IncidentEvent {
            transition: Transition::Resolved,
            incident,
        };
        if self.notifying {
            enqueue(tx, &event).await?;
        }
        Ok(event)
    }
}

/// Takes the turn of `fingerprint` in `tx`, until it ends: instances merging one fingerprint
/// take turns until the commit, so that none adds to a state it did not read, whether an
/// incident of it is open, resolved or not stored yet. On PostgreSQL a lock on the
/// fingerprint's hash (a row lock would miss the incidents not open), which a transaction may
/// take again; on SQLite the database's write lock, which the first write statement takes.
pub(crate) async fn take_turn(
    tx: &mut Transaction<'_, Any>,
    backend: Backend,
    fingerprint: &str,
) -> Result<(), StoreError> {
    if backend == Backend::Postgres {
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
            .bind(fingerprint)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Merges a copy into the stored incident of its fingerprint in `tx` (see
/// [`crate::Store::merge`]).
pub(crate) async fn merge_in(
    tx: &mut Transaction<'_, Any>,
    writing: Writing,
    contribution: &Contribution<'_>,
) -> Result<IncidentEvent, StoreError> {
    let local = &contribution.event.incident;
    take_turn(tx, writing.backend, &local.fingerprint).await?;
    // Also waits for a resolve by hand of the open incident (a row lock on PostgreSQL).
    sqlx::query(
        "UPDATE incidents SET updated_at = updated_at
         WHERE fingerprint = $1 AND status = 'open'",
    )
    .bind(&local.fingerprint)
    .execute(&mut **tx)
    .await?;
    let open = find(
        tx,
        select_incidents!("WHERE fingerprint = $1 AND status = 'open'"),
        &local.fingerprint,
    )
    .await?;
    // Who wrote the title and summary until now: an LLM's arriving is in the timeline.
    let written_by = open.as_ref().map(|stored| stored.analyzer.clone());
    let (transition, stored, write) = match open {
        Some(stored) => {
            let (transition, stored) = add_to_open(stored, contribution);
            (transition, stored, Write::Replace)
        }
        None => add_to_closed(tx, contribution).await?,
    };
    write_incident(tx, &stored, write).await?;
    if let Some(at) = transition_time(transition, &stored) {
        record_transition(tx, &stored, transition, at).await?;
    }
    let before = match transition {
        Transition::Opened => Some(ic_core::report::BUILTIN),
        _ => written_by.as_deref(),
    };
    if before.is_some_and(|before| before != stored.analyzer)
        && stored.analyzer != ic_core::report::BUILTIN
    {
        let detail = format!("by {}", stored.analyzer);
        note(
            tx,
            &stored.id,
            NoteEvent::Summarized,
            &detail,
            stored.last_seen,
        )
        .await?;
    }
    let merged = IncidentEvent {
        transition,
        incident: stored,
    };
    // Every transition a webhook route may send goes out, grouped incidents' too: each
    // target's route picks what it is told.
    if writing.notifying && merged.transition != Transition::Updated {
        enqueue(tx, &merged).await?;
    }
    Ok(merged)
}

/// No incident of the fingerprint is open: the one the copy was merged into gains the
/// counts, and reopens if the copy, still open, saw the failure after it resolved (an
/// instance that lags behind only adds what it saw before); or the copy opens a new one.
async fn add_to_closed(
    tx: &mut Transaction<'_, Any>,
    contribution: &Contribution<'_>,
) -> Result<(Transition, Incident, Write), StoreError> {
    let local = &contribution.event.incident;
    let earlier = match contribution.since {
        Some(since) => find(tx, select_incidents!("WHERE id = $1"), since.stored_id)
            .await?
            .map(|stored| (stored, since.copy)),
        None => None,
    };
    let Some((mut stored, since)) = earlier else {
        // Never merged (or pruned meanwhile): the copy is the incident.
        let mut incident = local.clone();
        incident.id = unused_id(tx, &local.id).await?;
        let transition = match incident.status {
            IncidentStatus::Open => Transition::Opened,
            IncidentStatus::Resolved => Transition::Updated,
        };
        return Ok((transition, incident, Write::New));
    };
    let recurred = local.status == IncidentStatus::Open
        && stored.resolved_at.is_none_or(|at| local.last_seen > at);
    merge(&mut stored, local, Some(since), contribution.max_templates);
    if !recurred {
        return Ok((Transition::Updated, stored, Write::Replace));
    }
    stored.status = IncidentStatus::Open;
    stored.resolved_at = None;
    stored.reopened += 1;
    Ok((Transition::Reopened, stored, Write::Replace))
}

/// The stored incident, open, gains the copy: an escalation when the copy is more severe; a
/// resolve when the copy resolved and no instance saw the incident later than it did.
fn add_to_open(mut stored: Incident, contribution: &Contribution<'_>) -> (Transition, Incident) {
    let local = &contribution.event.incident;
    let quiet = stored.last_seen <= local.last_seen;
    let since = contribution.since.map(|s| s.copy);
    let rose = merge(&mut stored, local, since, contribution.max_templates);
    if local.status == IncidentStatus::Resolved {
        if !quiet {
            // Another instance still sees it: it resolves when that one's copy does.
            return (Transition::Updated, stored);
        }
        stored.status = IncidentStatus::Resolved;
        stored.resolved_at = local.resolved_at;
        return (Transition::Resolved, stored);
    }
    match rose {
        true => (Transition::Escalated, stored),
        false => (Transition::Updated, stored),
    }
}

/// The one incident `statement` selects with `value` bound, if any.
pub(crate) async fn find(
    tx: &mut Transaction<'_, Any>,
    statement: &'static str,
    value: &str,
) -> Result<Option<Incident>, StoreError> {
    sqlx::query(statement)
        .bind(value)
        .fetch_optional(&mut **tx)
        .await?
        .as_ref()
        .map(incident_from_row)
        .transpose()
}

/// `id`, or `id-2`, `id-3`… when an incident has it: instances open incidents of one
/// fingerprint at the same second under the same id.
async fn unused_id(tx: &mut Transaction<'_, Any>, id: &str) -> Result<String, StoreError> {
    let mut candidate = id.to_owned();
    for n in 2.. {
        let taken = sqlx::query("SELECT id FROM incidents WHERE id = $1")
            .bind(&candidate)
            .fetch_optional(&mut **tx)
            .await?;
        if taken.is_none() {
            break;
        }
        candidate = format!("{id}-{n}");
    }
    Ok(candidate)
}

/// Puts a transition in the outbox.
pub(crate) async fn enqueue(
    tx: &mut Transaction<'_, Any>,
    event: &IncidentEvent,
) -> Result<(), StoreError> {
    let id = &event.incident.id;
    let json = serde_json::to_string(event)
        .map_err(|e| StoreError::corrupt(id, format_args!("cannot be written as JSON: {e}")))?;
    sqlx::query("INSERT INTO outbox (incident_id, event, created_at) VALUES ($1, $2, $3)")
        .bind(id)
        .bind(&json)
        .bind(time(Utc::now()))
        .execute(&mut **tx)
        .await?;
    Ok(())
}
