//! Webhook targets: where notifications go, in which format, with which timeout.
//!
//! A target comes from a `--webhook` flag (`URL`, `slack:URL`, `pagerduty:URL`) or from a
//! `[[webhooks]]` table of the TOML file. Webhook URLs carry their credentials in the path or the
//! query (Slack's `/services/T…/B…/…`, PagerDuty's routing key), so they are secrets: they print
//! as scheme and host only, and no error message repeats them.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::Deserialize;
use url::Url;

use super::route::{Route, RouteConfig, RouteError};

pub use crate::secret::SecretString;

/// The body a target expects.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WebhookFormat {
    /// `{"event": "opened" | "escalated" | "resolved", "incident": {…}}`.
    #[default]
    Generic,
    /// A Slack-compatible incoming webhook: `{"text": …, "blocks": […]}`.
    Slack,
    /// A PagerDuty Events API v2-compatible endpoint: trigger and resolve events whose
    /// `dedup_key` is the incident's fingerprint.
    #[serde(rename = "pagerduty")]
    PagerDuty,
}

impl WebhookFormat {
    /// The name used in flags, the TOML file and our own log lines.
    pub const fn as_str(self) -> &'static str {
        match self {
            WebhookFormat::Generic => "generic",
            WebhookFormat::Slack => "slack",
            WebhookFormat::PagerDuty => "pagerduty",
        }
    }

    fn from_prefix(prefix: &str) -> Option<Self> {
        match prefix.to_ascii_lowercase().as_str() {
            "generic" => Some(WebhookFormat::Generic),
            "slack" => Some(WebhookFormat::Slack),
            "pagerduty" => Some(WebhookFormat::PagerDuty),
            _ => None,
        }
    }
}

impl fmt::Display for WebhookFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// Why a webhook setting was refused. No variant holds the URL or a part of it that may be
/// secret: the scheme and a format name are the most an error shows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("the webhook URL is empty")]
    Empty,
    #[error("the webhook URL is not a valid URL ({0})")]
    InvalidUrl(url::ParseError),
    #[error("a webhook URL must start with http:// or https://, not {scheme}://")]
    UnsupportedScheme { scheme: String },
    #[error("the webhook URL has no host")]
    MissingHost,
    #[error("unknown webhook format {0:?}: expected slack:URL, pagerduty:URL or a plain URL")]
    UnknownFormat(String),
    #[error(
        "a PagerDuty webhook needs its integration key as the URL's routing_key query \
         parameter, e.g. pagerduty:https://events.pagerduty.com/v2/enqueue?routing_key=KEY"
    )]
    MissingRoutingKey,
    #[error("a webhook timeout must be a positive number of seconds, at most {max}", max = MAX_TIMEOUT.as_secs())]
    InvalidTimeout,
    #[error(transparent)]
    InvalidMatch(#[from] RouteError),
}

/// The default time a target gets to answer one delivery attempt.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// The longest timeout accepted: a delivery that takes longer is better retried.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(300);

/// A webhook URL. `Debug` and `Display` show only its scheme, host and port
/// (`https://hooks.slack.com/**REDACTED**`): the path and query hold the credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretUrl(Url);

impl SecretUrl {
    /// Parses an http or https URL. The error never contains the input.
    pub fn parse(text: &str) -> Result<Self, TargetError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(TargetError::Empty);
        }
        let url = Url::parse(text).map_err(TargetError::InvalidUrl)?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(TargetError::UnsupportedScheme {
                scheme: shorten_scheme(url.scheme()),
            });
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(TargetError::MissingHost);
        }
        Ok(SecretUrl(url))
    }

    /// The URL itself, for the HTTP client only.
    pub(crate) fn expose(&self) -> &Url {
        &self.0
    }
}

/// A scheme is short and names a protocol, but a mistyped value may put a secret before its
/// first colon: never show more than a few characters of it.
fn shorten_scheme(scheme: &str) -> String {
    if scheme.chars().count() <= 12 {
        scheme.to_owned()
    } else {
        format!("{}…", scheme.chars().take(12).collect::<String>())
    }
}

impl fmt::Display for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let host = self.0.host_str().unwrap_or_default();
        match self.0.port() {
            Some(port) => write!(f, "{}://{host}:{port}/**REDACTED**", self.0.scheme()),
            None => write!(f, "{}://{host}/**REDACTED**", self.0.scheme()),
        }
    }
}

impl fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretUrl({self})")
    }
}

