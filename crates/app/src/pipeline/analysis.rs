//! The analysis stage: condense each batch, analyze the digest, correlate the report into
//! incidents.

use chrono::{DateTime, Utc};
use ic_core::incident::{Correlator, CorrelatorConfig, Incident, IncidentEvent};
use ic_core::miner::MinerConfig;
use ic_core::{AnalyzerConfig, Batch, BuiltinAnalyzer, Condenser, Report, WindowConfig};
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::mpsc;

use super::{Control, Observer};

/// The condenser, the analyzer and the correlator, which all keep state from window to window.
#[derive(Debug)]
pub struct Engine {
    condenser: Condenser,
    analyzer: BuiltinAnalyzer,
    correlator: Correlator,
}

/// What the analysis of some windows produced.
#[derive(Debug, Default)]
pub struct Analyzed {
    /// One per window, in window order.
    pub reports: Vec<Report>,
    /// Incident transitions, in the order they happened.
    pub incidents: Vec<IncidentEvent>,
}

impl Engine {
    pub fn new(window: WindowConfig, correlator: CorrelatorConfig) -> Self {
        Self {
            condenser: Condenser::new(MinerConfig::default(), window.max_age),
            analyzer: BuiltinAnalyzer::new(AnalyzerConfig::default()),
            correlator: Correlator::new(correlator),
        }
    }

    /// Continues the incidents of an earlier run (open ones, and recent ones for "seen before").
    pub fn restore(&mut self, incidents: Vec<Incident>) {
        self.correlator.restore(incidents);
    }

    fn process(&mut self, batch: Batch, out: &mut Analyzed) {
        let digest = self.condenser.condense(batch);
        let report = self.analyzer.analyze(&digest);
        out.incidents
            .extend(self.correlator.observe(&report, &digest));
        tracing::debug!(
            window = report.window.seq,
            events = report.window.log_count,
            severity = %report.severity,
            "Window analyzed."
        );
        out.reports.push(report);
    }
}

/// How the stage resolves incidents when no report comes: live, by the wall clock; in a
/// replay, only the reports' own times move time on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    WallClock,
    ReportsOnly,
}

/// The analysis stage and what it reports to.
pub struct Stage {
    pub engine: Engine,
    pub expiry: Expiry,
    pub observer: Arc<dyn Observer>,
    pub control: Option<mpsc::Receiver<Control>>,
}

impl Stage {
    pub async fn run(
        mut self,
        mut input: mpsc::Receiver<Vec<Batch>>,
        output: mpsc::Sender<Analyzed>,
    ) {
        loop {
            let deadline = match self.expiry {
                Expiry::WallClock => self.engine.correlator.next_deadline(),
                Expiry::ReportsOnly => None,
            };
            let mut out = Analyzed::default();
            tokio::select! {
                batches = input.recv() => {
                    let Some(batches) = batches else { break };
                    self.observer.analyzing(true);
                    for batch in batches {
                        let started = Instant::now();
                        self.engine.process(batch, &mut out);
                        if let Some(report) = out.reports.last() {
                            self.observer.report(report, started.elapsed());
                        }
                    }
                    self.observer.analyzing(false);
                }
                () = sleep_until(deadline) => {
                    out.incidents = self.engine.correlator.expire(Utc::now());
                }
                Some(control) = next_control(&mut self.control) => match control {
                    Control::Resolved { id } => {
                        out.incidents.extend(self.engine.correlator.resolve_by_hand(&id, Utc::now()));
                    }
                },
            }
            let empty = out.reports.is_empty() && out.incidents.is_empty();
            if !empty && output.send(out).await.is_err() {
                return;
            }
        }
    }
}

/// The next control message; never, without a control channel or once it closed.
async fn next_control(control: &mut Option<mpsc::Receiver<Control>>) -> Option<Control> {
    match control {
        Some(rx) => match rx.recv().await {
            Some(message) => Some(message),
            None => {
                *control = None;
                std::future::pending().await
            }
        },
        None => std::future::pending().await,
    }
}

/// Sleeps until a wall-clock time; forever for `None`.
async fn sleep_until(deadline: Option<DateTime<Utc>>) {
    match deadline {
        Some(at) => {
            let wait = (at - Utc::now()).to_std().unwrap_or_default();
            tokio::time::sleep(wait).await;
        }
        None => std::future::pending().await,
    }
}
