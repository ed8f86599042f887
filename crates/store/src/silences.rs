//! Silences, and the notifications they keep back.
//!
//! Taking from the outbox asks the caller which silences mute each incident (the caller holds
//! them compiled; SQL cannot run their regexes). A muted opening, escalation or reopening is
//! not sent: the first one an incident's receivers have not heard of is kept in `held`, in the
//! transaction that took it. [`SqlStore::release_held`] puts it back in the outbox, with the
//! incident as it is by then, once nothing mutes the incident and it is still open: the
//! notification Alertmanager sends when a silence ends over a firing alert. A resolve is sent
//! whenever the receivers heard of the incident, silenced or not, so that a page left open
//! upstream closes; an incident that resolves before they heard of it is never sent at all.

use chrono::{DateTime, Utc};
use ic_core::incident::{IncidentEvent, IncidentStatus, Transition};
use ic_core::silence::Silence;
use sqlx::{Any, Row, Transaction};

use crate::columns::{optional_time, parse_time, parse_transition, time};
use crate::merge::{enqueue, find};
use crate::notes::note;
use crate::{Backend, Muted, NoteEvent, SqlStore, StoreError, Taken};

/// Silences not yet expired that a store keeps, at most: every instance holds them all in
/// memory and matches each notification against them.
pub const MAX_SILENCES: u64 = 1000;

