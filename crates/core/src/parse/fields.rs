//! Turning named fields (JSON keys, logfmt pairs) into an event: which names carry the
//! timestamp, level, service and message, and how their values are read.

use std::borrow::Cow;
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::timestamp;
use crate::event::{Level, LogEvent};

/// What a field's value means for the event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Timestamp,
    Level(LevelScale),
    Service,
    Message,
}

/// How a numeric level is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LevelScale {
    /// `level`, `severity`: a word, or a number whose range tells the scale (see
    /// [`level_from_text`]).
    Word,
    /// `severity_number`: OpenTelemetry's 1–24.
    Otel,
    /// journald's `PRIORITY`: syslog's 0–7.
    Syslog,
}

impl Role {
    fn slot(self) -> usize {
        match self {
            Role::Timestamp => 0,
            Role::Level(_) => 1,
            Role::Service => 2,
            Role::Message => 3,
        }
    }
}

/// The role of a field name (ASCII case ignored) and its rank among the names of that role:
/// when a line has several (`msg` and `log`), the lowest rank wins and the others stay
/// attributes.
fn role(key: &str) -> Option<(Role, u8)> {
    const LONGEST: usize = 20;
    if key.len() > LONGEST {
        return None;
    }
    let mut buf = [0u8; LONGEST];
    let lower = &mut buf[..key.len()];
    lower.copy_from_slice(key.as_bytes());
    lower.make_ascii_lowercase();
    Some(match &*lower {
        b"timestamp" | b"@timestamp" => (Role::Timestamp, 0),
        b"time" | b"ts" => (Role::Timestamp, 1),
        b"__realtime_timestamp" | b"datetime" | b"t" => (Role::Timestamp, 2),
        b"level" | b"log.level" => (Role::Level(LevelScale::Word), 0),
        b"lvl" | b"severity" | b"loglevel" | b"levelname" => (Role::Level(LevelScale::Word), 1),
        b"severity_text" | b"severitytext" => (Role::Level(LevelScale::Word), 2),
        b"severity_number" | b"severitynumber" => (Role::Level(LevelScale::Otel), 3),
        b"priority" => (Role::Level(LevelScale::Syslog), 4),
        b"service" | b"service.name" | b"service_name" | b"servicename" => (Role::Service, 0),
        b"app" | b"application" | b"app_name" => (Role::Service, 1),
        b"component" | b"syslog_identifier" => (Role::Service, 2),
        b"logger" | b"logger_name" => (Role::Service, 3),
        b"message" | b"msg" => (Role::Message, 0),
        b"log" | b"short_message" => (Role::Message, 1),
        _ => return None,
    })
}

/// Whether a field name is one that names the service (for nested `service: {name: …}`).
pub(crate) fn is_service_key(key: &str) -> bool {
    matches!(role(key), Some((Role::Service, _)))
}

/// A level from a field value: a level word, or a number. Under a plain level name, 0–7 are
/// syslog severities (as GELF writes them), multiples of ten up to 60 are bunyan/pino levels,
/// and other numbers up to 24 are OpenTelemetry severity numbers.
fn level_from_text(scale: LevelScale, text: &str) -> Option<Level> {
    let text = text.trim();
    let Ok(number) = text.parse::<i64>() else {
        return Level::from_word(text).or_else(|| log15_word(text));
    };
    match (scale, number) {
        (LevelScale::Otel, n) => Level::from_otel_severity(n),
        (LevelScale::Syslog | LevelScale::Word, 0..=7) => Some(Level::from_syslog_severity(
            u8::try_from(number).unwrap_or(7),
        )),
        (LevelScale::Syslog, _) => None,
        (LevelScale::Word, 10 | 20 | 30 | 40 | 50 | 60) => Some(bunyan(number)),
        (LevelScale::Word, n) => Level::from_otel_severity(n),
    }
}

/// log15's (and Grafana's) four-letter words that are not common elsewhere.
fn log15_word(text: &str) -> Option<Level> {
    match text {
        "dbug" => Some(Level::Debug),
        "eror" => Some(Level::Error),
        _ => None,
    }
}

/// bunyan's and pino's numeric levels (10 trace … 60 fatal).
fn bunyan(number: i64) -> Level {
    match number {
        10 => Level::Trace,
        20 => Level::Debug,
        30 => Level::Info,
        40 => Level::Warn,
        50 => Level::Error,
        _ => Level::Fatal,
    }
}

