//! The demo's outage, end to end through the core: window, condense, analyze, correlate.

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use ic_core::demo::DemoGenerator;
use ic_core::incident::{Correlator, CorrelatorConfig, IncidentEvent, Transition};
use ic_core::miner::MinerConfig;
use ic_core::{AnalyzerConfig, BuiltinAnalyzer, Condenser, Severity, TumblingWindow, WindowConfig};

fn t0() -> DateTime<Utc> {
    Utc.timestamp_opt(1_700_000_000, 0).unwrap()
}

/// Demo traffic in phases of (seconds, meltdown), stamped as generated.
fn demo(phases: &[(u64, bool)]) -> impl Iterator<Item = ic_core::LogEvent> {
    let mut generator = DemoGenerator::new(11);
    let mut events = Vec::new();
    let mut now = t0();
    for &(seconds, meltdown) in phases {
        generator.set_meltdown(meltdown, now);
        let step = Duration::from_secs_f64(1.0 / generator.default_rate());
        let end = now + Duration::from_secs(seconds);
        while now < end {
            events.push(generator.next_event(now));
            now += step;
        }
    }
    events.into_iter()
}

fn incidents_of(
    events: impl Iterator<Item = ic_core::LogEvent>,
    quiet_until: DateTime<Utc>,
) -> Vec<IncidentEvent> {
    let config = WindowConfig::default();
    let mut window = TumblingWindow::new(config).unwrap();
    let mut condenser = Condenser::new(MinerConfig::default(), config.max_age);
    let mut analyzer = BuiltinAnalyzer::new(AnalyzerConfig::default());
    let mut correlator = Correlator::new(CorrelatorConfig::default());
    let mut out = Vec::new();
    let mut process = |batch, correlator: &mut Correlator, out: &mut Vec<IncidentEvent>| {
        let digest = condenser.condense(batch);
        let report = analyzer.analyze(&digest);
        out.extend(correlator.observe(&report, &digest));
    };
    for event in events {
        let at = event.timestamp;
        for batch in window.push(event, at) {
            process(batch, &mut correlator, &mut out);
        }
    }
    if let Some(batch) = window.flush() {
        process(batch, &mut correlator, &mut out);
    }
    out.extend(correlator.expire(quiet_until));
    out
}

#[test]
fn a_ten_minute_meltdown_is_one_incident_opened_once_and_resolved_once() {
    let events = demo(&[(120, false), (600, true), (300, false)]);
    let log = incidents_of(events, t0() + Duration::from_secs(3600));
    let paged: Vec<&IncidentEvent> = log
        .iter()
        .filter(|e| e.transition.notifies(&e.incident))
        .collect();
    let kinds: Vec<Transition> = paged.iter().map(|e| e.transition).collect();
    assert_eq!(
        kinds,
        [Transition::Opened, Transition::Resolved],
        "{:#?}",
        paged
            .iter()
            .map(|e| (&e.transition, &e.incident.title))
            .collect::<Vec<_>>()
    );

    let resolved = &paged[1].incident;
    assert_eq!(resolved.root_cause.service, "inventory-db");
    assert_eq!(resolved.severity, Severity::Critical);
    assert!(
        resolved.windows > 2000,
        "hundreds of windows, one incident: {}",
        resolved.windows
    );
    let pool = &resolved.templates[0];
    assert!(pool.template.contains("Pool exhausted"));
    assert!(
        (200_000..220_000).contains(&pool.count),
        "about 70% of 600 s at 500 lines/s: {}",
        pool.count
    );
    let meltdown_end = t0() + Duration::from_secs(720);
    let resolved_at = resolved.resolved_at.unwrap();
    assert!(
        resolved_at >= meltdown_end + Duration::from_secs(119),
        "{resolved_at}"
    );
    assert!(
        resolved_at <= meltdown_end + Duration::from_secs(130),
        "{resolved_at}"
    );
}
