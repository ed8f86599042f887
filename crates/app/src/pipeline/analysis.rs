//! The analysis stage: condense each batch, analyze the digest, correlate the report into
//! incidents.

use chrono::{DateTime, Utc};
use ic_core::incident::{Correlator, CorrelatorConfig, Incident, IncidentEvent};
use ic_core::miner::MinerConfig;
use ic_core::{AnalyzerConfig, Batch, BuiltinAnalyzer, Condenser, Report, WindowConfig};
use tokio::sync::mpsc;

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

pub async fn run(
    mut input: mpsc::Receiver<Vec<Batch>>,
    output: mpsc::Sender<Analyzed>,
    mut engine: Engine,
    expiry: Expiry,
) {
    loop {
        let deadline = match expiry {
            Expiry::WallClock => engine.correlator.next_deadline(),
            Expiry::ReportsOnly => None,
        };
        let mut out = Analyzed::default();
        tokio::select! {
            batches = input.recv() => {
                let Some(batches) = batches else { break };
                for batch in batches {
                    engine.process(batch, &mut out);
                }
            }
            () = sleep_until(deadline) => {
                out.incidents = engine.correlator.expire(Utc::now());
            }
        }
        if !(out.reports.is_empty() && out.incidents.is_empty()) && output.send(out).await.is_err()
        {
            return;
        }
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
