//! Incidents end to end with the real binary: a demo outage replayed through `analyze`, stored
//! in SQLite, posted to webhooks, listed, shown, acknowledged and resolved by `incidents`, and
//! carried across a restart.

use serde_json::Value;

mod common;
use common::{db_url, outage, run_ok as run, webhook};

#[test]
fn a_ten_minute_outage_is_one_incident_with_one_opened_and_one_resolved_per_target() {
    let dir = tempfile::tempdir().unwrap();
    let db = db_url(&dir);
    let (generic, generic_rx) = webhook();
    let (slack, slack_rx) = webhook();
    let slack = format!("slack:{slack}");
    let logs = outage("2026-01-01T00:00:00Z", 10);
    let analyzed = run(
        &[
            "analyze",
            "--format",
            "json",
            "--db",
            &db,
            "--webhook",
            &generic,
            "--webhook",
            &slack,
        ],
        &logs,
    );

    let posts: Vec<Value> = generic_rx.try_iter().map(|post| post.body).collect();
    let events: Vec<&str> = posts.iter().map(|p| p["event"].as_str().unwrap()).collect();
    assert_eq!(events, ["opened", "resolved"], "{posts:#?}");
    assert_eq!(
        posts[0]["incident"]["root_cause"]["service"],
        "inventory-db"
    );
    assert_eq!(posts[0]["incident"]["id"], posts[1]["incident"]["id"]);
    let slack_posts: Vec<Value> = slack_rx.try_iter().map(|post| post.body).collect();
    assert_eq!(slack_posts.len(), 2, "{slack_posts:#?}");
    assert!(
        slack_posts[0]["text"]
            .as_str()
            .unwrap()
            .contains("inventory-db")
    );

    let listed = run(&["incidents", "--db", &db, "--json"], b"");
    let incidents: Vec<Value> = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(incidents.len(), 1, "{incidents:#?}");
    let incident = &incidents[0];
    assert_eq!(incident["status"], "resolved");
    assert_eq!(incident["severity"], "Critical");
    assert!(incident["windows"].as_u64().unwrap() > 2000);

    // The database's totals: every line of the input in exactly one stored window.
    let windows = analyzed.stdout.iter().filter(|&&b| b == b'\n').count();
    let stats = run(&["stats", "--db", &db, "--json"], b"");
    let stats: Value = serde_json::from_slice(&stats.stdout).unwrap();
    let lines = logs.iter().filter(|&&b| b == b'\n').count();
    assert_eq!(stats["lines_analyzed"], lines, "{stats}");
    assert_eq!(stats["windows"], windows, "{stats}");
    assert_eq!(stats["incidents"]["resolved"], 1, "{stats}");
    assert_eq!(stats["incidents"]["open"], 0, "{stats}");

    let id = incident["id"].as_str().unwrap();
    let shown = run(&["incidents", "show", id, "--db", &db], b"");
    let text = String::from_utf8(shown.stdout).unwrap();
    assert!(text.contains("Evidence:"), "{text}");
    assert!(
        text.contains("ERROR inventory-db: Database Connection Refused: Pool exhausted"),
        "{text}"
    );
    assert!(text.contains("Timeline:"), "{text}");
    assert!(
        text.contains("  opened\n") && text.contains("  resolved\n"),
        "{text}"
    );

    // The post-incident summary, with its timeline and exact counts.
    let shown = run(
        &["incidents", "show", id, "--db", &db, "--format", "markdown"],
        b"",
    );
    let doc = String::from_utf8(shown.stdout).unwrap();
    assert!(doc.starts_with(&format!("# Incident {id}: ")), "{doc}");
    assert!(doc.contains("| Severity | Critical |"), "{doc}");
    assert!(doc.contains("| Root cause | inventory-db |"), "{doc}");
    assert!(
        doc.contains("## Timeline") && doc.contains(" | opened |") && doc.contains(" | resolved |"),
        "{doc}"
    );
    let count = incident["templates"][0]["count"].as_u64().unwrap();
    assert!(doc.contains(&format!("### {count} × ERROR")), "{doc}");
    assert!(doc.contains("```text\n"), "{doc}");
}

