//! Properties every parser keeps on any input: no panic, no lost text.

use ic_core::parse::{LineJoiner, json, logfmt, parse_line, plain, syslog};
use proptest::prelude::*;

mod common;
use common::received;

/// Text that looks like log lines often enough to reach deep into the parsers.
fn loggy() -> impl Strategy<Value = String> {
    let pieces = prop_oneof![
        Just("2024-05-02T10:15:00.123Z ".to_owned()),
        Just("2015-10-18 18:01:47,978 ".to_owned()),
        Just("Jun 14 15:16:01 ".to_owned()),
        Just("<34>".to_owned()),
        Just("<165>1 ".to_owned()),
        Just("03-17 16:13:38.811 ".to_owned()),
        Just("[Sun Dec 04 04:47:44 2005] ".to_owned()),
        Just("INFO ".to_owned()),
        Just("[error] ".to_owned()),
        Just("sshd[42]: ".to_owned()),
        Just("svc: ".to_owned()),
        Just(" - ".to_owned()),
        Just("|".to_owned()),
        Just("{\"msg\":\"".to_owned()),
        Just("\"level\":".to_owned()),
        Just("msg=\"".to_owned()),
        Just("\\".to_owned()),
        Just("[".to_owned()),
        Just("]".to_owned()),
        Just("}".to_owned()),
        "[ -~]{0,12}",
        "\\PC{0,4}",
    ];
    prop::collection::vec(pieces, 0..10).prop_map(|p| p.concat())
}

/// Whether every word of `line` appears somewhere in the event.
fn keeps_words(line: &str, event: &ic_core::LogEvent) -> bool {
    let mut all = format!("{} {} {}", event.message, event.service, event.level);
    for (k, v) in &event.attributes {
        all.push_str(&format!(" {k} {v}"));
    }
    // Words with digits may be parts of the timestamp, which is kept as a time, not as text.
    line.split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.len() > 3 && w.chars().all(char::is_alphabetic))
        .all(|w| all.to_lowercase().contains(&w.to_lowercase()))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn no_parser_panics_on_any_string(line in any::<String>()) {
        let _ = parse_line(&line, received());
        let _ = json::parse(&line, received());
        let _ = logfmt::parse(&line, received());
        let _ = syslog::parse(&line, received());
        let _ = plain::parse(&line, received());
    }

    #[test]
    fn no_parser_panics_on_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let line = String::from_utf8_lossy(&bytes);
        let _ = parse_line(&line, received());
        let _ = json::parse(&line, received());
        let _ = logfmt::parse(&line, received());
        let _ = syslog::parse(&line, received());
        let _ = plain::parse(&line, received());
    }

    #[test]
    fn no_parser_panics_on_loggy_text(line in loggy()) {
        let _ = parse_line(&line, received());
        let _ = json::parse(&line, received());
        let _ = logfmt::parse(&line, received());
        let _ = syslog::parse(&line, received());
        let _ = plain::parse(&line, received());
    }

    #[test]
    fn an_unparsed_line_keeps_its_full_text(line in loggy()) {
        let line = line.replace(['\r', '\n'], " ");
        let parsed = json::parse(&line, received())
            .or_else(|| logfmt::parse(&line, received()))
            .or_else(|| syslog::parse(&line, received()))
            .or_else(|| plain::parse(&line, received()));
        let event = parse_line(&line, received());
        if parsed.is_none() {
            prop_assert_eq!(event.message, line);
            prop_assert_eq!(event.timestamp, received());
        }
    }

    #[test]
    fn plain_headers_lose_no_words(line in loggy()) {
        let line = line.replace(['\r', '\n'], " ");
        if let Some(event) = plain::parse(&line, received()) {
            prop_assert!(keeps_words(&line, &event), "{:?} -> {:?}", line, event);
        }
    }

    #[test]
    fn joiner_keeps_every_line_once_in_order(lines in prop::collection::vec(joiner_line(), 0..40)) {
        check_joiner(&lines)?;
    }
}

fn joiner_line() -> impl Strategy<Value = String> {
    prop_oneof![
        loggy(),
        "[ \t]{1,2}[a-z ]{0,10}",
        Just("\tat x.Y(Y.java:1)".to_owned()),
        Just("Caused by: e".to_owned()),
        Just("... 3 more".to_owned()),
    ]
    .prop_map(|line| line.replace(['\r', '\n'], " "))
}

fn is_continuation(line: &str) -> bool {
    line.starts_with([' ', '\t'])
        || line.starts_with("at ")
        || line.starts_with("Caused by:")
        || line.starts_with("...")
}

/// Every non-blank line's text (its parsed message, or the whole line when it continues an
/// event) appears in the joined messages in input order, and nothing more than that.
fn check_joiner(lines: &[String]) -> Result<(), TestCaseError> {
    let mut joiner = LineJoiner::new();
    let mut events: Vec<_> = lines
        .iter()
        .filter_map(|l| joiner.push(l, received()))
        .collect();
    events.extend(joiner.finish());
    let messages: Vec<&str> = events.iter().map(|e| e.message.as_str()).collect();
    let joined = messages.join("\n");
    let mut from = 0;
    let mut expected = 0;
    for line in lines.iter().filter(|l| !l.trim().is_empty()) {
        let message = parse_line(line, received()).message;
        let needle = if is_continuation(line) {
            line.as_str()
        } else {
            message.as_str()
        };
        let found = joined[from..].find(needle);
        prop_assert!(found.is_some(), "{:?} not in {:?}", needle, &joined[from..]);
        from += found.unwrap_or_default() + needle.len();
        expected += needle.len();
    }
    // Nothing is duplicated: no more text than the lines gave, plus the joining line breaks.
    prop_assert!(
        joined.len() <= expected + lines.len(),
        "{} > {}",
        joined.len(),
        expected
    );
    Ok(())
}
