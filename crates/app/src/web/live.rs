//! What the dashboard shows live: counters, rates, the system status, a sample of the newest
//! lines, and the hub that broadcasts them with incident transitions.
//!
//! The pipeline never waits for a reader: the hub is a broadcast channel, and a reader that
//! falls behind skips messages (the SSE stream then sends a fresh snapshot).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use ic_core::incident::{IncidentEvent, IncidentStatus};
use ic_core::{Level, LogEvent, Report, Severity};
use serde::Serialize;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::metrics as metrics_names;
use crate::pipeline::{Observer, SharedCounters};
use crate::sources::demo::{DemoControl, DemoState};

/// Messages a slow reader may fall behind by before it skips.
const HUB_CAPACITY: usize = 256;
/// Sample lines kept between two publications.
const SAMPLE_LINES: usize = 40;
/// Lines of one chunk considered for the sample: the newest ones.
const SAMPLE_PER_CHUNK: usize = 10;
/// How often the sample of lines is published.
const LINES_EVERY: Duration = Duration::from_millis(250);
/// How often the stats are published.
const STATS_EVERY: Duration = Duration::from_secs(1);

/// One line of the raw log stream.
#[derive(Debug, Clone, Serialize)]
pub struct LineSample {
    pub timestamp: DateTime<Utc>,
    pub level: Level,
    pub service: String,
    pub message: String,
}

/// The system at a glance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum SystemStatus {
    /// No open incident.
    Normal,
    /// Open Warning incidents only.
    Degraded,
    /// An open Critical incident.
    Meltdown,
}

/// `GET /api/stats` and the `stats` event.
#[derive(Debug, Clone, Serialize)]
pub struct Stats {
    pub logs_processed: u64,
    pub lines_per_second: f64,
    pub errors_per_second: f64,
    pub open_incidents: usize,
    pub status: SystemStatus,
    /// Lines analyzed per template line reported, over the whole run.
    pub noise_reduction: f64,
    pub analyzing: bool,
    pub demo: Option<DemoState>,
}

/// What the hub broadcasts.
#[derive(Debug, Clone)]
pub enum HubMessage {
    Stats(Stats),
    Incident(Arc<IncidentEvent>),
    Lines(Vec<LineSample>),
}

/// Shared live state: written by the pipeline, read by the web server.
pub struct Live {
    counters: SharedCounters,
    demo: Option<DemoControl>,
    hub: broadcast::Sender<HubMessage>,
    sample: Mutex<VecDeque<LineSample>>,
    errors: AtomicU64,
    analyzing: AtomicBool,
    windows_lines: AtomicU64,
    windows_templates: AtomicU64,
    /// The open incidents shown, with their severity and how many windows they held.
    open: Mutex<HashMap<String, Shown>>,
    rates: Mutex<Rates>,
}

/// The last published totals, to turn counts into rates.
#[derive(Debug, Clone, Copy)]
struct Shown {
    severity: Severity,
    windows: u64,
}

#[derive(Default)]
struct Rates {
    lines: u64,
    errors: u64,
    lines_per_second: f64,
    errors_per_second: f64,
}

impl Live {
    pub fn new(counters: SharedCounters, demo: Option<DemoControl>) -> Arc<Self> {
        Arc::new(Self {
            counters,
            demo,
            hub: broadcast::channel(HUB_CAPACITY).0,
            sample: Mutex::new(VecDeque::with_capacity(SAMPLE_LINES)),
            errors: AtomicU64::new(0),
            analyzing: AtomicBool::new(false),
            windows_lines: AtomicU64::new(0),
            windows_templates: AtomicU64::new(0),
            open: Mutex::new(HashMap::new()),
            rates: Mutex::new(Rates::default()),
        })
    }

    pub fn demo(&self) -> Option<&DemoControl> {
        self.demo.as_ref()
    }

    pub fn subscribe(&self) -> broadcast::Receiver<HubMessage> {
        self.hub.subscribe()
    }

    /// Sees a chunk of events on its way to the window: counts errors, keeps the newest lines.
    fn observe_chunk(&self, events: &[LogEvent]) {
        let errors = events.iter().filter(|e| e.level.is_error()).count();
        self.errors.fetch_add(errors as u64, Ordering::Relaxed);
        let newest = &events[events.len().saturating_sub(SAMPLE_PER_CHUNK)..];
        let mut sample = self.sample.lock().unwrap_or_else(|e| e.into_inner());
        for event in newest {
            if sample.len() == SAMPLE_LINES {
                sample.pop_front();
            }
            sample.push_back(LineSample {
                timestamp: event.timestamp,
                level: event.level,
                service: event.service.clone(),
                message: event.message.clone(),
            });
        }
    }

