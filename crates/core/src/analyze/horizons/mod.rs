//! Evidence that adds up over time: the thin signals of real faults, judged over sliding
//! horizons of stream time whatever the report window's size.
//!
//! A code fault in one of forty services typically adds a few error lines a minute; a 100-line
//! window holds one or two of them, and no per-window threshold can tell them from noise. So
//! the analyzer follows every line across windows and counts, per second of stream time, what
//! it needs to test over the last 10, 30, 60 and 120 seconds:
//!
//! - [`errors`]: error and warning lines per template family, against their usual rate, the
//!   busiest horizon they reached before and the load of the whole stream (new and rising
//!   errors);
//! - [`paths`]: with trace ids, which line follows which in a trace: a line that always
//!   followed its caller's and stopped (a service that stopped answering);
//! - [`latency`]: with trace ids, the time from a caller's line to the callee's next one: hops
//!   into one service far slower than usual while the others are not;
//! - [`load`]: each service's own traffic, which the error expectations follow, and a service
//!   that stopped logging while the others go on.
//!
//! Each test is a tail probability under the usual behaviour ([`super::stats`]), required below
//! [`HorizonConfig::alpha`] (one in a million: tens of thousands of tests an hour, and the
//! budget is a false alarm every few days), with an effect size on top: statistically certain
//! but small changes (a warning at twice its rate when the traffic mix shifts) are the usual
//! noise of a live system, not incidents.
//!
//! What the horizons learn lags [`HorizonConfig::lag`] behind the stream and skips what was
//! flagged, so the first lines of an anomaly are not taken as usual before they are judged, and
//! an outage does not become the usual by lasting. Nothing is judged in the first
//! [`HorizonConfig::learn_for`] of stream time: the usual rates must cover the longest horizon
//! and the lag first.

mod errors;
mod hold;
mod latency;
mod load;
mod names;
mod paths;
mod ring;
mod services;
mod traces;

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::Signal;
use crate::condense::Digest;
use crate::event::Level;
use crate::miner::FastBuild;
use errors::ErrorFamilies;
use hold::Hold;
use latency::Latency;
use load::Load;
use paths::Paths;
use ring::Ring;
use services::Services;
use traces::{Step, Traces};

/// The horizons, in seconds of stream time.
pub const HORIZONS: [i64; 4] = [10, 30, 60, 120];
/// The longest horizon.
const LONGEST: i64 = HORIZONS[HORIZONS.len() - 1];
/// Seconds every ring holds: the longest horizon and the default lag, and two to spare.
const RING: usize = (LONGEST + 120 + 2) as usize;
/// The busiest count (or the worst share, the slowest hops) seen over a horizon is forgotten
/// by halves with this half-life, in seconds: bursts a system always has keep being seen.
const BUSIEST_HALF_LIFE: f64 = 3600.0;

/// Settings of the horizons; see the module documentation for why each default is what it is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HorizonConfig {
    /// Stream time spent learning before anything is judged: everything seen meanwhile is the
    /// usual, the bursts included. Default 240 s, two longest horizons.
    pub learn_for: Duration,
    /// Once judging, how long a second of stream time waits before it joins the usual rates.
    /// Default 120 s, the longest horizon: what any horizon still counts is never part of the
    /// usual, so the first minutes of a thin anomaly cannot become its own baseline before
    /// they add up.
    pub lag: Duration,
    /// Time constant of the usual rates. Default 30 minutes.
    pub memory: Duration,
    /// Longest stretch a rate learned from nothing ("never seen in N hours") is judged on;
    /// "new" means new within it. Default 6 hours.
    pub news_memory: Duration,
    /// A finding's probability under the usual behaviour must be below this. Default 1e-6.
    pub alpha: f64,
    /// And its effect at least this large: a count this many times what was expected, a share
    /// this many times smaller. Default 4.
    pub factor: f64,
    /// Error lines a family needs in a horizon to be judged at all. Default 3.
    pub min_lines: u32,
    /// A finding stands only while its evidence is this fresh: a family that logged its last
    /// line longer ago is fading, not failing. Default 10 s.
    pub recent: Duration,
    /// A finding is reported once it has stood this long (see [`hold`]). Default 20 s: on real
    /// faults (the README's detection table) the false alarms fall as the hold grows, and
    /// holds longer than 20 s begin to miss faults that shorter ones find.
    pub hold: Duration,
    /// A finding missing from the judgments for longer than this starts standing again.
    /// Default 30 s: the evidence of a thin fault comes a few lines a minute.
    pub hold_gap: Duration,
    /// A trace with no line for this long has ended. Default 10 s.
    pub trace_idle: Duration,
    /// Latency: hops into a service must have become at least 2^this times slower than usual
    /// (beyond what all services slowed down). Default 3 (8×).
    pub slow_doublings: f64,
}

