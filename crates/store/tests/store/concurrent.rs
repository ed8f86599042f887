//! Two instances sharing one PostgreSQL database open incidents for the same fingerprint at
//! the same time: exactly one incident opens, and the other instance learns which to adopt.

use ic_core::Severity;
use ic_core::incident::Transition;
use ic_store::{SqlStore, Store, StoreError};

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
