use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use proptest::prelude::*;

use super::*;
use crate::event::Level;

fn event(n: usize) -> LogEvent {
    LogEvent::new(
        Utc.timestamp_opt(1_700_000_000, 0).unwrap(),
        "svc",
        Level::Info,
        n.to_string(),
    )
}

fn window(max_events: usize, max_age_ms: u64) -> TumblingWindow<Duration> {
    TumblingWindow::new(WindowConfig {
        max_events,
        max_age: Duration::from_millis(max_age_ms),
    })
    .unwrap()
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn closes_on_size() {
    let mut w = window(3, 5000);
    assert_eq!(w.push(event(0), ms(0)).count(), 0);
    assert_eq!(w.push(event(1), ms(1)).count(), 0);
    let batches: Vec<_> = w.push(event(2), ms(2)).collect();
    assert_eq!(batches.len(), 1);
    assert_eq!(batches[0].flush, FlushReason::Size);
    assert_eq!(batches[0].events.len(), 3);
    assert_eq!(batches[0].seq, 1);
    assert!(
        w.deadline().is_none(),
        "a closed window leaves nothing to wait for"
    );
}

#[test]
fn closes_on_age_measured_from_the_first_event() {
    let mut w = window(100, 5000);
    let _ = w.push(event(0), ms(1000));
    assert_eq!(w.deadline(), Some(ms(6000)));
    let _ = w.push(event(1), ms(5999));
    assert_eq!(
        w.deadline(),
        Some(ms(6000)),
        "later events do not extend the window"
    );
    assert!(w.close_due(ms(5999)).is_none());
    let batch = w.close_due(ms(6000)).unwrap();
    assert_eq!(batch.flush, FlushReason::Time);
    assert_eq!(batch.events.len(), 2);
}

#[test]
fn an_event_past_the_end_closes_the_window_and_opens_the_next() {
    let mut w = window(100, 5000);
    let _ = w.push(event(0), ms(0));
    let closed: Vec<_> = w.push(event(1), ms(7000)).collect();
    assert_eq!(closed.len(), 1);
    assert_eq!(closed[0].flush, FlushReason::Time);
    assert_eq!(closed[0].events, vec![event(0)]);
    assert_eq!(w.len(), 1);
    assert_eq!(w.deadline(), Some(ms(12_000)));
}

#[test]
fn a_late_event_joins_the_open_window() {
    let base = Utc.timestamp_opt(1_700_000_000, 0).unwrap();
    let mut w: TumblingWindow<DateTime<Utc>> =
        TumblingWindow::new(WindowConfig::default()).unwrap();
    let _ = w.push(event(0), base);
    assert_eq!(w.push(event(1), base - Duration::from_secs(2)).count(), 0);
    assert_eq!(w.len(), 2);
    assert_eq!(w.flush().unwrap().flush, FlushReason::End);
}

#[test]
fn time_and_size_can_close_two_windows_at_once() {
    let mut w = window(1, 5000);
    let batches: Vec<_> = w.push(event(0), ms(0)).collect();
    assert_eq!(batches.len(), 1);
    assert_eq!(batches[0].flush, FlushReason::Size);
    let mut w = window(2, 5000);
    let _ = w.push(event(0), ms(0));
    let _ = w.push(event(1), ms(10_000)).count();
    let batches: Vec<_> = w.push(event(2), ms(10_001)).collect();
    assert_eq!(batches.len(), 1);
    assert_eq!(batches[0].events, vec![event(1), event(2)]);
}

#[test]
fn flush_of_an_empty_window_is_nothing() {
    let mut w = window(10, 10);
    assert!(w.flush().is_none());
    assert!(w.deadline().is_none());
}

#[test]
fn zero_limits_are_refused() {
    let err = TumblingWindow::<Duration>::new(WindowConfig {
        max_events: 0,
        max_age: ms(1),
    })
    .unwrap_err();
    assert_eq!(err, WindowConfigError::ZeroEvents);
    let err = TumblingWindow::<Duration>::new(WindowConfig {
        max_events: 1,
        max_age: Duration::ZERO,
    })
    .unwrap_err();
    assert_eq!(err, WindowConfigError::ZeroAge);
}

/// What a driver does to the window: an event arrives after a delay, or the timer fires.
#[derive(Debug, Clone)]
enum Step {
    Event { after_ms: u64 },
    Tick { after_ms: u64 },
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    prop::collection::vec(
        prop_oneof![
            4 => (0u64..300).prop_map(|after_ms| Step::Event { after_ms }),
            1 => (0u64..3000).prop_map(|after_ms| Step::Tick { after_ms }),
        ],
        0..400,
    )
}

proptest! {
    /// In the manner of Vector's partitioned batcher tests: no batch over the limit, nothing
    /// reordered, nothing lost, nothing duplicated, and the age limit holds.
    #[test]
    fn batches_respect_limits_and_keep_every_event_once(
        max_events in 1usize..20,
        max_age_ms in 1u64..2000,
        steps in steps(),
    ) {
        let mut w = window(max_events, max_age_ms);
        let mut now = ms(0);
        let mut pushed = Vec::new();
        let mut arrival = Vec::new();
        let mut batches = Vec::new();
        for step in steps {
            match step {
                Step::Event { after_ms } => {
                    now += ms(after_ms);
                    let n = pushed.len();
                    pushed.push(event(n));
                    arrival.push(now);
                    batches.extend(w.push(event(n), now));
                }
                Step::Tick { after_ms } => {
                    now += ms(after_ms);
                    batches.extend(w.close_due(now));
                }
            }
        }
        batches.extend(w.flush());

        let mut seen = Vec::new();
        for (i, batch) in batches.iter().enumerate() {
            prop_assert_eq!(batch.seq, i as u64 + 1);
            prop_assert!(!batch.events.is_empty());
            prop_assert!(batch.events.len() <= max_events);
            if batch.flush == FlushReason::Size {
                prop_assert_eq!(batch.events.len(), max_events);
            }
            let first: usize = batch.events[0].message.parse().unwrap();
            let last: usize = batch.events.last().unwrap().message.parse().unwrap();
            prop_assert!(arrival[last] < arrival[first] + ms(max_age_ms), "window held events past its age");
            seen.extend(batch.events.iter().cloned());
        }
        prop_assert_eq!(seen, pushed);
    }
}
