//! Slow hops: a service that answers, but late.
//!
//! CPU starvation or a slow network shows in no message, but in the timestamps: the time from
//! a caller's line to the next line of the same trace in another service grows. Per service the
//! latency keeps the usual mean and spread of its inbound hops on a log scale (latencies are
//! multiplicative: a hop of 2 ms and one of 2 s vary by factors, not by milliseconds) and the
//! latest hops themselves. A service is slow when the median of its recent hops lies
//! `slow_doublings` doublings above its usual mean beyond what the median service's hops
//! moved (so a busier minute that slows everything is not one service's fault), and a z-test
//! of that shift against the usual spread is below `alpha`. Trace-based root-cause methods
//! read latency the same way, from spans (e.g. MicroRank, Yu et al., WWW 2021); log lines of a
//! trace are the spans a log-only tool has.

use std::collections::{HashMap, VecDeque};

use super::services::Services;
use super::{Anomaly, HORIZONS, HorizonConfig, Moment, kept, time_of};
use crate::analyze::Signal;
use crate::analyze::stats::normal_above;
use crate::condense::TemplateStat;
use crate::miner::{FastBuild, TemplateId};

/// Recent hops kept per service: a median needs no more, whatever the rate.
const RECENT: usize = 256;
/// The usual mean and spread are averages over about this many hops.
const SPAN: f64 = 500.0;
/// Hops a service needs before its usual latency counts…
const MIN_USUAL: f64 = 10.0;
/// …and hops in a horizon before it is judged.
const MIN_HOPS: usize = 5;
/// A spread never taken for smaller than this (in doublings): hop times are rounded to the
/// millisecond, and a service whose hops all took 2 ms is not 50 standard deviations slower at
/// 3 ms.
const MIN_SPREAD: f64 = 0.5;

/// The standard error of a median of normal samples, in standard errors of their mean.
const MEDIAN_ERROR: f64 = 1.253_314_137_315_500_3;

/// A hop time on the scale the statistics use: doublings of a millisecond.
fn scale(millis: i64) -> f64 {
    (millis.max(0) as f64 + 1.0).log2()
}

fn millis(scaled: f64) -> f64 {
    scaled.exp2() - 1.0
}

#[derive(Debug, Default)]
struct ServiceHops {
    /// Hops learned so far, up to `SPAN`.
    count: f64,
    mean: f64,
    square: f64,
    /// `(second, scaled hop time)`, the newest last.
    recent: VecDeque<(i64, f64)>,
    /// Hops not yet learned.
    pending: VecDeque<(i64, f64)>,
    flagged: Option<i64>,
    /// The template of its latest hop far above usual, to name what is slow.
    example: Option<(TemplateId, String)>,
}

impl ServiceHops {
    fn learn(&mut self, second: i64, x: f64) {
        if self.flagged.is_some_and(|f| f >= second) {
            return;
        }
        self.count = (self.count + 1.0).min(SPAN);
        let w = 1.0 / self.count;
        self.mean += w * (x - self.mean);
        self.square += w * (x * x - self.square);
    }

    fn spread(&self) -> f64 {
        (self.square - self.mean * self.mean)
            .max(0.0)
            .sqrt()
            .max(MIN_SPREAD)
    }

    /// The median of its hops since `from` and their number.
    fn median_since(&self, from: i64) -> Option<(f64, usize)> {
        let mut xs: Vec<f64> = self
            .recent
            .iter()
            .filter(|(second, _)| *second > from)
            .map(|(_, x)| *x)
            .collect();
        if xs.len() < MIN_HOPS {
            return None;
        }
        let mid = xs.len() / 2;
        let (_, median, _) = xs.select_nth_unstable_by(mid, f64::total_cmp);
        Some((*median, xs.len()))
    }
}

/// Inbound hop times per service.
#[derive(Debug)]
pub struct Latency {
    map: HashMap<u32, ServiceHops, FastBuild>,
    limit: usize,
}

impl Latency {
    pub fn new(limit: usize) -> Self {
        Latency {
            map: HashMap::default(),
            limit,
        }
    }

