//! Routing: which incidents a webhook target is told about.
//!
//! A `[[webhooks]]` table may carry a `match` (Alertmanager's routes, reduced to what an
//! incident has): the root-cause service as a glob, the least severity, and whether incidents
//! grouped under another one are sent too. A target without one gets what every target got
//! before routes: every top-level incident's opens, escalations and resolves.

use ic_core::Severity;
use ic_core::incident::{IncidentEvent, Transition};
use serde::Deserialize;

use crate::output::MinSeverity;

/// What a notification says happened to an incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotifyEvent {
    /// It opened, or resolved and came back.
    Opened,
    /// Its severity rose.
    Escalated,
    Resolved,
}

impl NotifyEvent {
    /// The event people are told about, or `None` when the transition is not sent (an
    /// update). Which targets hear of it is their [`Route`]'s to say.
    pub fn of(transition: Transition) -> Option<Self> {
        match transition {
            // A reopen is an open again for whoever is told.
            Transition::Opened | Transition::Reopened => Some(NotifyEvent::Opened),
            Transition::Escalated => Some(NotifyEvent::Escalated),
            Transition::Resolved => Some(NotifyEvent::Resolved),
            Transition::Updated => None,
        }
    }

    /// `opened`, `escalated` or `resolved`: the generic body's `event`.
    pub const fn as_str(self) -> &'static str {
        match self {
            NotifyEvent::Opened => "opened",
            NotifyEvent::Escalated => "escalated",
            NotifyEvent::Resolved => "resolved",
        }
    }
}

/// Why a `match` was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a webhook's match has an invalid service glob {glob:?}: {reason}")]
pub struct RouteError {
    glob: String,
    reason: String,
}

/// `match = { service = "payments-*", min_severity = "critical", grouped = true }`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// The root-cause service, as a glob (`*`, `?`, `[abc]`).
    pub service: Option<String>,
    /// `"info"`, `"warning"` or `"critical"`: incidents below it are not sent.
    pub min_severity: Option<MinSeverity>,
    /// Incidents grouped under another (which page nobody by default) are sent too.
    #[serde(default)]
    pub grouped: bool,
}

/// What a target is told about; the default is everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Route {
    service: Option<glob::Pattern>,
    min_severity: Severity,
    grouped: bool,
}

impl Route {
    pub fn new(config: &RouteConfig) -> Result<Self, RouteError> {
        let service = config
            .service
            .as_deref()
            .map(|glob| {
                glob::Pattern::new(glob).map_err(|err| RouteError {
                    glob: glob.to_owned(),
                    reason: err.to_string(),
                })
            })
            .transpose()?;
        Ok(Route {
            service,
            min_severity: config.min_severity.map_or(Severity::Info, Severity::from),
            grouped: config.grouped,
        })
    }

    /// The event this target is told of, if it is told of this one.
    pub fn admits(&self, event: &IncidentEvent) -> Option<NotifyEvent> {
        let kind = NotifyEvent::of(event.transition)?;
        let incident = &event.incident;
        // What pages people by default, or with `grouped` incidents under another one too.
        let grouped_ok = self.grouped || event.transition.notifies(incident);
        let service_ok = self
            .service
            .as_ref()
            .is_none_or(|glob| glob.matches(&incident.root_cause.service));
        (grouped_ok && service_ok && incident.severity >= self.min_severity).then_some(kind)
    }
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::notify::testing::event;

    fn route(service: Option<&str>, min_severity: Option<MinSeverity>, grouped: bool) -> Route {
        Route::new(&RouteConfig {
            service: service.map(str::to_owned),
            min_severity,
            grouped,
        })
        .unwrap()
    }

    fn of(service: &str, severity: Severity, parent: Option<&str>) -> IncidentEvent {
        let mut e = event(Transition::Opened);
        e.incident.root_cause.service = service.to_owned();
        e.incident.severity = severity;
        e.incident.parent = parent.map(str::to_owned);
        e
    }

    #[test]
    fn no_match_is_every_top_level_incident() {
        let all = Route::default();
        assert!(all.admits(&of("db", Severity::Warning, None)).is_some());
        assert!(
            all.admits(&of("db", Severity::Critical, Some("p")))
                .is_none()
        );
        let mut update = of("db", Severity::Critical, None);
        update.transition = Transition::Updated;
        assert!(all.admits(&update).is_none());
    }

    #[test]
    fn service_glob_and_severity_select() {
        let pager = route(Some("payments-*"), Some(MinSeverity::Critical), false);
        assert!(
            pager
                .admits(&of("payments-api", Severity::Critical, None))
                .is_some()
        );
        assert!(
            pager
                .admits(&of("payments-api", Severity::Warning, None))
                .is_none()
        );
        assert!(
            pager
                .admits(&of("orders", Severity::Critical, None))
                .is_none()
        );
        let grouped = route(None, None, true);
        assert!(
            grouped
                .admits(&of("db", Severity::Warning, Some("p")))
                .is_some()
        );
    }

    #[test]
    fn a_bad_glob_is_refused_with_its_text() {
        let err = Route::new(&RouteConfig {
            service: Some("pay[".into()),
            ..RouteConfig::default()
        })
        .unwrap_err()
        .to_string();
        assert!(err.contains("pay["), "{err}");
    }
}