impl Default for HorizonConfig {
    fn default() -> Self {
        HorizonConfig {
            learn_for: Duration::from_secs(240),
            lag: Duration::from_secs(120),
            memory: Duration::from_secs(1800),
            news_memory: Duration::from_secs(6 * 3600),
            alpha: 1e-6,
            factor: 4.0,
            min_lines: 3,
            recent: Duration::from_secs(10),
            hold: Duration::from_secs(20),
            hold_gap: Duration::from_secs(30),
            trace_idle: Duration::from_secs(10),
            slow_doublings: 3.0,
        }
    }
}

/// Bounds on what the horizons remember, whatever the input: the tables of families, paths and
/// traces drop their least recently seen entries when full; past `services` names, a new
/// service is not followed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HorizonLimits {
    pub services: usize,
    pub families: usize,
    pub paths: usize,
    pub traces: usize,
}

impl Default for HorizonLimits {
    fn default() -> Self {
        HorizonLimits {
            services: 4096,
            families: 4096,
            paths: 8192,
            traces: 65_536,
        }
    }
}

/// Something the horizons found, pointing at one service or sharing its weight among several.
#[derive(Debug, Clone, PartialEq)]
pub struct Anomaly {
    pub signal: Signal,
    /// The services it points at with their shares of its weight (summing to 1), largest
    /// first.
    pub services: Vec<(String, f64)>,
    /// The template it is about: the error template, the line that stopped, the slowed one.
    pub template: String,
    /// For error evidence, the family of that template, to mark the window's templates of it.
    pub family: Option<crate::miner::TemplateId>,
    /// What was counted over the horizon, and what the usual behaviour predicted: lines for
    /// errors and silences, times the usual latency for slow hops.
    pub observed: f64,
    pub expected: f64,
    /// The horizon it was judged over, in seconds.
    pub horizon: u32,
    /// Its probability under the usual behaviour.
    pub p: f64,
    /// When its evidence began.
    pub onset: DateTime<Utc>,
    /// Context for the narrative: the caller whose line it no longer follows, how long ago a
    /// returning error was last seen, …
    pub detail: String,
}

/// Stream time: where the stream is and where the usual rates are.
#[derive(Debug, Clone, Copy)]
struct Clock {
    /// The first second seen.
    start: i64,
    /// The newest second seen.
    now: i64,
    /// The second up to which the usual rates have learned.
    learned: i64,
    /// When judging began (after `learn_for`).
    judging: Option<i64>,
    /// The second last judged: judging happens at most once a stream second.
    judged: Option<i64>,
}

impl Clock {
    /// The weight a usual rate has gathered by `at` (`1 - e^(-span/tau)`, never zero): usual
    /// rates start from zero and are divided by it, as in the window history.
    fn weight(&self, at: i64, memory: f64) -> f64 {
        let span = (at - self.start).max(1) as f64;
        (1.0 - (-span / memory).exp()).max(f64::MIN_POSITIVE)
    }

    /// Seconds of stream seen, bounded by what "never seen" may stand for.
    fn span(&self, news_memory: f64) -> f64 {
        ((self.now - self.start).max(1) as f64).min(news_memory)
    }
}

/// Everything the horizons remember.
#[derive(Debug)]
pub struct Horizons {
    config: HorizonConfig,
    clock: Option<Clock>,
    services: Services,
    /// Lines of every service per second, for the load the expectations scale with.
    total: Ring,
    /// Usual lines per second of the whole stream.
    total_rate: f64,
    /// Lines seen since the start, for the silence test.
    lines: u64,
    /// Each service's traffic.
    load: Load,
    errors: ErrorFamilies,
    traces: Traces,
    paths: Paths,
    latency: Latency,
    found: Vec<Anomaly>,
    hold: Hold,
    /// The numbers of the services of the window being followed, by its service index.
    numbers: Vec<Option<u32>>,
    /// The seconds of the window's lines, to find the middle one.
    seconds: Vec<i64>,
}

