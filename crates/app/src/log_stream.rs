//! NATS JetStream: the shared stream of logs that several instances work from.
//!
//! A gateway (`--forward nats`) publishes what its HTTP, OTLP and syslog sources receive into
//! the stream instead of its own pipeline: a request's lines as few messages of many lines
//! (the unit of work downstream is a message: one pull, one acknowledgement, one row of what
//! was counted), each with a message id for the server's duplicate window.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_nats::jetstream::{self, message::PublishMessage, stream};
use bytes::Bytes;
use ic_core::LogEvent;
use serde_json::{Map, Value};
use tokio::sync::mpsc;

use crate::pipeline::Envelope;

mod settings;
pub use settings::{NatsArgs, NatsFile};

/// Where the stream is and what it is called.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatsSettings {
    pub url: String,
    pub stream: String,
    /// The stream's subjects, e.g. `logs.>`.
    pub subject: String,
    /// The durable consumer every instance pulls from.
    pub consumer: String,
    /// How long the server waits for an acknowledgement before delivering a message again,
    /// when the consumer is created.
    pub ack_wait: Duration,
}

pub const DEFAULT_URL: &str = "nats://127.0.0.1:4222";
pub const DEFAULT_STREAM: &str = "LOGS";
pub const DEFAULT_SUBJECT: &str = "logs.>";
pub const DEFAULT_CONSUMER: &str = "incident-commander";
pub const DEFAULT_ACK_WAIT: Duration = Duration::from_secs(30);

/// How long to wait for the server at start.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the stream cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum NatsError {
    #[error(
        "cannot connect to NATS at {url}: {source}. Start a server with JetStream on \
         (nats-server -js) or point --nats-url at one"
    )]
    Connect {
        url: String,
        #[source]
        source: async_nats::ConnectError,
    },
    #[error(
        "cannot create or open the stream {stream} on subjects {subject}: {detail}. Is \
         JetStream on (nats-server -js)?"
    )]
    Stream {
        stream: String,
        subject: String,
        detail: String,
    },
    #[error("publishing to NATS failed: {0}")]
    Publish(String),
    #[error("the NATS consumer failed: {0}")]
    Consumer(String),
}

/// Connects and makes sure the stream exists: work-queue retention, so a message leaves the
/// stream once an instance acknowledged it.
pub async fn open_stream(settings: &NatsSettings) -> Result<jetstream::Context, NatsError> {
    let client = async_nats::ConnectOptions::new()
        .connection_timeout(CONNECT_TIMEOUT)
        .name("incident-commander")
        .connect(settings.url.as_str())
        .await
        .map_err(|source| NatsError::Connect {
            url: settings.url.clone(),
            source,
        })?;
    let context = jetstream::new(client);
    context
        .get_or_create_stream(stream::Config {
            name: settings.stream.clone(),
            subjects: vec![settings.subject.clone()],
            retention: stream::RetentionPolicy::WorkQueue,
            ..Default::default()
        })
        .await
        .map_err(|err| NatsError::Stream {
            stream: settings.stream.clone(),
            subject: settings.subject.clone(),
            detail: err.to_string(),
        })?;
    Ok(context)
}

/// Publishes events into the stream.
#[derive(Debug)]
pub struct Forwarder {
    context: jetstream::Context,
    /// `logs` for `logs.>`: a source publishes on `logs.SOURCE`.
    prefix: String,
    /// Message ids are this run's name and a counter: unique without coordination.
    run: String,
    next: AtomicU64,
}

impl Forwarder {
    pub fn new(context: jetstream::Context, settings: &NatsSettings, run: String) -> Self {
        // `forward` settings end in `.>` (checked when they are read).
        let prefix = settings.subject.trim_end_matches(".>").to_owned();
        Self {
            context,
            prefix,
            run,
            next: AtomicU64::new(0),
        }
    }

    /// The connection, for readiness.
    pub fn client(&self) -> async_nats::Client {
        self.context.client()
    }

    /// Publishes `events` as JSON lines, newline-separated in messages of at most
    /// [`MESSAGE_LINES`] lines and [`MESSAGE_BYTES`] (or the server's max payload), and returns
    /// once the server has stored every one of them (or with the first failure).
    pub async fn publish(&self, source: &str, events: &[LogEvent]) -> Result<(), NatsError> {
        let subject = format!("{}.{source}", self.prefix);
        let max_bytes = MESSAGE_BYTES.min(self.context.client().server_info().max_payload);
        // Each acknowledgement awaited holds one of the client's in-flight permits: await the
        // oldest before publishing past the window, or a large request would wait on itself.
        let mut acks = VecDeque::with_capacity(ACKS_IN_FLIGHT);
        for payload in messages(events, max_bytes) {
            if acks.len() == ACKS_IN_FLIGHT
                && let Some(ack) = acks.pop_front()
            {
                confirm(ack).await?;
            }
            let id = format!("{}-{}", self.run, self.next.fetch_add(1, Ordering::Relaxed));
            let message = PublishMessage::build()
                .payload(Bytes::from(payload))
                .message_id(id);
            let ack = self
                .context
                .send_publish(subject.clone(), message)
                .await
                .map_err(|err| NatsError::Publish(err.to_string()))?;
            acks.push_back(ack);
        }
        for ack in acks {
            confirm(ack).await?;
        }
        metrics::counter!(crate::metrics::LINES_FORWARDED, "source" => source.to_owned())
            .increment(events.len() as u64);
        Ok(())
    }

