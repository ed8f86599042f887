//! `POST /v1/logs`: OpenTelemetry logs over OTLP/HTTP, protobuf or JSON, gzip or not, as the
//! OTLP specification describes: the answer is an `ExportLogsServiceResponse` in the request's
//! encoding (with `partial_success` when records were refused), and errors carry a
//! `google.rpc.Status` in that encoding.
//!
//! Records become events directly, with no text parsing: `service.name` of the resource is the
//! service, the severity number (else the severity text) the level, the body the message, and
//! the record's attributes (with its trace and span ids) the attributes.

use std::collections::BTreeMap;
use std::fmt::Write;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use ic_core::{Level, LogEvent};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use prost::Message;

use super::ApiError;
use super::decoded;
use super::error::{Reason, count_rejected_lines, count_rejected_request};
use super::intake::{EventChunks, Ingest, Kind, MAX_REQUEST_EVENTS, Received, media_type};

/// The two encodings OTLP/HTTP defines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Protobuf,
    Json,
}

impl Encoding {
    fn of(headers: &HeaderMap) -> Result<Self, ApiError> {
        match media_type(headers).as_str() {
            "application/x-protobuf" | "application/protobuf" => Ok(Encoding::Protobuf),
            "application/json" => Ok(Encoding::Json),
            other => Err(ApiError::UnsupportedMediaType(format!(
                "Content-Type {other:?} is not OTLP; send application/x-protobuf or \
                 application/json"
            ))),
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Encoding::Protobuf => "application/x-protobuf",
            Encoding::Json => "application/json",
        }
    }

    fn decode(self, body: &[u8]) -> Result<ExportLogsServiceRequest, ApiError> {
        match self {
            Encoding::Protobuf => ExportLogsServiceRequest::decode(body)
                .map_err(|err| ApiError::BadRequest(format!("not an OTLP logs request: {err}"))),
            Encoding::Json => serde_json::from_slice(body)
                .map_err(|err| ApiError::BadRequest(format!("not an OTLP logs request: {err}"))),
        }
    }

    fn encode<M: Message + serde::Serialize>(self, message: &M) -> Vec<u8> {
        match self {
            Encoding::Protobuf => message.encode_to_vec(),
            Encoding::Json => serde_json::to_vec(message).expect("OTLP messages serialize"),
        }
    }
}

