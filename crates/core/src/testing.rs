//! Builders for tests, here and in the crates above (feature `testing`): one sample of each
//! record, changed by the test where it matters, instead of a literal of every field.

use chrono::{DateTime, TimeZone, Utc};

use crate::incident::{Evidence, Incident, IncidentEvent, IncidentStatus, Transition};
use crate::report::{RootCause, WindowSummary};
use crate::{FlushReason, Level, Report, Severity};

/// An open incident of `service`'s pool exhaustion, opened at [`epoch`], with no evidence.
pub fn incident(id: &str, service: &str, severity: Severity) -> Incident {
    Incident {
        id: id.to_owned(),
        fingerprint: format!("{service}:pool-exhausted"),
        status: IncidentStatus::Open,
        severity,
        title: format!("{service}: Connection Refused: Pool exhausted"),
        summary: format!("{service} refuses connections"),
        root_cause: RootCause {
            service: service.to_owned(),
            template: "Database Connection Refused: Pool exhausted".to_owned(),
            candidates: Vec::new(),
        },
        impacted_services: vec![service.to_owned()],
        opened_at: epoch(),
        last_seen: epoch(),
        resolved_at: None,
        windows: 1,
        lines: 0,
        noise_reduction_ratio: 1.0,
        templates: Vec::new(),
        parent: None,
        seen_before: None,
        reopened: 0,
        acknowledged_at: None,
        analyzer: crate::report::BUILTIN.to_owned(),
    }
}

/// `count` ERROR lines of `template` from `service`, with its first and last line.
pub fn evidence(id: &str, template: &str, service: &str, count: u64) -> Evidence {
    Evidence {
        template_id: id.to_owned(),
        template: template.to_owned(),
        level: Level::Error,
        services: vec![service.to_owned()],
        count,
        first_lines: vec![format!("{service} ERROR {template} #1")],
        last_lines: vec![format!("{service} ERROR {template} #{count}")],
    }
}

/// `incident` going through `transition`.
pub fn event(transition: Transition, incident: &Incident) -> IncidentEvent {
    IncidentEvent {
        transition,
        incident: incident.clone(),
    }
}

/// The Info report of window `seq`: `log_count` lines at `at`, nothing flagged.
pub fn report(seq: u64, at: DateTime<Utc>, log_count: u32) -> Report {
    Report {
        title: String::new(),
        severity: Severity::Info,
        impacted_services: Vec::new(),
        summary: String::new(),
        noise_reduction_ratio: 1.0,
        window: WindowSummary {
            seq,
            start: at,
            end: at,
            log_count,
            flush: FlushReason::Size,
        },
        root_cause: None,
        templates: Vec::new(),
        analyzer: crate::report::BUILTIN.to_owned(),
        llm: None,
    }
}

/// The time test records start at: 2026-01-01 00:00:00 UTC.
pub fn epoch() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
}
