//! Scenario tests of the horizons: a small traced shop (gateway → cart → db) replayed by event
//! time, with one fault at a time.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::*;
use crate::condense::Condenser;
use crate::event::LogEvent;
use crate::miner::MinerConfig;
use crate::window::{TumblingWindow, WindowConfig};

fn t0() -> DateTime<Utc> {
    Utc.timestamp_opt(1_700_000_000, 0).unwrap()
}

/// What goes wrong, from when.
#[derive(Clone, Copy, PartialEq)]
enum Fault {
    None,
    /// db stops answering: cart logs that it asked, then nothing.
    DbSilent,
    /// Calls into db take 800 ms more.
    DbSlow,
    /// cart logs a new error for one request in sixty (about five a minute).
    CartNewError,
    /// db fails one request in ten, and the gateway logs the failure naming db.
    DbFailsCallersSay,
    /// Every service's hops take four times longer (a loaded host), no one's fault.
    AllSlow,
}

struct Shop {
    rng: SmallRng,
    requests_per_second: f64,
    /// A burst of a known lookup error every `burst_every` seconds, `burst` lines.
    burst_every: u64,
    burst: u32,
}

impl Shop {
    fn new(seed: u64) -> Self {
        Shop {
            rng: SmallRng::seed_from_u64(seed),
            requests_per_second: 5.0,
            burst_every: 0,
            burst: 0,
        }
    }

    fn line(
        at: DateTime<Utc>,
        service: &str,
        level: Level,
        message: String,
        trace: u64,
    ) -> LogEvent {
        let mut event = LogEvent::new(at, service, level, message);
        event.attributes = BTreeMap::from([("trace_id".to_owned(), format!("{trace:032x}"))]);
        event
    }

    /// One request's lines, starting at `at`.
    fn request(&mut self, at: DateTime<Utc>, trace: u64, fault: Fault) -> Vec<LogEvent> {
        let id = self.rng.random_range(1000..9999u32);
        let hop = |rng: &mut SmallRng, slow: bool| {
            let base = rng.random_range(1..4i64);
            TimeDelta::milliseconds(if slow { base * 4 } else { base })
        };
        let all_slow = fault == Fault::AllSlow;
        let mut t = at;
        let mut lines = vec![Self::line(
            t,
            "gateway",
            Level::Info,
            format!("GET /cart/{id} received"),
            trace,
        )];
        t += hop(&mut self.rng, all_slow);
        lines.push(Self::line(
            t,
            "cart",
            Level::Info,
            format!("loading cart {id}"),
            trace,
        ));
        if fault == Fault::DbSilent {
            return lines;
        }
        t += hop(&mut self.rng, all_slow);
        if fault == Fault::DbSlow {
            t += TimeDelta::milliseconds(800);
        }
        let took = self.rng.random_range(1..9u32);
        lines.push(Self::line(
            t,
            "db",
            Level::Info,
            format!("query cart {id} took {took}ms"),
            trace,
        ));
        t += hop(&mut self.rng, all_slow);
        if fault == Fault::CartNewError && self.rng.random_ratio(1, 60) {
            lines.push(Self::line(
                t,
                "cart",
                Level::Error,
                format!("cart {id} checksum mismatch"),
                trace,
            ));
        }
        if fault == Fault::DbFailsCallersSay && self.rng.random_ratio(1, 10) {
            let message = format!("checkout {id} failed: upstream db refused the connection");
            lines.push(Self::line(t, "gateway", Level::Error, message, trace));
            return lines;
        }
        lines.push(Self::line(
            t,
            "cart",
            Level::Info,
            format!("cart {id} loaded"),
            trace,
        ));
        t += hop(&mut self.rng, all_slow);
        lines.push(Self::line(
            t,
            "gateway",
            Level::Info,
            format!("GET /cart/{id} 200"),
            trace,
        ));
        lines
    }

