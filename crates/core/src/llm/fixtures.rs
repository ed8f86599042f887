//! Windows of the demo to build prompts and check answers with.

use std::time::Duration;

use chrono::{TimeZone, Utc};

use crate::analyze::{AnalyzerConfig, BuiltinAnalyzer};
use crate::condense::{Condenser, Digest};
use crate::demo::DemoGenerator;
use crate::event::{Level, LogEvent};
use crate::miner::MinerConfig;
use crate::report::{Report, Severity};
use crate::window::{Batch, FlushReason, TumblingWindow, WindowConfig};

/// One analyzed window of the demo, with its raw lines as the seed would have sent them.
pub struct Window {
    pub digest: Digest,
    pub report: Report,
    pub raw_lines: Vec<String>,
}

/// The first full Critical window of a demo meltdown that follows a minute of normal traffic.
pub fn meltdown_window() -> Window {
    let start = Utc.timestamp_opt(1_700_000_000, 0).unwrap();
    let mut generator = DemoGenerator::new(7);
    let config = WindowConfig::default();
    let mut window = TumblingWindow::new(config).unwrap();
    let mut condenser = Condenser::new(MinerConfig::default(), config.max_age);
    let mut analyzer = BuiltinAnalyzer::new(AnalyzerConfig::default());
    let mut now = start;
    let mut raw: Vec<String> = Vec::new();
    loop {
        let meltdown = now >= start + Duration::from_secs(60);
        if meltdown != generator.meltdown() {
            generator.set_meltdown(meltdown, now);
        }
        let event = generator.next_event(now);
        let line = crate::demo::to_json_line(&event);
        now += Duration::from_secs_f64(1.0 / generator.default_rate());
        raw.push(line);
        for batch in window.push(event, now) {
            let lines = batch.events.len();
            let digest = condenser.condense(batch);
            let report = analyzer.analyze(&digest);
            let raw_lines = raw.drain(..lines).collect();
            if report.severity == Severity::Critical && report.window.flush == FlushReason::Size {
                return Window {
                    digest,
                    report,
                    raw_lines,
                };
            }
        }
    }
}

/// One window of the given `(service, level, message)` lines, one per 10 ms, analyzed cold.
pub fn window_of(lines: &[(&str, Level, &str)]) -> (Digest, Report) {
    let start = Utc.timestamp_opt(1_700_000_000, 0).unwrap();
    let events = lines
        .iter()
        .enumerate()
        .map(|(i, (service, level, message))| {
            let at = start + Duration::from_millis(10 * i as u64);
            LogEvent::new(at, *service, *level, *message)
        })
        .collect();
    let batch = Batch {
        seq: 1,
        events,
        flush: FlushReason::Size,
    };
    let mut condenser = Condenser::new(MinerConfig::default(), Duration::from_secs(5));
    let digest = condenser.condense(batch);
    let report = BuiltinAnalyzer::new(AnalyzerConfig::default()).analyze(&digest);
    (digest, report)
}
