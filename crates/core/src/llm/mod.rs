//! What an LLM sees of a window and what of its answer is kept: the pure half of LLM analysis.
//!
//! The prompt is the window's [`Digest`], redacted and cut to a token budget, marked as
//! untrusted data (see [`prompt`]). The answer is parsed tolerantly and checked against the
//! window before any of it reaches a report (see [`answer`]): it may rewrite the title and the
//! summary, raise the severity and name services that logged in the window, nothing more.
//! The HTTP calls live in the binary.

pub mod answer;
pub mod prompt;

pub use answer::{Answer, AnswerError, Checked, parse_answer, response_schema};
pub use prompt::{Prompt, PromptConfig};

use crate::condense::Digest;
use crate::redact::Redactor;
use crate::report::Report;

/// A window made ready for an LLM call: the prompt, and what the answer is checked against.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub prompt: Prompt,
    /// The built-in report, which names the window's services and templates: enough to check
    /// an answer after the digest itself is gone.
    pub context: answer::Context,
    /// Secrets masked in the prompt: `(rule, count)`.
    pub redactions: Vec<(&'static str, u32)>,
}

/// Builds the prompt for one window and keeps what its answer will be checked against.
/// `nonce` makes the data markers unforgeable: pass a fresh random value per call.
pub fn prepare(
    digest: &Digest,
    builtin: &Report,
    redactor: &Redactor,
    config: &PromptConfig,
    nonce: &str,
) -> Prepared {
    let (prompt, redactions) = prompt::build(digest, builtin, redactor, config, nonce);
    Prepared {
        prompt,
        context: answer::Context::new(builtin),
        redactions,
    }
}

#[cfg(test)]
pub(crate) mod fixtures;
