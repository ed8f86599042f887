//! `ic_core::parse::plain::parse` on arbitrary text: it must never panic.
#![no_main]

use chrono::{TimeZone, Utc};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let line = String::from_utf8_lossy(data);
    let received = Utc.with_ymd_and_hms(2024, 5, 2, 12, 0, 0).unwrap();
    let _ = ic_core::parse::plain::parse(&line, received);
});
