//! Condense: a window's batch of events becomes a [`Digest`] of log templates.
//!
//! The miner keeps its state across windows, so a template keeps its id from one window to the
//! next and the analyzer can compare it with its own history.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};

use crate::event::{Level, LevelCounts, LogEvent};
use crate::miner::{FastBuild, Miner, MinerConfig, TemplateId};
use crate::window::{Batch, FlushReason};

/// Sample lines kept per template, at each end: in a window's digest and in an incident's
/// evidence.
pub const SAMPLE_LINES: usize = 5;

/// The service name used for events that named none.
pub const UNKNOWN_SERVICE: &str = "unknown";

/// Windows shorter than this are measured as this long when rates are computed, so that a
/// window of 100 lines that all carry the same second does not claim an infinite rate.
const MIN_RATE_SPAN: Duration = Duration::from_secs(1);

/// One window, condensed.
#[derive(Debug, Clone, PartialEq)]
pub struct Digest {
    /// The window's number in the run (1 for the first).
    pub seq: u64,
    /// Earliest and latest event timestamps in the window.
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub log_count: u32,
    pub flush: FlushReason,
    /// The time the window stands for, in seconds, for rates: its age limit when it closed on
    /// time, otherwise the span of its timestamps (at least one second, at most the age limit).
    pub seconds: f64,
    /// Templates, most lines first (ties: the older template first).
    pub templates: Vec<TemplateStat>,
    /// Per-service totals, most lines first.
    pub services: Vec<ServiceStat>,
    pub levels: LevelCounts,
    /// Every line of the window, in arrival order, as the analyzer follows them across
    /// windows.
    pub notes: Vec<Note>,
}

/// One line of a window as the analyzer's horizons need it: when, from whom, which template,
/// how severe, and in which trace.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Note {
    pub at: DateTime<Utc>,
    /// Index into the digest's `services`.
    pub service: u32,
    /// Index into the digest's `templates`.
    pub template: u32,
    pub level: Level,
    /// A hash of the event's trace id, when it carried one (see [`TRACE_KEYS`]).
    pub trace: Option<u64>,
}

/// Attribute names a trace id goes by: OpenTelemetry's (as OTLP ingest stores it and as its
/// log bridges write it), W3C-style camel case, and the dotted ECS and Datadog forms.
pub const TRACE_KEYS: [&str; 6] = [
    "trace_id",
    "traceId",
    "traceID",
    "trace.id",
    "dd.trace_id",
    "otelTraceID",
];

/// The hash of the event's trace id, if it has one. One pass over the attributes, most of
/// them turned away by their length: six map lookups per line would cost more than the rest of
/// following the line does.
fn trace_of(event: &LogEvent) -> Option<u64> {
    let (_, id) = event
        .attributes
        .iter()
        .find(|(key, _)| matches!(key.len(), 7 | 8 | 11) && TRACE_KEYS.contains(&key.as_str()))?;
    (!is_no_trace(id)).then(|| fnv1a(id.as_bytes()))
}

/// Ids that say "no trace": empty, all zeros (W3C's invalid id), or a placeholder. Taken for a
/// trace, they would make one trace of every untraced line.
fn is_no_trace(id: &str) -> bool {
    id.bytes().all(|b| b == b'0')
        || ["-", "null", "none", "undefined", "nil"]
            .iter()
            .any(|placeholder| id.eq_ignore_ascii_case(placeholder))
}

/// FNV-1a, 64 bits: trace ids are only told apart, never shown.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// One template's lines in one window.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateStat {
    pub id: TemplateId,
    /// The template's family: templates that differ only in a few words that take few values
    /// (see the miner's `family` module). Evidence of errors is counted per family, so a known
    /// failure with another value in one of those words is not news.
    pub family: TemplateId,
    /// The template as the miner knows it when the window closes.
    pub template: String,
    pub count: u32,
    pub levels: LevelCounts,
    /// Services that logged it, most lines first.
    pub services: Vec<(String, u32)>,
    pub first: DateTime<Utc>,
    pub last: DateTime<Utc>,
    /// The window's first lines of this template (at most [`SAMPLE_LINES`]), oldest first.
    pub first_samples: Vec<Sample>,
    /// Its last lines (at most [`SAMPLE_LINES`], none of them also a first one).
    pub last_samples: Vec<Sample>,
}

