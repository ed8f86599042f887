//! The window stage: an event, a tick or the end (in the manner of Vector's expiration map).

use std::future::Future;
use std::ops::Add;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use ic_core::{Batch, LogEvent, TumblingWindow};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::{Chunk, Expiry, Observer};

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

/// Cuts the stream into batches. The batches one chunk of events closes travel together:
/// one hand-over per chunk rather than per window, which matters when a replayed file closes
/// a window every few lines.
pub async fn run<T: Timeline>(
    mut input: mpsc::Receiver<Chunk>,
    output: mpsc::Sender<Vec<Batch>>,
    mut window: TumblingWindow<T::Time>,
    timeline: T,
    observer: Arc<dyn Observer>,
) {
    loop {
        let deadline = window.deadline();
        let timer = async {
            match deadline {
                Some(at) => timeline.sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        let closed: Vec<Batch> = tokio::select! {
            chunk = input.recv() => {
                let Some(events) = chunk else { break };
                observer.chunk(&events);
                let mut closed = Vec::new();
                for event in events {
                    if window.is_empty() {
                        tracing::debug!("Window opened.");
                    }
                    let at = timeline.stamp(&event);
                    closed.extend(window.push(event, at));
                }
                closed
            }
            () = timer => window.close_due(timeline.now()).into_iter().collect(),
        };
        if !closed.is_empty() && output.send(closed).await.is_err() {
            return;
        }
    }
    if let Some(batch) = window.flush() {
        let _ = output.send(vec![batch]).await;
    }
}

#[cfg(test)]
mod tests {
    use ic_core::{FlushReason, Level, WindowConfig};

    use super::*;

    fn one(batches: Option<Vec<Batch>>) -> Batch {
        let mut batches = batches.expect("a batch");
        assert_eq!(batches.len(), 1, "{batches:?}");
        batches.pop().unwrap()
    }

    fn event(n: u32) -> LogEvent {
        LogEvent::new(Utc::now(), "svc", Level::Info, n.to_string())
    }

    fn start(max_events: usize) -> (mpsc::Sender<Chunk>, mpsc::Receiver<Vec<Batch>>) {
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

    #[tokio::test(start_paused = true)]
    async fn a_window_closes_five_seconds_after_its_first_event() {
        let (tx, mut rx) = start(100);
        let opened = Instant::now();
        tx.send(vec![event(1), event(2)]).await.unwrap();
        let batch = one(rx.recv().await);
        assert_eq!(batch.flush, FlushReason::Time);
        assert_eq!(batch.events.len(), 2);
        assert_eq!(Instant::now() - opened, Duration::from_secs(5));
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_window_closes_at_once_and_the_end_flushes_the_rest() {
        let (tx, mut rx) = start(3);
        let opened = Instant::now();
        tx.send((0..4).map(event).collect()).await.unwrap();
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
        let (in_tx, in_rx) = mpsc::channel(4);
        let (out_tx, mut out_rx) = mpsc::channel(4);
        let window = TumblingWindow::new(WindowConfig::default()).unwrap();
        tokio::spawn(run(in_rx, out_tx, window, EventTime, Arc::new(())));
        let base = Utc::now();
        let at = |secs: i64, n: u32| {
            let mut e = event(n);
            e.timestamp = base + chrono::TimeDelta::seconds(secs);
            e
        };
        in_tx
            .send(vec![at(0, 0), at(3, 1), at(6, 2)])
            .await
            .unwrap();
        let batch = one(out_rx.recv().await);
        assert_eq!((batch.flush, batch.events.len()), (FlushReason::Time, 2));
        drop(in_tx);
        let batch = one(out_rx.recv().await);
        assert_eq!((batch.flush, batch.events.len()), (FlushReason::End, 1));
    }
}