/// One field held for a role until the whole line has been read.
struct Slot<'a> {
    rank: u8,
    role: Role,
    key: Cow<'a, str>,
    value: Cow<'a, str>,
}

/// Collects a line's fields and builds the event from them.
#[derive(Default)]
pub(crate) struct Fields<'a> {
    slots: [Option<Slot<'a>>; 4],
    attributes: BTreeMap<String, String>,
}

impl<'a> Fields<'a> {
    /// Adds one field; a name with a role takes its slot unless a better-ranked one holds it.
    pub(crate) fn push(&mut self, key: Cow<'a, str>, value: Cow<'a, str>) {
        let Some((role, rank)) = role(&key) else {
            self.attribute(key, value);
            return;
        };
        let slot = &mut self.slots[role.slot()];
        if slot.as_ref().is_some_and(|held| held.rank <= rank) {
            self.attribute(key, value);
            return;
        }
        let new = Slot {
            rank,
            role,
            key,
            value,
        };
        if let Some(old) = slot.replace(new) {
            self.attribute(old.key, old.value);
        }
    }

    /// Adds a field that is kept as an attribute whatever its name. A name given twice keeps
    /// both values, joined by `, `.
    pub(crate) fn attribute(&mut self, key: Cow<'a, str>, value: Cow<'a, str>) {
        self.attributes
            .entry(key.into_owned())
            .and_modify(|held| {
                held.push_str(", ");
                held.push_str(&value);
            })
            .or_insert_with(|| value.to_string());
    }

    /// The event. A value that does not read as its role's type (a timestamp that is no
    /// time) stays an attribute; with no message field the whole line is the message, so
    /// nothing is lost and the template miner still has text.
    pub(crate) fn into_event(mut self, line: &str, received: DateTime<Utc>) -> LogEvent {
        let [ts, level, service, message] = std::mem::take(&mut self.slots);
        let timestamp = ts
            .and_then(|slot| self.read(slot, |v| timestamp::parse_text(v, received)))
            .unwrap_or(received);
        let level = level
            .and_then(|slot| {
                let Role::Level(scale) = slot.role else {
                    return None;
                };
                self.read(slot, |v| level_from_text(scale, v))
            })
            .unwrap_or_default();
        LogEvent {
            timestamp,
            service: service.map(|s| s.value.into_owned()).unwrap_or_default(),
            level,
            message: message.map_or_else(|| line.to_owned(), |m| m.value.into_owned()),
            attributes: self.attributes,
        }
    }

    /// Reads a slot's value, or gives it back as an attribute.
    fn read<T>(&mut self, slot: Slot<'a>, read: impl FnOnce(&str) -> Option<T>) -> Option<T> {
        let value = read(&slot.value);
        if value.is_none() {
            self.attribute(slot.key, slot.value);
        }
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn numeric_levels_follow_their_scale() {
        for (scale, text, level) in [
            (LevelScale::Word, "3", Some(Level::Error)),
            (LevelScale::Word, "30", Some(Level::Info)),
            (LevelScale::Word, "50", Some(Level::Error)),
            (LevelScale::Word, "17", Some(Level::Error)),
            (LevelScale::Word, "99", None),
            (LevelScale::Word, "warning", Some(Level::Warn)),
            (LevelScale::Word, "dbug", Some(Level::Debug)),
            (LevelScale::Otel, "9", Some(Level::Info)),
            (LevelScale::Otel, "3", Some(Level::Trace)),
            (LevelScale::Syslog, "6", Some(Level::Info)),
            (LevelScale::Syslog, "12", None),
        ] {
            assert_eq!(level_from_text(scale, text), level, "{scale:?} {text}");
        }
    }

    #[test]
    fn best_ranked_name_wins_and_others_stay() {
        let received = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap();
        let mut fields = Fields::default();
        for (k, v) in [
            ("log", "from log"),
            ("msg", "from msg"),
            ("logger", "db.pool"),
            ("service", "inventory"),
            ("level", "loud"),
            ("time", "yesterday"),
        ] {
            fields.push(k.into(), v.into());
        }
        let event = fields.into_event("the line", received);
        assert_eq!(event.message, "from msg");
        assert_eq!(event.service, "inventory");
        assert_eq!(event.level, Level::Info);
        assert_eq!(event.timestamp, received);
        let attrs: Vec<_> = event.attributes.keys().map(String::as_str).collect();
        assert_eq!(attrs, ["level", "log", "logger", "time"]);
    }
}