/// One place notifications are sent to.
///
/// Build it from the flag syntax with [`str::parse`] (`URL`, `slack:URL`, `pagerduty:URL`) or
/// from a `[[webhooks]]` table with [`WebhookConfig::validate`].
///
/// A PagerDuty target takes its routing key (the integration key) from the URL's `routing_key`
/// query parameter: `pagerduty:https://events.pagerduty.com/v2/enqueue?routing_key=KEY`. The
/// parameter is removed from the URL, which is what requests are sent to, and the key goes in
/// each event's body, where the Events API v2 expects it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookTarget {
    /// The body it expects.
    pub format: WebhookFormat,
    /// Where requests go (without a PagerDuty routing key).
    pub url: SecretUrl,
    /// How long one delivery attempt may take, connecting included.
    pub timeout: Duration,
    /// PagerDuty's routing key; `None` for the other formats.
    pub routing_key: Option<SecretString>,
    /// Which incidents it is told about; by default every top-level one.
    pub route: Route,
}

impl WebhookTarget {
    /// A target with the default timeout. For PagerDuty, the routing key is taken out of `url`.
    pub fn new(format: WebhookFormat, url: SecretUrl) -> Result<Self, TargetError> {
        let (url, routing_key) = match format {
            WebhookFormat::PagerDuty => {
                let (url, key) = take_routing_key(url);
                (url, Some(key.ok_or(TargetError::MissingRoutingKey)?))
            }
            WebhookFormat::Generic | WebhookFormat::Slack => (url, None),
        };
        Ok(WebhookTarget {
            format,
            url,
            timeout: DEFAULT_TIMEOUT,
            routing_key,
            route: Route::default(),
        })
    }

    /// The same target with another per-attempt timeout (positive, at most [`MAX_TIMEOUT`]).
    pub fn with_timeout(mut self, timeout: Duration) -> Result<Self, TargetError> {
        if timeout.is_zero() || timeout > MAX_TIMEOUT {
            return Err(TargetError::InvalidTimeout);
        }
        self.timeout = timeout;
        Ok(self)
    }
}

/// Removes every `routing_key` query parameter and returns the last non-empty one.
fn take_routing_key(SecretUrl(mut url): SecretUrl) -> (SecretUrl, Option<SecretString>) {
    let mut key = None;
    let mut kept = Vec::new();
    for (name, value) in url.query_pairs() {
        if name == "routing_key" {
            if !value.trim().is_empty() {
                key = Some(SecretString::new(value.trim()));
            }
        } else {
            kept.push((name.into_owned(), value.into_owned()));
        }
    }
    if kept.is_empty() {
        url.set_query(None);
    } else {
        url.query_pairs_mut().clear().extend_pairs(kept);
    }
    (SecretUrl(url), key)
}

impl FromStr for WebhookTarget {
    type Err = TargetError;

    /// The `--webhook` syntax: `URL` or `generic:URL` (generic JSON), `slack:URL` or
    /// `pagerduty:URL`.
    fn from_str(text: &str) -> Result<Self, TargetError> {
        let text = text.trim();
        let (format, url) = match text.split_once(':') {
            Some((prefix, rest)) if !is_http_scheme(prefix) && looks_like_url(rest) => {
                let format = WebhookFormat::from_prefix(prefix)
                    .ok_or_else(|| TargetError::UnknownFormat(shorten_scheme(prefix)))?;
                (format, rest)
            }
            _ => (WebhookFormat::Generic, text),
        };
        WebhookTarget::new(format, SecretUrl::parse(url)?)
    }
}

fn is_http_scheme(prefix: &str) -> bool {
    prefix.eq_ignore_ascii_case("http") || prefix.eq_ignore_ascii_case("https")
}

/// Whether what follows a `FORMAT:` prefix is a URL, so that `teams:https://…` is reported as
/// an unknown format rather than as an unknown scheme.
fn looks_like_url(rest: &str) -> bool {
    rest.split_once("://")
        .is_some_and(|(scheme, _)| !scheme.is_empty() && scheme.chars().all(char::is_alphanumeric))
}

