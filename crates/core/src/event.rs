//! The unit every stage passes on: one log event, whatever its source format.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One log event after parsing.
///
/// `service` is empty when the line did not name one; `level` is [`Level::Info`] when the line
/// carried no level (as RFC 3164 does for a message without a priority).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEvent {
    pub timestamp: DateTime<Utc>,
    pub service: String,
    pub level: Level,
    pub message: String,
    /// Fields the parser found beyond the four above (JSON keys, logfmt pairs, syslog
    /// structured data). Values are kept as text.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
}

impl LogEvent {
    /// An event with no attributes.
    pub fn new(
        timestamp: DateTime<Utc>,
        service: impl Into<String>,
        level: Level,
        message: impl Into<String>,
    ) -> Self {
        Self {
            timestamp,
            service: service.into(),
            level,
            message: message.into(),
            attributes: BTreeMap::new(),
        }
    }
}

/// Normalized severity, ordered from least to most severe.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "UPPERCASE")]
pub enum Level {
    Trace,
    Debug,
    #[default]
    Info,
    Warn,
    Error,
    Fatal,
}

impl Level {
    /// Every level, least severe first; `Level::ALL[l.index()] == l`.
    pub const ALL: [Level; 6] = [
        Level::Trace,
        Level::Debug,
        Level::Info,
        Level::Warn,
        Level::Error,
        Level::Fatal,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Level::Trace => "TRACE",
            Level::Debug => "DEBUG",
            Level::Info => "INFO",
            Level::Warn => "WARN",
            Level::Error => "ERROR",
            Level::Fatal => "FATAL",
        }
    }

    /// Position in [`Level::ALL`], for per-level counters kept in arrays.
    pub const fn index(self) -> usize {
        self as usize
    }

    /// ERROR and FATAL: the levels that count as failures.
    pub const fn is_error(self) -> bool {
        matches!(self, Level::Error | Level::Fatal)
    }

    /// Recognizes the level words found in the wild, case-insensitively: full names and common
    /// abbreviations (`warning`, `err`, `crit`, `emerg`, `notice`, `fine`, …) and the one-letter
    /// forms of Android and glog (`V D I W E F`).
    pub fn from_word(word: &str) -> Option<Level> {
        if word.is_empty() || word.len() > 11 {
            return None;
        }
        let mut buf = [0u8; 11];
        let lower = &mut buf[..word.len()];
        lower.copy_from_slice(word.as_bytes());
        lower.make_ascii_lowercase();
        Some(match &*lower {
            b"trace" | b"finest" | b"finer" | b"v" | b"verbose" => Level::Trace,
            b"debug" | b"dbg" | b"fine" | b"d" => Level::Debug,
            b"info" | b"inf" | b"information" | b"informational" | b"notice" | b"i" | b"config" => {
                Level::Info
            }
            b"warn" | b"warning" | b"wrn" | b"w" => Level::Warn,
            b"error" | b"err" | b"e" | b"severe" | b"failure" => Level::Error,
            b"fatal" | b"critical" | b"crit" | b"alert" | b"emerg" | b"emergency" | b"panic"
            | b"f" => Level::Fatal,
            _ => return None,
        })
    }

    /// A syslog severity (RFC 5424 section 6.2.1: 0 emergency … 7 debug).
    pub fn from_syslog_severity(severity: u8) -> Level {
        match severity {
            0..=2 => Level::Fatal,
            3 => Level::Error,
            4 => Level::Warn,
            5 | 6 => Level::Info,
            _ => Level::Debug,
        }
    }

    /// An OpenTelemetry severity number (1–4 TRACE … 21–24 FATAL); `None` for 0 (unspecified)
    /// and out-of-range numbers.
    pub fn from_otel_severity(number: i64) -> Option<Level> {
        Some(match number {
            1..=4 => Level::Trace,
            5..=8 => Level::Debug,
            9..=12 => Level::Info,
            13..=16 => Level::Warn,
            17..=20 => Level::Error,
            21..=24 => Level::Fatal,
            _ => return None,
        })
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// The text is not a level word.
#[derive(Debug, thiserror::Error)]
#[error("unknown level {0:?}; expected one of TRACE, DEBUG, INFO, WARN, ERROR, FATAL")]
pub struct UnknownLevel(String);

impl FromStr for Level {
    type Err = UnknownLevel;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Level::from_word(s).ok_or_else(|| UnknownLevel(s.to_owned()))
    }
}

/// Counts per level, indexed by [`Level::index`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LevelCounts(pub [u32; 6]);

impl LevelCounts {
    pub fn add(&mut self, level: Level) {
        self.0[level.index()] += 1;
    }

    /// Adds another set of counts to these.
    pub fn merge(&mut self, other: &LevelCounts) {
        for (mine, theirs) in self.0.iter_mut().zip(other.0) {
            *mine += theirs;
        }
    }

    pub fn get(&self, level: Level) -> u32 {
        self.0[level.index()]
    }

    pub fn total(&self) -> u32 {
        self.0.iter().sum()
    }

    /// ERROR plus FATAL.
    pub fn errors(&self) -> u32 {
        self.get(Level::Error) + self.get(Level::Fatal)
    }

    /// The most severe level with a count, if any.
    pub fn max(&self) -> Option<Level> {
        Level::ALL.iter().rev().copied().find(|l| self.get(*l) > 0)
    }

    /// The level with the highest count; ties go to the more severe level.
    pub fn dominant(&self) -> Option<Level> {
        Level::ALL
            .iter()
            .copied()
            .filter(|l| self.get(*l) > 0)
            .max_by_key(|l| (self.get(*l), l.index()))
    }
}

impl Serialize for LevelCounts {
    /// As an object of the non-zero counts: `{"ERROR": 70, "INFO": 30}`.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(None)?;
        for level in Level::ALL.iter().rev() {
            let n = self.get(*level);
            if n > 0 {
                map.serialize_entry(level.as_str(), &n)?;
            }
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_words_normalize() {
        for (word, level) in [
            ("WARNING", Level::Warn),
            ("warn", Level::Warn),
            ("Err", Level::Error),
            ("CRIT", Level::Fatal),
            ("notice", Level::Info),
            ("E", Level::Error),
            ("v", Level::Trace),
        ] {
            assert_eq!(Level::from_word(word), Some(level), "{word}");
        }
        assert_eq!(Level::from_word("request"), None);
        assert_eq!(Level::from_word(""), None);
        assert_eq!(Level::from_word("informational-x"), None);
    }

    #[test]
    fn numeric_severities_normalize() {
        assert_eq!(Level::from_syslog_severity(3), Level::Error);
        assert_eq!(Level::from_syslog_severity(0), Level::Fatal);
        assert_eq!(Level::from_syslog_severity(7), Level::Debug);
        assert_eq!(Level::from_otel_severity(17), Some(Level::Error));
        assert_eq!(Level::from_otel_severity(9), Some(Level::Info));
        assert_eq!(Level::from_otel_severity(0), None);
        assert_eq!(Level::from_otel_severity(25), None);
    }

    #[test]
    fn level_counts_summarize() {
        let mut c = LevelCounts::default();
        c.add(Level::Info);
        c.add(Level::Info);
        c.add(Level::Error);
        assert_eq!(c.total(), 3);
        assert_eq!(c.errors(), 1);
        assert_eq!(c.max(), Some(Level::Error));
        assert_eq!(c.dominant(), Some(Level::Info));
        assert_eq!(
            serde_json::to_string(&c).unwrap(),
            r#"{"ERROR":1,"INFO":2}"#
        );
    }
}
