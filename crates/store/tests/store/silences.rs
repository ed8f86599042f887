//! Silences on both backends: stored, listed, expired and bounded; and the notifications they
//! keep back, sent once when nothing mutes their incident any more.

use chrono::{DateTime, TimeDelta, Utc};
use ic_core::Severity;
use ic_core::incident::{Incident, Transition};
use ic_core::silence::{Silence, SilenceSpec};
use ic_store::{MAX_SILENCES, NoteEvent, SqlStore, Store, StoreError};

use crate::{TestDb, event, incident, t};

fn silence(id: &str, service: &str, starts_at: DateTime<Utc>, hours: i64) -> Silence {
    let spec: SilenceSpec = serde_json::from_value(serde_json::json!({
        "matchers": [{"name": "service", "value": service}],
        "startsAt": starts_at,
        "endsAt": starts_at + TimeDelta::hours(hours),
        "createdBy": "ana",
        "comment": "planned <b>upgrade</b>\u{0}",
    }))
    .unwrap();
    spec.into_silence(id.to_owned(), starts_at)
}

#[tokio::test]
async fn sqlite_silences_are_kept_listed_and_expired() {
    silences_are_kept_listed_and_expired(&TestDb::sqlite()).await;
}

#[tokio::test]
async fn postgres_silences_are_kept_listed_and_expired() {
    silences_are_kept_listed_and_expired(&TestDb::postgres().await).await;
}

async fn silences_are_kept_listed_and_expired(db: &TestDb) {
    let store = ic_store::open(&db.url).await.unwrap();
    let now = t(0);
    let active = silence("a", "db", now, 2);
    let window = silence("w", "api", now + TimeDelta::hours(1), 1);
    store.save_silence(&active, now).await.unwrap();
    store.save_silence(&window, now).await.unwrap();
    // A text with a NUL and markup reads back as it was given.
    assert_eq!(store.silence("a").await.unwrap(), active);
    let listed: Vec<String> = store
        .silences(Some(now))
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(listed, ["w", "a"], "the latest to start first");

    // Expiring ends it now and keeps it; a pending one ends before it starts.
    let at = now + TimeDelta::minutes(30);
    let expired = store.expire_silence("a", at).await.unwrap();
    assert_eq!((expired.terms.starts_at, expired.terms.ends_at), (now, at));
    let cancelled = store.expire_silence("w", at).await.unwrap();
    assert_eq!(
        (cancelled.terms.starts_at, cancelled.terms.ends_at),
        (at, at)
    );
    assert!(store.silences(Some(at)).await.unwrap().is_empty());
    assert_eq!(store.silences(None).await.unwrap().len(), 2);
    let again = store.expire_silence("a", at + TimeDelta::hours(1)).await;
    assert_eq!(
        again.unwrap().terms.ends_at,
        at,
        "expiring twice changes nothing"
    );
    assert!(matches!(
        store.expire_silence("nope", at).await,
        Err(StoreError::NoSilence { .. })
    ));

    // Replacing keeps the id; the retention deletes what ended long ago.
    let mut longer = silence("w", "api", at, 5);
    longer.terms.comment = "longer".into();
    store.save_silence(&longer, at).await.unwrap();
    assert_eq!(store.silence("w").await.unwrap().terms.comment, "longer");
    let retention = ic_store::Retention {
        max_age: std::time::Duration::from_secs(3600),
        ..Default::default()
    };
    let pruned = store
        .prune(&retention, at + TimeDelta::hours(2))
        .await
        .unwrap();
    assert_eq!(pruned.silences, 1);
    assert!(matches!(
        store.silence("a").await,
        Err(StoreError::NoSilence { .. })
    ));
    store.close().await;
}

#[tokio::test]
async fn sqlite_a_silence_this_version_cannot_read_leaves_the_others_honoured() {
    a_silence_this_version_cannot_read_leaves_the_others_honoured(&TestDb::sqlite()).await;
}

#[tokio::test]
async fn postgres_a_silence_this_version_cannot_read_leaves_the_others_honoured() {
    a_silence_this_version_cannot_read_leaves_the_others_honoured(&TestDb::postgres().await).await;
}

async fn a_silence_this_version_cannot_read_leaves_the_others_honoured(db: &TestDb) {
    let store = ic_store::open(&db.url).await.unwrap();
    let now = t(0);
    store
        .save_silence(&silence("known", "db", now, 2), now)
        .await
        .unwrap();
    store
        .save_silence(&silence("later", "api", now, 2), now)
        .await
        .unwrap();
    // A later version's matcher, as that version would have written it.
    sqlx::any::install_default_drivers();
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&db.url)
        .await
        .unwrap();
    let changed = sqlx::query(
        "UPDATE silences SET silence = replace(silence, '\"name\":\"service\"', '\"name\":\"host\"')
         WHERE id = 'later'",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    assert_eq!(changed.rows_affected(), 1);
    let listed: Vec<String> = store
        .silences(Some(now))
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(listed, ["known"]);
    assert!(matches!(
        store.silence("later").await,
        Err(StoreError::Corrupt { .. })
    ));
    store.close().await;
}

#[tokio::test]
async fn sqlite_silences_in_force_are_bounded() {
    let db = TestDb::sqlite();
    let store = ic_store::open(&db.url).await.unwrap();
    let now = t(0);
    for i in 0..MAX_SILENCES {
        store
            .save_silence(&silence(&format!("s{i}"), "db", now, 1), now)
            .await
            .unwrap();
    }
    let refused = store
        .save_silence(&silence("one-more", "db", now, 1), now)
        .await;
    assert!(matches!(refused, Err(StoreError::TooManySilences { .. })));
    assert!(store.silence("one-more").await.is_err(), "nothing written");
    // Once they expire there is room again.
    let later = now + TimeDelta::hours(1);
    store
        .save_silence(&silence("one-more", "db", later, 1), later)
        .await
        .unwrap();
    store.close().await;
}