    /// `seconds` of traffic from `start` seconds on, the fault from `fault_at` on.
    fn run(&mut self, seconds: u64, fault: Fault, fault_at: u64) -> Vec<LogEvent> {
        let mut events = Vec::new();
        let mut trace = 1u64;
        let mut at = t0();
        let end = t0() + Duration::from_secs(seconds);
        while at < end {
            let secs = (at - t0()).num_seconds() as u64;
            let now = if secs >= fault_at { fault } else { Fault::None };
            events.extend(self.request(at, trace, now));
            trace += 1;
            let gap = self.rng.random_range(0.2..1.8) / self.requests_per_second;
            at += TimeDelta::microseconds((gap * 1e6) as i64);
        }
        if self.burst_every > 0 {
            for start in (self.burst_every..seconds).step_by(self.burst_every as usize) {
                for k in 0..self.burst {
                    let at = t0()
                        + Duration::from_secs(start)
                        + Duration::from_millis(u64::from(k) * 700);
                    let node = ["a", "b", "c"][k as usize % 3];
                    let message = format!("no instances available for node-{node}");
                    events.push(LogEvent::new(at, "gateway", Level::Error, message));
                }
            }
        }
        events.sort_by_key(|e| e.timestamp);
        events
    }
}

/// What the horizons found at the end of every window, with the window's end.
fn replay(events: Vec<LogEvent>) -> Vec<(DateTime<Utc>, Vec<Anomaly>)> {
    let config = WindowConfig::default();
    let mut window = TumblingWindow::new(config).unwrap();
    let mut condenser = Condenser::new(MinerConfig::default(), config.max_age);
    let mut horizons = Horizons::new(HorizonConfig::default(), HorizonLimits::default());
    let mut found = Vec::new();
    let mut judge = |batch| {
        let digest = condenser.condense(batch);
        let anomalies = horizons.observe(&digest).to_vec();
        found.push((digest.end, anomalies));
    };
    for event in events {
        let at = event.timestamp;
        for batch in window.push(event, at) {
            judge(batch);
        }
    }
    if let Some(batch) = window.flush() {
        judge(batch);
    }
    found
}

fn seconds(at: DateTime<Utc>) -> i64 {
    (at - t0()).num_seconds()
}

/// The first finding from `from` seconds on.
fn first_after(found: &[(DateTime<Utc>, Vec<Anomaly>)], from: i64) -> Option<(i64, &Anomaly)> {
    found
        .iter()
        .filter(|(end, _)| seconds(*end) >= from)
        .find_map(|(end, a)| a.first().map(|a| (seconds(*end), a)))
}

fn before(found: &[(DateTime<Utc>, Vec<Anomaly>)], until: i64) -> Vec<&Anomaly> {
    found
        .iter()
        .filter(|(end, _)| seconds(*end) < until)
        .flat_map(|(_, a)| a)
        .collect()
}

#[test]
fn normal_traffic_with_recurring_error_bursts_finds_nothing() {
    let mut shop = Shop::new(1);
    shop.burst_every = 90;
    shop.burst = 8;
    let found = replay(shop.run(900, Fault::None, u64::MAX));
    let flagged: Vec<_> = before(&found, i64::MAX);
    // The bursts while learning are the usual; every later burst is as large.
    assert!(flagged.is_empty(), "{flagged:#?}");
}

#[test]
fn a_database_that_stops_answering_is_found_by_the_line_that_stopped() {
    let found = replay(Shop::new(2).run(600, Fault::DbSilent, 400));
    assert!(before(&found, 400).is_empty(), "{:#?}", before(&found, 400));
    let (at, anomaly) = first_after(&found, 400).expect("found");
    // Found within half a minute, and then held for 20 s (`HorizonConfig::hold`).
    assert!(at <= 450, "found late, at {at} s");
    assert_eq!(anomaly.signal, Signal::Silence);
    assert_eq!(anomaly.services[0].0, "db", "{anomaly:#?}");
    assert!(anomaly.template.contains("query cart"), "{anomaly:#?}");
}

