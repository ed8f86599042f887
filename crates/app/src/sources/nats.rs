//! The NATS source: every instance pulls from one durable consumer on the shared stream.
//!
//! A message (one log line, or several separated by newlines) is acknowledged only once every
//! one of its events is in a stored window, so an instance that dies leaves its messages to be
//! delivered again, never lost. The windows' transaction also records how many events of each
//! message it counted; a message delivered again skips those, so nothing is counted twice. While
//! messages wait in long windows or slow analysis, the source tells the server they are in
//! progress, so none is delivered again needlessly. A message delivered
//! [`MAX_DELIVERIES`] times (it keeps killing whoever takes it) is terminated and counted.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream::consumer::{self, PullConsumer};
use async_nats::jetstream::message::{AckKind, Acker};
use chrono::Utc;
use futures::StreamExt;
use ic_core::LogEvent;
use ic_core::parse::TextEvents;
use ic_store::Store;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::log_stream::{NatsError, NatsSettings, open_stream};
use crate::metrics::NATS_TERMINATED;
use crate::pipeline::{Envelope, Origin, Receipt, SharedCounters};
use crate::sync::lock;

/// Deliveries of one message before it is terminated.
pub const MAX_DELIVERIES: i64 = 5;
/// Messages asked for per pull…
pub const BATCH: usize = 500;
/// …and bytes, at most: what a pull brings is held in memory until it is analyzed, and a
/// message holds up to a thousand lines.
pub const BATCH_BYTES: usize = 4 * 1024 * 1024;
/// Messages taken and not yet acknowledged, at most: the ingest channel and the open window
/// hold far fewer events than this, so the source waits on the channel, not on the server.
pub const MAX_ACK_PENDING: i64 = 20_000;
/// A message delivered again while the database does not answer is asked about again this
/// late, up to [`LOOKUPS`] times.
const RETRY_LATER: Duration = Duration::from_secs(1);
const LOOKUPS: u32 = 5;

/// Opens the stream and the durable consumer (created if absent), and checks that an existing
/// consumer's limits allow what this source does. Also returns the connection, for readiness.
pub async fn open_consumer(
    settings: &NatsSettings,
) -> Result<(PullConsumer, async_nats::Client), NatsError> {
    let context = open_stream(settings).await?;
    let stream = context
        .get_stream(&settings.stream)
        .await
        .map_err(|err| NatsError::Consumer(err.to_string()))?;
    let mut consumer: PullConsumer = stream
        .get_or_create_consumer(
            &settings.consumer,
            consumer::pull::Config {
                durable_name: Some(settings.consumer.clone()),
                ack_policy: consumer::AckPolicy::Explicit,
                ack_wait: settings.ack_wait,
                max_ack_pending: MAX_ACK_PENDING,
                ..Default::default()
            },
        )
        .await
        .map_err(|err| NatsError::Consumer(err.to_string()))?;
    let info = consumer
        .info()
        .await
        .map_err(|err| NatsError::Consumer(err.to_string()))?;
    check_limits(&settings.consumer, &info.config)?;
    Ok((consumer, context.client()))
}

/// An existing consumer may have been made by hand or by another version: refuse limits under
/// which this source would stall or see its messages delivered again while they wait.
fn check_limits(name: &str, config: &consumer::Config) -> Result<(), NatsError> {
    let problem = if config.ack_policy != consumer::AckPolicy::Explicit {
        Some("its ack policy is not explicit".to_owned())
    } else if config.max_ack_pending > 0 && config.max_ack_pending < BATCH as i64 {
        Some(format!(
            "its max_ack_pending ({}) is under one pull ({BATCH} messages)",
            config.max_ack_pending
        ))
    } else if config.max_batch > 0 && (config.max_batch as usize) < BATCH {
        Some(format!(
            "its max_batch ({}) is under one pull ({BATCH} messages)",
            config.max_batch
        ))
    } else if config.ack_wait < Duration::from_secs(3) {
        Some(format!(
            "its ack_wait ({:?}) leaves no time for progress acknowledgements",
            config.ack_wait
        ))
    } else {
        None
    };
    match problem {
        Some(problem) => Err(NatsError::Consumer(format!(
            "the consumer {name} cannot be used: {problem}; delete it (nats consumer rm) or \
             name another with --nats-consumer"
        ))),
        None => Ok(()),
    }
}

