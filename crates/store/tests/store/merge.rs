//! Instances add their copies of one incident to the stored one: one open incident per
//! fingerprint, counts that sum, and one opened and one resolved transition in the outbox.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::TimeDelta;
use ic_core::Severity;
use ic_core::incident::{Incident, IncidentStatus, Transition};
use ic_store::{Contribution, Since, SqlStore, Store};
use tokio::sync::Barrier;

use crate::{TestDb, event, incident, t};

const TASKS: usize = 50;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_two_instances_writing_one_fingerprint_from_50_tasks_each_keep_one_incident() {
    let db = TestDb::postgres().await;
    two_instances_write_one_fingerprint(&db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_two_instances_writing_one_fingerprint_from_50_tasks_each_keep_one_incident() {
    let db = TestDb::sqlite();
    two_instances_write_one_fingerprint(&db).await;
}

/// Each task is a correlator's copy of the incident: it opens, grows, resolves, comes back and
/// resolves again, merged by one of two stores (two pools, as two processes would have).
async fn two_instances_write_one_fingerprint(db: &TestDb) {
    let (left, right) = tokio::join!(ic_store::open(&db.url), ic_store::open(&db.url));
    let stores = [
        left.expect("open left").notifying(true),
        right.expect("open right").notifying(true),
    ];
    let grown = Arc::new(Barrier::new(2 * TASKS));
    let tasks: Vec<_> = (0..2 * TASKS)
        .map(|task| {
            let store = stores[task % 2].clone();
            tokio::spawn(copy_lifecycle(store, task, Arc::clone(&grown)))
        })
        .collect();
    let mut lines = 0;
    for task in tasks {
        lines += task.await.expect("the task ends");
    }

    let all = stores[0].list(&Default::default()).await.expect("list");
    assert_eq!(all.len(), 1, "one incident: {all:#?}");
    let stored = &all[0];
    assert_eq!(stored.windows, 3 * 2 * TASKS as u64);
    assert_eq!(stored.lines, lines);
    assert_eq!(stored.templates[0].count, lines);
    // The copy seen last resolved it; the others only added their counts.
    assert_eq!(stored.status, IncidentStatus::Resolved);
    assert_eq!(
        stored.last_seen,
        last_seen_of(2 * TASKS - 1) + TimeDelta::hours(1)
    );
    assert_eq!(stored.reopened, 1);

    let mut sent: Vec<Transition> = Vec::new();
    for store in &stores {
        let taken = store
            .take_notifications(7, &crate::unmuted, chrono::Utc::now())
            .await
            .map(|taken| taken.send)
            .expect("take");
        sent.extend(taken.iter().map(|e| e.transition));
    }
    for store in &stores {
        let rest = store
            .take_notifications(1000, &crate::unmuted, chrono::Utc::now())
            .await
            .map(|taken| taken.send)
            .expect("take");
        sent.extend(rest.iter().map(|e| e.transition));
    }
    let mut counts: HashMap<Transition, usize> = HashMap::new();
    for transition in sent {
        *counts.entry(transition).or_default() += 1;
    }
    assert_eq!(
        counts,
        HashMap::from([
            (Transition::Opened, 1),
            (Transition::Resolved, 2),
            (Transition::Reopened, 1)
        ])
    );
    assert!(
        stores[0]
            .take_notifications(10, &crate::unmuted, chrono::Utc::now())
            .await
            .map(|taken| taken.send)
            .unwrap()
            .is_empty()
    );
    for store in stores {
        store.close().await;
    }
}

/// One copy: opened with 10 + task lines, then 5 more in a second window, then resolved.
/// Returns the lines it saw.
async fn copy_lifecycle(store: SqlStore, task: usize, grown: Arc<Barrier>) -> u64 {
    // Every copy opened at the same second makes the same id, as instances do.
    let mut copy = incident(
        "20260101-000000-fp",
        "fp-shared",
        "inventory-db",
        &[],
        Severity::Critical,
        t(0),
    );
    copy.windows = 1;
    copy.lines = 10 + task as u64;
    copy.templates[0].count = copy.lines;
    copy.last_seen = t(1);
    let opened = merge(&store, Transition::Opened, &copy, None).await;
    let first = copy.clone();

    copy.windows = 2;
    copy.lines += 5;
    copy.templates[0].count = copy.lines;
    copy.last_seen = last_seen_of(task);
    let since = Since {
        stored_id: &opened.id,
        copy: &first,
    };
    merge(&store, Transition::Updated, &copy, Some(since)).await;
    let second = copy.clone();

    // Every copy resolves once all of them have grown, so only the one seen last resolves
    // the stored incident.
    grown.wait().await;
    copy.status = IncidentStatus::Resolved;
    copy.resolved_at = Some(copy.last_seen + TimeDelta::seconds(120));
    let since = Since {
        stored_id: &opened.id,
        copy: &second,
    };
    merge(&store, Transition::Resolved, &copy, Some(since)).await;
    let third = copy.clone();

    // Then it comes back on every copy at once (each saw it after the resolve, one window
    // more): one of them reopens the incident, the others add to it.
    grown.wait().await;
    copy.status = IncidentStatus::Open;
    copy.resolved_at = None;
    copy.reopened = 1;
    copy.windows = 3;
    copy.lines += 5;
    copy.templates[0].count = copy.lines;
    copy.last_seen = last_seen_of(task) + TimeDelta::hours(1);
    let since = Since {
        stored_id: &opened.id,
        copy: &third,
    };
    merge(&store, Transition::Reopened, &copy, Some(since)).await;
    let fourth = copy.clone();

    grown.wait().await;
    copy.status = IncidentStatus::Resolved;
    copy.resolved_at = Some(copy.last_seen + TimeDelta::seconds(120));
    let since = Since {
        stored_id: &opened.id,
        copy: &fourth,
    };
    merge(&store, Transition::Resolved, &copy, Some(since)).await;
    copy.lines
}

fn last_seen_of(task: usize) -> chrono::DateTime<chrono::Utc> {
    t(10 + i64::try_from(task).unwrap())
}

async fn merge(
    store: &SqlStore,
    transition: Transition,
    copy: &Incident,
    since: Option<Since<'_>>,
) -> Incident {
    let event = event(transition, copy);
    store
        .merge(&Contribution {
            event: &event,
            since,
            max_templates: 20,
        })
        .await
        .expect("merge")
        .incident
}

#[tokio::test]
async fn sqlite_a_copy_that_sees_the_end_sooner_leaves_the_resolve_to_the_other() {
    let db = TestDb::sqlite();
    let store = ic_store::open(&db.url).await.unwrap().notifying(true);
    let mut a = incident("a", "fp", "inventory-db", &[], Severity::Warning, t(0));
    let mut b = incident("b", "fp", "inventory-db", &[], Severity::Warning, t(0));
    b.last_seen = a.last_seen + TimeDelta::seconds(30);
    let stored = merge(&store, Transition::Opened, &a, None).await;
    assert_eq!(stored.id, "a");
    merge(&store, Transition::Opened, &b, None).await;

    // A goes quiet first: B saw the incident later, so it stays open.
    let a_before = a.clone();
    a.status = IncidentStatus::Resolved;
    a.resolved_at = Some(a.last_seen + TimeDelta::seconds(120));
    let since = |copy| {
        Some(Since {
            stored_id: "a",
            copy,
        })
    };
    let after_a = merge(&store, Transition::Resolved, &a, since(&a_before)).await;
    assert_eq!(after_a.status, IncidentStatus::Open);

    let b_before = b.clone();
    b.status = IncidentStatus::Resolved;
    b.resolved_at = Some(b.last_seen + TimeDelta::seconds(120));
    let after_b = merge(&store, Transition::Resolved, &b, since(&b_before)).await;
    assert_eq!(after_b.status, IncidentStatus::Resolved);
    assert_eq!(after_b.resolved_at, b.resolved_at);
    assert_eq!((after_b.windows, after_b.lines), (4, 280));

    // It comes back on A: the stored incident reopens rather than a new one opening.
    let a_resolved = a.clone();
    a.status = IncidentStatus::Open;
    a.resolved_at = None;
    a.reopened = 1;
    a.last_seen = after_b.resolved_at.unwrap() + TimeDelta::seconds(30);
    a.windows += 1;
    a.lines += 70;
    a.templates[0].count += 70;
    let event = ic_core::incident::IncidentEvent {
        transition: Transition::Reopened,
        incident: a.clone(),
    };
    let reopened = store
        .merge(&Contribution {
            event: &event,
            since: since(&a_resolved),
            max_templates: 20,
        })
        .await
        .unwrap();
    assert_eq!(reopened.transition, Transition::Reopened);
    assert_eq!(
        (reopened.incident.id.as_str(), reopened.incident.reopened),
        ("a", 1)
    );
    assert_eq!(reopened.incident.lines, 350);

    // An operator resolves it: that is sent too.
    store.resolve("a", t(600), None).await.unwrap();
    let sent: Vec<Transition> = store
        .take_notifications(100, &crate::unmuted, chrono::Utc::now())
        .await
        .map(|taken| taken.send)
        .unwrap()
        .iter()
        .map(|e| e.transition)
        .collect();
    assert_eq!(
        sent,
        [
            Transition::Opened,
            Transition::Resolved,
            Transition::Reopened,
            Transition::Resolved
        ]
    );
    store.close().await;
}

#[tokio::test]
async fn sqlite_an_incident_nobody_writes_any_more_is_resolved_by_whoever_looks() {
    abandoned_incidents_are_resolved(&TestDb::sqlite()).await;
}

#[tokio::test]
async fn postgres_an_incident_nobody_writes_any_more_is_resolved_by_whoever_looks() {
    abandoned_incidents_are_resolved(&TestDb::postgres().await).await;
}

/// The instance that held the latest copy of "left" died; "kept" is still seen here.
async fn abandoned_incidents_are_resolved(db: &TestDb) {
    let store = ic_store::open(&db.url).await.unwrap().notifying(true);
    let left = incident(
        "left",
        "fp-left",
        "inventory-db",
        &[],
        Severity::Critical,
        t(0),
    );
    let kept = incident(
        "kept",
        "fp-kept",
        "auth-service",
        &[],
        Severity::Warning,
        t(0),
    );
    merge(&store, Transition::Opened, &left, None).await;
    merge(&store, Transition::Opened, &kept, None).await;
    store
        .take_notifications(10, &crate::unmuted, chrono::Utc::now())
        .await
        .map(|taken| taken.send)
        .unwrap();
    let (quiet_for, resolve_after) = (Duration::from_secs(240), Duration::from_secs(120));
    let seen_here = ["kept".to_owned()];

    // Written just now: nothing is abandoned yet.
    let now = chrono::Utc::now();
    let early = store
        .resolve_abandoned(quiet_for, resolve_after, &seen_here, now)
        .await
        .unwrap();
    assert!(early.is_empty(), "{early:#?}");

    let later = now + TimeDelta::seconds(300);
    let resolved = store
        .resolve_abandoned(quiet_for, resolve_after, &seen_here, later)
        .await
        .unwrap();
    assert_eq!(resolved.len(), 1, "{resolved:#?}");
    assert_eq!(resolved[0].transition, Transition::Resolved);
    assert_eq!(resolved[0].incident.id, "left");
    assert_eq!(
        resolved[0].incident.resolved_at,
        Some(left.last_seen + TimeDelta::seconds(120))
    );
    assert_eq!(
        store.get("kept").await.unwrap().status,
        IncidentStatus::Open
    );
    // Once: a second look finds nothing, and the outbox holds the one resolve.
    let again = store
        .resolve_abandoned(quiet_for, resolve_after, &seen_here, later)
        .await
        .unwrap();
    assert!(again.is_empty());
    let sent = store
        .take_notifications(10, &crate::unmuted, chrono::Utc::now())
        .await
        .map(|taken| taken.send)
        .unwrap();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].incident.id, "left");
    store.close().await;
}

