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
    mut input: mpsc::Receiver<Batch>,
    output: mpsc::Sender<Report>,
    mut engine: Engine,
) {
    while let Some(batch) = input.recv().await {
        let report = engine.process(batch);
        tracing::debug!(
            window = report.window.seq,
            events = report.window.log_count,
            severity = %report.severity,
            "Window analyzed."
        );
        if output.send(report).await.is_err() {
            return;
        }
    }
}
