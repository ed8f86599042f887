//! A thin client for the two wire formats: OpenAI chat completions (which Ollama, vLLM,
//! llama.cpp's server, LM Studio and Gemini's compatible endpoint also speak) and Gemini's
//! native `generateContent`. One POST each, with a JSON schema for the answer.

use std::time::Duration;

use ic_core::llm::{Prompt, response_schema};
use ic_core::report::LlmUsage;
use reqwest::header::CONTENT_TYPE;
use serde::Deserialize;
use serde_json::{Value, json};
use url::Url;

use crate::http_retry::{Backoff, HttpError, with_retries};
use crate::secret::SecretString;

/// Which API the endpoint speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    OpenAi,
    Gemini,
}

impl Provider {
    pub const fn as_str(self) -> &'static str {
        match self {
            Provider::OpenAi => "openai",
            Provider::Gemini => "gemini",
        }
    }

    pub const fn default_base_url(self) -> &'static str {
        match self {
            Provider::OpenAi => "https://api.openai.com/v1",
            Provider::Gemini => "https://generativelanguage.googleapis.com",
        }
    }

    pub const fn default_model(self) -> &'static str {
        match self {
            Provider::OpenAi => "gpt-4o-mini",
            Provider::Gemini => "gemini-2.5-flash",
        }
    }
}

/// Where and how to call.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub provider: Provider,
    pub base_url: Url,
    pub model: String,
    /// `None` for local servers that take none (Ollama).
    pub api_key: Option<SecretString>,
    /// For the whole call, retries included.
    pub timeout: Duration,
    pub backoff: Backoff,
}

/// What came back: the model's text and the tokens the API counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    pub text: String,
    pub usage: LlmUsage,
}

/// Why a call gave no text.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error("unexpected response: {0}")]
    Unexpected(String),
}

impl CallError {
    /// A few words for `builtin (fallback: REASON)` and the metrics.
    pub fn reason(&self) -> String {
        match self {
            CallError::Timeout(_) | CallError::Http(HttpError::Timeout(_)) => "timeout".to_owned(),
            CallError::Http(HttpError::Status { status, .. }) => format!("HTTP {status}"),
            CallError::Http(HttpError::Transport(_)) => "unreachable".to_owned(),
            CallError::Unexpected(_) => "unexpected response".to_owned(),
        }
    }
}

/// One provider, one model, one connection pool.
#[derive(Debug, Clone)]
pub struct LlmClient {
    http: reqwest::Client,
    endpoint: Url,
    config: ClientConfig,
}

impl LlmClient {
    pub fn new(config: ClientConfig) -> Result<Self, reqwest::Error> {
        crate::http_retry::install_crypto_provider();
        let http = reqwest::Client::builder()
            // A redirect would resend the key to another address.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("incident-commander/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(reqwest::Error::without_url)?;
        Ok(Self {
            http,
            endpoint: endpoint(&config),
            config,
        })
    }

    /// How reports written by this client are signed: `openai:MODEL`, `gemini:MODEL`.
    pub fn name(&self) -> String {
        format!("{}:{}", self.config.provider.as_str(), self.config.model)
    }

    /// Sends the prompt and returns the model's text, retrying 429 and 5xx answers, all within
    /// the configured timeout.
    pub async fn complete(&self, prompt: &Prompt) -> Result<Completion, CallError> {
        let body = match self.config.provider {
            Provider::OpenAi => openai_body(&self.config.model, prompt),
            Provider::Gemini => gemini_body(prompt),
        };
        let timeout = self.config.timeout;
        let call = with_retries(
            self.config.backoff,
            || self.post(&body),
            |err, after| tracing::debug!(error = %err, retry_in = ?after, "LLM call failed; retrying."),
        );
        let response = tokio::time::timeout(timeout, call)
            .await
            .map_err(|_| CallError::Timeout(timeout))??;
        match self.config.provider {
            Provider::OpenAi => openai_completion(response),
            Provider::Gemini => gemini_completion(response),
        }
    }

