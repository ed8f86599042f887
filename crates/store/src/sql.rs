//! The store's queries, one implementation for both backends.
//!
//! Every statement is plain SQL that SQLite and PostgreSQL both accept (`$N` parameters,
//! `ON CONFLICT`, partial indexes), run through sqlx's Any driver with bound values. Each
//! transaction starts with a write, so that SQLite takes its write lock up front, waiting out
//! other writers with its busy timeout, instead of failing to upgrade a read lock later.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use ic_core::Report;
use ic_core::incident::{Incident, IncidentEvent, IncidentStatus};
use ic_core::silence::Silence;
use sqlx::{Any, AnyPool, Row, Transaction};

use crate::columns::{
    ROWS_PER_STATEMENT, column_text, incident_from_row, insert_rows, parse_time, parse_transition,
    select_incidents, severity_of_rank, severity_rank, time, transition_time,
};
use crate::counted::count_in;
use crate::incident_rows::{Write, record_transition, write_incident};
use crate::merge::{Writing, merge_in, take_turn};
use crate::notes::note;
use crate::{
    Backend, Batch, Consumed, Contribution, IncidentFilter, Muted, Note, NoteEvent, Pruned,
    Retention, Store, StoreError, Taken, Totals, TransitionRecord,
};

/// How often a merge that lost the race to open an incident tries again (it then finds it).
const MERGE_ATTEMPTS: u32 = 3;

/// What a person does to an incident by hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ByHand {
    Acknowledge,
    Resolve,
}

impl ByHand {
    /// The update that does it, only the first time: `$1` the id, `$2` when, `$3` now.
    fn statement(self) -> &'static str {
        match self {
            ByHand::Acknowledge => {
                "UPDATE incidents SET acknowledged_at = $2, updated_at = $3
                 WHERE id = $1 AND acknowledged_at IS NULL"
            }
            ByHand::Resolve => {
                "UPDATE incidents SET status = 'resolved', resolved_at = $2, updated_at = $3
                 WHERE id = $1 AND status = 'open'"
            }
        }
    }

    fn note(self) -> NoteEvent {
        match self {
            ByHand::Acknowledge => NoteEvent::Acknowledged,
            ByHand::Resolve => NoteEvent::ResolvedByHand,
        }
    }
}

/// A [`Store`] on SQLite or PostgreSQL; made by [`crate::open`]. Cloning shares the pool.
#[derive(Debug, Clone)]
pub struct SqlStore {
    pub(crate) pool: AnyPool,
    backend: Backend,
    /// Whether transitions go to the outbox ([`SqlStore::notifying`]).
    pub(crate) notifying: bool,
}

impl SqlStore {
    pub(crate) fn new(pool: AnyPool, backend: Backend) -> Self {
        Self {
            pool,
            backend,
            notifying: false,
        }
    }

    /// Writes the transitions a webhook may be told of to the outbox, for
    /// [`Store::take_notifications`]; off by default, so that a store nobody takes them
    /// from does not fill up. Every instance that sends webhooks turns it on.
    #[must_use]
    pub fn notifying(mut self, on: bool) -> Self {
        self.notifying = on;
        self
    }

    /// The database behind this store.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Waits for the queries in flight and closes every connection (on SQLite, the last one
    /// folds the write-ahead log back into the database file).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Does what a person did to an incident, once: the first acknowledgement, or the resolve
    /// of an open incident (announced to the outbox), noted with who did it; then the incident.
    async fn by_hand(
        &self,
        change: ByHand,
        id: &str,
        at: DateTime<Utc>,
        by: Option<&str>,
    ) -> Result<Incident, StoreError> {
        let mut tx = self.pool.begin().await?;
        let changed = sqlx::query(change.statement())
            .bind(id)
            .bind(time(at))
            .bind(time(Utc::now()))
            .execute(&mut *tx)
            .await?;
        if changed.rows_affected() > 0 {
            if change == ByHand::Resolve {
                self.announce_resolved(&mut tx, id, at).await?;
            }
            note(&mut tx, id, change.note(), &by_whom(by), at).await?;
        }
        tx.commit().await?;
        self.get(id).await
    }

    async fn fetch_incidents(
        &self,
        query: sqlx::query::Query<'_, Any, sqlx::any::AnyArguments>,
    ) -> Result<Vec<Incident>, StoreError> {
        query
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(incident_from_row)
            .collect()
    }
}

