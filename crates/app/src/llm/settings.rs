//! `--analyzer` and the `[llm]` table, resolved into [`LlmSettings`].

use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use ic_core::Severity;
use ic_core::llm::PromptConfig;
use ic_core::redact::Rule;
use serde::Deserialize;
use url::Url;

use super::{ClientConfig, GateConfig, LlmSettings, Provider};
use crate::http_retry::Backoff;
use crate::output::MinSeverity;
use crate::secret::SecretString;
use crate::setting::{seconds, with_default};

/// Who writes the reports, shared by `serve` and `analyze`.
#[derive(Debug, Clone, Default, Args)]
pub struct LlmArgs {
    /// Who writes each report: `builtin` (offline, deterministic), `openai` (any
    /// OpenAI-compatible chat-completions API: OpenAI, Ollama, vLLM, llama.cpp, LM Studio) or
    /// `gemini` (Gemini's native API). An LLM sees the redacted digest of windows the
    /// built-in analyzer rates Warning or above; when it fails, the built-in report stands.
    /// The key comes from IC_LLM_API_KEY, else OPENAI_API_KEY or GEMINI_API_KEY
    /// [default: builtin].
    #[arg(long, env = "IC_ANALYZER", value_enum)]
    pub analyzer: Option<AnalyzerKind>,

    #[arg(long, env = "IC_LLM_BASE_URL", value_name = "URL", help = per_provider(
        "The API's base URL",
        Provider::default_base_url,
    ))]
    pub llm_base_url: Option<String>,

    #[arg(long, env = "IC_LLM_MODEL", value_name = "NAME", help = per_provider(
        "The model",
        Provider::default_model,
    ))]
    pub llm_model: Option<String>,

    #[arg(long, env = "IC_LLM_TIMEOUT_SECS", value_name = "SECS", help = with_default(
        "Longest wait for one window's answer, retries included",
        DEFAULT_TIMEOUT.as_secs(),
    ))]
    pub llm_timeout: Option<f64>,
}

/// The analyzers `--analyzer` offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AnalyzerKind {
    Builtin,
    Openai,
    Gemini,
}

/// `[llm]`: the LLM analyzer. Flags and `IC_*` variables win over it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LlmFile {
    /// `"builtin"`, `"openai"` or `"gemini"`.
    pub analyzer: Option<AnalyzerKind>,
    pub base_url: Option<String>,
    pub model: Option<String>,
    pub timeout_secs: Option<f64>,
    /// Windows the built-in analyzer rates below this are not sent (default `"warning"`).
    pub min_severity: Option<MinSeverity>,
    /// An open incident is sent again after this many minutes (default 10); a new incident
    /// or an escalation is sent at once.
    pub refresh_minutes: Option<f64>,
    /// Calls in flight at once (default 2).
    pub max_in_flight: Option<usize>,
    /// About this many tokens per prompt (default 400).
    pub prompt_tokens: Option<usize>,
    /// Redaction rules (default all): `secret`, `authorization`, `api_key`, `email`, `card`.
    pub redact: Option<Vec<String>>,
    /// Extra regular expressions whose matches are masked.
    #[serde(default)]
    pub redact_patterns: Vec<String>,
    /// Failures in a row after which the LLM is skipped (default 3)…
    pub breaker_failures: Option<u32>,
    /// …for this many seconds (default 60).
    pub breaker_cooldown_secs: Option<f64>,
}

/// A default that depends on the provider, as `--help` shows it.
fn per_provider(text: &str, default: fn(Provider) -> &'static str) -> String {
    let (openai, gemini) = (Provider::OpenAi, Provider::Gemini);
    with_default(
        text,
        format_args!(
            "{} for {}, {} for {}",
            default(openai),
            openai.as_str(),
            default(gemini),
            gemini.as_str()
        ),
    )
}

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20);

