//! What the two ingest endpoints, `POST /api/logs` (see `ingest.rs`) and `POST /v1/logs` (see
//! `otlp.rs`), share: the gate to the ingest channel, the body limit, the room bodies take
//! decoded, all-or-nothing queueing and journaling.
//!
//! A request is either taken whole or not at all: the channel capacity for all its chunks is
//! reserved before the first is sent, so a 429 means nothing was taken and a 2xx means all of
//! it was (minus the malformed lines the answer lists).

use std::io::Read;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, header};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use ic_core::LogEvent;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

use super::ApiError;
use super::error::{Reason, count_rejected_lines};
use super::limits::IngestSettings;
use crate::journal::{Entry, Journal};
use crate::log_stream::Forwarder;
use crate::pipeline::{CHUNK_EVENTS, Chunk, Envelope, Origin, SharedCounters};

/// The most chunks one request may fill: half the ingest channel, so a request can always
/// fit once the pipeline catches up. With [`CHUNK_EVENTS`] this bounds the events per request.
pub const MAX_REQUEST_CHUNKS: usize = 32;
/// The most events one request may carry.
pub const MAX_REQUEST_EVENTS: usize = MAX_REQUEST_CHUNKS * CHUNK_EVENTS;
/// What the bodies of the requests in flight may take decoded, together: 256 MiB, counted in
/// KiB (see [`super::decoded`]).
const DECODED_BUDGET_KIB: u32 = 256 * 1024;
/// And one of them alone: 128 MiB, so that a request that fits the budget always gets in once
/// the others are done.
const DECODED_MAX_BYTES: u64 = 128 << 20;
/// How long a request waits for room in a full channel before it is answered 429: long
/// enough to ride out a burst, short enough that no handler hangs.
const QUEUE_WAIT: Duration = Duration::from_millis(500);
/// A body must arrive at least this fast (bytes per second) once [`BODY_GRACE`] has passed:
/// Apache's `mod_reqtimeout` `MinRate`. A handful of bodies that never finish would otherwise
/// hold every ingest permit until the request deadline, and every other client gets 429s.
pub const BODY_MIN_RATE: f64 = 16.0 * 1024.0;
/// Time any body has before its rate counts: a client's first bytes may wait on a slow start.
pub const BODY_GRACE: Duration = Duration::from_secs(5);
/// The ingest endpoints' hold on the ingest channel. Shutdown closes it, so the pipeline sees
/// its input end and drains while the web server keeps answering (503 for new logs).
#[derive(Debug)]
pub struct IngestGate(RwLock<Option<mpsc::Sender<Envelope>>>);

impl IngestGate {
    pub fn new(tx: mpsc::Sender<Envelope>) -> Arc<Self> {
        Arc::new(Self(RwLock::new(Some(tx))))
    }

    /// Drops the sender: requests from now on answer 503.
    pub fn close(&self) {
        self.0.write().unwrap_or_else(|e| e.into_inner()).take();
    }

    fn sender(&self) -> Option<mpsc::Sender<Envelope>> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// What the ingest handlers share.
#[derive(Clone)]
pub struct Ingest {
    gate: Arc<IngestGate>,
    /// With `--forward nats`, lines go to the stream instead of the local pipeline.
    forward: Option<Arc<Forwarder>>,
    /// Otherwise, bodies are journaled before they are answered (see [`crate::journal`]).
    journal: Option<Arc<Journal>>,
    counters: SharedCounters,
    max_body_bytes: usize,
    /// Requests in flight: bounds the memory their bodies take.
    requests: Arc<Semaphore>,
    /// KiB the bodies in flight take decoded (JSON arrays, OTLP).
    decoded: Arc<Semaphore>,
}

impl Ingest {
    pub fn new(gate: Arc<IngestGate>, counters: SharedCounters, limits: &IngestSettings) -> Self {
        Self {
            gate,
            forward: None,
            journal: None,
            counters,
            max_body_bytes: limits.max_body_bytes,
            requests: Arc::new(Semaphore::new(limits.max_ingest_requests)),
            decoded: Arc::new(Semaphore::new(DECODED_BUDGET_KIB as usize)),
        }
    }