    async fn post(&self, body: &Value) -> Result<Value, HttpError> {
        let timeout = self.config.timeout;
        let mut request = self
            .http
            .post(self.endpoint.clone())
            .timeout(timeout)
            .header(CONTENT_TYPE, "application/json")
            .json(body);
        if let Some(key) = &self.config.api_key {
            request = match self.config.provider {
                Provider::OpenAi => request.bearer_auth(key.expose()),
                Provider::Gemini => request.header("x-goog-api-key", key.expose()),
            };
        }
        let response = request
            .send()
            .await
            .map_err(|err| HttpError::sending(err, timeout))?;
        if !response.status().is_success() {
            return Err(HttpError::status(&response));
        }
        let body = read_capped(response)
            .await
            .map_err(|err| HttpError::sending(err, timeout))?;
        // An answer that is not JSON is an unexpected response, not a transport failure: it is
        // not retried.
        Ok(serde_json::from_slice(&body).unwrap_or(Value::Null))
    }
}

/// Longest answer read: a report is a few hundred bytes; a server sending more is cut off.
const MAX_RESPONSE_BYTES: usize = 1 << 20;

/// The body, at most [`MAX_RESPONSE_BYTES`] of it.
async fn read_capped(mut response: reqwest::Response) -> Result<Vec<u8>, reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        let room = MAX_RESPONSE_BYTES - body.len();
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() == MAX_RESPONSE_BYTES {
            break;
        }
    }
    Ok(body)
}

fn endpoint(config: &ClientConfig) -> Url {
    let base = config.base_url.as_str().trim_end_matches('/');
    let path = match config.provider {
        Provider::OpenAi => "/chat/completions".to_owned(),
        Provider::Gemini => format!("/v1beta/models/{}:generateContent", config.model),
    };
    Url::parse(&format!("{base}{path}")).unwrap_or_else(|_| config.base_url.clone())
}

fn openai_body(model: &str, prompt: &Prompt) -> Value {
    json!({
        "model": model,
        "messages": [
            {"role": "system", "content": prompt.system},
            {"role": "user", "content": prompt.user},
        ],
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "incident_report", "strict": true, "schema": response_schema()},
        },
        "temperature": 0,
    })
}

fn gemini_body(prompt: &Prompt) -> Value {
    json!({
        "systemInstruction": {"parts": [{"text": prompt.system}]},
        "contents": [{"role": "user", "parts": [{"text": prompt.user}]}],
        "generationConfig": {
            "responseMimeType": "application/json",
            "responseJsonSchema": response_schema(),
            "temperature": 0,
        },
    })
}

#[derive(Deserialize)]
struct OpenAiResponse {
    #[serde(default)]
    choices: Vec<OpenAiChoice>,
    #[serde(default)]
    usage: Option<OpenAiUsage>,
}

#[derive(Deserialize)]
struct OpenAiChoice {
    message: OpenAiMessage,
}

#[derive(Deserialize)]
struct OpenAiMessage {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    refusal: Option<String>,
}

#[derive(Deserialize)]
struct OpenAiUsage {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
}

