//! An incident's story: what it went through, with times, for `incidents show`, its
//! post-incident summary, `GET /api/incidents/{id}` and the dashboard's evidence.

use chrono::{DateTime, Utc};
use ic_core::incident::{Incident, Transition};
use ic_store::{Note, NoteEvent, TransitionRecord};
use serde::Serialize;

/// One thing that happened to an incident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    pub at: DateTime<Utc>,
    /// `opened`, `escalated`, `reopened`, `resolved`, `acknowledged`, `silenced`,
    /// `unsilenced` or `summarized` (an LLM wrote the title and summary).
    pub event: &'static str,
    /// What a person reads beside it, when there is more to say.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// `Warning → Critical`: the severity of the last transition before `record`, and its own.
fn escalation(before: &[TransitionRecord], record: &TransitionRecord) -> Option<String> {
    let to = record.severity?;
    let from = before.iter().rev().find_map(|r| r.severity)?;
    Some(format!("{from} → {to}"))
}

/// Adds the notes to the transitions' entries: silences and LLM summaries as entries of their
/// own; who
/// acknowledged, and a resolve by hand, said on the entry they are about.
fn attach_notes(entries: &mut Vec<Entry>, mut acknowledged: Option<Entry>, notes: &[Note]) {
    let said = |note: &Note| Some(note.detail.clone()).filter(|detail| !detail.is_empty());
    for note in notes {
        match note.event {
            // Who acknowledged, or resolved by hand: said on the entry it is about.
            NoteEvent::Acknowledged => {
                if let Some(entry) = acknowledged.as_mut() {
                    entry.detail = said(note);
                }
            }
            NoteEvent::ResolvedByHand => {
                let resolve = entries
                    .iter_mut()
                    .find(|e| e.event == "resolved" && e.at == note.at);
                if let Some(entry) = resolve {
                    entry.detail = Some(match said(note) {
                        Some(who) => format!("by hand, {who}"),
                        None => "by hand".to_owned(),
                    });
                }
            }
            NoteEvent::Silenced | NoteEvent::Unsilenced | NoteEvent::Summarized => {
                entries.push(Entry {
                    at: note.at,
                    event: note.event.as_str(),
                    detail: said(note),
                })
            }
        }
    }
    entries.extend(acknowledged);
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
        .enumerate()
        .map(|(i, record)| Entry {
            at: record.at,
            event: match record.transition {
                Transition::Opened => "opened",
                Transition::Escalated => "escalated",
                Transition::Reopened => "reopened",
                Transition::Resolved => "resolved",
                Transition::Updated => "updated",
            },
            detail: (record.transition == Transition::Escalated)
                .then(|| escalation(&records[..i], record))
                .flatten(),
        })
        .collect();
    let acknowledged = incident.acknowledged_at.map(|at| Entry {
        at,
        event: "acknowledged",
        detail: None,
    });
    attach_notes(&mut entries, acknowledged, &recorded.notes);
    entries.sort_by_key(|entry| entry.at);
    entries
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;
    use ic_core::Severity;
    use ic_core::testing::{epoch, incident};

    use super::*;

    fn record(transition: Transition, seconds: i64, severity: Severity) -> TransitionRecord {
        TransitionRecord {
            transition,
            at: epoch() + TimeDelta::seconds(seconds),
            severity: Some(severity),
        }
    }

    #[test]
    fn tells_what_an_escalation_went_from_and_to_among_the_notes() {
        let mut db = incident("i", "db", Severity::Critical);
        db.acknowledged_at = Some(epoch() + TimeDelta::seconds(30));
        let recorded = Recorded {
            transitions: vec![
                record(Transition::Opened, 0, Severity::Warning),
                record(Transition::Escalated, 20, Severity::Critical),
                record(Transition::Resolved, 60, Severity::Critical),
            ],
            notes: vec![
                Note {
                    event: NoteEvent::Silenced,
                    detail: "opened held back by silence s".into(),
                    at: epoch() + TimeDelta::seconds(1),
                },
                Note {
                    event: NoteEvent::Acknowledged,
                    detail: "by ana".into(),
                    at: epoch() + TimeDelta::seconds(30),
                },
                Note {
                    event: NoteEvent::ResolvedByHand,
                    detail: String::new(),
                    at: epoch() + TimeDelta::seconds(60),
                },
            ],
        };
        let told: Vec<String> = of(&db, &recorded).iter().map(Entry::text).collect();
        assert_eq!(
            told,
            [
                "opened",
                "silenced: opened held back by silence s",
                "escalated: Warning → Critical",
                "acknowledged: by ana",
                "resolved: by hand"
            ]
        );
    }
}