    /// Room for a body that takes `bytes` once decoded: 413 past what one request may take,
    /// 429 while the requests in flight hold the rest.
    pub fn room_to_decode(&self, bytes: u64) -> Result<OwnedSemaphorePermit, ApiError> {
        if bytes > DECODED_MAX_BYTES {
            return Err(ApiError::TooLarge(format!(
                "the body would take about {} MiB decoded, more than the {} MiB a request may; \
                 send fewer records per request",
                bytes >> 20,
                DECODED_MAX_BYTES >> 20
            )));
        }
        let kib = u32::try_from(bytes.div_ceil(1024)).unwrap_or(u32::MAX);
        self.decoded
            .clone()
            .try_acquire_many_owned(kib)
            .map_err(|_| ApiError::QueueFull)
    }

    /// Publishes into the NATS stream instead of the local pipeline.
    pub fn forwarding(mut self, forward: Option<Arc<Forwarder>>) -> Self {
        self.forward = forward;
        self
    }

    /// Journals every body before its answer.
    pub fn journaling(mut self, journal: Option<Arc<Journal>>) -> Self {
        self.journal = journal;
        self
    }

    /// A permit to handle one request, or 429 when too many are in flight.
    pub fn admit(&self) -> Result<OwnedSemaphorePermit, ApiError> {
        self.requests
            .clone()
            .try_acquire_owned()
            .map_err(|_| ApiError::QueueFull)
    }

    /// Reads the body (decompressing gzip) within the body limit.
    pub async fn body(&self, headers: &HeaderMap, body: Body) -> Result<Bytes, ApiError> {
        read_body(headers, body, self.max_body_bytes).await
    }

    /// Sends every chunk of `batch` or none: room for all of them is reserved first, then the
    /// body it was parsed from is journaled, so that once this returns the lines survive a
    /// crash.
    pub async fn enqueue(
        &self,
        source: &'static str,
        batch: EventChunks,
        body: Received,
    ) -> Result<(), ApiError> {
        let tx = self.gate.sender().ok_or(ApiError::ShuttingDown)?;
        if let Some(forward) = &self.forward {
            // Answered only once the stream has stored every line: a 202 is durable.
            let events: Vec<LogEvent> = batch.chunks.into_iter().flatten().collect();
            return forward
                .publish(source, &events)
                .await
                .map_err(|err| ApiError::Upstream(err.to_string()));
        }
        if batch.chunks.is_empty() {
            return Ok(());
        }
        let permits =
            match tokio::time::timeout(QUEUE_WAIT, tx.reserve_many(batch.chunks.len())).await {
                Ok(Ok(permits)) => permits,
                Ok(Err(_)) => return Err(ApiError::ShuttingDown),
                Err(_) => {
                    count_rejected_lines(Reason::Full, batch.lines);
                    return Err(ApiError::QueueFull);
                }
            };
        let entry = match &self.journal {
            Some(journal) => Some(
                journal
                    .append(body.kind as u8, body.at, body.body, batch.events)
                    .await?,
            ),
            None => None,
        };
        for (permit, envelope) in permits.zip(envelopes(batch.chunks, entry.as_ref(), 0)) {
            permit.send(envelope);
        }
        self.counters.add(source, batch.lines, batch.events);
        Ok(())
    }
}

/// A journaled body's chunks of events as envelopes, the first chunk starting at the body's
/// `first` event: its record hears when they are stored.
pub fn envelopes<'a>(
    chunks: impl IntoIterator<Item = Chunk> + 'a,
    entry: Option<&'a Arc<Entry>>,
    first: u64,
) -> impl Iterator<Item = Envelope> + 'a {
    chunks.into_iter().scan(first, move |next, events| {
        let first = *next;
        *next += events.len() as u64;
        let origins = entry
            .map(|entry| Origin {
                receipt: entry.clone(),
                first,
                events: events.len() as u64,
            })
            .into_iter()
            .collect();
        Some(Envelope { events, origins })
    })
}

/// What a body was sent as: how the journal's copy of it is read again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    Ndjson = 1,
    Array = 2,
    Text = 3,
    OtlpProtobuf = 4,
    OtlpJson = 5,
}

impl Kind {
    pub fn of(byte: u8) -> Option<Kind> {
        [
            Kind::Ndjson,
            Kind::Array,
            Kind::Text,
            Kind::OtlpProtobuf,
            Kind::OtlpJson,
        ]
        .into_iter()
        .find(|k| *k as u8 == byte)
    }
}

/// An accepted body as it is journaled: read again the same way, it gives the same events.
#[derive(Debug, Clone)]
pub struct Received {
    pub kind: Kind,
    /// When it arrived: the time its events were stamped with when they had none.
    pub at: DateTime<Utc>,
    /// Decompressed.
    pub body: Bytes,
}