/// One line kept as evidence. It is rendered as text only when somebody keeps it (an incident
/// does; most windows have none), which spares formatting ten lines per template per window.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The line's position in its window: samples are kept in arrival order.
    pub seq: u32,
    pub timestamp: DateTime<Utc>,
    pub level: Level,
    /// Index into its template's `services`.
    pub service: usize,
    pub message: String,
}

impl TemplateStat {
    /// The first raw message of the window with this template.
    pub fn example(&self) -> &str {
        self.first_samples
            .first()
            .map_or("", |s| s.message.as_str())
    }

    /// A sample as `TIMESTAMP LEVEL SERVICE: MESSAGE`.
    pub fn render(&self, sample: &Sample) -> String {
        let service = self
            .services
            .get(sample.service)
            .map_or(UNKNOWN_SERVICE, |(name, _)| name.as_str());
        format!(
            "{} {} {}: {}",
            sample
                .timestamp
                .to_rfc3339_opts(SecondsFormat::Millis, true),
            sample.level,
            service,
            sample.message
        )
    }

    /// Both ends of the samples, rendered: the first lines, then the last ones.
    pub fn sample_lines(&self) -> impl Iterator<Item = String> + '_ {
        self.first_samples
            .iter()
            .chain(&self.last_samples)
            .map(|sample| self.render(sample))
    }

    /// The service with the most lines of this template.
    pub fn main_service(&self) -> &str {
        self.services
            .first()
            .map_or(UNKNOWN_SERVICE, |(name, _)| name.as_str())
    }
}

/// One service's lines in one window.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceStat {
    pub name: String,
    pub levels: LevelCounts,
}

/// Turns batches into digests; owns the miner.
#[derive(Debug)]
pub struct Condenser {
    miner: Miner,
    max_age: Duration,
    /// Tables reused from batch to batch: a replayed file can close a window every few lines,
    /// and they are then allocated once rather than per window.
    scratch: Scratch,
}

/// The condenser's reusable tables.
#[derive(Debug, Default)]
struct Scratch {
    /// Where each template of the batch being condensed sits in its digest.
    slots: HashMap<TemplateId, usize, FastBuild>,
    /// The templates' ids in their first order, before merges.
    first_ids: Vec<TemplateId>,
    /// Services in their sorted order, by first position; and each first position's place in it.
    order: Vec<u32>,
    service_at: Vec<u32>,
    /// Each template's place in the digest, by first position.
    template_at: Vec<u32>,
}

impl Condenser {
    /// `max_age` is the window's age limit, the length of a window that closed on time.
    pub fn new(miner: MinerConfig, max_age: Duration) -> Self {
        Self {
            miner: Miner::new(miner),
            max_age,
            scratch: Scratch::default(),
        }
    }

    pub fn miner(&self) -> &Miner {
        &self.miner
    }

    /// Condenses one batch. An empty batch gives an empty digest stamped with the Unix epoch.
    pub fn condense(&mut self, batch: Batch) -> Digest {
        self.scratch.slots.clear();
        let mut acc = Accumulator {
            scratch: &mut self.scratch,
            templates: Vec::new(),
            services: Vec::new(),
            levels: LevelCounts::default(),
            start: None,
            end: None,
            notes: Vec::with_capacity(batch.events.len()),
        };
        for event in batch.events {
            let id = self.miner.add(&event.message);
            acc.add(id, event);
        }
        let seconds = match batch.flush {
            FlushReason::Time => self.max_age,
            // By its own clock a window is never older than its age limit; a wider spread of
            // timestamps comes from late events that joined it.
            FlushReason::Size | FlushReason::End => acc
                .span()
                .clamp(MIN_RATE_SPAN, self.max_age.max(MIN_RATE_SPAN)),
        }
        .as_secs_f64();
        acc.finish(&self.miner, batch.seq, batch.flush, seconds)
    }
}

/// Per-window running totals.
struct Accumulator<'a> {
    scratch: &'a mut Scratch,
    /// In order of first appearance; `last_samples` is a ring until [`Accumulator::finish`].
    templates: Vec<TemplateStat>,
    services: Vec<ServiceStat>,
    levels: LevelCounts,
    start: Option<DateTime<Utc>>,
    end: Option<DateTime<Utc>>,
    /// Until [`Accumulator::finish`], `template` is the template's position in `templates` and
    /// `service` the service's in `services`, both before merging and sorting.
    notes: Vec<Note>,
}

