//! The answer: found in whatever the model wrapped it in, then checked against the window.
//!
//! Models wrap JSON in code fences, in a one-element list or in prose, even when a schema was
//! asked for; all of that is accepted. What is in the JSON is not trusted: services must be
//! ones that logged in the window, the severity can only rise above the built-in analyzer's
//! (a log line cannot talk an outage down), and title and summary are bounded plain text.

use serde::Deserialize;
use serde_json::{Value, json};

use crate::analyze::narrate::shorten;
use crate::report::{Report, RootCause, Severity};

/// Longest title and summary kept, in characters.
pub const MAX_TITLE_CHARS: usize = 120;
pub const MAX_SUMMARY_CHARS: usize = 1000;
/// Places in an answer where a JSON value is looked for before giving up.
const MAX_JSON_STARTS: usize = 32;

/// The seed's report schema plus the root cause, as a model answers it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Answer {
    pub title: String,
    pub severity: String,
    #[serde(default)]
    pub impacted_services: Vec<String>,
    pub summary: String,
    #[serde(default)]
    pub root_cause_service: Option<String>,
}

/// Why an answer was not used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnswerError {
    #[error("no JSON in answer")]
    NoJson,
    #[error("answer off schema: {0}")]
    Schema(String),
    #[error("unknown severity {0:?}")]
    Severity(String),
    #[error("empty {0}")]
    Empty(&'static str),
}

impl AnswerError {
    /// A few words for the report's `analyzer` field: `builtin (fallback: REASON)`.
    pub fn reason(&self) -> String {
        match self {
            AnswerError::NoJson => "no JSON in answer".to_owned(),
            AnswerError::Schema(_) => "answer off schema".to_owned(),
            AnswerError::Severity(_) => "unknown severity".to_owned(),
            AnswerError::Empty(field) => format!("empty {field}"),
        }
    }
}

/// The JSON schema the answer is asked to follow. Every property is required and no other is
/// allowed, as OpenAI's strict mode demands; Gemini takes the same schema.
pub fn response_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "title": {"type": "string", "description": "One line, under 100 characters."},
            "severity": {"type": "string", "enum": ["Critical", "Warning", "Info"]},
            "root_cause_service": {"type": "string", "description": "A name from services."},
            "impacted_services": {"type": "array", "items": {"type": "string"}},
            "summary": {"type": "string", "description": "At most 3 sentences."}
        },
        "required": ["title", "severity", "root_cause_service", "impacted_services", "summary"],
        "additionalProperties": false
    })
}

/// Finds the answer in a model's reply: bare JSON, fenced, in a list or inside prose.
pub fn parse_answer(reply: &str) -> Result<Answer, AnswerError> {
    let value = find_json(reply).ok_or(AnswerError::NoJson)?;
    let object = match value {
        Value::Array(items) => items
            .into_iter()
            .find(Value::is_object)
            .ok_or(AnswerError::NoJson)?,
        other => other,
    };
    serde_json::from_value(object).map_err(|err| AnswerError::Schema(err.to_string()))
}

/// The first JSON object or array in `text`: each `{` or `[` is tried as the start of one, so
/// code fences and prose around it are skipped.
fn find_json(text: &str) -> Option<Value> {
    text.match_indices(['{', '['])
        .take(MAX_JSON_STARTS)
        .find_map(|(i, _)| {
            let mut values = serde_json::Deserializer::from_str(&text[i..]).into_iter::<Value>();
            values
                .next()?
                .ok()
                .filter(|v| v.is_object() || v.is_array())
        })
}

/// What an answer is checked against: the built-in report of its window, which names every
/// service and template of the window.
#[derive(Debug, Clone)]
pub struct Context {
    builtin: Report,
}

/// An answer that passed the checks.
#[derive(Debug, Clone, PartialEq)]
pub struct Checked {
    pub report: Report,
    /// Services the answer named that did not log in the window.
    pub dropped_services: Vec<String>,
}

impl Context {
    pub fn new(builtin: &Report) -> Self {
        Self {
            builtin: builtin.clone(),
        }
    }

