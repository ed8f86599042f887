//! LLM analysis on our terms: the model sees the redacted digest, its answer is checked against
//! the window, and when it is slow, wrong or down, the built-in report stands.
//!
//! [`Gate`] decides which windows are worth a call (cost control), [`Analyst`] makes the call
//! through the circuit breaker and a bound on calls in flight, and always returns a report.

mod breaker;
mod client;
pub mod settings;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use ic_core::incident::{IncidentEvent, Transition};
use ic_core::llm::{self, Prepared, PromptConfig, parse_answer};
use ic_core::redact::{RedactError, Redactor, Rule};
use ic_core::{Digest, Report, Severity};
use tokio::sync::Semaphore;

pub use client::{ClientConfig, LlmClient, Provider};

use crate::metrics as names;
use breaker::Breaker;

/// Everything about LLM analysis that can be set.
#[derive(Debug, Clone)]
pub struct LlmSettings {
    pub client: ClientConfig,
    pub prompt: PromptConfig,
    /// Redaction rules applied to everything sent.
    pub redact: Vec<Rule>,
    /// Extra regular expressions whose matches are masked too.
    pub redact_patterns: Vec<String>,
    pub gate: GateConfig,
    /// Calls in flight at once; a window that finds them all busy keeps its built-in report.
    pub max_in_flight: usize,
    /// Failures in a row that open the circuit, and for how long it stays open.
    pub breaker_failures: u32,
    pub breaker_cooldown: Duration,
}

/// Which windows are worth a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GateConfig {
    /// Windows the built-in analyzer rates below this are never sent.
    pub min_severity: Severity,
    /// An incident is asked about again on escalation, or after this long.
    pub refresh: Duration,
}

impl Default for GateConfig {
    fn default() -> Self {
        Self {
            min_severity: Severity::Warning,
            refresh: Duration::from_secs(600),
        }
    }
}

/// Picks the windows to send: new incidents, escalations, and an open incident at most once
/// per `refresh`. Its time is the reports' own, so a replay asks what the live run asked.
#[derive(Debug)]
pub struct Gate {
    min_severity: Severity,
    refresh: chrono::TimeDelta,
    /// When each open incident was last asked about.
    asked: HashMap<String, DateTime<Utc>>,
}

/// A window to ask about, and the incident its answer revises.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ask {
    pub incident: Option<String>,
}

impl Gate {
    pub fn new(config: GateConfig) -> Self {
        Self {
            min_severity: config.min_severity,
            refresh: chrono::TimeDelta::from_std(config.refresh).unwrap_or(chrono::TimeDelta::MAX),
            asked: HashMap::new(),
        }
    }

    /// Forgets that an incident was asked about: the call gave no answer.
    pub fn forget(&mut self, incident: &str) {
        self.asked.remove(incident);
    }

    /// Whether to ask about the window of `report`, given what correlating it did.
    pub fn ask(&mut self, report: &Report, events: &[IncidentEvent]) -> Option<Ask> {
        for event in events {
            if event.transition == Transition::Resolved {
                self.asked.remove(&event.incident.id);
            }
        }
        // Incidents resolved elsewhere (by hand, by expiry) leave entries too: past the refresh
        // time an entry decides nothing.
        let now = report.window.end;
        let refresh = self.refresh;
        self.asked.retain(|_, at| now - *at < refresh);
        if report.severity < self.min_severity {
            metrics::counter!(names::LLM_SKIPPED, "reason" => "below severity").increment(1);
            return None;
        }
        let now = report.window.end;
        let Some(event) = events
            .iter()
            .rfind(|e| e.transition != Transition::Resolved)
        else {
            return Some(Ask { incident: None });
        };
        let id = &event.incident.id;
        let due = match event.transition {
            Transition::Updated => self
                .asked
                .get(id)
                .is_none_or(|&at| now - at >= self.refresh),
            _ => true,
        };
        if !due {
            metrics::counter!(names::LLM_SKIPPED, "reason" => "recently asked").increment(1);
            return None;
        }
        self.asked.insert(id.clone(), now);
        Some(Ask {
            incident: Some(id.clone()),
        })
    }
}