#[async_trait]
impl Store for SqlStore {
    async fn save(&self, event: &IncidentEvent) -> Result<(), StoreError> {
        let incident = &event.incident;
        let mut tx = self.pool.begin().await?;
        write_incident(&mut tx, incident, Write::Replace).await?;
        if let Some(at) = transition_time(event.transition, incident) {
            record_transition(&mut tx, incident, event.transition, at).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn merge(&self, contribution: &Contribution<'_>) -> Result<IncidentEvent, StoreError> {
        // Two instances opening the same fingerprint at once both find none open; the unique
        // index refuses the second, which then finds the first's and adds to it.
        let mut attempts = 0;
        loop {
            match self.merge_once(contribution).await {
                Err(StoreError::DuplicateOpen { .. }) if attempts < MERGE_ATTEMPTS => attempts += 1,
                merged => return merged,
            }
        }
    }

    async fn take_notifications(
        &self,
        limit: u32,
        muted: &Muted<'_>,
        now: DateTime<Utc>,
    ) -> Result<Taken, StoreError> {
        self.take_outbox(limit, muted, now).await
    }

    async fn release_held(
        &self,
        muted: &Muted<'_>,
        now: DateTime<Utc>,
    ) -> Result<Vec<IncidentEvent>, StoreError> {
        self.release_held_in(muted, now).await
    }

    async fn save_silence(&self, silence: &Silence, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.save_silence_in(silence, now).await
    }

    async fn mark_silences_matched(
        &self,
        ids: &[String],
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.mark_matched_in(ids, at).await
    }

    async fn silence(&self, id: &str) -> Result<Silence, StoreError> {
        self.silence_in(id).await
    }

    async fn silences(
        &self,
        ending_after: Option<DateTime<Utc>>,
    ) -> Result<Vec<Silence>, StoreError> {
        self.silences_in(ending_after).await
    }

    async fn expire_silence(&self, id: &str, at: DateTime<Utc>) -> Result<Silence, StoreError> {
        self.expire_silence_in(id, at).await
    }

    async fn resolve_abandoned(
        &self,
        quiet_for: Duration,
        resolve_after: Duration,
        seen_here: &[String],
        now: DateTime<Utc>,
    ) -> Result<Vec<IncidentEvent>, StoreError> {
        let Some(cutoff) = TimeDelta::from_std(quiet_for)
            .ok()
            .and_then(|quiet| now.checked_sub_signed(quiet))
        else {
            return Ok(Vec::new());
        };
        let stale = self
            .fetch_incidents(
                sqlx::query(select_incidents!(
                    "WHERE status = 'open' AND updated_at < $1"
                ))
                .bind(time(cutoff)),
            )
            .await?;
        let mut resolved = Vec::new();
        for incident in stale.iter().filter(|i| !seen_here.contains(&i.id)) {
            let at = TimeDelta::from_std(resolve_after)
                .ok()
                .and_then(|after| incident.last_seen.checked_add_signed(after))
                .unwrap_or(incident.last_seen);
            resolved.extend(
                self.resolve_if_untouched(&incident.id, time(cutoff), at)
                    .await?,
            );
        }
        Ok(resolved)
    }

    async fn get(&self, id: &str) -> Result<Incident, StoreError> {
        let row = sqlx::query(select_incidents!("WHERE id = $1"))
            .bind(id)
            .fetch_one(&self.pool)
            .await
            .map_err(StoreError::for_incident(id))?;
        incident_from_row(&row)
    }

    async fn open_by_fingerprint(&self, fingerprint: &str) -> Result<Option<Incident>, StoreError> {
        sqlx::query(select_incidents!(
            "WHERE fingerprint = $1 AND status = 'open'"
        ))
        .bind(fingerprint)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(incident_from_row)
        .transpose()
    }

    async fn list(&self, filter: &IncidentFilter) -> Result<Vec<Incident>, StoreError> {
        // One statement for every filter: an absent filter is a NULL parameter that the
        // `IS NULL OR` lets through.
        let query = select_incidents!(
            "WHERE ($1 IS NULL OR status = $1)
               AND ($2 IS NULL OR severity >= $2)
               AND ($3 IS NULL OR root_service = $3 OR id IN
                    (SELECT incident_id FROM incident_services WHERE service = $3))
             ORDER BY last_seen DESC, id DESC
             LIMIT $4"
        );
        let limit = filter.limit.map_or(i64::MAX, i64::from);
        self.fetch_incidents(
            sqlx::query(query)
                .bind(filter.status.map(IncidentStatus::as_str))
                .bind(filter.min_severity.map(severity_rank))
                .bind(filter.service.as_deref().map(column_text))
                .bind(limit),
        )
        .await
    }

    async fn restore(&self, since: DateTime<Utc>) -> Result<Vec<Incident>, StoreError> {
        let query =
            select_incidents!("WHERE status = 'open' OR opened_at >= $1 ORDER BY opened_at, id");
        self.fetch_incidents(sqlx::query(query).bind(time(since)))
            .await
    }

    async fn transitions(&self, id: &str) -> Result<Vec<TransitionRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT transition, at, severity FROM transitions WHERE incident_id = $1 ORDER BY seq",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(TransitionRecord {
                    transition: parse_transition(id, &row.try_get::<String, _>("transition")?)?,
                    at: parse_time(id, &row.try_get::<String, _>("at")?)?,
                    severity: row
                        .try_get::<Option<i64>, _>("severity")?
                        .and_then(severity_of_rank),
                })
            })
            .collect()
    }

    async fn notes(&self, id: &str) -> Result<Vec<Note>, StoreError> {
        self.notes_in(id).await
    }

    async fn acknowledge(
        &self,
        id: &str,
        at: DateTime<Utc>,
        by: Option<&str>,
    ) -> Result<Incident, StoreError> {
        self.by_hand(ByHand::Acknowledge, id, at, by).await
    }

    async fn resolve(
        &self,
        id: &str,
        at: DateTime<Utc>,
        by: Option<&str>,
    ) -> Result<Incident, StoreError> {
        self.by_hand(ByHand::Resolve, id, at, by).await
    }

    async fn prune(&self, retention: &Retention, now: DateTime<Utc>) -> Result<Pruned, StoreError> {
        // An age beyond what a time can hold keeps everything.
        let cutoff = chrono::TimeDelta::from_std(retention.max_age)
            .ok()
            .and_then(|age| now.checked_sub_signed(age))
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        let keep = i64::try_from(retention.max_count).unwrap_or(i64::MAX);
        // Transitions and services go with their incident (ON DELETE CASCADE).
        let mut tx = self.pool.begin().await?;
        // `updated_at`, `stored_at` and `at` are when the row was written, by the wall clock.
        let too_old =
            sqlx::query("DELETE FROM incidents WHERE status = 'resolved' AND updated_at < $1")
                .bind(time(cutoff))
                .execute(&mut *tx)
                .await?;
        let too_many = sqlx::query(
            "DELETE FROM incidents WHERE status = 'resolved' AND id NOT IN
                 (SELECT id FROM incidents WHERE status = 'resolved'
                  ORDER BY updated_at DESC, resolved_at DESC, id DESC LIMIT $1)",
        )
        .bind(keep)
        .execute(&mut *tx)
        .await?;
        let windows = sqlx::query("DELETE FROM windows WHERE stored_at < $1")
            .bind(time(cutoff))
            .execute(&mut *tx)
            .await?;
        let consumed = sqlx::query("DELETE FROM consumed WHERE at < $1")
            .bind(time(cutoff))
            .execute(&mut *tx)
            .await?;
        let silences = sqlx::query("DELETE FROM silences WHERE ends_at < $1")
            .bind(time(cutoff))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Pruned {
            incidents: too_old.rows_affected() + too_many.rows_affected(),
            windows: windows.rows_affected(),
            consumed: consumed.rows_affected(),
            silences: silences.rows_affected(),
        })
    }

    async fn record_windows(
        &self,
        instance: &str,
        windows: &[&Report],
        consumed: &[Consumed],
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        insert_windows_in(&mut tx, self.backend, instance, windows, consumed).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn begin(&self, fingerprints: &[&str]) -> Result<Box<dyn Batch>, StoreError> {
        let mut turns: Vec<String> = fingerprints.iter().map(|f| (*f).to_owned()).collect();
        // One order for every batch: two instances' batches over the same incidents then
        // wait for each other instead of each holding what the other waits for.
        turns.sort_unstable();
        turns.dedup();
        Ok(Box::new(SqlBatch {
            tx: self.pool.begin().await?,
            writing: self.writing(),
            turns,
        }))
    }

    async fn consumed(&self, stream: &str, seq: u64) -> Result<u64, StoreError> {
        let events: Option<i64> =
            sqlx::query_scalar("SELECT events FROM consumed WHERE stream = $1 AND seq = $2")
                .bind(stream)
                .bind(i64::try_from(seq).unwrap_or(i64::MAX))
                .fetch_optional(&self.pool)
                .await?;
        Ok(events.map_or(0, |n| u64::try_from(n).unwrap_or(0)))
    }

    async fn consumed_from(&self, stream: &str, seq: u64) -> Result<u64, StoreError> {
        // SUM of a BIGINT is NUMERIC on PostgreSQL, which the Any driver cannot read.
        let events: i64 = sqlx::query_scalar(
            "SELECT CAST(COALESCE(SUM(events), 0) AS BIGINT) FROM consumed
             WHERE stream = $1 AND seq >= $2",
        )
        .bind(stream)
        .bind(i64::try_from(seq).unwrap_or(i64::MAX))
        .fetch_one(&self.pool)
        .await?;
        Ok(u64::try_from(events).unwrap_or(0))
    }

    async fn totals(&self) -> Result<Totals, StoreError> {
        let row = sqlx::query(
            "SELECT
                 -- SUM of a BIGINT is NUMERIC on PostgreSQL, which the Any driver cannot read.
                 (SELECT CAST(COALESCE(SUM(log_count), 0) AS BIGINT) FROM windows) AS lines,
                 (SELECT COUNT(*) FROM windows) AS windows,
                 (SELECT COUNT(*) FROM incidents WHERE status = 'open') AS open,
                 (SELECT COUNT(*) FROM incidents WHERE status = 'resolved') AS resolved",
        )
        .fetch_one(&self.pool)
        .await?;
        let count = |name: &str| -> Result<u64, StoreError> {
            let n: i64 = row.try_get(name)?;
            Ok(u64::try_from(n).unwrap_or(0))
        };
        Ok(Totals {
            lines_analyzed: count("lines")?,
            windows: count("windows")?,
            open_incidents: count("open")?,
            resolved_incidents: count("resolved")?,
        })
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}

/// `INSERT INTO windows` of `rows` rows; a window already there keeps its count.
fn insert_windows(rows: usize) -> String {
    insert_rows(
        "INSERT INTO windows (id, instance, seq, start_at, end_at, log_count, severity, flush,
             analyzer, stored_at, incident, incident_lines) VALUES ",
        rows,
        12,
        " ON CONFLICT (id) DO UPDATE SET severity = excluded.severity,
             analyzer = excluded.analyzer, stored_at = excluded.stored_at",
    )
}

