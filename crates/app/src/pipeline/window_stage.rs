//! The window stage: an event, a tick or the end (in the manner of Vector's expiration map).

use std::future::Future;
use std::ops::Add;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use ic_core::{Batch, FlushReason, LogEvent, TumblingWindow};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::{Envelope, Expiry, Observer, Origin, Receipt};

/// Which clock the window runs on.
pub trait Timeline: Send + Sync + 'static {
    type Time: Copy + Ord + Add<Duration, Output = Self::Time> + Send + Sync + 'static;

    /// How quiet incidents resolve on this clock.
    const EXPIRY: Expiry;

    /// The time an event counts at.
    fn stamp(&self, event: &LogEvent) -> Self::Time;

    /// The current time, for a window whose deadline passed with no event.
    fn now(&self) -> Self::Time;

    /// Completes at `deadline`; never, for a clock that only events move.
    fn sleep_until(&self, deadline: Self::Time) -> impl Future<Output = ()> + Send;
}

/// Live: an event counts when it arrives, and windows close on a timer.
#[derive(Debug, Clone, Copy, Default)]
pub struct ArrivalTime;

impl Timeline for ArrivalTime {
    type Time = Instant;
    const EXPIRY: Expiry = Expiry::WallClock;

    fn stamp(&self, _: &LogEvent) -> Instant {
        Instant::now()
    }

    fn now(&self) -> Instant {
        Instant::now()
    }

    fn sleep_until(&self, deadline: Instant) -> impl Future<Output = ()> + Send {
        tokio::time::sleep_until(deadline)
    }
}

/// Replay: an event counts at its own timestamp; only events move time forward.
#[derive(Debug, Clone, Copy, Default)]
pub struct EventTime;

impl Timeline for EventTime {
    type Time = DateTime<Utc>;
    const EXPIRY: Expiry = Expiry::ReportsOnly;

    fn stamp(&self, event: &LogEvent) -> DateTime<Utc> {
        event.timestamp
    }

    fn now(&self) -> DateTime<Utc> {
        DateTime::<Utc>::MIN_UTC
    }

    fn sleep_until(&self, _: DateTime<Utc>) -> impl Future<Output = ()> + Send {
        std::future::pending()
    }
}

/// A closed window and where its events came from.
#[derive(Debug)]
pub struct Closed {
    pub batch: Batch,
    /// Runs of its events that a source must hear about once the window is stored.
    pub origins: Vec<Origin>,
}

