//! Notes: what happened to an incident besides its transitions (a silence holding its
//! notification back or letting it go, who acknowledged, a resolve by hand, an LLM's summary),
//! written in the transaction that made it happen and read for the incident's timeline.

use chrono::{DateTime, Utc};
use sqlx::{Any, Transaction};

use crate::columns::{parse_time, time};
use crate::{Note, NoteEvent, SqlStore, StoreError};

impl SqlStore {
    pub(crate) async fn notes_in(&self, id: &str) -> Result<Vec<Note>, StoreError> {
        let rows: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT event, detail, at FROM notes WHERE incident_id = $1 ORDER BY seq",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(event, detail, at)| {
                Ok(Note {
                    event: NoteEvent::parse(&event).ok_or_else(|| {
                        StoreError::corrupt(id, format_args!("unknown note {event:?}"))
                    })?,
                    detail,
                    at: parse_time(id, &at)?,
                })
            })
            .collect()
    }
}

/// Adds to an incident's timeline.
pub(crate) async fn note(
    tx: &mut Transaction<'_, Any>,
    incident_id: &str,
    event: NoteEvent,
    detail: &str,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO notes (incident_id, event, detail, at) VALUES ($1, $2, $3, $4)")
        .bind(incident_id)
        .bind(event.as_str())
        .bind(detail)
        .bind(time(at))
        .execute(&mut **tx)
        .await?;
    Ok(())
}