/// A note's detail for what a person did: `by ana`, or nothing said when no name was given.
fn by_whom(by: Option<&str>) -> String {
    by.map_or_else(String::new, |name| format!("by {name}"))
}

/// Writes in one transaction (see [`Store::begin`]).
struct SqlBatch {
    tx: Transaction<'static, Any>,
    writing: Writing,
    /// Turns still to take, sorted; taken all at once at the first merge.
    turns: Vec<String>,
}

#[async_trait]
impl Batch for SqlBatch {
    async fn record_windows(
        &mut self,
        instance: &str,
        windows: &[&Report],
        consumed: &[Consumed],
    ) -> Result<(), StoreError> {
        insert_windows_in(
            &mut self.tx,
            self.writing.backend,
            instance,
            windows,
            consumed,
        )
        .await
    }

    async fn merge(
        &mut self,
        contribution: &Contribution<'_>,
    ) -> Result<IncidentEvent, StoreError> {
        // Taken only now, after the windows were written, so that the turns are held for
        // the merges and the commit alone: other instances' window writes go on meanwhile.
        for fingerprint in std::mem::take(&mut self.turns) {
            take_turn(&mut self.tx, self.writing.backend, &fingerprint).await?;
        }
        merge_in(&mut self.tx, self.writing, contribution).await
    }