    /// Follows an incident transition and broadcasts it.
    pub fn publish_incident(&self, event: &IncidentEvent) {
        {
            let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
            match event.incident.status {
                IncidentStatus::Open => open.insert(
                    event.incident.id.clone(),
                    Shown {
                        severity: event.incident.severity,
                        windows: event.incident.windows,
                    },
                ),
                IncidentStatus::Resolved => open.remove(&event.incident.id),
            };
            for severity in [Severity::Info, Severity::Warning, Severity::Critical] {
                let n = open.values().filter(|s| s.severity == severity).count();
                metrics::gauge!(metrics_names::OPEN_INCIDENTS, "severity" => severity.as_str())
                    .set(n as f64);
            }
        }
        let _ = self.hub.send(HubMessage::Incident(Arc::new(event.clone())));
    }

    /// The open incidents at start (restored from the store).
    pub fn track_open<'a>(
        &self,
        incidents: impl IntoIterator<Item = &'a ic_core::incident::Incident>,
    ) {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        for incident in incidents {
            if incident.status == IncidentStatus::Open {
                let shown = Shown {
                    severity: incident.severity,
                    windows: incident.windows,
                };
                open.insert(incident.id.clone(), shown);
            }
        }
    }

    /// The open incidents shown, with how many windows each held.
    pub fn shown_open(&self) -> HashMap<String, u64> {
        let open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        open.iter().map(|(id, s)| (id.clone(), s.windows)).collect()
    }

    pub fn stats(&self) -> Stats {
        let (open_incidents, status) = {
            let open = self.open.lock().unwrap_or_else(|e| e.into_inner());
            let worst = open.values().map(|s| s.severity).max();
            let status = match worst {
                Some(Severity::Critical) => SystemStatus::Meltdown,
                Some(_) => SystemStatus::Degraded,
                None => SystemStatus::Normal,
            };
            (open.len(), status)
        };
        let rates = self.rates.lock().unwrap_or_else(|e| e.into_inner());
        let templates = self.windows_templates.load(Ordering::Relaxed);
        let lines = self.windows_lines.load(Ordering::Relaxed);
        Stats {
            logs_processed: self.counters.lines(),
            lines_per_second: rates.lines_per_second,
            errors_per_second: rates.errors_per_second,
            open_incidents,
            status,
            noise_reduction: if templates == 0 {
                1.0
            } else {
                (lines as f64 / templates as f64 * 10.0).round() / 10.0
            },
            analyzing: self.analyzing.load(Ordering::Relaxed),
            demo: self.demo.as_ref().map(|d| *d.borrow()),
        }
    }

    /// Updates the rates from the totals seen `elapsed` after the last update.
    fn tick_rates(&self, elapsed: Duration) {
        let lines = self.counters.lines();
        let errors = self.errors.load(Ordering::Relaxed);
        let secs = elapsed.as_secs_f64().max(1e-3);
        let mut rates = self.rates.lock().unwrap_or_else(|e| e.into_inner());
        rates.lines_per_second = ((lines - rates.lines) as f64 / secs * 10.0).round() / 10.0;
        rates.errors_per_second = ((errors - rates.errors) as f64 / secs * 10.0).round() / 10.0;
        rates.lines = lines;
        rates.errors = errors;
    }

    fn take_sample(&self) -> Vec<LineSample> {
        let mut sample = self.sample.lock().unwrap_or_else(|e| e.into_inner());
        sample.drain(..).collect()
    }
}

/// Publishes the stats every second and the sample of lines a few times a second, until
/// `stop` fires.
pub async fn publish(live: Arc<Live>, stop: CancellationToken) {
    let mut stats = tokio::time::interval(STATS_EVERY);
    let mut lines = tokio::time::interval(LINES_EVERY);
    let mut last = tokio::time::Instant::now();
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            now = stats.tick() => {
                live.tick_rates(now - last);
                last = now;
                let _ = live.hub.send(HubMessage::Stats(live.stats()));
            }
            _ = lines.tick() => {
                let sample = live.take_sample();
                if !sample.is_empty() {
                    let _ = live.hub.send(HubMessage::Lines(sample));
                }
            }
        }
    }
}

impl Observer for Live {
    fn chunk(&self, events: &[LogEvent]) {
        self.observe_chunk(events);
    }

    fn analyzing(&self, on: bool) {
        self.analyzing.store(on, Ordering::Relaxed);
    }

    fn report(&self, report: &Report, took: Duration) {
        self.windows_lines
            .fetch_add(u64::from(report.window.log_count), Ordering::Relaxed);
        self.windows_templates
            .fetch_add(report.templates.len() as u64, Ordering::Relaxed);
        metrics::counter!(metrics_names::WINDOWS, "flush" => report.window.flush.as_str())
            .increment(1);
        metrics::histogram!(metrics_names::ANALYSIS_SECONDS).record(took.as_secs_f64());
    }
}
