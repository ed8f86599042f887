//! The built-in analyzer: deterministic, offline, explainable.
//!
//! For each window it compares every template with its own usual rate (see [`history`]) and
//! flags the templates that are not the usual noise (see [`signals`]): storms and surges a
//! window shows by itself. Thin evidence (a few new errors a minute, a line that stopped, hops
//! that slowed) only shows over time, so the analyzer also follows every line across windows
//! over sliding horizons (see [`horizons`]). From both it decides the severity, ranks the
//! services the evidence points at (see [`rank`]), and writes a title and a summary.

mod history;
pub mod horizons;
pub(crate) mod narrate;
mod rank;
mod signals;
pub mod stats;

use std::time::Duration;

use chrono::{DateTime, Utc};

pub use horizons::{Anomaly, HorizonConfig, HorizonLimits};
pub use signals::{Signal, SignalConfig};

use crate::condense::{Digest, TemplateStat};
use crate::miner::TemplateId;
use crate::report::{
    CANDIDATES, Candidate, Report, ReportTemplate, RootCause, Severity, WindowSummary,
    noise_reduction_ratio,
};
use history::{History, Observed};
use horizons::Horizons;
use signals::{Assessment, Maturity};

/// The analyzer's settings; the defaults are documented in the README.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AnalyzerConfig {
    pub signals: SignalConfig,
    /// Time constant of the usual rates: how fast they follow a change that is not flagged.
    pub baseline_tau: Duration,
    /// Stream time to learn the usual rates before "new" and "surge" are reported.
    pub warmup: Duration,
    /// How long a service must be quiet before its next failure counts as a new onset.
    pub episode_gap: Duration,
    /// A flagged share of error lines from which a surge is Critical rather than a Warning.
    pub critical_share: f64,
    /// The sliding horizons thin evidence adds up over.
    pub horizons: HorizonConfig,
    pub limits: HorizonLimits,
}

impl Default for AnalyzerConfig {
    fn default() -> Self {
        Self {
            signals: SignalConfig::default(),
            baseline_tau: Duration::from_secs(300),
            warmup: Duration::from_secs(30),
            episode_gap: Duration::from_secs(60),
            critical_share: 0.3,
            horizons: HorizonConfig::default(),
            limits: HorizonLimits::default(),
        }
    }
}

/// A service the evidence points at.
#[derive(Debug, Clone, PartialEq)]
pub struct Culprit {
    pub service: String,
    /// When its current failure began (possibly in an earlier window).
    pub onset: DateTime<Utc>,
    /// Anomalous lines of this service in the window.
    pub lines: u32,
    /// Its anomalous lines above their expected bound.
    pub excess: f64,
    /// Index into the digest's templates of its main anomalous template, when the window
    /// holds it (a line that stopped is in no window).
    pub template: Option<usize>,
    /// The text of that template, or of the one a horizon finding is about.
    pub template_text: String,
    pub signal: Signal,
    /// How strongly the evidence points at it (see [`rank`]).
    pub score: f64,
    /// Its findings in a sentence each, with their weight.
    pub evidence: Vec<(f64, String)>,
}

/// What the analyzer concluded about one window, before it is written up as a report.
#[derive(Debug, Clone)]
pub struct Finding {
    pub severity: Severity,
    /// Culprits, the likeliest root cause first (see [`rank`]).
    pub culprits: Vec<Culprit>,
    /// One per digest template, in the digest's order.
    pub assessments: Vec<Assessment>,
    /// What the horizons found as of the window's end.
    pub anomalies: Vec<Anomaly>,
    /// Whether the history was long enough to judge rates.
    pub warm: bool,
}

/// The built-in analyzer; keeps the history of earlier windows.
#[derive(Debug)]
pub struct BuiltinAnalyzer {
    config: AnalyzerConfig,
    history: History,
    horizons: Horizons,
}

impl BuiltinAnalyzer {
    pub fn new(config: AnalyzerConfig) -> Self {
        Self {
            config,
            history: History::new(config.baseline_tau, config.episode_gap),
            horizons: Horizons::new(config.horizons, config.limits),
        }
    }

    /// Analyzes one window and remembers it for the next.
    pub fn analyze(&mut self, digest: &Digest) -> Report {
        let finding = self.find(digest);
        report(digest, &finding)
    }

    /// The conclusion without the prose; updates the history.
    pub fn find(&mut self, digest: &Digest) -> Finding {
        self.history.open_window(digest.start);
        let started = self.history.started().unwrap_or(digest.start);
        let maturity = Maturity {
            warm: self.history.span(digest.start) >= self.config.warmup,
            news_since: started + self.config.warmup,
        };
        let mut assessments: Vec<Assessment> = (0..digest.templates.len())
            .map(|i| {
                let known = self.history.known(digest.templates[i].id, digest.start);
                signals::assess(&self.config.signals, digest, i, known, maturity)
            })
            .collect();
        let culprits = self.culprits(digest, &assessments);
        let anomalies = self.horizons.observe(digest).to_vec();
        rank::mark_templates(digest, &mut assessments, &anomalies);
        let culprits = rank::rank(culprits, &anomalies, digest);
        self.learn(digest, &assessments);
        let mut severity = self.severity(digest, &assessments);
        if !anomalies.is_empty() {
            severity = severity.max(Severity::Warning);
        }
        Finding {
            severity,
            culprits,
            assessments,
            anomalies,
            warm: maturity.warm,
        }
    }