impl Accumulator<'_> {
    fn add(&mut self, id: TemplateId, event: LogEvent) {
        let trace = trace_of(&event);
        let LogEvent {
            timestamp,
            service,
            level,
            message,
            ..
        } = event;
        self.levels.add(level);
        self.start = Some(self.start.map_or(timestamp, |s| s.min(timestamp)));
        self.end = Some(self.end.map_or(timestamp, |e| e.max(timestamp)));
        let service_index = count_service(&mut self.services, service_name(&service), level);
        let slot = self.slot(id, timestamp);
        self.notes.push(Note {
            at: timestamp,
            service: service_index,
            template: slot as u32,
            level,
            trace,
        });

        let stat = &mut self.templates[slot];
        stat.count += 1;
        stat.levels.add(level);
        stat.first = stat.first.min(timestamp);
        stat.last = stat.last.max(timestamp);
        let service = count_template_service(&mut stat.services, service);
        let sample = Sample {
            seq: self.levels.total(),
            timestamp,
            level,
            service,
            message,
        };
        keep_sample(stat, sample);
    }

    /// The index of template `id` in `templates`, which gets it on its first line.
    fn slot(&mut self, id: TemplateId, timestamp: DateTime<Utc>) -> usize {
        *self.scratch.slots.entry(id).or_insert_with(|| {
            self.templates.push(TemplateStat {
                id,
                family: id,
                template: String::new(),
                count: 0,
                levels: LevelCounts::default(),
                services: Vec::new(),
                first: timestamp,
                last: timestamp,
                // Most templates of a window have a few lines: one allocation holds them all.
                first_samples: Vec::with_capacity(SAMPLE_LINES),
                last_samples: Vec::new(),
            });
            self.templates.len() - 1
        })
    }

    fn span(&self) -> Duration {
        match (self.start, self.end) {
            (Some(start), Some(end)) => (end - start).to_std().unwrap_or_default(),
            _ => Duration::ZERO,
        }
    }

    fn finish(mut self, miner: &Miner, seq: u64, flush: FlushReason, seconds: f64) -> Digest {
        for stat in &mut self.templates {
            order_last_samples(stat);
        }
        self.scratch.first_ids.clear();
        self.scratch
            .first_ids
            .extend(self.templates.iter().map(|stat| stat.id));
        self.follow_merges(miner);
        for stat in &mut self.templates {
            if let Some((template, family)) = miner.template_and_family(stat.id) {
                stat.template = template;
                stat.family = family;
            }
            sort_services(stat);
        }
        self.templates
            .sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.id.cmp(&b.id)));
        self.index_notes(miner);
        let epoch = DateTime::<Utc>::UNIX_EPOCH;
        Digest {
            seq,
            start: self.start.unwrap_or(epoch),
            end: self.end.unwrap_or(epoch),
            log_count: self.levels.total(),
            flush,
            seconds,
            templates: self.templates,
            services: self.services,
            levels: self.levels,
            notes: self.notes,
        }
    }

    /// Sorts the services and points every note at its sorted service and template.
    fn index_notes(&mut self, miner: &Miner) {
        let most_lines_first = |a: &ServiceStat, b: &ServiceStat| {
            (b.levels.total().cmp(&a.levels.total())).then_with(|| a.name.cmp(&b.name))
        };
        let scratch = &mut *self.scratch;
        scratch.order.clear();
        scratch.order.extend(0..self.services.len() as u32);
        let services = &self.services;
        scratch
            .order
            .sort_by(|&a, &b| most_lines_first(&services[a as usize], &services[b as usize]));
        scratch.service_at.clear();
        scratch.service_at.resize(scratch.order.len(), 0);
        for (new, &old) in scratch.order.iter().enumerate() {
            scratch.service_at[old as usize] = new as u32;
        }
        // Names are unique, so the order is total and this sort lands where `order` says.
        self.services.sort_by(most_lines_first);
        scratch.slots.clear();
        for (i, stat) in self.templates.iter().enumerate() {
            scratch.slots.insert(stat.id, i);
        }
        // A template merged while the window filled has its lines under the one it went into.
        scratch.template_at.clear();
        for &id in &scratch.first_ids {
            let now = miner.resolve(id).unwrap_or(id);
            let at = scratch.slots.get(&now).copied().unwrap_or(0);
            scratch.template_at.push(at as u32);
        }
        for note in &mut self.notes {
            note.service = scratch.service_at[note.service as usize];
            note.template = scratch.template_at[note.template as usize];
        }
    }

    /// The miner may merge templates while the window fills: lines counted under a merged id
    /// are moved to the template that holds them now, so each template appears once.
    fn follow_merges(&mut self, miner: &Miner) {
        let mut moved = false;
        for stat in &mut self.templates {
            let now = miner.resolve(stat.id).unwrap_or(stat.id);
            moved |= now != stat.id;
            stat.id = now;
        }
        // Merges are rare; without one, every id is still a template of its own.
        if !moved {
            return;
        }
        let mut merged: Vec<TemplateStat> = Vec::with_capacity(self.templates.len());
        self.scratch.slots.clear();
        for stat in std::mem::take(&mut self.templates) {
            match self.scratch.slots.get(&stat.id) {
                Some(&i) => merge_into(&mut merged[i], stat),
                None => {
                    self.scratch.slots.insert(stat.id, merged.len());
                    merged.push(stat);
                }
            }
        }
        self.templates = merged;
    }
}

