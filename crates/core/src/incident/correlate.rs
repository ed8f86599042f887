//! Correlation: reports become incidents that open, grow, escalate and resolve.
//!
//! A report at Warning or above carries a fingerprint: its root-cause service and the
//! signature of its root-cause template. A report whose fingerprint (or whose root-cause
//! template, while its text is still being generalized) belongs to an open incident updates
//! it; otherwise an incident opens. An incident resolves after `resolve_after` without a
//! matching report. A resolved incident never absorbs reports again, with one exception that
//! damps flapping: a recurrence within `flap_hold` of the resolve reopens it. A new incident
//! whose root-cause service already is the root or an impacted service of an incident opened in
//! the last `group_window` is grouped under it (one root cause, several fingerprints) and pages
//! nobody on its own.
//!
//! Time is the reports' own (their window's end), so replaying a file gives the incidents the
//! live run gave; [`Correlator::expire`] moves time on when no report comes.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use super::{
    Evidence, Incident, IncidentEvent, IncidentStatus, SeenBefore, Transition, fingerprint,
};
use crate::condense::{Digest, SAMPLE_LINES, TemplateStat};

use crate::report::{Report, RootCause, Severity};
use carried::Carried;

/// The correlator's settings; the defaults are documented in the README.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CorrelatorConfig {
    /// An incident resolves after this long without a matching report.
    pub resolve_after: Duration,
    /// A recurrence this soon after the resolve reopens the incident.
    pub flap_hold: Duration,
    /// A new incident is grouped under one opened this recently with the same root cause.
    pub group_window: Duration,
    /// Templates kept as evidence per incident (those with the most lines).
    pub max_templates: usize,
}

impl CorrelatorConfig {
    /// How long an incident stays open without a matching report.
    pub const DEFAULT_RESOLVE_AFTER: Duration = Duration::from_secs(120);
}

impl Default for CorrelatorConfig {
    fn default() -> Self {
        Self {
            resolve_after: Self::DEFAULT_RESOLVE_AFTER,
            flap_hold: Duration::from_secs(300),
            group_window: Duration::from_secs(60),
            max_templates: 20,
        }
    }
}

/// How far back "seen before" counts.
const SEEN_BEFORE: Duration = Duration::from_secs(7 * 24 * 3600);
/// Earlier incidents remembered per fingerprint for "seen before".
const HISTORY_PER_FINGERPRINT: usize = 64;

/// Turns reports into incident transitions. Pure: the caller stores and sends what it returns.
#[derive(Debug, Default)]
pub struct Correlator {
    config: CorrelatorConfig,
    open: Vec<Incident>,
    /// Resolved within the flap hold time: may still reopen.
    cooling: Vec<Incident>,
    /// Opening times of earlier incidents per fingerprint, oldest first.
    history: HashMap<String, VecDeque<(String, DateTime<Utc>)>>,
    /// The incidents restored open, held to their own rate (see [`carried`]).
    carried: Vec<Carried>,
}

impl Correlator {
    pub fn new(config: CorrelatorConfig) -> Self {
        Self {
            config,
            ..Self::default()
        }
    }

    /// Picks up where a previous run left off: its open incidents, and recent ones for "seen
    /// before" and reopening.
    pub fn restore(&mut self, incidents: impl IntoIterator<Item = Incident>) {
        let mut incidents: Vec<Incident> = incidents.into_iter().collect();
        incidents.sort_by_key(|i| i.opened_at);
        for incident in incidents {
            self.remember(&incident);
            match incident.status {
                IncidentStatus::Open => {
                    self.carried.push(Carried::of(&incident));
                    self.open.push(incident);
                }
                IncidentStatus::Resolved => self.cooling.push(incident),
            }
        }
    }

    pub fn open_incidents(&self) -> &[Incident] {
        &self.open
    }

    /// When the next open incident resolves if no report comes; `None` when none is open.
    pub fn next_deadline(&self) -> Option<DateTime<Utc>> {
        self.open
            .iter()
            .map(|i| i.last_seen + self.config.resolve_after)
            .min()
    }

