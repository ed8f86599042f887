//! Silences: what an on-call engineer mutes, for how long, and why.
//!
//! A silence is Prometheus Alertmanager's (its v2 API's JSON, so people and scripts that know
//! it need nothing new): matchers that must all match an incident, a start and an end (a start
//! in the future is a maintenance window), who made it and why. Matcher names are what an
//! incident has: `service` (its root-cause service), `impacted` (any of the services it
//! impacts, the root cause among them: a maintenance window on a service then mutes what it
//! causes and what it suffers), `template` (its root-cause template), `fingerprint`, and
//! `severity`, which matches incidents at or below the severity given, so
//! that a silence of Warnings lets a Critical page. A value is matched whole; `*` and `?` in
//! it match any run of characters and any one (a glob), and `isRegex` makes it a regular
//! expression, anchored at both ends as Alertmanager anchors them. `isEqual: false` negates.
//!
//! A silence may also carry a [`Schedule`] (Alertmanager's time intervals, in UTC): between its
//! start and its end it mutes only on those weekdays and in those times of day, for recurring
//! maintenance.
//!
//! Silencing only keeps notifications back: a silenced incident still opens, updates and
//! resolves. The rest (storing, keeping notifications back, sending them when the silence
//! ends) lives with the store and the notifier; this module decides what a silence matches.

mod schedule;

use std::fmt;

use chrono::{DateTime, Utc};
use regex::{Regex, RegexBuilder};
use serde::{Deserialize, Serialize};

pub use schedule::{Location, Schedule, TimeRange, WeekdayRange};

use crate::Severity;
use crate::incident::Incident;

/// Matchers a silence may have, at most.
pub const MAX_MATCHERS: usize = 16;
/// Longest matcher value, in bytes.
pub const MAX_VALUE_LEN: usize = 1024;
/// Longest `createdBy`, in bytes.
pub const MAX_AUTHOR_LEN: usize = 256;
/// Longest comment, in bytes.
pub const MAX_COMMENT_LEN: usize = 4096;
/// Compiled size a matcher's regular expression may take: a hostile pattern cannot grow the
/// process's memory.
const MAX_REGEX_BYTES: usize = 256 * 1024;

/// What an incident is matched on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MatcherName {
    /// The root-cause service.
    Service,
    /// Any of the impacted services, the root-cause service among them: a positive matcher
    /// matches when one of them does, a negative one when none does.
    Impacted,
    /// The root-cause template's text.
    Template,
    Fingerprint,
    /// The incident's severity: a plain value matches it and every lower one.
    Severity,
}

impl MatcherName {
    pub const fn as_str(self) -> &'static str {
        match self {
            MatcherName::Service => "service",
            MatcherName::Impacted => "impacted",
            MatcherName::Template => "template",
            MatcherName::Fingerprint => "fingerprint",
            MatcherName::Severity => "severity",
        }
    }
}

impl fmt::Display for MatcherName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// One matcher, as Alertmanager writes it: `{"name", "value", "isRegex", "isEqual"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Matcher {
    pub name: MatcherName,
    pub value: String,
    #[serde(default)]
    pub is_regex: bool,
    #[serde(default = "equal")]
    pub is_equal: bool,
}

fn equal() -> bool {
    true
}

impl fmt::Display for Matcher {
    /// Alertmanager's notation: `service="db"`, `service=~"db-.*"`, `severity!="critical"`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = match (self.is_equal, self.is_regex) {
            (true, false) => "=",
            (false, false) => "!=",
            (true, true) => "=~",
            (false, true) => "!~",
        };
        write!(f, "{}{op}{:?}", self.name, self.value)
    }
}

impl std::str::FromStr for Matcher {
    type Err = String;

    /// Alertmanager's notation, as `amtool` takes it: `service=db`, `service!=db`,
    /// `template=~"Pool.*"`, `severity!~critical`; quotes around the value are optional.
    fn from_str(text: &str) -> Result<Self, String> {
        let at = text
            .find(['=', '!'])
            .ok_or_else(|| format!("{text:?} is not a matcher; write NAME=VALUE, NAME!=VALUE, NAME=~REGEX or NAME!~REGEX"))?;
        let (name, rest) = text.split_at(at);
        let (op, value) = ["=~", "!~", "!=", "="]
            .into_iter()
            .find_map(|op| rest.strip_prefix(op).map(|value| (op, value)))
            .ok_or_else(|| format!("{text:?}: the operator is one of =, !=, =~, !~"))?;
        let name: MatcherName = serde_json::from_value(serde_json::Value::from(name.trim()))
            .map_err(|_| {
                format!("{text:?}: {name:?} is not a matcher name; use service, impacted, template, fingerprint or severity")
            })?;
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value);
        Ok(Matcher {
            name,
            value: value.to_owned(),
            is_regex: op.ends_with('~'),
            is_equal: !op.starts_with('!'),
        })
    }
}