#[tokio::test]
async fn sqlite_a_muted_notification_waits_and_is_sent_once_when_the_silence_ends() {
    held_notification_story(&TestDb::sqlite()).await;
}

#[tokio::test]
async fn postgres_a_muted_notification_waits_and_is_sent_once_when_the_silence_ends() {
    held_notification_story(&TestDb::postgres().await).await;
}

/// Mutes incidents of `db` while `on`.
fn muting(on: bool) -> impl Fn(&Incident) -> Vec<String> + Send + Sync {
    move |incident| {
        if on && incident.root_cause.service == "db" {
            vec!["s".to_owned()]
        } else {
            Vec::new()
        }
    }
}

async fn sent(store: &SqlStore, on: bool) -> Vec<(String, Transition, Severity)> {
    let taken = store
        .take_notifications(100, &muting(on), t(60))
        .await
        .unwrap();
    taken
        .send
        .iter()
        .map(|e| (e.incident.id.clone(), e.transition, e.incident.severity))
        .collect()
}

async fn held_notification_story(db: &TestDb) {
    let store = ic_store::open(&db.url).await.unwrap().notifying(true);
    let now = t(0);
    store
        .save_silence(&silence("s", "db", now, 1), now)
        .await
        .unwrap();
    let db_incident = incident("i-db", "f-db", "db", &[], Severity::Warning, now);
    let api = incident("i-api", "f-api", "api", &[], Severity::Warning, now);
    for incident in [&db_incident, &api] {
        store
            .merge(&ic_store::Contribution {
                event: &event(Transition::Opened, incident),
                since: None,
                max_templates: 20,
            })
            .await
            .unwrap();
    }
    // The muted one is kept back, the other sent; the silence has matched.
    assert_eq!(
        sent(&store, true).await,
        [("i-api".to_owned(), Transition::Opened, Severity::Warning)]
    );
    assert_eq!(store.silence("s").await.unwrap().matched_at, Some(t(60)));
    assert!(sent(&store, true).await.is_empty());
    assert!(
        store
            .release_held(&muting(true), t(61))
            .await
            .unwrap()
            .is_empty()
    );

    // It escalates while muted; when the silence ends, its receivers hear of it once, as the
    // opening they missed, at its severity by then.
    let mut worse = db_incident.clone();
    worse.severity = Severity::Critical;
    let stored = store.get("i-db").await.unwrap();
    store
        .merge(&ic_store::Contribution {
            event: &event(Transition::Escalated, &worse),
            since: Some(ic_store::Since {
                stored_id: "i-db",
                copy: &stored,
            }),
            max_templates: 20,
        })
        .await
        .unwrap();
    assert!(sent(&store, true).await.is_empty());
    let released = store.release_held(&muting(false), t(120)).await.unwrap();
    assert_eq!(released.len(), 1);
    assert_eq!(
        sent(&store, false).await,
        [("i-db".to_owned(), Transition::Opened, Severity::Critical)]
    );
    assert!(
        store
            .release_held(&muting(false), t(121))
            .await
            .unwrap()
            .is_empty()
    );

    let notes: Vec<(NoteEvent, String)> = store
        .notes("i-db")
        .await
        .unwrap()
        .into_iter()
        .map(|n| (n.event, n.detail))
        .collect();
    assert_eq!(
        notes,
        [
            (
                NoteEvent::Silenced,
                "opened held back by silence s".to_owned()
            ),
            (
                NoteEvent::Silenced,
                "escalated held back by silence s".to_owned()
            ),
            (
                NoteEvent::Unsilenced,
                "notifying the opened held back".to_owned()
            ),
        ]
    );
    assert!(store.notes("i-api").await.unwrap().is_empty());

    // Heard of: its resolve is sent even under a silence, so the page upstream closes.
    store.resolve("i-db", t(200), None).await.unwrap();
    assert_eq!(
        sent(&store, true).await,
        [("i-db".to_owned(), Transition::Resolved, Severity::Critical)]
    );
    // Each transition keeps the severity it was made at, for the timeline's escalation.
    let severities: Vec<(Transition, Option<Severity>)> = store
        .transitions("i-db")
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.transition, r.severity))
        .collect();
    assert_eq!(
        severities,
        [
            (Transition::Opened, Some(Severity::Warning)),
            (Transition::Escalated, Some(Severity::Critical)),
            (Transition::Resolved, Some(Severity::Critical)),
        ]
    );
    store.close().await;
}

#[tokio::test]
async fn sqlite_an_incident_that_resolves_unheard_of_is_never_sent() {
    let db = TestDb::sqlite();
    let store = ic_store::open(&db.url).await.unwrap().notifying(true);
    let now = t(0);
    let db_incident = incident("i-db", "f-db", "db", &[], Severity::Critical, now);
    store
        .merge(&ic_store::Contribution {
            event: &event(Transition::Opened, &db_incident),
            since: None,
            max_templates: 20,
        })
        .await
        .unwrap();
    assert!(sent(&store, true).await.is_empty());
    store.resolve("i-db", t(30), None).await.unwrap();
    assert!(sent(&store, false).await.is_empty(), "nor its resolve");
    assert!(
        store
            .release_held(&muting(false), t(40))
            .await
            .unwrap()
            .is_empty()
    );
    store.close().await;
}
