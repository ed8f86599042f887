//! The analysis stage: condense each batch, analyze the digest, correlate the report into
//! incidents.

use chrono::{DateTime, Utc};
use ic_core::incident::{Correlator, CorrelatorConfig, Incident, IncidentEvent};
use ic_core::miner::MinerConfig;
use ic_core::{AnalyzerConfig, Batch, BuiltinAnalyzer, Condenser, Report, WindowConfig};
use std::sync::Arc;
use std::time::Instant;

use ic_core::Digest;
use tokio::sync::mpsc;

use super::{Closed, Control, Held, Observer};
use crate::llm::{Analyst, Gate};

/// The condenser, the analyzer and the correlator, which all keep state from window to window.
#[derive(Debug)]
pub struct Engine {
    condenser: Condenser,
    analyzer: BuiltinAnalyzer,
    correlator: Correlator,
}

/// What the analysis of some windows produced.
#[derive(Debug, Default)]
pub struct Analyzed {
    /// One per window, in window order.
    pub reports: Vec<Report>,
    /// Incident transitions, in the order they happened.
    pub incidents: Vec<IncidentEvent>,
    /// Where the events of these windows came from, for sources waiting to hear that the
    /// windows are stored.
    pub origins: Vec<Held>,
}

impl Analyzed {
    /// Appends what a later analysis produced, keeping every order.
    pub fn absorb(&mut self, later: Analyzed) {
        self.reports.extend(later.reports);
        self.incidents.extend(later.incidents);
        self.origins.extend(later.origins);
    }
}

impl Engine {
    pub fn new(window: WindowConfig, correlator: CorrelatorConfig) -> Self {
        Self {
            condenser: Condenser::new(MinerConfig::default(), window.max_age),
            analyzer: BuiltinAnalyzer::new(AnalyzerConfig::default()),
            correlator: Correlator::new(correlator),
        }
    }

    /// Continues the incidents of an earlier run (open ones, and recent ones for "seen before").
    /// Resolves this instance's copy of an incident an operator resolved: the one with its
    /// id, or else the open one with its fingerprint.
    fn resolve_by_hand(&mut self, id: &str, fingerprint: &str) -> Option<IncidentEvent> {
        let open = self.correlator.open_incidents();
        let copy = open
            .iter()
            .find(|i| i.id == id)
            .or_else(|| open.iter().find(|i| i.fingerprint == fingerprint))?
            .id
            .clone();
        self.correlator.resolve_by_hand(&copy, Utc::now())
    }

    pub fn restore(&mut self, incidents: Vec<Incident>) {
        self.correlator.restore(incidents);
    }

    /// Condenses, analyzes and correlates one window into `out`; returns the digest for
    /// whoever wants more of it than the report.
    fn process(&mut self, batch: Batch, out: &mut Analyzed) -> Digest {
        let digest = self.condenser.condense(batch);
        let report = self.analyzer.analyze(&digest);
        out.incidents
            .extend(self.correlator.observe(&report, &digest));
        tracing::debug!(
            window = report.window.seq,
            events = report.window.log_count,
            severity = %report.severity,
            "Window analyzed."
        );
        out.reports.push(report);
        digest
    }

    /// Puts an LLM's version of a report in its place: in `out`, and in the incident it
    /// revises.
    fn revise(&mut self, revision: Revision, out: &mut Analyzed) {
        if let Some(id) = &revision.incident {
            out.incidents
                .extend(self.correlator.revise(id, &revision.report));
        }
        out.reports.push(revision.report);
    }
}

/// LLM analysis in the stage.
pub struct LlmStage {
    pub analyst: Arc<Analyst>,
    pub gate: Gate,
    pub mode: LlmMode,
}

/// Whether a window waits for its LLM call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LlmMode {
    /// `analyze`: each window's report is complete before the next window, so the output is
    /// the LLM's (or a fallback) and in order.
    Wait,
    /// `serve`: the built-in report goes out at once; the LLM's replaces it when it comes.
    Background,
}

/// An LLM's version of a window's report, and the incident it revises.
#[derive(Debug)]
struct Revision {
    report: Report,
    incident: Option<String>,
}

/// Revisions from calls in flight waiting for the stage.
const REVISION_QUEUE: usize = 16;