/// What a silence mutes, when, who made it and why: the part Alertmanager's postable and
/// gettable silences share.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Terms {
    pub matchers: Vec<Matcher>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub created_by: String,
    pub comment: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<Schedule>,
}

/// A silence as it is asked for: Alertmanager's postable silence, with a schedule beside.
/// With an `id`, it replaces that silence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SilenceSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(flatten)]
    pub terms: Terms,
}

/// A stored silence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Silence {
    pub id: String,
    #[serde(flatten)]
    pub terms: Terms,
    pub updated_at: DateTime<Utc>,
    /// When it first muted an open incident (whether or not a notification was due then);
    /// `None` while it has matched nothing.
    #[serde(default)]
    pub matched_at: Option<DateTime<Utc>>,
}

/// Where a silence is in its life, as Alertmanager names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SilenceState {
    /// It starts later: a maintenance window to come.
    Pending,
    Active,
    Expired,
}

impl SilenceState {
    pub const fn as_str(self) -> &'static str {
        match self {
            SilenceState::Pending => "pending",
            SilenceState::Active => "active",
            SilenceState::Expired => "expired",
        }
    }
}

/// Why a silence was refused; the message says what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SilenceError {
    #[error("a silence needs at least one matcher")]
    NoMatchers,
    #[error("a silence may have at most {MAX_MATCHERS} matchers")]
    TooManyMatchers,
    #[error("matcher {name}: the value is longer than {MAX_VALUE_LEN} bytes")]
    ValueTooLong { name: MatcherName },
    #[error("matcher {name}: {message}")]
    InvalidRegex { name: MatcherName, message: String },
    #[error(
        "matcher severity: {value:?} is not a severity; use info, warning or critical \
         (or isRegex for a pattern)"
    )]
    InvalidSeverity { value: String },
    #[error("endsAt must be after startsAt")]
    EndsBeforeStart,
    #[error("endsAt is in the past: the silence would never mute anything")]
    AlreadyEnded,
    #[error("createdBy must name who made the silence (at most {MAX_AUTHOR_LEN} bytes)")]
    Author,
    #[error("comment must say why (at most {MAX_COMMENT_LEN} bytes)")]
    Comment,
    #[error("schedule: {0}")]
    Schedule(String),
}

impl SilenceSpec {
    /// Checks what Alertmanager checks, and our bounds: matchers that compile, an end after
    /// the start and after `now`, an author and a reason.
    pub fn validate(&self, now: DateTime<Utc>) -> Result<(), SilenceError> {
        if self.terms.matchers.is_empty() {
            return Err(SilenceError::NoMatchers);
        }
        if self.terms.matchers.len() > MAX_MATCHERS {
            return Err(SilenceError::TooManyMatchers);
        }
        for matcher in &self.terms.matchers {
            Test::compile(matcher)?;
        }
        if self.terms.ends_at <= self.terms.starts_at {
            return Err(SilenceError::EndsBeforeStart);
        }
        if self.terms.ends_at <= now {
            return Err(SilenceError::AlreadyEnded);
        }
        if self.terms.created_by.trim().is_empty() || self.terms.created_by.len() > MAX_AUTHOR_LEN {
            return Err(SilenceError::Author);
        }
        if self.terms.comment.trim().is_empty() || self.terms.comment.len() > MAX_COMMENT_LEN {
            return Err(SilenceError::Comment);
        }
        if let Some(schedule) = &self.terms.schedule {
            schedule.validate().map_err(SilenceError::Schedule)?;
        }
        Ok(())
    }

    /// The stored silence this spec makes, under `id`, written at `now`.
    pub fn into_silence(self, id: String, now: DateTime<Utc>) -> Silence {
        Silence {
            id,
            terms: self.terms,
            updated_at: now,
            matched_at: None,
        }
    }
}

impl Silence {
    pub fn state(&self, now: DateTime<Utc>) -> SilenceState {
        if now >= self.terms.ends_at {
            SilenceState::Expired
        } else if now < self.terms.starts_at {
            SilenceState::Pending
        } else {
            SilenceState::Active
        }
    }

    /// Whether it mutes at `now`: active, and inside its schedule if it has one.
    pub fn mutes_at(&self, now: DateTime<Utc>) -> bool {
        self.state(now) == SilenceState::Active
            && self.terms.schedule.as_ref().is_none_or(|s| s.contains(now))
    }

