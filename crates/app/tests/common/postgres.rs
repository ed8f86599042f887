//! A schema of a test's own on the machine's PostgreSQL server (`IC_TEST_POSTGRES_URL`, or
//! postgres://postgres@127.0.0.1:5432/test), dropped at the end. A server that does not
//! answer fails the test: it is never skipped.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection};

const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

pub struct TestSchema {
    /// What to pass to `--db`: the server, with this schema as the search path.
    pub url: String,
    server: String,
    schema: String,
}

impl TestSchema {
    pub async fn create() -> Self {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let server =
            std::env::var("IC_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_POSTGRES_URL.into());
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let schema = format!(
            "ic_app_test_{}_{}_{nanos}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        );
        let mut conn = PgConnection::connect(&server).await.unwrap_or_else(|e| {
            panic!(
                "PostgreSQL is not reachable: {e}\nStart it with: pg_ctlcluster \
                 --skip-systemctl-redirect $(ls /etc/postgresql) main start\n(or point \
                 IC_TEST_POSTGRES_URL at another server)"
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

    pub async fn drop_schema(self) {
        let mut conn = PgConnection::connect(&self.server).await.expect("connect");
        conn.execute(AssertSqlSafe(format!(
            "DROP SCHEMA {} CASCADE",
            self.schema
        )))
        .await
        .expect("drop the test schema");
        conn.close().await.expect("close");
    }
}