/// The LLM settings, or `None` for the built-in analyzer. `env` reads API keys (a parameter so
/// that tests need no process environment).
pub fn resolve(
    file: &LlmFile,
    args: &LlmArgs,
    env: impl Fn(&str) -> Option<String>,
) -> anyhow::Result<Option<LlmSettings>> {
    let provider = match args.analyzer.or(file.analyzer) {
        None | Some(AnalyzerKind::Builtin) => return Ok(None),
        Some(AnalyzerKind::Openai) => Provider::OpenAi,
        Some(AnalyzerKind::Gemini) => Provider::Gemini,
    };
    let base = args
        .llm_base_url
        .as_deref()
        .or(file.base_url.as_deref())
        .unwrap_or(provider.default_base_url());
    let base_url = Url::parse(base)
        .ok()
        .filter(|url| matches!(url.scheme(), "http" | "https"))
        .with_context(|| {
            format!("--llm-base-url {base:?} is not an http(s) URL, e.g. http://127.0.0.1:11434/v1")
        })?;
    let timeout = match args.llm_timeout.or(file.timeout_secs) {
        Some(secs) => seconds(secs).context("--llm-timeout")?,
        None => DEFAULT_TIMEOUT,
    };
    let client = ClientConfig {
        provider,
        base_url,
        model: args
            .llm_model
            .clone()
            .or_else(|| file.model.clone())
            .unwrap_or_else(|| provider.default_model().to_owned()),
        api_key: api_key(provider, base == provider.default_base_url(), &env)
            .map(SecretString::new),
        timeout,
        backoff: Backoff {
            max_attempts: 3,
            min_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(4),
            max_retry_after: Duration::from_secs(10),
        },
    };
    let gate = GateConfig {
        min_severity: file
            .min_severity
            .map_or(GateConfig::default().min_severity, Severity::from),
        refresh: match file.refresh_minutes {
            Some(minutes) => seconds(minutes * 60.0).context("[llm] refresh_minutes")?,
            None => GateConfig::default().refresh,
        },
    };
    let prompt = PromptConfig {
        budget_tokens: file
            .prompt_tokens
            .unwrap_or(PromptConfig::default().budget_tokens),
        ..PromptConfig::default()
    };
    Ok(Some(LlmSettings {
        client,
        prompt,
        redact: redact_rules(file.redact.as_deref())?,
        redact_patterns: file.redact_patterns.clone(),
        gate,
        max_in_flight: file.max_in_flight.unwrap_or(2).max(1),
        breaker_failures: file.breaker_failures.unwrap_or(3).max(1),
        breaker_cooldown: match file.breaker_cooldown_secs {
            Some(secs) => seconds(secs).context("[llm] breaker_cooldown_secs")?,
            None => Duration::from_secs(60),
        },
    }))
}

/// `IC_LLM_API_KEY`, else the provider's usual variable, but that one only for the provider's
/// own API: an OpenAI key must not go to a local or third-party server named by
/// `--llm-base-url`. Blank values count as none.
fn api_key(
    provider: Provider,
    providers_own_api: bool,
    env: impl Fn(&str) -> Option<String>,
) -> Option<String> {
    let usual = match provider {
        Provider::OpenAi => "OPENAI_API_KEY",
        Provider::Gemini => "GEMINI_API_KEY",
    };
    let names: &[&str] = if providers_own_api {
        &["IC_LLM_API_KEY", usual]
    } else {
        &["IC_LLM_API_KEY"]
    };
    names
        .iter()
        .filter_map(|name| env(name))
        .map(|key| key.trim().to_owned())
        .find(|key| !key.is_empty())
}

fn redact_rules(names: Option<&[String]>) -> anyhow::Result<Vec<Rule>> {
    let Some(names) = names else {
        return Ok(Rule::ALL.to_vec());
    };
    names
        .iter()
        .map(|name| {
            Rule::from_name(name).with_context(|| {
                let known: Vec<&str> = Rule::ALL.iter().map(|r| r.name()).collect();
                format!(
                    "[llm] redact: unknown rule {name:?}; the rules are {}",
                    known.join(", ")
                )
            })
        })
        .collect()
}