/// A `[[webhooks]]` table of the TOML file, checked by [`WebhookConfig::validate`]:
///
/// ```toml
/// [[webhooks]]
/// url = "https://hooks.slack.com/services/T000/B000/XXXX"
/// format = "slack"
/// timeout_secs = 5
/// match = { service = "payments-*", min_severity = "critical" }
/// ```
///
/// The URL is checked after deserialization, not during it: a TOML error quotes the offending
/// line of the file, and that line would hold the secret.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Where to send: an http or https URL. It is a secret: it never appears in our logs or
    /// errors. For `format = "pagerduty"`, the routing key (integration key) goes in its
    /// `routing_key` query parameter, which is removed before sending.
    pub url: SecretString,
    /// `"generic"` (JSON: `{"event": …, "incident": {…}}`), `"slack"` (an incoming webhook) or
    /// `"pagerduty"` (Events API v2).
    #[serde(default)]
    pub format: WebhookFormat,
    /// Seconds one delivery attempt may take before it is abandoned and retried.
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: f64,
    /// Which incidents it is told about (see [`RouteConfig`]); by default every top-level one.
    #[serde(default, rename = "match")]
    pub route: RouteConfig,
}

fn default_timeout_secs() -> f64 {
    DEFAULT_TIMEOUT.as_secs_f64()
}

