//! The demo source's traffic: a small shop's services, normal or in meltdown.
//!
//! Normal traffic is about 10 lines/s from six services, with the level drawn uniformly from
//! INFO, WARN, ERROR and DEBUG, so a quarter of all lines are errors that mean nothing. In a
//! meltdown the rate is about 500 lines/s and about 70% of the lines are inventory-db's
//! `Database Connection Refused: Pool exhausted`; two seconds in, the services that depend on
//! the database start failing too, as a real cascade would.
//!
//! The generator only decides what each line says; pacing is the caller's job, so the same code
//! serves the live source and the `demo-logs` command, and a seed makes the text reproducible.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::event::{Level, LogEvent};

/// The seed's six services.
pub const SERVICES: [&str; 6] = [
    "payment-gateway",
    "order-service",
    "inventory-db",
    "auth-service",
    "frontend-proxy",
    "notification-worker",
];

/// The meltdown's root cause and its one message.
pub const MELTDOWN_SERVICE: &str = "inventory-db";
pub const MELTDOWN_MESSAGE: &str = "Database Connection Refused: Pool exhausted";

/// Lines per second in each mode, unless the caller sets its own rate.
pub const NORMAL_RATE: f64 = 10.0;
pub const MELTDOWN_RATE: f64 = 500.0;

/// Share of meltdown lines that are the database's error.
const MELTDOWN_SHARE: f64 = 0.7;
/// Share of meltdown lines from the services the database takes down, once the cascade began.
const CASCADE_SHARE: f64 = 0.1;
/// How long after the database the dependent services start failing.
const CASCADE_DELAY: Duration = Duration::from_secs(2);

/// Levels of normal traffic, drawn uniformly (the seed's four).
const NORMAL_LEVELS: [Level; 4] = [Level::Info, Level::Warn, Level::Error, Level::Debug];

/// Generates demo events; deterministic for a given seed and sequence of calls.
#[derive(Debug)]
pub struct DemoGenerator {
    rng: SmallRng,
    meltdown_since: Option<DateTime<Utc>>,
}

impl DemoGenerator {
    pub fn new(seed: u64) -> Self {
        Self {
            rng: SmallRng::seed_from_u64(seed),
            meltdown_since: None,
        }
    }

    pub fn meltdown(&self) -> bool {
        self.meltdown_since.is_some()
    }

    /// Switches the meltdown on or off; `now` starts the cascade's clock.
    pub fn set_meltdown(&mut self, on: bool, now: DateTime<Utc>) {
        match (on, self.meltdown_since) {
            (true, None) => self.meltdown_since = Some(now),
            (false, Some(_)) => self.meltdown_since = None,
            _ => {}
        }
    }

    /// The mode's default rate in lines per second.
    pub fn default_rate(&self) -> f64 {
        if self.meltdown() {
            MELTDOWN_RATE
        } else {
            NORMAL_RATE
        }
    }

    /// The next event, stamped `now`.
    pub fn next_event(&mut self, now: DateTime<Utc>) -> LogEvent {
        if let Some(since) = self.meltdown_since {
            let roll: f64 = self.rng.random();
            if roll < MELTDOWN_SHARE {
                return LogEvent::new(now, MELTDOWN_SERVICE, Level::Error, MELTDOWN_MESSAGE);
            }
            let cascading = now >= since + CASCADE_DELAY;
            if cascading && roll < MELTDOWN_SHARE + CASCADE_SHARE {
                return self.cascade_event(now);
            }
        }
        self.normal_event(now)
    }

    fn normal_event(&mut self, now: DateTime<Utc>) -> LogEvent {
        let service = SERVICES[self.rng.random_range(0..SERVICES.len())];
        let level = NORMAL_LEVELS[self.rng.random_range(0..NORMAL_LEVELS.len())];
        let message = self.normal_message(level);
        LogEvent::new(now, service, level, message)
    }

    fn normal_message(&mut self, level: Level) -> String {
        let rng = &mut self.rng;
        match (level, rng.random_range(0..4u8)) {
            (Level::Info, 0) => format!(
                "Request processed successfully in {}ms",
                rng.random_range(3..250)
            ),
            (Level::Info, 1) => format!("User {} logged in", rng.random_range(1000..9999)),
            (Level::Info, 2) => format!("Order {} created", rng.random_range(10_000..99_999)),
            (Level::Info, _) => "Health check passed".to_owned(),
            (Level::Warn, 0) => format!(
                "Slow response time detected: {}ms",
                rng.random_range(800..3000)
            ),
            (Level::Warn, 1) => format!("Retrying request, attempt {}", rng.random_range(1..4)),
            (Level::Warn, 2) => format!("Cache miss for key user:{}", rng.random_range(1000..9999)),
            (Level::Warn, _) => "Deprecated API version used by client".to_owned(),
            (Level::Error, 0) => format!(
                "Timeout after {}ms waiting for upstream",
                rng.random_range(1000..5000)
            ),
            (Level::Error, 1) => "NullPointerException in request handler".to_owned(),
            (Level::Error, 2) => format!(
                "Failed to send email to user {}",
                rng.random_range(1000..9999)
            ),
            (Level::Error, _) => "Invalid token signature".to_owned(),
            (_, 0) => format!("Cache lookup took {}us", rng.random_range(10..900)),
            (_, 1) => format!(
                "Connection pool stats: active={} idle={}",
                rng.random_range(1..20),
                rng.random_range(0..10)
            ),
            (_, 2) => "Scheduled job tick".to_owned(),
            (_, _) => format!("Config reloaded, version {}", rng.random_range(1..50)),
        }
    }