fn openai_completion(response: Value) -> Result<Completion, CallError> {
    let response: OpenAiResponse = serde_json::from_value(response)
        .map_err(|err| CallError::Unexpected(format!("not a chat completion: {err}")))?;
    let usage = response.usage.map_or_else(LlmUsage::default, |u| LlmUsage {
        prompt_tokens: u.prompt_tokens,
        completion_tokens: u.completion_tokens,
    });
    let message = response
        .choices
        .into_iter()
        .next()
        .ok_or_else(|| CallError::Unexpected("no choices".to_owned()))?
        .message;
    match (message.content, message.refusal) {
        (Some(text), _) if !text.trim().is_empty() => Ok(Completion { text, usage }),
        (_, Some(_)) => Err(CallError::Unexpected("the model refused".to_owned())),
        _ => Err(CallError::Unexpected("empty message".to_owned())),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GeminiResponse {
    #[serde(default)]
    candidates: Vec<GeminiCandidate>,
    #[serde(default)]
    usage_metadata: Option<GeminiUsage>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GeminiCandidate {
    #[serde(default)]
    content: Option<GeminiContent>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct GeminiContent {
    #[serde(default)]
    parts: Vec<GeminiPart>,
}

#[derive(Deserialize)]
struct GeminiPart {
    #[serde(default)]
    text: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GeminiUsage {
    #[serde(default)]
    prompt_token_count: u64,
    #[serde(default)]
    candidates_token_count: u64,
}

fn gemini_completion(response: Value) -> Result<Completion, CallError> {
    let response: GeminiResponse = serde_json::from_value(response)
        .map_err(|err| CallError::Unexpected(format!("not a generateContent answer: {err}")))?;
    let usage = response
        .usage_metadata
        .map_or_else(LlmUsage::default, |u| LlmUsage {
            prompt_tokens: u.prompt_token_count,
            completion_tokens: u.candidates_token_count,
        });
    let candidate = response
        .candidates
        .into_iter()
        .next()
        .ok_or_else(|| CallError::Unexpected("no candidates (blocked prompt?)".to_owned()))?;
    let text: String = candidate
        .content
        .map(|c| c.parts.into_iter().filter_map(|p| p.text).collect())
        .unwrap_or_default();
    if text.trim().is_empty() {
        let reason = candidate.finish_reason.unwrap_or_default();
        return Err(CallError::Unexpected(format!(
            "empty candidate (finish reason {reason:?})"
        )));
    }
    Ok(Completion { text, usage })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(provider: Provider, base: &str) -> ClientConfig {
        ClientConfig {
            provider,
            base_url: Url::parse(base).unwrap(),
            model: "m-1".to_owned(),
            api_key: None,
            timeout: Duration::from_secs(1),
            backoff: Backoff {
                max_attempts: 1,
                min_delay: Duration::ZERO,
                max_delay: Duration::ZERO,
                max_retry_after: Duration::ZERO,
            },
        }
    }

    #[test]
    fn endpoints_follow_each_api() {
        let openai = config(Provider::OpenAi, "http://127.0.0.1:11434/v1/");
        assert_eq!(
            endpoint(&openai).as_str(),
            "http://127.0.0.1:11434/v1/chat/completions"
        );
        let gemini = config(
            Provider::Gemini,
            "https://generativelanguage.googleapis.com",
        );
        assert_eq!(
            endpoint(&gemini).as_str(),
            "https://generativelanguage.googleapis.com/v1beta/models/m-1:generateContent"
        );
    }

    #[test]
    fn answers_of_both_apis_are_read_with_their_usage() {
        let openai = json!({
            "choices": [{"message": {"role": "assistant", "content": "{}"}}],
            "usage": {"prompt_tokens": 120, "completion_tokens": 30, "total_tokens": 150}
        });
        let completion = openai_completion(openai).unwrap();
        assert_eq!(completion.text, "{}");
        assert_eq!(completion.usage.prompt_tokens, 120);
        let gemini = json!({
            "candidates": [{"content": {"parts": [{"text": "{\"a\""}, {"text": ": 1}"}]},
                            "finishReason": "STOP"}],
            "usageMetadata": {"promptTokenCount": 90, "candidatesTokenCount": 20}
        });
        let completion = gemini_completion(gemini).unwrap();
        assert_eq!(completion.text, "{\"a\": 1}");
        assert_eq!(completion.usage.completion_tokens, 20);
    }

    #[test]
    fn refusals_and_empty_answers_are_errors() {
        let refused = json!({"choices": [{"message": {"content": null, "refusal": "no"}}]});
        assert!(openai_completion(refused).is_err());
        let blocked = json!({"promptFeedback": {"blockReason": "SAFETY"}});
        assert!(gemini_completion(blocked).is_err());
    }
}
