//! Incidents open before a restart, while the restarted analyzer learns again what is usual.
//!
//! The analyzer's memory of what is usual does not survive a restart. For its first minutes it
//! learns (everything it sees is usual, a failure going on included) and flags only what a
//! window shows on its own; a thin failure learned meanwhile is usual from then on. An
//! incident restored open would resolve `resolve_after` later although its failure goes on,
//! and nothing would flag it again. So a restored incident is held to its own rate: each
//! window that holds its root-cause lines keeps it open while those lines, over the last
//! `resolve_after`, are as many as its rate before the restart makes likely (the count is not
//! below a Poisson lower bound, the test the horizons' silence signal makes of a rate that
//! fell). Once they thin out or stop, it resolves as any quiet incident does; a burst that
//! opened it does not live on in the background noise that follows, which is far thinner.

use std::collections::VecDeque;

use chrono::{DateTime, Utc};

use super::{Correlator, add_evidence, event, keep_largest, ratio_of};
use crate::analyze::stats::poisson_at_most;
use crate::condense::Digest;
use crate::incident::{Incident, IncidentEvent, Transition, fingerprint};
use crate::report::Report;

/// A count of root-cause lines this unlikely at the incident's own rate means another rate.
const ALPHA: f64 = 0.01;
/// The rate of an incident open for less than this long is taken over this long: a few lines
/// in a few seconds are no rate to hold anything to.
const MIN_SPAN_SECS: f64 = 60.0;

/// A restored open incident and the root-cause lines seen of it since the restart.
#[derive(Debug)]
pub(super) struct Carried {
    id: String,
    /// Its root-cause lines per second while it was open before the restart.
    rate: f64,
    /// The start of the first window after the restart.
    since: Option<DateTime<Utc>>,
    /// Its root-cause lines per window since then, by window end, over the last
    /// `resolve_after`.
    seen: VecDeque<(DateTime<Utc>, u64)>,
}

impl Carried {
    pub(super) fn of(incident: &Incident) -> Carried {
        let root = incident
            .templates
            .iter()
            .find(|t| t.template == incident.root_cause.template)
            .or_else(|| incident.templates.first())
            .map_or(0, |t| t.count);
        let open_for = (incident.last_seen - incident.opened_at).num_milliseconds() as f64 / 1e3;
        Carried {
            id: incident.id.clone(),
            rate: root as f64 / open_for.max(MIN_SPAN_SECS),
            since: None,
            seen: VecDeque::new(),
        }
    }
}

impl Correlator {
    /// Keeps open the restored incidents whose root-cause lines `digest` holds at their rate,
    /// unless the report already updated them; forgets those no longer open.
    pub(super) fn keep_carried(
        &mut self,
        report: &Report,
        digest: &Digest,
        events: &mut Vec<IncidentEvent>,
    ) {
        let open = &self.open;
        self.carried
            .retain(|carried| open.iter().any(|i| i.id == carried.id));
        let end = report.window.end;
        let Some(horizon) = super::before(end, self.config.resolve_after) else {
            return;
        };
        for carried in &mut self.carried {
            let Some(incident) = self.open.iter_mut().find(|i| i.id == carried.id) else {
                continue;
            };
            let since = *carried.since.get_or_insert(report.window.start);
            let stats: Vec<_> = digest
                .templates
                .iter()
                .filter(|stat| {
                    let root = &incident.root_cause.service;
                    stat.services.iter().any(|(service, _)| service == root)
                        && fingerprint(root, &stat.template) == incident.fingerprint
                })
                .collect();
            let lines: u64 = stats.iter().map(|stat| u64::from(stat.count)).sum();
            carried.seen.push_back((end, lines));
            while carried.seen.front().is_some_and(|(at, _)| *at <= horizon) {
                carried.seen.pop_front();
            }
            if lines == 0 || incident.last_seen >= end {
                continue;
            }
            let span = (end - since.max(horizon)).num_milliseconds().max(1000) as f64 / 1e3;
            let counted: u64 = carried.seen.iter().map(|(_, n)| n).sum();
            let counted = u32::try_from(counted).unwrap_or(u32::MAX);
            if poisson_at_most(counted, carried.rate * span) < ALPHA {
                continue;
            }
            incident.last_seen = end;
            incident.windows += 1;
            for stat in stats {
                incident.lines += u64::from(stat.count);
                add_evidence(&mut incident.templates, stat);
            }
            keep_largest(&mut incident.templates, self.config.max_templates);
            incident.noise_reduction_ratio = ratio_of(incident.lines, incident.templates.len());
            events.push(event(Transition::Updated, incident.clone()));
        }
    }
}
