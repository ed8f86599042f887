//! Log line parsers: JSON, logfmt, syslog (RFC 5424 and 3164) and plain text with a leading
//! timestamp, level and service, behind one entry point that picks the format per line.
//!
//! Parsing never fails: a line no parser understands becomes an event whose message is the
//! whole line. [`LineJoiner`] folds multi-line events (stack traces) into one.

pub mod json;
pub mod logfmt;
pub mod plain;
pub mod syslog;

mod fields;
mod joiner;
mod timestamp;

pub use joiner::{LineJoiner, MAX_JOINED_BYTES, MAX_JOINED_LINES, TextEvents};

use chrono::{DateTime, Utc};

use crate::event::{Level, LogEvent};

/// Detects the format of one line and parses it; never fails, never panics: a line no parser
/// understands becomes an event whose message is the whole line and whose timestamp is
/// `received`. A trailing line break (`\n`, `\r\n`) is not part of the line.
///
/// The format is told from the first bytes: `{` is JSON, `<PRI>` or a month name and day
/// are syslog, `name=` is logfmt, anything else plain text. A line that fails the parser its
/// first bytes point to is tried as plain text before it is kept whole.
pub fn parse_line(line: &str, received: DateTime<Utc>) -> LogEvent {
    let line = trim_line_end(line);
    let parsed = match sniff(line) {
        Format::Json => json::parse(line, received),
        Format::Syslog => syslog::parse(line, received),
        Format::Logfmt => logfmt::parse(line, received),
        Format::Plain => None,
    };
    parsed
        .or_else(|| plain::parse(line, received))
        .unwrap_or_else(|| LogEvent::new(received, "", Level::Info, line))
}

/// The format a line's first bytes point to.
enum Format {
    Json,
    Syslog,
    Logfmt,
    Plain,
}

fn sniff(line: &str) -> Format {
    match line.as_bytes().first() {
        Some(b'{') => Format::Json,
        Some(b' ' | b'\t') if line.trim_start().starts_with('{') => Format::Json,
        Some(b'<') if syslog::pri_len(line).is_some() => Format::Syslog,
        Some(_) if starts_with_month_and_day(line) => Format::Syslog,
        Some(_) if logfmt::looks_like(line) => Format::Logfmt,
        _ => Format::Plain,
    }
}

/// `Jun 14 …`, `Jul  4 …`: the start of an RFC 3164 line without its `<PRI>`.
fn starts_with_month_and_day(line: &str) -> bool {
    let bytes = line.as_bytes();
    bytes.len() > 5
        && bytes[3] == b' '
        && (bytes[4] == b' ' || bytes[4].is_ascii_digit())
        && line.get(..3).and_then(timestamp::month_number).is_some()
}

/// The line without its trailing `\n` or `\r\n` (Windows line endings included).
fn trim_line_end(line: &str) -> &str {
    line.trim_end_matches(['\n', '\r'])
}
