//! The analysis stage: condense each batch, then analyze the digest.

use ic_core::miner::MinerConfig;
use ic_core::{AnalyzerConfig, Batch, BuiltinAnalyzer, Condenser, Report, WindowConfig};
use tokio::sync::mpsc;

/// The condenser and the analyzer, which both keep state from window to window.
#[derive(Debug)]
pub struct Engine {
    condenser: Condenser,
    analyzer: BuiltinAnalyzer,
}

impl Engine {
    pub fn new(window: WindowConfig) -> Self {
        Self {
            condenser: Condenser::new(MinerConfig::default(), window.max_age),
            analyzer: BuiltinAnalyzer::new(AnalyzerConfig::default()),
        }
    }

    pub fn process(&mut self, batch: Batch) -> Report {
        let digest = self.condenser.condense(batch);
        self.analyzer.analyze(&digest)
    }
}

pub async fn run(
    mut input: mpsc::Receiver<Vec<Batch>>,
    output: mpsc::Sender<Vec<Report>>,
    mut engine: Engine,
) {
    while let Some(batches) = input.recv().await {
        let reports: Vec<Report> = batches.into_iter().map(|b| engine.process(b)).collect();
        for report in &reports {
            tracing::debug!(
                window = report.window.seq,
                events = report.window.log_count,
                severity = %report.severity,
                "Window analyzed."
            );
        }
        if output.send(reports).await.is_err() {
            return;
        }
    }
}
