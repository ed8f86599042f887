//! Helpers shared by the parser tests.

// Each test file is its own crate and uses only some of these.
#![allow(dead_code)]

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use ic_core::{Level, LogEvent};

/// The arrival time every test line is parsed with.
pub fn received() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 5, 2, 12, 0, 0).unwrap()
}

/// `(line, timestamp, level, service, message, attributes as "k=v k=v")`.
pub type Case = (
    &'static str,
    &'static str,
    Level,
    &'static str,
    &'static str,
    &'static str,
);

/// Parses each case's line with `parse` and compares every field of the event.
pub fn check(parse: fn(&str, DateTime<Utc>) -> Option<LogEvent>, cases: &[Case]) {
    for &(line, ts, level, service, message, attrs) in cases {
        let event = parse(line, received()).unwrap_or_else(|| panic!("not parsed: {line}"));
        let attributes: Vec<String> = event
            .attributes
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        assert_eq!(
            (
                event.timestamp.to_rfc3339_opts(SecondsFormat::AutoSi, true),
                event.level,
                event.service.as_str(),
                event.message.as_str(),
                attributes.join(" "),
            ),
            (ts.to_owned(), level, service, message, attrs.to_owned()),
            "{line}"
        );
    }
}
