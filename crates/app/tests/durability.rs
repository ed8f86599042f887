//! What a server took in survives SIGKILL: the lines `POST /api/logs` answered 202 for (the
//! ingest journal) and the lines of followed files (the checkpoint never runs ahead of the
//! store). Servers killed before, while and after their windows are stored lose none and count
//! none twice.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Duration;

mod common;
use common::server::{Server, try_post};
use common::{stats, wait_for_lines};

/// How long a restarted server may take to store what its journal held.
const PATIENCE: Duration = Duration::from_secs(60);
/// Lines per request, as shippers batch them.
const BATCH: usize = 1000;

/// `count` NDJSON lines, numbered from `from`.
fn lines(from: usize, count: usize) -> String {
    (from..from + count)
        .map(|i| {
            format!(
                "{{\"timestamp\":\"2026-03-01T00:00:00Z\",\"service\":\"api\",\"level\":\"INFO\",\
                 \"message\":\"request {i} served\"}}\n"
            )
        })
        .collect()
}

fn lines_analyzed(db: &str) -> u64 {
    stats(db)["lines_analyzed"].as_u64().unwrap()
}

/// The journal's segments left in a server's data directory (in its database's slots).
fn segments(dir: &std::path::Path) -> usize {
    let mut found = 0;
    let mut dirs = vec![dir.join("incident-commander/journal")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension() == Some("journal".as_ref()) {
                found += 1;
            }
        }
    }
    found
}

#[test]
fn lines_answered_202_survive_sigkill_before_and_while_their_windows_are_stored() {
    // Windows that never close on their own: when the server dies, the journal alone holds
    // every line it answered for.
    let server = Server::start(&["--window-events", "100000", "--window-secs", "3600"], &[]);
    for i in 0..5 {
        let (status, body) = server.post_ndjson(&lines(i * BATCH, BATCH));
        assert_eq!(status, 202, "{body}");
    }
    let dir = server.kill_keeping_files();
    let db = Server::db_in(dir.path());
    assert_eq!(lines_analyzed(&db), 0, "nothing was stored before the kill");

    // The next one replays them into windows of 700 lines: all but the last 100 are stored,
    // and then it dies too.
    let server = Server::start_in(dir, &["--window-events", "700", "--window-secs", "3600"]);
    let stored = wait_for_lines(&db, 4900, PATIENCE);
    assert_eq!(stored["lines_analyzed"], 4900, "{stored}");
    let dir = server.kill_keeping_files();

    // The third stores the rest, and skips what the second stored.
    let mut server = Server::start_in(dir, &[]);
    let stored = wait_for_lines(&db, 5000, PATIENCE);
    assert_eq!(stored["lines_analyzed"], 5000, "{stored}");
    let dir = keep_files(&mut server);
    let (status, _) = server.terminate();
    assert!(status.success());
    assert_eq!(lines_analyzed(&db), 5000, "each line once");
    assert_eq!(
        segments(dir.path()),
        0,
        "the journal is empty once all is stored"
    );
}

#[test]
fn two_clients_posting_through_a_sigkill_lose_no_line_answered_202() {
    let server = Server::start(&[], &[]);
    let base = server.url("/api/logs");
    let answered = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let (posted_tx, posted) = mpsc::channel();
    let clients: Vec<_> = (0..2)
        .map(|client| {
            let (base, answered, stop, posted_tx) = (
                base.clone(),
                answered.clone(),
                stop.clone(),
                posted_tx.clone(),
            );
            std::thread::spawn(move || {
                let mut sent = 0;
                while !stop.load(Ordering::Relaxed) {
                    let body = lines(client * 1_000_000 + sent, BATCH);
                    sent += BATCH;
                    match try_post(&base, &body) {
                        Some(202) => {
                            answered.fetch_add(BATCH as u64, Ordering::Relaxed);
                            let _ = posted_tx.send(());
                        }
                        // The server is gone: what was not answered may or may not be kept.
                        _ => return,
                    }
                }
            })
        })
        .collect();
    // Kill it mid-stream, once both clients have had answers.
    for _ in 0..20 {
        posted.recv_timeout(PATIENCE).expect("answers");
    }
    let dir = server.kill_keeping_files();
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.join().unwrap();
    }
    let answered = answered.load(Ordering::Relaxed);
    let db = Server::db_in(dir.path());

    let mut server = Server::start_in(dir, &[]);
    wait_for_lines(&db, answered, PATIENCE);
    let _dir = keep_files(&mut server);
    let (status, _) = server.terminate();
    assert!(status.success());
    let stored = lines_analyzed(&db);
    // Each client had at most one request unanswered when the server died: journaled or not.
    assert!(
        (answered..=answered + 2 * BATCH as u64).contains(&stored),
        "{answered} lines answered 202, {stored} stored"
    );
    assert_eq!(
        (stored - answered) % BATCH as u64,
        0,
        "a request is kept whole or not at all: {answered} answered, {stored} stored"
    );
}