#[test]
fn slow_hops_into_one_service_point_at_it_and_a_loaded_host_does_not() {
    let found = replay(Shop::new(3).run(600, Fault::DbSlow, 400));
    assert!(before(&found, 400).is_empty());
    let (at, anomaly) = first_after(&found, 400).expect("found");
    assert!(at <= 440, "found late, at {at} s");
    assert_eq!(anomaly.signal, Signal::Slow);
    assert_eq!(anomaly.services[0].0, "db");
    assert!(anomaly.observed > 500.0, "{anomaly:#?}");

    let found = replay(Shop::new(3).run(600, Fault::AllSlow, 400));
    let flagged = before(&found, i64::MAX);
    assert!(
        flagged.is_empty(),
        "everyone slower is no one's fault: {flagged:#?}"
    );
}

#[test]
fn a_thin_new_error_adds_up_over_the_horizons() {
    // One request in sixty: an error every twelve seconds, never two in a window.
    let found = replay(Shop::new(4).run(600, Fault::CartNewError, 400));
    assert!(before(&found, 400).is_empty());
    let (at, anomaly) = first_after(&found, 400).expect("found");
    assert!(at <= 550, "found late, at {at} s");
    assert_eq!(anomaly.signal, Signal::New);
    assert_eq!(anomaly.services[0].0, "cart");
    assert!(anomaly.template.contains("checksum mismatch"));
}

#[test]
fn a_callee_named_by_its_callers_errors_shares_the_blame() {
    let found = replay(Shop::new(6).run(600, Fault::DbFailsCallersSay, 400));
    let (_, anomaly) = first_after(&found, 400).expect("found");
    let share = |name: &str| {
        anomaly
            .services
            .iter()
            .find(|(s, _)| s == name)
            .map_or(0.0, |(_, w)| *w)
    };
    assert!((share("db") - 0.5).abs() < 1e-9, "{anomaly:#?}");
    assert!((share("gateway") - 0.5).abs() < 1e-9, "{anomaly:#?}");
}

#[test]
fn more_traffic_is_not_more_trouble() {
    // Twice the requests from 400 s on, with the error bursts of the background: every count
    // doubles, none stands out.
    let mut shop = Shop::new(7);
    shop.burst_every = 60;
    shop.burst = 6;
    let mut events = shop.run(400, Fault::None, u64::MAX);
    shop.requests_per_second = 10.0;
    let later: Vec<LogEvent> = shop
        .run(600, Fault::None, u64::MAX)
        .into_iter()
        .filter(|e| seconds(e.timestamp) >= 400)
        .collect();
    events.extend(later);
    let found = replay(events);
    assert!(
        before(&found, i64::MAX).is_empty(),
        "{:#?}",
        before(&found, i64::MAX)
    );
}

#[test]
fn nothing_is_judged_while_learning() {
    // The database is silent from the start: nothing to learn it from, nothing to report.
    let found = replay(Shop::new(5).run(170, Fault::DbSilent, 0));
    assert!(before(&found, i64::MAX).is_empty());
}

/// Lines of a traced stream made of one trace id per line: every table stays within its
/// limit.
#[test]
fn memory_stays_bounded_whatever_the_ids() {
    let limits = HorizonLimits {
        services: 8,
        families: 16,
        paths: 32,
        traces: 64,
    };
    let mut horizons = Horizons::new(HorizonConfig::default(), limits);
    let mut condenser = Condenser::new(MinerConfig::default(), Duration::from_secs(5));
    let mut window = TumblingWindow::new(WindowConfig::default()).unwrap();
    for n in 0..20_000u64 {
        let at = t0() + TimeDelta::milliseconds(n as i64 * 10);
        let level = if n % 3 == 0 {
            Level::Error
        } else {
            Level::Info
        };
        let mut event = LogEvent::new(
            at,
            format!("svc-{}", n % 50),
            level,
            format!("event{} happened", n % 400),
        );
        event.attributes = BTreeMap::from([("trace_id".to_owned(), n.to_string())]);
        for batch in window.push(event, at) {
            horizons.observe(&condenser.condense(batch));
        }
    }
    assert!(horizons.services.len() <= 8);
    assert!(horizons.errors.len() <= 16);
    assert!(horizons.paths.len() <= 32);
    assert!(horizons.traces.len() <= 64);
}

