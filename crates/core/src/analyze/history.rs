//! What the analyzer remembers between windows: each template's usual rate and when each
//! failing service began to fail.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::miner::{FastBuild, TemplateId};

/// A template's usual rate in lines per second: an exponentially weighted moving average over
/// time (not over windows, whose lengths vary), with time constant `tau`. Time it was not seen
/// counts as a rate of zero. `rate` starts from zero, so [`History::known`] divides it by the
/// weight the history has gathered so far (`1 - e^(-span/tau)`), the same bias correction
/// Adam uses: after one window of steady traffic the usual rate is already that window's rate.
#[derive(Debug, Clone, Copy)]
struct Baseline {
    rate: f64,
    /// The time up to which `rate` accounts for the stream.
    until: DateTime<Utc>,
    first_seen: DateTime<Utc>,
}

impl Baseline {
    fn decayed_to(&self, at: DateTime<Utc>, tau: Duration) -> f64 {
        let gap = seconds_between(self.until, at);
        self.rate * (-gap / tau.as_secs_f64()).exp()
    }
}

/// A failing service's current episode: when its anomalous lines began and were last seen.
#[derive(Debug, Clone, Copy)]
struct Episode {
    onset: DateTime<Utc>,
    last: DateTime<Utc>,
}

/// The analyzer's memory. Bounded: entries that have decayed to nothing are pruned.
#[derive(Debug)]
pub struct History {
    tau: Duration,
    episode_gap: Duration,
    baselines: HashMap<TemplateId, Baseline, FastBuild>,
    episodes: HashMap<String, Episode>,
    started: Option<DateTime<Utc>>,
    /// [`History::weight`] at the start of the open window, which every template of the window
    /// is judged at.
    window_weight: Option<(DateTime<Utc>, f64)>,
    windows: u64,
}

/// What the history knows of a template at the start of a window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Known {
    /// Usual rate in lines per second (0 for a template never seen).
    pub rate: f64,
    pub first_seen: Option<DateTime<Utc>>,
}

/// A baseline below this rate (one line a day) is forgotten.
const NEGLIGIBLE_RATE: f64 = 1.0 / 86_400.0;
/// Prune every this many windows.
const PRUNE_EVERY: u64 = 1024;

impl History {
    /// `tau`: how fast usual rates follow the stream; `episode_gap`: how long a service must be
    /// quiet before its next failure counts as a new onset.
    pub fn new(tau: Duration, episode_gap: Duration) -> Self {
        Self {
            tau,
            episode_gap,
            baselines: HashMap::default(),
            episodes: HashMap::new(),
            started: None,
            window_weight: None,
            windows: 0,
        }
    }

    /// Stream time covered so far, up to `now`.
    pub fn span(&self, now: DateTime<Utc>) -> Duration {
        self.started.map_or(Duration::ZERO, |s| {
            Duration::from_secs_f64(seconds_between(s, now))
        })
    }

    /// The template's usual rate as of `at`.
    pub fn known(&self, id: TemplateId, at: DateTime<Utc>) -> Known {
        match self.baselines.get(&id) {
            Some(b) => Known {
                rate: b.decayed_to(at, self.tau) / self.weight_at(at),
                first_seen: Some(b.first_seen),
            },
            None => Known {
                rate: 0.0,
                first_seen: None,
            },
        }
    }

    /// [`History::weight`], taken from the open window when `at` is its start.
    fn weight_at(&self, at: DateTime<Utc>) -> f64 {
        match self.window_weight {
            Some((start, weight)) if start == at => weight,
            _ => self.weight(at),
        }
    }

    /// The share of a full history's weight gathered by `at`; never zero.
    fn weight(&self, at: DateTime<Utc>) -> f64 {
        let span = self.span(at).as_secs_f64() / self.tau.as_secs_f64();
        (1.0 - (-span).exp()).max(f64::MIN_POSITIVE)
    }

    /// The time the history began, once a window was seen.
    pub fn started(&self) -> Option<DateTime<Utc>> {
        self.started
    }

    /// Marks the start of a window; the first one starts the history.
    pub fn open_window(&mut self, start: DateTime<Utc>) {
        self.started = Some(self.started.map_or(start, |s| s.min(start)));
        self.window_weight = Some((start, self.weight(start)));
    }

    /// Folds one window's observation of a template into its usual rate. An anomalous template
    /// is `frozen`: its usual rate keeps its value from before the anomaly, so an outage stays
    /// an outage however long it lasts instead of becoming the new normal.
    pub fn observe(&mut self, id: TemplateId, window: Observed, frozen: bool) {
        let tau = self.tau;
        let entry = self.baselines.entry(id).or_insert(Baseline {
            rate: 0.0,
            until: window.start,
            first_seen: window.first,
        });
        let before = entry.decayed_to(window.start, tau);
        entry.rate = if frozen {
            before
        } else {
            let alpha = 1.0 - (-window.seconds / tau.as_secs_f64()).exp();
            before + alpha * (window.rate - before)
        };
        entry.until = entry.until.max(window.end);
        entry.first_seen = entry.first_seen.min(window.first);
    }

    /// Records that `service` shows anomalous lines from `first` to `last`; returns the onset
    /// of its current episode (earlier than `first` when the failure began in an earlier
    /// window).
    pub fn failing(
        &mut self,
        service: &str,
        first: DateTime<Utc>,
        last: DateTime<Utc>,
    ) -> DateTime<Utc> {
        let gap = self.episode_gap.as_secs_f64();
        match self.episodes.get_mut(service) {
            Some(ep) if seconds_between(ep.last, first) <= gap => {
                ep.onset = ep.onset.min(first);
                ep.last = ep.last.max(last);
                ep.onset
            }
            _ => {
                let ep = Episode { onset: first, last };
                self.episodes.insert(service.to_owned(), ep);
                first
            }
        }
    }