    /// An operator resolved an open incident by hand at `at`: it leaves the open set like a
    /// quiet one would (a recurrence within the flap hold reopens it). `None` when no open
    /// incident has this id.
    pub fn resolve_by_hand(&mut self, id: &str, at: DateTime<Utc>) -> Option<IncidentEvent> {
        let i = self.open.iter().position(|incident| incident.id == id)?;
        let mut incident = self.open.remove(i);
        incident.status = IncidentStatus::Resolved;
        incident.resolved_at = Some(at);
        self.cooling.push(incident.clone());
        Some(event(Transition::Resolved, incident))
    }

    /// Resolves the incidents quiet since `now - resolve_after`.
    pub fn expire(&mut self, now: DateTime<Utc>) -> Vec<IncidentEvent> {
        // This runs for every window: each list is compared with one cutoff, and the open
        // incidents are left in place when none is due.
        if let Some(cooled) = before(now, self.config.flap_hold) {
            self.cooling
                .retain(|i| i.resolved_at.is_some_and(|at| at > cooled));
        }
        let Some(quiet_since) = before(now, self.config.resolve_after) else {
            return Vec::new();
        };
        if !self.open.iter().any(|i| i.last_seen <= quiet_since) {
            return Vec::new();
        }
        let resolve_after = self.config.resolve_after;
        let (quiet, open): (Vec<Incident>, Vec<Incident>) = std::mem::take(&mut self.open)
            .into_iter()
            .partition(|i| i.last_seen <= quiet_since);
        self.open = open;
        quiet
            .into_iter()
            .map(|mut incident| {
                incident.status = IncidentStatus::Resolved;
                incident.resolved_at = Some(incident.last_seen + resolve_after);
                self.cooling.push(incident.clone());
                event(Transition::Resolved, incident)
            })
            .collect()
    }

    /// Folds one window's report into the incidents; `digest` is the window the report was
    /// written from, for the evidence.
    pub fn observe(&mut self, report: &Report, digest: &Digest) -> Vec<IncidentEvent> {
        let now = report.window.end;
        let mut events = self.expire(now);
        self.fold(report, digest, &mut events);
        if !self.carried.is_empty() {
            self.keep_carried(report, digest, &mut events);
        }
        events
    }

    /// The report's part of [`Correlator::observe`]: the incident it updates, reopens or
    /// opens.
    fn fold(&mut self, report: &Report, digest: &Digest, events: &mut Vec<IncidentEvent>) {
        let (Some(root), Some(folded)) = (report.root_cause.as_ref(), folded_into(report)) else {
            return;
        };
        let fingerprint = folded.fingerprint;
        let root_id = template_id_of(report, &root.template);
        let flagged = flagged_stats(report, digest);

        if let Some(i) = self.find_open(&fingerprint, &root.service, root_id) {
            let incident = &mut self.open[i];
            let rose = update(incident, report, &flagged, self.config.max_templates);
            let transition = if rose {
                Transition::Escalated
            } else {
                Transition::Updated
            };
            events.push(event(transition, incident.clone()));
        } else if let Some(i) = self
            .cooling
            .iter()
            .position(|c| c.fingerprint == fingerprint)
        {
            let mut incident = self.cooling.remove(i);
            incident.status = IncidentStatus::Open;
            incident.resolved_at = None;
            incident.reopened += 1;
            update(&mut incident, report, &flagged, self.config.max_templates);
            self.open.push(incident.clone());
            events.push(event(Transition::Reopened, incident));
        } else {
            let incident = self.open_new(fingerprint, root, report, &flagged);
            self.remember(&incident);
            self.open.push(incident.clone());
            events.push(event(Transition::Opened, incident));
        }
    }

    fn find_open(&self, fingerprint: &str, service: &str, root_id: Option<&str>) -> Option<usize> {
        self.open
            .iter()
            .position(|i| i.fingerprint == fingerprint)
            .or_else(|| {
                // The root template's text may still generalize (a word becomes `<*>`); its id
                // stays, and so does the incident.
                let id = root_id?;
                self.open.iter().position(|i| {
                    i.root_cause.service == service
                        && i.templates.first().is_some_and(|t| t.template_id == id)
                })
            })
    }