    pub fn builtin(&self) -> &Report {
        &self.builtin
    }

    /// The built-in report, signed as the fallback it is.
    pub fn fallback(&self, reason: &str) -> Report {
        let mut report = self.builtin.clone();
        report.analyzer = format!("{} (fallback: {reason})", report.analyzer);
        report
    }

    /// The report the answer makes, signed by `analyzer`; an error when nothing of it can be
    /// used.
    pub fn check(&self, answer: Answer, analyzer: String) -> Result<Checked, AnswerError> {
        let title = plain_text(&answer.title, MAX_TITLE_CHARS);
        let summary = plain_text(&answer.summary, MAX_SUMMARY_CHARS);
        if title.is_empty() {
            return Err(AnswerError::Empty("title"));
        }
        if summary.is_empty() {
            return Err(AnswerError::Empty("summary"));
        }
        let severity = parse_severity(&answer.severity)?.max(self.builtin.severity);
        let mut dropped = Vec::new();
        let root_cause = answer
            .root_cause_service
            .as_deref()
            .filter(|name| !name.trim().is_empty())
            .and_then(|name| self.known(name, &mut dropped))
            .map(|service| self.root_cause(service))
            .or_else(|| self.builtin.root_cause.clone());
        let mut impacted: Vec<String> = root_cause.iter().map(|r| r.service.clone()).collect();
        for name in &answer.impacted_services {
            if let Some(service) = self.known(name, &mut dropped)
                && !impacted.iter().any(|s| s == service)
            {
                impacted.push(service.to_owned());
            }
        }
        if impacted.is_empty() {
            impacted.clone_from(&self.builtin.impacted_services);
        }
        let report = Report {
            title,
            severity,
            impacted_services: impacted,
            summary,
            root_cause,
            analyzer,
            ..self.builtin.clone()
        };
        Ok(Checked {
            report,
            dropped_services: dropped,
        })
    }

    /// The window's own spelling of a service the answer named, if it logged in the window;
    /// otherwise the name is noted in `dropped`.
    fn known<'a>(&'a self, name: &str, dropped: &mut Vec<String>) -> Option<&'a str> {
        let name = name.trim();
        let found = self
            .builtin
            .templates
            .iter()
            .flat_map(|t| &t.services)
            .find(|s| s.as_str() == name)
            .or_else(|| {
                self.builtin
                    .templates
                    .iter()
                    .flat_map(|t| &t.services)
                    .find(|s| s.eq_ignore_ascii_case(name))
            });
        if found.is_none() {
            dropped.push(shorten(name, 60));
        }
        found.map(String::as_str)
    }

    /// A service's most telling template: its first in the report's order, which puts flagged
    /// templates first.
    fn root_cause(&self, service: &str) -> RootCause {
        if let Some(root) = &self.builtin.root_cause
            && root.service == service
        {
            return root.clone();
        }
        let template = self
            .builtin
            .templates
            .iter()
            .find(|t| t.services.iter().any(|s| s == service))
            .map(|t| t.template.clone())
            .unwrap_or_default();
        RootCause {
            service: service.to_owned(),
            template,
            candidates: Vec::new(),
        }
    }
}

fn parse_severity(word: &str) -> Result<Severity, AnswerError> {
    match word.trim().to_ascii_lowercase().as_str() {
        "critical" => Ok(Severity::Critical),
        "warning" | "warn" => Ok(Severity::Warning),
        "info" => Ok(Severity::Info),
        _ => Err(AnswerError::Severity(shorten(word, 20))),
    }
}

/// One line of plain text: control and direction-override characters dropped (they could
/// reorder what a reader sees), whitespace runs made one space, cut to `max` characters.
fn plain_text(text: &str, max: usize) -> String {
    let hidden = |c: char| {
        c.is_whitespace()
            || c.is_control()
            || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
    };
    let words: Vec<&str> = text.split(hidden).filter(|w| !w.is_empty()).collect();
    shorten(&words.join(" "), max)
}

#[cfg(test)]
mod tests;
