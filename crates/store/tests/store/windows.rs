//! Windows recorded by several instances, and the totals across them.

use chrono::{TimeDelta, Utc};
use ic_core::Severity;
use ic_core::report::Report;
use ic_store::{Consumed, Pruned, Retention, Store, Totals};

use crate::{DAY, TestDb, incident, t};

#[tokio::test]
async fn sqlite_windows_and_totals() {
    let db = TestDb::sqlite();
    let store = ic_store::open(&db.url).await.expect("open SQLite");
    windows_and_totals(&store).await;
}

#[tokio::test]
async fn postgres_windows_and_totals() {
    let db = TestDb::postgres().await;
    let store = ic_store::open(&db.url).await.expect("open PostgreSQL");
    windows_and_totals(&store).await;
    store.close().await;
}

/// Events `first..first + events` of message `seq` of the stream LOGS, held by window `window`.
fn run(seq: u64, first: u64, events: u64, window: u64) -> Consumed {
    Consumed {
        stream: "LOGS".into(),
        seq,
        first,
        events,
        window,
    }
}

fn report(seq: u64, log_count: u32, end: i64) -> Report {
    let mut report = ic_core::testing::report(seq, t(end), log_count);
    report.title = format!("window {seq}");
    report.window.start = t(end - 5);
    report
}

async fn windows_and_totals(store: &dyn Store) {
    assert_eq!(store.totals().await.unwrap(), Totals::default());

    // Two instances number their windows from 1: both are kept. 250 windows span three
    // statements.
    let a: Vec<Report> = (1..=250).map(|seq| report(seq, 100, 10)).collect();
    let b = [report(1, 7, 10), report(2, 3, 10)];
    store
        .record_windows("a", &a.iter().collect::<Vec<_>>(), &[])
        .await
        .unwrap();
    // Stream messages are counted with the windows that hold their events; a message split
    // over two recordings adds up.
    store
        .record_windows("b", &[&b[0]], &[run(41, 0, 5, 1), run(42, 0, 2, 1)])
        .await
        .unwrap();
    store
        .record_windows("b", &[&b[1]], &[run(42, 2, 3, 2)])
        .await
        .unwrap();
    assert_eq!(store.consumed("LOGS", 41).await.unwrap(), 5);
    assert_eq!(store.consumed("LOGS", 42).await.unwrap(), 5);
    assert_eq!(store.consumed("LOGS", 43).await.unwrap(), 0);
    assert_eq!(store.consumed("OTHER", 41).await.unwrap(), 0);
    // A file's runs are numbered by offset: what is stored from one on.
    assert_eq!(store.consumed_from("LOGS", 41).await.unwrap(), 10);
    assert_eq!(store.consumed_from("LOGS", 42).await.unwrap(), 5);
    assert_eq!(store.consumed_from("LOGS", 43).await.unwrap(), 0);

    // An LLM's revision of a report rewrites its window, never adds one.
    let mut revised = b[1].clone();
    revised.severity = Severity::Critical;
    revised.analyzer = "openai:m".into();
    store.record_windows("b", &[&revised], &[]).await.unwrap();

    let open = incident("i1", "f1", "inventory-db", &[], Severity::Critical, t(0));
    store
        .save(&crate::event(ic_core::incident::Transition::Opened, &open))
        .await
        .unwrap();
    let totals = store.totals().await.unwrap();
    assert_eq!(
        totals,
        Totals {
            lines_analyzed: 250 * 100 + 7 + 3,
            windows: 252,
            open_incidents: 1,
            resolved_incidents: 0,
        }
    );

    // Retention counts from when a window was stored, not from when its lines were written:
    // a window of lines three months old, stored just now, stays.
    let old = report(3, 5, -90 * DAY);
    store.record_windows("b", &[&old], &[]).await.unwrap();
    let pruned = store
        .prune(&Retention::default(), Utc::now())
        .await
        .unwrap();
    assert_eq!(pruned, Pruned::default());
    assert_eq!(store.totals().await.unwrap().windows, 253);
    // A month after they were stored, every window goes, with its messages' counts.
    let pruned = store
        .prune(&Retention::default(), Utc::now() + TimeDelta::days(31))
        .await
        .unwrap();
    assert_eq!((pruned.windows, pruned.incidents), (253, 0));
    assert!(pruned.consumed > 0);
    let totals = store.totals().await.unwrap();
    assert_eq!((totals.windows, totals.lines_analyzed), (0, 0));
}

#[tokio::test]
async fn sqlite_a_message_two_instances_took_is_counted_once() {
    let db = TestDb::sqlite();
    let store = ic_store::open(&db.url).await.expect("open SQLite");
    a_message_two_instances_took_is_counted_once(&store).await;
}

#[tokio::test]
async fn postgres_a_message_two_instances_took_is_counted_once() {
    let db = TestDb::postgres().await;
    let store = ic_store::open(&db.url).await.expect("open PostgreSQL");
    a_message_two_instances_took_is_counted_once(&store).await;
    store.close().await;
}

/// A message delivered to a second instance while the first still held it: both analyze
/// its ten events, and whichever stores second counts only what the first did not.
async fn a_message_two_instances_took_is_counted_once(store: &dyn Store) {
    // The first stores all ten in one window.
    store
        .record_windows("a", &[&report(1, 10, 0)], &[run(7, 0, 10, 1)])
        .await
        .unwrap();
    // The second split them over two windows, the first of which also holds two events of
    // a message nobody else had.
    let (one, two) = (report(1, 6, 0), report(2, 6, 5));
    store
        .record_windows("b", &[&one], &[run(8, 0, 2, 1), run(7, 0, 4, 1)])
        .await
        .unwrap();
    store
        .record_windows("b", &[&two], &[run(7, 4, 6, 2)])
        .await
        .unwrap();
    assert_eq!(store.totals().await.unwrap().lines_analyzed, 10 + 2);
    assert_eq!(store.consumed("LOGS", 7).await.unwrap(), 10);
    assert_eq!(store.consumed("LOGS", 8).await.unwrap(), 2);

    // The other way round: a first instance stored part, a second all, then the first the
    // rest; of the twenty events each is counted once.
    store
        .record_windows("c", &[&report(1, 5, 0)], &[run(9, 0, 5, 1)])
        .await
        .unwrap();
    store
        .record_windows("d", &[&report(1, 20, 0)], &[run(9, 0, 20, 1)])
        .await
        .unwrap();
    store
        .record_windows("c", &[&report(2, 15, 5)], &[run(9, 5, 15, 2)])
        .await
        .unwrap();
    assert_eq!(store.totals().await.unwrap().lines_analyzed, 12 + 20);
    assert_eq!(store.consumed("LOGS", 9).await.unwrap(), 20);
}
