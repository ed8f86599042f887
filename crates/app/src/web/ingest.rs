//! `POST /api/logs`: log lines over HTTP, as NDJSON, a JSON array or plain text, optionally
//! gzip-encoded. What it shares with `POST /v1/logs` is in `intake.rs`.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use ic_core::LogEvent;
use ic_core::parse::{TextEvents, json, parse_line};
use serde::Serialize;

use super::ApiError;
use super::decoded;
use super::error::{Reason, count_rejected_lines, count_rejected_request};
use super::intake::{EventChunks, Ingest, Kind, Received, media_type};

/// The most malformed lines an answer lists; the count covers them all.
const MAX_LISTED_REJECTS: usize = 100;

impl From<Format> for Kind {
    fn from(format: Format) -> Self {
        match format {
            Format::Ndjson => Kind::Ndjson,
            Format::Array => Kind::Array,
            Format::Text => Kind::Text,
        }
    }
}

/// The events of a journaled `/api/logs` body, parsed again as when it was accepted; `None`
/// for a body of another endpoint.
pub fn parse_again(received: &Received) -> Option<Result<EventChunks, ApiError>> {
    let format = match received.kind {
        Kind::Ndjson => Format::Ndjson,
        Kind::Array => Format::Array,
        Kind::Text => Format::Text,
        Kind::OtlpProtobuf | Kind::OtlpJson => return None,
    };
    Some(parse_body(format, &received.body, received.at).map(|parsed| parsed.batch))
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
    batch: EventChunks,
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
            let mut events = TextEvents::new(&text, now);
            for event in events.by_ref() {
                parsed.batch.push(event)?;
            }
            parsed.batch.lines = events.lines_read();
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

pub async fn logs(State(ingest): State<Ingest>, headers: HeaderMap, body: Body) -> Response {
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
        Format::Array => Some(ingest.room_to_decode(decoded::json_estimate(&body))?),
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
    use axum::http::header;

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
}
