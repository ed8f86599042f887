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
//! database: a partial unique index refuses a second one. Instances do not write their own
//! incidents over each other's: [`Store::merge`] adds each instance's copy to the stored one
//! under a lock on it, and writes the transitions a webhook may be told of (every one but an
//! update) to an outbox that every instance takes from ([`Store::take_notifications`]), so
//! each is sent once.
//!
//! Silences live here too, shared by every instance; the notifications they keep back wait in
//! the database until the silence ends (see the `silences` module).

mod columns;
mod connect;
mod counted;
mod error;
mod incident_rows;
mod merge;
mod notes;
mod silences;
mod sql;
#[cfg(feature = "testing")]
pub mod testing;

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ic_core::incident::{Incident, IncidentEvent, IncidentStatus, Transition};
use ic_core::silence::Silence;
use ic_core::{Report, Severity};

pub use connect::{is_in_memory, open};
pub use error::{StoreError, redact_url};
pub use silences::MAX_SILENCES;
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

    /// Adds what an instance's correlator did to its own copy of an incident to the stored
    /// incident of that fingerprint, under a lock on it, and returns what the stored incident
    /// went through (see [`Contribution`]). Its transitions but updates also go to the outbox
    /// when the store is [`SqlStore::notifying`].
    ///
    /// - An open stored incident gains the copy's counts since `since`; it escalates when the
    ///   copy's severity is higher, and a copy that resolved resolves it only if no instance
    ///   saw it later than that copy did. Otherwise it is [`Transition::Updated`].
    /// - None open, and the copy was merged before: that incident, resolved meanwhile (by
    ///   another instance, or by hand), gains the counts and reopens, unless the copy
    ///   resolved too.
    /// - None open, and the copy was never merged: the copy is stored as a new incident
    ///   (under a fresh id if its own is taken), [`Transition::Opened`].
    async fn merge(&self, contribution: &Contribution<'_>) -> Result<IncidentEvent, StoreError>;

    /// Resolves the open incidents that no instance has written for `quiet_for` (by the wall
    /// clock), other than those in `seen_here`: the instance that held their latest copy died
    /// before resolving them. Each resolves `resolve_after` after it was last seen, records the
    /// transition (and writes the outbox, when notifying), and is returned.
    async fn resolve_abandoned(
        &self,
        quiet_for: Duration,
        resolve_after: Duration,
        seen_here: &[String],
        now: DateTime<Utc>,
    ) -> Result<Vec<IncidentEvent>, StoreError>;

    /// Takes up to `limit` transitions from the outbox, oldest first. Taking deletes them, and
    /// instances taking at once never get the same one. `muted` names the silences that mute
    /// an incident now: what they mute is kept back (in the same transaction) rather than
    /// returned to send, and they are marked as having matched at `now`. See the `silences`
    /// module for which transitions are held, sent or dropped.
    async fn take_notifications(
        &self,
        limit: u32,
        muted: &Muted<'_>,
        now: DateTime<Utc>,
    ) -> Result<Taken, StoreError>;

    /// Puts back in the outbox, once, the notification held for each open incident that
    /// `muted` no longer mutes, with the incident as it is now; drops those of incidents that
    /// resolved meanwhile. Returns what it put back.
    async fn release_held(
        &self,
        muted: &Muted<'_>,
        now: DateTime<Utc>,
    ) -> Result<Vec<IncidentEvent>, StoreError>;

    /// Stores a silence, or replaces the one with its id (when it first matched is kept).
    /// Fails with [`StoreError::TooManySilences`] past [`MAX_SILENCES`] not yet expired at `now`.
    async fn save_silence(&self, silence: &Silence, now: DateTime<Utc>) -> Result<(), StoreError>;

    /// Records that these silences matched an incident at `at`, for those that never had.
    async fn mark_silences_matched(
        &self,
        ids: &[String],
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// The silence with this id, or [`StoreError::NoSilence`].
    async fn silence(&self, id: &str) -> Result<Silence, StoreError>;

    /// The silences that end after `ending_after` (every one kept, with `None`), those that
    /// start last first. A row this version cannot read (written by a later one) is left out,
    /// with a warning in the log.
    async fn silences(
        &self,
        ending_after: Option<DateTime<Utc>>,
    ) -> Result<Vec<Silence>, StoreError>;

    /// Ends a silence at `at` (one that had not started ends before it starts), keeping it in
    /// the history, and returns it; an expired one is returned unchanged.
    /// [`StoreError::NoSilence`] for an unknown id.
    async fn expire_silence(&self, id: &str, at: DateTime<Utc>) -> Result<Silence, StoreError>;

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

    /// What else happened to an incident (see [`Note`]), oldest first; empty for an unknown id.
    async fn notes(&self, id: &str) -> Result<Vec<Note>, StoreError>;

    /// Marks the incident acknowledged at `at` by `by` (the first acknowledgement is kept, and
    /// noted with its author) and returns it; [`StoreError::NotFound`] for an unknown id.
    async fn acknowledge(
        &self,
        id: &str,
        at: DateTime<Utc>,
        by: Option<&str>,
    ) -> Result<Incident, StoreError>;

    /// Resolves an open incident by hand at `at`, by `by`: records the transition (to the
    /// outbox too, when the store is [`SqlStore::notifying`]) and a note that says who, and
    /// returns the incident; an incident already resolved is returned unchanged.
    /// [`StoreError::NotFound`] for an unknown id.
    async fn resolve(
        &self,
        id: &str,
        at: DateTime<Utc>,
        by: Option<&str>,
    ) -> Result<Incident, StoreError>;

    /// Deletes what is older than `retention` at `now` (the wall clock) and says how much:
    /// resolved incidents, with their transitions, last written before `now -
    /// retention.max_age`, then those beyond the `retention.max_count` most recently written;
    /// windows and consumed-message rows stored before it; silences that ended before it. Age counts from when a row was
    /// stored, never from the time of the lines in it: a backfill of logs months old, or a
    /// backlog a shipper delivers late, is kept as long as anything else. Open incidents are
    /// never deleted.
    async fn prune(&self, retention: &Retention, now: DateTime<Utc>) -> Result<Pruned, StoreError>;

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

    /// Begins writes that stand or fall together, in one transaction: windows with what they
    /// counted of stream messages, and the incident changes those windows made. After a
    /// crash either all of it is stored or none, so a message delivered again is counted once,
    /// in its windows and in its incidents. `fingerprints` are those of the incidents the
    /// batch will merge: their turns (see [`Store::merge`]) are taken at its first merge, all
    /// at once and in one order, so that batches of several instances over the same incidents
    /// wait for each other rather than deadlock. Dropping the batch without [`Batch::commit`]
    /// undoes it.
    async fn begin(&self, fingerprints: &[&str]) -> Result<Box<dyn Batch>, StoreError>;

    /// How many events of a stream message are already counted in stored windows: 0 for a
    /// message never seen.
    async fn consumed(&self, stream: &str, seq: u64) -> Result<u64, StoreError>;

    /// How many events of the messages of a stream numbered `seq` or later are counted in
    /// stored windows: for a source whose messages are runs of a file numbered by their
    /// offset, what is stored from that offset on.
    async fn consumed_from(&self, stream: &str, seq: u64) -> Result<u64, StoreError>;

    /// What the database holds across every instance.
    async fn totals(&self) -> Result<Totals, StoreError>;

    /// Succeeds when the database answers a query, for readiness probes.
    async fn ping(&self) -> Result<(), StoreError>;
}

/// The ids of the silences that mute an incident now; empty when none does.
pub type Muted<'a> = dyn Fn(&Incident) -> Vec<String> + Send + Sync + 'a;

/// What [`Store::take_notifications`] took.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Taken {
    /// To send.
    pub send: Vec<IncidentEvent>,
    /// Kept back by a silence.
    pub held: Vec<IncidentEvent>,
}

