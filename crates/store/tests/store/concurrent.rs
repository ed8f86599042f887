//! Two instances sharing one PostgreSQL database at the same time: opening incidents for the
//! same fingerprint, exactly one incident opens and the other instance learns which to adopt;
//! recording windows that hold the same stream message, its events are counted once.

use ic_core::Severity;
use ic_core::incident::Transition;
use ic_store::{Consumed, SqlStore, Store, StoreError};
use sqlx::Connection;

use crate::{TestDb, event, incident, t};

const ROUNDS: i64 = 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_concurrent_opens_keep_one_open_incident() {
    let db = TestDb::postgres().await;
    // Two pools, as two processes would have; they also migrate at the same time.
    let (left, right) = tokio::join!(ic_store::open(&db.url), ic_store::open(&db.url));
    let (left, right) = (left.expect("open left"), right.expect("open right"));

    for round in 0..ROUNDS {
        let fingerprint = format!("fp-{round}");
        let left_save = tokio::spawn(open_incident(left.clone(), round, "left"));
        let right_save = tokio::spawn(open_incident(right.clone(), round, "right"));
        let results = [
            left_save.await.expect("left task"),
            right_save.await.expect("right task"),
        ];

        let winners: Vec<&String> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
        assert_eq!(winners.len(), 1, "round {round}: {results:?}");
        let loser = results
            .iter()
            .find_map(|r| r.as_ref().err())
            .expect("one save failed");
        match loser {
            StoreError::DuplicateOpen {
                fingerprint: fp, ..
            } => assert_eq!(fp, &fingerprint),
            other => panic!("round {round}: expected DuplicateOpen, got {other:?}"),
        }
        // Whichever lost adopts the winner, seen the same from both pools.
        for store in [&left, &right] {
            let open = store
                .open_by_fingerprint(&fingerprint)
                .await
                .expect("look up")
                .expect("one incident is open");
            assert_eq!(&open.id, winners[0]);
        }
    }
    left.close().await;
    right.close().await;
}

/// Saves an opened incident for the round's fingerprint; its id when it was stored.
async fn open_incident(store: SqlStore, round: i64, side: &str) -> Result<String, StoreError> {
    let incident = incident(
        &format!("{round}-{side}"),
        &format!("fp-{round}"),
        "inventory-db",
        &[],
        Severity::Critical,
        t(round),
    );
    store.save(&event(Transition::Opened, &incident)).await?;
    Ok(incident.id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_windows_recorded_at_once_count_a_message_once() {
    let db = TestDb::postgres().await;
    // The second instance's connections are named, to see them wait.
    let name = format!("ic_wait_{}", std::process::id());
    let second_url = format!("{}&application_name={name}", db.url);
    let first = ic_store::open(&db.url).await.expect("open first");
    let second = ic_store::open(&second_url).await.expect("open second");
    let message = |events| Consumed {
        stream: "LOGS".into(),
        seq: 1,
        first: 0,
        events,
        window: 1,
    };
    let window = |events| ic_core::testing::report(1, t(0), events);
    // An instance that died had counted four of the message's ten events.
    first
        .record_windows("dead", &[&window(4)], &[message(4)])
        .await
        .unwrap();

    // The first to get it again has recorded the ten and not committed yet…
    let mut batch = first.begin(&[]).await.unwrap();
    batch
        .record_windows("first", &[&window(10)], &[message(10)])
        .await
        .unwrap();
    // …when the second records them too: it waits for the first to end.
    let recording = tokio::spawn(async move {
        second
            .record_windows("second", &[&window(10)], &[message(10)])
            .await
            .map(|()| second)
    });
    let mut watcher = sqlx::PgConnection::connect(&db.url).await.unwrap();
    loop {
        assert!(
            !recording.is_finished(),
            "the second recording went ahead while the first held the message"
        );
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity
             WHERE application_name = $1 AND wait_event_type = 'Lock'",
        )
        .bind(&name)
        .fetch_one(&mut watcher)
        .await
        .unwrap();
        if waiting > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    batch.commit().await.unwrap();
    let second = recording.await.unwrap().expect("the second recording");

    let totals = second.totals().await.unwrap();
    assert_eq!((totals.windows, totals.lines_analyzed), (3, 10));
    assert_eq!(second.consumed("LOGS", 1).await.unwrap(), 10);
    watcher.close().await.unwrap();
    first.close().await;
    second.close().await;
}
