//! Opening a store: the URL picks the backend, each backend gets the connection settings and
//! the migrations its dialect needs, and from then on [`SqlStore`] serves both.

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::AnyPoolOptions;
use sqlx::migrate::Migrator;
use sqlx::postgres::PgConnectOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, Executor};

use crate::error::redact_url;
use crate::{Backend, SqlStore, StoreError};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");

/// How long a SQLite writer waits for another one before it gives up.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections per store. SQLite writes one at a time anyway; these serve concurrent reads.
const SQLITE_CONNECTIONS: u32 = 4;
const POSTGRES_CONNECTIONS: u32 = 8;
/// How long a query waits for a free connection (or for a lost server to come back).
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// Opens the store at `url` and brings its schema up to date.
///
/// - `sqlite://PATH` (or `sqlite:PATH`): one file, created if missing, in WAL mode.
/// - `sqlite::memory:`: a private in-memory database, gone when the store is dropped.
/// - `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE` (or `postgresql://…`), with sqlx's
///   parameters (`sslmode`, `options`, …).
///
/// Errors name the backend and where it was looked for, never a password.
pub async fn open(url: &str) -> Result<SqlStore, StoreError> {
    sqlx::any::install_default_drivers();
    if url.starts_with("sqlite:") {
        open_sqlite(url).await
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        open_postgres(url).await
    } else {
        Err(invalid_url(url, "unknown scheme"))
    }
}

async fn open_sqlite(url: &str) -> Result<SqlStore, StoreError> {
    let options = SqliteConnectOptions::from_str(url).map_err(|e| invalid_url(url, e))?;
    let file = options.get_filename().to_path_buf();
    let location = file.display().to_string();
    let connect_error = |cause| StoreError::Connect {
        backend: Backend::Sqlite,
        location: location.clone(),
        cause,
    };
    let pool_options = AnyPoolOptions::new().after_connect(|conn, _| {
        Box::pin(async move {
            // Formatted, but from our own constant: PRAGMA takes no bound parameters.
            let pragma = format!("PRAGMA busy_timeout = {}", SQLITE_BUSY_TIMEOUT.as_millis());
            conn.execute(AssertSqlSafe(pragma)).await.map(drop)
        })
    });
    // SQLite has no migration lock of its own: two processes opening a new file at once (a
    // server starting while `stats` reads) would both create it, switch it to write-ahead
    // logging and create the tables, and a journal-mode switch that meets another connection
    // fails at once with "database is locked" instead of waiting. The folder's lock makes them
    // take turns through all three; the second finds the work done.
    let _turn = match is_in_memory(url) {
        true => None,
        false => Some(lock_folder(&file).await.map_err(connect_error)?),
    };
    let pool_options = if is_in_memory(url) {
        // Every connection to `:memory:` is a database of its own: keep exactly one, forever.
        pool_options
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
    } else {
        // The pool's connections open the file as the URL says; this first one creates the
        // file and turns on write-ahead logging, which the file then keeps, so that readers
        // (the dashboard) and the writer (the pipeline) do not block each other.
        options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(SQLITE_BUSY_TIMEOUT)
            .connect()
            .await
            .map_err(connect_error)?
            .close()
            .await
            .map_err(connect_error)?;
        pool_options.max_connections(SQLITE_CONNECTIONS)
    };
    let pool = pool_options
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect(url)
        .await
        .map_err(connect_error)?;
    migrate(&SQLITE_MIGRATIONS, &pool, Backend::Sqlite, &location).await?;
    Ok(SqlStore::new(pool, Backend::Sqlite))
}

/// An exclusive advisory lock on the folder of a database file, held until dropped. The
/// folder, not the file: closing any descriptor of the database file would drop the locks
/// SQLite itself holds on it in this process.
async fn lock_folder(database: &std::path::Path) -> Result<std::fs::File, sqlx::Error> {
    let folder = match database.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    tokio::task::spawn_blocking(move || {
        let folder = std::fs::File::open(folder)?;
        folder.lock()?;
        Ok(folder)
    })
    .await
    .map_err(|join| sqlx::Error::Io(std::io::Error::other(join)))?
    .map_err(sqlx::Error::Io)
}

async fn open_postgres(url: &str) -> Result<SqlStore, StoreError> {
    let options = PgConnectOptions::from_str(url).map_err(|e| invalid_url(url, e))?;
    let location = match options.get_socket() {
        Some(socket) => socket.display().to_string(),
        None => format!("{}:{}", options.get_host(), options.get_port()),
    };
    let connect_error = |cause| StoreError::Connect {
        backend: Backend::Postgres,
        location: location.clone(),
        cause,
    };
    // One connection first, on its own: the pool retries a refused connection until its
    // acquire timeout and then reports only that it timed out, not why.
    options
        .connect()
        .await
        .map_err(connect_error)?
        .close()
        .await
        .map_err(connect_error)?;
    let pool = AnyPoolOptions::new()
        .max_connections(POSTGRES_CONNECTIONS)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect(url)
        .await
        .map_err(connect_error)?;
    // sqlx holds an advisory lock while it migrates: instances starting together take turns.
    migrate(&POSTGRES_MIGRATIONS, &pool, Backend::Postgres, &location).await?;
    Ok(SqlStore::new(pool, Backend::Postgres))
}

async fn migrate(
    migrator: &Migrator,
    pool: &sqlx::AnyPool,
    backend: Backend,
    location: &str,
) -> Result<(), StoreError> {
    migrator
        .run(pool)
        .await
        .map_err(|cause| StoreError::Migrate {
            backend,
            location: location.to_owned(),
            cause,
        })
}

/// `sqlite::memory:`, `sqlite://:memory:` or `mode=memory`, as sqlx reads them: a database
/// nothing survives the process of.
pub fn is_in_memory(url: &str) -> bool {
    let rest = url.trim_start_matches("sqlite:").trim_start_matches("//");
    let (database, params) = rest.split_once('?').unwrap_or((rest, ""));
    database == ":memory:" || params.split('&').any(|param| param == "mode=memory")
}

fn invalid_url(url: &str, reason: impl std::fmt::Display) -> StoreError {
    StoreError::InvalidUrl {
        url: redact_url(url),
        reason: reason.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognizes_in_memory_urls() {
        assert!(is_in_memory("sqlite::memory:"));
        assert!(is_in_memory("sqlite://:memory:"));
        assert!(is_in_memory("sqlite://ic.db?mode=memory&cache=shared"));
        assert!(!is_in_memory("sqlite://ic.db"));
        assert!(!is_in_memory("sqlite:///var/lib/ic/memory.db"));
    }
}
