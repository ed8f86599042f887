//! For tests that need the PostgreSQL server (feature `testing`): a schema of the test's own,
//! dropped when the value is. The server is `IC_TEST_POSTGRES_URL`, or [`DEFAULT_POSTGRES_URL`]
//! (the machine's, trust auth). A server that does not answer fails the test with what to do:
//! it is never skipped.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection};

use crate::redact_url;

pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A fresh schema on the test server; its connections use it as their `search_path`.
pub struct PostgresSchema {
    /// What to pass to [`crate::open`] or `--db`.
    pub url: String,
    server: String,
    schema: String,
}

impl PostgresSchema {
    pub async fn create() -> Self {
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
            server,
            schema,
        }
    }
}

impl Drop for PostgresSchema {
    fn drop(&mut self) {
        let (server, schema) = (self.server.clone(), self.schema.clone());
        // Drop may run inside a test's runtime, which cannot block on a future: use a thread
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

/// Runs one statement on the SQLite file at `url` (`sqlite://PATH`) over a connection of its
/// own: for tests that break the schema under a running store, to see it fail and recover.
pub async fn sqlite_execute(url: &str, statement: &'static str) {
    let mut conn = sqlx::SqliteConnection::connect(url)
        .await
        .expect("open the SQLite file");
    conn.execute(statement).await.expect("the statement runs");
    conn.close().await.expect("close");
}
