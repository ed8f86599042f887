//! The store's tests, in one binary: the same story on SQLite and on PostgreSQL, concurrent
//! writers on PostgreSQL, and a SQLite writer killed mid-flight.
//!
//! Every test that needs the PostgreSQL server is named `postgres_…`. The server is taken
//! from `IC_TEST_POSTGRES_URL` (default [`DEFAULT_POSTGRES_URL`]); each test works in a fresh
//! schema of its own, dropped at the end, so runs never collide. A server that does not
//! answer fails the test: it is never skipped.

mod concurrent;
mod crash;
mod merge;
mod story;
mod windows;

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use ic_core::Severity;
use ic_core::event::Level;
use ic_core::incident::{Evidence, Incident, IncidentEvent, IncidentStatus, Transition};
use ic_core::report::RootCause;
use ic_store::redact_url;
use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection};
use tempfile::TempDir;

const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A database for one test, removed when dropped.
pub struct TestDb {
    /// What to pass to `ic_store::open`.
    pub url: String,
    /// The folder of the SQLite file, deleted when dropped.
    _dir: Option<TempDir>,
    /// The PostgreSQL server's URL and the schema to drop.
    schema: Option<(String, String)>,
}

impl TestDb {
    /// A SQLite file in a fresh temporary folder (the store creates the file).
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let url = format!("sqlite://{}", dir.path().join("incidents.db").display());
        Self {
            url,
            _dir: Some(dir),
            schema: None,
        }
    }

    /// A fresh schema on the PostgreSQL server, which the URL's connections use as their
    /// `search_path`.
    pub async fn postgres() -> Self {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let server =
            std::env::var("IC_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_POSTGRES_URL.into());
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let schema = format!(
            "ic_test_{}_{}_{nanos}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        );
        let mut conn = PgConnection::connect(&server).await.unwrap_or_else(|e| {
            panic!(
                "PostgreSQL is not reachable at {}: {e}\n\
                 Start it with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start\n\
                 (or point IC_TEST_POSTGRES_URL at another server)",
                redact_url(&server)
            )
        });
        // A schema name cannot be a bound parameter; this one is ours, made of [a-z0-9_].
        conn.execute(AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
            .await
            .expect("create the test schema");
        conn.close().await.expect("close");
        let separator = if server.contains('?') { '&' } else { '?' };
        let url = format!("{server}{separator}options=-c%20search_path%3D{schema}");
        Self {
            url,
            _dir: None,
            schema: Some((server, schema)),
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((server, schema)) = self.schema.take() else {
            return;
        };
        // Drop runs inside the test's runtime, which cannot block on a future: use a thread
        // with a runtime of its own.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let mut conn = PgConnection::connect(&server).await?;
                conn.execute(AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
                    .await?;
                conn.close().await
            })?;
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
        })
        .join();
        if let Ok(Err(e)) = dropped {
            eprintln!("could not drop the test schema: {e}");
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
    Incident {
        id: id.to_owned(),
        fingerprint: fingerprint.to_owned(),
        status: IncidentStatus::Open,
        severity,
        title: format!("{service} connection pool exhausted"),
        summary: format!(
            "{service} refuses connections; {} depend on it.",
            also.join(", ")
        ),
        root_cause: RootCause {
            service: service.to_owned(),
            template: template.clone(),
        },
        impacted_services: std::iter::once(service)
            .chain(also.iter().copied())
            .map(str::to_owned)
            .collect(),
        // Nanoseconds, which the store must keep.
        opened_at: opened_at + TimeDelta::nanoseconds(123_456_789),
        last_seen: opened_at + TimeDelta::seconds(10),
        resolved_at: None,
        windows: 2,
        lines: 140,
        noise_reduction_ratio: 46.7,
        templates: vec![Evidence {
            template_id: "t1".to_owned(),
            template,
            level: Level::Error,
            services: vec![service.to_owned()],
            count: 140,
            first_lines: vec![format!("ERROR {service} Pool exhausted (active=50)")],
            last_lines: vec![format!("ERROR {service} Pool exhausted (active=51)")],
        }],
        parent: None,
        seen_before: None,
        reopened: 0,
        acknowledged_at: None,
        analyzer: "builtin".into(),
    }
}

pub fn event(transition: Transition, incident: &Incident) -> IncidentEvent {
    IncidentEvent {
        transition,
        incident: incident.clone(),
    }
}
