//! One target's queue and counters, shared by [`super::Notifier`] and the target's worker.
//!
//! The queue drops its oldest event when full rather than refusing the newest: the latest state
//! of an incident matters more than an old one, and whoever pushes must never wait.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use ic_core::incident::IncidentEvent;
use tokio::sync::Notify;

use super::{Route, TargetLabel, TargetStats};

pub(super) struct Lane {
    pub label: TargetLabel,
    /// What the target is told about: only what it admits enters the queue.
    pub route: Route,
    capacity: usize,
    queue: Mutex<Queue>,
    /// Wakes the worker; `notify_one` keeps a permit when the worker is busy, so no push is
    /// missed between its check of the queue and its wait.
    wake: Notify,
    delivered: AtomicU64,
    retried: AtomicU64,
    failed: AtomicU64,
    dropped: AtomicU64,
}

/// What became of a notification, for the counters and `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Outcome {
    Delivered,
    Retried,
    Failed,
    Dropped,
}

impl Outcome {
    const fn as_str(self) -> &'static str {
        match self {
            Outcome::Delivered => "delivered",
            Outcome::Retried => "retried",
            Outcome::Failed => "failed",
            Outcome::Dropped => "dropped",
        }
    }
}

#[derive(Default)]
struct Queue {
    events: VecDeque<Arc<IncidentEvent>>,
    closed: bool,
}

impl Lane {
    pub fn new(label: TargetLabel, capacity: usize, route: Route) -> Self {
        Lane {
            label,
            route,
            capacity,
            queue: Mutex::default(),
            wake: Notify::new(),
            delivered: AtomicU64::new(0),
            retried: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
        }
    }

    /// Counts `n` notifications with this outcome, here and in `/metrics`.
    pub fn record(&self, outcome: Outcome, n: u64) {
        let counter = match outcome {
            Outcome::Delivered => &self.delivered,
            Outcome::Retried => &self.retried,
            Outcome::Failed => &self.failed,
            Outcome::Dropped => &self.dropped,
        };
        counter.fetch_add(n, Ordering::Relaxed);
        metrics::counter!(
            crate::metrics::NOTIFICATIONS,
            "target" => self.label.to_string(),
            "outcome" => outcome.as_str()
        )
        .increment(n);
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Appends the event; returns whether the oldest waiting one was dropped to make room.
    /// After [`Lane::close`], the event is dropped instead (and counted).
    pub fn push(&self, event: Arc<IncidentEvent>) -> bool {
        let dropped = {
            let mut queue = self.lock();
            if queue.closed {
                true
            } else {
                let full = queue.events.len() >= self.capacity;
                if full {
                    queue.events.pop_front();
                }
                queue.events.push_back(event);
                full
            }
        };
        if dropped {
            self.record(Outcome::Dropped, 1);
        }
        self.wake.notify_one();
        dropped
    }

    /// The next event; `None` once the lane is closed and empty.
    pub async fn next(&self) -> Option<Arc<IncidentEvent>> {
        loop {
            {
                let mut queue = self.lock();
                if let Some(event) = queue.events.pop_front() {
                    return Some(event);
                }
                if queue.closed {
                    return None;
                }
            }
            self.wake.notified().await;
        }
    }

    /// Takes no more events; the worker still gets those waiting.
    pub fn close(&self) {
        self.lock().closed = true;
        self.wake.notify_one();
    }

    /// Empties the queue and counts its events as dropped.
    pub fn abandon(&self) -> usize {
        let n = std::mem::take(&mut self.lock().events).len();
        self.record(Outcome::Dropped, n as u64);
        n
    }

    pub fn stats(&self) -> TargetStats {
        TargetStats {
            delivered: self.delivered.load(Ordering::Relaxed),
            retried: self.retried.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        // The lock is never held across a panic-prone call, but a poisoned queue is still a
        // valid queue: keep going rather than take the pipeline down with it.
        self.queue
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use ic_core::incident::Transition;

    use super::*;
    use crate::notify::target::WebhookFormat;
    use crate::notify::testing::event;

    fn lane(capacity: usize) -> Lane {
        let label = TargetLabel {
            index: 1,
            format: WebhookFormat::Generic,
        };
        Lane::new(label, capacity, Route::default())
    }

    fn numbered(n: u32) -> Arc<IncidentEvent> {
        let mut event = event(Transition::Opened);
        event.incident.reopened = n;
        Arc::new(event)
    }

    #[tokio::test]
    async fn a_full_lane_drops_its_oldest_event() {
        let lane = lane(2);
        assert!(!lane.push(numbered(1)));
        assert!(!lane.push(numbered(2)));
        assert!(lane.push(numbered(3)));
        assert_eq!(lane.stats().dropped, 1);
        lane.close();
        assert_eq!(lane.next().await.unwrap().incident.reopened, 2);
        assert_eq!(lane.next().await.unwrap().incident.reopened, 3);
        assert!(lane.next().await.is_none());
        assert!(lane.push(numbered(4)), "a closed lane takes nothing");
        assert_eq!(lane.stats().dropped, 2);
    }
}