    fn severity(&self, digest: &Digest, assessments: &[Assessment]) -> Severity {
        let flagged = |s: Signal| assessments.iter().filter(move |a| a.signal == Some(s));
        let surge_lines: f64 = flagged(Signal::Surge).map(|a| a.excess).sum();
        let surge_share = surge_lines / f64::from(digest.log_count.max(1));
        if flagged(Signal::Storm).next().is_some() || surge_share >= self.config.critical_share {
            Severity::Critical
        } else if assessments.iter().any(|a| a.signal.is_some()) {
            Severity::Warning
        } else {
            Severity::Info
        }
    }

    /// Groups the templates the window flagged by service, each with the weight of its
    /// evidence: how surprising its lines are under their usual rate.
    fn culprits(&mut self, digest: &Digest, assessments: &[Assessment]) -> Vec<Culprit> {
        let mut culprits: Vec<Culprit> = Vec::new();
        for a in assessments {
            let Some(signal) = a.signal else { continue };
            let stat = &digest.templates[a.index];
            let expected = a.usual * digest.seconds;
            let surprise = stats::surprise(
                stats::poisson_at_least(stat.count, expected),
                rank::SURPRISE_CAP,
            );
            for (service, lines) in &stat.services {
                let onset = self.history.failing(service, stat.first, stat.last);
                let share = f64::from(*lines) / f64::from(stat.count);
                let found = WindowFinding {
                    onset,
                    lines: *lines,
                    excess: a.excess * share,
                    template: a.index,
                    signal,
                    weight: surprise * share,
                };
                add_culprit(&mut culprits, service, digest, found);
            }
        }
        culprits
    }

    fn learn(&mut self, digest: &Digest, assessments: &[Assessment]) {
        for a in assessments {
            let stat: &TemplateStat = &digest.templates[a.index];
            let observed = Observed {
                start: digest.start,
                end: digest.end,
                first: stat.first,
                seconds: digest.seconds,
                rate: a.rate,
            };
            self.history.observe(stat.id, observed, a.signal.is_some());
        }
        self.history.close_window(digest.end);
    }
}

/// One flagged template's lines of one service in the window.
struct WindowFinding {
    onset: DateTime<Utc>,
    lines: u32,
    excess: f64,
    template: usize,
    signal: Signal,
    weight: f64,
}

fn add_culprit(culprits: &mut Vec<Culprit>, service: &str, digest: &Digest, found: WindowFinding) {
    let stat = &digest.templates[found.template];
    let evidence = (
        found.weight,
        narrate::window_evidence(digest, stat, found.signal),
    );
    match culprits.iter_mut().find(|c| c.service == service) {
        Some(c) => {
            c.onset = c.onset.min(found.onset);
            c.lines += found.lines;
            if (found.signal, found.excess) > (c.signal, c.excess) {
                c.template = Some(found.template);
                c.template_text.clone_from(&stat.template);
                c.signal = found.signal;
            }
            c.excess += found.excess;
            c.score += found.weight;
            c.evidence.push(evidence);
        }
        None => culprits.push(Culprit {
            service: service.to_owned(),
            onset: found.onset,
            lines: found.lines,
            excess: found.excess,
            template: Some(found.template),
            template_text: stat.template.clone(),
            signal: found.signal,
            score: found.weight,
            evidence: vec![evidence],
        }),
    }
}

/// Writes a finding up as the window's report.
pub fn report(digest: &Digest, finding: &Finding) -> Report {
    let root_cause = finding.culprits.first().map(|c| RootCause {
        service: c.service.clone(),
        template: c.template_text.clone(),
        candidates: finding
            .culprits
            .iter()
            .take(CANDIDATES)
            .map(|c| Candidate {
                service: c.service.clone(),
                score: (c.score * 10.0).round() / 10.0,
                evidence: c.evidence.iter().map(|(_, e)| e.clone()).collect(),
            })
            .collect(),
    });
    Report {
        title: narrate::title(digest, finding),
        severity: finding.severity,
        impacted_services: finding.culprits.iter().map(|c| c.service.clone()).collect(),
        summary: narrate::summary(digest, finding),
        noise_reduction_ratio: noise_reduction_ratio(digest.log_count, digest.templates.len()),
        window: WindowSummary::of(digest),
        root_cause,
        templates: report_templates(digest, &finding.assessments),
        analyzer: crate::report::BUILTIN.to_owned(),
        llm: None,
    }
}

/// The window's templates, flagged ones first (strongest signal first), then by count.
fn report_templates(digest: &Digest, assessments: &[Assessment]) -> Vec<ReportTemplate> {
    // Most windows flag nothing, and their templates keep the digest's order.
    if assessments.iter().all(|a| a.signal.is_none()) {
        return assessments
            .iter()
            .map(|a| report_template(digest, a))
            .collect();
    }
    let mut order: Vec<&Assessment> = assessments.iter().collect();
    order.sort_by(|a, b| b.signal.cmp(&a.signal).then(a.index.cmp(&b.index)));
    order
        .into_iter()
        .map(|a| report_template(digest, a))
        .collect()
}

fn report_template(digest: &Digest, assessment: &Assessment) -> ReportTemplate {
    let stat = &digest.templates[assessment.index];
    ReportTemplate {
        id: template_id(stat.id),
        template: stat.template.clone(),
        count: stat.count,
        level: stat.levels.dominant().unwrap_or_default(),
        services: stat.services.iter().map(|(s, _)| s.clone()).collect(),
        signal: assessment.signal.map(|s| s.as_str().to_owned()),
    }
}

/// `id` as it prints (`T17`), without going through `fmt`: every template of every window
/// gets one.
fn template_id(id: TemplateId) -> String {
    let mut text = String::with_capacity(11);
    text.push('T');
    text.push_str(itoa::Buffer::new().format(id.0));
    text
}

#[cfg(test)]
mod tests;
