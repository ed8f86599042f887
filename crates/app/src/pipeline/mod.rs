//! The pipeline's async shells: sources feed the bounded ingest channel; the window stage cuts
//! the stream into batches; the analysis stage condenses and analyzes each batch.
//!
//! Shutdown signals the sources only. Each later stage ends when its input ends, after
//! passing on everything it holds, so a stopped pipeline has flushed its open window.

mod analysis;
pub mod sink;
mod window_stage;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ic_core::{LogEvent, Report, WindowConfig};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

pub use analysis::{Analyzed, Engine, Expiry, LlmMode, LlmStage};
pub use window_stage::{ArrivalTime, Closed, EventTime, Timeline};

/// Events travel in chunks: one channel operation per chunk, not per line.
pub type Chunk = Vec<LogEvent>;

/// What the ingest channel carries: a chunk, and where its events came from when their source
/// must hear that they are stored (a stream message is acknowledged only then).
#[derive(Debug, Default)]
pub struct Envelope {
    pub events: Chunk,
    /// Cover `events` in order; empty for sources that need no word back.
    pub origins: Vec<Origin>,
}

impl From<Chunk> for Envelope {
    fn from(events: Chunk) -> Self {
        Self {
            events,
            origins: Vec::new(),
        }
    }
}

/// A run of consecutive events from one source message.
#[derive(Debug, Clone)]
pub struct Origin {
    pub receipt: Arc<dyn Receipt>,
    /// Where the run starts among the message's events (0 for its first event): the store
    /// counts each event of a message once, whoever else was delivered it too.
    pub first: u64,
    pub events: u64,
}

/// The origins of one window's events, by the window's sequence number: the store counts
/// what a window holds of each message with the window.
#[derive(Debug)]
pub struct Held {
    pub window: u64,
    pub origins: Vec<Origin>,
}

impl Held {
    /// Every origin of `held`.
    pub fn all(held: &[Held]) -> impl Iterator<Item = &Origin> {
        held.iter().flat_map(|h| &h.origins)
    }
}

/// A source message that must hear when its events are in stored windows.
pub trait Receipt: Send + Sync + std::fmt::Debug {
    /// The stream and sequence number the windows' record names it by, so that a message
    /// delivered again skips what is already counted.
    fn key(&self) -> (&str, u64);
    /// `events` more of its events are in stored windows.
    fn stored(&self, events: u64);
    /// Windows holding some of its events could not be stored.
    fn failed(&self);
}

/// A source sends at most this many events per chunk.
pub const CHUNK_EVENTS: usize = 1024;
/// Chunks the ingest channel holds before sources must wait; with [`CHUNK_EVENTS`] this bounds
/// the events in flight.
const INGEST_CHUNKS: usize = 64;
/// Groups of closed windows waiting for analysis (a group: the windows one chunk closed).
const BATCH_QUEUE: usize = 4;
/// Groups of reports waiting for their reader: enough for analysis to go on while the reader
/// stores the last ones (it then takes all that wait at once).
const REPORT_QUEUE: usize = 32;

/// The bounded channel every source sends into.
pub fn ingest_channel() -> (mpsc::Sender<Envelope>, mpsc::Receiver<Envelope>) {
    mpsc::channel(INGEST_CHUNKS)
}

/// Counts kept by the sources and read by summaries.
#[derive(Debug, Default)]
pub struct Counters {
    /// Raw lines read, before multi-line events are joined.
    lines: AtomicU64,
    /// Events sent into the ingest channel.
    events: AtomicU64,
}

impl Counters {
    /// Counts what `source` (`demo`, `stdin`, `file`) sent into the ingest channel.
    pub fn add(&self, source: &'static str, lines: u64, events: u64) {
        self.lines.fetch_add(lines, Ordering::Relaxed);
        self.events.fetch_add(events, Ordering::Relaxed);
        metrics::counter!(crate::metrics::LINES_INGESTED, "source" => source).increment(lines);
    }

    pub fn lines(&self) -> u64 {
        self.lines.load(Ordering::Relaxed)
    }

    pub fn events(&self) -> u64 {
        self.events.load(Ordering::Relaxed)
    }
}

pub type SharedCounters = Arc<Counters>;

/// Watches the pipeline without ever slowing it: the dashboard's live view implements it.
pub trait Observer: Send + Sync + 'static {
    /// A chunk of events on its way into the window.
    fn chunk(&self, _events: &[LogEvent]) {}
    /// The analysis stage starts (true) or finishes (false) a group of windows.
    fn analyzing(&self, _on: bool) {}
    /// A window's report, and how long condensing and analyzing its window took.
    fn report(&self, _report: &Report, _took: Duration) {}
}

/// Watching nothing.
impl Observer for () {}

/// What reaches the analysis stage from outside the data flow.
#[derive(Debug)]
pub enum Control {
    /// An operator resolved this incident by hand. The correlator's copy of it may have
    /// another id (another instance opened it): the fingerprint finds it then.
    Resolved { id: String, fingerprint: String },
}

/// The extras of a pipeline: an observer, the control channel, an LLM analyst.
pub struct Hooks {
    pub observer: Arc<dyn Observer>,
    pub control: Option<mpsc::Receiver<Control>>,
    pub llm: Option<LlmStage>,
}

impl Default for Hooks {
    fn default() -> Self {
        Self {
            observer: Arc::new(()),
            control: None,
            llm: None,
        }
    }
}

/// Starts the window and analysis stages on `ingest`; reports and incident transitions come
/// out of the returned channel, in order and in groups, which closes once the ingest channel
/// has closed and everything was analyzed.
pub fn spawn<T: Timeline>(
    ingest: mpsc::Receiver<Envelope>,
    window: WindowConfig,
    timeline: T,
    engine: Engine,
    hooks: Hooks,
) -> anyhow::Result<(mpsc::Receiver<Analyzed>, JoinHandle<()>)> {
    let window = ic_core::TumblingWindow::new(window)?;
    let (batch_tx, batch_rx) = mpsc::channel(BATCH_QUEUE);
    let (report_tx, report_rx) = mpsc::channel(REPORT_QUEUE);
    let observer = hooks.observer;
    let windows = tokio::spawn(window_stage::run(
        ingest,
        batch_tx,
        window,
        timeline,
        observer.clone(),
    ));
    let stage = analysis::Stage {
        engine,
        expiry: T::EXPIRY,
        observer,
        control: hooks.control,
        llm: hooks.llm,
    };
    let analysis = tokio::spawn(stage.run(batch_rx, report_tx));
    let both = tokio::spawn(async move {
        for (stage, result) in [("window", windows.await), ("analysis", analysis.await)] {
            if let Err(err) = result {
                tracing::error!(%stage, %err, "Pipeline stage failed.");
            }
        }
    });
    Ok((report_rx, both))
}
