//! Silence inside traces: a line that always followed another and stopped.
//!
//! An exception in a service often shows as no error at all: its usual lines just stop, while
//! its callers go on calling. Rates alone cannot tell that from a quieter minute; the traces
//! can. For every line (a service and a template) the paths learn which line usually comes
//! next in the same trace, a first-order model of the execution paths as DeepLog learns them
//! (Du et al., "DeepLog: Anomaly Detection and Diagnosis from System Logs through Deep
//! Learning", CCS 2017), kept to counts so it stays streaming and bounded. When a line whose
//! usual successor followed it at least 90% of the time keeps being logged but is followed by
//! it `factor` times less often than that, with a binomial tail below `alpha`, the successor's
//! service has stopped doing its part: it is the one pointed at.

use std::collections::{HashMap, VecDeque};

use super::ring::Ring;
use super::services::Services;
use super::traces::{Next, PathKey};
use super::{
    Anomaly, BUSIEST_HALF_LIFE, HORIZONS, HorizonConfig, LONGEST, Moment, evict_least_recent, kept,
    time_of,
};
use crate::analyze::Signal;
use crate::analyze::stats::binomial_at_most;
use crate::condense::TemplateStat;
use crate::miner::FastBuild;

/// Successors kept per line; the rest count together.
const SUCCESSORS: usize = 4;
/// A usual successor must have followed in at least this share of the traces…
const MIN_SHARE: f64 = 0.9;
/// …seen at least this many times.
const MIN_SEEN: f64 = 20.0;
/// Transitions waiting for the lag per line; beyond, the oldest is learned at once.
const PENDING: usize = 256;
/// Transitions a horizon needs for its share to count as the worst seen.
const MIN_FOR_WORST: u32 = 5;

#[derive(Debug)]
struct Successor {
    /// `None`: the trace ended.
    key: Option<Next>,
    weight: f64,
    text: String,
    /// Its transitions per second, and the last second it followed.
    recent: Ring<u16>,
    last: i64,
}

#[derive(Debug)]
struct Path {
    successors: Vec<Successor>,
    /// Weight of every successor seen, kept or not.
    total: f64,
    /// Transitions from this line per second.
    seen: Ring<u16>,
    /// Transitions not yet learned.
    pending: VecDeque<(i64, Option<Next>)>,
    /// The second the weights were last decayed to.
    decayed: i64,
    last_seen: i64,
    flagged: Option<i64>,
    active: bool,
    /// The lowest share of its usual successor seen over each horizon before (outside
    /// findings), and the second it was last brought up to date: a path that always breaks now
    /// and then (a registry that loses an instance for half a minute) is not news when it does.
    worst: [f64; HORIZONS.len()],
    worst_at: i64,
}

/// Every line's usual successors.
#[derive(Debug)]
pub struct Paths {
    map: HashMap<PathKey, Path, FastBuild>,
    active: Vec<PathKey>,
    limit: usize,
    ring: usize,
    /// The time constant of the usual successors, in seconds.
    memory: f64,
}

impl Path {
    /// The usual successor and its share, when one stands out enough to be missed.
    fn usual(&self) -> Option<(&Successor, f64)> {
        if self.total < MIN_SEEN {
            return None;
        }
        let top = self
            .successors
            .iter()
            .max_by(|a, b| a.weight.total_cmp(&b.weight))?;
        // Smoothed, so a line seen only a few times is never certain of its successor.
        let share = (top.weight + 0.5) / (self.total + 1.0);
        (share >= MIN_SHARE && top.key.is_some()).then_some((top, share))
    }

    fn learn_until(&mut self, until: i64, memory: f64) {
        while let Some(&(second, to)) = self.pending.front() {
            if second > until {
                break;
            }
            self.pending.pop_front();
            self.learn_one(second, to, memory);
        }
        self.learn_worst(until);
    }

    /// When every successor slot is taken, frees the one of a successor that all but stopped
    /// (weight under one, as the memory forgets it), so a path whose successor changed (a
    /// deploy) learns the new one.
    fn make_room(&mut self) {
        if self.successors.len() < SUCCESSORS {
            return;
        }
        if let Some(gone) = self.successors.iter().position(|s| s.weight < 1.0) {
            self.successors.swap_remove(gone);
        }
    }

    /// Brings the worst shares up to `until`: they fade back toward 1, and a clean horizon
    /// ending at `until` with a lower share becomes the worst.
    fn learn_worst(&mut self, until: i64) {
        if until <= self.worst_at {
            return;
        }
        let fade = 0.5f64.powf((until - self.worst_at) as f64 / BUSIEST_HALF_LIFE);
        self.worst_at = until;
        for worst in &mut self.worst {
            *worst = 1.0 - (1.0 - *worst) * fade;
        }
        if self.flagged.is_some_and(|f| f > until - LONGEST) {
            return;
        }
        let Some((usual, _)) = self.usual() else {
            return;
        };
        let seen = self.seen.sums(until, HORIZONS);
        let kept = usual.recent.sums(until, HORIZONS);
        for ((worst, n), k) in self.worst.iter_mut().zip(seen).zip(kept) {
            if n >= MIN_FOR_WORST {
                *worst = worst.min(f64::from(k) / f64::from(n));
            }
        }
    }