/// Cuts the stream into batches. The batches one chunk of events closes travel together:
/// one hand-over per chunk rather than per window, which matters when a replayed file closes
/// a window every few lines.
pub async fn run<T: Timeline>(
    mut input: mpsc::Receiver<Envelope>,
    output: mpsc::Sender<Vec<Closed>>,
    mut window: TumblingWindow<T::Time>,
    timeline: T,
    observer: Arc<dyn Observer>,
) {
    // Origins of the open window's events.
    let mut open: Vec<Origin> = Vec::new();
    loop {
        let deadline = window.deadline();
        let timer = async {
            match deadline {
                Some(at) => timeline.sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        let closed: Vec<Closed> = tokio::select! {
            envelope = input.recv() => {
                let Some(envelope) = envelope else { break };
                observer.chunk(&envelope.events);
                push_all(&mut window, &timeline, envelope, &mut open)
            }
            () = timer => window
                .close_due(timeline.now())
                .map(|batch| closed(batch, &mut open))
                .into_iter()
                .collect(),
        };
        if !closed.is_empty() && output.send(closed).await.is_err() {
            return;
        }
    }
    if let Some(batch) = window.flush() {
        let _ = output.send(vec![closed(batch, &mut open)]).await;
    }
}

/// How far ahead of the wall clock an event's own time may be. Hosts' clocks drift by seconds,
/// not minutes; a time further ahead (a broken clock, `9999-12-31T23:59:59Z`) would keep its
/// incident open until that time comes, so such an event counts at its arrival instead. Times
/// in the past are left alone: a backfill or a late backlog is old on purpose.
const MAX_AHEAD: chrono::TimeDelta = chrono::TimeDelta::minutes(5);

/// Moves an event stamped after `limit` (its arrival plus [`MAX_AHEAD`]) to `now`; says
/// whether it did. A comparison per event: the limit is computed once per envelope.
fn clamp_future(event: &mut LogEvent, limit: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    if event.timestamp <= limit {
        return false;
    }
    event.timestamp = now;
    true
}

/// Pushes an envelope's events; returns the windows they close, each with its origins.
fn push_all<T: Timeline>(
    window: &mut TumblingWindow<T::Time>,
    timeline: &T,
    envelope: Envelope,
    open: &mut Vec<Origin>,
) -> Vec<Closed> {
    // Most sources ask for no word back: their events skip the walk.
    let mut origins = (!envelope.origins.is_empty()).then(|| Origins::new(envelope.origins));
    let mut done = Vec::new();
    let now = Utc::now();
    let limit = now + MAX_AHEAD;
    let mut ahead = 0u64;
    for mut event in envelope.events {
        ahead += u64::from(clamp_future(&mut event, limit, now));
        if window.is_empty() {
            tracing::debug!("Window opened.");
        }
        let from = origins.as_mut().and_then(Origins::next_event);
        let at = timeline.stamp(&event);
        let mut noted = false;
        for batch in window.push(event, at) {
            // A window closed on time does not hold the new event; one closed on size does.
            if batch.flush == FlushReason::Size && !noted {
                note(open, from);
                noted = true;
            }
            done.push(closed(batch, open));
        }
        if !noted {
            note(open, from);
        }
    }
    if ahead > 0 {
        metrics::counter!(crate::metrics::TIMESTAMPS_AHEAD).increment(ahead);
    }
    done
}

fn closed(batch: Batch, open: &mut Vec<Origin>) -> Closed {
    Closed {
        batch,
        origins: std::mem::take(open),
    }
}

/// Adds one event (`from`: its receipt and its place among the message's events) to the open
/// window's origins.
fn note(open: &mut Vec<Origin>, from: Option<(&Arc<dyn Receipt>, u64)>) {
    let Some((receipt, index)) = from else { return };
    match open.last_mut() {
        Some(last) if Arc::ptr_eq(&last.receipt, receipt) && last.first + last.events == index => {
            last.events += 1;
        }
        _ => open.push(Origin {
            receipt: Arc::clone(receipt),
            first: index,
            events: 1,
        }),
    }
}

/// Walks an envelope's origins one event at a time.
struct Origins {
    runs: std::vec::IntoIter<Origin>,
    current: Option<Origin>,
    /// The current run's events handed out so far.
    taken: u64,
}

impl Origins {
    fn new(origins: Vec<Origin>) -> Self {
        Self {
            runs: origins.into_iter(),
            current: None,
            taken: 0,
        }
    }

    /// The receipt of the next event and its place among its message's events, if its
    /// source asked for one.
    fn next_event(&mut self) -> Option<(&Arc<dyn Receipt>, u64)> {
        while self
            .current
            .as_ref()
            .is_none_or(|run| self.taken == run.events)
        {
            self.current = Some(self.runs.next()?);
            self.taken = 0;
        }
        let run = self.current.as_ref()?;
        self.taken += 1;
        Some((&run.receipt, run.first + self.taken - 1))
    }
}

#[cfg(test)]
mod tests {
    use ic_core::{FlushReason, Level, WindowConfig};

    use super::*;

    fn one(closed: Option<Vec<Closed>>) -> Batch {
        let mut closed = closed.expect("a batch");
        assert_eq!(closed.len(), 1, "{closed:?}");
        closed.pop().unwrap().batch
    }

    fn event(n: u32) -> LogEvent {
        LogEvent::new(Utc::now(), "svc", Level::Info, n.to_string())
    }

    fn start(max_events: usize) -> (mpsc::Sender<Envelope>, mpsc::Receiver<Vec<Closed>>) {
        let (in_tx, in_rx) = mpsc::channel(4);
        let (out_tx, out_rx) = mpsc::channel(4);
        let config = WindowConfig {
            max_events,
            max_age: Duration::from_secs(5),
        };
        let window = TumblingWindow::new(config).unwrap();
        tokio::spawn(run(in_rx, out_tx, window, ArrivalTime, Arc::new(())));
        (in_tx, out_rx)
    }

    /// A stage on the events' own clock, with the default window.
    fn start_on_event_time() -> (mpsc::Sender<Envelope>, mpsc::Receiver<Vec<Closed>>) {
        let (in_tx, in_rx) = mpsc::channel(4);
        let (out_tx, out_rx) = mpsc::channel(4);
        let window = TumblingWindow::new(WindowConfig::default()).unwrap();
        tokio::spawn(run(in_rx, out_tx, window, EventTime, Arc::new(())));
        (in_tx, out_rx)
    }

    #[tokio::test(start_paused = true)]
    async fn a_window_closes_five_seconds_after_its_first_event() {
        let (tx, mut rx) = start(100);
        let opened = Instant::now();
        tx.send(vec![event(1), event(2)].into()).await.unwrap();
        let batch = one(rx.recv().await);
        assert_eq!(batch.flush, FlushReason::Time);
        assert_eq!(batch.events.len(), 2);
        assert_eq!(Instant::now() - opened, Duration::from_secs(5));
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_window_closes_at_once_and_the_end_flushes_the_rest() {
        let (tx, mut rx) = start(3);
        let opened = Instant::now();
        tx.send((0..4).map(event).collect::<Vec<_>>().into())
            .await
            .unwrap();
        let batch = one(rx.recv().await);
        assert_eq!((batch.flush, batch.events.len()), (FlushReason::Size, 3));
        assert_eq!(Instant::now(), opened, "no waiting for a full window");
        drop(tx);
        let batch = one(rx.recv().await);
        assert_eq!((batch.flush, batch.events.len()), (FlushReason::End, 1));
        assert!(rx.recv().await.is_none(), "the stage ends with its input");
    }

    #[tokio::test(start_paused = true)]
    async fn event_time_windows_close_on_the_events_own_clock() {
        let (in_tx, mut out_rx) = start_on_event_time();
        let base = Utc::now();
        let at = |secs: i64, n: u32| {
            let mut e = event(n);
            e.timestamp = base + chrono::TimeDelta::seconds(secs);
            e
        };
        in_tx
            .send(vec![at(0, 0), at(3, 1), at(6, 2)].into())
            .await
            .unwrap();
        let batch = one(out_rx.recv().await);
        assert_eq!((batch.flush, batch.events.len()), (FlushReason::Time, 2));
        drop(in_tx);
        let batch = one(out_rx.recv().await);
        assert_eq!((batch.flush, batch.events.len()), (FlushReason::End, 1));
    }

    #[tokio::test(start_paused = true)]
    async fn an_event_stamped_far_ahead_counts_at_its_arrival() {
        let (in_tx, mut out_rx) = start_on_event_time();
        let sent = Utc::now();
        let mut far = event(0);
        far.timestamp = "9999-12-31T23:59:59Z".parse().unwrap();
        let mut skewed = event(1);
        skewed.timestamp = sent + chrono::TimeDelta::minutes(1);
        let mut old = event(2);
        old.timestamp = sent - chrono::TimeDelta::days(120);
        in_tx.send(vec![old, skewed, far].into()).await.unwrap();
        drop(in_tx);
        let mut events: Vec<LogEvent> = Vec::new();
        while let Some(closed) = out_rx.recv().await {
            events.extend(closed.into_iter().flat_map(|c| c.batch.events));
        }
        let at = |n: &str| events.iter().find(|e| e.message == n).unwrap().timestamp;
        assert!(
            at("0") >= sent && at("0") <= Utc::now(),
            "far ahead: at arrival"
        );
        assert_eq!(
            at("1"),
            sent + chrono::TimeDelta::minutes(1),
            "clock skew is kept"
        );
        assert_eq!(
            at("2"),
            sent - chrono::TimeDelta::days(120),
            "the past is kept"
        );
    }

    /// A receipt that only counts what it hears.
    #[derive(Debug)]
    struct Counted(u64);

    impl Receipt for Counted {
        fn key(&self) -> (&str, u64) {
            ("S", self.0)
        }
        fn stored(&self, _: u64) {}
        fn failed(&self) {}
    }

    /// Each origin's message, first event and events.
    fn runs(closed: &Closed) -> Vec<(u64, u64, u64)> {
        closed
            .origins
            .iter()
            .map(|o| (o.receipt.key().1, o.first, o.events))
            .collect()
    }

    #[tokio::test(start_paused = true)]
    async fn each_window_carries_the_origins_of_its_own_events() {
        let (tx, mut rx) = start(3);
        let (a, b): (Arc<dyn Receipt>, Arc<dyn Receipt>) =
            (Arc::new(Counted(1)), Arc::new(Counted(2)));
        let envelope = Envelope {
            events: (0..5).map(event).collect(),
            origins: vec![
                Origin {
                    receipt: a,
                    first: 0,
                    events: 2,
                },
                // A message delivered again: its first four events were counted already.
                Origin {
                    receipt: b,
                    first: 4,
                    events: 3,
                },
            ],
        };
        tx.send(envelope).await.unwrap();
        let first = rx.recv().await.unwrap();
        assert_eq!(
            runs(&first[0]),
            [(1, 0, 2), (2, 4, 1)],
            "full: its three events"
        );
        // Local events join the open window with no origin of their own.
        tx.send(vec![event(9)].into()).await.unwrap();
        let second = rx.recv().await.unwrap();
        assert_eq!(second[0].batch.events.len(), 3);
        assert_eq!(runs(&second[0]), [(2, 5, 2)]);
        drop(tx);
        assert!(rx.recv().await.is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn a_window_closed_on_time_leaves_the_new_event_to_the_next() {
        let (in_tx, mut out_rx) = start_on_event_time();
        let base = Utc::now();
        let at = |secs: i64| {
            let mut e = event(0);
            e.timestamp = base + chrono::TimeDelta::seconds(secs);
            e
        };
        let receipt = |n| -> Arc<dyn Receipt> { Arc::new(Counted(n)) };
        let envelope = Envelope {
            events: vec![at(0), at(6)],
            origins: vec![
                Origin {
                    receipt: receipt(1),
                    first: 0,
                    events: 1,
                },
                Origin {
                    receipt: receipt(2),
                    first: 0,
                    events: 1,
                },
            ],
        };
        in_tx.send(envelope).await.unwrap();
        let first = out_rx.recv().await.unwrap();
        assert_eq!(runs(&first[0]), [(1, 0, 1)]);
        drop(in_tx);
        let last = out_rx.recv().await.unwrap();
        assert_eq!(runs(&last[0]), [(2, 0, 1)]);
    }
}
