//! The listener's guards: the ingest token, body and connection limits, timeouts. Resolved from
//! flags and `IC_*` variables, then the config file's `[ingest]` table, then the defaults here.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use serde::Deserialize;

use crate::secret::SecretString;
use crate::setting::{seconds, with_default};

/// The guards of `POST /api/logs` and `POST /v1/logs` (served by every `serve`).
#[derive(Debug, Clone, Default, Args)]
pub struct IngestArgs {
    /// Bearer token that `/api/logs`, `/v1/logs`, `POST /api/demo` and
    /// `POST /api/incidents/*` require; mandatory when --listen is not a loopback address.
    #[arg(
        long,
        env = "IC_INGEST_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub ingest_token: Option<String>,

    #[arg(long, env = "IC_MAX_BODY_BYTES", value_name = "BYTES", help = with_default(
        "The largest ingest request body, in bytes, after gzip decompression",
        format_args!("{DEFAULT_MAX_BODY_BYTES} ({} MiB)", DEFAULT_MAX_BODY_BYTES >> 20),
    ))]
    pub max_body_bytes: Option<usize>,

    #[arg(long, env = "IC_MAX_CONNECTIONS", value_name = "N", help = with_default(
        "HTTP connections served at once",
        DEFAULT_MAX_CONNECTIONS,
    ))]
    pub max_connections: Option<usize>,

    #[arg(long, env = "IC_MAX_INGEST_REQUESTS", value_name = "N", help = with_default(
        "Ingest requests handled at once; more get 429",
        DEFAULT_MAX_INGEST_REQUESTS,
    ))]
    pub max_ingest_requests: Option<usize>,
}

/// The largest request body accepted, after gzip decompression: 10 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 10 << 20;
/// Connections served at once; the next one waits in the kernel's backlog.
pub const DEFAULT_MAX_CONNECTIONS: usize = 512;
/// Ingest requests (`/api/logs`, `/v1/logs`) handled at once; past it they get 429. Bounds the
/// memory bodies can take: this many times the body limit.
pub const DEFAULT_MAX_INGEST_REQUESTS: usize = 16;
/// A client has this long to send a request's headers (against slow clients).
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// An ingest request has this long from its headers to its answer, body included.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Accepted lines the ingest journal holds before their windows are stored, at most: 1 GiB.
pub const DEFAULT_JOURNAL_MAX_BYTES: u64 = 1 << 30;
/// HTTP/2 requests one connection may have in flight.
pub const MAX_STREAMS_PER_CONNECTION: u32 = 32;

/// `[ingest]` in the config file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestFile {
    /// Bearer token for every request but a read; required when the
    /// server listens on an address other than loopback. Prefer `IC_INGEST_TOKEN`.
    pub token: Option<SecretString>,
    /// The largest request body, in bytes, after decompression (default 10 MiB).
    pub max_body_bytes: Option<usize>,
    /// Connections served at once (default 512).
    pub max_connections: Option<usize>,
    /// Ingest requests handled at once (default 16).
    pub max_ingest_requests: Option<usize>,
    /// Seconds a client has to send a request's headers (default 10).
    pub header_timeout_secs: Option<f64>,
    /// Seconds an ingest request has to send its body and get its answer (default 30).
    pub request_timeout_secs: Option<f64>,
    /// Bytes of accepted lines the journal holds before their windows are stored (default
    /// 1 GiB); past it, requests get 429.
    pub journal_max_bytes: Option<u64>,
}

/// The guards, resolved.
#[derive(Debug, Clone)]
pub struct IngestSettings {
    /// Required as `Authorization: Bearer …` on ingest and control endpoints when set.
    pub token: Option<SecretString>,
    pub max_body_bytes: usize,
    pub max_connections: usize,
    pub max_ingest_requests: usize,
    pub header_timeout: Duration,
    pub request_timeout: Duration,
    pub journal_max_bytes: u64,
}

impl Default for IngestSettings {
    fn default() -> Self {
        Self {
            token: None,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_ingest_requests: DEFAULT_MAX_INGEST_REQUESTS,
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            journal_max_bytes: DEFAULT_JOURNAL_MAX_BYTES,
        }
    }
}