/// Messages taken and not yet acknowledged, by stream sequence.
type Pending = Arc<Mutex<HashMap<u64, Arc<Acker>>>>;

/// One delivered message on its way through the pipeline.
#[derive(Debug)]
struct Delivery {
    stream: Arc<str>,
    seq: u64,
    /// Its events not yet in a stored window.
    remaining: AtomicU64,
    /// Tells the acknowledging task: all stored (true), or a window failed (false).
    done: mpsc::UnboundedSender<(u64, bool)>,
}

impl Receipt for Delivery {
    fn key(&self) -> (&str, u64) {
        (&self.stream, self.seq)
    }

    fn stored(&self, events: u64) {
        if self.remaining.fetch_sub(events, Ordering::AcqRel) == events {
            let _ = self.done.send((self.seq, true));
        }
    }

    fn failed(&self) {
        let _ = self.done.send((self.seq, false));
    }
}

/// Pulls until `cancel`, sending each message's events into the pipeline.
pub async fn run(
    consumer: PullConsumer,
    stream: String,
    store: Arc<dyn Store>,
    tx: mpsc::Sender<Envelope>,
    counters: SharedCounters,
    cancel: CancellationToken,
) -> anyhow::Result<()> {
    let stream: Arc<str> = stream.into();
    let pending: Pending = Arc::default();
    let (done_tx, done_rx) = mpsc::unbounded_channel();
    // It outlives this loop: the events already sent are acknowledged once stored, and it ends
    // when the last of them is.
    let ack_wait = consumer.cached_info().config.ack_wait;
    tokio::spawn(acknowledge(pending.clone(), done_rx, ack_wait));
    let mut messages = consumer
        .stream()
        .max_messages_per_batch(BATCH)
        .max_bytes_per_batch(BATCH_BYTES)
        // A pull request the server still holds receives messages delivered again. One that
        // outlived the ack wait would hand a stalled instance (paused, starved of CPU) the
        // very messages it stalled on, again and again, until they were terminated; this one
        // ends before the first of them comes back.
        .expires(ack_wait / 2)
        .messages()
        .await
        .map_err(|err| NatsError::Consumer(err.to_string()))?;
    loop {
        let message = tokio::select! {
            () = cancel.cancelled() => break,
            message = messages.next() => match message {
                Some(Ok(message)) => message,
                Some(Err(err)) => {
                    tracing::warn!(%err, "Pulling from NATS failed; pulling again.");
                    continue;
                }
                None => break,
            },
        };
        let Ok(info) = message.info() else {
            tracing::warn!("A NATS message without delivery information; skipped.");
            continue;
        };
        let (seq, delivered) = (info.stream_sequence, info.delivered);
        let (message, acker) = message.split();
        // Delivered again while this instance still holds it (the pipeline was slower than the
        // ack wait): its events are on their way already. The newest delivery is the one to
        // acknowledge.
        if let Some(held) = lock(&pending).get_mut(&seq) {
            *held = Arc::new(acker);
            continue;
        }
        if delivered > MAX_DELIVERIES {
            metrics::counter!(NATS_TERMINATED).increment(1);
            tracing::warn!(
                seq,
                delivered,
                "A NATS message keeps coming back; terminated."
            );
            let _ = acker.ack_with(AckKind::Term).await;
            continue;
        }
        // A message delivered again may be partly or wholly counted already.
        let counted = match delivered {
            1 => 0,
            _ => match counted(store.as_ref(), &stream, seq, &acker).await {
                Some(counted) => counted,
                // Not acknowledged: the server delivers it again after its ack wait.
                None => continue,
            },
        };
        let (events, lines) = events_of(&message.payload);
        let skip = usize::try_from(counted)
            .unwrap_or(usize::MAX)
            .min(events.len());
        let events: Vec<LogEvent> = events.into_iter().skip(skip).collect();
        counters.add("nats", lines, events.len() as u64);
        if events.is_empty() {
            let _ = acker.ack().await;
            continue;
        }
        let delivery = Arc::new(Delivery {
            stream: stream.clone(),
            seq,
            remaining: AtomicU64::new(events.len() as u64),
            done: done_tx.clone(),
        });
        lock(&pending).insert(seq, Arc::new(acker));
        let origin = Origin {
            receipt: delivery,
            first: skip as u64,
            events: events.len() as u64,
        };
        let envelope = Envelope {
            events,
            origins: vec![origin],
        };
        if tx.send(envelope).await.is_err() {
            break;
        }
    }
    // Messages left unacknowledged (the process ended first) are delivered again to whoever
    // pulls next, and what of them was stored is skipped.
    Ok(())
}