    /// A hop into `service` that took `millis`, ending on a line of `stat`'s template.
    pub fn add(&mut self, service: u32, millis: i64, second: i64, stat: &TemplateStat) {
        if self.map.len() >= self.limit && !self.map.contains_key(&service) {
            return;
        }
        let hops = self.map.entry(service).or_default();
        let x = scale(millis);
        if hops.recent.len() == RECENT {
            hops.recent.pop_front();
        }
        hops.recent.push_back((second, x));
        if hops.pending.len() == RECENT {
            let (s, old) = hops.pending.pop_front().expect("full");
            hops.learn(s, old);
        }
        hops.pending.push_back((second, x));
        let far = hops.count >= MIN_USUAL && x > hops.mean + 3.0 * hops.spread();
        if far && hops.example.as_ref().is_none_or(|(id, _)| *id != stat.id) {
            hops.example = Some((stat.id, kept(&stat.template)));
        }
    }

    /// Learns the hops that aged past the lag.
    pub fn learn(&mut self, moment: &Moment) {
        for hops in self.map.values_mut() {
            while let Some(&(second, x)) = hops.pending.front() {
                if second > moment.learned {
                    break;
                }
                hops.pending.pop_front();
                hops.learn(second, x);
            }
        }
    }

    /// The services whose hops became far slower than the others'.
    pub fn judge(
        &mut self,
        moment: &Moment,
        config: &HorizonConfig,
        services: &Services,
    ) -> Vec<Anomaly> {
        let recent = config.recent.as_secs() as i64;
        let mut best: HashMap<u32, Anomaly, FastBuild> = HashMap::default();
        // A median over ten seconds is a handful of hops: the latency waits for more.
        for h in HORIZONS.into_iter().filter(|&h| h >= 30) {
            let from = moment.now - h;
            // (service, shift in doublings, hops, median)
            let shifts: Vec<(u32, f64, usize, f64)> = self
                .map
                .iter()
                .filter(|(_, hops)| hops.count >= MIN_USUAL)
                .filter_map(|(&service, hops)| {
                    let (median, n) = hops.median_since(from)?;
                    Some((service, median - hops.mean, n, median))
                })
                .collect();
            if shifts.is_empty() {
                continue;
            }
            // The lower median: with two services, the slow one is judged against the other.
            let mut all: Vec<f64> = shifts.iter().map(|s| s.1).collect();
            let mid = (all.len() - 1) / 2;
            let (_, everyone, _) = all.select_nth_unstable_by(mid, f64::total_cmp);
            let everyone = everyone.max(0.0);
            for (service, shift, n, median) in shifts {
                let hops = &self.map[&service];
                let fresh = hops
                    .recent
                    .back()
                    .is_some_and(|(s, _)| *s > moment.now - recent);
                let own = shift - everyone;
                if !fresh || own < config.slow_doublings {
                    continue;
                }
                // A median's standard error is √(π/2) times a mean's.
                let z = own / (MEDIAN_ERROR * hops.spread() / (n as f64).sqrt());
                let p = normal_above(z);
                // Written so that a probability that is no number is no finding.
                let significant = p.partial_cmp(&config.alpha) == Some(std::cmp::Ordering::Less);
                if !significant || best.get(&service).is_some_and(|b| b.p <= p) {
                    continue;
                }
                let name = services.name(service);
                let template = hops
                    .example
                    .as_ref()
                    .map_or_else(|| format!("hops into {name}"), |(_, t)| t.clone());
                let onset = hops
                    .recent
                    .iter()
                    .find(|(s, x)| *s > from && *x > hops.mean + config.slow_doublings)
                    .map_or(from, |(s, _)| *s);
                best.insert(
                    service,
                    Anomaly {
                        signal: Signal::Slow,
                        services: vec![(name.to_owned(), 1.0)],
                        template,
                        family: None,
                        observed: millis(median),
                        expected: millis(hops.mean),
                        horizon: h as u32,
                        p,
                        onset: time_of(onset),
                        detail: format!(
                            "{:.0}× its usual, while the median service's hops changed {:.1}×",
                            own.exp2(),
                            everyone.exp2()
                        ),
                    },
                );
            }
        }
        for service in best.keys() {
            if let Some(hops) = self.map.get_mut(service) {
                hops.flagged = Some(moment.now);
            }
        }
        let mut found: Vec<Anomaly> = best.into_values().collect();
        found.sort_by(|a, b| a.p.total_cmp(&b.p));
        found
    }
}
