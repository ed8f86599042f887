//! Incidents: what lasts beyond one window. Reports with the same fingerprint update one
//! incident, which opens, grows, escalates and resolves (see [`correlate`]).

pub mod correlate;
mod fingerprint;
mod merge;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use correlate::{Correlator, CorrelatorConfig, Folded, folded_into};
pub use fingerprint::{fingerprint, template_signature};
pub use merge::merge;

use crate::event::Level;
use crate::report::{RootCause, Severity};

/// Where an incident is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IncidentStatus {
    Open,
    Resolved,
}

impl IncidentStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            IncidentStatus::Open => "open",
            IncidentStatus::Resolved => "resolved",
        }
    }
}

/// One incident, as stored, shown and sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    /// Readable and unique: the opening time and the fingerprint's start,
    /// `20260101-000200-9f2c41`.
    pub id: String,
    /// Root-cause service + the signature of its template; the same on every instance and
    /// after a restart.
    pub fingerprint: String,
    pub status: IncidentStatus,
    /// The highest severity so far.
    pub severity: Severity,
    pub title: String,
    /// The newest report's summary.
    pub summary: String,
    pub root_cause: RootCause,
    /// The root-cause service first, then every service any of its reports named.
    pub impacted_services: Vec<String>,
    pub opened_at: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    /// Windows whose reports it absorbed.
    pub windows: u64,
    /// Lines of its flagged templates, over all its windows.
    pub lines: u64,
    /// Lines of its flagged templates per template kept: the noise an operator did not read.
    pub noise_reduction_ratio: f64,
    /// The evidence: its flagged templates with exact counts and sample lines, most lines first.
    pub templates: Vec<Evidence>,
    /// The incident this one is grouped under (one root cause, several fingerprints).
    pub parent: Option<String>,
    /// Earlier incidents with the same fingerprint.
    pub seen_before: Option<SeenBefore>,
    /// Times it resolved and came back within the flap hold time.
    pub reopened: u32,
    pub acknowledged_at: Option<DateTime<Utc>>,
    /// Who wrote the title and the summary: `builtin`, or the LLM that refined them.
    #[serde(default = "builtin")]
    pub analyzer: String,
}

impl Incident {
    /// How long it lasted: from its opening to its resolve, or to now for one still open
    /// (its last line).
    pub fn duration(&self) -> std::time::Duration {
        (self.resolved_at.unwrap_or(self.last_seen) - self.opened_at)
            .to_std()
            .unwrap_or_default()
    }
}

fn builtin() -> String {
    crate::report::BUILTIN.to_owned()
}

/// One template of an incident, with the lines to open.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    pub template_id: String,
    pub template: String,
    pub level: Level,
    pub services: Vec<String>,
    /// Exact count of its lines over the incident's windows.
    pub count: u64,
    /// The first lines seen (at most [`crate::condense::SAMPLE_LINES`]).
    pub first_lines: Vec<String>,
    /// The latest lines seen (at most [`crate::condense::SAMPLE_LINES`]).
    pub last_lines: Vec<String>,
}

/// Earlier incidents with the same fingerprint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeenBefore {
    /// The most recent one.
    pub last_id: String,
    pub last_opened_at: DateTime<Utc>,
    /// How many opened in the 7 days before this one.
    pub times_last_7_days: u32,
}

/// A change in an incident's life, for the store, the dashboard and the webhooks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transition {
    Opened,
    /// A report made it worse: its severity rose.
    Escalated,
    /// A report added to it without changing its severity.
    Updated,
    /// It resolved and came back within the flap hold time.
    Reopened,
    Resolved,
}

impl Transition {
    pub const fn as_str(self) -> &'static str {
        match self {
            Transition::Opened => "opened",
            Transition::Escalated => "escalated",
            Transition::Updated => "updated",
            Transition::Reopened => "reopened",
            Transition::Resolved => "resolved",
        }
    }

    /// Whether people are told: open, escalation, resolve (and a reopen, which is an open
    /// again), never a mere update; and never for an incident grouped under another one.
    pub fn notifies(self, incident: &Incident) -> bool {
        incident.parent.is_none() && self != Transition::Updated
    }
}

/// An incident after a transition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentEvent {
    pub transition: Transition,
    pub incident: Incident,
}
