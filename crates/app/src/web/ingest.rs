//! `POST /api/logs`: log lines over HTTP, as NDJSON, a JSON array or plain text, optionally
//! gzip-encoded; and what it shares with `POST /v1/logs` (see `otlp.rs`): the gate to the
//! ingest channel, the body limit, all-or-nothing queueing and the rejection metrics.
//!
//! A request is either taken whole or not at all: the channel capacity for all its chunks is
//! reserved before the first is sent, so a 429 means nothing was taken and a 2xx means all of
//! it was (minus the malformed lines the answer lists).

use std::io::Read;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use ic_core::LogEvent;
use ic_core::parse::{LineJoiner, json, parse_line};
use serde::Serialize;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tower_http::timeout::TimeoutLayer;

use super::ApiError;
use super::error::{Reason, count_rejected_lines, count_rejected_request};
use super::limits::IngestSettings;
use super::otlp;
use crate::journal::{Entry, Journal};
use crate::nats::Forwarder;
use crate::pipeline::{CHUNK_EVENTS, Chunk, Envelope, Origin, SharedCounters};

/// The most chunks one request may fill: half the ingest channel, so a request can always
/// fit once the pipeline catches up. With [`CHUNK_EVENTS`] this bounds the events per request.
pub const MAX_REQUEST_CHUNKS: usize = 32;
/// The most events one request may carry.
pub const MAX_REQUEST_EVENTS: usize = MAX_REQUEST_CHUNKS * CHUNK_EVENTS;
/// What the bodies of the requests in flight may take decoded, together: 256 MiB, counted in
/// KiB (see [`super::otlp::decoded`]).
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
/// The most malformed lines an answer lists; the count covers them all.
const MAX_LISTED_REJECTS: usize = 100;

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
        batch: Batch,
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
        for (permit, chunk) in permits.zip(batch.chunks) {
            permit.send(envelope(chunk, entry.as_ref()));
        }
        self.counters.add(source, batch.lines, batch.events);
        Ok(())
    }
}

