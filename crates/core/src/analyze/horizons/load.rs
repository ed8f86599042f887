//! Each service's own traffic: its lines per second, its usual rate, and when it last logged.
//!
//! Two tests read it. An error family's expectation follows the traffic of the services that
//! log it: a service whose callers send it four times the requests logs four times the
//! warnings it always logs, and only what outgrows its own traffic stands out. And a service
//! that stopped logging while the others go on is found here, without traces: the lines the
//! stream logged since the service's last one, times its usual share of the stream, is what it
//! should have logged, and the chance of none is `e^-expected` (Poisson). Workloads are bursty
//! (a batch job calls a service for a minute, then not for three), so a silence must also last
//! twice the longest one the service had and at least a minute, and the service must have been
//! watched ten times that long. A service silent for [`FORGET_AFTER`] is no longer judged: it
//! was removed, not broken.

use super::ring::Ring;
use super::services::Services;
use super::{Anomaly, HORIZONS, HorizonConfig, Moment, time_of};
use crate::analyze::Signal;

/// A silence is judged once it lasts this long…
const MIN_SILENCE: i64 = 60;
/// …and never after this.
const FORGET_AFTER: i64 = 3600;
/// A silence is judged only when the service was watched this many times longer than the
/// silence it must reach: the longest silence of a few minutes of a bursty service says little
/// about the next.
const HISTORY_RATIO: i64 = 10;

#[derive(Debug)]
struct Traffic {
    ring: Ring,
    /// Usual lines per second, before the bias correction of [`Moment::weight`].
    rate: f64,
    learned: i64,
    active: bool,
    first_seen: i64,
    last_seen: i64,
    /// The stream's line count at its last line.
    stream_at_last: u64,
    /// The longest gap between two of its lines, outside silences found.
    longest: i64,
    /// Whether its current silence was found.
    silent: bool,
}

/// The traffic of every numbered service.
#[derive(Debug)]
pub struct Load {
    services: Vec<Traffic>,
    active: Vec<u32>,
    /// Seconds each ring holds.
    ring: usize,
}

impl Load {
    pub fn new(ring: usize) -> Self {
        Load {
            services: Vec::new(),
            active: Vec::new(),
            ring,
        }
    }

    /// A line of `service` at `second`, the stream's `lines`-th.
    pub fn add(&mut self, service: u32, second: i64, lines: u64, learned: i64) {
        let i = service as usize;
        while self.services.len() <= i {
            self.services.push(Traffic {
                ring: Ring::new(self.ring, second),
                rate: 0.0,
                learned,
                active: false,
                first_seen: second,
                last_seen: second,
                stream_at_last: lines,
                longest: 0,
                silent: false,
            });
        }
        let traffic = &mut self.services[i];
        traffic.ring.add(second, 1);
        if second > traffic.last_seen {
            if !traffic.silent {
                traffic.longest = traffic.longest.max(second - traffic.last_seen);
            }
            traffic.silent = false;
            traffic.last_seen = second;
        }
        traffic.stream_at_last = lines;
        if !traffic.active {
            traffic.active = true;
            self.active.push(service);
        }
    }

    /// Folds what aged past the lag into the usual rates.
    pub fn learn(&mut self, moment: &Moment, memory: f64) {
        let services = &mut self.services;
        self.active.retain(|&s| {
            let traffic = &mut services[s as usize];
            if moment.learned > traffic.learned {
                let seconds = (moment.learned - traffic.learned) as f64;
                let lines = f64::from(traffic.ring.sum(traffic.learned, moment.learned));
                let decay = (-seconds / memory).exp();
                traffic.rate = traffic.rate * decay + (1.0 - decay) * lines / seconds;
                traffic.learned = moment.learned;
            }
            // Nothing left to learn once its last line is learned.
            traffic.active = traffic.last_seen > traffic.learned;
            traffic.active
        });
    }

    /// Usual lines per second of `service`, as of the moment.
    pub fn usual(&self, service: u32, moment: &Moment, memory: f64) -> f64 {
        self.services.get(service as usize).map_or(0.0, |t| {
            let idle = (moment.learned - t.learned).max(0) as f64;
            t.rate * (-idle / memory).exp() / moment.weight
        })
    }

    /// Lines of `service` over each horizon up to `now`.
    pub fn sums(&self, service: u32, now: i64) -> [u32; HORIZONS.len()] {
        self.services
            .get(service as usize)
            .map_or([0; HORIZONS.len()], |t| t.ring.sums(now, HORIZONS))
    }

    /// The services that should have logged by now; `lines` is the stream's count so far.
    pub fn silences(
        &mut self,
        moment: &Moment,
        config: &HorizonConfig,
        lines: u64,
        services: &Services,
    ) -> Vec<Anomaly> {
        let mut found = Vec::new();
        for (number, traffic) in self.services.iter_mut().enumerate() {
            let silent = moment.now - traffic.last_seen;
            let watched = traffic.last_seen - traffic.first_seen;
            let threshold = MIN_SILENCE.max(2 * traffic.longest);
            if !(threshold..=FORGET_AFTER).contains(&silent) || watched < HISTORY_RATIO * threshold
            {
                continue;
            }
            // Its usual rate when it last logged, as a share of the stream's.
            let rate = traffic.rate / moment.weight;
            let share = (rate / moment.total_rate.max(f64::MIN_POSITIVE)).min(1.0);
            let expected = share * lines.saturating_sub(traffic.stream_at_last) as f64;
            let p = (-expected).exp();
            if p >= config.alpha {
                continue;
            }
            traffic.silent = true;
            let name = services.name(number as u32).to_owned();
            found.push(Anomaly {
                signal: Signal::Silence,
                template: format!("{name} stopped logging"),
                services: vec![(name, 1.0)],
                family: None,
                observed: 0.0,
                expected,
                horizon: u32::try_from(silent).unwrap_or(u32::MAX),
                p,
                onset: time_of(traffic.last_seen + 1),
                detail: format!(
                    "no line for {silent} s; its longest silence before was {} s",
                    traffic.longest
                ),
            });
        }
        found
    }
}