/// What of a message delivered again is counted already. The database may be away for a
/// while: the message is kept (in progress) and asked about again, and let go only after
/// [`LOOKUPS`] failures.
async fn counted(store: &dyn Store, stream: &str, seq: u64, acker: &Acker) -> Option<u64> {
    for attempt in 1..=LOOKUPS {
        match store.consumed(stream, seq).await {
            Ok(counted) => return Some(counted),
            Err(err) if attempt == LOOKUPS => {
                tracing::warn!(%err, seq, "Cannot tell what of a message is counted; letting it come again.");
            }
            Err(_) => {
                let _ = acker.ack_with(AckKind::Progress).await;
                tokio::time::sleep(RETRY_LATER).await;
            }
        }
    }
    None
}

/// A message's events: each line parsed, stack traces joined; and its line count.
fn events_of(payload: &[u8]) -> (Vec<LogEvent>, u64) {
    let text = String::from_utf8_lossy(payload);
    let mut events = TextEvents::new(&text, Utc::now());
    let parsed = events.by_ref().collect();
    (parsed, events.lines_read())
}

/// Acknowledges the messages whose events are all stored, and tells the server that the others
/// are in progress before their ack wait runs out. A message whose window could not be stored
/// is let go unacknowledged: the server delivers it again after its ack wait, and what of it
/// was stored meanwhile is skipped.
async fn acknowledge(
    pending: Pending,
    mut done: mpsc::UnboundedReceiver<(u64, bool)>,
    ack_wait: Duration,
) {
    let mut progress = tokio::time::interval(ack_wait / 3);
    progress.tick().await;
    loop {
        tokio::select! {
            finished = done.recv() => {
                let Some((seq, stored)) = finished else { return };
                let acker = lock(&pending).remove(&seq);
                if let Some(acker) = acker
                    && stored
                    && let Err(err) = acker.ack().await
                {
                    tracing::warn!(%err, seq, "Acknowledging a NATS message failed; it will come again and be skipped.");
                }
            }
            _ = progress.tick() => {
                let waiting: Vec<Arc<Acker>> = lock(&pending).values().cloned().collect();
                for acker in waiting {
                    let _ = acker.ack_with(AckKind::Progress).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_of_several_lines_is_several_events_and_traces_join() {
        let payload = b"2026-01-01T00:00:00Z ERROR [api] boom\n  at a.b(c.java:1)\n\r\n{\"message\": \"two\"}\n";
        let (events, lines) = events_of(payload);
        assert_eq!(lines, 3);
        assert_eq!(events.len(), 2);
        assert!(events[0].message.contains("at a.b"));
        assert_eq!(events[1].message, "two");
    }

    #[test]
    fn consumers_that_would_stall_are_refused() {
        let good = consumer::Config {
            ack_policy: consumer::AckPolicy::Explicit,
            ack_wait: crate::log_stream::DEFAULT_ACK_WAIT,
            max_ack_pending: MAX_ACK_PENDING,
            ..Default::default()
        };
        assert!(check_limits("c", &good).is_ok());
        let small = consumer::Config {
            max_ack_pending: 10,
            ..good.clone()
        };
        let err = check_limits("c", &small).unwrap_err().to_string();
        assert!(err.contains("max_ack_pending (10)"), "{err}");
        let none = consumer::Config {
            ack_policy: consumer::AckPolicy::None,
            ..good
        };
        assert!(check_limits("c", &none).is_err());
    }
}