/// The background calls of a live stage: each holds a sender, so the channel closes when the
/// stage has dropped its own and the last call has answered.
struct InFlight {
    tx: mpsc::Sender<Revision>,
    rx: mpsc::Receiver<Revision>,
}

impl InFlight {
    fn new() -> Self {
        let (tx, rx) = mpsc::channel(REVISION_QUEUE);
        Self { tx, rx }
    }
}

/// How the stage resolves incidents when no report comes: live, by the wall clock; in a
/// replay, only the reports' own times move time on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    WallClock,
    ReportsOnly,
}

/// The analysis stage and what it reports to.
pub struct Stage {
    pub engine: Engine,
    pub expiry: Expiry,
    pub observer: Arc<dyn Observer>,
    pub control: Option<mpsc::Receiver<Control>>,
    pub llm: Option<LlmStage>,
}

impl Stage {
    pub async fn run(
        mut self,
        mut input: mpsc::Receiver<Vec<Closed>>,
        output: mpsc::Sender<Analyzed>,
    ) {
        let mut in_flight = InFlight::new();
        let mut clock = ReportClock::default();
        // After a restart, quiet counts from the newest restored incident: a backlog waiting
        // in the stream gets its chance to update them before they resolve.
        let restored = self.engine.correlator.open_incidents().iter();
        if let Some(newest) = restored.map(|i| i.last_seen).max() {
            clock.moved_to(newest);
        }
        loop {
            let deadline = match self.expiry {
                Expiry::WallClock => self
                    .engine
                    .correlator
                    .next_deadline()
                    .map(|at| clock.instant_of(at)),
                Expiry::ReportsOnly => None,
            };
            let mut out = Analyzed::default();
            tokio::select! {
                batches = input.recv() => {
                    let Some(batches) = batches else { break };
                    self.observer.analyzing(true);
                    for closed in batches {
                        let window = closed.batch.seq;
                        self.window(closed.batch, &mut out, &in_flight).await;
                        if !closed.origins.is_empty() {
                            out.origins.push(Held { window, origins: closed.origins });
                        }
                    }
                    self.observer.analyzing(false);
                    clock.observed(&out.reports);
                }
                Some(revision) = in_flight.rx.recv() => self.apply(revision, &mut out),
                () = sleep_until(deadline) => {
                    out.incidents = self.engine.correlator.expire(clock.now());
                }
                Some(control) = next_control(&mut self.control) => match control {
                    Control::Resolved { id, fingerprint } => {
                        out.incidents.extend(self.engine.resolve_by_hand(&id, &fingerprint));
                    }
                },
            }
            if !send(&output, out).await {
                return;
            }
        }
        self.finish_calls(in_flight, &output).await;
    }

    /// One window: analyzed, correlated, and sent to the LLM when it is worth a call.
    async fn window(&mut self, batch: Batch, out: &mut Analyzed, in_flight: &InFlight) {
        let started = Instant::now();
        let events_before = out.incidents.len();
        let digest = self.engine.process(batch, out);
        let report = out.reports.last().expect("process adds a report");
        self.observer.report(report, started.elapsed());
        let Some(llm) = &mut self.llm else { return };
        let Some(ask) = llm.gate.ask(report, &out.incidents[events_before..]) else {
            return;
        };
        let prepared = llm.analyst.prepare(&digest, report);
        let analyst = Arc::clone(&llm.analyst);
        match llm.mode {
            LlmMode::Wait => {
                out.reports.pop();
                let report = analyst.write(prepared).await;
                let revision = Revision {
                    report,
                    incident: ask.incident,
                };
                self.apply(revision, out);
            }
            LlmMode::Background => {
                let tx = in_flight.tx.clone();
                tokio::spawn(async move {
                    let report = analyst.write(prepared).await;
                    let revision = Revision {
                        report,
                        incident: ask.incident,
                    };
                    // The stage is gone only when shutting down without waiting.
                    let _ = tx.send(revision).await;
                });
            }
        }
    }

    /// An LLM call's outcome: its report in place of the built-in one. A call that gave no
    /// answer (busy, circuit open, timeout…) does not count as asked, so the incident's next
    /// window may try again.
    fn apply(&mut self, revision: Revision, out: &mut Analyzed) {
        let fell_back = revision
            .report
            .analyzer
            .starts_with(ic_core::report::BUILTIN);
        if let (true, Some(llm), Some(id)) = (fell_back, &mut self.llm, &revision.incident) {
            llm.gate.forget(id);
        }
        self.engine.revise(revision, out);
    }