#[test]
fn after_a_restart_an_ongoing_outage_keeps_updating_the_same_incident() {
    let dir = tempfile::tempdir().unwrap();
    let db = db_url(&dir);
    let logs = outage("2026-01-01T00:00:00Z", 4);
    let text = String::from_utf8(logs).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    // Stop in the middle of the meltdown, then start again on the rest.
    let cut = 1200 + 60_000;
    let first = lines[..cut].join("\n") + "\n";
    let second = lines[cut..].join("\n") + "\n";
    run(
        &["analyze", "--format", "json", "--db", &db],
        first.as_bytes(),
    );
    let open = run(
        &["incidents", "--db", &db, "--status", "open", "--json"],
        b"",
    );
    let open: Vec<Value> = serde_json::from_slice(&open.stdout).unwrap();
    assert_eq!(open.len(), 1, "the outage is still going on");

    run(
        &["analyze", "--format", "json", "--db", &db],
        second.as_bytes(),
    );
    let all = run(&["incidents", "--db", &db, "--json"], b"");
    let all: Vec<Value> = serde_json::from_slice(&all.stdout).unwrap();
    assert_eq!(all.len(), 1, "{all:#?}");
    assert_eq!(all[0]["id"], open[0]["id"]);
    assert_eq!(all[0]["status"], "resolved");
    assert!(all[0]["windows"].as_u64() > open[0]["windows"].as_u64());
}

/// Seconds `from..to` of a quiet system (five services, a line a second each) with a thin
/// failure: `payments` logs a new error every five seconds in `failing`.
fn thin_failure(from: i64, to: i64, failing: std::ops::Range<i64>) -> String {
    let base = chrono::DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").unwrap();
    let mut text = String::new();
    for second in from..to {
        let at = (base + chrono::TimeDelta::seconds(second)).to_rfc3339();
        for (i, service) in ["web", "cart", "search", "users", "payments"]
            .iter()
            .enumerate()
        {
            let line = serde_json::json!({"timestamp": at, "service": service, "level": "INFO",
                "message": format!("request {} served in {} ms", second * 5 + i as i64, 3 + i)});
            text.push_str(&format!("{line}\n"));
        }
        if failing.contains(&second) && second % 5 == 0 {
            let line = serde_json::json!({"timestamp": at, "service": "payments", "level": "ERROR",
                "message": format!("Card token rejected by the issuer for order {second}")});
            text.push_str(&format!("{line}\n"));
        }
    }
    text
}

#[test]
fn after_a_restart_a_thin_failure_keeps_its_incident_open_until_it_stops() {
    let dir = tempfile::tempdir().unwrap();
    let db = db_url(&dir);
    // The failure begins after the analyzer has learned the quiet system and goes on past the
    // end of the first run…
    run(
        &["analyze", "--format", "json", "--db", &db],
        thin_failure(0, 600, 300..1200).as_bytes(),
    );
    let open = run(
        &["incidents", "--db", &db, "--status", "open", "--json"],
        b"",
    );
    let open: Vec<Value> = serde_json::from_slice(&open.stdout).unwrap();
    assert_eq!(open.len(), 1, "the failure was found: {open:#?}");
    assert_eq!(open[0]["root_cause"]["service"], "payments");

    // …and through the second run's first minutes, while its analyzer learns again, until
    // second 1200.
    run(
        &["analyze", "--format", "json", "--db", &db],
        thin_failure(600, 1500, 300..1200).as_bytes(),
    );
    let all = run(&["incidents", "--db", &db, "--json"], b"");
    let all: Vec<Value> = serde_json::from_slice(&all.stdout).unwrap();
    assert_eq!(all.len(), 1, "{all:#?}");
    assert_eq!(all[0]["id"], open[0]["id"]);
    assert_eq!(all[0]["status"], "resolved");
    // Its last line came at 00:19:55; it resolved 120 s after the window that held it.
    let resolved = all[0]["resolved_at"].as_str().unwrap();
    assert!(
        ("2026-01-01T00:21:55".."2026-01-01T00:22:05").contains(&resolved),
        "resolved at {resolved}, not when its lines stopped"
    );
}