impl SqlStore {
    pub(crate) async fn save_silence_in(
        &self,
        silence: &Silence,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let json = serde_json::to_string(silence)
            .map_err(|e| StoreError::corrupt(&silence.id, format_args!("as JSON: {e}")))?;
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO silences (id, starts_at, ends_at, updated_at, matched_at, silence)
             VALUES ($1, $2, $3, $4, NULL, $5)
             ON CONFLICT (id) DO UPDATE SET starts_at = excluded.starts_at,
                 ends_at = excluded.ends_at, updated_at = excluded.updated_at,
                 silence = excluded.silence",
        )
        .bind(&silence.id)
        .bind(time(silence.terms.starts_at))
        .bind(time(silence.terms.ends_at))
        .bind(time(silence.updated_at))
        .bind(&json)
        .execute(&mut *tx)
        .await?;
        // Counted after the write, in its transaction: two instances adding at once cannot
        // both pass a count taken before either wrote.
        let unexpired: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM silences WHERE ends_at > $1")
            .bind(time(now))
            .fetch_one(&mut *tx)
            .await?;
        if u64::try_from(unexpired).unwrap_or(0) > MAX_SILENCES {
            return Err(StoreError::TooManySilences { max: MAX_SILENCES });
        }
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn mark_matched_in(
        &self,
        ids: &[String],
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        mark_matched(&mut tx, ids, at).await?;
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn silences_in(
        &self,
        ending_after: Option<DateTime<Utc>>,
    ) -> Result<Vec<Silence>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, silence, ends_at, matched_at FROM silences
             WHERE $1 IS NULL OR ends_at > $1 ORDER BY starts_at DESC, id",
        )
        .bind(optional_time(ending_after))
        .fetch_all(&self.pool)
        .await?;
        // A silence this version cannot read (a later version's matcher or field) is left out
        // and said so, rather than keeping every other silence from being honoured.
        let silences = rows
            .iter()
            .filter_map(|row| match silence_from_row(row) {
                Ok(silence) => Some(silence),
                Err(err) => {
                    tracing::warn!(%err, "A stored silence cannot be read; it is left out.");
                    None
                }
            })
            .collect();
        Ok(silences)
    }

    pub(crate) async fn silence_in(&self, id: &str) -> Result<Silence, StoreError> {
        let row =
            sqlx::query("SELECT id, silence, ends_at, matched_at FROM silences WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?
                .ok_or_else(|| StoreError::NoSilence { id: id.to_owned() })?;
        silence_from_row(&row)
    }

    pub(crate) async fn expire_silence_in(
        &self,
        id: &str,
        at: DateTime<Utc>,
    ) -> Result<Silence, StoreError> {
        let mut silence = self.silence_in(id).await?;
        if silence.terms.ends_at <= at {
            return Ok(silence);
        }
        // A maintenance window that never began ends where it would have begun.
        silence.terms.starts_at = silence.terms.starts_at.min(at);
        silence.terms.ends_at = at;
        silence.updated_at = at;
        let json = serde_json::to_string(&silence)
            .map_err(|e| StoreError::corrupt(id, format_args!("as JSON: {e}")))?;
        sqlx::query(
            "UPDATE silences SET starts_at = $2, ends_at = $3, updated_at = $3, silence = $4
             WHERE id = $1 AND ends_at > $3",
        )
        .bind(id)
        .bind(time(silence.terms.starts_at))
        .bind(time(at))
        .bind(&json)
        .execute(&self.pool)
        .await?;
        self.silence_in(id).await
    }

    /// [`crate::Store::take_notifications`]: takes, holds what is muted, returns the rest.
    pub(crate) async fn take_outbox(
        &self,
        limit: u32,
        muted: &Muted<'_>,
        now: DateTime<Utc>,
    ) -> Result<Taken, StoreError> {
        let mut tx = self.pool.begin().await?;
        // One statement: the rows are chosen and deleted together. On PostgreSQL, rows another
        // instance is taking are skipped rather than waited for; SQLite has one writer.
        let statement = match self.backend() {
            Backend::Postgres => {
                "DELETE FROM outbox WHERE seq IN
                     (SELECT seq FROM outbox ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED)
                 RETURNING seq, incident_id, event"
            }
            Backend::Sqlite => {
                "DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox ORDER BY seq LIMIT $1)
                 RETURNING seq, incident_id, event"
            }
        };
        let mut rows: Vec<(i64, String, String)> = sqlx::query_as(statement)
            .bind(i64::from(limit))
            .fetch_all(&mut *tx)
            .await?;
        rows.sort_unstable_by_key(|(seq, _, _)| *seq);
        let mut taken = Taken::default();
        for (_, id, json) in rows {
            let event: IncidentEvent = serde_json::from_str(&json).map_err(|e| {
                StoreError::corrupt(&id, format_args!("its outbox entry does not parse: {e}"))
            })?;
            let held = take_held(&mut tx, &id).await?;
            // The event's own copy of the incident is what would be sent, so it is matched.
            let silences = muted(&event.incident);
            match decide(event, held, &silences) {
                Decision::Send(event) => taken.send.push(event),
                Decision::Hold(event) => {
                    hold(&mut tx, &event, held, &silences, now).await?;
                    taken.held.push(event);
                }
                Decision::Drop => {}
            }
        }
        tx.commit().await?;
        Ok(taken)
    }

    /// [`crate::Store::release_held`].
    pub(crate) async fn release_held_in(
        &self,
        muted: &Muted<'_>,
        now: DateTime<Utc>,
    ) -> Result<Vec<IncidentEvent>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let statement = match self.backend() {
            Backend::Postgres => {
                "SELECT incident_id, transition FROM held ORDER BY held_at FOR UPDATE SKIP LOCKED"
            }
            Backend::Sqlite => "SELECT incident_id, transition FROM held ORDER BY held_at",
        };
        let rows: Vec<(String, String)> = sqlx::query_as(statement).fetch_all(&mut *tx).await?;
        let mut released = Vec::new();
        for (id, transition) in rows {
            let transition = parse_transition(&id, &transition)?;
            let incident = find(
                &mut tx,
                crate::columns::select_incidents!("WHERE id = $1"),
                &id,
            )
            .await?;
            let still_held = match &incident {
                Some(incident) if incident.status == IncidentStatus::Open => {
                    let silences = muted(incident);
                    mark_matched(&mut tx, &silences, now).await?;
                    !silences.is_empty()
                }
                // Resolved before anyone heard of it: there is nothing to tell.
                _ => false,
            };
            if still_held {
                continue;
            }
            sqlx::query("DELETE FROM held WHERE incident_id = $1")
                .bind(&id)
                .execute(&mut *tx)
                .await?;
            if let Some(incident) = incident.filter(|i| i.status == IncidentStatus::Open) {
                let event = IncidentEvent {
                    transition,
                    incident,
                };
                enqueue(&mut tx, &event).await?;
                let detail = format!("notifying the {} held back", transition.as_str());
                note(&mut tx, &id, NoteEvent::Unsilenced, &detail, now).await?;
                released.push(event);
            }
        }
        tx.commit().await?;
        Ok(released)
    }
}

