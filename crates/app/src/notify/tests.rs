//! The notifier against fake receivers on port-0 listeners. Tests wait on the channel each fake
//! feeds, never on a sleep; backoffs are a few milliseconds.

use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ic_core::incident::{IncidentEvent, Transition};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::time::Instant;

use super::testing::event;
use super::*;
use crate::testing::{Received, Reply, fake_receiver};

/// Generous: only reached when something is broken.
const PATIENCE: Duration = Duration::from_secs(10);

fn config() -> NotifierConfig {
    NotifierConfig {
        queue_capacity: 16,
        max_attempts: 3,
        min_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(5),
        max_retry_after: Duration::from_secs(60),
        max_in_flight: 8,
    }
}

fn target(flag: &str) -> WebhookTarget {
    flag.parse().unwrap()
}

async fn next_request(requests: &mut UnboundedReceiver<Received>) -> Received {
    tokio::time::timeout(PATIENCE, requests.recv())
        .await
        .expect("a request within the patience")
        .expect("the fake receiver is running")
}

/// Events told apart by their `reopened` count.
fn numbered(n: u32) -> IncidentEvent {
    let mut event = event(Transition::Opened);
    event.incident.reopened = n;
    event
}

fn soon() -> Instant {
    Instant::now() + PATIENCE
}

#[tokio::test]
async fn updates_and_grouped_incidents_are_not_sent() {
    let (url, mut requests) = fake_receiver(|_| Reply::Status(200)).await;
    let notifier = Notifier::start_with(vec![target(&format!("{url}/hook"))], config()).unwrap();

    notifier.notify(&event(Transition::Updated));
    let mut grouped = event(Transition::Escalated);
    grouped.incident.parent = Some("20260101-000100-000000".to_owned());
    notifier.notify(&grouped);
    notifier.notify(&event(Transition::Resolved));

    let first = next_request(&mut requests).await;
    assert_eq!(first.path, "/hook");
    assert_eq!(
        first.body["event"], "resolved",
        "the first request is the resolve"
    );
    let stats = notifier.shutdown(soon()).await;
    assert_eq!(stats[0].1.delivered, 1);
    assert!(requests.try_recv().is_err());
}

#[tokio::test]
async fn each_format_reaches_its_target() {
    let (generic, mut generic_requests) = fake_receiver(|_| Reply::Status(200)).await;
    let (slack, mut slack_requests) = fake_receiver(|_| Reply::Status(200)).await;
    let (pd, mut pd_requests) = fake_receiver(|_| Reply::Status(202)).await;
    let targets = vec![
        target(&format!("{generic}/g")),
        target(&format!("slack:{slack}/services/T/B/X")),
        target(&format!("pagerduty:{pd}/v2/enqueue?routing_key=RKEY")),
    ];
    let notifier = Notifier::start_with(targets, config()).unwrap();
    notifier.notify(&event(Transition::Opened));

    assert_eq!(
        next_request(&mut generic_requests).await.body["event"],
        "opened"
    );
    assert!(next_request(&mut slack_requests).await.body["blocks"].is_array());
    let pd = next_request(&mut pd_requests).await;
    assert_eq!(pd.path, "/v2/enqueue", "the routing key is not in the URL");
    assert_eq!(pd.body["routing_key"], "RKEY");
    assert_eq!(pd.body["event_action"], "trigger");
    assert_eq!(pd.body["dedup_key"], "9f2c41d07a1b3e55");

    let stats = notifier.shutdown(soon()).await;
    assert!(
        stats.iter().all(|(_, stats)| stats.delivered == 1),
        "{stats:?}"
    );
}

/// A target from a `[[webhooks]]` table with this `match`.
fn routed(url: &str, route: &str) -> WebhookTarget {
    let table: WebhookConfig =
        toml::from_str(&format!("url = \"{url}\"\nmatch = {route}")).unwrap();
    table.validate().unwrap()
}

