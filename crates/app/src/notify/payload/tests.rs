use ic_core::incident::Transition;
use serde_json::Value;

use super::*;
use crate::notify::testing::{event, huge_event};

fn target(flag: &str) -> WebhookTarget {
    flag.parse().unwrap()
}

fn sent(flag: &str, event: &IncidentEvent) -> Value {
    let bytes = render(&target(flag), event).expect("the event is sent");
    serde_json::from_slice(&bytes).unwrap()
}

const GENERIC: &str = "https://example.com/hook";
const SLACK: &str = "slack:https://hooks.slack.com/services/T/B/X";
const PAGERDUTY: &str = "pagerduty:https://events.pagerduty.com/v2/enqueue?routing_key=RKEY";

#[test]
fn generic_body_names_the_event() {
    for (transition, name) in [
        (Transition::Opened, "opened"),
        (Transition::Reopened, "opened"),
        (Transition::Escalated, "escalated"),
        (Transition::Resolved, "resolved"),
    ] {
        let body = sent(GENERIC, &event(transition));
        assert_eq!(body["event"], name);
        let incident = &body["incident"];
        assert_eq!(incident["fingerprint"], "9f2c41d07a1b3e55");
        assert_eq!(incident["severity"], "Critical");
        assert_eq!(incident["root_cause"]["service"], "inventory-db");
        assert_eq!(incident["templates"].as_array().unwrap().len(), 2);
        assert_eq!(
            incident["templates"][0]["sample_lines"],
            serde_json::json!([
                "inventory-db ERROR Database Connection Refused: Pool exhausted #1",
                "inventory-db ERROR Database Connection Refused: Pool exhausted #1200",
            ])
        );
        assert!(incident.get("templates_omitted").is_none());
    }
}

#[test]
fn updates_and_grouped_incidents_are_not_sent() {
    assert_eq!(render(&target(GENERIC), &event(Transition::Updated)), None);
    let mut grouped = event(Transition::Opened);
    grouped.incident.parent = Some("20260101-000100-000000".to_owned());
    for flag in [GENERIC, SLACK, PAGERDUTY] {
        assert_eq!(render(&target(flag), &grouped), None);
    }
}

#[test]
fn slack_body_has_text_and_escaped_blocks() {
    let mut opened = event(Transition::Opened);
    opened.incident.summary = "pool <exhausted> & refused".to_owned();
    let body = sent(SLACK, &opened);
    let text = body["text"].as_str().unwrap();
    assert!(text.contains("Critical"), "{text}");
    assert!(
        text.contains("inventory-db connection pool exhausted"),
        "{text}"
    );
    assert!(text.contains("opened"), "{text}");
    let blocks = serde_json::to_string(&body["blocks"]).unwrap();
    assert!(
        blocks.contains("pool &lt;exhausted&gt; &amp; refused"),
        "{blocks}"
    );
    assert!(!blocks.contains("<exhausted>"), "{blocks}");
    for needle in [
        "Root cause",
        "inventory-db",
        "checkout",
        "1400 lines",
        "Top templates",
    ] {
        assert!(blocks.contains(needle), "{needle} missing from {blocks}");
    }

    let resolved = sent(SLACK, &event(Transition::Resolved));
    assert!(resolved["text"].as_str().unwrap().contains("resolved"));
}

#[test]
fn a_resolve_says_how_long_the_incident_lasted() {
    let mut resolved = event(Transition::Resolved);
    resolved.incident.resolved_at =
        Some(resolved.incident.opened_at + chrono::TimeDelta::seconds(750));
    assert_eq!(sent(GENERIC, &resolved)["incident"]["duration_secs"], 750);
    let text = sent(SLACK, &resolved)["text"].as_str().unwrap().to_owned();
    assert!(text.contains("resolved after 12 min 30 s"), "{text}");
    let opened = sent(GENERIC, &event(Transition::Opened));
    assert!(opened["incident"].get("duration_secs").is_none());
}

