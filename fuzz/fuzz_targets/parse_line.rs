//! `ic_core::parse::parse_line` on arbitrary text: it must never panic, and a line that no
//! parser accepts is kept whole.
#![no_main]

use chrono::{TimeZone, Utc};
use ic_core::parse::{json, logfmt, parse_line, plain, syslog};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let line = String::from_utf8_lossy(data);
    let received = Utc.with_ymd_and_hms(2024, 5, 2, 12, 0, 0).unwrap();
    let event = parse_line(&line, received);
    let accepted = json::parse(&line, received).is_some()
        || logfmt::parse(&line, received).is_some()
        || syslog::parse(&line, received).is_some()
        || plain::parse(&line, received).is_some();
    if !accepted {
        assert_eq!(event.message, line.trim_end_matches(['\n', '\r']));
    }
});
