//! The NATS JetStream gateway against the machine's NATS server (127.0.0.1:4222, JetStream on;
//! `IC_TEST_NATS_URL` names another). Every test works on a stream of its own, deleted at the
//! end. A server that does not answer fails the test: it is never skipped.

use std::collections::HashSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_nats::jetstream::{self, consumer};
use futures::StreamExt;
use serde_json::{Value, json};

mod common;
use common::server::{PATIENCE, Server, curl, json, try_post};
use common::{run, stats, wait_for_lines};
use incident_commander::testing::Received;

fn nats_url() -> String {
    std::env::var("IC_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

/// A stream name and subject no other test run uses.
fn unique(prefix: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("{prefix}_{}_{nanos}", std::process::id())
}

async fn jetstream() -> jetstream::Context {
    let client = async_nats::connect(nats_url()).await.unwrap_or_else(|err| {
        panic!(
            "NATS is not reachable at {}: {err}\nStart it with: start-stop-daemon --start \
             --oknodo --background --exec /usr/sbin/nats-server -- -a 127.0.0.1 -p 4222 -js \
             -sd /var/lib/nats-server",
            nats_url()
        )
    });
    jetstream::new(client)
}

/// A stream of this test's own on the server (work-queue retention, as the source makes it),
/// a subject prefix and a consumer name no other run uses.
struct TestStream {
    js: jetstream::Context,
    stream: jetstream::stream::Stream,
    name: String,
    prefix: String,
    subject: String,
    consumer: String,
    url: String,
}

impl TestStream {
    async fn create(tag: &str) -> Self {
        let js = jetstream().await;
        let name = unique(&tag.to_uppercase());
        let prefix = unique(tag);
        let subject = format!("{prefix}.>");
        let stream = js
            .create_stream(jetstream::stream::Config {
                name: name.clone(),
                subjects: vec![subject.clone()],
                retention: jetstream::stream::RetentionPolicy::WorkQueue,
                ..Default::default()
            })
            .await
            .unwrap();
        Self {
            js,
            stream,
            name,
            prefix,
            subject,
            consumer: unique("ic"),
            url: nats_url(),
        }
    }

    /// `serve` flags for `--source nats` on this stream, storing into `db`.
    fn source_args<'a>(&'a self, db: &'a str) -> Vec<&'a str> {
        vec![
            "--source",
            "nats",
            "--nats-url",
            &self.url,
            "--nats-stream",
            &self.name,
            "--nats-subject",
            &self.subject,
            "--nats-consumer",
            &self.consumer,
            "--db",
            db,
        ]
    }

    /// The durable consumer, made here with a short ack wait, as a first taker would use it.
    async fn durable(&self) -> consumer::PullConsumer {
        self.stream
            .create_consumer(consumer::pull::Config {
                durable_name: Some(self.consumer.clone()),
                ack_policy: consumer::AckPolicy::Explicit,
                ack_wait: Duration::from_secs(3),
                max_ack_pending: 20_000,
                ..Default::default()
            })
            .await
            .unwrap()
    }

    /// Publishes one message and waits for the server to store it.
    async fn publish(&self, payload: String) {
        let subject = format!("{}.app", self.prefix);
        self.js
            .publish(subject, payload.into())
            .await
            .unwrap()
            .await
            .unwrap();
    }

    async fn delete(self) {
        self.js.delete_stream(&self.name).await.unwrap();
    }
}

/// `serve` flags for a gateway that forwards what it receives to `stream` on `subject`.
fn gateway_args<'a>(url: &'a str, stream: &'a str, subject: &'a str) -> [&'a str; 8] {
    [
        "--forward",
        "nats",
        "--nats-url",
        url,
        "--nats-stream",
        stream,
        "--nats-subject",
        subject,
    ]
}

/// Every message of `stream`, in order: (subject, message id, its lines as JSON).
async fn drain(
    js: &jetstream::Context,
    stream: &str,
    expected: usize,
) -> Vec<(String, String, Vec<Value>)> {
    let stream = js
        .get_stream(stream)
        .await
        .expect("the gateway created the stream");
    let consumer = stream
        .create_consumer(consumer::pull::Config {
            ack_policy: consumer::AckPolicy::Explicit,
            ..Default::default()
        })
        .await
        .unwrap();
    let mut messages = consumer
        .fetch()
        .max_messages(expected + 10)
        .expires(Duration::from_secs(2))
        .messages()
        .await
        .unwrap();
    let mut out = Vec::new();
    while let Some(message) = messages.next().await {
        let message = message.unwrap();
        let id = message
            .headers
            .as_ref()
            .and_then(|h| h.get("Nats-Msg-Id"))
            .map(|v| v.to_string())
            .unwrap_or_default();
        let lines: Vec<Value> = std::str::from_utf8(&message.payload)
            .unwrap()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        out.push((message.subject.to_string(), id, lines));
        message.ack().await.unwrap();
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn nats_a_gateway_publishes_every_line_once_in_messages_of_many_lines() {
    let stream = unique("ICTEST");
    let prefix = unique("ictest");
    let subject = format!("{prefix}.>");
    let js = jetstream().await;
    let url = nats_url();
    let args = gateway_args(&url, &stream, &subject);
    let server = tokio::task::block_in_place(|| Server::start(&args, &[]));
    let (status, body) = tokio::task::block_in_place(|| curl(&[&server.url("/readyz")]));
    assert_eq!((status, body.as_str()), (200, "ready"), "connected to NATS");

    // Two requests: 1,500 lines, then 50.
    let lines = |from: usize, to: usize| -> String {
        (from..to)
            .map(|i| {
                let line = json!({"timestamp": "2026-03-01T10:00:00Z", "service": "inventory-db",
                                  "level": "ERROR", "message": format!("line {i}\nsecond line"),
                                  "host": "db-1"});
                format!("{line}\n")
            })
            .collect()
    };
    for (from, to) in [(0, 1500), (1500, 1550)] {
        let (status, body) = tokio::task::block_in_place(|| server.post_ndjson(&lines(from, to)));
        assert_eq!(status, 202, "{body}");
        assert_eq!(json(&body)["accepted"], to - from);
    }

    let messages = drain(&js, &stream, 3).await;
    js.delete_stream(&stream).await.unwrap();
    let sizes: Vec<usize> = messages.iter().map(|(_, _, lines)| lines.len()).collect();
    assert_eq!(
        sizes,
        [1000, 500, 50],
        "a request is a few messages of many lines"
    );
    let ids: HashSet<&str> = messages.iter().map(|(_, id, _)| id.as_str()).collect();
    assert_eq!(ids.len(), 3, "one message id per message");
    assert!(!ids.contains(""));
    let all: Vec<&Value> = messages.iter().flat_map(|(_, _, lines)| lines).collect();
    assert_eq!(all.len(), 1550, "every line, once");
    for (i, line) in all.iter().enumerate() {
        assert_eq!(
            line["message"],
            format!("line {i}\nsecond line"),
            "in order"
        );
        assert_eq!(line["service"], "inventory-db");
        assert_eq!(line["level"], "ERROR");
        assert_eq!(line["host"], "db-1");
    }
    assert!(
        messages
            .iter()
            .all(|(subject, ..)| subject == &format!("{prefix}.http"))
    );
    let processed = tokio::task::block_in_place(|| server.logs_processed());
    assert_eq!(processed, 0, "forwarded, not analyzed here");
}

#[test]
fn nats_an_unreachable_server_is_a_clear_error() {
    let args = ["--forward", "nats", "--nats-url", "nats://127.0.0.1:1"];
    let stderr = match Server::try_start(&args, &[]) {
        Ok(_) => panic!("serve started without its NATS server"),
        Err(stderr) => stderr,
    };
    assert!(
        stderr.contains("cannot connect to NATS at nats://127.0.0.1:1"),
        "{stderr}"
    );
}

/// `stats --db URL --json`.
/// Publishes `lines` demo-like lines as messages of one or two lines each; returns how many
/// messages.
async fn publish_lines(js: &jetstream::Context, subject: &str, lines: usize) -> usize {
    let now = chrono::Utc::now();
    let line = |i: usize| {
        let (service, level, message) = match i % 10 {
            0..=6 => (
                "inventory-db",
                "ERROR",
                "Database Connection Refused: Pool exhausted".to_owned(),
            ),
            7 => (
                "order-service",
                "ERROR",
                format!("Failed to reserve stock for order {i}: inventory-db unavailable"),
            ),
            _ => (
                "frontend-proxy",
                "INFO",
                format!("Request processed successfully in {}ms", i % 300),
            ),
        };
        json!({"timestamp": now, "service": service, "level": level, "message": message})
            .to_string()
    };
    publish_with(js, subject, lines, line).await
}

/// Publishes lines `line(0)`, `line(1)`… as messages of one or two lines each (every fifth
/// message carries two), waiting for the server to store them; returns how many messages.
async fn publish_with(
    js: &jetstream::Context,
    subject: &str,
    lines: usize,
    line: impl Fn(usize) -> String,
) -> usize {
    let mut acks = Vec::new();
    let mut messages = 0;
    let mut i = 0;
    while i < lines {
        // Acknowledgements hold the client's in-flight permits: collect them now and then.
        if acks.len() == 1000 {
            for ack in acks.drain(..) {
                let ack: jetstream::context::PublishAckFuture = ack;
                ack.await.unwrap();
            }
        }
        // Every fifth message carries two lines.
        messages += 1;
        let payload = if messages % 5 == 0 && i + 1 < lines {
            i += 2;
            format!("{}\n{}\n", line(i - 2), line(i - 1))
        } else {
            i += 1;
            line(i - 1)
        };
        acks.push(
            js.publish(subject.to_owned(), payload.into())
                .await
                .unwrap(),
        );
    }
    for ack in acks {
        ack.await.unwrap();
    }
    messages
}

#[tokio::test(flavor = "multi_thread")]
async fn nats_every_line_is_counted_once_even_when_an_instance_is_killed() {
    const LINES: u64 = 20_000;
    let test = TestStream::create("icsrc").await;
    publish_lines(&test.js, &format!("{}.app", test.prefix), LINES as usize).await;
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("shared.db").display());
    let mut args = test.source_args(&db);
    args.extend(["--nats-ack-wait", "3"]);
    // The first instance dies with a quarter of the lines analyzed.
    let first = tokio::task::block_in_place(|| {
        let mut first = Server::start(&args, &[]);
        let reports = first.stdout_lines();
        let mut seen = 0;
        while seen < LINES / 4 {
            let line = reports
                .recv_timeout(PATIENCE)
                .expect("reports from the first instance");
            let report: Value = serde_json::from_str(&line).unwrap();
            seen += report["window"]["log_count"].as_u64().unwrap();
        }
        first.kill();
        stats(&db)
    });
    let counted_before = first["lines_analyzed"].as_u64().unwrap();
    assert!((LINES / 4..LINES).contains(&counted_before), "{first}");

    // The second takes over: the rest, and the messages the first took but never
    // acknowledged, delivered again after the ack wait.
    let totals = tokio::task::block_in_place(|| {
        let mut second = Server::start(&args, &[]);
        // Its reports are read, or a full pipe would stop it.
        let _reports = second.stdout_lines();
        let totals = wait_for_lines(&db, LINES, PATIENCE);
        let (status, _) = second.terminate();
        assert!(status.success());
        totals
    });
    assert_eq!(totals["lines_analyzed"], LINES, "every line once: {totals}");
    let after = tokio::task::block_in_place(|| stats(&db));
    assert_eq!(
        after["lines_analyzed"], LINES,
        "and no more after the end: {after}"
    );
    assert!(
        after["incidents"]["open"].as_u64().unwrap()
            + after["incidents"]["resolved"].as_u64().unwrap()
            >= 1,
        "{after}"
    );
    test.delete().await;
}

/// Polls an instance's count of lines taken in until it reaches `lines`.
fn wait_until_taken(instance: &Server, lines: u64) {
    let deadline = std::time::Instant::now() + PATIENCE;
    while instance.logs_processed() < lines {
        assert!(
            std::time::Instant::now() < deadline,
            "{} took {} of {lines} lines",
            instance.base,
            instance.logs_processed()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn nats_a_message_two_instances_analyzed_is_counted_once() {
    const LINES: u64 = 30;
    let test = TestStream::create("ictwice").await;
    publish_lines(&test.js, &format!("{}.app", test.prefix), LINES as usize).await;
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("shared.db").display());
    let mut args = test.source_args(&db);
    // Windows that stay open until the instance stops.
    args.extend([
        "--nats-ack-wait",
        "3",
        "--window-events",
        "1000",
        "--window-secs",
        "600",
    ]);
    let totals = tokio::task::block_in_place(|| {
        // The first takes every message, then stalls past the ack wait with them in its
        // open window and no progress said…
        let mut first = Server::start(&args, &[]);
        let _first_reports = first.stdout_lines();
        wait_until_taken(&first, LINES);
        first.pause();
        // …so the server delivers them again to a second, which analyzes and stores them.
        let mut second = Server::start(&args, &[]);
        let _second_reports = second.stdout_lines();
        wait_until_taken(&second, LINES);
        let (status, _) = second.terminate();
        assert!(status.success());
        assert_eq!(stats(&db)["lines_analyzed"], LINES);
        // The first wakes and stores its window of the same lines.
        first.resume();
        let (status, _) = first.terminate();
        assert!(status.success());
        stats(&db)
    });
    assert_eq!(totals["windows"], 2, "{totals}");
    assert_eq!(totals["lines_analyzed"], LINES, "every line once: {totals}");
    test.delete().await;
}

/// A counter's value in an instance's `/metrics`, 0 when it has none yet.
fn counter(instance: &Server, series: &str) -> u64 {
    instance
        .metrics()
        .lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn nats_postgres_a_database_stalled_for_many_ack_waits_loses_no_line() {
    const LINES: usize = 20_000;
    const ACK_WAIT: u64 = 3;
    let test = TestStream::create("icstall").await;
    let db = ic_store::testing::PostgresSchema::create().await;
    // Meanwhile the schema is made, so the stall can begin before anything is stored.
    drop(ic_store::open(&db.url).await.unwrap());
    publish_with(&test.js, &format!("{}.app", test.prefix), LINES, |i| {
        json!({"service": format!("svc{}", i % 7), "level": "INFO", "message": format!("request {i} done")})
            .to_string()
    })
    .await;
    let ack_wait = ACK_WAIT.to_string();
    let mut args = test.source_args(&db.url);
    args.extend(["--nats-ack-wait", &ack_wait]);

    // Nothing can be stored while this transaction holds the windows table: the instances
    // take messages until their pipelines are full and wait, for six ack waits, longer than
    // a message may be delivered before it is terminated.
    let mut stall = <sqlx::PgConnection as sqlx::Connection>::connect(&db.url)
        .await
        .unwrap();
    sqlx::raw_sql("BEGIN; LOCK TABLE windows IN ACCESS EXCLUSIVE MODE")
        .execute(&mut stall)
        .await
        .unwrap();
    let instances: Vec<Server> =
        tokio::task::block_in_place(|| (0..2).map(|_| Server::start(&args, &[])).collect());
    let mut instances = instances;
    let _reports: Vec<_> = instances.iter_mut().map(Server::stdout_lines).collect();
    tokio::time::sleep(Duration::from_secs(6 * ACK_WAIT)).await;
    sqlx::raw_sql("COMMIT").execute(&mut stall).await.unwrap();

    let (totals, taken, terminated) = tokio::task::block_in_place(|| {
        let totals = wait_for_lines(&db.url, LINES as u64, SCALE_PATIENCE);
        let ingested = "ic_lines_ingested_total{source=\"nats\"}";
        let taken: u64 = instances.iter().map(|i| counter(i, ingested)).sum();
        let terminated: u64 = instances
            .iter()
            .map(|i| counter(i, "ic_nats_messages_terminated_total"))
            .sum();
        for instance in instances {
            let (status, _) = instance.terminate();
            assert!(status.success());
        }
        (totals, taken, terminated)
    });
    assert_eq!(totals["lines_analyzed"], LINES, "every line once: {totals}");
    assert_eq!(terminated, 0, "messages were terminated");
    // What waited in the instances' buffers past its ack wait was delivered again meanwhile:
    // the stall did what it is here to do.
    assert!(taken > LINES as u64, "{taken} lines taken in");
    test.delete().await;
}

/// A window of `lines` lines, as a dead instance would have recorded it.
fn window_of(lines: u32) -> ic_core::Report {
    let mut report = ic_core::testing::report(1, chrono::Utc::now(), lines);
    report.title = "recorded before the crash".into();
    report
}

#[tokio::test(flavor = "multi_thread")]
async fn nats_a_message_delivered_again_skips_what_was_already_counted() {
    let test = TestStream::create("icred").await;
    // 100 messages of two lines each.
    let line = |i: usize| {
        json!({"service": "api", "level": "ERROR", "message": format!("boom {i}")}).to_string()
    };
    for i in 0..100 {
        test.publish(format!("{}\n{}", line(2 * i), line(2 * i + 1)))
            .await;
    }

    // A first taker gets the first 30 messages and dies before acknowledging them; it had
    // stored windows with both events of the first 20 and one event of the next 10.
    let durable = test.durable().await;
    let taken: Vec<_> = durable
        .fetch()
        .max_messages(30)
        .messages()
        .await
        .unwrap()
        .collect()
        .await;
    assert_eq!(taken.len(), 30);
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("shared.db").display());
    let store = ic_store::open(&db).await.unwrap();
    let consumed: Vec<ic_store::Consumed> = (1..=30)
        .map(|seq| ic_store::Consumed {
            stream: test.name.clone(),
            seq,
            first: 0,
            events: if seq <= 20 { 2 } else { 1 },
            window: 1,
        })
        .collect();
    ic_store::Store::record_windows(&store, "dead", &[&window_of(50)], &consumed)
        .await
        .unwrap();
    store.close().await;
    drop(taken);

    // The next instance gets them again once their ack wait is over, and counts only the rest.
    let args = test.source_args(&db);
    let totals = tokio::task::block_in_place(|| {
        let mut server = Server::start(&args, &[]);
        let _reports = server.stdout_lines();
        let (status, _) = curl(&[&server.url("/readyz")]);
        assert_eq!(status, 200, "ready: the source is connected");
        let totals = wait_for_lines(&db, 200, PATIENCE);
        let (status, _) = server.terminate();
        assert!(status.success());
        totals
    });
    assert_eq!(totals["lines_analyzed"], 200, "{totals}");
    let after = tokio::task::block_in_place(|| stats(&db));
    assert_eq!(after["lines_analyzed"], 200, "{after}");
    test.delete().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn nats_a_message_that_keeps_coming_back_is_terminated_and_counted() {
    let test = TestStream::create("icpoi").await;
    test.publish("the message every taker dies on".into()).await;
    let durable = test.durable().await;
    // Five takers die on it: each gets it and never acknowledges.
    for delivery in 1..=5 {
        let taken: Vec<_> = durable
            .fetch()
            .max_messages(1)
            .expires(Duration::from_secs(10))
            .messages()
            .await
            .unwrap()
            .collect()
            .await;
        let message = taken.into_iter().next().expect("delivered again").unwrap();
        assert_eq!(message.info().unwrap().delivered, delivery);
    }
    for i in 0..10 {
        let line = json!({"service": "api", "level": "INFO", "message": format!("fine {i}")});
        test.publish(line.to_string()).await;
    }

    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("incidents.db").display());
    let args = test.source_args(&db);
    tokio::task::block_in_place(|| {
        let mut server = Server::start(&args, &[]);
        let _reports = server.stdout_lines();
        let deadline = std::time::Instant::now() + PATIENCE;
        let terminated = "ic_nats_messages_terminated_total 1";
        while !server.metrics().contains(terminated) {
            assert!(std::time::Instant::now() < deadline, "{}", server.metrics());
            std::thread::sleep(Duration::from_millis(200));
        }
        let totals = wait_for_lines(&db, 10, PATIENCE);
        let (status, _) = server.terminate();
        assert!(status.success());
        assert_eq!(totals["lines_analyzed"], 10, "the rest goes on: {totals}");
    });
    let info = test
        .stream
        .clone()
        .consumer_info(&test.consumer)
        .await
        .unwrap();
    assert_eq!(info.num_pending, 0);
    test.delete().await;
}

/// How long the test of three instances waits for each step: 200,000 lines through debug
/// builds sharing two cores with NATS, PostgreSQL and the other tests.
const SCALE_PATIENCE: Duration = Duration::from_secs(120);

/// Quiet traffic, then a meltdown (`meltdown` lines: mostly inventory-db's pool, the rest
/// order-service failing because of it), then quiet traffic again.
fn storm_line(i: usize, meltdown: std::ops::Range<usize>) -> String {
    storm_line_at(i, meltdown.contains(&i), chrono::Utc::now())
}

/// A line of [`storm_line`]'s traffic stamped `at`: the meltdown's if `meltdown`.
fn storm_line_at(i: usize, meltdown: bool, at: chrono::DateTime<chrono::Utc>) -> String {
    let (service, level, message) = if meltdown {
        match i % 10 {
            0..=6 => (
                "inventory-db",
                "ERROR",
                "Database Connection Refused: Pool exhausted".to_owned(),
            ),
            _ => (
                "order-service",
                "ERROR",
                format!("Failed to reserve stock for order {i}: inventory-db unavailable"),
            ),
        }
    } else {
        let services = ["frontend-proxy", "auth-service", "payment-gateway"];
        (
            services[i % 3],
            "INFO",
            format!("Request processed successfully in {}ms", i % 300),
        )
    };
    json!({"timestamp": at, "service": service, "level": level, "message": message}).to_string()
}

/// Webhook posts until as many incidents resolved as opened (at least one), or the patience
/// runs out.
fn posts_until_resolved(posts: &std::sync::mpsc::Receiver<Received>) -> Vec<Value> {
    let deadline = std::time::Instant::now() + SCALE_PATIENCE;
    let mut received = Vec::new();
    let count =
        |received: &[Value], event: &str| received.iter().filter(|p| p["event"] == event).count();
    while count(&received, "opened") == 0
        || count(&received, "opened") > count(&received, "resolved")
    {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match posts.recv_timeout(left) {
            Ok(post) => received.push(post.body),
            Err(_) => break,
        }
    }
    received
}

/// The open incidents an instance's dashboard counts, once none is left or the patience runs
/// out.
fn open_incidents_until_none(instance: &Server) -> u64 {
    let deadline = std::time::Instant::now() + SCALE_PATIENCE;
    loop {
        let (status, body) = curl(&[&instance.url("/api/stats")]);
        assert_eq!(status, 200, "{body}");
        let open = json(&body)["open_incidents"].as_u64().unwrap();
        if open == 0 || std::time::Instant::now() > deadline {
            return open;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn nats_three_instances_on_postgres_share_a_meltdown_and_survive_a_kill() {
    const LINES: usize = 200_000;
    let test = TestStream::create("icscale").await;
    let db = ic_store::testing::PostgresSchema::create().await;
    let meltdown = 80_000..120_000;
    publish_with(&test.js, &format!("{}.app", test.prefix), LINES, |i| {
        storm_line(i, meltdown.clone())
    })
    .await;
    let (hook, posts) = common::webhook();
    let mut args = test.source_args(&db.url);
    // The resolve waits well beyond the ack wait: what the killed instance held comes back
    // to the others before the incident may resolve.
    args.extend([
        "--nats-ack-wait",
        "3",
        "--resolve-after",
        "10",
        "--webhook",
        &hook,
    ]);

    let (posts, stats_after) = tokio::task::block_in_place(|| {
        let mut instances: Vec<Server> = (0..3).map(|_| Server::start(&args, &[])).collect();
        // Their reports are read, or a full pipe would stop them.
        let reports: Vec<_> = instances.iter_mut().map(Server::stdout_lines).collect();
        let halfway = wait_for_lines(&db.url, LINES as u64 / 2, SCALE_PATIENCE);
        assert!(
            halfway["lines_analyzed"].as_u64() < Some(LINES as u64),
            "{halfway}"
        );
        instances.remove(0).kill();
        let mut again = Server::start(&args, &[]);
        let _again_reports = again.stdout_lines();
        instances.push(again);

        let totals = wait_for_lines(&db.url, LINES as u64, SCALE_PATIENCE);
        assert_eq!(totals["lines_analyzed"], LINES, "every line once: {totals}");
        let mut received = posts_until_resolved(&posts);
        // Every dashboard learns of the resolve, whichever instance made it.
        for instance in &instances {
            let open = open_incidents_until_none(instance);
            assert_eq!(open, 0, "{} still shows open incidents", instance.base);
        }
        for instance in instances {
            let (status, _) = instance.terminate();
            assert!(status.success());
        }
        drop(reports);
        // Anything sent on the way out counts too.
        received.extend(posts.try_iter().map(|post| post.body));
        (received, stats(&db.url))
    });

    assert_eq!(stats_after["lines_analyzed"], LINES, "{stats_after}");
    let listed = run(&["incidents", "--db", &db.url, "--json"], b"");
    let incidents: Vec<Value> = serde_json::from_slice(&listed.stdout).unwrap();
    let fingerprints: HashSet<&str> = incidents
        .iter()
        .map(|i| i["fingerprint"].as_str().unwrap())
        .collect();
    assert_eq!(
        fingerprints.len(),
        incidents.len(),
        "one per fingerprint: {incidents:#?}"
    );
    let root = incidents
        .iter()
        .find(|i| i["root_cause"]["service"] == "inventory-db" && i["parent"].is_null())
        .unwrap_or_else(|| panic!("the meltdown's incident: {incidents:#?}"));
    assert_eq!(root["status"], "resolved", "{root:#?}");
    assert!(root["lines"].as_u64().unwrap() >= 20_000, "{root:#?}");
    // Each incident people hear about: opened once and resolved once, across three instances
    // and a kill.
    let mut told: Vec<(String, String)> = posts
        .iter()
        .map(|p| {
            (
                p["incident"]["id"].as_str().unwrap().to_owned(),
                p["event"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    told.sort();
    let notified: Vec<&str> = incidents
        .iter()
        .filter(|i| i["parent"].is_null())
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    let mut expected: Vec<(String, String)> = notified
        .iter()
        .flat_map(|id| {
            [
                (id.to_string(), "opened".into()),
                (id.to_string(), "resolved".into()),
            ]
        })
        .collect();
    expected.sort();
    assert_eq!(told, expected, "{posts:#?}");
    test.delete().await;
}

// ------------------------------------------------ conservation under SIGKILL

/// The meltdown's pool line, as `storm_line_at` writes it.
const POOL_LINE: &str = "Database Connection Refused: Pool exhausted";

/// Publishes lines `first..first + lines` of the storm traffic stamped `at` (the meltdown's
/// if `meltdown`), as messages of both shapes: one of 100 lines, then ten of one line, and
/// so on. Returns how many of them are the pool line.
async fn publish_phase(
    js: &jetstream::Context,
    subject: &str,
    first: usize,
    lines: usize,
    meltdown: bool,
    at: chrono::DateTime<chrono::Utc>,
) -> usize {
    let all: Vec<String> = (first..first + lines)
        .map(|i| storm_line_at(i, meltdown, at))
        .collect();
    let mut acks = Vec::new();
    let mut rest = &all[..];
    let mut message = 0;
    while !rest.is_empty() {
        let size = if message % 11 == 0 { 100 } else { 1 }.min(rest.len());
        let (payload, after) = rest.split_at(size);
        rest = after;
        message += 1;
        acks.push(
            js.publish(subject.to_owned(), payload.join("\n").into())
                .await
                .unwrap(),
        );
    }
    for ack in acks {
        let ack: jetstream::context::PublishAckFuture = ack;
        ack.await.unwrap();
    }
    all.iter().filter(|line| line.contains(POOL_LINE)).count()
}

/// A session on the instances' database that holds one of the store's locks, so that every
/// instance that needs it stops where it waits: in the middle of a batch's transaction.
struct Holder {
    session: sqlx::PgConnection,
    watcher: sqlx::PgConnection,
    pid: i32,
}

impl Holder {
    async fn connect(url: &str) -> Self {
        use sqlx::Connection;
        let mut session = sqlx::PgConnection::connect(url).await.unwrap();
        let watcher = sqlx::PgConnection::connect(url).await.unwrap();
        let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
            .fetch_one(&mut session)
            .await
            .unwrap();
        sqlx::query("BEGIN").execute(&mut session).await.unwrap();
        Self {
            session,
            watcher,
            pid,
        }
    }

    /// Holds the turn of `fingerprint`'s incident: a batch that merges it waits after
    /// writing its windows, before its merges.
    async fn turn(url: &str, fingerprint: &str) -> Self {
        let mut holder = Self::connect(url).await;
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
            .bind(fingerprint)
            .execute(&mut holder.session)
            .await
            .unwrap();
        holder
    }

    /// Holds the open incident's row, as soon as there is one: a batch that merges it waits
    /// inside its merge.
    async fn open_row(url: &str, fingerprint: &str) -> Self {
        let deadline = std::time::Instant::now() + SCALE_PATIENCE;
        loop {
            let mut holder = Self::connect(url).await;
            let locked: Option<String> = sqlx::query_scalar(
                "SELECT id FROM incidents WHERE fingerprint = $1 AND status = 'open' FOR UPDATE",
            )
            .bind(fingerprint)
            .fetch_optional(&mut holder.session)
            .await
            .unwrap();
            if locked.is_some() {
                return holder;
            }
            holder.release().await;
            assert!(
                std::time::Instant::now() < deadline,
                "the incident never opened"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until a write of an instance waits for this session.
    async fn wait_for_a_writer(&mut self) {
        let deadline = std::time::Instant::now() + SCALE_PATIENCE;
        loop {
            let waiting: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))",
            )
            .bind(self.pid)
            .fetch_one(&mut self.watcher)
            .await
            .unwrap();
            if waiting > 0 {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no instance came to write the incident"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn release(mut self) {
        sqlx::query("ROLLBACK")
            .execute(&mut self.session)
            .await
            .unwrap();
    }
}

/// Instances of one stream and database, started and killed by the test.
struct Fleet<'a> {
    args: Vec<&'a str>,
    running: Vec<(Server, std::sync::mpsc::Receiver<String>)>,
}

impl<'a> Fleet<'a> {
    fn start(args: Vec<&'a str>, instances: usize) -> Self {
        let mut fleet = Self {
            args,
            running: Vec::new(),
        };
        for _ in 0..instances {
            fleet.start_one();
        }
        fleet
    }

    fn start_one(&mut self) {
        let mut server = Server::start(&self.args, &[]);
        // Their reports are read, or a full pipe would stop them.
        let reports = server.stdout_lines();
        self.running.push((server, reports));
    }

    /// SIGKILLs the oldest instance and starts another in its place.
    fn kill_one(&mut self) {
        self.running.remove(0).0.kill();
        self.start_one();
    }

    /// SIGKILLs every instance and starts as many again.
    fn kill_all(&mut self) {
        let instances = self.running.len();
        for (server, _) in self.running.drain(..) {
            server.kill();
        }
        for _ in 0..instances {
            self.start_one();
        }
    }

    fn stop(self) {
        for (server, _) in self.running {
            let (status, _) = server.terminate();
            assert!(status.success());
        }
    }
}

/// Waits until the database holds `lines` lines; fails saying `what` if it never does.
fn reach(db: &str, lines: usize, what: &str) {
    let stats = tokio::task::block_in_place(|| wait_for_lines(db, lines as u64, SCALE_PATIENCE));
    assert!(
        stats["lines_analyzed"].as_u64() >= Some(lines as u64),
        "{what} were never stored: {stats}"
    );
    eprintln!("{what}: stored");
}

/// Two instances on one stream and one PostgreSQL database, each SIGKILLed at every point a
/// run passes: before the meltdown, inside the merge of the meltdown's incident, in a batch
/// that wrote its windows and waits for that incident's turn, and after the meltdown. The store holds every
/// published line exactly once, and no incident counts a pool line twice.
async fn every_line_once_through_kills_at_every_point(age: chrono::Duration) {
    let test = TestStream::create("ickill").await;
    let db = ic_store::testing::PostgresSchema::create().await;
    let subject = format!("{}.app", test.prefix);
    let at = chrono::Utc::now() - age;
    let fingerprint = ic_core::incident::fingerprint("inventory-db", POOL_LINE);
    let mut args = test.source_args(&db.url);
    // A resolve is a merge too: one comes soon after the meltdown.
    args.extend(["--nats-ack-wait", "3", "--resolve-after", "10"]);
    let mut fleet = tokio::task::block_in_place(|| Fleet::start(args, 2));
    let (mut published, mut pool) = (0, 0);
    let mut phase = async |lines: usize, meltdown: bool| {
        pool += publish_phase(&test.js, &subject, published, lines, meltdown, at).await;
        published += lines;
        published
    };

    // Before the meltdown: once half of the quiet lines are stored.
    let quiet = phase(3_000, false).await;
    reach(&db.url, quiet / 2, "half the quiet lines");
    tokio::task::block_in_place(|| fleet.kill_one());

    // Inside the merge, as soon as the meltdown opened its incident: the next update (or the
    // resolve) waits there, after its windows and its turn.
    phase(2_000, true).await;
    let mut row = Holder::open_row(&db.url, &fingerprint).await;
    phase(2_000, true).await;
    row.wait_for_a_writer().await;
    tokio::task::block_in_place(|| fleet.kill_all());
    row.release().await;

    // Quiet again, until what the killed batches held came back.
    let quiet = phase(3_000, false).await;
    reach(&db.url, quiet - 1_500, "the lines the killed batches held");

    // Between a batch's windows and its incident's merge: the meltdown comes back.
    let mut turn = Holder::turn(&db.url, &fingerprint).await;
    phase(2_000, true).await;
    turn.wait_for_a_writer().await;
    tokio::task::block_in_place(|| fleet.kill_all());
    turn.release().await;

    // After the meltdown.
    let quiet = phase(3_000, false).await;
    reach(&db.url, quiet - 1_500, "half the last quiet lines");
    tokio::task::block_in_place(|| fleet.kill_one());

    let total = published as u64;
    let stored = tokio::task::block_in_place(|| {
        let stored = wait_for_lines(&db.url, total, SCALE_PATIENCE);
        fleet.stop();
        stored
    });
    assert_eq!(stored["lines_analyzed"], total, "every line once: {stored}");
    let after = tokio::task::block_in_place(|| stats(&db.url));
    assert_eq!(after["lines_analyzed"], total, "and no more: {after}");

    let listed = run(&["incidents", "--db", &db.url, "--json"], b"");
    let incidents: Vec<Value> = serde_json::from_slice(&listed.stdout).unwrap();
    let pool_counted: u64 = incidents
        .iter()
        .flat_map(|i| i["templates"].as_array().unwrap())
        .filter(|t| t["template"] == POOL_LINE)
        .map(|t| t["count"].as_u64().unwrap())
        .sum();
    assert!(
        pool_counted <= pool as u64,
        "{pool_counted} pool lines counted of {pool} published: {incidents:#?}"
    );
    // An instance started after a kill learns the meltdown afresh, so how much of it the
    // incident counts varies; that it counts some is what makes the bound above a test.
    let root = incidents
        .iter()
        .find(|i| i["fingerprint"] == fingerprint.as_str())
        .unwrap_or_else(|| panic!("the meltdown's incident: {incidents:#?}"));
    assert!(
        root["lines"].as_u64() > Some(0),
        "the incident counts the meltdown: {root:#?}"
    );
    // And each incident counts exactly the windows folded into it, and their lines: none
    // twice after a kill between a merge and its windows, none lost.
    let mut by_incidents: std::collections::BTreeMap<String, (u64, u64)> = Default::default();
    for incident in &incidents {
        let counts = by_incidents
            .entry(incident["fingerprint"].as_str().unwrap().to_owned())
            .or_default();
        counts.0 += incident["windows"].as_u64().unwrap();
        counts.1 += incident["lines"].as_u64().unwrap();
    }
    assert_eq!(
        by_incidents,
        folded_windows(&db.url).await,
        "{incidents:#?}"
    );
    test.delete().await;
}

/// Per incident fingerprint, the stored windows folded into it and the lines they added.
async fn folded_windows(url: &str) -> std::collections::BTreeMap<String, (u64, u64)> {
    use sqlx::Connection;
    let mut session = sqlx::PgConnection::connect(url).await.unwrap();
    let rows: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT incident, COUNT(*), CAST(SUM(incident_lines) AS BIGINT) FROM windows
         WHERE incident IS NOT NULL GROUP BY incident",
    )
    .fetch_all(&mut session)
    .await
    .unwrap();
    rows.into_iter()
        .map(|(fingerprint, windows, lines)| (fingerprint, (windows as u64, lines as u64)))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn nats_postgres_kills_at_every_point_lose_no_line_and_count_none_twice() {
    every_line_once_through_kills_at_every_point(chrono::Duration::zero()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn nats_postgres_kills_at_every_point_keep_months_old_lines_once() {
    every_line_once_through_kills_at_every_point(chrono::Duration::days(120)).await;
}

/// Request `request`'s lines: each names its request and its place in it.
fn gateway_request(request: usize, lines: usize) -> String {
    (0..lines)
        .map(|i| {
            let line = json!({"service": "checkout", "level": "INFO",
                              "message": format!("request {request} line {i}")});
            format!("{line}\n")
        })
        .collect()
}

/// A gateway SIGKILLed while a shipper POSTs to it: every line of every request it answered
/// 202 is on the stream exactly once, and of the request it died in, no line twice.
#[tokio::test(flavor = "multi_thread")]
async fn nats_a_gateway_killed_mid_request_keeps_every_line_it_accepted() {
    // 20 messages a request.
    const LINES: usize = 20_000;
    let stream = unique("ICGWKILL");
    let prefix = unique("icgwkill");
    let subject = format!("{prefix}.>");
    let js = jetstream().await;
    let url = nats_url();
    let args = gateway_args(&url, &stream, &subject);
    let gateway = tokio::task::block_in_place(|| Server::start(&args, &[]));
    let ingest = gateway.url("/api/logs");
    let (tx, statuses) = std::sync::mpsc::channel();
    let shipper = std::thread::spawn(move || {
        for request in 0.. {
            let status = try_post(&ingest, &gateway_request(request, LINES));
            if tx.send((request, status)).is_err() || status != Some(202) {
                return;
            }
        }
    });
    let mut answered = Vec::new();
    for _ in 0..2 {
        let (request, status) =
            tokio::task::block_in_place(|| statuses.recv_timeout(PATIENCE)).expect("an answer");
        assert_eq!(status, Some(202), "request {request}");
        answered.push(request);
    }
    // Killed once the third request is partly on the stream.
    let on_stream = || async {
        let mut info = js.get_stream(&stream).await.unwrap();
        info.info().await.unwrap().state.messages
    };
    let deadline = std::time::Instant::now() + PATIENCE;
    while on_stream().await <= 2 * LINES.div_ceil(1000) as u64 {
        assert!(std::time::Instant::now() < deadline, "the third request");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    gateway.kill();
    let died_in = tokio::task::block_in_place(|| {
        loop {
            let (request, status) = statuses.recv_timeout(PATIENCE).expect("an end");
            match status {
                Some(202) => answered.push(request),
                None => break request,
                Some(other) => panic!("request {request} answered {other}"),
            }
        }
    });
    shipper.join().unwrap();
    // Another gateway takes the next request.
    let next = died_in + 1;
    tokio::task::block_in_place(|| {
        let again = Server::start(&args, &[]);
        assert_eq!(
            try_post(&again.url("/api/logs"), &gateway_request(next, LINES)),
            Some(202)
        );
    });
    answered.push(next);

    let expected = (answered.len() + 1) * LINES.div_ceil(1000);
    let messages = drain(&js, &stream, expected).await;
    js.delete_stream(&stream).await.unwrap();
    let mut seen: std::collections::HashMap<(usize, usize), usize> = Default::default();
    for (_, _, lines) in &messages {
        for line in lines {
            let text = line["message"].as_str().unwrap();
            let mut words = text.split(' ');
            let request: usize = words.nth(1).unwrap().parse().unwrap();
            let i: usize = words.nth(1).unwrap().parse().unwrap();
            *seen.entry((request, i)).or_default() += 1;
        }
    }
    for &request in &answered {
        for i in 0..LINES {
            assert_eq!(
                seen.get(&(request, i)),
                Some(&1),
                "line {i} of accepted request {request}"
            );
        }
    }
    let partial = (0..LINES)
        .filter(|i| seen.contains_key(&(died_in, *i)))
        .count();
    assert!(
        seen.iter().all(
            |(&(request, _), &n)| n == 1 && (answered.contains(&request) || request == died_in)
        ),
        "no line twice, none of a request never sent"
    );
    eprintln!("of the request the gateway died in, {partial} of {LINES} lines reached the stream");
}

#[tokio::test(flavor = "multi_thread")]
async fn nats_a_backlog_of_large_messages_is_taken_in_bounded_memory() {
    // 400 MB waiting in the stream, in messages as large as the server takes by default (1 MiB),
    // each one line: the shape that holds the most bytes per event on its way through.
    const MESSAGES: usize = 400;
    const PEAK_MIB: u64 = 512;
    let test = TestStream::create("icbig").await;
    let line = format!("ERROR {}", "y".repeat(999_000));
    let subject = format!("{}.app", test.prefix);
    let mut acks = Vec::new();
    for _ in 0..MESSAGES {
        let ack = test.js.publish(subject.clone(), line.clone().into()).await;
        acks.push(ack.unwrap());
    }
    for ack in acks {
        ack.await.unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("big.db").display());
    let args = test.source_args(&db);
    let (totals, peak) = tokio::task::block_in_place(|| {
        let mut instance = Server::start(&args, &[]);
        let _reports = instance.stdout_lines();
        let totals = wait_for_lines(&db, MESSAGES as u64, PATIENCE);
        let peak = common::peak_rss_mib(instance.pid());
        let (status, _) = instance.terminate();
        assert!(status.success());
        (totals, peak)
    });
    assert_eq!(totals["lines_analyzed"], MESSAGES as u64, "{totals}");
    assert!(peak < PEAK_MIB, "peak resident memory {peak} MiB");
    test.delete().await;
}
