//! Silences end to end with the real binary: made with `silences add` or the API, honoured by
//! `analyze` and by two `serve` instances sharing PostgreSQL, and the notification they held
//! sent once when they end.

use std::time::Duration;

use serde_json::{Value, json};

mod common;
use common::server::{PATIENCE, Server, curl, json as parse};
use common::{db_url, outage, run_ok as run, webhook};

#[test]
fn a_silenced_outage_sends_no_webhook_and_the_silence_says_it_matched() {
    let dir = tempfile::tempdir().unwrap();
    let db = db_url(&dir);
    let made = run(
        &[
            "silences",
            "add",
            "service=inventory-*",
            "--duration",
            "1h",
            "--comment",
            "pool resize",
            "--by",
            "ana",
            "--db",
            &db,
        ],
        b"",
    );
    let id = String::from_utf8(made.stdout).unwrap().trim().to_owned();
    let listed: Value =
        serde_json::from_slice(&run(&["silences", "--json", "--db", &db], b"").stdout).unwrap();
    assert_eq!(listed[0]["id"], id.as_str());
    assert!(listed[0]["matchedAt"].is_null());

    let (hook, posts) = webhook();
    run(
        &[
            "analyze",
            "--format",
            "json",
            "--db",
            &db,
            "--webhook",
            &hook,
        ],
        &outage("2026-01-01T00:00:00Z", 3),
    );
    // The incident opened and resolved in the store; its receivers heard of neither.
    let incidents: Value =
        serde_json::from_slice(&run(&["incidents", "--json", "--db", &db], b"").stdout).unwrap();
    assert_eq!(incidents[0]["root_cause"]["service"], "inventory-db");
    assert_eq!(incidents[0]["status"], "resolved");
    let told: Vec<Value> = posts.try_iter().map(|post| post.body).collect();
    assert!(told.is_empty(), "{told:#?}");
    let listed: Value =
        serde_json::from_slice(&run(&["silences", "list", "--json", "--db", &db], b"").stdout)
            .unwrap();
    assert!(listed[0]["matchedAt"].is_string(), "{listed:#}");

    let text =
        String::from_utf8(run(&["silences", "expire", &id, "--db", &db], b"").stdout).unwrap();
    assert!(text.contains("expired"), "{text}");
    assert!(text.contains("first muted an incident"), "{text}");
}

#[test]
fn a_recurring_silence_keeps_its_time_zone_and_a_wrong_zone_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = db_url(&dir);
    let add = |extra: &[&str]| {
        let mut args = vec![
            "silences",
            "add",
            "service=payments",
            "--duration",
            "30d",
            "--comment",
            "weekly maintenance",
            "--by",
            "ana",
            "--db",
            &db,
        ];
        args.extend(extra);
        common::run(&args, b"")
    };
    let made = add(&[
        "--weekdays",
        "saturday",
        "--times",
        "02:00-04:00",
        "--location",
        "Europe/Berlin",
    ]);
    assert!(made.status.success(), "{made:?}");
    let listed: Value =
        serde_json::from_slice(&run(&["silences", "--json", "--db", &db], b"").stdout).unwrap();
    assert_eq!(
        listed[0]["schedule"],
        serde_json::json!({
            "weekdays": ["saturday"],
            "times": [{"startTime": "02:00", "endTime": "04:00"}],
            "location": "Europe/Berlin",
        })
    );
    let text = String::from_utf8(run(&["silences", "--db", &db], b"").stdout).unwrap();
    assert!(
        text.contains("recurring (Europe/Berlin): saturday 02:00-04:00"),
        "{text}"
    );

    let wrong = add(&["--times", "02:00-04:00", "--location", "Europe/Atlantis"]);
    assert!(!wrong.status.success());
    let said = String::from_utf8_lossy(&wrong.stderr);
    assert!(
        said.contains("\"Europe/Atlantis\" is not a time zone"),
        "{said}"
    );
    let alone = add(&["--location", "Europe/Berlin"]);
    assert!(!alone.status.success(), "a zone without times or weekdays");
    let listed: Value =
        serde_json::from_slice(&run(&["silences", "--json", "--db", &db], b"").stdout).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1, "nothing else was made");
}

fn storm(lines: usize) -> String {
    let now = chrono::Utc::now();
    (0..lines)
        .map(|i| {
            let (service, level, message) = if i % 5 == 0 {
                (
                    "payment-gateway",
                    "INFO",
                    format!("Request processed in {}ms", i % 300),
                )
            } else {
                (
                    "inventory-db",
                    "ERROR",
                    "Database Connection Refused: Pool exhausted".to_owned(),
                )
            };
            json!({"timestamp": now, "service": service, "level": level, "message": message})
                .to_string()
                + "\n"
        })
        .collect()
}

