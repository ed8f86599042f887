//! The report: what the analysis of one window concluded, in the seed's schema, extended.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::condense::Digest;
use crate::window::FlushReason;

/// The name the built-in analyzer signs its reports with (their `analyzer`).
pub const BUILTIN: &str = "builtin";

/// How bad a window is.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub enum Severity {
    /// Nothing an operator needs to look at.
    #[default]
    Info,
    /// Something changed that may turn into an outage.
    Warning,
    /// An outage: someone should act now.
    Critical,
}

impl Severity {
    pub const fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "Info",
            Severity::Warning => "Warning",
            Severity::Critical => "Critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// The report of one window. The first five fields keep the seed's names and meanings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub title: String,
    pub severity: Severity,
    /// The root-cause service first, then the services it took down.
    pub impacted_services: Vec<String>,
    pub summary: String,
    /// See [`noise_reduction_ratio`]; always computed, never taken from an LLM.
    pub noise_reduction_ratio: f64,
    pub window: WindowSummary,
    /// `None` when nothing in the window is an incident.
    pub root_cause: Option<RootCause>,
    /// Every template of the window, anomalies first, then by line count.
    pub templates: Vec<ReportTemplate>,
    /// Who wrote the report: `builtin`, `openai:MODEL`, `builtin (fallback: REASON)`, …
    pub analyzer: String,
    /// What the LLM call for this window cost; absent when none was made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub llm: Option<LlmUsage>,
}

/// Tokens of one LLM call, as the API counted them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LlmUsage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

/// The window a report covers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowSummary {
    /// The window's number in the run, counting from 1.
    pub seq: u64,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub log_count: u32,
    pub flush: FlushReason,
}

/// The service and template an incident starts from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RootCause {
    pub service: String,
    pub template: String,
    /// The likeliest culprits, best first (`service` is the first), with how strongly the
    /// evidence points at each and what that evidence is; at most [`CANDIDATES`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub candidates: Vec<Candidate>,
}

/// Culprits listed in a report's root cause.
pub const CANDIDATES: usize = 3;

/// A service the evidence points at.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    pub service: String,
    /// The evidence's weight: orders of magnitude of surprise under the usual behaviour,
    /// summed over its findings (each capped), one decimal.
    pub score: f64,
    /// One line per finding, strongest first.
    pub evidence: Vec<String>,
}

/// One template line of a report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportTemplate {
    pub id: String,
    pub template: String,
    pub count: u32,
    /// The level most of its lines have.
    pub level: crate::Level,
    pub services: Vec<String>,
    /// Why the analyzer flagged it (`storm`, `surge`, `new`, `climb`); absent when it is noise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<String>,
}

/// Raw lines in the window per line an operator has to read: the window's line count divided
/// by its number of templates, rounded to one decimal. 100 lines that are 4 templates give 25.
pub fn noise_reduction_ratio(log_count: u32, templates: usize) -> f64 {
    if templates == 0 {
        return 1.0;
    }
    (f64::from(log_count) / templates as f64 * 10.0).round() / 10.0
}

impl WindowSummary {
    pub fn of(digest: &Digest) -> Self {
        Self {
            seq: digest.seq,
            start: digest.start,
            end: digest.end,
            log_count: digest.log_count,
            flush: digest.flush,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noise_reduction_is_lines_per_template() {
        assert_eq!(noise_reduction_ratio(100, 4), 25.0);
        assert_eq!(noise_reduction_ratio(100, 3), 33.3);
        assert_eq!(noise_reduction_ratio(7, 7), 1.0);
        assert_eq!(noise_reduction_ratio(0, 0), 1.0);
    }

    #[test]
    fn severities_order_and_print_as_the_seed_did() {
        assert!(Severity::Critical > Severity::Warning && Severity::Warning > Severity::Info);
        assert_eq!(
            serde_json::to_string(&Severity::Critical).unwrap(),
            "\"Critical\""
        );
    }
}
