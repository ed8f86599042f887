//! One story through every method of the store, told once and run on each backend; and how
//! `open` answers URLs it cannot use.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use ic_core::Severity;
use ic_core::incident::{Incident, IncidentStatus, Transition};
use ic_store::{
    Backend, IncidentFilter, NoteEvent, Pruned, Retention, Store, StoreError, TransitionRecord,
};

use crate::{DAY, TestDb, event, incident, t};

#[tokio::test]
async fn sqlite_story() {
    let db = TestDb::sqlite();
    let store = ic_store::open(&db.url).await.expect("open SQLite");
    assert_eq!(store.backend(), Backend::Sqlite);
    story(&store).await;
    store.close().await;
    // Reopening runs the migrations again, which finds nothing to do.
    let store = ic_store::open(&db.url).await.expect("reopen SQLite");
    assert_eq!(ids(&store, &IncidentFilter::default()).await, ["d"]);
}

#[tokio::test]
async fn sqlite_in_memory_story() {
    let store = ic_store::open("sqlite::memory:").await.expect("open");
    story(&store).await;
}

#[tokio::test]
async fn postgres_story() {
    let db = TestDb::postgres().await;
    let store = ic_store::open(&db.url).await.expect("open PostgreSQL");
    assert_eq!(store.backend(), Backend::Postgres);
    story(&store).await;
    store.close().await;
}

#[tokio::test]
async fn sqlite_text_with_nul() {
    let db = TestDb::sqlite();
    let store = ic_store::open(&db.url).await.expect("open SQLite");
    text_with_nul(&store).await;
}

#[tokio::test]
async fn postgres_text_with_nul() {
    let db = TestDb::postgres().await;
    let store = ic_store::open(&db.url).await.expect("open PostgreSQL");
    text_with_nul(&store).await;
    store.close().await;
}

/// Log-derived text may hold U+0000, which PostgreSQL's `text` refuses: such an incident is
/// stored, found by its services and read back as it was, the same on both backends.
async fn text_with_nul(store: &dyn Store) {
    let root = "db\0proxy";
    let also = "api\0";
    let stored = incident("n", "fp-nul", root, &[also], Severity::Critical, t(0));
    save(store, Transition::Opened, &stored).await;
    for service in [root, also] {
        let filter = IncidentFilter {
            service: Some(service.to_owned()),
            ..IncidentFilter::default()
        };
        assert_eq!(ids(store, &filter).await, ["n"], "found by {service:?}");
    }
    let read = store.get("n").await.expect("read back");
    assert_eq!(read.root_cause.service, root);
    assert_eq!(read.impacted_services, [root, also]);
    assert_eq!(
        read.templates[0].first_lines,
        stored.templates[0].first_lines
    );
}

