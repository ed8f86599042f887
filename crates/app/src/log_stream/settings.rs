//! `--nats-*`, `--forward` and the `[nats]` table, resolved into [`NatsSettings`].

use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use serde::Deserialize;

use super::{
    DEFAULT_ACK_WAIT, DEFAULT_CONSUMER, DEFAULT_STREAM, DEFAULT_SUBJECT, DEFAULT_URL, NatsSettings,
};
use crate::setting::{seconds, with_default};

/// The shared NATS JetStream stream.
#[derive(Debug, Clone, Default, Args)]
pub struct NatsArgs {
    /// Publish what the HTTP, OTLP and syslog sources receive into the NATS stream instead of
    /// analyzing it here, so shippers can send to any instance: `nats` [default: off].
    #[arg(long, env = "IC_FORWARD", value_enum)]
    pub forward: Option<ForwardTo>,

    #[arg(long, env = "IC_NATS_URL", value_name = "URL", hide_env_values = true,
        help = with_default("The NATS server", DEFAULT_URL))]
    pub nats_url: Option<String>,

    #[arg(long, env = "IC_NATS_STREAM", value_name = "NAME", help = with_default(
        "The JetStream stream, created (work-queue retention) if absent",
        DEFAULT_STREAM,
    ))]
    pub nats_stream: Option<String>,

    #[arg(long, env = "IC_NATS_SUBJECT", value_name = "SUBJECT", help = with_default(
        "The stream's subjects; a gateway publishes on PREFIX.SOURCE (logs.http, logs.otlp, \
         logs.syslog)",
        DEFAULT_SUBJECT,
    ))]
    pub nats_subject: Option<String>,

    #[arg(long, env = "IC_NATS_CONSUMER", value_name = "NAME", help = with_default(
        "The durable consumer every instance of `--source nats` pulls from, created if absent",
        DEFAULT_CONSUMER,
    ))]
    pub nats_consumer: Option<String>,

    #[arg(long, env = "IC_NATS_ACK_WAIT", value_name = "SECS", help = with_default(
        "When the consumer is created: seconds before the server delivers an unacknowledged \
         message again (to another instance, if this one died)",
        DEFAULT_ACK_WAIT.as_secs(),
    ))]
    pub nats_ack_wait: Option<f64>,
}

/// Where `--forward` sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ForwardTo {
    Nats,
}

/// `[nats]`: the NATS JetStream stream.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NatsFile {
    pub url: Option<String>,
    pub stream: Option<String>,
    pub subject: Option<String>,
    pub consumer: Option<String>,
    pub ack_wait_secs: Option<f64>,
    /// `"nats"`: publish the HTTP, OTLP and syslog sources' lines into the stream.
    pub forward: Option<ForwardTo>,
}

impl NatsFile {
    /// The stream a gateway publishes into, when `--forward nats` is asked for. Its subject
    /// must end in `.>`: a gateway publishes on PREFIX.SOURCE, which must fall in the stream.
    pub fn forward(&self, args: &NatsArgs) -> anyhow::Result<Option<NatsSettings>> {
        if args.forward.or(self.forward).is_none() {
            return Ok(None);
        }
        let settings = self.resolve(args)?;
        let prefix = settings.subject.strip_suffix(".>").unwrap_or_default();
        if prefix.is_empty() || prefix.contains(['*', '>']) {
            bail!(
                "--forward nats publishes on PREFIX.http, PREFIX.otlp and PREFIX.syslog: give \
                 --nats-subject as PREFIX.> (e.g. logs.>), not {:?}",
                settings.subject
            );
        }
        Ok(Some(settings))
    }

    /// The shared stream: flags and variables, then this file, then the defaults.
    pub fn resolve(&self, args: &NatsArgs) -> anyhow::Result<NatsSettings> {
        let pick = |flag: &Option<String>, file: &Option<String>, default: &str| {
            flag.clone()
                .or_else(|| file.clone())
                .unwrap_or_else(|| default.to_owned())
        };
        let settings = NatsSettings {
            url: pick(&args.nats_url, &self.url, DEFAULT_URL),
            stream: pick(&args.nats_stream, &self.stream, DEFAULT_STREAM),
            subject: pick(&args.nats_subject, &self.subject, DEFAULT_SUBJECT),
            consumer: pick(&args.nats_consumer, &self.consumer, DEFAULT_CONSUMER),
            ack_wait: match args.nats_ack_wait.or(self.ack_wait_secs) {
                Some(secs) => seconds(secs).context("--nats-ack-wait")?,
                None => DEFAULT_ACK_WAIT,
            },
        };
        if settings.ack_wait < Duration::from_secs(3) {
            bail!(
                "--nats-ack-wait must be at least 3 seconds, to leave room for progress acknowledgements"
            );
        }
        if settings.stream.is_empty() || settings.stream.contains(['.', ' ', '*', '>']) {
            bail!(
                "--nats-stream {:?} is not a stream name: no dots, spaces, * or >",
                settings.stream
            );
        }
        if settings.subject.is_empty() || settings.subject.contains(' ') {
            bail!(
                "--nats-subject {:?} is not a subject, e.g. logs.>",
                settings.subject
            );
        }
        if settings.consumer.is_empty() || settings.consumer.contains(['.', ' ', '*', '>']) {
            bail!(
                "--nats-consumer {:?} is not a consumer name: no dots, spaces, * or >",
                settings.consumer
            );
        }
        Ok(settings)
    }
}