fn merge_into(into: &mut TemplateStat, from: TemplateStat) {
    into.count += from.count;
    into.levels.merge(&from.levels);
    into.first = into.first.min(from.first);
    into.last = into.last.max(from.last);
    // `from`'s samples point into `from.services`: point them into `into.services` instead.
    let mut moved = Vec::with_capacity(from.services.len());
    for (service, n) in from.services {
        let i = match into.services.iter().position(|(name, _)| *name == service) {
            Some(i) => i,
            None => {
                into.services.push((service, 0));
                into.services.len() - 1
            }
        };
        into.services[i].1 += n;
        moved.push(i);
    }
    let mut samples: Vec<Sample> = std::mem::take(&mut into.first_samples);
    samples.append(&mut into.last_samples);
    let from_samples = from.first_samples.into_iter().chain(from.last_samples);
    samples.extend(from_samples.map(|s| Sample {
        service: moved[s.service],
        ..s
    }));
    samples.sort_by_key(|s| s.seq);
    let late = samples.split_off(samples.len().min(SAMPLE_LINES));
    into.first_samples = samples;
    into.last_samples = late;
    let excess = into.last_samples.len().saturating_sub(SAMPLE_LINES);
    into.last_samples.drain(..excess);
}

/// Sorts a template's services, most lines first, keeping its samples pointing at theirs.
fn sort_services(stat: &mut TemplateStat) {
    // Most templates come from one service: nothing to sort, nothing to allocate.
    if stat.services.len() < 2 {
        return;
    }
    let mut order: Vec<usize> = (0..stat.services.len()).collect();
    order.sort_by(|&a, &b| {
        let (a, b) = (&stat.services[a], &stat.services[b]);
        b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0))
    });
    let mut new_index = vec![0; order.len()];
    for (new, &old) in order.iter().enumerate() {
        new_index[old] = new;
    }
    let mut services: Vec<Option<(String, u32)>> = std::mem::take(&mut stat.services)
        .into_iter()
        .map(Some)
        .collect();
    stat.services = order
        .iter()
        .filter_map(|&old| services[old].take())
        .collect();
    for sample in stat.first_samples.iter_mut().chain(&mut stat.last_samples) {
        sample.service = new_index[sample.service];
    }
}

/// Keeps a template's first [`SAMPLE_LINES`] lines and its latest ones. The latest live in
/// `last_samples` as a ring (the line after the first ones numbered `k` sits at
/// `k % SAMPLE_LINES`), which [`order_last_samples`] puts in order once the window is done.
fn keep_sample(stat: &mut TemplateStat, sample: Sample) {
    if stat.first_samples.len() < SAMPLE_LINES {
        stat.first_samples.push(sample);
    } else if stat.last_samples.len() < SAMPLE_LINES {
        // The ring fills up in one allocation.
        stat.last_samples.reserve_exact(SAMPLE_LINES);
        stat.last_samples.push(sample);
    } else {
        let late = stat.count as usize - SAMPLE_LINES - 1;
        stat.last_samples[late % SAMPLE_LINES] = sample;
    }
}

/// Turns the ring of [`keep_sample`] into the latest lines, oldest first.
fn order_last_samples(stat: &mut TemplateStat) {
    let late = stat.count as usize - stat.first_samples.len();
    if late > SAMPLE_LINES {
        stat.last_samples.rotate_left(late % SAMPLE_LINES);
    }
}

