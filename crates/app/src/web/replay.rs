//! Analyzing again, at start, the bodies the ingest journal kept: accepted, answered, and not
//! yet all stored when the server stopped.

use std::sync::Arc;

use ic_core::LogEvent;
use tokio::sync::mpsc;

use super::ApiError;
use super::intake::{EventChunks, Kind, Received, envelopes};
use super::{ingest, otlp};
use crate::pipeline::{CHUNK_EVENTS, Chunk, Envelope, SharedCounters};

/// The events of a journaled body, parsed again as when it was accepted.
fn parse_again(received: &Received) -> Result<EventChunks, ApiError> {
    ingest::parse_again(received).unwrap_or_else(|| otlp::parse_again(received))
}

/// Analyzes again what the journal kept from earlier runs: bodies accepted whose windows were
/// not all stored when the server stopped. What windows stored before then counted is skipped,
/// so each line is counted once.
pub async fn replay(
    replay: crate::journal::Replay,
    store: Arc<dyn ic_store::Store>,
    tx: mpsc::Sender<Envelope>,
    counters: SharedCounters,
    cancel: tokio_util::sync::CancellationToken,
) -> anyhow::Result<()> {
    let replay = Arc::new(replay);
    let mut events = 0;
    for i in 0..replay.segments() {
        let segment = replay.clone();
        let records = tokio::task::spawn_blocking(move || segment.read(i)).await??;
        for record in records {
            if cancel.is_cancelled() {
                return Ok(());
            }
            let Some(kind) = Kind::of(record.kind) else {
                // Not ours to read (a later version's): it stays for a server that can.
                tracing::warn!(
                    seq = record.seq,
                    "A journal record of an unknown kind; kept."
                );
                continue;
            };
            let counted = store.consumed(replay.stream(), record.seq).await?;
            let received = Received {
                kind,
                at: record.received,
                body: record.body.clone(),
            };
            let batch = parse_again(&received).unwrap_or_default();
            let skip = usize::try_from(counted).unwrap_or(usize::MAX);
            let left: Vec<LogEvent> = batch.chunks.into_iter().flatten().skip(skip).collect();
            record.holds(left.len() as u64);
            counters.add("journal", left.len() as u64, left.len() as u64);
            events += left.len();
            let mut left = left.into_iter();
            let chunks = std::iter::from_fn(|| {
                let chunk: Chunk = left.by_ref().take(CHUNK_EVENTS).collect();
                (!chunk.is_empty()).then_some(chunk)
            });
            for envelope in envelopes(chunks, Some(&record.entry), skip as u64) {
                if tx.send(envelope).await.is_err() {
                    return Ok(());
                }
            }
        }
    }
    if events > 0 {
        tracing::info!(
            events,
            "Lines accepted before the last stop and not yet stored were analyzed again from the ingest journal."
        );
    }
    Ok(())
}