/// Untraced lines: `api` logs twice a second throughout; `billing` once a second until
/// `billing_until`; `errors` lists `(from, to, per_minute)` spans of a billing error.
fn untraced(seconds: u64, billing_until: u64, errors: &[(u64, u64, u64)]) -> Vec<LogEvent> {
    let mut events = Vec::new();
    for s in 0..seconds {
        let at = t0() + Duration::from_secs(s);
        for k in 0..2 {
            let at = at + Duration::from_millis(k * 500);
            events.push(LogEvent::new(
                at,
                "api",
                Level::Info,
                format!("GET /items/{s} 200"),
            ));
        }
        if s < billing_until {
            let message = format!("invoice {s} sent");
            events.push(LogEvent::new(
                at + Duration::from_millis(250),
                "billing",
                Level::Info,
                message,
            ));
        }
        for &(from, to, per_minute) in errors {
            if (from..to).contains(&s) && s % (60 / per_minute) == 0 {
                let message = format!("payment provider timeout for invoice {s}");
                let at = at + Duration::from_millis(750);
                events.push(LogEvent::new(at, "billing", Level::Error, message));
            }
        }
    }
    events
}

#[test]
fn a_service_that_stops_logging_is_found_without_traces() {
    let found = replay(untraced(2400, 1800, &[]));
    assert!(
        before(&found, 1800).is_empty(),
        "{:#?}",
        before(&found, 1800)
    );
    let (at, anomaly) = first_after(&found, 1800).expect("found");
    // A minute of silence (it never paused before), after half an hour of watching it, and
    // the hold.
    assert!((1875..=1890).contains(&at), "found at {at} s");
    assert_eq!(anomaly.signal, Signal::Silence);
    assert_eq!(anomaly.services[0].0, "billing");
}

#[test]
fn an_incident_that_returns_after_a_quiet_spell_is_news_again() {
    // Twelve errors a minute for five minutes (an incident: found, so never the usual), quiet
    // for half an hour, then the same again.
    let found = replay(untraced(3000, 3000, &[(600, 900, 12), (2700, 3000, 12)]));
    let (at, first) = first_after(&found, 600).expect("the first time");
    assert!(at < 700, "{at}");
    assert_eq!(first.signal, Signal::New);
    let quiet = found
        .iter()
        .filter(|(end, _)| (1100..2700).contains(&seconds(*end)))
        .all(|(_, a)| a.is_empty());
    assert!(quiet, "nothing while it is quiet");
    let (at, again) = first_after(&found, 2700).expect("the return");
    assert!(at < 2800, "{at}");
    assert_eq!(again.signal, Signal::Rise);
    assert!(again.detail.starts_with("back after 3"), "{again:#?}");
}

#[test]
fn a_background_error_that_comes_and_goes_stays_the_usual() {
    // The same error at two a minute while learning and ever after, with pauses.
    let spans = [(0, 200, 2), (400, 700, 2), (1000, 1500, 2)];
    let found = replay(untraced(1500, 1500, &spans));
    let flagged = before(&found, i64::MAX);
    assert!(flagged.is_empty(), "{flagged:#?}");
}

#[test]
fn one_line_with_a_wrong_clock_blinds_nothing() {
    let mut events = Shop::new(2).run(600, Fault::DbSilent, 400);
    // A line from next century in the middle of the stream, and one from 1970.
    let mut future = events[events.len() / 2].clone();
    future.timestamp = Utc.with_ymd_and_hms(2100, 1, 1, 0, 0, 0).unwrap();
    let mut past = future.clone();
    past.timestamp = DateTime::UNIX_EPOCH;
    let middle = events.len() / 2;
    events.insert(middle, future);
    events.insert(middle + 10, past);
    let found = replay(events);
    assert!(before(&found, 400).is_empty(), "{:#?}", before(&found, 400));
    let (at, anomaly) = first_after(&found, 400).expect("found");
    assert!(at <= 450, "found late, at {at} s");
    assert_eq!(anomaly.services[0].0, "db");
}
