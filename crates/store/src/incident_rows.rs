//! Writing an incident's row, its services and its transitions: shared by the store's own
//! writes and by the merge of copies from several instances.

use chrono::{DateTime, Utc};
use ic_core::incident::{Incident, Transition};
use sqlx::{Any, Transaction};

use crate::StoreError;
use crate::columns::{column_text, optional_time, severity_rank, time};

/// How [`write_incident`] treats an incident already stored under the same id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Write {
    /// It is replaced.
    Replace,
    /// The write fails with [`StoreError::DuplicateOpen`]: two instances opening the same
    /// fingerprint at the same second make the same id, and the second must not overwrite
    /// the first.
    New,
}

/// `INSERT INTO incidents` of one row, followed by `$tail`; literals only.
macro_rules! insert_incident {
    ($tail:literal) => {
        concat!(
            "INSERT INTO incidents (id, fingerprint, status, severity, root_service, opened_at,
                 last_seen, resolved_at, acknowledged_at, updated_at, incident)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            $tail
        )
    };
}

/// Writes `incident` with its services; [`StoreError::DuplicateOpen`] when it is open and
/// another open incident has its fingerprint, or when it is [`Write::New`] and its id is taken.
pub(crate) async fn write_incident(
    tx: &mut Transaction<'_, Any>,
    incident: &Incident,
    write: Write,
) -> Result<(), StoreError> {
    let json = serde_json::to_string(incident).map_err(|e| {
        StoreError::corrupt(&incident.id, format_args!("cannot be written as JSON: {e}"))
    })?;
    let statement = match write {
        Write::New => insert_incident!(""),
        Write::Replace => insert_incident!(
            " ON CONFLICT (id) DO UPDATE SET
                 fingerprint = excluded.fingerprint,
                 status = excluded.status,
                 severity = excluded.severity,
                 root_service = excluded.root_service,
                 opened_at = excluded.opened_at,
                 last_seen = excluded.last_seen,
                 resolved_at = excluded.resolved_at,
                 -- The correlator does not know about acknowledgements made on the dashboard.
                 acknowledged_at = COALESCE(incidents.acknowledged_at, excluded.acknowledged_at),
                 updated_at = excluded.updated_at,
                 incident = excluded.incident"
        ),
    };
    sqlx::query(statement)
        .bind(&incident.id)
        .bind(&incident.fingerprint)
        .bind(incident.status.as_str())
        .bind(severity_rank(incident.severity))
        .bind(column_text(&incident.root_cause.service))
        .bind(time(incident.opened_at))
        .bind(time(incident.last_seen))
        .bind(optional_time(incident.resolved_at))
        .bind(optional_time(incident.acknowledged_at))
        .bind(time(Utc::now()))
        .bind(&json)
        .execute(&mut **tx)
        .await
        .map_err(StoreError::on_save(&incident.id, &incident.fingerprint))?;

    sqlx::query("DELETE FROM incident_services WHERE incident_id = $1")
        .bind(&incident.id)
        .execute(&mut **tx)
        .await?;
    for service in &incident.impacted_services {
        sqlx::query(
            "INSERT INTO incident_services (incident_id, service) VALUES ($1, $2)
             ON CONFLICT DO NOTHING",
        )
        .bind(&incident.id)
        .bind(column_text(service))
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// Records what `incident` went through at `at`, with its severity then.
pub(crate) async fn record_transition(
    tx: &mut Transaction<'_, Any>,
    incident: &Incident,
    transition: Transition,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO transitions (incident_id, transition, at, severity) VALUES ($1, $2, $3, $4)",
    )
    .bind(&incident.id)
    .bind(transition.as_str())
    .bind(time(at))
    .bind(severity_rank(incident.severity))
    .execute(&mut **tx)
    .await?;
    Ok(())
}