    fn open_new(
        &self,
        fingerprint: String,
        root: &RootCause,
        report: &Report,
        flagged: &[&TemplateStat],
    ) -> Incident {
        let now = report.window.end;
        // It began with its first anomalous line, not with the window, which may hold seconds
        // of normal traffic before it; a window flagged over the horizons alone names none.
        let opened_at = flagged
            .iter()
            .map(|stat| stat.first)
            .min()
            .unwrap_or(report.window.start);
        let id = self.unique_id(format!(
            "{}-{}",
            opened_at.format("%Y%m%d-%H%M%S"),
            &fingerprint[..6]
        ));
        let mut incident = Incident {
            id,
            seen_before: self.seen_before(&fingerprint, opened_at),
            parent: self.parent_for(&root.service, now),
            fingerprint,
            status: IncidentStatus::Open,
            severity: report.severity,
            title: report.title.clone(),
            summary: report.summary.clone(),
            root_cause: root.clone(),
            impacted_services: Vec::new(),
            opened_at,
            last_seen: now,
            resolved_at: None,
            windows: 0,
            lines: 0,
            noise_reduction_ratio: 1.0,
            templates: Vec::new(),
            reopened: 0,
            acknowledged_at: None,
            analyzer: report.analyzer.clone(),
        };
        update(&mut incident, report, flagged, self.config.max_templates);
        // The root template leads the evidence, so its id keeps the incident when its text
        // generalizes.
        if let Some(i) = incident
            .templates
            .iter()
            .position(|t| t.template == root.template)
        {
            incident.templates[..=i].rotate_right(1);
        }
        incident
    }

    /// `base`, or `base-2`, `base-3`… when an earlier incident has it: a replayed file opens
    /// the same failure at the same second again.
    fn unique_id(&self, base: String) -> String {
        let taken = |id: &str| {
            self.history
                .values()
                .flatten()
                .any(|(known, _)| known == id)
        };
        if !taken(&base) {
            return base;
        }
        (2..)
            .map(|n| format!("{base}-{n}"))
            .find(|id| !taken(id))
            .expect("an unused suffix exists")
    }

    /// An open incident, itself not grouped, opened within the group window, whose root cause
    /// is `service` or took `service` down.
    fn parent_for(&self, service: &str, now: DateTime<Utc>) -> Option<String> {
        self.open
            .iter()
            .filter(|i| i.parent.is_none())
            .filter(|i| i.opened_at + self.config.group_window >= now)
            .find(|i| {
                i.root_cause.service == service || i.impacted_services.iter().any(|s| s == service)
            })
            .map(|i| i.id.clone())
    }

    fn seen_before(&self, fingerprint: &str, at: DateTime<Utc>) -> Option<SeenBefore> {
        let earlier = self.history.get(fingerprint)?;
        let (last_id, last_opened_at) = earlier.back()?.clone();
        let since = at - SEEN_BEFORE;
        let times = earlier
            .iter()
            .filter(|(_, t)| *t >= since && *t < at)
            .count();
        Some(SeenBefore {
            last_id,
            last_opened_at,
            times_last_7_days: u32::try_from(times).unwrap_or(u32::MAX),
        })
    }

    fn remember(&mut self, incident: &Incident) {
        let earlier = self
            .history
            .entry(incident.fingerprint.clone())
            .or_default();
        earlier.push_back((incident.id.clone(), incident.opened_at));
        if earlier.len() > HISTORY_PER_FINGERPRINT {
            earlier.pop_front();
        }
    }
}

/// `now - duration`; `None` when that is out of chrono's range, so nothing is that old.
fn before(now: DateTime<Utc>, duration: Duration) -> Option<DateTime<Utc>> {
    now.checked_sub_signed(TimeDelta::from_std(duration).ok()?)
}

fn event(transition: Transition, incident: Incident) -> IncidentEvent {
    IncidentEvent {
        transition,
        incident,
    }
}

/// The id of the report's template with this text.
fn template_id_of<'a>(report: &'a Report, template: &str) -> Option<&'a str> {
    report
        .templates
        .iter()
        .find(|t| t.template == template)
        .map(|t| t.id.as_str())
}