#[test]
fn pagerduty_triggers_and_resolves_by_fingerprint() {
    for transition in [
        Transition::Opened,
        Transition::Escalated,
        Transition::Reopened,
    ] {
        let body = sent(PAGERDUTY, &event(transition));
        assert_eq!(body["event_action"], "trigger");
        assert_eq!(body["routing_key"], "RKEY");
        assert_eq!(body["dedup_key"], "9f2c41d07a1b3e55");
        let payload = &body["payload"];
        assert_eq!(payload["severity"], "critical");
        assert_eq!(payload["source"], "inventory-db");
        assert_eq!(payload["component"], "inventory-db");
        assert_eq!(payload["timestamp"], "2026-01-01T00:02:00.000Z");
        assert!(
            payload["summary"]
                .as_str()
                .unwrap()
                .contains("inventory-db connection pool exhausted")
        );
        assert_eq!(payload["custom_details"]["fingerprint"], "9f2c41d07a1b3e55");
    }

    let resolve = sent(PAGERDUTY, &event(Transition::Resolved));
    assert_eq!(
        resolve,
        serde_json::json!({
            "routing_key": "RKEY",
            "event_action": "resolve",
            "dedup_key": "9f2c41d07a1b3e55",
        })
    );
}

#[test]
fn huge_incidents_are_summarized_within_the_limits() {
    let huge = huge_event(Transition::Opened);
    for flag in [GENERIC, SLACK, PAGERDUTY] {
        let bytes = render(&target(flag), &huge).unwrap();
        assert!(
            bytes.len() <= MAX_BODY_BYTES,
            "{flag}: {} bytes",
            bytes.len()
        );
        let body: Value = serde_json::from_slice(&bytes).unwrap();
        let text = body.to_string();
        assert!(text.contains("… (+"), "{flag}: shortened strings say so");
        match flag {
            GENERIC => {
                let incident = &body["incident"];
                let sent = incident["templates"].as_array().unwrap().len();
                assert!(sent >= 1, "at least the top template is kept");
                assert_eq!(incident["templates_omitted"], 40 - sent);
                assert_eq!(
                    incident["services_omitted"],
                    500 - incident["impacted_services"].as_array().unwrap().len()
                );
            }
            SLACK => {
                for block in body["blocks"].as_array().unwrap() {
                    if let Some(text) = block["text"]["text"].as_str() {
                        assert!(text.chars().count() <= SLACK_SECTION_CHARS);
                        assert!(!text.contains('<'), "escaped: {text:.200}");
                    }
                    for field in block["fields"].as_array().into_iter().flatten() {
                        assert!(field["text"].as_str().unwrap().chars().count() <= 2000);
                    }
                }
            }
            _ => {
                let payload = &body["payload"];
                let summary = payload["summary"].as_str().unwrap();
                assert!(summary.chars().count() <= PAGERDUTY_SUMMARY_CHARS);
                assert!(
                    payload["custom_details"]["templates_omitted"]
                        .as_u64()
                        .unwrap()
                        > 0
                );
            }
        }
    }
}

#[test]
fn every_budget_keeps_slack_sections_under_the_limit() {
    let huge = huge_event(Transition::Opened);
    for budget in &BUDGETS {
        let body = slack(NotifyEvent::Opened, &huge.incident, budget);
        for block in body["blocks"].as_array().unwrap() {
            if let Some(text) = block["text"]["text"].as_str() {
                assert!(text.chars().count() <= SLACK_SECTION_CHARS, "{budget:?}");
            }
        }
    }
    let tightest = BUDGETS[BUDGETS.len() - 1];
    for kind in [NotifyEvent::Opened, NotifyEvent::Resolved] {
        let generic = serde_json::to_vec(&generic(kind, &huge.incident, &tightest)).unwrap();
        assert!(generic.len() <= MAX_BODY_BYTES);
        let slack = serde_json::to_vec(&slack(kind, &huge.incident, &tightest)).unwrap();
        assert!(slack.len() <= MAX_BODY_BYTES);
        let pd = serde_json::to_vec(&pagerduty(kind, &huge.incident, "k", &tightest)).unwrap();
        assert!(pd.len() <= MAX_BODY_BYTES);
    }
}

#[test]
fn shortening_keeps_the_start_and_counts_the_rest() {
    assert_eq!(shorten("short", 10), "short");
    let long = "x".repeat(1000);
    let cut = shorten(&long, 100);
    assert!(cut.chars().count() <= 100, "{cut}");
    assert!(cut.starts_with("xxxx"));
    let kept = cut.chars().take_while(|&c| c == 'x').count();
    assert!(
        cut.ends_with(&format!("… (+{} chars)", 1000 - kept)),
        "{cut}"
    );

    assert_eq!(mrkdwn("a<b>&c", 100), "a&lt;b&gt;&amp;c");
    let escaped = mrkdwn(&"&".repeat(100), 60);
    assert!(escaped.chars().count() <= 60, "{escaped}");
    assert!(
        !escaped.contains("&amp&"),
        "an entity is never cut: {escaped}"
    );
    assert_eq!(code("a `b` c", 100), "a 'b' c");
}