#[tokio::test]
async fn each_target_is_told_what_its_route_selects() {
    let (pager, mut pager_requests) = fake_receiver(|_| Reply::Status(200)).await;
    let (chat, mut chat_requests) = fake_receiver(|_| Reply::Status(200)).await;
    let targets = vec![
        routed(
            &format!("{pager}/pager"),
            r#"{ service = "inventory-*", min_severity = "critical" }"#,
        ),
        routed(&format!("{chat}/chat"), r#"{ grouped = true }"#),
    ];
    let notifier = Notifier::start_with(targets, config()).unwrap();
    let mut warning = event(Transition::Opened);
    warning.incident.severity = ic_core::Severity::Warning;
    warning.incident.reopened = 1;
    notifier.notify(&warning);
    let mut child = event(Transition::Opened);
    child.incident.parent = Some("20260101-000100-000000".to_owned());
    child.incident.reopened = 2;
    notifier.notify(&child);
    let mut elsewhere = event(Transition::Opened);
    elsewhere.incident.root_cause.service = "orders".to_owned();
    elsewhere.incident.reopened = 3;
    notifier.notify(&elsewhere);
    let critical = numbered(4);
    notifier.notify(&critical);

    // The pager hears only of the Critical inventory incident without a parent.
    let paged = next_request(&mut pager_requests).await;
    assert_eq!(paged.path, "/pager");
    assert_eq!(paged.body["incident"]["reopened"], 4);
    // The chat hears of all four, the grouped one included, in order.
    for n in 1..=4 {
        assert_eq!(
            next_request(&mut chat_requests).await.body["incident"]["reopened"],
            n
        );
    }
    let stats = notifier.shutdown(soon()).await;
    assert_eq!(stats[0].1.delivered, 1);
    assert_eq!(stats[1].1.delivered, 4);
    assert!(pager_requests.try_recv().is_err());
}

#[tokio::test]
async fn server_errors_are_retried_until_delivered_once() {
    let (url, mut requests) = fake_receiver(|n| Reply::Status(if n < 2 { 500 } else { 200 })).await;
    let notifier = Notifier::start_with(vec![target(&format!("{url}/hook"))], config()).unwrap();
    notifier.notify(&event(Transition::Escalated));

    for _ in 0..3 {
        assert_eq!(next_request(&mut requests).await.body["event"], "escalated");
    }
    let stats = notifier.shutdown(soon()).await;
    let expected = TargetStats {
        delivered: 1,
        retried: 2,
        failed: 0,
        dropped: 0,
    };
    assert_eq!(stats[0].1, expected);
    assert!(requests.try_recv().is_err(), "delivered once");
}

#[tokio::test]
async fn client_errors_are_not_retried_and_attempts_are_bounded() {
    let (refusing, mut refused) = fake_receiver(|_| Reply::Status(404)).await;
    let (failing, mut failed) = fake_receiver(|_| Reply::Status(503)).await;
    let targets = vec![
        target(&format!("{refusing}/hook")),
        target(&format!("{failing}/hook")),
    ];
    let notifier = Notifier::start_with(targets, config()).unwrap();
    notifier.notify(&event(Transition::Opened));

    next_request(&mut refused).await;
    for _ in 0..3 {
        next_request(&mut failed).await;
    }
    let stats = notifier.shutdown(soon()).await;
    assert_eq!((stats[0].1.failed, stats[0].1.retried), (1, 0));
    assert_eq!((stats[1].1.failed, stats[1].1.retried), (1, 2));
    assert!(refused.try_recv().is_err() && failed.try_recv().is_err());
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let (url, mut requests) = fake_receiver(|n| {
        if n == 0 {
            Reply::RetryAfter(429, 0)
        } else {
            Reply::Status(200)
        }
    })
    .await;
    // Without the header, the retry would wait a minute and the test would time out.
    let config = NotifierConfig {
        min_backoff: Duration::from_secs(60),
        max_backoff: Duration::from_secs(60),
        ..config()
    };
    let notifier = Notifier::start_with(vec![target(&format!("{url}/hook"))], config).unwrap();
    notifier.notify(&event(Transition::Opened));
    next_request(&mut requests).await;
    next_request(&mut requests).await;
    let stats = notifier.shutdown(soon()).await;
    assert_eq!((stats[0].1.delivered, stats[0].1.retried), (1, 1));
}

#[tokio::test]
async fn a_hanging_target_times_out_without_delaying_the_others() {
    let (hanging, mut hung) = fake_receiver(|_| Reply::Hang).await;
    let (healthy, mut served) = fake_receiver(|_| Reply::Status(200)).await;
    let timeout = Duration::from_millis(500);
    let targets = vec![
        target(&format!("{hanging}/hook"))
            .with_timeout(timeout)
            .unwrap(),
        target(&format!("{healthy}/hook")),
    ];
    // Room for every event: the loop below does not let the workers run.
    let config = NotifierConfig {
        max_attempts: 2,
        queue_capacity: 64,
        ..config()
    };
    let notifier = Notifier::start_with(targets, config).unwrap();

    let start = Instant::now();
    notifier.notify(&event(Transition::Opened));
    let first_hung = next_request(&mut hung).await;
    for n in 0..50 {
        notifier.notify(&numbered(n));
    }
    assert!(start.elapsed() < timeout / 5, "notify returns at once");

    assert_eq!(next_request(&mut served).await.body["event"], "opened");
    assert!(
        start.elapsed() < timeout,
        "the healthy target got its event before the hanging one timed out"
    );
    assert_eq!(first_hung.body["event"], "opened");
    // The retry after the first attempt timed out.
    next_request(&mut hung).await;
    assert!(start.elapsed() >= timeout);

    // The hanging target's other events are abandoned at the deadline.
    let stats = notifier.shutdown(Instant::now() + timeout / 10).await;
    assert_eq!(stats[1].1.delivered, 51);
    let hung_stats = stats[0].1;
    assert_eq!(hung_stats.delivered, 0);
    assert!(hung_stats.retried >= 1, "{hung_stats:?}");
    assert_eq!(hung_stats.failed + hung_stats.dropped, 51, "{hung_stats:?}");
}

#[tokio::test]
async fn a_full_queue_drops_the_oldest_event() {
    let gate = Arc::new(tokio::sync::Notify::new());
    let first = Arc::clone(&gate);
    let (url, mut requests) = fake_receiver(move |n| {
        if n == 0 {
            Reply::After(Arc::clone(&first))
        } else {
            Reply::Status(200)
        }
    })
    .await;
    let config = NotifierConfig {
        queue_capacity: 2,
        ..config()
    };
    let notifier = Notifier::start_with(vec![target(&format!("{url}/hook"))], config).unwrap();

    notifier.notify(&numbered(1));
    // The worker holds event 1 in flight; 2 and 3 fill the queue and 4 pushes 2 out.
    assert_eq!(
        next_request(&mut requests).await.body["incident"]["reopened"],
        1
    );
    for n in 2..=4 {
        notifier.notify(&numbered(n));
    }
    assert_eq!(notifier.stats()[0].1.dropped, 1);

    gate.notify_one();
    for expected in [3, 4] {
        assert_eq!(
            next_request(&mut requests).await.body["incident"]["reopened"],
            expected
        );
    }
    let stats = notifier.shutdown(soon()).await;
    assert_eq!((stats[0].1.delivered, stats[0].1.dropped), (3, 1));
}

#[tokio::test]
async fn shutdown_delivers_what_is_queued() {
    let (url, mut requests) = fake_receiver(|_| Reply::Status(200)).await;
    let notifier = Notifier::start_with(vec![target(&format!("{url}/hook"))], config()).unwrap();
    for n in 0..5 {
        notifier.notify(&numbered(n));
    }
    let stats = notifier.shutdown(soon()).await;
    assert_eq!(stats[0].1.delivered, 5);
    for n in 0..5 {
        assert_eq!(
            next_request(&mut requests).await.body["incident"]["reopened"],
            n,
            "in order"
        );
    }
}

/// Our log lines, captured for one test.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn urls_never_appear_in_logs_debug_or_errors() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    // The test's runtime has one thread, so its tasks log through this subscriber.
    let _guard = tracing::subscriber::set_default(subscriber);

    // A port nobody listens on: bind one, then free it.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let closed_addr = closed.local_addr().unwrap();
    drop(closed);
    let (refusing, mut refused) = fake_receiver(|_| Reply::Status(403)).await;
    let (limited, mut limit) = fake_receiver(|_| Reply::Status(429)).await;
    let targets = vec![
        target(&format!("http://{closed_addr}/S3CRET-1")),
        target(&format!("slack:{refusing}/services/S3CRET-2")),
        target(&format!(
            "pagerduty:{limited}/S3CRET-3?routing_key=S3CRET-4"
        )),
    ];
    let mut shown = format!("{targets:?}");
    let notifier = Notifier::start_with(targets, config()).unwrap();
    shown.push_str(&format!("{notifier:?}"));
    notifier.notify(&event(Transition::Opened));
    next_request(&mut refused).await;
    for _ in 0..3 {
        next_request(&mut limit).await;
    }
    let stats = notifier.shutdown(soon()).await;
    assert!(
        stats.iter().all(|(_, stats)| stats.failed == 1),
        "{stats:?}"
    );

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    for label in [
        "webhook #1 (generic)",
        "webhook #2 (slack)",
        "webhook #3 (pagerduty)",
    ] {
        assert!(
            logs.contains(label),
            "{label} missing from the logs:\n{logs}"
        );
    }
    assert!(logs.contains("the request failed"), "{logs}");
    shown.push_str(&logs);
    assert!(!shown.contains("S3CRET"), "a secret leaked:\n{shown}");
}

