//! Scenario tests: the analyzer judged the way an on-call engineer would judge.

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};

use super::*;
use crate::condense::Condenser;
use crate::demo::{DemoGenerator, MELTDOWN_SERVICE};
use crate::event::{Level, LogEvent};
use crate::miner::MinerConfig;
use crate::window::{TumblingWindow, WindowConfig};

fn t0() -> DateTime<Utc> {
    Utc.timestamp_opt(1_700_000_000, 0).unwrap()
}

/// Runs events through the event-time window, the condenser and the analyzer.
fn analyze_all(events: impl IntoIterator<Item = LogEvent>) -> Vec<Report> {
    let config = WindowConfig::default();
    let mut window = TumblingWindow::new(config).unwrap();
    let mut condenser = Condenser::new(MinerConfig::default(), config.max_age);
    let mut analyzer = BuiltinAnalyzer::new(AnalyzerConfig::default());
    let mut reports = Vec::new();
    for event in events {
        let at = event.timestamp;
        for batch in window.push(event, at) {
            reports.push(analyzer.analyze(&condenser.condense(batch)));
        }
    }
    if let Some(batch) = window.flush() {
        reports.push(analyzer.analyze(&condenser.condense(batch)));
    }
    reports
}

/// Demo traffic: `normal` seconds of normal traffic, then `meltdown` seconds of meltdown.
fn demo(seed: u64, normal: u32, meltdown: u32) -> Vec<LogEvent> {
    let mut generator = DemoGenerator::new(seed);
    let mut events = Vec::new();
    let mut now = t0();
    for (seconds, on) in [(normal, false), (meltdown, true)] {
        generator.set_meltdown(on, now);
        let step = Duration::from_secs_f64(1.0 / generator.default_rate());
        let end = now + Duration::from_secs(u64::from(seconds));
        while now < end {
            events.push(generator.next_event(now));
            now += step;
        }
    }
    events
}

fn after_warmup(reports: &[Report]) -> impl Iterator<Item = &Report> {
    let warm = t0() + AnalyzerConfig::default().warmup;
    reports.iter().filter(move |r| r.window.start >= warm)
}

#[test]
fn normal_traffic_with_a_quarter_errors_is_not_an_incident() {
    for seed in 0..4 {
        let reports = analyze_all(demo(seed, 600, 0));
        assert!(reports.len() > 100);
        assert!(
            reports.iter().all(|r| r.severity < Severity::Critical),
            "seed {seed}"
        );
        let flagged: Vec<_> = after_warmup(&reports)
            .filter(|r| r.severity > Severity::Info)
            .map(|r| &r.title)
            .collect();
        assert!(flagged.is_empty(), "seed {seed}: {flagged:?}");
    }
}

#[test]
fn a_meltdown_is_critical_in_the_first_window_it_fills() {
    let reports = analyze_all(demo(3, 120, 30));
    let meltdown_start = t0() + Duration::from_secs(120);
    let first_full = reports
        .iter()
        .find(|r| r.window.start >= meltdown_start)
        .expect("meltdown windows");
    assert_eq!(first_full.severity, Severity::Critical, "{first_full:#?}");
    let root = first_full.root_cause.as_ref().unwrap();
    assert_eq!(root.service, MELTDOWN_SERVICE);
    assert!(root.template.contains("Pool exhausted"), "{root:?}");
    assert_eq!(first_full.impacted_services[0], MELTDOWN_SERVICE);
    assert!(
        first_full.title.contains("inventory-db"),
        "{}",
        first_full.title
    );
    for r in reports.iter().filter(|r| r.window.start >= meltdown_start) {
        assert_eq!(
            r.severity,
            Severity::Critical,
            "the outage stays critical: {}",
            r.summary
        );
        assert_eq!(r.root_cause.as_ref().unwrap().service, MELTDOWN_SERVICE);
    }
}

#[test]
fn a_meltdown_from_a_cold_start_is_critical_at_once() {
    let reports = analyze_all(demo(5, 0, 5));
    assert_eq!(reports[0].severity, Severity::Critical);
    assert_eq!(
        reports[0].root_cause.as_ref().unwrap().service,
        MELTDOWN_SERVICE
    );
}

#[test]
fn the_cascade_names_the_database_as_root_and_its_dependents_as_impacted() {
    let reports = analyze_all(demo(9, 120, 20));
    let late = t0() + Duration::from_secs(125);
    let report = reports
        .iter()
        .find(|r| r.window.start >= late && r.impacted_services.len() > 1)
        .expect("a window with the cascade");
    assert_eq!(report.impacted_services[0], MELTDOWN_SERVICE);
    assert!(
        report
            .impacted_services
            .contains(&"order-service".to_owned()),
        "{report:#?}"
    );
    assert!(report.summary.contains("later"), "{}", report.summary);
}

/// Steady background: a service that logs the same few lines every second, errors included.
fn steady(secs: u32) -> impl Iterator<Item = LogEvent> {
    (0..secs).flat_map(|s| {
        let at = t0() + Duration::from_secs(u64::from(s));
        [
            LogEvent::new(at, "api", Level::Info, format!("GET /items/{s} 200")),
            LogEvent::new(at, "api", Level::Info, format!("GET /users/{s} 200")),
            LogEvent::new(
                at,
                "cron",
                Level::Error,
                format!("job {s} failed: disk quota"),
            ),
        ]
    })
}

