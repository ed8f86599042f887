//! New and rising errors: error and warning lines per template family, over the horizons.
//!
//! A family (templates that differ only in a few words with few values, see the miner) is the
//! unit, not the template or the service: "No instances available for billing" next to the
//! same line for "payments" is one known failure of service discovery, which real systems
//! always have in bursts, not a new one. Its lines in a horizon are compared with the largest
//! of three expectations:
//!
//! - its usual rate scaled by the load: the other lines of the stream in the horizon, times
//!   its usual share of them (twice the traffic, twice the warnings);
//! - the busiest count it reached over that horizon before (bursts it always has), halving
//!   every hour;
//! - for what was never seen, the rule of three: after `T` seconds without a line, a rate of
//!   `3/T` is as high as the history allows (95% upper bound), so the longer the memory, the
//!   more a first line means (Hanley and Lippman-Hand, "If nothing goes wrong, is everything
//!   all right?", JAMA 1983).
//!
//! A family is flagged when its count is `factor` times that expectation and its Poisson tail
//! below `alpha`, on any horizon, while it still logs.

use std::collections::{HashMap, VecDeque};

use super::load::Load;
use super::names::named_services;
use super::ring::Ring;
use super::services::Services;
use super::{
    Anomaly, BUSIEST_HALF_LIFE, HORIZONS, HorizonConfig, Moment, evict_least_recent, kept, time_of,
};
use crate::analyze::Signal;
use crate::analyze::stats::poisson_at_least;
use crate::condense::{Digest, TemplateStat};
use crate::miner::{FastBuild, TemplateId};

/// How long a family must have been quiet for its next lines to be a return, not old news.
const QUIET_SPELL: i64 = 600;
/// A first sighting counts as new for this long.
const NEW_FOR: i64 = 600;
/// The latest lines whose culprits and named services are kept per family.
const ATTRIBUTED_LINES: usize = 64;
/// Of the weight of lines that name another service, the share that goes to it.
const NAMED_SHARE: f64 = 0.5;
/// Sample messages of a window's template read for names.
const MESSAGES_READ: usize = 3;

#[derive(Debug)]
struct Family {
    /// Its error and warning lines per second.
    ring: Ring,
    /// Usual lines per second, before the bias correction of [`Moment::weight`].
    rate: f64,
    /// The second up to which `rate` and `peaks` have learned.
    learned: i64,
    /// The busiest count over each horizon before.
    peaks: [f64; HORIZONS.len()],
    first_seen: i64,
    last_seen: i64,
    /// When its current run of lines began after a quiet spell, and when it was seen before.
    returned: Option<(i64, i64)>,
    /// Whether it is in [`ErrorFamilies::active`].
    active: bool,
    /// Its latest lines in runs: when, which service logged them, who they point at (the
    /// line's service, or the first failing service of its trace), and how many in a row.
    culprits: VecDeque<(i64, Option<u32>, Option<u32>, u32)>,
    /// Services named in its latest messages, with the share of its messages naming each.
    named: Vec<(u32, f64)>,
    /// Its latest template and text.
    template: TemplateId,
    text: String,
    /// The last second it was found anomalous: the seconds up to it stay out of the usual rate.
    flagged: Option<i64>,
}

/// The families of error and warning lines.
#[derive(Debug)]
pub struct ErrorFamilies {
    map: HashMap<TemplateId, Family, FastBuild>,
    /// Families with lines not yet learned or recent enough to judge.
    active: Vec<TemplateId>,
    limit: usize,
    ring: usize,
}