/// Events cut into chunks as they are parsed, with the count of lines they came from.
#[derive(Debug, Default)]
pub struct EventChunks {
    pub chunks: Vec<Chunk>,
    pub lines: u64,
    pub events: u64,
}

impl EventChunks {
    /// Adds an event; refuses past [`MAX_REQUEST_EVENTS`].
    pub fn push(&mut self, event: LogEvent) -> Result<(), ApiError> {
        if self.events as usize >= MAX_REQUEST_EVENTS {
            return Err(ApiError::TooLarge(format!(
                "a request may carry at most {MAX_REQUEST_EVENTS} log lines; send smaller batches"
            )));
        }
        match self.chunks.last_mut() {
            Some(chunk) if chunk.len() < CHUNK_EVENTS => chunk.push(event),
            _ => self.chunks.push(vec![event]),
        }
        self.events += 1;
        Ok(())
    }
}

/// Reads a body of at most `limit` bytes, before and after gzip decompression, so neither a
/// large upload nor a small zip bomb gets past it. Stops reading as soon as the limit is
/// passed.
pub async fn read_body(headers: &HeaderMap, body: Body, limit: usize) -> Result<Bytes, ApiError> {
    let too_large = || ApiError::TooLarge(format!("the body is larger than {limit} bytes"));
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(too_large());
    }
    let gzip = is_gzip(headers)?;
    let mut stream = body.into_data_stream();
    let mut raw = Vec::new();
    let started = tokio::time::Instant::now();
    loop {
        // The next bytes are due when what came so far stops keeping the minimum rate.
        let due = started + BODY_GRACE + Duration::from_secs_f64(raw.len() as f64 / BODY_MIN_RATE);
        let Ok(next) = tokio::time::timeout_at(due, stream.next()).await else {
            return Err(ApiError::TooSlow(format!(
                "the body came slower than {} KiB/s ({} bytes in {:.0} s); send it at once",
                BODY_MIN_RATE / 1024.0,
                raw.len(),
                started.elapsed().as_secs_f64()
            )));
        };
        let Some(data) = next else { break };
        let data =
            data.map_err(|err| ApiError::BadRequest(format!("cannot read the body: {err}")))?;
        if raw.len() + data.len() > limit {
            return Err(too_large());
        }
        raw.extend_from_slice(&data);
    }
    if !gzip {
        return Ok(raw.into());
    }
    let mut plain = Vec::new();
    flate2::read::MultiGzDecoder::new(raw.as_slice())
        .take(limit as u64 + 1)
        .read_to_end(&mut plain)
        .map_err(|err| ApiError::BadRequest(format!("the gzip body is corrupt: {err}")))?;
    if plain.len() > limit {
        return Err(too_large());
    }
    Ok(plain.into())
}

fn is_gzip(headers: &HeaderMap) -> Result<bool, ApiError> {
    match headers.get(header::CONTENT_ENCODING).map(|v| v.to_str()) {
        None => Ok(false),
        Some(Ok(v)) if v.eq_ignore_ascii_case("gzip") || v.eq_ignore_ascii_case("x-gzip") => {
            Ok(true)
        }
        Some(Ok(v)) if v.eq_ignore_ascii_case("identity") => Ok(false),
        Some(v) => Err(ApiError::UnsupportedMediaType(format!(
            "Content-Encoding {:?} is not supported; send gzip or nothing",
            v.unwrap_or("?")
        ))),
    }
}

/// The media type without parameters, lowercased; empty when absent.
pub fn media_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn event_chunks_cut_chunks_and_stop_at_the_request_limit() {
        let mut batch = EventChunks::default();
        let event = LogEvent::new(Utc::now(), "s", ic_core::Level::Info, "m");
        for _ in 0..CHUNK_EVENTS + 1 {
            batch.push(event.clone()).unwrap();
        }
        assert_eq!(batch.chunks.len(), 2);
        assert_eq!(batch.chunks[1].len(), 1);
        for _ in batch.events as usize..MAX_REQUEST_EVENTS {
            batch.push(event.clone()).unwrap();
        }
        assert!(matches!(batch.push(event), Err(ApiError::TooLarge(_))));
        assert_eq!(batch.chunks.len(), MAX_REQUEST_CHUNKS);
    }
}