/// What every judge needs to know about the moment.
#[derive(Debug, Clone, Copy)]
struct Moment {
    now: i64,
    /// The newest second the usual rates have learned.
    learned: i64,
    /// The share of a full history's weight gathered by `learned`.
    weight: f64,
    /// Lines per second of the whole stream as usual.
    total_rate: f64,
    /// Seconds of stream seen (bounded by `news_memory`), for the rate of the unseen.
    span: f64,
    /// Since when judging is on: what appeared before it is not news.
    judging: i64,
}

/// Seconds since the epoch of a time, rounded down.
fn second_of(at: DateTime<Utc>) -> i64 {
    at.timestamp()
}

fn time_of(second: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(second, 0).unwrap_or_default()
}

/// Template texts the horizons keep are cut to this many characters: they name a finding in a
/// title and a fingerprint, and a table of thousands of them must stay small.
const TEXT_KEPT: usize = 256;

/// `text`, cut to [`TEXT_KEPT`] characters.
fn kept(text: &str) -> String {
    match text.char_indices().nth(TEXT_KEPT) {
        Some((cut, _)) => text[..cut].to_owned(),
        None => text.to_owned(),
    }
}

/// Makes room in a bounded table: drops the eighth of `map`'s entries seen least recently
/// (`last_seen`), and their keys from `active`, so that a stream of ever new keys pays for the
/// scan once in many lines, not on every one.
fn evict_least_recent<K: Copy + Ord + std::hash::Hash, V>(
    map: &mut HashMap<K, V, FastBuild>,
    active: &mut Vec<K>,
    last_seen: impl Fn(&V) -> i64,
) {
    let mut by_age: Vec<(i64, K)> = map.iter().map(|(k, v)| (last_seen(v), *k)).collect();
    let cut = by_age.len() / 8;
    // Ties go by key, whatever order the table is in.
    by_age.select_nth_unstable(cut);
    for (_, key) in &by_age[..=cut] {
        map.remove(key);
    }
    active.retain(|key| map.contains_key(key));
}

impl Horizons {
    pub fn new(config: HorizonConfig, limits: HorizonLimits) -> Self {
        let ring = RING.max((LONGEST + config.lag.as_secs() as i64 + 2) as usize);
        Horizons {
            config,
            clock: None,
            services: Services::new(limits.services),
            total: Ring::new(ring, 0),
            total_rate: 0.0,
            lines: 0,
            load: Load::new(ring),
            errors: ErrorFamilies::new(limits.families, ring),
            traces: Traces::new(limits.traces, config.trace_idle),
            paths: Paths::new(limits.paths, ring, config.memory.as_secs_f64()),
            latency: Latency::new(limits.services),
            found: Vec::new(),
            hold: Hold::default(),
            numbers: Vec::new(),
            seconds: Vec::new(),
        }
    }

    /// Follows one window's lines and returns what the horizons find as of its end: judged at
    /// most once a second of stream time, so windows that close every few lines cost no more.
    pub fn observe(&mut self, digest: &Digest) -> &[Anomaly] {
        let Some((from, to)) = self.accepted(digest) else {
            return &self.found;
        };
        let clock = self.clock.get_or_insert(Clock {
            start: from,
            now: to,
            learned: from - 1,
            judging: None,
            judged: None,
        });
        clock.now = clock.now.max(to);
        self.total.advance(clock.now);
        // Each of the window's services is looked up once, not once per line.
        self.numbers.clear();
        for service in &digest.services {
            self.numbers.push(self.services.intern(&service.name));
        }
        for note in &digest.notes {
            if (from..=to).contains(&second_of(note.at)) {
                self.follow(digest, note);
            }
        }
        self.errors.describe(digest);
        self.expire();
        let now = self.clock.map_or(0, |c| c.now);
        let judged = self.clock.and_then(|c| c.judged);
        if judged.is_none_or(|j| now > j) {
            self.judge(now, digest);
        }
        &self.found
    }

