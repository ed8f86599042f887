//! Incident Commander's storage: incidents and their transitions, in SQLite (one file, the
//! default) or PostgreSQL (shared by several instances).
//!
//! [`open`] picks the backend from a URL at run time and returns a [`SqlStore`], which
//! implements the [`Store`] trait; the app may hold it as it is or behind `Arc<dyn Store>`.
//! Both backends run the same queries (through sqlx's Any driver); they differ only in their
//! connection settings and their migrations (`migrations/sqlite`, `migrations/postgres`), which
//! run at open.
//!
//! Beside incidents it records every analyzed window, so that totals across instances come
//! from the database ([`Store::totals`]).
//!
//! At most one incident per fingerprint is open at a time, across every instance sharing a
//! database: a partial unique index refuses a second one, and [`Store::save`] reports it as
//! [`StoreError::DuplicateOpen`] so the caller can adopt the open one
//! ([`Store::open_by_fingerprint`]).

mod columns;
mod connect;
mod error;
mod sql;

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ic_core::incident::{Incident, IncidentEvent, IncidentStatus, Transition};
use ic_core::{Report, Severity};

pub use connect::open;
pub use error::{StoreError, redact_url};
pub use sql::SqlStore;

/// Where incidents live. Each change is one transaction: a reader never sees half of it.
#[async_trait]
pub trait Store: Send + Sync {
    /// Inserts or replaces the incident of `event` (by id) and records its transition;
    /// [`Transition::Updated`] is not recorded, it would drown the others. An acknowledgement
    /// already stored is kept even when the event's incident has none.
    ///
    /// Fails with [`StoreError::DuplicateOpen`] when the incident is open and another open
    /// incident has its fingerprint.
    async fn save(&self, event: &IncidentEvent) -> Result<(), StoreError>;

    /// The incident with this id, or [`StoreError::NotFound`].
    async fn get(&self, id: &str) -> Result<Incident, StoreError>;

    /// The open incident with this fingerprint, if any.
    async fn open_by_fingerprint(&self, fingerprint: &str) -> Result<Option<Incident>, StoreError>;

    /// The incidents that match `filter`, the most recently seen first.
    async fn list(&self, filter: &IncidentFilter) -> Result<Vec<Incident>, StoreError>;

    /// What a restarted correlator needs: every open incident, and those opened at or after
    /// `since` (the caller passes now − 7 days, for "seen before" and reopening); oldest
    /// first.
    async fn restore(&self, since: DateTime<Utc>) -> Result<Vec<Incident>, StoreError>;

    /// The recorded transitions of an incident, oldest first; empty for an unknown id.
    async fn transitions(&self, id: &str) -> Result<Vec<TransitionRecord>, StoreError>;

    /// Marks the incident acknowledged at `at` (the first acknowledgement is kept) and returns
    /// it; [`StoreError::NotFound`] for an unknown id.
    async fn acknowledge(&self, id: &str, at: DateTime<Utc>) -> Result<Incident, StoreError>;

    /// Resolves an open incident by hand at `at`, records the transition, and returns the
    /// incident; an incident already resolved is returned unchanged. [`StoreError::NotFound`]
    /// for an unknown id.
    async fn resolve(&self, id: &str, at: DateTime<Utc>) -> Result<Incident, StoreError>;

    /// Deletes resolved incidents, with their transitions, that resolved before
    /// `now - retention.max_age`, then those beyond the `retention.max_count` most recently
    /// resolved. Open incidents are never deleted. Returns how many were deleted. Windows
    /// that ended before `now - retention.max_age` go too (they are not counted).
    async fn prune(&self, retention: &Retention, now: DateTime<Utc>) -> Result<u64, StoreError>;

    /// Records analyzed windows, by the `instance` that analyzed them, and the stream
    /// messages whose events they hold, in one transaction. A window already recorded (an
    /// LLM's revision of its report) keeps its row and its count; its severity and analyzer
    /// are rewritten.
    async fn record_windows(
        &self,
        instance: &str,
        windows: &[&Report],
        consumed: &[Consumed],
    ) -> Result<(), StoreError>;

    /// How many events of a stream message are already counted in stored windows: 0 for a
    /// message never seen.
    async fn consumed(&self, stream: &str, seq: u64) -> Result<u64, StoreError>;

    /// What the database holds across every instance.
    async fn totals(&self) -> Result<Totals, StoreError>;

    /// Succeeds when the database answers a query, for readiness probes.
    async fn ping(&self) -> Result<(), StoreError>;
}

/// Events of one stream message held by the windows being recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consumed {
    pub stream: String,
    /// The message's sequence number in its stream.
    pub seq: u64,
    pub events: u64,
}

/// Sums over everything stored ([`Store::totals`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    /// Lines of every recorded window.
    pub lines_analyzed: u64,
    pub windows: u64,
    pub open_incidents: u64,
    pub resolved_incidents: u64,
}

/// Which incidents [`Store::list`] returns; the default returns all of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IncidentFilter {
    /// Only incidents in this status.
    pub status: Option<IncidentStatus>,
    /// Only incidents at least this severe.
    pub min_severity: Option<Severity>,
    /// Only incidents whose root-cause service, or one of whose impacted services, is this one.
    pub service: Option<String>,
    /// At most this many incidents (the most recently seen).
    pub limit: Option<u32>,
}

/// How long resolved incidents are kept (see [`Store::prune`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Resolved incidents older than this go; default 30 days.
    pub max_age: Duration,
    /// At most this many resolved incidents stay, the most recently resolved; default 10,000.
    pub max_count: u64,
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            max_age: Duration::from_secs(30 * 24 * 3600),
            max_count: 10_000,
        }
    }
}

/// The database behind a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// One file (or memory), for a single instance.
    Sqlite,
    /// A server, shared by several instances.
    Postgres,
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
        })
    }
}

/// One recorded transition of an incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransitionRecord {
    /// What happened: never [`Transition::Updated`], which is not recorded.
    pub transition: Transition,
    /// When it happened: the opening time, the last report's time for an escalation or a
    /// reopening, the resolve time.
    pub at: DateTime<Utc>,
}
