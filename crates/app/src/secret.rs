//! Secrets (the ingest token, routing keys, API keys) that must never reach a log line, a page
//! or an error.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Deserializer};

/// A secret string: `**REDACTED**` in `Debug` and `Display`, so that printing a config or an
/// error that holds one cannot leak it. Cloning shares it (the ingest token is cloned for
/// every request).
#[derive(Clone, PartialEq, Eq)]
pub struct SecretString(Arc<str>);

impl SecretString {
    pub fn new(value: impl Into<Arc<str>>) -> Self {
        Self(value.into())
    }

    /// The value itself, for the request only.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }

    /// Whether `other` is the secret, compared in time independent of where the texts differ,
    /// so that an answer's timing does not tell an attacker how much of a guess was right.
    pub(crate) fn matches(&self, other: &[u8]) -> bool {
        let mine = self.0.as_bytes();
        mine.len() == other.len() && mine.iter().zip(other).fold(0u8, |d, (a, b)| d | (a ^ b)) == 0
    }
}

impl<'de> Deserialize<'de> for SecretString {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(SecretString::new)
    }
}

impl fmt::Display for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("**REDACTED**")
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("**REDACTED**")
    }
}
