//! What a body takes in memory once decoded (an OTLP request, or a JSON array sent to
//! `/api/logs`), told before it is decoded.
//!
//! Protobuf and JSON both spend far fewer bytes on an empty message than its decoded struct
//! takes: an empty `LogRecord` is two bytes on the wire and a few hundred in memory, so a body
//! within the byte limit could decode to gigabytes. So the messages a body holds are counted
//! first, walking the protobuf wire format along the OTLP logs schema (or counting the objects
//! and arrays of the JSON text), without allocating; the estimate is the body's bytes plus a
//! fixed cost per message.

use prost::encoding::{WireType, decode_key, decode_varint};

/// Bytes a decoded message may take beyond its own bytes on the wire: the largest OTLP logs
/// struct (`LogRecord`) and its vectors' headers.
pub const MESSAGE_COST: u64 = 256;
/// Nesting deeper than this is refused before decoding (prost's own limit is 100).
const MAX_DEPTH: u32 = 64;

/// Why an estimate cannot be made: the body is not what it says it is.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Malformed(String);

/// The bytes `body` takes once decoded, at most.
pub fn protobuf_estimate(body: &[u8]) -> Result<u64, Malformed> {
    let messages = messages_in(body, Shape::Request, 0)?;
    Ok(body.len() as u64 + messages * MESSAGE_COST)
}

/// The same for OTLP JSON: every object and array counted as a message.
pub fn json_estimate(body: &[u8]) -> u64 {
    let mut containers = 0;
    let mut in_string = false;
    let mut escaped = false;
    for &byte in body {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
        } else {
            match byte {
                b'"' => in_string = true,
                b'{' | b'[' => containers += 1,
                _ => {}
            }
        }
    }
    body.len() as u64 + containers * MESSAGE_COST
}

/// The OTLP logs messages that hold other messages, and which of their fields do.
#[derive(Debug, Clone, Copy)]
enum Shape {
    Request,
    ResourceLogs,
    Resource,
    ScopeLogs,
    Scope,
    Record,
    KeyValue,
    AnyValue,
    /// `ArrayValue` and `KeyValueList`: field 1 holds their elements.
    List(Element),
}

#[derive(Debug, Clone, Copy)]
enum Element {
    Value,
    Pair,
}

impl Shape {
    /// The message a length-delimited field of this one holds, if it holds one (the others are
    /// strings and bytes).
    fn field(self, number: u32) -> Option<Shape> {
        Some(match (self, number) {
            (Shape::Request, 1) => Shape::ResourceLogs,
            (Shape::ResourceLogs, 1) => Shape::Resource,
            (Shape::ResourceLogs, 2) => Shape::ScopeLogs,
            (Shape::Resource, 1) | (Shape::Scope, 3) | (Shape::Record, 6) => Shape::KeyValue,
            (Shape::ScopeLogs, 1) => Shape::Scope,
            (Shape::ScopeLogs, 2) => Shape::Record,
            (Shape::Record, 5) | (Shape::KeyValue, 2) => Shape::AnyValue,
            (Shape::AnyValue, 5) => Shape::List(Element::Value),
            (Shape::AnyValue, 6) => Shape::List(Element::Pair),
            (Shape::List(Element::Value), 1) => Shape::AnyValue,
            (Shape::List(Element::Pair), 1) => Shape::KeyValue,
            _ => return None,
        })
    }
}

/// Messages inside `buf`, a message of `shape`, counting itself.
fn messages_in(mut buf: &[u8], shape: Shape, depth: u32) -> Result<u64, Malformed> {
    if depth > MAX_DEPTH {
        return Err(Malformed(format!(
            "OTLP messages nested deeper than {MAX_DEPTH}"
        )));
    }
    let wire = |err: prost::DecodeError| Malformed(format!("not an OTLP logs request: {err}"));
    let mut messages = 1;
    while !buf.is_empty() {
        let (number, wire_type) = decode_key(&mut buf).map_err(wire)?;
        match wire_type {
            WireType::Varint => {
                decode_varint(&mut buf).map_err(wire)?;
            }
            WireType::SixtyFourBit => buf = skip(buf, 8)?,
            WireType::ThirtyTwoBit => buf = skip(buf, 4)?,
            WireType::LengthDelimited => {
                let len = decode_varint(&mut buf).map_err(wire)?;
                let len = usize::try_from(len).unwrap_or(usize::MAX);
                let inner = buf.get(..len).ok_or_else(truncated)?;
                buf = &buf[len..];
                if let Some(child) = shape.field(number) {
                    messages += messages_in(inner, child, depth + 1)?;
                }
            }
            WireType::StartGroup | WireType::EndGroup => {
                return Err(Malformed(
                    "not an OTLP logs request: protobuf groups are not part of it".into(),
                ));
            }
        }
    }
    Ok(messages)
}

fn skip(buf: &[u8], bytes: usize) -> Result<&[u8], Malformed> {
    buf.get(bytes..).ok_or_else(truncated)
}

fn truncated() -> Malformed {
    Malformed("not an OTLP logs request: it ends inside a field".into())
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
    use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
    use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
    use prost::Message;

    use super::*;

    fn request(records: usize, attributes: usize) -> ExportLogsServiceRequest {
        let attribute = KeyValue {
            key: "k".into(),
            value: Some(AnyValue {
                value: Some(any_value::Value::StringValue("v".into())),
            }),
            ..Default::default()
        };
        let record = LogRecord {
            attributes: vec![attribute; attributes],
            ..Default::default()
        };
        ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                scope_logs: vec![ScopeLogs {
                    log_records: vec![record; records],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }

    #[test]
    fn every_message_is_counted_records_attributes_and_values() {
        // The request, its resource logs, its scope logs, then per record itself, its
        // attributes and their values.
        let body = request(3, 2).encode_to_vec();
        let messages = 3 + 3 * (1 + 2 * 2);
        assert_eq!(
            protobuf_estimate(&body).unwrap(),
            body.len() as u64 + messages * MESSAGE_COST
        );
    }

    #[test]
    fn empty_records_cost_what_they_take_decoded_not_their_two_bytes() {
        let body = request(100_000, 0).encode_to_vec();
        assert!(body.len() < 300_000);
        assert!(protobuf_estimate(&body).unwrap() > 100_000 * MESSAGE_COST);
        let json = serde_json::to_vec(&request(1000, 0)).unwrap();
        assert!(json_estimate(&json) > 1000 * MESSAGE_COST);
    }

    #[test]
    fn strings_are_not_counted_and_bad_bodies_are_refused() {
        assert_eq!(json_estimate(br#"{"a":"{[{"}"#), 11 + MESSAGE_COST);
        assert!(protobuf_estimate(&[0x0a, 0x05, 0x01]).is_err(), "cut short");
        assert!(protobuf_estimate(&[0x0b]).is_err(), "a group");
    }
}
