//! Joining the lines of one multi-line event (a stack trace, a wrapped message).

use chrono::{DateTime, Utc};

use super::{parse_line, trim_line_end};
use crate::event::{Level, LogEvent};

/// The most lines one joined event holds; the next continuation line starts a new event.
pub const MAX_JOINED_LINES: usize = 256;

/// The most bytes a joined event's message holds; a continuation line that would pass it
/// starts a new event.
pub const MAX_JOINED_BYTES: usize = 64 * 1024;

/// Joins multi-line events: a line that continues the previous event (it starts with
/// whitespace, `at `, `Caused by:` or `...`, as Java and Python stack traces do) is appended
/// to that event's message after a `\n`, as written.
///
/// Events are held until the next line shows they are complete, so [`LineJoiner::push`]
/// returns the event before the one a line starts, and [`LineJoiner::finish`] the last one.
/// A joined event is bounded by [`MAX_JOINED_LINES`] and [`MAX_JOINED_BYTES`]; past either a
/// continuation line starts an event of its own with the same timestamp, service, level and
/// attributes, so no text is lost. A continuation line with no event before it is an event
/// whose message is the whole line. Blank lines carry no text and are skipped.
#[derive(Debug, Default)]
pub struct LineJoiner {
    pending: Option<LogEvent>,
    lines: usize,
}

impl LineJoiner {
    /// A joiner holding no event.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a line; returns the event it completed, if any.
    pub fn push(&mut self, line: &str, received: DateTime<Utc>) -> Option<LogEvent> {
        let line = trim_line_end(line);
        // `trim().is_empty()`, but done at the first character that is not whitespace, where
        // `trim` would go on to scan the line's end.
        if line.chars().all(char::is_whitespace) {
            return None;
        }
        if !is_continuation(line) {
            self.lines = 1;
            return self.pending.replace(parse_line(line, received));
        }
        let Some(event) = self.pending.as_mut() else {
            // Nothing to continue: the line is kept whole, as it is no header line.
            self.lines = 1;
            self.pending = Some(LogEvent::new(received, "", Level::Info, line));
            return None;
        };
        if self.lines < MAX_JOINED_LINES && event.message.len() + 1 + line.len() <= MAX_JOINED_BYTES
        {
            event.message.push('\n');
            event.message.push_str(line);
            self.lines += 1;
            return None;
        }
        // Past the bound the line starts an event of its own, with its event's header.
        let overflow = LogEvent {
            timestamp: event.timestamp,
            service: event.service.clone(),
            level: event.level,
            message: line.to_owned(),
            attributes: event.attributes.clone(),
        };
        self.lines = 1;
        self.pending.replace(overflow)
    }

    /// The event still held, if any (call at the end of the input).
    pub fn finish(&mut self) -> Option<LogEvent> {
        self.lines = 0;
        self.pending.take()
    }

    /// Whether an event is held, waiting for its possible continuation lines.
    pub fn is_pending(&self) -> bool {
        self.pending.is_some()
    }

    /// The event held, waiting for its possible continuation lines.
    pub fn pending(&self) -> Option<&LogEvent> {
        self.pending.as_ref()
    }
}

/// The events of a text body (an HTTP request, a stream message): every line parsed, stack
/// traces joined into the event they belong to. Counts the lines it read, blank ones aside.
#[derive(Debug)]
pub struct TextEvents<'a> {
    lines: std::str::Split<'a, char>,
    joiner: LineJoiner,
    received: DateTime<Utc>,
    read: u64,
}

impl<'a> TextEvents<'a> {
    /// The events of `text`, received at `received`.
    pub fn new(text: &'a str, received: DateTime<Utc>) -> Self {
        Self {
            lines: text.split('\n'),
            joiner: LineJoiner::new(),
            received,
            read: 0,
        }
    }

    /// The lines read so far that were not blank.
    pub fn lines_read(&self) -> u64 {
        self.read
    }
}

impl Iterator for TextEvents<'_> {
    type Item = LogEvent;

    fn next(&mut self) -> Option<LogEvent> {
        for line in self.lines.by_ref() {
            if line.trim().is_empty() {
                continue;
            }
            self.read += 1;
            if let Some(event) = self.joiner.push(line, self.received) {
                return Some(event);
            }
        }
        self.joiner.finish()
    }
}

/// Whether a line continues the event before it.
fn is_continuation(line: &str) -> bool {
    line.starts_with([' ', '\t'])
        || line.starts_with("at ")
        || line.starts_with("Caused by:")
        || line.starts_with("...")
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_text_body_gives_its_events_and_counts_its_lines() {
        let body = "ERROR boom\r\n  at a.b(C.java:1)\n\n   \nINFO fine\r";
        let mut events = super::TextEvents::new(body, chrono::Utc::now());
        let messages: Vec<String> = events.by_ref().map(|e| e.message).collect();
        assert_eq!(messages.len(), 2, "{messages:?}");
        assert!(
            messages[0].ends_with("boom\n  at a.b(C.java:1)"),
            "{messages:?}"
        );
        assert_eq!(events.lines_read(), 3);
        assert_eq!(events.next(), None);
    }

    use super::*;

    #[test]
    fn continuation_forms() {
        for line in [
            "\tat a.B(B.java:1)",
            "  File \"x.py\"",
            "at x",
            "Caused by: y",
            "... 3 more",
        ] {
            assert!(is_continuation(line), "{line}");
        }
        for line in ["atom", "Caused", "2024-01-01 x", "..", "{}"] {
            assert!(!is_continuation(line), "{line}");
        }
    }
}