impl ErrorFamilies {
    /// Families kept.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn new(limit: usize, ring: usize) -> Self {
        ErrorFamilies {
            map: HashMap::default(),
            active: Vec::new(),
            limit: limit.max(1),
            ring,
        }
    }

    /// One error or warning line of `stat`'s template at `second` from `service`, pointing at
    /// `culprit`.
    pub fn add(
        &mut self,
        stat: &TemplateStat,
        second: i64,
        service: Option<u32>,
        culprit: Option<u32>,
        learned: i64,
    ) {
        // A new family starts learning now: the seconds before it had none of its lines.
        if self.map.len() >= self.limit && !self.map.contains_key(&stat.family) {
            evict_least_recent(&mut self.map, &mut self.active, |f| f.last_seen);
        }
        let ring = self.ring;
        let family = self.map.entry(stat.family).or_insert_with(|| Family {
            ring: Ring::new(ring, second),
            rate: 0.0,
            learned,
            peaks: [0.0; HORIZONS.len()],
            first_seen: second,
            last_seen: second,
            returned: None,
            active: false,
            culprits: VecDeque::new(),
            named: Vec::new(),
            template: stat.id,
            text: kept(&stat.template),
            flagged: None,
        });
        if second - family.last_seen > QUIET_SPELL {
            family.returned = Some((second, family.last_seen));
        }
        if !family.active {
            family.active = true;
            self.active.push(stat.family);
        }
        family.last_seen = family.last_seen.max(second);
        family.first_seen = family.first_seen.min(second);
        family.ring.add(second, 1);
        match family.culprits.back_mut() {
            Some(run) if (run.0, run.1, run.2) == (second, service, culprit) => {
                run.3 = run.3.saturating_add(1);
            }
            _ => {
                if family.culprits.len() == ATTRIBUTED_LINES {
                    family.culprits.pop_front();
                }
                family.culprits.push_back((second, service, culprit, 1));
            }
        }
    }

    /// Takes the texts of the window's templates with error lines: a family is named after
    /// its latest.
    pub fn describe(&mut self, digest: &Digest) {
        for stat in &digest.templates {
            let bad = stat.levels.errors() + stat.levels.get(crate::Level::Warn);
            if bad == 0 {
                continue;
            }
            if let Some(family) = self.map.get_mut(&stat.family)
                && family.template != stat.id
            {
                family.template = stat.id;
                family.text = kept(&stat.template);
            }
        }
    }

    /// Learns every active family up to the moment's lag and lets go of those with nothing
    /// left to learn or judge.
    pub fn learn(&mut self, moment: &Moment, config: &HorizonConfig) {
        let recent = config.recent.as_secs() as i64;
        let memory = config.memory.as_secs_f64();
        let map = &mut self.map;
        self.active.retain(|id| {
            let Some(family) = map.get_mut(id) else {
                return false;
            };
            family.learn_until(moment.learned, memory);
            family.active =
                family.last_seen > family.learned || family.last_seen > moment.now - recent;
            family.active
        });
    }

    /// The families whose lines stand out now.
    pub fn judge(
        &mut self,
        moment: &Moment,
        config: &HorizonConfig,
        totals: &[u32; HORIZONS.len()],
        services: &Services,
        load: &Load,
        digest: &Digest,
    ) -> Vec<Anomaly> {
        let recent = config.recent.as_secs() as i64;
        let mut found = Vec::new();
        for id in &self.active {
            let Some(family) = self.map.get_mut(id) else {
                continue;
            };
            if family.last_seen <= moment.now - recent {
                continue;
            }
            let Some(mut anomaly) = family.judge(*id, moment, config, totals, load) else {
                continue;
            };
            // What it logs from now on stays out of its usual rate.
            family.flagged = Some(moment.now);
            // The services its messages name are read only now: most families never get here.
            family.read_names(*id, digest, services);
            anomaly.services = family.shares(moment.now - i64::from(anomaly.horizon), services);
            found.push(anomaly);
        }
        found
    }
}

impl Family {
    /// Reads the window's messages of this family for the services they name. A family that
    /// the window does not hold keeps what was read last.
    fn read_names(&mut self, id: TemplateId, digest: &Digest, services: &Services) {
        let mut read = 0u32;
        let mut named: Vec<(u32, f64)> = Vec::new();
        let mut in_message = Vec::new();
        for stat in digest.templates.iter().filter(|s| s.family == id) {
            let own = services.number(stat.main_service());
            for sample in stat.first_samples.iter().take(MESSAGES_READ) {
                if sample.level < crate::Level::Warn {
                    continue;
                }
                read += 1;
                in_message.clear();
                named_services(&sample.message, own, services, &mut in_message);
                // A message naming several services points at each a little.
                let each = 1.0 / in_message.len().max(1) as f64;
                for &service in &in_message {
                    match named.iter_mut().find(|(s, _)| *s == service) {
                        Some(entry) => entry.1 += each,
                        None => named.push((service, each)),
                    }
                }
            }
        }
        if read > 0 {
            for entry in &mut named {
                entry.1 /= f64::from(read);
            }
            self.named = named;
        }
    }

    /// Folds the seconds `(learned, until]` into the usual rate and the peaks, unless they were
    /// found anomalous. The ring still holds those seconds: it spans the longest horizon and
    /// the lag, and an active family learns every second.
    fn learn_until(&mut self, until: i64, memory: f64) {
        if until <= self.learned {
            return;
        }
        let seconds = (until - self.learned) as f64;
        let decay = (-seconds / memory).exp();
        let clean = self.flagged.is_none_or(|f| f <= self.learned);
        if clean {
            let lines = f64::from(self.ring.sum(self.learned, until));
            self.rate = self.rate * decay + (1.0 - decay) * lines / seconds;
            let fade = 0.5f64.powf(seconds / BUSIEST_HALF_LIFE);
            let busiest = self.ring.sums(until, HORIZONS);
            for (peak, busiest) in self.peaks.iter_mut().zip(busiest) {
                *peak = (*peak * fade).max(f64::from(busiest));
            }
        }
        // A stretch that was found anomalous is skipped: the usual stays what it was, neither
        // learning the anomaly nor taking the time as silence.
        self.learned = until;
    }