    /// The seconds of the window's lines that are followed: those within a ring's span of the
    /// window's middle line. One line whose clock is wrong (dated next century, or 1970) must
    /// not move the horizons' clock, which would put every other line outside the horizons; a
    /// stream that really jumps (a replay of logs days apart) moves it with all its lines.
    fn accepted(&mut self, digest: &Digest) -> Option<(i64, i64)> {
        self.seconds.clear();
        self.seconds
            .extend(digest.notes.iter().map(|n| second_of(n.at)));
        if self.seconds.is_empty() {
            return None;
        }
        let mid = (self.seconds.len() - 1) / 2;
        let (_, &mut middle, _) = self.seconds.select_nth_unstable(mid);
        let span = RING as i64;
        let inside = |s: &&i64| (middle - span..=middle + span).contains(*s);
        let from = *self.seconds.iter().filter(inside).min()?;
        let to = *self.seconds.iter().filter(inside).max()?;
        Some((from, to))
    }

    /// One line: counted, attributed, followed through its trace.
    fn follow(&mut self, digest: &Digest, note: &crate::condense::Note) {
        let second = second_of(note.at);
        self.total.add(second, 1);
        self.lines += 1;
        let stat = &digest.templates[note.template as usize];
        let service = self.numbers[note.service as usize];
        let learned = self.clock.map_or(0, |c| c.learned);
        if let Some(service) = service {
            self.load.add(service, second, self.lines, learned);
        }
        let step = match (note.trace, service) {
            (Some(trace), Some(service)) => self.traces.step(
                trace,
                note.at.timestamp_millis(),
                service,
                stat.id,
                note.level.is_error(),
            ),
            _ => Step::default(),
        };
        if let Some((from, to)) = step.transition {
            self.paths.add(from, to, second, stat);
        }
        if let Some(hop) = step.hop {
            self.latency.add(hop.into, hop.millis, second, stat);
        }
        if note.level >= Level::Warn {
            // Callers log their callee's failure: a line in a trace whose first error came from
            // another service points there (the deepest service that failed).
            let culprit = step.first_error.or(service);
            self.errors.add(stat, second, service, culprit, learned);
        }
    }

    /// Traces that went quiet have ended: their last line had no successor.
    fn expire(&mut self) {
        let Some(clock) = self.clock else { return };
        for ended in self.traces.expire(clock.now * 1000) {
            self.paths.add_end(ended, clock.now);
        }
    }

    /// Learns what has aged past the lag, then judges every test at `now`; `digest` is the
    /// window that brought the stream there.
    fn judge(&mut self, now: i64, digest: &Digest) {
        let config = self.config;
        let memory = config.memory.as_secs_f64();
        let Some(mut clock) = self.clock else { return };
        // While learning, everything is the usual at once (but the current second, which
        // more lines may still join); once judging, after the lag.
        let lag = if clock.judging.is_some() {
            (config.lag.as_secs() as i64).max(1)
        } else {
            1
        };
        let until = now - lag;
        if until > clock.learned {
            let lines = self.total.sum(clock.learned, until);
            let seconds = (until - clock.learned) as f64;
            let decay = (-seconds / memory).exp();
            self.total_rate =
                self.total_rate * decay + (1.0 - decay) * (f64::from(lines) / seconds);
            clock.learned = until;
        }
        clock.judged = Some(now);
        let learning = ((now - clock.start) as f64) < config.learn_for.as_secs_f64();
        if !learning && clock.judging.is_none() {
            clock.judging = Some(now);
        }
        self.clock = Some(clock);
        let weight = clock.weight(clock.learned, memory);
        let moment = Moment {
            now,
            learned: clock.learned,
            weight,
            total_rate: self.total_rate / weight,
            span: clock.span(config.news_memory.as_secs_f64()),
            judging: clock.judging.unwrap_or(i64::MAX),
        };
        self.load.learn(&moment, memory);
        self.errors.learn(&moment, &config);
        self.paths.learn(&moment, &config);
        self.latency.learn(&moment);
        self.found.clear();
        if learning {
            return;
        }
        let totals = self.total.sums(now, HORIZONS);
        self.found.extend(self.errors.judge(
            &moment,
            &config,
            &totals,
            &self.services,
            &self.load,
            digest,
        ));
        self.found
            .extend(self.paths.judge(&moment, &config, &self.services));
        self.found
            .extend(self.latency.judge(&moment, &config, &self.services));
        self.found.extend(
            self.load
                .silences(&moment, &config, self.lines, &self.services),
        );
        self.hold.confirm(now, &config, &mut self.found);
        self.found.sort_by(|a, b| a.p.total_cmp(&b.p));
    }
}

#[cfg(test)]
mod tests;