/// How a service is named in a digest: `unknown` for events that named none.
fn service_name(service: &str) -> &str {
    if service.is_empty() {
        UNKNOWN_SERVICE
    } else {
        service
    }
}

/// Counts a line of `service` for a template; returns the service's index in its services.
/// The event's own string becomes the entry when the service is new to the template.
fn count_template_service(services: &mut Vec<(String, u32)>, service: String) -> usize {
    let name = service_name(&service);
    if let Some(i) = services.iter().position(|(known, _)| known == name) {
        services[i].1 += 1;
        return i;
    }
    let owned = match service.is_empty() {
        true => UNKNOWN_SERVICE.to_owned(),
        false => service,
    };
    services.push((owned, 1));
    services.len() - 1
}

/// Counts a line of `service`; returns the service's position in `services`.
fn count_service(services: &mut Vec<ServiceStat>, service: &str, level: Level) -> u32 {
    match services.iter().position(|s| s.name == service) {
        Some(i) => {
            services[i].levels.add(level);
            i as u32
        }
        None => {
            let mut levels = LevelCounts::default();
            levels.add(level);
            services.push(ServiceStat {
                name: service.to_owned(),
                levels,
            });
            (services.len() - 1) as u32
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::Level;

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + secs, 0).unwrap()
    }

    fn batch(events: Vec<LogEvent>, flush: FlushReason) -> Batch {
        Batch {
            seq: 1,
            events,
            flush,
        }
    }

    #[test]
    fn counts_templates_services_and_levels() {
        let mut condenser = Condenser::new(MinerConfig::default(), Duration::from_secs(5));
        let mut events = Vec::new();
        for i in 0..7 {
            events.push(LogEvent::new(
                at(i % 3),
                "db",
                Level::Error,
                "Pool exhausted",
            ));
        }
        for i in 0..3 {
            let msg = format!("User {} logged in", 1000 + i);
            events.push(LogEvent::new(at(1), "auth", Level::Info, msg));
        }
        events.push(LogEvent::new(at(2), "", Level::Warn, "Disk almost full"));
        let digest = condenser.condense(batch(events, FlushReason::Size));

        assert_eq!(digest.log_count, 11);
        assert_eq!(digest.templates.len(), 3);
        let top = &digest.templates[0];
        assert_eq!((top.count, top.main_service()), (7, "db"));
        assert_eq!(top.levels.get(Level::Error), 7);
        assert_eq!((top.first, top.last), (at(0), at(2)));
        assert_eq!(top.example(), "Pool exhausted");
        assert_eq!(digest.templates[1].count, 3);
        assert!(digest.templates[1].template.contains("<*>"));
        assert_eq!(digest.templates[1].example(), "User 1000 logged in");
        let user = &digest.templates[1];
        assert_eq!(
            user.render(&user.first_samples[0]),
            "2023-11-14T22:13:21.000Z INFO auth: User 1000 logged in"
        );
        assert_eq!(top.first_samples.len(), 5);
        assert_eq!(top.last_samples.len(), 2, "7 lines: 5 first, 2 last");
        assert_eq!(digest.templates[2].main_service(), UNKNOWN_SERVICE);
        assert_eq!(digest.services[0].name, "db");
        assert_eq!(digest.levels.errors(), 7);
        assert_eq!((digest.start, digest.end), (at(0), at(2)));
        assert_eq!(digest.seconds, 2.0);
    }

    #[test]
    fn a_busy_template_keeps_its_first_and_its_latest_lines_in_order() {
        let mut condenser = Condenser::new(MinerConfig::default(), Duration::from_secs(5));
        let events = (0..13)
            .map(|n| LogEvent::new(at(n), "db", Level::Error, format!("timeout after {n}ms")))
            .collect();
        let digest = condenser.condense(batch(events, FlushReason::End));
        let stat = &digest.templates[0];
        let seqs = |samples: &[Sample]| samples.iter().map(|s| s.seq).collect::<Vec<_>>();
        assert_eq!(seqs(&stat.first_samples), [1, 2, 3, 4, 5]);
        assert_eq!(seqs(&stat.last_samples), [9, 10, 11, 12, 13]);
        assert_eq!(stat.last_samples[4].message, "timeout after 12ms");
    }

    #[test]
    fn templates_keep_their_ids_across_windows() {
        let mut condenser = Condenser::new(MinerConfig::default(), Duration::from_secs(5));
        let line =
            |n: i64| LogEvent::new(at(n), "db", Level::Error, format!("timeout after {n}ms"));
        let first = condenser.condense(batch(vec![line(1), line(2)], FlushReason::Size));
        let second = condenser.condense(batch(vec![line(3)], FlushReason::Time));
        assert_eq!(first.templates[0].id, second.templates[0].id);
        assert_eq!(
            second.seconds, 5.0,
            "a window closed on time stands for its age limit"
        );
    }

    #[test]
    fn templates_merged_while_the_window_fills_are_counted_once() {
        let mut condenser = Condenser::new(MinerConfig::default(), Duration::from_secs(5));
        let events = ["alice", "bob", "carol", "dave", "erin", "frank"]
            .iter()
            .map(|name| {
                let msg = format!("session closed for user {name} on console");
                LogEvent::new(at(0), "login", Level::Info, msg)
            })
            .collect();
        let digest = condenser.condense(batch(events, FlushReason::End));
        assert_eq!(digest.templates.len(), 1, "{:#?}", digest.templates);
        assert_eq!(digest.templates[0].count, 6);
        assert!(digest.templates[0].template.contains("<*>"));
        assert!(digest.templates[0].example().contains("alice"));
        let lines: Vec<String> = digest.templates[0].sample_lines().collect();
        assert_eq!(lines.len(), 6);
        assert!(
            lines[0].contains("alice") && lines[4].contains("erin"),
            "{lines:?}"
        );
        assert!(
            lines[5].contains("frank") && lines[5].contains("INFO login:"),
            "{lines:?}"
        );
        assert_eq!(digest.templates[0].last_samples.len(), 1);
    }

    #[test]
    fn every_line_is_noted_with_its_service_template_and_trace() {
        let mut condenser = Condenser::new(MinerConfig::default(), Duration::from_secs(5));
        let traced = |at: i64, service: &str, message: String, trace: &str| {
            let mut event = LogEvent::new(self::at(at), service, Level::Info, message);
            event.attributes.insert("trace_id".into(), trace.into());
            event
        };
        // Six users: the template generalizes while the window fills and its siblings merge.
        let mut events: Vec<LogEvent> = ["alice", "bob", "carol", "dave", "erin", "frank"]
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let message = format!("session closed for user {name} on console");
                traced(
                    i as i64,
                    "login",
                    message,
                    "4bf92f3577b34da6a3ce929d0e0e4736",
                )
            })
            .collect();
        events.push(traced(2, "db", "query took 4ms".into(), "0000000000000000"));
        events.push(traced(2, "db", "query took 9ms".into(), "null"));
        events.push(LogEvent::new(at(3), "db", Level::Error, "pool exhausted"));
        let digest = condenser.condense(batch(events, FlushReason::End));

        assert_eq!(digest.notes.len(), digest.log_count as usize);
        for note in &digest.notes {
            let stat = &digest.templates[note.template as usize];
            let service = &digest.services[note.service as usize].name;
            assert!(
                stat.services.iter().any(|(s, _)| s == service),
                "{note:?} points at {} of {service}",
                stat.template
            );
        }
        let login = &digest.notes[..6];
        assert!(
            login.iter().all(|n| n.template == login[0].template),
            "one template"
        );
        assert!(login[0].trace.is_some() && login.iter().all(|n| n.trace == login[0].trace));
        assert_eq!(digest.notes[6].trace, None, "an all-zero id is no trace");
        assert_eq!(digest.notes[7].trace, None, "nor is a placeholder");
        assert_eq!(digest.notes[8].trace, None, "nor a line without one");
        assert_eq!(digest.notes[8].level, Level::Error);
    }

    #[test]
    fn late_events_do_not_stretch_a_window_past_its_age_limit() {
        let mut condenser = Condenser::new(MinerConfig::default(), Duration::from_secs(5));
        let events = vec![
            LogEvent::new(at(3600), "db", Level::Error, "x"),
            LogEvent::new(at(0), "db", Level::Error, "x"),
        ];
        let digest = condenser.condense(batch(events, FlushReason::Size));
        assert_eq!(digest.seconds, 5.0);
    }

    #[test]
    fn a_window_within_one_second_counts_as_one_second() {
        let mut condenser = Condenser::new(MinerConfig::default(), Duration::from_secs(5));
        let events = vec![LogEvent::new(at(0), "db", Level::Error, "x"); 3];
        let digest = condenser.condense(batch(events, FlushReason::End));
        assert_eq!(digest.seconds, 1.0);
    }
}