#[tokio::test]
async fn sqlite_an_llm_summary_arriving_is_noted_once() {
    llm_summary_is_noted(&TestDb::sqlite()).await;
}

#[tokio::test]
async fn postgres_an_llm_summary_arriving_is_noted_once() {
    llm_summary_is_noted(&TestDb::postgres().await).await;
}

async fn llm_summary_is_noted(db: &TestDb) {
    let store = ic_store::open(&db.url).await.unwrap();
    let opened = incident("a", "fp", "db", &[], Severity::Warning, t(0));
    let merge = |copy: Incident, since: Option<Incident>| {
        let store = store.clone();
        async move {
            let since = since.as_ref().map(|copy| Since {
                stored_id: "a",
                copy,
            });
            store
                .merge(&Contribution {
                    event: &event(Transition::Updated, &copy),
                    since,
                    max_templates: 20,
                })
                .await
                .unwrap()
        }
    };
    merge(opened.clone(), None).await;
    let mut summarized = opened.clone();
    summarized.analyzer = "openai:gpt-4o-mini".into();
    summarized.summary = "The pool is exhausted.".into();
    summarized.last_seen = t(20);
    merge(summarized.clone(), Some(opened.clone())).await;
    let mut later = summarized.clone();
    later.last_seen = t(30);
    merge(later, Some(summarized)).await;
    let notes = crate::notes(&store, "a").await;
    assert_eq!(
        notes,
        [(
            ic_store::NoteEvent::Summarized,
            "by openai:gpt-4o-mini".to_owned(),
            t(20)
        )]
    );
    store.close().await;
}