/// The digest's stats of the templates the report flagged.
/// What a window's report adds to the incident it is folded into (see [`folded_into`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Folded {
    /// The incident's fingerprint.
    pub fingerprint: String,
    /// The lines of the report's flagged templates, which the incident's `lines` count.
    pub lines: u64,
}

/// The incident a report is folded into, by fingerprint, and the lines it adds there; `None`
/// for a report under Warning or without a root cause, which no incident counts. Stored
/// beside each window, so that an incident's counts can be checked against its windows'.
pub fn folded_into(report: &Report) -> Option<Folded> {
    let root = report.root_cause.as_ref()?;
    if report.severity < Severity::Warning {
        return None;
    }
    let lines = report
        .templates
        .iter()
        .filter(|t| t.signal.is_some())
        .map(|t| u64::from(t.count))
        .sum();
    Some(Folded {
        fingerprint: fingerprint(&root.service, &root.template),
        lines,
    })
}

fn flagged_stats<'a>(report: &Report, digest: &'a Digest) -> Vec<&'a TemplateStat> {
    report
        .templates
        .iter()
        .filter(|t| t.signal.is_some())
        .filter_map(|t| digest.templates.iter().find(|s| s.id.to_string() == t.id))
        .collect()
}

/// Adds a report to an incident; true when its severity rose.
fn update(
    incident: &mut Incident,
    report: &Report,
    flagged: &[&TemplateStat],
    max_templates: usize,
) -> bool {
    let rose = report.severity > incident.severity;
    if rose {
        incident.severity = report.severity;
        incident.title = report.title.clone();
        incident.analyzer.clone_from(&report.analyzer);
    }
    // An LLM's narrative stands until the next one, or until an escalation rewrites it.
    if incident.analyzer == report.analyzer {
        incident.summary = report.summary.clone();
    }
    incident.last_seen = incident.last_seen.max(report.window.end);
    incident.windows += 1;
    for service in &report.impacted_services {
        if !incident.impacted_services.contains(service) {
            incident.impacted_services.push(service.clone());
        }
    }
    for stat in flagged {
        incident.lines += u64::from(stat.count);
        add_evidence(&mut incident.templates, stat);
    }
    keep_largest(&mut incident.templates, max_templates);
    incident.noise_reduction_ratio = ratio_of(incident.lines, incident.templates.len());
    rose
}

/// An incident's noise reduction: its lines per template kept.
pub(super) fn ratio_of(lines: u64, templates: usize) -> f64 {
    crate::report::noise_reduction_ratio(u32::try_from(lines).unwrap_or(u32::MAX), templates)
}

fn add_evidence(templates: &mut Vec<Evidence>, stat: &TemplateStat) {
    let id = stat.id.to_string();
    let evidence = match templates.iter().position(|t| t.template_id == id) {
        Some(i) => &mut templates[i],
        None => {
            templates.push(Evidence {
                template_id: id,
                template: String::new(),
                level: stat.levels.dominant().unwrap_or_default(),
                services: Vec::new(),
                count: 0,
                first_lines: Vec::new(),
                last_lines: Vec::new(),
            });
            templates.last_mut().expect("just pushed")
        }
    };
    evidence.template.clone_from(&stat.template);
    evidence.count += u64::from(stat.count);
    for (service, _) in &stat.services {
        if !evidence.services.contains(service) {
            evidence.services.push(service.clone());
        }
    }
    let mut lines = stat.sample_lines();
    while evidence.first_lines.len() < SAMPLE_LINES {
        match lines.next() {
            Some(line) => evidence.first_lines.push(line),
            None => break,
        }
    }
    evidence.last_lines.extend(lines);
    let excess = evidence.last_lines.len().saturating_sub(SAMPLE_LINES);
    evidence.last_lines.drain(..excess);
}

/// Keeps the `max` templates with the most lines, the root (first) always among them.
pub(super) fn keep_largest(templates: &mut Vec<Evidence>, max: usize) {
    if templates.len() <= max {
        return;
    }
    templates[1..].sort_by_key(|t| std::cmp::Reverse(t.count));
    templates.truncate(max.max(1));
}

mod carried;
mod revise;
#[cfg(test)]
mod tests;