    fn cascade_event(&mut self, now: DateTime<Utc>) -> LogEvent {
        if self.rng.random_bool(0.5) {
            let order = self.rng.random_range(10_000..99_999);
            let message =
                format!("Failed to reserve stock for order {order}: inventory-db unavailable");
            LogEvent::new(now, "order-service", Level::Error, message)
        } else {
            let ms = self.rng.random_range(5000..10_000);
            let message = format!("Payment aborted: order-service timed out after {ms}ms");
            LogEvent::new(now, "payment-gateway", Level::Error, message)
        }
    }
}

/// One event as the seed's JSON line: `{"timestamp", "service", "level", "message"}`.
pub fn to_json_line(event: &LogEvent) -> String {
    #[derive(serde::Serialize)]
    struct Line<'a> {
        timestamp: String,
        service: &'a str,
        level: Level,
        message: &'a str,
    }
    let line = Line {
        timestamp: event.timestamp.to_rfc3339_opts(SecondsFormat::Millis, true),
        service: &event.service,
        level: event.level,
        message: &event.message,
    };
    serde_json::to_string(&line).expect("a struct of strings always serializes")
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn t0() -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000, 0).unwrap()
    }

    fn sample(seed: u64, meltdown: bool, n: usize, step: Duration) -> Vec<LogEvent> {
        let mut generator = DemoGenerator::new(seed);
        generator.set_meltdown(meltdown, t0());
        (0..n)
            .map(|i| generator.next_event(t0() + step * i as u32))
            .collect()
    }

    #[test]
    fn the_same_seed_gives_the_same_lines() {
        let step = Duration::from_millis(100);
        assert_eq!(sample(7, false, 200, step), sample(7, false, 200, step));
        assert_ne!(sample(7, false, 200, step), sample(8, false, 200, step));
    }

    #[test]
    fn normal_traffic_is_a_quarter_errors_from_every_service() {
        let events = sample(1, false, 4000, Duration::from_millis(100));
        let errors = events.iter().filter(|e| e.level == Level::Error).count();
        let share = errors as f64 / events.len() as f64;
        assert!((0.22..0.28).contains(&share), "error share {share}");
        for service in SERVICES {
            assert!(
                events.iter().any(|e| e.service == service),
                "{service} missing"
            );
        }
        assert!(events.iter().all(|e| e.message != MELTDOWN_MESSAGE));
    }

    #[test]
    fn meltdown_is_mostly_the_pool_error_and_cascades_after_a_delay() {
        let step = Duration::from_millis(2);
        let events = sample(1, true, 5000, step);
        let pool = events
            .iter()
            .filter(|e| e.message == MELTDOWN_MESSAGE)
            .count();
        let share = pool as f64 / events.len() as f64;
        assert!((0.67..0.73).contains(&share), "pool share {share}");
        let first_cascade = events
            .iter()
            .position(|e| e.message.contains("inventory-db unavailable"))
            .expect("cascade lines");
        assert!(events[first_cascade].timestamp >= t0() + CASCADE_DELAY);
    }

    #[test]
    fn switching_modes_changes_the_default_rate() {
        let mut generator = DemoGenerator::new(0);
        assert_eq!(generator.default_rate(), NORMAL_RATE);
        generator.set_meltdown(true, t0());
        assert_eq!(generator.default_rate(), MELTDOWN_RATE);
        generator.set_meltdown(false, t0());
        assert!(!generator.meltdown());
    }

    #[test]
    fn json_lines_carry_the_seed_fields() {
        let event = LogEvent::new(t0(), "inventory-db", Level::Error, MELTDOWN_MESSAGE);
        let line: serde_json::Value = serde_json::from_str(&to_json_line(&event)).unwrap();
        assert_eq!(line["service"], "inventory-db");
        assert_eq!(line["level"], "ERROR");
        assert_eq!(line["message"], MELTDOWN_MESSAGE);
        assert_eq!(line["timestamp"], "2023-11-14T22:13:20.000Z");
    }
}