    /// Marks the end of a window: counts it and now and then forgets what has decayed away.
    pub fn close_window(&mut self, end: DateTime<Utc>) {
        self.windows += 1;
        if self.windows.is_multiple_of(PRUNE_EVERY) {
            self.prune(end);
        }
    }

    fn prune(&mut self, now: DateTime<Utc>) {
        let tau = self.tau;
        self.baselines
            .retain(|_, b| b.decayed_to(now, tau) >= NEGLIGIBLE_RATE);
        let gap = self.episode_gap.as_secs_f64();
        self.episodes
            .retain(|_, ep| seconds_between(ep.last, now) <= gap);
    }
}

/// One window's view of a template, as the history needs it.
#[derive(Debug, Clone, Copy)]
pub struct Observed {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub first: DateTime<Utc>,
    pub seconds: f64,
    /// Lines per second in the window.
    pub rate: f64,
}

/// Seconds from `a` to `b` in whole milliseconds, never negative (timestamps out of order
/// count as no time).
fn seconds_between(a: DateTime<Utc>, b: DateTime<Utc>) -> f64 {
    (millis_between(a, b) as f64 / 1000.0).max(0.0)
}

/// `(b - a).num_milliseconds()`: the nanoseconds between them, cut toward zero. The analyzer
/// asks for a few of these per template and window, and chrono's `b - a` works through dates
/// and times; the Unix seconds give the same difference unless a leap second is involved,
/// which is left to chrono.
fn millis_between(a: DateTime<Utc>, b: DateTime<Utc>) -> i64 {
    let (a_nanos, b_nanos) = (a.timestamp_subsec_nanos(), b.timestamp_subsec_nanos());
    if a_nanos >= 1_000_000_000 || b_nanos >= 1_000_000_000 {
        return (b - a).num_milliseconds();
    }
    let mut secs = b.timestamp() - a.timestamp();
    let mut nanos = i64::from(b_nanos) - i64::from(a_nanos);
    // With both parts of one sign, cutting each toward zero cuts their sum toward zero.
    if secs > 0 && nanos < 0 {
        (secs, nanos) = (secs - 1, nanos + 1_000_000_000);
    } else if secs < 0 && nanos > 0 {
        (secs, nanos) = (secs + 1, nanos - 1_000_000_000);
    }
    secs * 1000 + nanos / 1_000_000
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + secs, 0).unwrap()
    }

    fn seen(start: i64, seconds: f64, rate: f64) -> Observed {
        Observed {
            start: at(start),
            end: at(start + seconds as i64),
            first: at(start),
            seconds,
            rate,
        }
    }

    #[test]
    fn millis_between_is_chronos_difference() {
        let stamps = [
            at(0),
            at(0) + chrono::TimeDelta::nanoseconds(900_000),
            at(0) + chrono::TimeDelta::nanoseconds(1_100_000),
            at(1) - chrono::TimeDelta::nanoseconds(1),
            at(-86_400 * 400) + chrono::TimeDelta::nanoseconds(123_456_789),
            Utc.with_ymd_and_hms(2016, 12, 31, 23, 59, 59).unwrap()
                + chrono::TimeDelta::nanoseconds(999_999_999),
            Utc.timestamp_opt(1_483_228_799, 1_500_000_000).unwrap(),
        ];
        for a in stamps {
            for b in stamps {
                assert_eq!(millis_between(a, b), (b - a).num_milliseconds(), "{a} {b}");
            }
        }
    }

    fn template() -> TemplateId {
        crate::miner::Miner::new(crate::miner::MinerConfig::default()).add("Pool exhausted")
    }

    #[test]
    fn a_steady_rate_becomes_the_baseline() {
        let mut h = History::new(Duration::from_secs(60), Duration::from_secs(60));
        let id = template();
        h.open_window(at(0));
        h.observe(id, seen(0, 5.0, 2.0), false);
        let rate = h.known(id, at(5)).rate;
        assert!((rate - 2.0).abs() < 0.01, "one window is enough: {rate}");
        for w in 1..100 {
            h.observe(id, seen(w * 5, 5.0, 2.0), false);
        }
        let rate = h.known(id, at(500)).rate;
        assert!((rate - 2.0).abs() < 0.01, "{rate}");
    }

    #[test]
    fn an_absent_template_decays_and_a_frozen_one_does_not_learn() {
        let mut h = History::new(Duration::from_secs(60), Duration::from_secs(60));
        let id = template();
        h.open_window(at(0));
        for w in 0..100 {
            h.observe(id, seen(w * 5, 5.0, 2.0), false);
        }
        assert!(h.known(id, at(500 + 60)).rate < 0.8);
        let before = h.known(id, at(500)).rate;
        h.observe(id, seen(500, 5.0, 400.0), true);
        assert!(h.known(id, at(505)).rate <= before);
    }

    #[test]
    fn an_episode_keeps_its_onset_until_the_service_is_quiet() {
        let mut h = History::new(Duration::from_secs(60), Duration::from_secs(30));
        assert_eq!(h.failing("db", at(0), at(5)), at(0));
        assert_eq!(h.failing("db", at(10), at(15)), at(0));
        assert_eq!(
            h.failing("db", at(100), at(105)),
            at(100),
            "quiet for longer than the gap"
        );
    }
}
