//! An incident's story: what it went through, with times, for `incidents show`, its
//! post-incident summary and `GET /api/incidents/{id}`.

use chrono::{DateTime, Utc};
use ic_core::incident::{Incident, Transition};
use ic_store::TransitionRecord;
use serde::Serialize;

/// One thing that happened to an incident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    pub at: DateTime<Utc>,
    /// `opened`, `escalated`, `reopened`, `resolved` or `acknowledged`.
    pub event: &'static str,
}

/// The incident's recorded transitions and its acknowledgement, oldest first.
pub fn of(incident: &Incident, records: &[TransitionRecord]) -> Vec<Entry> {
    let mut entries: Vec<Entry> = records
        .iter()
        .map(|record| Entry {
            at: record.at,
            event: match record.transition {
                Transition::Opened => "opened",
                Transition::Escalated => "escalated",
                Transition::Reopened => "reopened",
                Transition::Resolved => "resolved",
                Transition::Updated => "updated",
            },
        })
        .collect();
    if let Some(at) = incident.acknowledged_at {
        entries.push(Entry {
            at,
            event: "acknowledged",
        });
    }
    entries.sort_by_key(|entry| entry.at);
    entries
}