impl IngestSettings {
    /// Flags and variables over the file over the defaults. A server reachable from other
    /// machines refuses to start without a token: anyone there could feed or steer it.
    pub fn resolve(
        args: &IngestArgs,
        file: &IngestFile,
        listen: SocketAddr,
    ) -> anyhow::Result<Self> {
        let defaults = Self::default();
        let token = args
            .ingest_token
            .clone()
            .map(SecretString::new)
            .or_else(|| file.token.clone())
            .filter(|t| !t.expose().trim().is_empty());
        if token.is_none() && !listen.ip().is_loopback() {
            bail!(
                "listening on {listen}, beyond this machine, needs an ingest token: set \
                 IC_INGEST_TOKEN (or --ingest-token, or `token` under [ingest] in the config \
                 file), or listen on 127.0.0.1"
            );
        }
        let settings = Self {
            token,
            max_body_bytes: args
                .max_body_bytes
                .or(file.max_body_bytes)
                .unwrap_or(defaults.max_body_bytes),
            max_connections: args
                .max_connections
                .or(file.max_connections)
                .unwrap_or(defaults.max_connections),
            max_ingest_requests: args
                .max_ingest_requests
                .or(file.max_ingest_requests)
                .unwrap_or(defaults.max_ingest_requests),
            header_timeout: match file.header_timeout_secs {
                Some(secs) => seconds(secs).context("[ingest] header_timeout_secs")?,
                None => defaults.header_timeout,
            },
            request_timeout: match file.request_timeout_secs {
                Some(secs) => seconds(secs).context("[ingest] request_timeout_secs")?,
                None => defaults.request_timeout,
            },
            journal_max_bytes: file.journal_max_bytes.unwrap_or(defaults.journal_max_bytes),
        };
        // The largest body must fit, with room for the ones in flight beside it.
        if settings.journal_max_bytes < 2 * settings.max_body_bytes as u64 {
            bail!(
                "[ingest] journal_max_bytes ({}) must be at least twice the largest body ({} \
                 bytes, --max-body-bytes)",
                settings.journal_max_bytes,
                settings.max_body_bytes
            );
        }
        for (name, value) in [
            ("--max-body-bytes", settings.max_body_bytes),
            ("--max-connections", settings.max_connections),
            ("--max-ingest-requests", settings.max_ingest_requests),
        ] {
            if value == 0 {
                bail!("{name} must be at least 1");
            }
        }
        Ok(settings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    #[test]
    fn loopback_needs_no_token_and_other_addresses_do() {
        let args = IngestArgs::default();
        let file = IngestFile::default();
        let s = IngestSettings::resolve(&args, &file, addr("127.0.0.1:8080")).unwrap();
        assert!(s.token.is_none());
        assert_eq!(s.max_body_bytes, DEFAULT_MAX_BODY_BYTES);
        let err = IngestSettings::resolve(&args, &file, addr("0.0.0.0:8080")).unwrap_err();
        assert!(err.to_string().contains("IC_INGEST_TOKEN"), "{err}");

        let file: IngestFile = toml::from_str("token = \"s3cret\"\nmax_body_bytes = 5").unwrap();
        let s = IngestSettings::resolve(&args, &file, addr("0.0.0.0:8080")).unwrap();
        assert_eq!(s.max_body_bytes, 5);
        assert!(
            !format!("{s:?}").contains("s3cret"),
            "the token never prints"
        );
    }

    #[test]
    fn flags_win_and_zero_is_refused() {
        let file: IngestFile = toml::from_str("max_connections = 7").unwrap();
        let args = IngestArgs {
            max_connections: Some(9),
            ..IngestArgs::default()
        };
        let s = IngestSettings::resolve(&args, &file, addr("[::1]:80")).unwrap();
        assert_eq!(s.max_connections, 9);
        let args = IngestArgs {
            max_body_bytes: Some(0),
            ..IngestArgs::default()
        };
        assert!(IngestSettings::resolve(&args, &file, addr("127.0.0.1:1")).is_err());
    }
}