#[test]
fn a_steady_background_of_errors_is_not_an_incident() {
    let reports = analyze_all(steady(900));
    assert!(
        reports.iter().all(|r| r.severity == Severity::Info),
        "{:?}",
        reports.iter().find(|r| r.severity != Severity::Info)
    );
}

/// The background, plus extra lines from `from` seconds on.
fn with_extra(
    secs: u32,
    from: u32,
    extra: impl Fn(DateTime<Utc>, u32) -> Vec<LogEvent>,
) -> Vec<LogEvent> {
    let mut events: Vec<LogEvent> = steady(secs).collect();
    for s in from..secs {
        let at = t0() + Duration::from_secs(u64::from(s)) + Duration::from_millis(500);
        events.extend(extra(at, s));
    }
    events.sort_by_key(|e| e.timestamp);
    events
}

#[test]
fn a_new_error_at_a_moderate_rate_is_a_warning() {
    let events = with_extra(300, 200, |at, s| {
        vec![LogEvent::new(
            at,
            "billing",
            Level::Error,
            format!("invoice {s} rejected: currency mismatch"),
        )]
    });
    let reports = analyze_all(events);
    let first = reports
        .iter()
        .find(|r| {
            r.window.end >= t0() + Duration::from_secs(200) && r.severity >= Severity::Warning
        })
        .expect("flagged");
    assert!(
        first.window.start <= t0() + Duration::from_secs(205),
        "flagged late: {first:#?}"
    );
    assert_eq!(first.root_cause.as_ref().unwrap().service, "billing");
    assert!(
        reports
            .iter()
            .filter(|r| r.window.end < t0() + Duration::from_secs(200))
            .all(|r| r.severity == Severity::Info)
    );
}

#[test]
fn a_climbing_warning_is_a_warning() {
    // One retry warning every ten seconds, then ten a second.
    let mut events: Vec<LogEvent> = steady(400).collect();
    for s in 0..400u32 {
        let per_second = if s >= 300 { 10 } else { u32::from(s % 10 == 0) };
        for k in 0..per_second {
            let at =
                t0() + Duration::from_secs(u64::from(s)) + Duration::from_millis(u64::from(k) * 90);
            events.push(LogEvent::new(
                at,
                "gateway",
                Level::Warn,
                format!("retrying call {s}-{k} to payments"),
            ));
        }
    }
    events.sort_by_key(|e| e.timestamp);
    let reports = analyze_all(events);
    assert!(
        reports
            .iter()
            .filter(|r| r.window.end < t0() + Duration::from_secs(300))
            .all(|r| r.severity == Severity::Info)
    );
    let climbing = reports
        .iter()
        .filter(|r| r.window.start >= t0() + Duration::from_secs(300))
        .filter(|r| r.severity >= Severity::Warning)
        .count();
    assert!(climbing > 0);
    let first = reports
        .iter()
        .find(|r| r.severity >= Severity::Warning)
        .unwrap();
    assert_eq!(first.root_cause.as_ref().unwrap().service, "gateway");
    assert!(
        first
            .templates
            .iter()
            .any(|t| t.signal.as_deref() == Some("climb"))
    );
}

#[test]
fn the_service_whose_errors_began_first_is_the_root_even_when_smaller() {
    // After a quiet warm-up, db errors start at 100 s (3/s); the api's timeouts follow at 103 s
    // and outnumber them (20/s).
    let events = with_extra(160, 100, |at, s| {
        let mut lines: Vec<LogEvent> = (0..3)
            .map(|k| {
                LogEvent::new(
                    at,
                    "db",
                    Level::Error,
                    format!("deadlock detected on table t{k}"),
                )
            })
            .collect();
        if s >= 103 {
            lines.extend((0..20).map(|k| {
                LogEvent::new(
                    at,
                    "api",
                    Level::Error,
                    format!("upstream timeout after {k}ms"),
                )
            }));
        }
        lines
    });
    let reports = analyze_all(events);
    let cascade = reports
        .iter()
        .find(|r| r.impacted_services.len() >= 2)
        .expect("a window with both services");
    assert_eq!(
        cascade.root_cause.as_ref().unwrap().service,
        "db",
        "{cascade:#?}"
    );
    assert_eq!(
        cascade.impacted_services,
        vec!["db".to_owned(), "api".to_owned()]
    );
}

#[test]
fn reports_list_every_template_and_compute_the_noise_reduction() {
    let reports = analyze_all(demo(1, 0, 1));
    let r = &reports[0];
    assert_eq!(r.window.log_count, 100);
    let total: u32 = r.templates.iter().map(|t| t.count).sum();
    assert_eq!(total, 100);
    let expected = (100.0 / r.templates.len() as f64 * 10.0).round() / 10.0;
    assert_eq!(r.noise_reduction_ratio, expected);
    assert_eq!(r.templates[0].signal.as_deref(), Some("storm"));
    assert_eq!(r.analyzer, "builtin");
}

#[test]
fn template_ids_print_as_they_display() {
    for n in [0, 7, 17, 4_294_967_295] {
        assert_eq!(template_id(TemplateId(n)), TemplateId(n).to_string());
    }
}