#[test]
fn incidents_are_acknowledged_and_resolved_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let db = db_url(&dir);
    let (hook, told) = webhook();
    let config = dir.path().join("webhooks.toml");
    std::fs::write(&config, format!("[[webhooks]]\nurl = \"{hook}\"\n")).unwrap();
    let config = config.to_str().unwrap();
    let events = || -> Vec<String> {
        told.try_iter()
            .map(|post| post.body["event"].as_str().unwrap().to_owned())
            .collect()
    };
    // The first minutes of an outage: its incident is open when the input ends.
    let logs = String::from_utf8(outage("2026-01-01T00:00:00Z", 4)).unwrap();
    let first: Vec<&str> = logs.lines().take(1200 + 60_000).collect();
    let analyze = [
        "analyze", "--format", "json", "--db", &db, "--config", config,
    ];
    run(&analyze, (first.join("\n") + "\n").as_bytes());
    assert_eq!(events(), ["opened"]);
    let open = run(
        &["incidents", "--db", &db, "--status", "open", "--json"],
        b"",
    );
    let open: Vec<Value> = serde_json::from_slice(&open.stdout).unwrap();
    let id = open[0]["id"].as_str().unwrap();

    let by_ana = |what: &str| {
        let out = run(
            &[
                "incidents",
                what,
                id,
                "--by",
                "ana",
                "--db",
                &db,
                "--config",
                config,
                "--json",
            ],
            b"",
        );
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    let acked = by_ana("ack");
    assert!(acked["acknowledged_at"].is_string(), "{acked:#?}");
    assert_eq!(acked["status"], "open");
    assert_eq!(by_ana("resolve")["status"], "resolved");
    // The next run that sends webhooks tells the receivers, from the outbox.
    run(&analyze, b"");
    assert_eq!(events(), ["resolved"]);
    // Again: nothing changes, and it says how the incident stands.
    let again = run(&["incidents", "resolve", id, "--db", &db], b"");
    assert!(String::from_utf8_lossy(&again.stdout).contains(id));
    let shown = run(&["incidents", "show", id, "--db", &db], b"");
    let shown = String::from_utf8(shown.stdout).unwrap();
    assert!(shown.contains("acknowledged: by ana"), "{shown}");
    assert!(shown.contains("resolved: by hand, by ana"), "{shown}");
    assert_eq!(shown.matches("resolved: by hand").count(), 1, "{shown}");

    let unknown = common::run(
        &["incidents", "ack", "20260101-000000-nope", "--db", &db],
        b"",
    );
    assert!(!unknown.status.success());
    let said = String::from_utf8_lossy(&unknown.stderr);
    assert!(said.contains("no incident 20260101-000000-nope"), "{said}");
}

#[test]
fn an_unknown_incident_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = common::run(&["incidents", "show", "nope", "--db", &db_url(&dir)], b"");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no incident nope"));
}

#[test]
fn webhook_routes_pick_what_each_target_is_told_through_the_outbox() {
    let dir = tempfile::tempdir().unwrap();
    let db = db_url(&dir);
    let (inventory, inventory_rx) = webhook();
    let (payments, payments_rx) = webhook();
    let config = dir.path().join("routes.toml");
    std::fs::write(
        &config,
        format!(
            "[[webhooks]]\nurl = \"{inventory}\"\nmatch = {{ service = \"inventory-*\", \
             min_severity = \"critical\" }}\n\n[[webhooks]]\nurl = \"{payments}\"\n\
             match = {{ service = \"payments-*\" }}\n"
        ),
    )
    .unwrap();
    let logs = outage("2026-01-01T00:00:00Z", 3);
    run(
        &[
            "analyze",
            "--format",
            "json",
            "--db",
            &db,
            "--config",
            config.to_str().unwrap(),
        ],
        &logs,
    );
    let told: Vec<Value> = inventory_rx.try_iter().map(|post| post.body).collect();
    let events: Vec<&str> = told.iter().map(|p| p["event"].as_str().unwrap()).collect();
    assert_eq!(events, ["opened", "resolved"], "{told:#?}");
    assert_eq!(told[0]["incident"]["root_cause"]["service"], "inventory-db");
    let others: Vec<Value> = payments_rx.try_iter().map(|post| post.body).collect();
    assert!(others.is_empty(), "{others:#?}");
}