async fn story(store: &dyn Store) {
    store.ping().await.expect("ping");

    // A opens as a warning, grows, then escalates; the update is stored, not recorded.
    let mut a = incident(
        "a",
        "fp-a",
        "inventory-db",
        &["checkout"],
        Severity::Warning,
        t(0),
    );
    save(store, Transition::Opened, &a).await;
    assert_eq!(store.get("a").await.unwrap(), a);
    a.windows += 1;
    a.lines += 50;
    a.last_seen = t(20);
    save(store, Transition::Updated, &a).await;
    a.severity = Severity::Critical;
    a.last_seen = t(30);
    save(store, Transition::Escalated, &a).await;
    assert_eq!(store.get("a").await.unwrap(), a);
    assert_eq!(
        transitions(store, "a").await,
        [
            (Transition::Opened, a.opened_at),
            (Transition::Escalated, t(30))
        ]
    );

    // B resolves, comes back, resolves again.
    let mut b = incident("b", "fp-b", "payments", &[], Severity::Warning, t(60));
    save(store, Transition::Opened, &b).await;
    resolved(&mut b, t(190));
    save(store, Transition::Resolved, &b).await;
    b.status = IncidentStatus::Open;
    b.resolved_at = None;
    b.reopened = 1;
    b.last_seen = t(200);
    save(store, Transition::Reopened, &b).await;
    resolved(&mut b, t(320));
    save(store, Transition::Resolved, &b).await;
    assert_eq!(store.get("b").await.unwrap(), b);
    assert_eq!(
        transitions(store, "b").await,
        [
            (Transition::Opened, b.opened_at),
            (Transition::Resolved, t(190)),
            (Transition::Reopened, t(200)),
            (Transition::Resolved, t(320)),
        ]
    );

    // C resolved long ago.
    let mut c = incident("c", "fp-c", "auth", &[], Severity::Warning, t(-10 * DAY));
    save(store, Transition::Opened, &c).await;
    resolved(&mut c, t(-10 * DAY + 3600));
    save(store, Transition::Resolved, &c).await;

    // Lists: the most recently seen first, each filter alone and together.
    let all = IncidentFilter::default();
    assert_eq!(ids(store, &all).await, ["b", "a", "c"]);
    let open = IncidentFilter {
        status: Some(IncidentStatus::Open),
        ..all.clone()
    };
    assert_eq!(ids(store, &open).await, ["a"]);
    let resolved_ones = IncidentFilter {
        status: Some(IncidentStatus::Resolved),
        ..all.clone()
    };
    assert_eq!(ids(store, &resolved_ones).await, ["b", "c"]);
    let critical = IncidentFilter {
        min_severity: Some(Severity::Critical),
        ..all.clone()
    };
    assert_eq!(ids(store, &critical).await, ["a"]);
    let warning = IncidentFilter {
        min_severity: Some(Severity::Warning),
        ..all.clone()
    };
    assert_eq!(ids(store, &warning).await, ["b", "a", "c"]);
    let by_service = |service: &str| IncidentFilter {
        service: Some(service.to_owned()),
        ..IncidentFilter::default()
    };
    assert_eq!(ids(store, &by_service("checkout")).await, ["a"]);
    assert_eq!(ids(store, &by_service("auth")).await, ["c"]);
    assert!(ids(store, &by_service("nobody")).await.is_empty());
    let newest = IncidentFilter {
        limit: Some(1),
        ..all.clone()
    };
    assert_eq!(ids(store, &newest).await, ["b"]);
    let combined = IncidentFilter {
        status: Some(IncidentStatus::Resolved),
        service: Some("auth".to_owned()),
        limit: Some(5),
        ..all.clone()
    };
    assert_eq!(ids(store, &combined).await, ["c"]);
    assert_eq!(store.list(&all).await.unwrap()[1], a);

    // After a restart: the open incidents and the recent ones, oldest first.
    let restored = store.restore(t(-7 * DAY)).await.unwrap();
    assert_eq!(restored, [a.clone(), b.clone()]);

    // An acknowledgement survives later saves, which do not carry it; the first one stays.
    let acked = store.acknowledge("a", t(40), Some("ana")).await.unwrap();
    assert_eq!(acked.acknowledged_at, Some(t(40)));
    a.last_seen = t(45);
    save(store, Transition::Updated, &a).await;
    let acked = store.acknowledge("a", t(50), Some("bob")).await.unwrap();
    a.acknowledged_at = Some(t(40));
    assert_eq!(acked, a);
    assert_eq!(store.get("a").await.unwrap(), a);

    // Unknown ids.
    assert_not_found(store.get("missing").await);
    assert_not_found(store.acknowledge("missing", t(0), None).await);
    assert_not_found(store.resolve("missing", t(0), None).await);
    assert!(transitions(store, "missing").await.is_empty());

    // One open incident per fingerprint: D, open with A's fingerprint, is refused and not
    // stored; the caller finds A to adopt. A resolved one with that fingerprint is fine.
    let d = incident("d", "fp-a", "inventory-db", &[], Severity::Warning, t(70));
    match store.save(&event(Transition::Opened, &d)).await {
        Err(StoreError::DuplicateOpen { id, fingerprint }) => {
            assert_eq!((id.as_str(), fingerprint.as_str()), ("d", "fp-a"));
        }
        other => panic!("expected DuplicateOpen, got {other:?}"),
    }
    assert_not_found(store.get("d").await);
    assert_eq!(
        store.open_by_fingerprint("fp-a").await.unwrap(),
        Some(a.clone())
    );
    let mut e = incident("e", "fp-a", "inventory-db", &[], Severity::Warning, t(-DAY));
    resolved(&mut e, t(5));
    save(store, Transition::Resolved, &e).await;

    // Resolving by hand; a second resolve changes nothing. Then D may open.
    let resolved_a = store.resolve("a", t(100), Some("bob")).await.unwrap();
    resolved(&mut a, t(100));
    assert_eq!(resolved_a, a);
    assert_eq!(store.resolve("a", t(999), None).await.unwrap(), a);
    assert_eq!(
        transitions(store, "a").await.last(),
        Some(&(Transition::Resolved, t(100)))
    );
    assert_eq!(transitions(store, "a").await.len(), 3);
    // Who acknowledged first and who resolved by hand are noted, once each.
    let notes = crate::notes(store, "a").await;
    assert_eq!(
        notes,
        [
            (NoteEvent::Acknowledged, "by ana".to_owned(), t(40)),
            (NoteEvent::ResolvedByHand, "by bob".to_owned(), t(100)),
        ]
    );
    assert_eq!(store.open_by_fingerprint("fp-a").await.unwrap(), None);
    save(store, Transition::Opened, &d).await;
    assert_eq!(store.open_by_fingerprint("fp-a").await.unwrap(), Some(d));

    // Pruning counts from when a row was written, never from the incidents' own times: C
    // resolved ten days before the others by its own clock, but it was written just now.
    let week = Retention {
        max_age: Duration::from_secs(7 * DAY as u64),
        ..Retention::default()
    };
    assert_eq!(
        store.prune(&week, Utc::now()).await.unwrap(),
        Pruned::default()
    );
    // By count, those written last stay: A (resolved by hand) and E; the open D always.
    let by_count = |max_count| Retention {
        max_age: Duration::from_secs(365 * DAY as u64),
        max_count,
    };
    let pruned = store.prune(&by_count(2), Utc::now()).await.unwrap();
    assert_eq!(pruned.incidents, 2, "B and C");
    assert_not_found(store.get("b").await);
    assert_not_found(store.get("c").await);
    assert!(transitions(store, "c").await.is_empty());
    // A week after they were written, the rest of the resolved ones go; D stays.
    let pruned = store
        .prune(&week, Utc::now() + TimeDelta::days(8))
        .await
        .unwrap();
    assert_eq!(pruned.incidents, 2, "A and E");
    assert_eq!(ids(store, &all).await, ["d"]);
    assert!(transitions(store, "a").await.is_empty());
    let years_later = Utc::now() + TimeDelta::days(400);
    let pruned = store
        .prune(&Retention::default(), years_later)
        .await
        .unwrap();
    assert_eq!(pruned.incidents, 0);
    assert_eq!(ids(store, &all).await, ["d"]);
}