/// The server's directory, kept past the server's end.
fn keep_files(server: &mut Server) -> tempfile::TempDir {
    std::mem::replace(&mut server.dir, tempfile::tempdir().unwrap())
}

#[test]
fn a_followed_file_killed_mid_read_is_read_on_from_what_was_stored_each_line_once() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    std::fs::write(&log, lines(0, 5000)).unwrap();
    let source = format!("file:{}", log.display());
    let db = Server::db_in(dir.path());

    // Windows of 700 lines: when it dies, 4,900 lines are stored and 100 were read into the
    // open window; the checkpoint may or may not have caught up with what was stored.
    let server = Server::start_in(
        dir,
        &[
            "--source",
            &source,
            "--window-events",
            "700",
            "--window-secs",
            "3600",
        ],
    );
    let stored = wait_for_lines(&db, 4900, PATIENCE);
    assert_eq!(stored["lines_analyzed"], 4900, "{stored}");
    let dir = server.kill_keeping_files();

    // More lines while it is down; the next server reads on from what was stored.
    let mut file = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    std::io::Write::write_all(&mut file, lines(5000, 1000).as_bytes()).unwrap();
    let mut server = Server::start_in(dir, &["--source", &source]);
    let stored = wait_for_lines(&db, 6000, PATIENCE);
    assert_eq!(stored["lines_analyzed"], 6000, "{stored}");
    let _dir = keep_files(&mut server);
    let (status, _) = server.terminate();
    assert!(status.success());
    assert_eq!(lines_analyzed(&db), 6000, "each line once");
}

#[test]
fn a_journal_that_cannot_write_answers_503_says_so_in_readyz_and_recovers() {
    let place = tempfile::tempdir().unwrap();
    let journal = place.path().join("journal");
    let db = format!("sqlite://{}", place.path().join("incidents.db").display());
    let server = Server::start(&["--journal", journal.to_str().unwrap(), "--db", &db], &[]);
    // The disk under the journal fails: its folder is gone, and no segment can be begun.
    std::fs::remove_dir_all(&journal).unwrap();
    let (status, body) = server.post_ndjson(&lines(0, 10));
    assert_eq!(status, 503, "{body}");
    let (status, body) = common::server::curl(&[&server.url("/readyz")]);
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("journal"), "{body}");
    let failures = server
        .metrics()
        .lines()
        .find(|l| l.starts_with("ic_journal_write_failures_total"))
        .and_then(|l| l.split_whitespace().last()?.parse::<f64>().ok());
    assert_eq!(failures, Some(1.0));

    // The cause goes away: it takes lines again, and is ready again, by itself.
    std::fs::create_dir_all(&journal).unwrap();
    let (status, body) = server.post_ndjson(&lines(10, 10));
    assert_eq!(status, 202, "{body}");
    let (status, body) = common::server::curl(&[&server.url("/readyz")]);
    assert_eq!(status, 200, "{body}");
    let stored = wait_for_lines(&db, 10, PATIENCE);
    assert_eq!(
        stored["lines_analyzed"], 10,
        "only what was answered 202: {stored}"
    );
}
