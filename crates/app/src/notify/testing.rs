//! Fixtures for the notifier's tests: incidents and their events.

use chrono::{TimeZone, Utc};
use ic_core::incident::{Evidence, Incident, IncidentEvent, IncidentStatus, Transition};
use ic_core::testing;
use ic_core::{Level, Severity};

/// The inventory-db meltdown as an incident, with two templates.
pub(crate) fn incident() -> Incident {
    let at = Utc.with_ymd_and_hms(2026, 1, 1, 0, 2, 0).unwrap();
    let mut incident =
        testing::incident("20260101-000200-9f2c41", "inventory-db", Severity::Critical);
    incident.fingerprint = "9f2c41d07a1b3e55".to_owned();
    incident.title = "inventory-db connection pool exhausted".to_owned();
    incident.summary = "inventory-db refuses connections; checkout fails with it.".to_owned();
    incident.impacted_services = vec!["inventory-db".to_owned(), "checkout".to_owned()];
    (incident.opened_at, incident.last_seen) = (at, at);
    (
        incident.windows,
        incident.lines,
        incident.noise_reduction_ratio,
    ) = (3, 1400, 700.0);
    incident.templates = vec![
        testing::evidence(
            "t1",
            "Database Connection Refused: Pool exhausted",
            "inventory-db",
            1200,
        ),
        testing::evidence(
            "t2",
            "checkout failed: upstream <*> timed out",
            "checkout",
            200,
        ),
    ];
    incident
}

pub(crate) fn event(transition: Transition) -> IncidentEvent {
    let mut incident = incident();
    if transition == Transition::Resolved {
        incident.status = IncidentStatus::Resolved;
        incident.resolved_at = Some(incident.last_seen);
    }
    testing::event(transition, &incident)
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