/// Polls `what` on `server` until `done` holds of it or the patience runs out.
fn until(server: &Server, path: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        let (status, body) = curl(&[&server.url(path)]);
        assert_eq!(status, 200, "{body}");
        let value = parse(&body);
        if done(&value) || std::time::Instant::now() > deadline {
            return value;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_a_silence_made_on_one_instance_mutes_the_other_until_it_is_expired() {
    let db = ic_store::testing::PostgresSchema::create().await;
    let (hook, posts) = webhook();
    let args = [
        "--db",
        db.url.as_str(),
        "--webhook",
        hook.as_str(),
        "--resolve-after",
        "600",
    ];
    let (left, right) = (Server::start(&args, &[]), Server::start(&args, &[]));
    let id = silence_inventory_db(&left);
    assert!(left.metrics().contains("ic_silences_active 1"));
    // The other instance reads the silences at its next look at the outbox (every 5 s).
    until_metrics_hold(&right, "ic_silences_active 1");

    // The other instance opens the incident; the silence holds its notification back.
    let (status, body) = right.post_ndjson(&storm(1000));
    assert_eq!(status, 202, "{body}");
    let silences = until(&left, "/api/silences", |s| s[0]["matchedAt"].is_string());
    assert!(
        silences[0]["matchedAt"].is_string(),
        "never matched: {silences:#}"
    );
    assert_eq!(
        silences[0]["mutes"].as_array().unwrap().len(),
        1,
        "{silences:#}"
    );
    // Whichever instance took the opening from the outbox held it back.
    let held = "ic_notifications_suppressed_total{reason=\"silenced\"}";
    let deadline = std::time::Instant::now() + PATIENCE;
    while !(right.metrics().contains(held) || left.metrics().contains(held)) {
        assert!(
            std::time::Instant::now() < deadline,
            "nothing was held back"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let told: Vec<Value> = posts.try_iter().map(|post| post.body).collect();
    assert!(told.is_empty(), "{told:#?}");

    // Expired on the first instance: the receivers hear of the open incident once.
    let (status, body) = curl(&["-X", "DELETE", &left.url(&format!("/api/silences/{id}"))]);
    assert_eq!(status, 200, "{body}");
    let post = posts
        .recv_timeout(PATIENCE)
        .expect("a notification after the silence")
        .body;
    assert_eq!(post["event"], "opened", "{post:#}");
    assert_eq!(post["incident"]["root_cause"]["service"], "inventory-db");
    nothing_left_to_send(&db.url).await;
    let told: Vec<Value> = posts.try_iter().map(|post| post.body).collect();
    assert!(told.is_empty(), "sent twice: {told:#?}");

    // The incident's timeline tells the story.
    let incident = post["incident"]["id"].as_str().unwrap();
    let (status, body) = curl(&[&left.url(&format!("/api/incidents/{incident}"))]);
    assert_eq!(status, 200, "{body}");
    let events: Vec<String> = parse(&body)["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap().to_owned())
        .collect();
    // A storm that escalated while silenced has its escalation, held back too, in between.
    assert_eq!(events.first().map(String::as_str), Some("opened"), "{body}");
    assert_eq!(
        events.last().map(String::as_str),
        Some("unsilenced"),
        "{body}"
    );
    assert!(events.iter().any(|e| e == "silenced"), "{body}");
}

/// `POST /api/silences` muting inventory-db for an hour; the new silence's id.
fn silence_inventory_db(server: &Server) -> String {
    let now = chrono::Utc::now();
    let silence = json!({
        "matchers": [{"name": "service", "value": "inventory-db", "isRegex": false, "isEqual": true}],
        "startsAt": now, "endsAt": now + chrono::TimeDelta::hours(1),
        "createdBy": "ana", "comment": "pool resize",
    });
    let (status, body) = curl(&[
        "-X",
        "POST",
        "-H",
        "Content-Type: application/json",
        "-d",
        &silence.to_string(),
        &server.url("/api/silences"),
    ]);
    assert_eq!(status, 200, "{body}");
    parse(&body)["silenceID"].as_str().unwrap().to_owned()
}

/// Asserts that the database at `url` holds no notification held back or waiting to be sent:
/// none can come any more.
async fn nothing_left_to_send(url: &str) {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(url).await.unwrap();
    for table in ["held", "outbox"] {
        let rows: i64 =
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
                .fetch_one(&pool)
                .await
                .unwrap();
        assert_eq!(rows, 0, "nothing left to send in {table}");
    }
    pool.close().await;
}

/// Polls `server`'s metrics until they hold `text`.
fn until_metrics_hold(server: &Server, text: &str) {
    let deadline = std::time::Instant::now() + PATIENCE;
    while !server.metrics().contains(text) {
        assert!(
            std::time::Instant::now() < deadline,
            "/metrics never held {text}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_held_notification_survives_sigkill_and_is_sent_once_when_the_silence_ends() {
    let (hook, posts) = webhook();
    let args = ["--webhook", hook.as_str(), "--resolve-after", "600"];
    let server = Server::start(&args, &[]);
    let id = silence_inventory_db(&server);
    let (status, body) = server.post_ndjson(&storm(1000));
    assert_eq!(status, 202, "{body}");
    until_metrics_hold(
        &server,
        "ic_notifications_suppressed_total{reason=\"silenced\"}",
    );

    // Killed with the opening held: the restarted server still holds it, then sends it once.
    let dir = server.kill_keeping_files();
    let db = Server::db_in(dir.path());
    let server = Server::start_in(dir, &args);
    until_metrics_hold(&server, "ic_silences_active 1");
    assert!(
        posts.try_iter().next().is_none(),
        "sent while still silenced"
    );
    let (status, body) = curl(&["-X", "DELETE", &server.url(&format!("/api/silences/{id}"))]);
    assert_eq!(status, 200, "{body}");
    let post = posts.recv_timeout(PATIENCE).expect("the held opening").body;
    assert_eq!(post["event"], "opened", "{post:#}");
    assert_eq!(post["incident"]["root_cause"]["service"], "inventory-db");
    nothing_left_to_send(&db).await;
    assert!(posts.try_iter().next().is_none(), "sent twice");
}
