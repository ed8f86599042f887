//! `ic_core::parse::LineJoiner` over arbitrary lines: it must never panic, every continuation
//! line ends up in an event, and no event outgrows the bound.
#![no_main]

use chrono::{TimeZone, Utc};
use ic_core::parse::{LineJoiner, MAX_JOINED_BYTES};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let received = Utc.with_ymd_and_hms(2024, 5, 2, 12, 0, 0).unwrap();
    let mut joiner = LineJoiner::new();
    let mut events: Vec<_> = text
        .lines()
        .filter_map(|l| joiner.push(l, received))
        .collect();
    events.extend(joiner.finish());
    assert!(!joiner.is_pending());
    let joined: Vec<&str> = events.iter().map(|e| e.message.as_str()).collect();
    let joined = joined.join("\n");
    for line in text.lines().map(|l| l.trim_end_matches('\r')) {
        if line.starts_with([' ', '\t']) && !line.trim().is_empty() {
            assert!(joined.contains(line), "{line:?} lost");
        }
    }
    for event in &events {
        assert!(event.message.len() <= MAX_JOINED_BYTES.max(text.len()));
    }
});