/// What to do with one transition taken from the outbox.
enum Decision {
    Send(IncidentEvent),
    /// Keep it back, for the silences that mute it.
    Hold(IncidentEvent),
    Drop,
}

/// See the module documentation. `held` is the transition kept back for the incident, if
/// any; `silences` those muting the incident now.
fn decide(mut event: IncidentEvent, held: Option<Transition>, silences: &[String]) -> Decision {
    let unheard = matches!(held, Some(Transition::Opened | Transition::Reopened));
    match event.transition {
        Transition::Resolved if unheard => Decision::Drop,
        Transition::Resolved => Decision::Send(event),
        _ if !silences.is_empty() => Decision::Hold(event),
        _ => {
            // The receivers first hear of it now: as the opening they missed.
            if let Some(first @ (Transition::Opened | Transition::Reopened)) = held {
                event.transition = first;
            }
            Decision::Send(event)
        }
    }
}

/// The transition held for an incident, removing it: a decision puts it back if it holds.
async fn take_held(
    tx: &mut Transaction<'_, Any>,
    incident_id: &str,
) -> Result<Option<Transition>, StoreError> {
    let held: Option<String> =
        sqlx::query_scalar("DELETE FROM held WHERE incident_id = $1 RETURNING transition")
            .bind(incident_id)
            .fetch_optional(&mut **tx)
            .await?;
    held.map(|t| parse_transition(incident_id, &t)).transpose()
}

/// Keeps `event` back: as the first transition not heard of, unless one was already held.
async fn hold(
    tx: &mut Transaction<'_, Any>,
    event: &IncidentEvent,
    held: Option<Transition>,
    silences: &[String],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let transition = held.unwrap_or(event.transition);
    sqlx::query("INSERT INTO held (incident_id, transition, held_at) VALUES ($1, $2, $3)")
        .bind(&event.incident.id)
        .bind(transition.as_str())
        .bind(time(now))
        .execute(&mut **tx)
        .await?;
    let detail = format!(
        "{} held back by silence {}",
        event.transition.as_str(),
        silences.join(", ")
    );
    note(tx, &event.incident.id, NoteEvent::Silenced, &detail, now).await?;
    mark_matched(tx, silences, now).await
}

/// Records that these silences matched an incident, the first time they do.
async fn mark_matched(
    tx: &mut Transaction<'_, Any>,
    silences: &[String],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    for id in silences {
        sqlx::query("UPDATE silences SET matched_at = $1 WHERE id = $2 AND matched_at IS NULL")
            .bind(time(now))
            .bind(id)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// The silence of a row with `id, silence, ends_at, matched_at`; the columns win.
fn silence_from_row(row: &sqlx::any::AnyRow) -> Result<Silence, StoreError> {
    let id: String = row.try_get("id")?;
    let json: String = row.try_get("silence")?;
    let mut silence: Silence = serde_json::from_str(&json)
        .map_err(|e| StoreError::corrupt(&id, format_args!("the silence does not parse: {e}")))?;
    silence.terms.ends_at = parse_time(&id, &row.try_get::<String, _>("ends_at")?)?;
    silence.matched_at = row
        .try_get::<Option<String>, _>("matched_at")?
        .map(|at| parse_time(&id, &at))
        .transpose()?;
    Ok(silence)
}
