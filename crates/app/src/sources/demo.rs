//! The demo source: the generator paced in real time, switchable while it runs.

use chrono::Utc;
use ic_core::demo::DemoGenerator;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch};
use tokio::time::{Duration, Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use crate::pipeline::{CHUNK_EVENTS, Chunk, Envelope, SharedCounters};

/// What the demo is doing; changed through [`DemoControl`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DemoState {
    pub running: bool,
    pub meltdown: bool,
    /// Lines per second; `None` for the mode's own rate (10 normal, 500 in a meltdown).
    pub rate: Option<f64>,
}

/// The handle that switches the demo while it runs.
pub type DemoControl = watch::Sender<DemoState>;

/// Lines are generated in small bursts this often, as many as the rate says are due.
const TICK: Duration = Duration::from_millis(20);
/// Lines owed are capped at this many seconds' worth: when the pipeline cannot keep up, the
/// demo waits like any source instead of bursting later.
const MAX_OWED: f64 = 1.0;

pub async fn run(
    seed: u64,
    mut control: watch::Receiver<DemoState>,
    ingest: mpsc::Sender<Envelope>,
    counters: SharedCounters,
    cancel: CancellationToken,
) {
    let mut generator = DemoGenerator::new(seed);
    let mut due = 0.0f64;
    let mut ticks = tokio::time::interval(TICK);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut last = Instant::now();
    loop {
        let state = *control.borrow_and_update();
        generator.set_meltdown(state.meltdown, Utc::now());
        if !state.running {
            tokio::select! {
                () = cancel.cancelled() => return,
                changed = control.changed() => if changed.is_err() { return },
            }
            last = Instant::now();
            due = 0.0;
            continue;
        }
        let rate = state.rate.unwrap_or_else(|| generator.default_rate());
        tokio::select! {
            () = cancel.cancelled() => return,
            changed = control.changed() => if changed.is_err() { return } else { continue },
            now = ticks.tick() => {
                due = (due + rate * (now - last).as_secs_f64()).min(rate * MAX_OWED);
                last = now;
            }
        }
        while due >= 1.0 {
            let n = (due.floor() as usize).min(CHUNK_EVENTS);
            due -= n as f64;
            let at = Utc::now();
            let chunk: Chunk = (0..n).map(|_| generator.next_event(at)).collect();
            counters.add("demo", n as u64, n as u64);
            if ingest.send(chunk.into()).await.is_err() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn paces_lines_at_the_mode_rate_and_switches_live() {
        let (tx, mut rx) = mpsc::channel(1024);
        let (control, watch_rx) = watch::channel(DemoState {
            running: true,
            meltdown: false,
            rate: None,
        });
        let counters = SharedCounters::default();
        let cancel = CancellationToken::new();
        let task = tokio::spawn(run(1, watch_rx, tx, counters.clone(), cancel.clone()));

        tokio::time::sleep(Duration::from_secs(10)).await;
        let normal = counters.events();
        assert!((90..=110).contains(&normal), "about 10 lines/s: {normal}");

        control.send_modify(|s| s.meltdown = true);
        tokio::time::sleep(Duration::from_secs(2)).await;
        let meltdown = counters.events() - normal;
        assert!(
            (900..=1100).contains(&meltdown),
            "about 500 lines/s: {meltdown}"
        );

        control.send_modify(|s| s.rate = Some(5000.0));
        tokio::time::sleep(Duration::from_secs(1)).await;
        let fast = counters.events() - normal - meltdown;
        assert!(
            (4500..=5500).contains(&fast),
            "a set rate wins over the mode's: {fast}"
        );

        control.send_modify(|s| s.running = false);
        tokio::time::sleep(Duration::from_millis(100)).await;
        let stopped = counters.events();
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert_eq!(counters.events(), stopped, "a stopped demo sends nothing");

        cancel.cancel();
        task.await.unwrap();
        let mut received = 0;
        while let Ok(chunk) = rx.try_recv() {
            received += chunk.events.len() as u64;
        }
        assert_eq!(received, stopped);
    }
}
