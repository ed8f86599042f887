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

/// `count` lines at `rate` a second from `start`: a storm of `message(i)` from `db` among
/// ordinary lines from `web`.
fn storm(
    start: DateTime<Utc>,
    seconds: u64,
    rate: u64,
    message: impl Fn(u64) -> String,
) -> Vec<ic_core::LogEvent> {
    let step = Duration::from_secs_f64(1.0 / rate as f64);
    (0..seconds * rate)
        .map(|i| {
            let at = start + step * i as u32;
            if i % 4 == 3 {
                ic_core::LogEvent::new(at, "web", ic_core::Level::Info, format!("GET /cart {i}"))
            } else {
                ic_core::LogEvent::new(at, "db", ic_core::Level::Error, message(i))
            }
        })
        .collect()
}

#[test]
fn a_storm_keeps_its_incident_and_fingerprint_while_its_template_is_refined() {
    // Quiet traffic, then a storm whose lines first leave a value empty and name one tenant;
    // later lines fill the value and name many tenants: the template's text is refined twice.
    let mut events = storm(t0(), 60, 20, |i| format!("lookup {i} ok"));
    for e in &mut events {
        e.service = "web".into();
        e.level = ic_core::Level::Info;
    }
    let melt = t0() + Duration::from_secs(60);
    events.extend(storm(melt, 30, 200, |_| {
        "Pool exhausted for tenant acme; user= retry=3".to_owned()
    }));
    let tenants = ["acme", "beta", "gamma", "delta", "omega", "zeta"];
    events.extend(storm(melt + Duration::from_secs(30), 60, 200, |i| {
        format!(
            "Pool exhausted for tenant {}; user=svc{} retry=3",
            tenants[i as usize % tenants.len()],
            i % 7
        )
    }));
    let log = incidents_of(events.into_iter(), t0() + Duration::from_secs(3600));
    let paged: Vec<&IncidentEvent> = log
        .iter()
        .filter(|e| e.transition.notifies(&e.incident))
        .collect();
    let kinds: Vec<Transition> = paged.iter().map(|e| e.transition).collect();
    assert_eq!(kinds, [Transition::Opened, Transition::Resolved]);
    let id = &paged[0].incident.id;
    let of_it: Vec<&IncidentEvent> = log.iter().filter(|e| &e.incident.id == id).collect();
    let first = &of_it[0].incident;
    let last = &of_it[of_it.len() - 1].incident;
    assert_ne!(
        first.templates[0].template, last.templates[0].template,
        "the root template was refined meanwhile"
    );
    assert!(
        of_it
            .iter()
            .all(|e| e.incident.fingerprint == first.fingerprint),
        "one fingerprint throughout"
    );
    assert_eq!(last.root_cause.service, "db");
}