/// Makes the calls. Shared by the tasks of calls in flight.
#[derive(Debug)]
pub struct Analyst {
    client: LlmClient,
    name: String,
    redactor: Redactor,
    prompt: PromptConfig,
    breaker: Breaker,
    permits: Arc<Semaphore>,
    nonces: RandomState,
}

/// Why the analyst could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum AnalystError {
    #[error(transparent)]
    Redact(#[from] RedactError),
    #[error("cannot build the HTTP client: {0}")]
    Client(#[from] reqwest::Error),
}

impl Analyst {
    pub fn new(settings: LlmSettings) -> Result<Self, AnalystError> {
        let redactor = Redactor::new(&settings.redact, &settings.redact_patterns)?;
        let client = LlmClient::new(settings.client)?;
        Ok(Self {
            name: client.name(),
            client,
            redactor,
            prompt: settings.prompt,
            breaker: Breaker::new(settings.breaker_failures, settings.breaker_cooldown),
            permits: Arc::new(Semaphore::new(settings.max_in_flight.max(1))),
            nonces: RandomState::new(),
        })
    }

    /// `openai:MODEL` or `gemini:MODEL`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The prompt for one window, with a fresh nonce for its data markers.
    pub fn prepare(&self, digest: &Digest, builtin: &Report) -> Prepared {
        let prepared = llm::prepare(digest, builtin, &self.redactor, &self.prompt, &self.nonce());
        for (rule, n) in &prepared.redactions {
            metrics::counter!(names::LLM_REDACTIONS, "rule" => *rule).increment(u64::from(*n));
        }
        prepared
    }

    /// 64 bits a log line cannot guess: a counter through the process's randomly keyed
    /// hasher. The text of a window is written before its nonce is drawn, so guessing is all
    /// a forger could do.
    fn nonce(&self) -> String {
        use std::sync::atomic::{AtomicU64, Ordering};
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        format!("{:016x}", self.nonces.hash_one(n))
    }

    /// The window's report: the LLM's when it answers in time with something valid, else the
    /// built-in one signed `builtin (fallback: REASON)`.
    pub async fn write(&self, prepared: Prepared) -> Report {
        let Ok(_permit) = self.permits.try_acquire() else {
            return self.fallback(&prepared, "busy".to_owned());
        };
        if !self.breaker.allow() {
            return self.fallback(&prepared, "circuit open".to_owned());
        }
        let started = Instant::now();
        let completion = self.client.complete(&prepared.prompt).await;
        metrics::histogram!(names::LLM_SECONDS, "analyzer" => self.name.clone())
            .record(started.elapsed());
        let completion = match completion {
            Ok(completion) => {
                self.breaker.success();
                completion
            }
            Err(err) => {
                self.breaker.failure();
                tracing::warn!(analyzer = %self.name, error = %err, "LLM call failed; the built-in report stands.");
                return self.fallback(&prepared, err.reason());
            }
        };
        let usage = completion.usage;
        for (kind, n) in [
            ("prompt", usage.prompt_tokens),
            ("completion", usage.completion_tokens),
        ] {
            metrics::counter!(names::LLM_TOKENS, "analyzer" => self.name.clone(), "kind" => kind)
                .increment(n);
        }
        let checked = parse_answer(&completion.text)
            .and_then(|answer| prepared.context.check(answer, self.name.clone()));
        let mut report = match checked {
            Ok(checked) => {
                if !checked.dropped_services.is_empty() {
                    tracing::info!(analyzer = %self.name, dropped = ?checked.dropped_services, "LLM named services that did not log in the window; dropped them.");
                }
                self.count("ok");
                checked.report
            }
            Err(err) => {
                tracing::warn!(analyzer = %self.name, error = %err, "LLM answer not usable; the built-in report stands.");
                self.fallback(&prepared, err.reason())
            }
        };
        report.llm = Some(usage);
        report
    }

    fn fallback(&self, prepared: &Prepared, reason: String) -> Report {
        self.count(&reason);
        prepared.context.fallback(&reason)
    }

    fn count(&self, outcome: &str) {
        metrics::counter!(names::LLM_CALLS, "analyzer" => self.name.clone(), "outcome" => outcome.to_owned())
            .increment(1);
    }
}
