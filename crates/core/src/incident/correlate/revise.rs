//! Revisions: an LLM's version of a report, arriving after the built-in one was correlated.
//!
//! The incident keeps the identity the built-in report gave it (its fingerprint is
//! deterministic, so every instance and every replay agree on it); the revision rewrites its
//! title and summary, may raise its severity and may add impacted services.

use super::{Correlator, event};
use crate::incident::{IncidentEvent, Transition};
use crate::report::Report;

impl Correlator {
    /// Applies `report`, a revision of a report this incident absorbed, to the open incident
    /// `id`. Nothing happens to an incident that resolved meanwhile, nor for a report the
    /// built-in analyzer wrote (a fallback changes nothing).
    pub fn revise(&mut self, id: &str, report: &Report) -> Option<IncidentEvent> {
        if report.analyzer.starts_with(crate::report::BUILTIN) {
            return None;
        }
        let incident = self.open.iter_mut().find(|i| i.id == id)?;
        let rose = report.severity > incident.severity;
        incident.severity = incident.severity.max(report.severity);
        incident.title.clone_from(&report.title);
        incident.summary.clone_from(&report.summary);
        incident.analyzer.clone_from(&report.analyzer);
        for service in &report.impacted_services {
            if !incident.impacted_services.contains(service) {
                incident.impacted_services.push(service.clone());
            }
        }
        let transition = if rose {
            Transition::Escalated
        } else {
            Transition::Updated
        };
        Some(event(transition, incident.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incident::CorrelatorConfig;
    use crate::llm::fixtures::meltdown_window;
    use crate::report::Severity;

    fn revision(of: &Report, severity: Severity) -> Report {
        Report {
            title: "inventory-db out of connections".into(),
            summary: "The pool is exhausted.".into(),
            severity,
            impacted_services: vec!["inventory-db".into(), "order-service".into()],
            analyzer: "openai:m".into(),
            ..of.clone()
        }
    }

    #[test]
    fn a_revision_rewrites_the_text_and_later_windows_keep_it() {
        let window = meltdown_window();
        let mut correlator = Correlator::new(CorrelatorConfig::default());
        let opened = correlator.observe(&window.report, &window.digest);
        let id = opened.last().unwrap().incident.id.clone();

        let revised = correlator
            .revise(&id, &revision(&window.report, Severity::Info))
            .unwrap();
        assert_eq!(revised.transition, Transition::Updated);
        let incident = &revised.incident;
        assert_eq!(incident.title, "inventory-db out of connections");
        assert_eq!(incident.severity, Severity::Critical, "never lowered");
        assert_eq!(incident.analyzer, "openai:m");
        assert!(incident.impacted_services.contains(&"order-service".into()));

        let mut next = window.report.clone();
        next.window.end += chrono::Duration::seconds(1);
        next.summary = "built-in words".into();
        let updated = correlator.observe(&next, &window.digest);
        let incident = &updated.last().unwrap().incident;
        assert_eq!(incident.summary, "The pool is exhausted.");
        assert_eq!(incident.windows, 2);
    }

    #[test]
    fn a_revision_that_raises_the_severity_escalates() {
        let window = meltdown_window();
        let mut warning = window.report.clone();
        warning.severity = Severity::Warning;
        let mut correlator = Correlator::new(CorrelatorConfig::default());
        let id = correlator.observe(&warning, &window.digest)[0]
            .incident
            .id
            .clone();
        let revised = correlator
            .revise(&id, &revision(&warning, Severity::Critical))
            .unwrap();
        assert_eq!(revised.transition, Transition::Escalated);
        assert_eq!(revised.incident.severity, Severity::Critical);
    }

    #[test]
    fn fallbacks_and_unknown_incidents_change_nothing() {
        let window = meltdown_window();
        let mut correlator = Correlator::new(CorrelatorConfig::default());
        let id = correlator.observe(&window.report, &window.digest)[0]
            .incident
            .id
            .clone();
        let mut fallback = window.report.clone();
        fallback.analyzer = "builtin (fallback: timeout)".into();
        assert_eq!(correlator.revise(&id, &fallback), None);
        let revision = revision(&window.report, Severity::Critical);
        assert_eq!(correlator.revise("no-such-incident", &revision), None);
        assert_eq!(correlator.open_incidents()[0].analyzer, "builtin");
    }
}
