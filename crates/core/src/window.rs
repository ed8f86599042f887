//! The tumbling window: cuts a stream of events into batches.
//!
//! A window opens with its first event and closes when it holds `max_events` events or when
//! `max_age` has passed since that first event, whichever comes first. Time is whatever the
//! caller passes in: the arrival instant in `serve`, the events' own timestamps in `analyze`.
//! With event time, a window closes when an event at or past its end arrives; an event older
//! than the window's start (a little out of order) joins the open window rather than being
//! dropped or reordered. Every event pushed leaves in exactly one batch, in push order.

use std::ops::Add;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::event::LogEvent;

/// Why a window closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FlushReason {
    /// It reached `max_events`.
    Size,
    /// `max_age` passed since its first event.
    Time,
    /// The input ended (end of file, shutdown).
    End,
}

impl FlushReason {
    pub const fn as_str(self) -> &'static str {
        match self {
            FlushReason::Size => "size",
            FlushReason::Time => "time",
            FlushReason::End => "end",
        }
    }
}

/// The window's two limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowConfig {
    /// A window closes when it holds this many events.
    pub max_events: usize,
    /// A window closes this long after its first event.
    pub max_age: Duration,
}

impl WindowConfig {
    pub const DEFAULT_MAX_EVENTS: usize = 100;
    pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(5);

    /// Checks that both limits are positive.
    pub fn validate(&self) -> Result<(), WindowConfigError> {
        if self.max_events == 0 {
            return Err(WindowConfigError::ZeroEvents);
        }
        if self.max_age.is_zero() {
            return Err(WindowConfigError::ZeroAge);
        }
        Ok(())
    }
}

impl Default for WindowConfig {
    fn default() -> Self {
        Self {
            max_events: Self::DEFAULT_MAX_EVENTS,
            max_age: Self::DEFAULT_MAX_AGE,
        }
    }
}

/// A window limit that cannot work.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WindowConfigError {
    #[error("the window size must be at least 1 event")]
    ZeroEvents,
    #[error("the window age must be longer than zero")]
    ZeroAge,
}

/// The events of one closed window.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// 1 for the first window of the run, then counting up.
    pub seq: u64,
    pub events: Vec<LogEvent>,
    pub flush: FlushReason,
}

/// A tumbling window over time `T` (an `Instant` for arrival time, a `DateTime<Utc>` for event
/// time).
#[derive(Debug)]
pub struct TumblingWindow<T> {
    config: WindowConfig,
    events: Vec<LogEvent>,
    /// When the open window must close; `None` while no window is open.
    deadline: Option<T>,
    next_seq: u64,
}

/// Preallocate at most this many slots: a huge `max_events` must not cost memory up front.
const MAX_PREALLOCATED: usize = 4096;

impl<T> TumblingWindow<T>
where
    T: Copy + Ord + Add<Duration, Output = T>,
{
    /// A window with validated limits.
    pub fn new(config: WindowConfig) -> Result<Self, WindowConfigError> {
        config.validate()?;
        Ok(Self {
            config,
            events: Vec::with_capacity(config.max_events.min(MAX_PREALLOCATED)),
            deadline: None,
            next_seq: 1,
        })
    }

    pub fn config(&self) -> WindowConfig {
        self.config
    }

    /// When the open window closes on time; `None` when no window is open, so an idle pipeline
    /// has nothing to wake up for.
    pub fn deadline(&self) -> Option<T> {
        self.deadline
    }

    /// Number of events in the open window.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Adds an event seen at `now`. Yields the batches this closes, in order: the open window
    /// if `now` is at or past its deadline, then the new window if this event fills it.
    pub fn push(&mut self, event: LogEvent, now: T) -> impl Iterator<Item = Batch> + use<T> {
        let expired = self.close_due(now);
        if self.deadline.is_none() {
            self.deadline = Some(now + self.config.max_age);
        }
        self.events.push(event);
        let full =
            (self.events.len() >= self.config.max_events).then(|| self.close(FlushReason::Size));
        expired.into_iter().chain(full)
    }

    /// Closes the open window if its deadline is at or before `now` (the timer fired).
    pub fn close_due(&mut self, now: T) -> Option<Batch> {
        match self.deadline {
            Some(deadline) if deadline <= now => Some(self.close(FlushReason::Time)),
            _ => None,
        }
    }

    /// Closes the open window because the input ended; `None` if none is open.
    pub fn flush(&mut self) -> Option<Batch> {
        (!self.events.is_empty()).then(|| self.close(FlushReason::End))
    }

    fn close(&mut self, flush: FlushReason) -> Batch {
        // The next window gets room for as many events as this one held: windows that close
        // on time after a few events (a replay of sparse timestamps) then do not each reserve
        // a full window, which the allocator would have to find fresh memory for.
        let capacity = self.events.len().min(MAX_PREALLOCATED);
        let events = std::mem::replace(&mut self.events, Vec::with_capacity(capacity));
        self.deadline = None;
        let seq = self.next_seq;
        self.next_seq += 1;
        Batch { seq, events, flush }
    }
}

#[cfg(test)]
mod tests;