#[tokio::test]
async fn no_targets_means_nothing_to_do() {
    let notifier = Notifier::start(Vec::new()).unwrap();
    notifier.notify(&event(Transition::Opened));
    assert!(notifier.shutdown(Instant::now()).await.is_empty());
}

#[test]
fn flags_win_over_the_file_and_errors_name_the_table() {
    let file: Vec<WebhookConfig> = toml::from_str::<toml::Table>(
        r#"
        [[webhooks]]
        url = "https://example.com/a"

        [[webhooks]]
        url = "https://example.com/S3CRET"
        timeout_secs = -1
        "#,
    )
    .unwrap()["webhooks"]
        .clone()
        .try_into()
        .unwrap();

    let flags = vec!["slack:https://hooks.slack.com/services/S3CRET".to_owned()];
    let from_flags = targets(&flags, &file).unwrap();
    assert_eq!(from_flags.len(), 1);
    assert_eq!(from_flags[0].format, WebhookFormat::Slack);

    let err = targets(&[], &file).unwrap_err();
    assert_eq!(
        err,
        WebhookSettingError::Table(WebhookTableError {
            index: 2,
            source: TargetError::InvalidTimeout,
        })
    );
    assert!(
        err.to_string()
            .starts_with("[[webhooks]] table 2 of the config file: ")
    );
    assert!(targets(&[], &file[..1]).unwrap().len() == 1);

    let err = targets(&["ftp://example.com/S3CRET".to_owned()], &[]).unwrap_err();
    assert!(err.to_string().starts_with("--webhook: "), "{err}");
    assert!(!err.to_string().contains("S3CRET"));
}