/// One instance's change to its own copy of an incident, for [`Store::merge`].
#[derive(Debug, Clone, Copy)]
pub struct Contribution<'a> {
    /// What the instance's correlator did, with the copy after it.
    pub event: &'a IncidentEvent,
    /// The stored incident the copy was last merged into, and the copy as it was then;
    /// `None` for a copy never merged.
    pub since: Option<Since<'a>>,
    /// Templates kept as evidence, as the correlator keeps them.
    pub max_templates: usize,
}

/// Where and as what a copy of an incident was last merged.
#[derive(Debug, Clone, Copy)]
pub struct Since<'a> {
    pub stored_id: &'a str,
    pub copy: &'a Incident,
}

/// A run of consecutive events of one stream message, held by one of the windows being
/// recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consumed {
    pub stream: String,
    /// The message's sequence number in its stream.
    pub seq: u64,
    /// Where the run starts among the message's events (0 for its first event).
    pub first: u64,
    pub events: u64,
    /// The sequence number of the window that holds them, among those being recorded.
    pub window: u64,
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

/// Writes in one transaction (see [`Store::begin`]).
#[async_trait]
pub trait Batch: Send {
    /// As [`Store::record_windows`], in the batch; before its merges, which hold their turns
    /// from the first merge to the commit.
    async fn record_windows(
        &mut self,
        instance: &str,
        windows: &[&Report],
        consumed: &[Consumed],
    ) -> Result<(), StoreError>;

