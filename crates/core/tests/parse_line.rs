//! Format detection and multi-line joining.

use ic_core::Level;
use ic_core::parse::{LineJoiner, MAX_JOINED_BYTES, MAX_JOINED_LINES, parse_line};

mod common;
use common::received;

#[test]
fn each_format_is_detected() {
    let cases = [
        (
            r#"{"level":"warn","service":"db","msg":"slow"}"#,
            Level::Warn,
            "db",
            "slow",
        ),
        (
            "level=error service=db msg=\"down\"",
            Level::Error,
            "db",
            "down",
        ),
        (
            "<11>1 2024-05-02T10:00:00Z h db - - - down",
            Level::Error,
            "db",
            "down",
        ),
        ("May  2 10:00:00 h db[1]: down", Level::Info, "db", "down"),
        (
            "2024-05-02 10:00:00 ERROR db: down",
            Level::Error,
            "db",
            "down",
        ),
    ];
    for (line, level, service, message) in cases {
        let event = parse_line(line, received());
        assert_eq!(
            (event.level, event.service.as_str(), event.message.as_str()),
            (level, service, message),
            "{line}"
        );
    }
}

#[test]
fn a_format_that_fails_falls_back_to_plain_then_to_the_whole_line() {
    let event = parse_line(r#"{"broken": json at 2024"#, received());
    assert_eq!(event.message, r#"{"broken": json at 2024"#);
    assert_eq!(event.timestamp, received());

    let event = parse_line("May 2 be with you\r\n", received());
    assert_eq!(event.message, "May 2 be with you");

    let event = parse_line("Jun 14 15:16:01", received());
    assert_eq!(event.timestamp.to_rfc3339(), "2023-06-14T15:16:01+00:00");

    let event = parse_line("just some words", received());
    assert_eq!(
        (
            event.timestamp,
            event.level,
            event.service.as_str(),
            event.message.as_str()
        ),
        (received(), Level::Info, "", "just some words")
    );
}

#[test]
fn every_fixture_line_keeps_a_message() {
    for fixture in [
        include_str!("fixtures/parse/plain.log"),
        include_str!("fixtures/parse/json.log"),
        include_str!("fixtures/parse/logfmt.log"),
        include_str!("fixtures/parse/syslog.log"),
    ] {
        for line in fixture.lines() {
            let event = parse_line(line, received());
            assert!(!event.message.is_empty(), "{line}");
            let dated = !line.starts_with("at=");
            assert_eq!(event.timestamp != received(), dated, "{line}");
        }
    }
}

fn join(lines: &[&str]) -> Vec<String> {
    let mut joiner = LineJoiner::new();
    let mut messages: Vec<String> = lines
        .iter()
        .filter_map(|line| joiner.push(line, received()))
        .map(|event| event.message)
        .collect();
    messages.extend(joiner.finish().map(|event| event.message));
    assert!(!joiner.is_pending());
    messages
}

#[test]
fn stack_traces_join_their_event() {
    let lines = [
        "2024-05-02 10:00:00,001 ERROR [main] com.example.Api: request failed",
        "java.lang.IllegalStateException: pool exhausted",
        "\tat com.example.Pool.take(Pool.java:42)",
        "    at com.example.Api.handle(Api.java:7)",
        "Caused by: java.net.ConnectException: refused",
        "at java.net.Socket.connect(Socket.java:1)",
        "... 12 more",
        "",
        "2024-05-02 10:00:01,000 INFO [main] com.example.Api: recovered\r\n",
    ];
    assert_eq!(
        join(&lines),
        [
            "request failed",
            "java.lang.IllegalStateException: pool exhausted\n\tat com.example.Pool.take(Pool.java:42)\n    at com.example.Api.handle(Api.java:7)\nCaused by: java.net.ConnectException: refused\nat java.net.Socket.connect(Socket.java:1)\n... 12 more",
            "recovered",
        ]
    );
}

#[test]
fn joiner_holds_one_event_at_a_time() {
    let mut joiner = LineJoiner::default();
    assert!(!joiner.is_pending());
    assert!(joiner.push("ERROR first", received()).is_none());
    assert!(joiner.is_pending());
    assert!(joiner.push("  detail", received()).is_none());
    let first = joiner.push("WARN second", received()).unwrap();
    assert_eq!(
        (first.level, first.message.as_str()),
        (Level::Error, "first\n  detail")
    );
    assert_eq!(joiner.finish().unwrap().message, "second");
    assert!(joiner.finish().is_none());
    // A continuation with nothing before it is an event of its own.
    assert!(joiner.push("\tat orphan", received()).is_none());
    assert_eq!(joiner.finish().unwrap().message, "\tat orphan");
}

#[test]
fn joined_events_are_bounded_by_lines() {
    let mut lines = vec!["ERROR head"];
    lines.extend(std::iter::repeat_n("\tat frame", MAX_JOINED_LINES + 10));
    let messages = join(&lines);
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0].lines().count(), MAX_JOINED_LINES);
    assert_eq!(messages[1].lines().count(), 11);
}

#[test]
fn an_overflowing_line_keeps_its_event_header() {
    let mut joiner = LineJoiner::new();
    joiner.push("2024-05-02 10:00:00 ERROR db: head", received());
    for _ in 1..MAX_JOINED_LINES {
        assert!(joiner.push("\tat frame", received()).is_none());
    }
    let full = joiner.push("\tat overflow", received()).unwrap();
    let rest = joiner.finish().unwrap();
    assert_eq!(full.message.lines().count(), MAX_JOINED_LINES);
    assert_eq!(rest.message, "\tat overflow");
    assert_eq!(
        (rest.timestamp, rest.service, rest.level),
        (full.timestamp, full.service, full.level)
    );
}

#[test]
fn joined_events_are_bounded_by_bytes() {
    let long = format!("\t{}", "x".repeat(10_000));
    let mut lines = vec!["ERROR head"];
    lines.extend(std::iter::repeat_n(long.as_str(), 20));
    let messages = join(&lines);
    assert!(messages.iter().all(|m| m.len() <= MAX_JOINED_BYTES));
    assert_eq!(messages.len(), 4);
    let frames: usize = messages.iter().map(|m| m.matches(&long).count()).sum();
    assert_eq!(frames, 20);
}