    fn judge(
        &self,
        id: TemplateId,
        moment: &Moment,
        config: &HorizonConfig,
        totals: &[u32; HORIZONS.len()],
        load: &Load,
    ) -> Option<Anomaly> {
        let memory = config.memory.as_secs_f64();
        let usual = self.rate / moment.weight;
        let unseen = 3.0 / moment.span;
        let mut best: Option<(f64, u32, f64, usize)> = None;
        let counts = self.ring.sums(moment.now, HORIZONS);
        // The services that logged it lately, and their own traffic over each horizon.
        let mut own: Vec<u32> = Vec::new();
        for (_, service, ..) in &self.culprits {
            if let Some(s) = service
                && !own.contains(s)
            {
                own.push(*s);
            }
        }
        let their_usual: f64 = own.iter().map(|&s| load.usual(s, moment, memory)).sum();
        let mut their_lines = [0u32; HORIZONS.len()];
        for &s in &own {
            for (sum, n) in their_lines.iter_mut().zip(load.sums(s, moment.now)) {
                *sum = sum.saturating_add(n);
            }
        }
        for (i, h) in HORIZONS.into_iter().enumerate() {
            let n = counts[i];
            if n < config.min_lines {
                continue;
            }
            let by_load = scaled(usual, moment.total_rate, totals[i], n, h);
            let by_service = scaled(usual, their_usual, their_lines[i], n, h);
            let expected = by_load
                .max(by_service)
                .max(unseen * h as f64)
                .max(self.peaks[i]);
            if f64::from(n) < config.factor * expected {
                continue;
            }
            let p = poisson_at_least(n, expected);
            if best.is_none_or(|(bp, ..)| p < bp) {
                best = Some((p, n, expected, i));
            }
        }
        let (p, n, expected, i) = best.filter(|(p, ..)| *p < config.alpha)?;
        let h = HORIZONS[i];
        let onset = self
            .ring
            .first_in(moment.now - h, moment.now)
            .unwrap_or(moment.now);
        let new = self.first_seen >= moment.judging && moment.now - self.first_seen <= NEW_FOR;
        // A return is news for an hour; after that the run is simply going on.
        let detail = match self.returned {
            Some((run, before)) if !new && moment.now - run <= 3600 => {
                format!("back after {} min", (run - before) / 60)
            }
            _ => String::new(),
        };
        Some(Anomaly {
            signal: if new { Signal::New } else { Signal::Rise },
            services: Vec::new(),
            template: self.text.clone(),
            family: Some(id),
            observed: f64::from(n),
            expected,
            horizon: h as u32,
            p,
            onset: time_of(onset),
            detail,
        })
    }

    /// Where its lines since `from` point, largest share first.
    fn shares(&self, from: i64, services: &Services) -> Vec<(String, f64)> {
        let mut weights: Vec<(u32, f64)> = Vec::new();
        let add = |weights: &mut Vec<(u32, f64)>, service: u32, w: f64| match weights
            .iter_mut()
            .find(|(s, _)| *s == service)
        {
            Some(entry) => entry.1 += w,
            None => weights.push((service, w)),
        };
        let lines: Vec<(u32, u32)> = self
            .culprits
            .iter()
            .filter(|(second, ..)| *second > from)
            .filter_map(|&(_, _, c, n)| c.map(|c| (c, n)))
            .collect();
        let total = f64::from(lines.iter().map(|(_, n)| n).sum::<u32>().max(1));
        let named: f64 = self.named.iter().map(|(_, f)| f).sum::<f64>().min(1.0);
        for (service, n) in lines {
            add(
                &mut weights,
                service,
                (1.0 - NAMED_SHARE * named) * f64::from(n) / total,
            );
        }
        for &(service, f) in &self.named {
            add(&mut weights, service, NAMED_SHARE * f);
        }
        let sum: f64 = weights.iter().map(|(_, w)| w).sum();
        let mut shares: Vec<(String, f64)> = weights
            .into_iter()
            .map(|(s, w)| (services.name(s).to_owned(), w / sum.max(f64::MIN_POSITIVE)))
            .collect();
        shares.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        if shares.is_empty() {
            shares.push((crate::condense::UNKNOWN_SERVICE.to_owned(), 1.0));
        }
        shares
    }
}

/// What a usual rate predicts over `h` seconds when the traffic it is a share of logged
/// `lines` in them, `n` of them its own: its usual share of the other lines. Without a usual
/// traffic to take a share of, the rate itself over `h`.
fn scaled(usual: f64, traffic_usual: f64, lines: u32, n: u32, h: i64) -> f64 {
    if traffic_usual > usual {
        usual / (traffic_usual - usual) * f64::from(lines.saturating_sub(n))
    } else {
        usual * h as f64
    }
}