/// A chunk of a journaled body's events: its record hears when they are stored.
fn envelope(events: Chunk, entry: Option<&Arc<Entry>>) -> Envelope {
    let origins = entry
        .map(|entry| Origin {
            receipt: entry.clone(),
            events: events.len() as u64,
        })
        .into_iter()
        .collect();
    Envelope { events, origins }
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
    fn of(byte: u8) -> Option<Kind> {
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

impl From<Format> for Kind {
    fn from(format: Format) -> Self {
        match format {
            Format::Ndjson => Kind::Ndjson,
            Format::Array => Kind::Array,
            Format::Text => Kind::Text,
        }
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

/// The events of a journaled body, parsed again as when it was accepted.
fn parse_again(received: &Received) -> Result<Batch, ApiError> {
    let (at, body) = (received.at, &received.body);
    Ok(match received.kind {
        Kind::Ndjson => parse_body(Format::Ndjson, body, at)?.batch,
        Kind::Array => parse_body(Format::Array, body, at)?.batch,
        Kind::Text => parse_body(Format::Text, body, at)?.batch,
        Kind::OtlpProtobuf | Kind::OtlpJson => otlp::parse_again(received)?,
    })
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
            let mut left = left.into_iter().peekable();
            while left.peek().is_some() {
                let chunk: Chunk = left.by_ref().take(CHUNK_EVENTS).collect();
                if tx.send(envelope(chunk, Some(&record.entry))).await.is_err() {
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

/// The ingest routes, with their own state and a deadline for each request.
pub fn routes(ingest: Ingest, request_timeout: Duration) -> Router {
    Router::new()
        .route("/api/logs", post(logs))
        .route("/v1/logs", post(otlp::export))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            request_timeout,
        ))
        .with_state(ingest)
}

/// Events cut into chunks as they are parsed, with the count of lines they came from.
#[derive(Debug, Default)]
pub struct Batch {
    pub chunks: Vec<Chunk>,
    pub lines: u64,
    pub events: u64,
}

impl Batch {
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

/// How `/api/logs` reads a body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    /// One JSON object per line.
    Ndjson,
    /// `[{…}, {…}]`: each element one line (an object, or a string read as a text line).
    Array,
    /// Lines in any format the parsers know; stack traces joined into their event.
    Text,
}

fn format_of(headers: &HeaderMap, body: &[u8]) -> Result<Format, ApiError> {
    Ok(match media_type(headers).as_str() {
        "application/x-ndjson"
        | "application/ndjson"
        | "application/jsonl"
        | "application/x-jsonlines"
        | "application/jsonlines" => Format::Ndjson,
        "application/json" if body.trim_ascii_start().starts_with(b"[") => Format::Array,
        "application/json" => Format::Ndjson,
        "" | "text/plain" => Format::Text,
        other => {
            return Err(ApiError::UnsupportedMediaType(format!(
                "Content-Type {other} is not supported; send application/x-ndjson, \
                 application/json or text/plain"
            )));
        }
    })
}

/// A line of the body that was not accepted.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Rejected {
    /// 1-based: the line of an NDJSON body, the element of a JSON array.
    pub line: usize,
    pub error: String,
}

/// The lines of one body, parsed.
#[derive(Debug, Default)]
struct Parsed {
    batch: Batch,
    rejected: Vec<Rejected>,
    rejected_count: usize,
}

impl Parsed {
    fn accept(&mut self, event: LogEvent) -> Result<(), ApiError> {
        self.batch.lines += 1;
        self.batch.push(event)
    }

    fn reject(&mut self, line: usize, error: &str) {
        self.rejected_count += 1;
        if self.rejected.len() < MAX_LISTED_REJECTS {
            self.rejected.push(Rejected {
                line,
                error: error.to_owned(),
            });
        }
    }
}

fn parse_body(format: Format, body: &[u8], now: DateTime<Utc>) -> Result<Parsed, ApiError> {
    let text = String::from_utf8_lossy(body);
    let mut parsed = Parsed::default();
    match format {
        Format::Ndjson => {
            for (i, line) in text.lines().enumerate() {
                if line.trim().is_empty() {
                    continue;
                }
                match json::parse(line, now) {
                    Some(event) => parsed.accept(event)?,
                    None => parsed.reject(i + 1, "not a JSON object"),
                }
            }
        }
        Format::Array => parse_array(&text, now, &mut parsed)?,
        Format::Text => {
            let mut joiner = LineJoiner::new();
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                parsed.batch.lines += 1;
                if let Some(event) = joiner.push(line, now) {
                    parsed.batch.push(event)?;
                }
            }
            if let Some(event) = joiner.finish() {
                parsed.batch.push(event)?;
            }
        }
    }
    Ok(parsed)
}

/// Each object is written back as one JSON line and read by the JSON line parser, so the field
/// names mean the same as in any other source.
fn parse_array(text: &str, now: DateTime<Utc>, parsed: &mut Parsed) -> Result<(), ApiError> {
    let elements: Vec<serde_json::Value> = serde_json::from_str(text)
        .map_err(|err| ApiError::BadRequest(format!("the body is not a JSON array: {err}")))?;
    for (i, element) in elements.into_iter().enumerate() {
        match element {
            serde_json::Value::Object(_) => match json::parse(&element.to_string(), now) {
                Some(event) => parsed.accept(event)?,
                None => parsed.reject(i + 1, "not a JSON object"),
            },
            serde_json::Value::String(line) if !line.trim().is_empty() => {
                parsed.accept(parse_line(&line, now))?;
            }
            _ => parsed.reject(i + 1, "neither an object nor a non-empty string"),
        }
    }
    Ok(())
}

/// The answer to an accepted body: 202, or 400 when some lines were malformed (the others
/// were accepted all the same).
#[derive(Debug, Serialize)]
struct Answer {
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    accepted: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    rejected: Vec<Rejected>,
    #[serde(skip_serializing_if = "is_zero")]
    rejected_count: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

async fn logs(State(ingest): State<Ingest>, headers: HeaderMap, body: Body) -> Response {
    match accept_logs(&ingest, &headers, body).await {
        Ok(answer) => answer,
        Err(err) => {
            if let Some(reason) = Reason::of(&err) {
                count_rejected_request(reason);
            }
            err.into_response()
        }
    }
}

async fn accept_logs(
    ingest: &Ingest,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let _permit = ingest.admit()?;
    let body = ingest.body(headers, body).await?;
    let format = format_of(headers, &body)?;
    // A JSON array is decoded whole before its elements are read.
    let _room = match format {
        Format::Array => Some(ingest.room_to_decode(otlp::decoded::json_estimate(&body))?),
        Format::Ndjson | Format::Text => None,
    };
    let at = Utc::now();
    let parsed = parse_body(format, &body, at)?;
    let accepted = parsed.batch.lines;
    let received = Received {
        kind: format.into(),
        at,
        body,
    };
    ingest.enqueue("http", parsed.batch, received).await?;
    if parsed.rejected_count == 0 {
        let answer = Answer {
            error: None,
            accepted,
            rejected: vec![],
            rejected_count: 0,
        };
        return Ok((StatusCode::ACCEPTED, Json(answer)).into_response());
    }
    count_rejected_request(Reason::Malformed);
    count_rejected_lines(Reason::Malformed, parsed.rejected_count as u64);
    let answer = Answer {
        error: Some(format!(
            "{} line(s) could not be read, the first at line {}; the other {accepted} were accepted",
            parsed.rejected_count, parsed.rejected[0].line
        )),
        accepted,
        rejected: parsed.rejected,
        rejected_count: parsed.rejected_count,
    };
    Ok((StatusCode::BAD_REQUEST, Json(answer)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(content_type: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, content_type.parse().unwrap());
        h
    }

    #[test]
    fn formats_follow_the_content_type() {
        let f = |ct, body: &[u8]| format_of(&headers(ct), body).unwrap();
        assert_eq!(f("application/x-ndjson", b"{}"), Format::Ndjson);
        assert_eq!(
            f("application/json; charset=utf-8", b" [{}]"),
            Format::Array
        );
        assert_eq!(f("application/json", b"{}"), Format::Ndjson);
        assert_eq!(f("text/plain", b"x"), Format::Text);
        assert_eq!(format_of(&HeaderMap::new(), b"x").unwrap(), Format::Text);
        assert!(format_of(&headers("image/png"), b"x").is_err());
    }

    #[test]
    fn ndjson_keeps_good_lines_and_numbers_bad_ones() {
        let body = b"{\"level\":\"error\",\"service\":\"db\",\"message\":\"down\"}\n\nnot json\n{\"msg\":\"up\"}\r\n";
        let parsed = parse_body(Format::Ndjson, body, Utc::now()).unwrap();
        assert_eq!(parsed.batch.lines, 2);
        assert_eq!(parsed.batch.events, 2);
        let event = &parsed.batch.chunks[0][0];
        assert_eq!(
            (event.service.as_str(), event.message.as_str()),
            ("db", "down")
        );
        assert_eq!(
            parsed.rejected,
            [Rejected {
                line: 3,
                error: "not a JSON object".into()
            }]
        );
    }

    #[test]
    fn array_elements_are_lines_and_text_joins_stack_traces() {
        let body = br#"[{"service":"api","msg":"a"}, "2024-01-01T00:00:00Z ERROR db: b", 3]"#;
        let parsed = parse_body(Format::Array, body, Utc::now()).unwrap();
        assert_eq!(parsed.batch.lines, 2);
        assert_eq!(parsed.rejected[0].line, 3);
        assert!(parse_body(Format::Array, b"[{", Utc::now()).is_err());

        let body = b"ERROR boom\n  at a.b(C.java:1)\nINFO fine\n";
        let parsed = parse_body(Format::Text, body, Utc::now()).unwrap();
        assert_eq!((parsed.batch.lines, parsed.batch.events), (3, 2));
    }

    #[test]
    fn batches_cut_chunks_and_stop_at_the_request_limit() {
        let mut batch = Batch::default();
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