    /// As [`Store::merge`], in the batch (one try: a [`StoreError::DuplicateOpen`] fails it).
    async fn merge(&mut self, contribution: &Contribution<'_>)
    -> Result<IncidentEvent, StoreError>;

    /// Makes every write of the batch stick.
    async fn commit(self: Box<Self>) -> Result<(), StoreError>;
}

/// What one [`Store::prune`] deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    pub incidents: u64,
    pub windows: u64,
    pub consumed: u64,
    pub silences: u64,
}

impl Pruned {
    pub fn is_empty(&self) -> bool {
        *self == Pruned::default()
    }
}

/// How long what is stored is kept (see [`Store::prune`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Rows stored longer ago than this go (open incidents never do); default 30 days.
    pub max_age: Duration,
    /// At most this many resolved incidents stay, the most recently written; default 10,000.
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
    /// The incident's severity then (`None` for a transition recorded before it was kept).
    pub severity: Option<Severity>,
}

/// Something that happened to an incident besides its transitions, for its timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub event: NoteEvent,
    /// What a person reads beside it: which transition, which silences.
    pub detail: String,
    pub at: DateTime<Utc>,
}

/// What a [`Note`] records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoteEvent {
    /// A silence kept its notification back.
    Silenced,
    /// Nothing muted it any more: the notification held went out.
    Unsilenced,
    /// Its first acknowledgement, with who made it.
    Acknowledged,
    /// Resolved by hand rather than by the quiet timer, with who did it.
    ResolvedByHand,
    /// An LLM wrote its title and summary, with which one.
    Summarized,
}

impl NoteEvent {
    pub const fn as_str(self) -> &'static str {
        match self {
            NoteEvent::Silenced => "silenced",
            NoteEvent::Unsilenced => "unsilenced",
            NoteEvent::Acknowledged => "acknowledged",
            NoteEvent::ResolvedByHand => "resolved by hand",
            NoteEvent::Summarized => "summarized",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        [
            NoteEvent::Silenced,
            NoteEvent::Unsilenced,
            NoteEvent::Acknowledged,
            NoteEvent::ResolvedByHand,
            NoteEvent::Summarized,
        ]
        .into_iter()
        .find(|event| event.as_str() == text)
    }
}