#[tokio::test]
async fn an_unknown_scheme_says_which_urls_work() {
    let error = ic_store::open("mysql://ic:s3cret@db/ic").await.unwrap_err();
    assert!(matches!(error, StoreError::InvalidUrl { .. }), "{error:?}");
    let message = error.to_string();
    assert!(message.contains("sqlite://PATH"), "{message}");
    assert!(message.contains("IC_DB"), "{message}");
    assert!(!message.contains("s3cret"), "{message}");
}

#[tokio::test]
async fn an_unreachable_postgres_is_a_connect_error_without_the_password() {
    // Nothing listens on port 1.
    let error = ic_store::open("postgres://ic:s3cret@127.0.0.1:1/ic")
        .await
        .unwrap_err();
    assert!(matches!(error, StoreError::Connect { .. }), "{error:?}");
    let message = error.to_string();
    assert!(
        message.starts_with("cannot connect to PostgreSQL at 127.0.0.1:1: "),
        "{message}"
    );
    assert!(message.contains("check --db / IC_DB"), "{message}");
    assert!(!message.contains("s3cret"), "{message}");
}

#[tokio::test]
async fn postgres_a_missing_database_is_said_once_in_the_servers_words() {
    let server = std::env::var("IC_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| ic_store::testing::DEFAULT_POSTGRES_URL.into());
    let (base, _) = server.rsplit_once('/').expect("a URL with a database");
    let error = ic_store::open(&format!("{base}/ic_no_such_database"))
        .await
        .unwrap_err();
    // As the command line prints it: the message and every cause below it.
    let chain: Vec<String> =
        std::iter::successors(Some(&error as &(dyn std::error::Error + 'static)), |e| {
            e.source()
        })
        .map(ToString::to_string)
        .collect();
    let printed = chain.join(": ");
    let cause = r#"database "ic_no_such_database" does not exist"#;
    assert_eq!(printed.matches(cause).count(), 1, "{printed}");
    assert!(!printed.contains(" at line "), "{printed}");
    assert!(
        !printed.contains("error returned from database"),
        "{printed}"
    );
}

#[tokio::test]
async fn a_sqlite_file_in_a_missing_folder_is_a_connect_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no/such/folder/ic.db");
    let error = ic_store::open(&format!("sqlite://{}", path.display()))
        .await
        .unwrap_err();
    assert!(matches!(error, StoreError::Connect { .. }), "{error:?}");
    assert!(
        error.to_string().contains(&path.display().to_string()),
        "{error}"
    );
}

fn resolved(incident: &mut Incident, at: DateTime<Utc>) {
    incident.status = IncidentStatus::Resolved;
    incident.resolved_at = Some(at);
}

async fn save(store: &dyn Store, transition: Transition, incident: &Incident) {
    store
        .save(&event(transition, incident))
        .await
        .unwrap_or_else(|e| panic!("save {transition:?} {}: {e}", incident.id));
}

async fn ids(store: &dyn Store, filter: &IncidentFilter) -> Vec<String> {
    let incidents = store.list(filter).await.expect("list");
    incidents.into_iter().map(|i| i.id).collect()
}

async fn transitions(store: &dyn Store, id: &str) -> Vec<(Transition, DateTime<Utc>)> {
    let records = store.transitions(id).await.expect("transitions");
    records
        .into_iter()
        .map(|TransitionRecord { transition, at, .. }| (transition, at))
        .collect()
}

fn assert_not_found<T: std::fmt::Debug>(result: Result<T, StoreError>) {
    match result {
        Err(StoreError::NotFound { id }) => assert!(!id.is_empty()),
        other => panic!("expected NotFound, got {other:?}"),
    }
}

#[tokio::test]
async fn sqlite_creates_its_file_in_wal_mode() {
    use sqlx::{Connection, SqliteConnection};

    let db = TestDb::sqlite();
    let store = ic_store::open(&db.url).await.expect("open SQLite");
    store.close().await;
    let mut conn = SqliteConnection::connect(&db.url).await.expect("connect");
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut conn)
        .await
        .expect("journal mode");
    assert_eq!(mode, "wal");
}

#[tokio::test]
async fn a_row_that_does_not_decode_is_corrupt() {
    use sqlx::{Connection, SqliteConnection};

    let db = TestDb::sqlite();
    let store = ic_store::open(&db.url).await.expect("open SQLite");
    let a = incident("a", "fp-a", "auth", &[], Severity::Warning, t(0));
    save(&store, Transition::Opened, &a).await;
    let mut conn = SqliteConnection::connect(&db.url).await.expect("connect");
    sqlx::query("UPDATE incidents SET incident = '{\"id\": 1}' WHERE id = 'a'")
        .execute(&mut conn)
        .await
        .expect("break the row");
    match store.get("a").await {
        Err(StoreError::Corrupt { id, reason }) => {
            assert_eq!(id, "a");
            assert!(reason.contains("JSON"), "{reason}");
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
}
