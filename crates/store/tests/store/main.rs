//! The store's tests, in one binary: the same story on SQLite and on PostgreSQL, concurrent
//! writers on PostgreSQL, and a SQLite writer killed mid-flight.
//!
//! Every test that needs the PostgreSQL server is named `postgres_…`. The server is taken
//! from `IC_TEST_POSTGRES_URL` (default `ic_store::testing::DEFAULT_POSTGRES_URL`); each test works in a fresh
//! schema of its own, dropped at the end, so runs never collide. A server that does not
//! answer fails the test: it is never skipped.

mod concurrent;
mod crash;
mod merge;
mod silences;
mod story;
mod windows;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use ic_core::Severity;
use ic_core::incident::{Evidence, Incident};
use ic_store::testing::PostgresSchema;
use tempfile::TempDir;

/// A database for one test, removed when dropped.
pub struct TestDb {
    /// What to pass to `ic_store::open`.
    pub url: String,
    /// The folder of the SQLite file, deleted when dropped.
    _dir: Option<TempDir>,
    /// The PostgreSQL schema, dropped when dropped.
    _schema: Option<PostgresSchema>,
}

impl TestDb {
    /// A SQLite file in a fresh temporary folder (the store creates the file).
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let url = format!("sqlite://{}", dir.path().join("incidents.db").display());
        Self {
            url,
            _dir: Some(dir),
            _schema: None,
        }
    }

    /// A fresh schema on the PostgreSQL server.
    pub async fn postgres() -> Self {
        let schema = PostgresSchema::create().await;
        Self {
            url: schema.url.clone(),
            _dir: None,
            _schema: Some(schema),
        }
    }
}

/// 2026-01-01T00:00:00Z plus `seconds`.
pub fn t(seconds: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap() + TimeDelta::seconds(seconds)
}

pub const DAY: i64 = 24 * 3600;

/// An open incident seen for ten seconds, rooted in `service` and impacting `also`.
pub fn incident(
    id: &str,
    fingerprint: &str,
    service: &str,
    also: &[&str],
    severity: Severity,
    opened_at: DateTime<Utc>,
) -> Incident {
    let template = format!("{service} connection pool exhausted (active=<*>)");
    let mut incident = ic_core::testing::incident(id, service, severity);
    incident.fingerprint = fingerprint.to_owned();
    incident.title = format!("{service} connection pool exhausted");
    incident.summary = format!(
        "{service} refuses connections; {} depend on it.",
        also.join(", ")
    );
    incident.root_cause.template = template.clone();
    incident.impacted_services = std::iter::once(service)
        .chain(also.iter().copied())
        .map(str::to_owned)
        .collect();
    // Nanoseconds, which the store must keep.
    incident.opened_at = opened_at + TimeDelta::nanoseconds(123_456_789);
    incident.last_seen = opened_at + TimeDelta::seconds(10);
    (
        incident.windows,
        incident.lines,
        incident.noise_reduction_ratio,
    ) = (2, 140, 46.7);
    incident.templates = vec![Evidence {
        first_lines: vec![format!("ERROR {service} Pool exhausted (active=50)")],
        last_lines: vec![format!("ERROR {service} Pool exhausted (active=51)")],
        ..ic_core::testing::evidence("t1", &template, service, 140)
    }];
    incident
}

pub use ic_core::testing::event;

/// Mutes nothing: for taking from the outbox when no silence is in play.
pub fn unmuted(_: &Incident) -> Vec<String> {
    Vec::new()
}

/// What the store noted of an incident: event, detail and time, oldest first.
pub async fn notes(
    store: &dyn ic_store::Store,
    id: &str,
) -> Vec<(ic_store::NoteEvent, String, DateTime<Utc>)> {
    let notes = store.notes(id).await.expect("notes");
    notes
        .into_iter()
        .map(|n| (n.event, n.detail, n.at))
        .collect()
}