    /// Learns one transition, unless a finding since covered it.
    fn learn_one(&mut self, second: i64, to: Option<Next>, memory: f64) {
        if self.flagged.is_some_and(|f| f >= second) {
            return;
        }
        let decay = (-((second - self.decayed).max(0) as f64) / memory).exp();
        self.decayed = self.decayed.max(second);
        self.total *= decay;
        for s in &mut self.successors {
            s.weight *= decay;
        }
        self.total += 1.0;
        if let Some(s) = self.successors.iter_mut().find(|s| s.key == to) {
            s.weight += 1.0;
        }
    }
}

impl Paths {
    /// Lines kept.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn new(limit: usize, ring: usize, memory: f64) -> Self {
        Paths {
            map: HashMap::default(),
            active: Vec::new(),
            limit: limit.max(1),
            ring,
            memory,
        }
    }

    /// A transition from the line `from` to `to` (whose template is `stat`) at `second`.
    pub fn add(&mut self, from: PathKey, to: Next, second: i64, stat: &TemplateStat) {
        self.observe(from, Some(to), second, Some(stat));
    }

    /// A trace ended after the line `from`.
    pub fn add_end(&mut self, from: PathKey, second: i64) {
        self.observe(from, None, second, None);
    }

    fn observe(
        &mut self,
        from: PathKey,
        to: Option<Next>,
        second: i64,
        stat: Option<&TemplateStat>,
    ) {
        let memory = self.memory;
        if self.map.len() >= self.limit && !self.map.contains_key(&from) {
            evict_least_recent(&mut self.map, &mut self.active, |p| p.last_seen);
        }
        let ring = self.ring;
        let path = self.map.entry(from).or_insert_with(|| Path {
            successors: Vec::new(),
            total: 0.0,
            seen: Ring::new(ring, second),
            pending: VecDeque::new(),
            decayed: second,
            last_seen: second,
            flagged: None,
            active: false,
            worst: [1.0; HORIZONS.len()],
            worst_at: second,
        });
        path.seen.add(second, 1);
        if !path.successors.iter().any(|s| s.key == to) {
            path.make_room();
            if path.successors.len() < SUCCESSORS {
                path.successors.push(Successor {
                    key: to,
                    weight: 0.0,
                    text: stat.map(|s| kept(&s.template)).unwrap_or_default(),
                    recent: Ring::new(ring, second),
                    last: second,
                });
            }
        }
        if let Some(s) = path.successors.iter_mut().find(|s| s.key == to) {
            s.recent.add(second, 1);
            s.last = s.last.max(second);
        }
        if path.pending.len() == PENDING {
            // Too busy a line to wait: learn its oldest transition now.
            let (s, t) = path.pending.pop_front().expect("full");
            path.learn_one(s, t, memory);
        }
        path.pending.push_back((second, to));
        path.last_seen = path.last_seen.max(second);
        if !path.active {
            path.active = true;
            self.active.push(from);
        }
    }

    /// Learns the transitions that aged past the lag; lets go of lines with nothing left to
    /// learn or judge.
    pub fn learn(&mut self, moment: &Moment, config: &HorizonConfig) {
        let memory = self.memory;
        let recent = config.recent.as_secs() as i64;
        let map = &mut self.map;
        self.active.retain(|key| {
            let Some(path) = map.get_mut(key) else {
                return false;
            };
            path.learn_until(moment.learned, memory);
            path.active = !path.pending.is_empty() || path.last_seen > moment.now - recent;
            path.active
        });
    }

    /// The usual successors that stopped following.
    pub fn judge(
        &mut self,
        moment: &Moment,
        config: &HorizonConfig,
        services: &Services,
    ) -> Vec<Anomaly> {
        let recent = config.recent.as_secs() as i64;
        let mut found = Vec::new();
        for key in &self.active {
            let Some(path) = self.map.get_mut(key) else {
                continue;
            };
            if path.last_seen <= moment.now - recent {
                continue;
            }
            let Some((usual, share)) = path.usual() else {
                continue;
            };
            let mut best: Option<(f64, u32, u32, i64)> = None;
            let seen = path.seen.sums(moment.now, HORIZONS);
            let kept = usual.recent.sums(moment.now, HORIZONS);
            for (i, h) in HORIZONS.into_iter().enumerate() {
                let (n, k) = (seen[i], kept[i]);
                let now_share = f64::from(k) / f64::from(n.max(1));
                if n == 0 || now_share > share / config.factor || now_share >= path.worst[i] {
                    continue;
                }
                let p = binomial_at_most(k, n, share);
                if best.is_none_or(|(bp, ..)| p < bp) {
                    best = Some((p, k, n, h));
                }
            }
            let Some((p, k, n, h)) = best.filter(|(p, ..)| *p < config.alpha) else {
                continue;
            };
            let Some((service, _)) = usual.key else {
                continue;
            };
            let template = usual.text.clone();
            let usual_last = usual.last;
            path.flagged = Some(moment.now);
            found.push(Anomaly {
                signal: Signal::Silence,
                services: vec![(services.name(service).to_owned(), 1.0)],
                template,
                family: None,
                observed: f64::from(k),
                expected: f64::from(n) * share,
                horizon: h as u32,
                p,
                onset: time_of(usual_last + 1),
                detail: format!(
                    "it followed {}'s line in {:.0}% of traces, and {k} of the last {n} times",
                    services.name(key.1),
                    share * 100.0
                ),
            });
        }
        found
    }
}
