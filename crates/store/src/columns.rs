//! How incidents map to rows and back, and what every statement shares: numbered placeholders
//! for inserts of many rows, log text as a column holds it.
//!
//! A row holds the whole incident as JSON plus the columns the queries filter and sort on.
//! Times are RFC 3339 text with nine fractional digits: the Any driver carries only primitive
//! types, text of one width sorts as time does, and it keeps every nanosecond, so an incident
//! reads back exactly as it was saved. Severity is a rank, so "at least Warning" is `>=`.
//!
//! `status`, `resolved_at` and `acknowledged_at` are changed in place by
//! [`crate::Store::resolve`] and [`crate::Store::acknowledge`] without rewriting the JSON:
//! for those three fields the columns win.

use chrono::{DateTime, SecondsFormat, Utc};
use ic_core::Severity;
use ic_core::incident::{Incident, IncidentStatus, Transition};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::StoreError;

/// `SELECT`s the columns [`incident_from_row`] reads `FROM incidents`, followed by the rest of
/// the statement; a literal, so that no value can ever be formatted into it.
macro_rules! select_incidents {
    ($rest:literal) => {
        concat!(
            "SELECT id, incident, status, resolved_at, acknowledged_at FROM incidents ",
            $rest
        )
    };
}
pub(crate) use select_incidents;

/// A time as stored.
pub(crate) fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

pub(crate) fn optional_time(at: Option<DateTime<Utc>>) -> Option<String> {
    at.map(time)
}

/// Severity as stored: a rank that grows with the severity. Written out rather than taken
/// from the enum's order, so that reordering the enum cannot change what stored rows mean.
pub(crate) fn severity_rank(severity: Severity) -> i64 {
    match severity {
        Severity::Info => 0,
        Severity::Warning => 1,
        Severity::Critical => 2,
    }
}

/// The severity of a rank that [`severity_rank`] wrote.
pub(crate) fn severity_of_rank(rank: i64) -> Option<Severity> {
    [Severity::Info, Severity::Warning, Severity::Critical]
        .into_iter()
        .find(|severity| severity_rank(*severity) == rank)
}

/// The incident of a row selected with [`select_incidents`].
pub(crate) fn incident_from_row(row: &AnyRow) -> Result<Incident, StoreError> {
    let id: String = row.try_get("id")?;
    let json: String = row.try_get("incident")?;
    let mut incident: Incident = serde_json::from_str(&json)
        .map_err(|e| StoreError::corrupt(&id, format_args!("its JSON does not parse: {e}")))?;
    if incident.id != id {
        return Err(StoreError::corrupt(
            &id,
            format!("its JSON holds incident `{}`", incident.id),
        ));
    }
    incident.status = parse_status(&id, &row.try_get::<String, _>("status")?)?;
    incident.resolved_at = parse_optional_time(&id, row.try_get("resolved_at")?)?;
    incident.acknowledged_at = parse_optional_time(&id, row.try_get("acknowledged_at")?)?;
    Ok(incident)
}

pub(crate) fn parse_time(id: &str, text: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(text)
        .map(|at| at.with_timezone(&Utc))
        .map_err(|e| StoreError::corrupt(id, format!("bad time `{text}`: {e}")))
}

fn parse_optional_time(
    id: &str,
    text: Option<String>,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    text.map(|text| parse_time(id, &text)).transpose()
}

fn parse_status(id: &str, text: &str) -> Result<IncidentStatus, StoreError> {
    [IncidentStatus::Open, IncidentStatus::Resolved]
        .into_iter()
        .find(|status| status.as_str() == text)
        .ok_or_else(|| StoreError::corrupt(id, format!("unknown status `{text}`")))
}

pub(crate) fn parse_transition(id: &str, text: &str) -> Result<Transition, StoreError> {
    [
        Transition::Opened,
        Transition::Escalated,
        Transition::Updated,
        Transition::Reopened,
        Transition::Resolved,
    ]
    .into_iter()
    .find(|transition| transition.as_str() == text)
    .ok_or_else(|| StoreError::corrupt(id, format!("unknown transition `{text}`")))
}

/// When a transition happened, as [`crate::TransitionRecord::at`] defines it; `None` for the
/// transitions that are not recorded.
pub(crate) fn transition_time(
    transition: Transition,
    incident: &Incident,
) -> Option<DateTime<Utc>> {
    match transition {
        Transition::Opened => Some(incident.opened_at),
        Transition::Escalated | Transition::Reopened => Some(incident.last_seen),
        Transition::Resolved => Some(incident.resolved_at.unwrap_or(incident.last_seen)),
        Transition::Updated => None,
    }
}

/// Rows per `INSERT`: at most ten parameters each, far below both backends' limits.
pub(crate) const ROWS_PER_STATEMENT: usize = 100;

/// `head`, then `rows` tuples of `columns` numbered placeholders, then `tail`: only
/// placeholders are formatted into a statement, never a value.
pub(crate) fn insert_rows(head: &str, rows: usize, columns: usize, tail: &str) -> String {
    let tuples: Vec<String> = (0..rows)
        .map(|row| {
            let first = row * columns + 1;
            let params: Vec<String> = (first..first + columns).map(|n| format!("${n}")).collect();
            format!("({})", params.join(", "))
        })
        .collect();
    format!("{head}{}{tail}", tuples.join(", "))
}

/// Log-derived text as a column holds it: U+0000 becomes U+FFFD. PostgreSQL's `text` cannot
/// hold NUL ("invalid byte sequence for encoding UTF8: 0x00") and SQLite can, so both get the
/// same replacement, on writes and in filters alike, and a filter finds on either backend what
/// it finds on the other. The incident's JSON keeps the text as it was (JSON escapes NUL).
pub(crate) fn column_text(text: &str) -> String {
    text.replace('\0', "\u{fffd}")
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn stored_times_sort_as_times_do() {
        let times = [
            Utc.with_ymd_and_hms(2025, 12, 31, 23, 59, 59).unwrap(),
            Utc.timestamp_opt(1_767_225_600, 5).unwrap(),
            Utc.timestamp_opt(1_767_225_600, 999_999_999).unwrap(),
            Utc.with_ymd_and_hms(2026, 1, 2, 0, 0, 0).unwrap(),
        ];
        let stored: Vec<String> = times.iter().copied().map(time).collect();
        assert!(stored.windows(2).all(|w| w[0] < w[1]), "{stored:?}");
        assert!(stored.iter().all(|s| s.len() == stored[0].len()));
        for (at, text) in times.iter().zip(&stored) {
            assert_eq!(parse_time("x", text).unwrap(), *at);
        }
    }

    #[test]
    fn severity_ranks_read_back() {
        for severity in [Severity::Info, Severity::Warning, Severity::Critical] {
            assert_eq!(severity_of_rank(severity_rank(severity)), Some(severity));
        }
        assert_eq!(severity_of_rank(7), None);
    }

    #[test]
    fn severity_ranks_follow_severity() {
        let ranks: Vec<i64> = [Severity::Info, Severity::Warning, Severity::Critical]
            .into_iter()
            .map(severity_rank)
            .collect();
        assert!(ranks.windows(2).all(|w| w[0] < w[1]));
    }
}
