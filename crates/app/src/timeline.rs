//! An incident's story: what it went through, with times, for `incidents show`, its
//! post-incident summary, `GET /api/incidents/{id}` and the dashboard's evidence.

use chrono::{DateTime, Utc};
use ic_core::incident::{Incident, Transition};
use ic_store::{Note, TransitionRecord};
use serde::Serialize;

/// One thing that happened to an incident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    pub at: DateTime<Utc>,
    /// `opened`, `escalated`, `reopened`, `resolved`, `acknowledged`, `silenced` or
    /// `unsilenced`.
    pub event: &'static str,
    /// What a person reads beside it, when there is more to say.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl Entry {
    /// `opened`, or `silenced: opened held back by silence …`.
    pub fn text(&self) -> String {
        match &self.detail {
            Some(detail) => format!("{}: {detail}", self.event),
            None => self.event.to_owned(),
        }
    }
}

/// An incident's recorded transitions and notes, with its acknowledgement, oldest first.
#[derive(Debug, Clone, Default)]
pub struct Recorded {
    pub transitions: Vec<TransitionRecord>,
    pub notes: Vec<Note>,
}

impl Recorded {
    /// What the store holds of incident `id`.
    pub async fn read(store: &dyn ic_store::Store, id: &str) -> Result<Self, ic_store::StoreError> {
        Ok(Recorded {
            transitions: store.transitions(id).await?,
            notes: store.notes(id).await?,
        })
    }
}

/// The incident's timeline, oldest first (a sort that keeps the recorded order at equal times).
pub fn of(incident: &Incident, recorded: &Recorded) -> Vec<Entry> {
    let records = &recorded.transitions;
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
            detail: None,
        })
        .chain(recorded.notes.iter().map(|note| Entry {
            at: note.at,
            event: note.event.as_str(),
            detail: Some(note.detail.clone()),
        }))
        .collect();
    if let Some(at) = incident.acknowledged_at {
        entries.push(Entry {
            at,
            event: "acknowledged",
            detail: None,
        });
    }
    entries.sort_by_key(|entry| entry.at);
    entries
}
