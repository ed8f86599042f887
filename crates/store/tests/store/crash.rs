//! A SQLite writer killed with SIGKILL loses nothing it reported saved, and leaves a database
//! that opens and passes SQLite's integrity check.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use ic_core::Severity;
use ic_core::incident::Transition;
use ic_store::Store;
use sqlx::{Connection, SqliteConnection};

use crate::{TestDb, event, incident, t};

/// Set in the child: the URL of the database to write to.
const WRITER_ENV: &str = "IC_STORE_TEST_CRASH_WRITER";
/// This test's name, for the child to run it (and only it) again.
const TEST_NAME: &str = "crash::sqlite_keeps_every_save_of_a_killed_writer";
/// Saves seen before the kill.
const SAVES_BEFORE_KILL: usize = 25;
/// The child stops on its own after this many, should the parent never kill it.
const MAX_SAVES: usize = 100_000;

#[tokio::test]
async fn sqlite_keeps_every_save_of_a_killed_writer() {
    if let Ok(url) = std::env::var(WRITER_ENV) {
        return write_until_killed(&url).await;
    }
    let db = TestDb::sqlite();
    let child = Command::new(std::env::current_exe().expect("the test binary"))
        .args(["--exact", TEST_NAME, "--nocapture", "--test-threads=1"])
        .env(WRITER_ENV, &db.url)
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the writer");
    let mut writer = KillOnDrop(child);
    let mut stdout = BufReader::new(writer.0.stdout.take().expect("piped stdout"));

    let mut saved = Vec::new();
    let mut line = String::new();
    while saved.len() < SAVES_BEFORE_KILL {
        line.clear();
        let read = stdout
            .read_line(&mut line)
            .expect("read the writer's output");
        assert!(read > 0, "the writer ended before it was killed");
        saved.extend(saved_id(&line));
    }
    // SIGKILL on Unix: no destructor, no flush, no checkpoint runs in the writer.
    writer.0.kill().expect("kill the writer");
    writer.0.wait().expect("reap the writer");
    // What it printed before dying, whole lines only: a cut line was never finished.
    loop {
        line.clear();
        if stdout.read_line(&mut line).expect("read the rest") == 0 {
            break;
        }
        saved.extend(saved_id(&line));
    }

    let store = ic_store::open(&db.url)
        .await
        .expect("reopen after the kill");
    for id in &saved {
        let incident = store.get(id).await.expect("a saved incident survives");
        assert_eq!(&incident.id, id);
    }
    store.close().await;
    let mut conn = SqliteConnection::connect(&db.url).await.expect("connect");
    let integrity: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&mut conn)
        .await
        .expect("integrity check");
    assert_eq!(integrity, "ok");
}

/// The child's part: save incidents one after another, printing each id once its save
/// returned.
async fn write_until_killed(url: &str) {
    let store = ic_store::open(url).await.expect("open in the writer");
    for n in 0..MAX_SAVES {
        let seconds = i64::try_from(n).expect("small");
        let incident = incident(
            &format!("crash-{n:06}"),
            &format!("fp-{n}"),
            "inventory-db",
            &["checkout"],
            Severity::Critical,
            t(seconds),
        );
        store
            .save(&event(Transition::Opened, &incident))
            .await
            .expect("save in the writer");
        println!("saved {}", incident.id);
    }
}

fn saved_id(line: &str) -> Option<String> {
    line.strip_suffix('\n')?
        .strip_prefix("saved ")
        .map(str::to_owned)
}

/// Kills the writer if the test fails before it does.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