/// `google.rpc.Status`, the body of OTLP error answers. Its two fields we set are all a
/// client reads; `details` is left out.
#[derive(Clone, PartialEq, prost::Message, serde::Serialize)]
struct Status {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

pub async fn export(State(ingest): State<Ingest>, headers: HeaderMap, body: Body) -> Response {
    let encoding = Encoding::of(&headers).unwrap_or(Encoding::Json);
    match accept(&ingest, &headers, body).await {
        Ok(response) => reply(encoding, StatusCode::OK, &response),
        Err(err) => {
            if let Some(reason) = Reason::of(&err) {
                count_rejected_request(reason);
            }
            error_reply(encoding, err)
        }
    }
}

async fn accept(
    ingest: &Ingest,
    headers: &HeaderMap,
    body: Body,
) -> Result<ExportLogsServiceResponse, ApiError> {
    let _permit = ingest.admit()?;
    let encoding = Encoding::of(headers)?;
    let body = ingest.body(headers, body).await?;
    // What the body takes decoded is told and reserved before it is decoded.
    let estimate = match encoding {
        Encoding::Protobuf => decoded::protobuf_estimate(&body)
            .map_err(|err| ApiError::BadRequest(err.to_string()))?,
        Encoding::Json => decoded::json_estimate(&body),
    };
    let _room = ingest.room_to_decode(estimate)?;
    let request = encoding.decode(&body)?;
    let at = Utc::now();
    let mut batch = EventChunks::default();
    let refused = to_events(request, at, &mut batch)?;
    let kind = match encoding {
        Encoding::Protobuf => Kind::OtlpProtobuf,
        Encoding::Json => Kind::OtlpJson,
    };
    ingest
        .enqueue("otlp", batch, Received { kind, at, body })
        .await?;
    let partial_success = (refused > 0).then(|| ExportLogsPartialSuccess {
        rejected_log_records: refused as i64,
        error_message: format!("{refused} log record(s) had neither a body nor an event name"),
    });
    if refused > 0 {
        count_rejected_lines(Reason::Malformed, refused);
    }
    Ok(ExportLogsServiceResponse { partial_success })
}

/// The events of a journaled OTLP body, decoded again as when it was accepted.
pub fn parse_again(received: &Received) -> Result<EventChunks, ApiError> {
    let encoding = match received.kind {
        Kind::OtlpProtobuf => Encoding::Protobuf,
        _ => Encoding::Json,
    };
    let mut batch = EventChunks::default();
    to_events(encoding.decode(&received.body)?, received.at, &mut batch)?;
    Ok(batch)
}

fn reply<M: Message + serde::Serialize>(encoding: Encoding, status: StatusCode, m: &M) -> Response {
    let content_type = HeaderValue::from_static(encoding.content_type());
    (
        status,
        [(header::CONTENT_TYPE, content_type)],
        encoding.encode(m),
    )
        .into_response()
}

/// The status code and headers (`Retry-After`, `WWW-Authenticate`) of the API's own answer,
/// with a `Status` body in the request's encoding.
fn error_reply(encoding: Encoding, err: ApiError) -> Response {
    let message = err.to_string();
    let mut response = err.into_response();
    let status = response.status();
    let body = Status {
        code: grpc_code(status),
        message,
    };
    let fresh = reply(encoding, status, &body);
    response.headers_mut().remove(header::CONTENT_LENGTH);
    let (mut parts, _) = response.into_parts();
    let (fresh_parts, fresh_body) = fresh.into_parts();
    parts.headers.extend(fresh_parts.headers);
    Response::from_parts(parts, fresh_body)
}

/// The gRPC code that goes with an HTTP status, as the gRPC–HTTP mapping has it.
fn grpc_code(status: StatusCode) -> i32 {
    match status {
        StatusCode::BAD_REQUEST | StatusCode::PAYLOAD_TOO_LARGE => 3, // INVALID_ARGUMENT
        StatusCode::UNAUTHORIZED => 16,                               // UNAUTHENTICATED
        StatusCode::TOO_MANY_REQUESTS => 8,                           // RESOURCE_EXHAUSTED
        StatusCode::SERVICE_UNAVAILABLE => 14,                        // UNAVAILABLE
        StatusCode::UNSUPPORTED_MEDIA_TYPE => 12,                     // UNIMPLEMENTED
        _ => 2,                                                       // UNKNOWN
    }
}

/// Adds the request's records to `batch`; returns how many were refused (no body, no event
/// name: nothing to condense).
fn to_events(
    request: ExportLogsServiceRequest,
    now: DateTime<Utc>,
    batch: &mut EventChunks,
) -> Result<u64, ApiError> {
    let mut refused = 0;
    for resource_logs in request.resource_logs {
        let service = resource_logs
            .resource
            .as_ref()
            .and_then(|r| find(&r.attributes, "service.name"))
            .map(text)
            .unwrap_or_default();
        for record in resource_logs
            .scope_logs
            .into_iter()
            .flat_map(|s| s.log_records)
        {
            match to_event(record, &service, now) {
                Some(event) => {
                    batch.lines += 1;
                    batch.push(event)?;
                }
                None => {
                    // Refused records count against the limit too: they were decoded.
                    refused += 1;
                    if batch.lines + refused > MAX_REQUEST_EVENTS as u64 {
                        return Err(ApiError::TooLarge(format!(
                            "a request may carry at most {MAX_REQUEST_EVENTS} log records; \
                             send smaller batches"
                        )));
                    }
                }
            }
        }
    }
    Ok(refused)
}

fn to_event(record: LogRecord, service: &str, now: DateTime<Utc>) -> Option<LogEvent> {
    let message = match record.body.as_ref().map(text) {
        Some(body) if !body.is_empty() => body,
        _ if !record.event_name.is_empty() => record.event_name.clone(),
        _ => return None,
    };
    let level = Level::from_otel_severity(i64::from(record.severity_number))
        .or_else(|| Level::from_word(record.severity_text.trim()))
        .unwrap_or(Level::Info);
    let timestamp = [record.time_unix_nano, record.observed_time_unix_nano]
        .into_iter()
        .find(|&nanos| nanos != 0)
        .and_then(|nanos| i64::try_from(nanos).ok())
        .map_or(now, DateTime::from_timestamp_nanos);
    let mut attributes: BTreeMap<String, String> = record
        .attributes
        .iter()
        .filter_map(|kv| Some((kv.key.clone(), text(kv.value.as_ref()?))))
        .collect();
    for (name, id) in [("trace_id", &record.trace_id), ("span_id", &record.span_id)] {
        if id.iter().any(|&b| b != 0) {
            attributes.insert(name.to_owned(), hex(id));
        }
    }
    Some(LogEvent {
        timestamp,
        service: service.to_owned(),
        level,
        message,
        attributes,
    })
}

fn find<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a AnyValue> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
}

/// A value as text: a string as it is, anything else as compact JSON.
fn text(value: &AnyValue) -> String {
    match &value.value {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        _ => json(value).to_string(),
    }
}