impl WebhookConfig {
    /// Checks the table and turns it into a target.
    pub fn validate(&self) -> Result<WebhookTarget, TargetError> {
        let timeout = Duration::try_from_secs_f64(self.timeout_secs)
            .map_err(|_| TargetError::InvalidTimeout)?;
        let mut target = WebhookTarget::new(self.format, SecretUrl::parse(self.url.expose())?)?
            .with_timeout(timeout)?;
        target.route = Route::new(&self.route)?;
        Ok(target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SLACK: &str = "https://hooks.slack.com/services/T0SECRET/B0SECRET/XSECRET";

    #[test]
    fn flag_syntax_picks_the_format() {
        let generic: WebhookTarget = "https://example.com/hook/TOKEN".parse().unwrap();
        assert_eq!(generic.format, WebhookFormat::Generic);
        assert_eq!(generic.timeout, DEFAULT_TIMEOUT);
        assert_eq!(
            generic.url.expose().as_str(),
            "https://example.com/hook/TOKEN"
        );

        let slack: WebhookTarget = format!("slack:{SLACK}").parse().unwrap();
        assert_eq!(slack.format, WebhookFormat::Slack);
        assert_eq!(slack.url.expose().as_str(), SLACK);
        assert!(slack.routing_key.is_none());

        let plain_http: WebhookTarget = "http://127.0.0.1:9000/x".parse().unwrap();
        assert_eq!(plain_http.format, WebhookFormat::Generic);
    }

    #[test]
    fn pagerduty_routing_key_is_taken_out_of_the_url() {
        let target: WebhookTarget =
            "pagerduty:https://events.pagerduty.com/v2/enqueue?routing_key=R0UTINGKEY&x=1"
                .parse()
                .unwrap();
        assert_eq!(target.format, WebhookFormat::PagerDuty);
        assert_eq!(target.routing_key.as_ref().unwrap().expose(), "R0UTINGKEY");
        assert_eq!(
            target.url.expose().as_str(),
            "https://events.pagerduty.com/v2/enqueue?x=1"
        );

        let only: WebhookTarget = "pagerduty:https://pd.example/v2/enqueue?routing_key=K"
            .parse()
            .unwrap();
        assert_eq!(only.url.expose().as_str(), "https://pd.example/v2/enqueue");

        let missing = "pagerduty:https://events.pagerduty.com/v2/enqueue"
            .parse::<WebhookTarget>()
            .unwrap_err();
        assert_eq!(missing, TargetError::MissingRoutingKey);
    }

    #[test]
    fn bad_urls_are_refused_without_echoing_them() {
        let cases = [
            ("ftp://files.example/S3CRET", "ftp"),
            ("teams:https://example.com/S3CRET", "unknown webhook format"),
            ("https://", "not a valid URL"),
            ("not a url S3CRET", "not a valid URL"),
            ("", "empty"),
            ("https://example.com:99999/S3CRET", "not a valid URL"),
            (
                "ünïcödé-S3CRET-prefix:https://example.com/",
                "unknown webhook format",
            ),
        ];
        for (input, expected) in cases {
            let err = input.parse::<WebhookTarget>().unwrap_err().to_string();
            assert!(err.contains(expected), "{input:?} gave {err:?}");
            assert!(!err.contains("S3CRET"), "{err:?} repeats the URL");
        }
    }

    #[test]
    fn secrets_are_redacted_in_debug_and_display() {
        let target: WebhookTarget = format!("slack:{SLACK}").parse().unwrap();
        let shown = format!("{target:?} {} {:#?}", target.url, target);
        assert!(!shown.contains("SECRET"), "{shown}");
        assert!(
            shown.contains("https://hooks.slack.com/**REDACTED**"),
            "{shown}"
        );

        let pd: WebhookTarget = "pagerduty:https://127.0.0.1:8443/e?routing_key=R0UTINGKEY"
            .parse()
            .unwrap();
        let shown = format!("{pd:?} {}", pd.url);
        assert!(!shown.contains("R0UTINGKEY"), "{shown}");
        assert!(
            shown.contains("https://127.0.0.1:8443/**REDACTED**"),
            "{shown}"
        );
    }

    #[derive(Debug, Deserialize)]
    struct File {
        webhooks: Vec<WebhookConfig>,
    }

    fn targets(text: &str) -> Result<Vec<WebhookTarget>, TargetError> {
        let file: File = toml::from_str(text).unwrap();
        file.webhooks.iter().map(WebhookConfig::validate).collect()
    }

    #[test]
    fn the_readme_routes_parse() {
        let routed = targets(
            r#"
[[webhooks]]
url = "https://events.pagerduty.com/v2/enqueue?routing_key=KEY"
format = "pagerduty"
match = { service = "payments-*", min_severity = "critical" }

[[webhooks]]
url = "https://hooks.slack.com/services/T000/B000/XXXX"
format = "slack"
match = { grouped = true }
"#,
        )
        .unwrap();
        assert_eq!(routed.len(), 2);
        assert_ne!(routed[0].route, Route::default());
        assert_ne!(routed[1].route, routed[0].route);
        let typo: Result<File, _> =
            toml::from_str("[[webhooks]]\nurl = \"https://x\"\nmatch = { servce = \"a\" }\n");
        assert!(typo.unwrap_err().to_string().contains("servce"));
    }

    #[test]
    fn toml_tables_deserialize_with_defaults() {
        let targets = targets(&format!(
            r#"
            [[webhooks]]
            url = "{SLACK}"
            format = "slack"
            timeout_secs = 2.5

            [[webhooks]]
            url = "https://example.com/hook"

            [[webhooks]]
            url = "https://events.pagerduty.com/v2/enqueue?routing_key=K"
            format = "pagerduty"
            timeout_secs = 10
            "#
        ))
        .unwrap();
        let [slack, generic, pd] = &targets[..] else {
            panic!("three targets expected")
        };
        assert_eq!(slack.format, WebhookFormat::Slack);
        assert_eq!(slack.timeout, Duration::from_millis(2500));
        assert_eq!(generic.format, WebhookFormat::Generic);
        assert_eq!(generic.timeout, DEFAULT_TIMEOUT);
        assert_eq!(pd.timeout, Duration::from_secs(10));
        assert_eq!(pd.routing_key.as_ref().unwrap().expose(), "K");
    }

    #[test]
    fn toml_errors_are_clear_and_do_not_echo_the_url() {
        let invalid = [
            (r#"url = "ftp://x.example/S3CRET""#, "http:// or https://"),
            (
                "url = \"https://x.example/S3CRET\"\ntimeout_secs = 0",
                "positive number of seconds",
            ),
            (
                "url = \"https://x.example/S3CRET\"\nformat = \"pagerduty\"",
                "routing_key",
            ),
        ];
        for (table, expected) in invalid {
            let err = targets(&format!("[[webhooks]]\n{table}\n")).unwrap_err();
            let message = err.to_string();
            assert!(message.contains(expected), "{table}: {message}");
            assert!(!message.contains("S3CRET"), "{message} repeats the URL");
        }

        let refused = [
            (
                "url = \"https://x.example/S3CRET\"\nformat = \"teams\"",
                "unknown variant",
            ),
            (
                "url = \"https://x.example/S3CRET\"\nretries = 3",
                "unknown field",
            ),
        ];
        for (table, expected) in refused {
            let text = format!("[[webhooks]]\n{table}\n");
            // The whole message, with the quoted line of the file that TOML errors carry.
            let message = toml::from_str::<File>(&text).unwrap_err().to_string();
            assert!(message.contains(expected), "{table}: {message}");
            assert!(!message.contains("S3CRET"), "{message} repeats the URL");
        }

        let config: WebhookConfig = toml::from_str("url = \"https://x.example/S3CRET\"").unwrap();
        assert!(!format!("{config:?}").contains("S3CRET"));
    }
}