    /// Publishes what arrives on `chunks` until it closes: the relay of sources that cannot
    /// wait for the stream's answer (syslog). A chunk that cannot be published is dropped and
    /// counted.
    pub async fn relay(
        self: std::sync::Arc<Self>,
        source: &'static str,
        mut chunks: mpsc::Receiver<Envelope>,
    ) {
        while let Some(Envelope { events: chunk, .. }) = chunks.recv().await {
            if let Err(err) = self.publish(source, &chunk).await {
                metrics::counter!(crate::metrics::LINES_DROPPED, "reason" => "forward")
                    .increment(chunk.len() as u64);
                tracing::warn!(%err, lines = chunk.len(), source, "Lines not forwarded to NATS; dropped.");
            }
        }
    }
}

/// Publish acknowledgements awaited at once, well under the client's limit (5,000).
const ACKS_IN_FLIGHT: usize = 1000;
/// Lines per message, at most: a message is the unit a consumer takes, acknowledges and
/// records, and delivers again after a crash, so it stays well under a window's worth of
/// seconds of traffic.
pub const MESSAGE_LINES: usize = 1000;
/// Bytes per message, at most (and never more than the server's max payload).
pub const MESSAGE_BYTES: usize = 256 * 1024;

/// The payloads of `events`: their JSON lines, newline-separated, cut into messages of at most
/// [`MESSAGE_LINES`] lines and `max_bytes` bytes. A line longer than `max_bytes` is a message
/// of its own (the server refuses it, and the request with it).
fn messages(events: &[LogEvent], max_bytes: usize) -> Vec<Vec<u8>> {
    let mut payloads = Vec::new();
    let mut payload: Vec<u8> = Vec::new();
    let mut lines = 0;
    for event in events {
        let line = json_line(event);
        let full = lines == MESSAGE_LINES || payload.len() + 1 + line.len() > max_bytes;
        if lines > 0 && full {
            payloads.push(std::mem::take(&mut payload));
            lines = 0;
        }
        if lines > 0 {
            payload.push(b'\n');
        }
        payload.extend_from_slice(&line);
        lines += 1;
    }
    if lines > 0 {
        payloads.push(payload);
    }
    payloads
}

async fn confirm(ack: jetstream::context::PublishAckFuture) -> Result<(), NatsError> {
    ack.await
        .map(drop)
        .map_err(|err| NatsError::Publish(err.to_string()))
}

/// An event as a JSON line that any instance parses back to the same event: the four fields
/// under their usual names, the attributes beside them.
fn json_line(event: &LogEvent) -> Vec<u8> {
    let mut object = Map::new();
    for (key, value) in &event.attributes {
        object.insert(key.clone(), Value::String(value.clone()));
    }
    object.insert(
        "timestamp".into(),
        Value::String(
            event
                .timestamp
                .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
        ),
    );
    if !event.service.is_empty() {
        object.insert("service".into(), Value::String(event.service.clone()));
    }
    object.insert("level".into(), Value::String(event.level.as_str().into()));
    object.insert("message".into(), Value::String(event.message.clone()));
    serde_json::to_vec(&Value::Object(object)).expect("a map of strings always serializes")
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use ic_core::Level;

    use super::*;

    #[test]
    fn a_request_is_a_few_messages_of_many_lines_each_cut_at_a_line() {
        let event = |n: usize| {
            LogEvent::new(
                Utc.timestamp_opt(1_700_000_000, 0).unwrap(),
                "api",
                Level::Info,
                format!("request {n}\nwith a second line"),
            )
        };
        let events: Vec<LogEvent> = (0..2500).map(event).collect();
        let payloads = messages(&events, MESSAGE_BYTES);
        assert_eq!(payloads.len(), 3, "1000 + 1000 + 500 lines");
        let lines: Vec<usize> = payloads
            .iter()
            .map(|p| p.split(|&b| b == b'\n').count())
            .collect();
        assert_eq!(lines, [1000, 1000, 500]);
        // Every line parses back, in order, with its own newline escaped.
        let back: Vec<String> = payloads
            .iter()
            .flat_map(|p| {
                String::from_utf8(p.clone())
                    .unwrap()
                    .lines()
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .map(|line| ic_core::parse::parse_line(&line, Utc::now()).message)
            .collect();
        assert_eq!(back.len(), 2500);
        assert_eq!(back[1234], events[1234].message);

        // A byte limit cuts earlier, never inside a line.
        let line_bytes = json_line(&event(0)).len();
        let small = messages(&events[..10], 3 * line_bytes + 2);
        assert_eq!(small.len(), 4, "3 + 3 + 3 + 1 lines");
        assert!(small.iter().all(|p| p.len() <= 3 * line_bytes + 2));
        assert!(messages(&[], MESSAGE_BYTES).is_empty());
    }

    #[test]
    fn a_forwarded_line_parses_back_to_the_same_event() {
        let mut event = LogEvent::new(
            Utc.timestamp_opt(1_700_000_000, 123_000_000).unwrap(),
            "inventory-db",
            Level::Error,
            "Pool exhausted \"quoted\"\nsecond line",
        );
        event.attributes.insert("host".into(), "db-1".into());
        let line = String::from_utf8(json_line(&event)).unwrap();
        let parsed = ic_core::parse::parse_line(&line, Utc::now());
        assert_eq!(parsed, event, "{line}");
    }
}
