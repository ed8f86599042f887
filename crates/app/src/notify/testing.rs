//! Fixtures for the notifier's tests: incidents and their events.

use chrono::{TimeZone, Utc};
use ic_core::incident::{Evidence, Incident, IncidentEvent, IncidentStatus, Transition};
use ic_core::report::RootCause;
use ic_core::{Level, Severity};

/// The inventory-db meltdown as an incident, with two templates.
pub(crate) fn incident() -> Incident {
    let at = Utc.with_ymd_and_hms(2026, 1, 1, 0, 2, 0).unwrap();
    let evidence = |id: &str, template: &str, service: &str, count| Evidence {
        template_id: id.to_owned(),
        template: template.to_owned(),
        level: Level::Error,
        services: vec![service.to_owned()],
        count,
        first_lines: vec![format!("{service} ERROR {template} #1")],
        last_lines: vec![format!("{service} ERROR {template} #{count}")],
    };
    Incident {
        id: "20260101-000200-9f2c41".to_owned(),
        fingerprint: "9f2c41d07a1b3e55".to_owned(),
        status: IncidentStatus::Open,
        severity: Severity::Critical,
        title: "inventory-db connection pool exhausted".to_owned(),
        summary: "inventory-db refuses connections; checkout fails with it.".to_owned(),
        root_cause: RootCause {
            service: "inventory-db".to_owned(),
            template: "Database Connection Refused: Pool exhausted".to_owned(),
            candidates: Vec::new(),
        },
        impacted_services: vec!["inventory-db".to_owned(), "checkout".to_owned()],
        opened_at: at,
        last_seen: at,
        resolved_at: None,
        windows: 3,
        lines: 1400,
        noise_reduction_ratio: 700.0,
        templates: vec![
            evidence(
                "t1",
                "Database Connection Refused: Pool exhausted",
                "inventory-db",
                1200,
            ),
            evidence(
                "t2",
                "checkout failed: upstream <*> timed out",
                "checkout",
                200,
            ),
        ],
        parent: None,
        seen_before: None,
        reopened: 0,
        acknowledged_at: None,
        analyzer: "builtin".into(),
    }
}

pub(crate) fn event(transition: Transition) -> IncidentEvent {
    let mut incident = incident();
    if transition == Transition::Resolved {
        incident.status = IncidentStatus::Resolved;
        incident.resolved_at = Some(incident.last_seen);
    }
    IncidentEvent {
        transition,
        incident,
    }
}

/// An incident as large as it gets: many services and templates, megabyte lines full of
/// characters that JSON and Slack escape.
pub(crate) fn huge_event(transition: Transition) -> IncidentEvent {
    let line = "a&<b>\"\\\u{1}é".repeat(1_000_000 / 8);
    let mut event = event(transition);
    let incident = &mut event.incident;
    incident.title = line.clone();
    incident.summary = line.clone();
    incident.root_cause.template = line.clone();
    incident.impacted_services = (0..500)
        .map(|i| format!("service-{i}-{line:.300}"))
        .collect();
    // Megabyte strings in the first templates only, to keep the fixture's memory small.
    incident.templates = (0..40)
        .map(|i| {
            let text = if i < 3 {
                line.clone()
            } else {
                format!("{i} {line:.2000}")
            };
            Evidence {
                template_id: format!("t{i}"),
                template: text.clone(),
                level: Level::Error,
                services: incident.impacted_services[..50].to_vec(),
                count: 1000 - i,
                first_lines: vec![text.clone()],
                last_lines: vec![format!("{i}{text}")],
            }
        })
        .collect();
    event
}