/// A value as JSON; bytes as lowercase hex.
fn json(value: &AnyValue) -> serde_json::Value {
    use any_value::Value as V;
    match &value.value {
        None => serde_json::Value::Null,
        Some(V::StringValue(s)) => s.clone().into(),
        Some(V::BoolValue(b)) => (*b).into(),
        Some(V::IntValue(i)) => (*i).into(),
        Some(V::DoubleValue(d)) => {
            serde_json::Number::from_f64(*d).map_or(serde_json::Value::Null, Into::into)
        }
        Some(V::ArrayValue(array)) => array.values.iter().map(json).collect(),
        Some(V::KvlistValue(list)) => list
            .values
            .iter()
            .map(|kv| {
                (
                    kv.key.clone(),
                    kv.value.as_ref().map_or(serde_json::Value::Null, json),
                )
            })
            .collect::<serde_json::Map<_, _>>()
            .into(),
        Some(V::BytesValue(bytes)) => hex(bytes).into(),
        Some(V::StringValueStrindex(index)) => (*index).into(),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::common::v1::KeyValueList;
    use opentelemetry_proto::tonic::logs::v1::{ResourceLogs, ScopeLogs};
    use opentelemetry_proto::tonic::resource::v1::Resource;

    use super::*;

    fn string(s: &str) -> AnyValue {
        AnyValue {
            value: Some(any_value::Value::StringValue(s.into())),
        }
    }

    fn kv(key: &str, value: AnyValue) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(value),
            ..Default::default()
        }
    }

    /// One resource with the given service and records.
    pub(crate) fn request(service: &str, records: Vec<LogRecord>) -> ExportLogsServiceRequest {
        ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource: Some(Resource {
                    attributes: vec![kv("service.name", string(service))],
                    ..Default::default()
                }),
                scope_logs: vec![ScopeLogs {
                    log_records: records,
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }

    #[test]
    fn records_become_events_field_by_field() {
        let record = LogRecord {
            time_unix_nano: 1_700_000_000_000_000_000,
            severity_number: 17,
            severity_text: "whatever".into(),
            body: Some(string("Pool exhausted")),
            attributes: vec![
                kv("db", string("inventory")),
                kv(
                    "attempt",
                    AnyValue {
                        value: Some(any_value::Value::IntValue(3)),
                    },
                ),
            ],
            trace_id: vec![0xab; 16],
            ..Default::default()
        };
        let text_level = LogRecord {
            severity_text: "warning".into(),
            body: Some(AnyValue {
                value: Some(any_value::Value::KvlistValue(KeyValueList {
                    values: vec![kv("k", string("v"))],
                })),
            }),
            observed_time_unix_nano: 1_000_000_000,
            ..Default::default()
        };
        let empty = LogRecord::default();
        let now = Utc::now();
        let mut batch = EventChunks::default();
        let refused = to_events(
            request("inventory-db", vec![record, text_level, empty]),
            now,
            &mut batch,
        )
        .unwrap();
        assert_eq!((refused, batch.lines, batch.events), (1, 2, 2));
        let [first, second] = &batch.chunks[0][..] else {
            panic!()
        };
        assert_eq!(first.service, "inventory-db");
        assert_eq!(first.level, Level::Error);
        assert_eq!(first.message, "Pool exhausted");
        assert_eq!(first.timestamp.timestamp(), 1_700_000_000);
        assert_eq!(first.attributes["attempt"], "3");
        assert_eq!(first.attributes["trace_id"], "ab".repeat(16));
        assert_eq!(second.level, Level::Warn);
        assert_eq!(second.message, r#"{"k":"v"}"#);
        assert_eq!(second.timestamp.timestamp(), 1);
    }

    #[test]
    fn both_encodings_decode_the_same_request() {
        let sent = request(
            "api",
            vec![LogRecord {
                body: Some(string("hello")),
                ..Default::default()
            }],
        );
        let protobuf = Encoding::Protobuf.decode(&sent.encode_to_vec()).unwrap();
        assert_eq!(protobuf, sent);
        let json = br#"{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"api"}}]},
            "scopeLogs":[{"logRecords":[{"timeUnixNano":"1700000000000000000","severityNumber":9,"body":{"stringValue":"hello"}}]}]}]}"#;
        let decoded = Encoding::Json.decode(json).unwrap();
        let record = &decoded.resource_logs[0].scope_logs[0].log_records[0];
        assert_eq!(record.time_unix_nano, 1_700_000_000_000_000_000);
        assert!(Encoding::Protobuf.decode(b"\xff\xff").is_err());
    }
}