    /// Once the input is done, the answers of calls still in flight (each bounded by its
    /// timeout) are applied before the stage ends.
    async fn finish_calls(&mut self, in_flight: InFlight, output: &mpsc::Sender<Analyzed>) {
        let InFlight { tx, mut rx } = in_flight;
        drop(tx);
        while let Some(revision) = rx.recv().await {
            let mut out = Analyzed::default();
            self.apply(revision, &mut out);
            if !send(output, out).await {
                return;
            }
        }
    }
}

/// Passes on what is not empty; false once nobody reads.
async fn send(output: &mpsc::Sender<Analyzed>, out: Analyzed) -> bool {
    let empty = out.reports.is_empty() && out.incidents.is_empty() && out.origins.is_empty();
    empty || output.send(out).await.is_ok()
}

/// The next control message; never, without a control channel or once it closed.
async fn next_control(control: &mut Option<mpsc::Receiver<Control>>) -> Option<Control> {
    match control {
        Some(rx) => match rx.recv().await {
            Some(message) => Some(message),
            None => {
                *control = None;
                std::future::pending().await
            }
        },
        None => std::future::pending().await,
    }
}

/// Sleeps until a wall-clock time; forever for `None`.
async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// The live stage's time for resolving incidents: the newest report's time, moved on by the
/// wall clock since it came. Reports carry their events' times, and a backlog read late (a
/// stream that waited for its readers, a shipper catching up) has times well behind the wall
/// clock: measured against the wall clock, its incidents would resolve between two of its
/// windows and reopen at the next.
#[derive(Debug, Default)]
struct ReportClock {
    newest: Option<(DateTime<Utc>, tokio::time::Instant)>,
}

impl ReportClock {
    fn observed(&mut self, reports: &[Report]) {
        if let Some(end) = reports.iter().map(|r| r.window.end).max() {
            self.moved_to(end);
        }
    }

    /// Moves the clock to `at` if that is ahead of it: it never goes back, and never ahead of
    /// the wall clock (a host whose clock runs fast must not resolve the others' incidents
    /// early).
    fn moved_to(&mut self, at: DateTime<Utc>) {
        let at = at.min(Utc::now());
        if self.newest.is_none() || at > self.now() {
            self.newest = Some((at, tokio::time::Instant::now()));
        }
    }

    fn now(&self) -> DateTime<Utc> {
        match self.newest {
            Some((newest, at)) => {
                newest + chrono::TimeDelta::from_std(at.elapsed()).unwrap_or_default()
            }
            None => Utc::now(),
        }
    }

    /// When this clock reads `at`.
    fn instant_of(&self, at: DateTime<Utc>) -> tokio::time::Instant {
        let (newest, base) = self
            .newest
            .unwrap_or_else(|| (Utc::now(), tokio::time::Instant::now()));
        base + (at - newest).to_std().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use chrono::TimeDelta;

    use super::*;

    fn ending_at(end: DateTime<Utc>) -> Report {
        ic_core::testing::report(1, end, 1)
    }

    #[tokio::test(start_paused = true)]
    async fn a_backlog_keeps_its_own_time_and_the_wall_clock_moves_it_on() {
        let mut clock = ReportClock::default();
        let hour_ago = Utc::now() - TimeDelta::hours(1);
        clock.observed(&[ending_at(hour_ago)]);
        tokio::time::advance(Duration::from_secs(3)).await;
        assert_eq!(clock.now(), hour_ago + TimeDelta::seconds(3));
        // An incident last seen in the backlog resolves two minutes later on this clock.
        let due = clock.instant_of(hour_ago + TimeDelta::seconds(120));
        assert_eq!(due - tokio::time::Instant::now(), Duration::from_secs(117));
        // A report older than the clock's time does not move it back, even one newer than
        // the last report.
        clock.observed(&[ending_at(hour_ago + TimeDelta::seconds(1))]);
        assert_eq!(clock.now(), hour_ago + TimeDelta::seconds(3));
    }

    #[tokio::test(start_paused = true)]
    async fn a_report_from_the_future_does_not_move_it_past_the_wall_clock() {
        let mut clock = ReportClock::default();
        clock.observed(&[ending_at(Utc::now() + TimeDelta::hours(2))]);
        assert!(clock.now() <= Utc::now());
    }
}
