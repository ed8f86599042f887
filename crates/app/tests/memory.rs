//! Memory is bounded by configuration, never by what a client sends: the peak resident memory
//! of a real server (`VmHWM`) after bodies built to decode to gigabytes.

mod common;
use common::peak_rss_mib;
use common::server::{Server, curl, json};

/// What the server may reach, whatever it was sent; it idles at about 25 MiB.
const PEAK_MIB: u64 = 200;

fn varint(mut n: usize, out: &mut Vec<u8>) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// A length-delimited protobuf field.
fn field(number: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![(number << 3) | 2];
    varint(payload.len(), &mut out);
    out.extend_from_slice(payload);
    out
}

/// An `ExportLogsServiceRequest` of `records` empty log records, two bytes each: a request
/// (field 1, its resource logs) of a resource logs (field 2, its scope logs) of a scope logs
/// whose field 2, its log records, comes `records` times empty.
fn empty_records_protobuf(records: usize) -> Vec<u8> {
    let scope_logs: Vec<u8> = [0x12, 0x00].repeat(records);
    field(1, &field(2, &scope_logs))
}

fn empty_records_json(records: usize) -> Vec<u8> {
    let mut body = br#"{"resourceLogs":[{"scopeLogs":[{"logRecords":["#.to_vec();
    body.extend(vec![&b"{}"[..]; records].join(&b","[..]));
    body.extend(br#"]}]}]}"#);
    body
}

fn post(server: &Server, path: &str, content_type: &str, body: &[u8]) -> (u16, String) {
    let file = server.file("body", body);
    curl(&[
        "-H",
        &format!("Content-Type: {content_type}"),
        "--data-binary",
        &format!("@{}", file.display()),
        &server.url(path),
    ])
}

#[test]
fn bodies_that_would_decode_to_gigabytes_are_refused_before_they_are_decoded() {
    let server = Server::start(&[], &[]);
    // 5.2 million empty records in 10.4 MB: 1.7 GB decoded.
    let (status, body) = post(
        &server,
        "/v1/logs",
        "application/x-protobuf",
        &empty_records_protobuf(5_200_000),
    );
    assert_eq!(status, 413, "{body}");
    let (status, body) = post(
        &server,
        "/v1/logs",
        "application/json",
        &empty_records_json(3_400_000),
    );
    assert_eq!(status, 413, "{body}");
    assert!(
        json(&body)["message"].as_str().unwrap().contains("decoded"),
        "{body}"
    );
    // The same shape through /api/logs: a JSON array of empty objects.
    let array = format!("[{}]", vec!["{}"; 3_400_000].join(","));
    let (status, body) = post(&server, "/api/logs", "application/json", array.as_bytes());
    assert_eq!(status, 413, "{body}");

    // What it still takes: an ordinary request is accepted.
    let (status, body) = post(
        &server,
        "/v1/logs",
        "application/x-protobuf",
        &field(
            1,
            &field(2, &field(2, &field(5, &field(1, b"payment failed")))),
        ),
    );
    assert_eq!(status, 200, "{body}");
    let peak = peak_rss_mib(server.pid());
    assert!(peak < PEAK_MIB, "peak resident memory {peak} MiB");
}
