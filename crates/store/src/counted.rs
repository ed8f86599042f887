//! What the windows being recorded count of stream messages, decided in their transaction.
//!
//! A stream delivers at least once: a message whose acknowledgement was late (an instance
//! starved of CPU, or messages waiting in a client's buffer past their ack wait) is delivered
//! to a second instance while the first still holds it, and both analyze it. The database
//! settles which of them counts each event: every message's row holds how many of its events,
//! from the first on, stored windows count, and a recording locks the rows of its messages,
//! counts only the events past that mark and moves the mark. Events another instance counted
//! first are left out of their window's line count, so every line is counted once whichever
//! instance stores first.

use std::collections::HashMap;

use sqlx::{Any, Row, Transaction};

use crate::columns::{ROWS_PER_STATEMENT, insert_rows};
use crate::{Backend, Consumed, StoreError};

/// Per window (by sequence number), its events that other recordings counted already.
pub(crate) type Counted = HashMap<u64, u64>;

/// Moves the marks of `consumed`'s messages in `tx`, and says which windows hold events that
/// were counted already. The rows stay locked until `tx` ends.
pub(crate) async fn count_in(
    tx: &mut Transaction<'_, Any>,
    backend: Backend,
    consumed: &[Consumed],
    at: &str,
) -> Result<Counted, StoreError> {
    let mut runs: Vec<&Consumed> = consumed.iter().collect();
    // One order for every recording, so that two locking the same messages wait for each
    // other rather than deadlock; and a message's runs in the order of its events.
    runs.sort_by(|a, b| (&a.stream, a.seq, a.first).cmp(&(&b.stream, b.seq, b.first)));
    let mut messages: Vec<(&str, u64)> = runs.iter().map(|r| (r.stream.as_str(), r.seq)).collect();
    messages.dedup();
    let mut marks = lock_marks(tx, backend, &messages, at).await?;
    let mut already = Counted::new();
    for run in runs {
        let mark = marks.entry((run.stream.clone(), run.seq)).or_default();
        let end = run.first + run.events;
        let before = mark.saturating_sub(run.first).min(run.events);
        if before > 0 {
            *already.entry(run.window).or_default() += before;
        }
        *mark = (*mark).max(end);
    }
    write_marks(tx, &marks, at).await?;
    Ok(already)
}

/// The marks of `messages` (sorted), each row made if absent and locked.
async fn lock_marks(
    tx: &mut Transaction<'_, Any>,
    backend: Backend,
    messages: &[(&str, u64)],
    at: &str,
) -> Result<HashMap<(String, u64), u64>, StoreError> {
    let mut marks = HashMap::with_capacity(messages.len());
    for chunk in messages.chunks(ROWS_PER_STATEMENT) {
        // A row another recording is inserting or has moved is waited for here, until that
        // transaction ends. It is also this transaction's first write, which on SQLite takes
        // the write lock before anything is read.
        let statement = sqlx::AssertSqlSafe(insert_rows(
            "INSERT INTO consumed (stream, seq, events, at) VALUES ",
            chunk.len(),
            4,
            " ON CONFLICT (stream, seq) DO NOTHING",
        ));
        let mut insert = sqlx::query(statement);
        for (stream, seq) in chunk {
            insert = insert.bind(*stream).bind(bigint(*seq)).bind(0_i64).bind(at);
        }
        insert.execute(&mut **tx).await?;

        // SQLite has one writer at a time, which this transaction now is; PostgreSQL locks
        // the rows, also against a recording that has locked and not yet moved them, in the
        // byte order of the names ("C"), which is the order the chunks were cut in.
        let order = match backend {
            Backend::Postgres => ") ORDER BY stream COLLATE \"C\", seq FOR UPDATE",
            Backend::Sqlite => ") ORDER BY stream, seq",
        };
        let statement = sqlx::AssertSqlSafe(insert_rows(
            "SELECT stream, seq, events FROM consumed WHERE (stream, seq) IN (VALUES ",
            chunk.len(),
            2,
            order,
        ));
        let mut select = sqlx::query(statement);
        for (stream, seq) in chunk {
            select = select.bind(*stream).bind(bigint(*seq));
        }
        for row in select.fetch_all(&mut **tx).await? {
            let stream: String = row.try_get("stream")?;
            let seq: i64 = row.try_get("seq")?;
            let events: i64 = row.try_get("events")?;
            marks.insert(
                (stream, u64::try_from(seq).unwrap_or(0)),
                u64::try_from(events).unwrap_or(0),
            );
        }
    }
    Ok(marks)
}

/// Writes the moved marks.
async fn write_marks(
    tx: &mut Transaction<'_, Any>,
    marks: &HashMap<(String, u64), u64>,
    at: &str,
) -> Result<(), StoreError> {
    let rows: Vec<_> = marks.iter().collect();
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let statement = sqlx::AssertSqlSafe(insert_rows(
            "INSERT INTO consumed (stream, seq, events, at) VALUES ",
            chunk.len(),
            4,
            " ON CONFLICT (stream, seq) DO UPDATE SET events = excluded.events, at = excluded.at",
        ));
        let mut query = sqlx::query(statement);
        for &((stream, seq), &events) in chunk {
            query = query
                .bind(stream.as_str())
                .bind(bigint(*seq))
                .bind(bigint(events))
                .bind(at);
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}

/// A sequence number or a count as a BIGINT column holds it.
fn bigint(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