/// Refuses settings that cannot work, or would send a key in the clear, before anything
/// starts.
pub fn check(settings: &LlmSettings) -> anyhow::Result<()> {
    let provider = settings.client.provider;
    let url = &settings.client.base_url;
    let local = url
        .host_str()
        .is_some_and(|host| matches!(host, "localhost" | "127.0.0.1" | "[::1]"));
    if settings.client.api_key.is_some() && url.scheme() == "http" && !local {
        bail!(
            "--llm-base-url {url} is plain http: the API key would cross the network in the \
             clear; use https, or a server on localhost"
        );
    }
    if settings.client.api_key.is_none() && !local {
        bail!(
            "--analyzer {} needs an API key: set IC_LLM_API_KEY (or {} for the provider's own \
             API); only a local server (--llm-base-url on localhost) goes without",
            provider.as_str(),
            match provider {
                Provider::OpenAi => "OPENAI_API_KEY",
                Provider::Gemini => "GEMINI_API_KEY",
            }
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(analyzer: AnalyzerKind) -> LlmArgs {
        LlmArgs {
            analyzer: Some(analyzer),
            ..LlmArgs::default()
        }
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn builtin_is_the_default_and_needs_nothing() {
        let file = LlmFile::default();
        assert!(
            resolve(&file, &LlmArgs::default(), no_env)
                .unwrap()
                .is_none()
        );
        assert!(
            resolve(&file, &args(AnalyzerKind::Builtin), no_env)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn each_provider_has_its_defaults_and_its_key_variable() {
        let env = |name: &str| (name == "GEMINI_API_KEY").then(|| "g-key".to_owned());
        let gemini = resolve(&LlmFile::default(), &args(AnalyzerKind::Gemini), env)
            .unwrap()
            .unwrap();
        assert_eq!(gemini.client.model, "gemini-2.5-flash");
        assert_eq!(
            gemini.client.api_key.as_ref().map(SecretString::expose),
            Some("g-key")
        );
        assert_eq!(gemini.client.timeout, Duration::from_secs(20));
        assert_eq!(gemini.gate.min_severity, Severity::Warning);
        assert_eq!(gemini.redact, Rule::ALL);

        let openai = resolve(&LlmFile::default(), &args(AnalyzerKind::Openai), env)
            .unwrap()
            .unwrap();
        assert!(openai.client.api_key.is_none(), "not Gemini's key");

        let elsewhere = LlmArgs {
            llm_base_url: Some("https://llm.example.net/v1".into()),
            ..args(AnalyzerKind::Gemini)
        };
        let gemini_elsewhere = resolve(&LlmFile::default(), &elsewhere, env)
            .unwrap()
            .unwrap();
        assert!(
            gemini_elsewhere.client.api_key.is_none(),
            "the provider's key goes to the provider's API only"
        );
        assert_eq!(openai.client.base_url.as_str(), "https://api.openai.com/v1");
        assert!(check(&openai).is_err(), "a remote API without a key");
    }

    #[test]
    fn flags_win_over_the_file() {
        let file: LlmFile = toml::from_str(
            r#"analyzer = "gemini"
               model = "file-model"
               base_url = "http://127.0.0.1:9/v1"
               timeout_secs = 3
               redact = ["email"]
               refresh_minutes = 1"#,
        )
        .unwrap();
        let flags = LlmArgs {
            analyzer: Some(AnalyzerKind::Openai),
            llm_model: Some("flag-model".into()),
            llm_timeout: Some(7.0),
            ..LlmArgs::default()
        };
        let settings = resolve(&file, &flags, no_env).unwrap().unwrap();
        assert_eq!(settings.client.provider, Provider::OpenAi);
        assert_eq!(settings.client.model, "flag-model");
        assert_eq!(settings.client.timeout, Duration::from_secs(7));
        assert_eq!(settings.redact, [Rule::Email]);
        assert_eq!(settings.gate.refresh, Duration::from_secs(60));
        check(&settings).expect("a local server needs no key");
    }

    #[test]
    fn bad_settings_are_explained() {
        let bad_url = LlmArgs {
            llm_base_url: Some("ftp://example.com".into()),
            ..args(AnalyzerKind::Openai)
        };
        let err = resolve(&LlmFile::default(), &bad_url, no_env).unwrap_err();
        assert!(format!("{err:#}").contains("not an http(s) URL"), "{err:#}");
        let clear = LlmArgs {
            llm_base_url: Some("http://llm.example.net/v1".into()),
            ..args(AnalyzerKind::Openai)
        };
        let key = |name: &str| (name == "IC_LLM_API_KEY").then(|| "k".to_owned());
        let settings = resolve(&LlmFile::default(), &clear, key).unwrap().unwrap();
        let err = check(&settings).unwrap_err();
        assert!(format!("{err:#}").contains("in the clear"), "{err:#}");
        let file: LlmFile = toml::from_str(r#"redact = ["emails"]"#).unwrap();
        let err = resolve(&file, &args(AnalyzerKind::Openai), no_env).unwrap_err();
        assert!(
            format!("{err:#}").contains("unknown rule \"emails\""),
            "{err:#}"
        );
    }
}