    async fn commit(self: Box<Self>) -> Result<(), StoreError> {
        self.tx.commit().await?;
        Ok(())
    }
}

/// Inserts windows, by the `instance` that analyzed them, and what they counted of stream
/// messages, in `tx`. Events of a message another recording counted first are left out of
/// their window's count (see [`crate::counted`]).
async fn insert_windows_in(
    tx: &mut Transaction<'_, Any>,
    backend: Backend,
    instance: &str,
    windows: &[&Report],
    consumed: &[Consumed],
) -> Result<(), StoreError> {
    let stored_at = time(Utc::now());
    let already = count_in(tx, backend, consumed, &stored_at).await?;
    for chunk in windows.chunks(ROWS_PER_STATEMENT) {
        // Only numbered placeholders are formatted into it: every value is bound.
        let statement = sqlx::AssertSqlSafe(insert_windows(chunk.len()));
        let mut query = sqlx::query(statement);
        for report in chunk {
            let window = &report.window;
            let folded = ic_core::incident::folded_into(report);
            let lines = folded.as_ref().map_or(0, |f| f.lines);
            let counted_elsewhere = already.get(&window.seq).copied().unwrap_or(0);
            let log_count = u64::from(window.log_count).saturating_sub(counted_elsewhere);
            query = query
                .bind(format!("{instance}:{}", window.seq))
                .bind(instance)
                .bind(i64::try_from(window.seq).unwrap_or(i64::MAX))
                .bind(time(window.start))
                .bind(time(window.end))
                .bind(i64::try_from(log_count).unwrap_or(i64::MAX))
                .bind(severity_rank(report.severity))
                .bind(window.flush.as_str())
                .bind(&report.analyzer)
                .bind(&stored_at)
                .bind(folded.map(|f| f.fingerprint))
                .bind(i64::try_from(lines).unwrap_or(i64::MAX));
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}