    /// The matchers compiled, for matching many incidents. Fails only for a silence that
    /// [`SilenceSpec::validate`] would refuse.
    pub fn compile(&self) -> Result<CompiledSilence, SilenceError> {
        let tests = self
            .terms
            .matchers
            .iter()
            .map(Test::compile)
            .collect::<Result<_, _>>()?;
        Ok(CompiledSilence {
            silence: self.clone(),
            tests,
        })
    }
}

/// A silence with its matchers compiled.
#[derive(Debug, Clone)]
pub struct CompiledSilence {
    pub silence: Silence,
    tests: Vec<Test>,
}

impl CompiledSilence {
    /// Whether every matcher matches the incident (whatever the time).
    pub fn matches(&self, incident: &Incident) -> bool {
        self.tests.iter().all(|test| test.matches(incident))
    }

    /// Whether it mutes the incident at `now`.
    pub fn mutes(&self, incident: &Incident, now: DateTime<Utc>) -> bool {
        self.silence.mutes_at(now) && self.matches(incident)
    }
}

/// One compiled matcher.
#[derive(Debug, Clone)]
struct Test {
    name: MatcherName,
    pattern: Pattern,
    is_equal: bool,
}

#[derive(Debug, Clone)]
enum Pattern {
    Exact(String),
    Regex(Regex),
    AtOrBelow(Severity),
}

impl Test {
    fn compile(matcher: &Matcher) -> Result<Test, SilenceError> {
        let name = matcher.name;
        let value = &matcher.value;
        if value.len() > MAX_VALUE_LEN {
            return Err(SilenceError::ValueTooLong { name });
        }
        let pattern = if matcher.is_regex {
            Pattern::Regex(anchored(name, value)?)
        } else if name == MatcherName::Severity {
            Pattern::AtOrBelow(
                severity(value).ok_or_else(|| SilenceError::InvalidSeverity {
                    value: value.clone(),
                })?,
            )
        } else if value.contains(['*', '?']) {
            Pattern::Regex(anchored(name, &glob_to_regex(value))?)
        } else {
            Pattern::Exact(value.clone())
        };
        Ok(Test {
            name,
            pattern,
            is_equal: matcher.is_equal,
        })
    }

    fn matches(&self, incident: &Incident) -> bool {
        let found = match self.name {
            MatcherName::Service => self.finds(&incident.root_cause.service, incident),
            MatcherName::Impacted => incident
                .impacted_services
                .iter()
                .any(|service| self.finds(service, incident)),
            MatcherName::Template => self.finds(&incident.root_cause.template, incident),
            MatcherName::Fingerprint => self.finds(&incident.fingerprint, incident),
            MatcherName::Severity => self.finds(incident.severity.as_str(), incident),
        };
        found == self.is_equal
    }

    /// Whether the pattern holds for one of the incident's values, before any negation.
    fn finds(&self, text: &str, incident: &Incident) -> bool {
        match &self.pattern {
            Pattern::Exact(value) => text == value,
            Pattern::Regex(regex) => regex.is_match(text),
            Pattern::AtOrBelow(severity) => incident.severity <= *severity,
        }
    }
}

/// A severity's name, in any case.
fn severity(value: &str) -> Option<Severity> {
    [Severity::Info, Severity::Warning, Severity::Critical]
        .into_iter()
        .find(|s| s.as_str().eq_ignore_ascii_case(value.trim()))
}

/// Alertmanager anchors matcher regexes at both ends; severity names match in any case.
fn anchored(name: MatcherName, pattern: &str) -> Result<Regex, SilenceError> {
    RegexBuilder::new(&format!("^(?:{pattern})$"))
        .case_insensitive(name == MatcherName::Severity)
        .size_limit(MAX_REGEX_BYTES)
        .dfa_size_limit(MAX_REGEX_BYTES)
        .build()
        .map_err(|err| SilenceError::InvalidRegex {
            name,
            message: err.to_string(),
        })
}

/// `payments-*` as a regular expression: `*` any run, `?` any one character, the rest
/// literal.
fn glob_to_regex(glob: &str) -> String {
    let mut regex = String::with_capacity(glob.len() + 8);
    let mut literal = [0u8; 4];
    for c in glob.chars() {
        match c {
            '*' => regex.push_str(".*"),
            '?' => regex.push('.'),
            c => regex.push_str(&regex::escape(c.encode_utf8(&mut literal))),
        }
    }
    regex
}

#[cfg(test)]
mod tests;
