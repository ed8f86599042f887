//! The syslog and file sources against real clients: util-linux `logger` sending over UDP and
//! TCP, and a writer that rotates its file while the file source follows it.
//!
//! The sources are called directly with a test-owned ingest channel; every wait is on events
//! arriving (with a generous limit that turns a hang into a failure), never a sleep.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use ic_core::{Level, LogEvent};
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::file::{FileSource, FileSourceConfig};
use super::syslog::{self, Listeners, SyslogConfig};
use crate::pipeline::{Envelope, SharedCounters};

/// How long any awaited event may take before the test fails.
const LIMIT: Duration = Duration::from_secs(30);

/// Receives events until `n` arrived; fails with what did arrive if they do not.
async fn receive(rx: &mut mpsc::Receiver<Envelope>, n: usize) -> Vec<LogEvent> {
    let mut events = Vec::new();
    while events.len() < n {
        match tokio::time::timeout(LIMIT, rx.recv()).await {
            Ok(Some(chunk)) => events.extend(chunk.events),
            Ok(None) => break,
            Err(_) => break,
        }
    }
    assert_eq!(events.len(), n, "expected {n} events, got {events:#?}");
    events
}

struct Syslog {
    port: u16,
    rx: mpsc::Receiver<Envelope>,
    counters: SharedCounters,
    cancel: CancellationToken,
    task: JoinHandle<()>,
}

fn start_syslog(config: SyslogConfig, capacity: usize) -> Syslog {
    let listeners = Listeners::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let port = listeners.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel(capacity);
    let counters = SharedCounters::default();
    let cancel = CancellationToken::new();
    let task = tokio::spawn(syslog::run(
        listeners,
        config,
        tx,
        counters.clone(),
        cancel.clone(),
    ));
    Syslog {
        port,
        rx,
        counters,
        cancel,
        task,
    }
}

impl Syslog {
    async fn stop(self) -> SharedCounters {
        self.cancel.cancel();
        tokio::time::timeout(LIMIT, self.task)
            .await
            .expect("the syslog source stops when cancelled")
            .unwrap();
        self.counters
    }
}

/// Runs util-linux `logger` (Debian package `bsdutils`) against the test's port.
async fn logger(port: u16, args: &[&str]) {
    let port = port.to_string();
    let mut command = Command::new("logger");
    command.args(["--server", "127.0.0.1", "--port", &port]);
    command.args(args);
    let status = tokio::task::spawn_blocking(move || command.status())
        .await
        .unwrap()
        .unwrap_or_else(|err| {
            panic!(
                "cannot run `logger` ({err}); it is part of util-linux: \
                 apt-get install bsdutils (scripts/test.sh installs it)"
            )
        });
    assert!(status.success(), "logger {args:?} failed: {status}");
}

fn by_message(events: Vec<LogEvent>) -> BTreeMap<String, LogEvent> {
    events.into_iter().map(|e| (e.message.clone(), e)).collect()
}

#[tokio::test]
async fn client_logger_rfc5424_and_rfc3164_over_udp_and_tcp() {
    let mut server = start_syslog(SyslogConfig::default(), 64);
    let sends: [(&[&str], &str); 5] = [
        (
            &["--udp", "--rfc5424", "-t", "api", "-p", "user.err"],
            "five udp",
        ),
        (
            &["--udp", "--rfc3164", "-t", "db", "-p", "local0.warning"],
            "three udp",
        ),
        (
            &["--tcp", "--rfc5424", "-t", "web", "-p", "user.info"],
            "five tcp newline",
        ),
        (
            &[
                "--tcp",
                "--rfc5424",
                "--octet-count",
                "-t",
                "auth",
                "-p",
                "user.crit",
            ],
            "five tcp counted",
        ),
        (
            &["--tcp", "--rfc3164", "-t", "cache", "-p", "daemon.debug"],
            "three tcp newline",
        ),
    ];
    for (args, message) in sends {
        let mut args = args.to_vec();
        args.push(message);
        logger(server.port, &args).await;
    }
    let events = by_message(receive(&mut server.rx, 5).await);
    let expect = [
        ("five udp", "api", Level::Error),
        ("three udp", "db", Level::Warn),
        ("five tcp newline", "web", Level::Info),
        ("five tcp counted", "auth", Level::Fatal),
        ("three tcp newline", "cache", Level::Debug),
    ];
    for (message, service, level) in expect {
        let event = events
            .get(message)
            .unwrap_or_else(|| panic!("no event `{message}` in {events:#?}"));
        assert_eq!(
            (event.service.as_str(), event.level),
            (service, level),
            "{event:?}"
        );
    }
    let counters = server.stop().await;
    assert_eq!((counters.lines(), counters.events()), (5, 5));
}

#[tokio::test]
async fn client_logger_many_tcp_messages_on_one_connection_in_order() {
    let mut server = start_syslog(SyslogConfig::default(), 64);
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("lines.txt");
    let lines: String = (0..500).map(|i| format!("message {i}\n")).collect();
    std::fs::write(&input, lines).unwrap();
    let file = input.to_str().unwrap();
    logger(
        server.port,
        &[
            "--tcp",
            "--octet-count",
            "--rfc5424",
            "-t",
            "batch",
            "-f",
            file,
        ],
    )
    .await;
    let events = receive(&mut server.rx, 500).await;
    for (i, event) in events.iter().enumerate() {
        assert_eq!(event.message, format!("message {i}"));
        assert_eq!(event.service, "batch");
    }
    server.stop().await;
}

#[tokio::test]
async fn tcp_waits_for_room_and_loses_nothing() {
    let mut server = start_syslog(SyslogConfig::default(), 1);
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    let input: String = (0..5000)
        .map(|i| format!("<14>May  1 10:00:00 host app: msg {i}\n"))
        .collect();
    // Far more than one chunk: the connection must wait while the test does not read.
    let writer = std::thread::spawn(move || stream.write_all(input.as_bytes()));
    let events = receive(&mut server.rx, 5000).await;
    writer.join().unwrap().unwrap();
    assert!(
        events
            .iter()
            .enumerate()
            .all(|(i, e)| e.message == format!("msg {i}"))
    );
    server.stop().await;
}

#[tokio::test]
async fn long_messages_are_truncated_and_extra_connections_closed() {
    let config = SyslogConfig {
        // The header `<14>May  1 10:00:00 h app: ` is 27 bytes: ten of the text fit.
        max_message_bytes: 37,
        max_connections: 1,
    };
    // Counts are only kept once the recorder is installed.
    let metrics = crate::metrics::handle().unwrap();
    let mut server = start_syslog(config, 16);
    let mut first = tokio::net::TcpStream::connect(("127.0.0.1", server.port))
        .await
        .unwrap();
    use tokio::io::AsyncWriteExt;
    first
        .write_all(
            b"<14>May  1 10:00:00 h app: 0123456789abcdefghij\n<14>May  1 10:00:00 h app: short\n",
        )
        .await
        .unwrap();
    let events = receive(&mut server.rx, 2).await;
    assert_eq!(events[0].message, "0123456789", "cut to 37 bytes");
    assert_eq!(events[1].message, "short");

    // The first connection holds the only permit: the next one is closed at once.
    let mut second = tokio::net::TcpStream::connect(("127.0.0.1", server.port))
        .await
        .unwrap();
    let mut buf = [0u8; 8];
    let read = tokio::time::timeout(LIMIT, second.read(&mut buf)).await;
    assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "{read:?}");
    let metrics = metrics.render();
    assert!(
        metrics.contains("ic_syslog_connections_rejected_total"),
        "{metrics}"
    );
    assert!(metrics.contains("ic_lines_truncated_total"), "{metrics}");
    drop(first);
    server.stop().await;
}

// ---- files ----

/// What the test has received so far, for a writer thread to wait on.
#[derive(Default)]
struct Progress {
    numbers: Mutex<Vec<u64>>,
    grew: Condvar,
}

impl Progress {
    /// Takes a chunk as the pipeline would, and says its runs are stored.
    fn add(&self, chunk: &Envelope) {
        for origin in &chunk.origins {
            origin.receipt.stored(origin.events);
        }
        let mut numbers = self.numbers.lock().unwrap();
        for event in &chunk.events {
            let n = event
                .message
                .strip_prefix("line ")
                .and_then(|n| n.parse().ok());
            numbers.push(n.unwrap_or_else(|| panic!("not a numbered line: {event:?}")));
        }
        self.grew.notify_all();
    }

    /// Blocks until at least `n` lines arrived.
    fn wait_for(&self, n: usize) {
        let numbers = self.numbers.lock().unwrap();
        let (numbers, timeout) = self
            .grew
            .wait_timeout_while(numbers, LIMIT, |numbers| numbers.len() < n)
            .unwrap();
        assert!(
            !timeout.timed_out(),
            "only {} of {n} lines arrived",
            numbers.len()
        );
    }

    fn count(&self) -> usize {
        self.numbers.lock().unwrap().len()
    }
}

/// Every number in `0..total` exactly once.
fn assert_exactly_once(numbers: &[u64], total: u64) {
    let mut seen = BTreeMap::<u64, usize>::new();
    for n in numbers {
        *seen.entry(*n).or_default() += 1;
    }
    let twice: Vec<_> = seen
        .iter()
        .filter(|(_, c)| **c > 1)
        .map(|(n, _)| n)
        .collect();
    let missing: Vec<_> = (0..total).filter(|n| !seen.contains_key(n)).collect();
    assert!(twice.is_empty(), "read more than once: {twice:?}");
    assert!(missing.is_empty(), "never read: {missing:?}");
    assert_eq!(numbers.len() as u64, total);
}

struct Files {
    rx: mpsc::Receiver<Envelope>,
    counters: SharedCounters,
    cancel: CancellationToken,
    task: JoinHandle<()>,
}

fn start_files(pattern: &Path, checkpoint: &Path, capacity: usize) -> Files {
    let source = FileSource::new(FileSourceConfig {
        patterns: vec![pattern.to_str().unwrap().to_owned()],
        checkpoint: Some(checkpoint.to_owned()),
        // Fast polls keep the test short; nothing here depends on their timing.
        poll: Duration::from_millis(20),
    })
    .unwrap();
    let (tx, rx) = mpsc::channel(capacity);
    let counters = SharedCounters::default();
    let cancel = CancellationToken::new();
    let run = source.run(tx, None, counters.clone(), cancel.clone());
    let task = tokio::spawn(async move { run.await.unwrap() });
    Files {
        rx,
        counters,
        cancel,
        task,
    }
}

impl Files {
    /// Cancels, then reads everything the source still hands over until it has stopped.
    async fn stop(mut self, progress: &Progress) -> SharedCounters {
        self.cancel.cancel();
        while let Ok(Some(chunk)) = tokio::time::timeout(LIMIT, self.rx.recv()).await {
            progress.add(&chunk);
        }
        self.task.await.unwrap();
        self.counters
    }
}

fn append(path: &Path) -> std::fs::File {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap()
}

fn rotated(dir: &Path, k: usize) -> PathBuf {
    dir.join(format!("app.log.{k}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_rotation_rename_and_truncate_each_line_once() {
    const TOTAL: u64 = 6000;
    const ROTATE_EVERY: u64 = 1000;
    const TRUNCATE_AT: u64 = 2500;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    let mut files = start_files(
        &dir.path().join("app.log*"),
        &dir.path().join("cp.json"),
        64,
    );
    let progress = Arc::new(Progress::default());

    let writer = {
        let (progress, dir, log) = (progress.clone(), dir.path().to_owned(), log.clone());
        std::thread::spawn(move || {
            let mut file = append(&log);
            let mut before_truncation = 0;
            for n in 0..TOTAL {
                if n > 0 && n % ROTATE_EVERY == 0 {
                    // logrotate's default: rename, then a new file at the old name.
                    std::fs::rename(&log, rotated(&dir, (n / ROTATE_EVERY) as usize)).unwrap();
                    file = append(&log);
                }
                if n == TRUNCATE_AT {
                    // copytruncate's way: the reader must have read what is cut away, or it
                    // is lost for any reader; then it has to notice the file shrank.
                    progress.wait_for(n as usize);
                    file.set_len(0).unwrap();
                    before_truncation = n;
                }
                writeln!(file, "line {n}").unwrap();
                if n == before_truncation + 5 && before_truncation > 0 {
                    // A few short lines, well under the old size, must be read from offset 0.
                    progress.wait_for(n as usize + 1);
                }
            }
        })
    };
    while progress.count() < TOTAL as usize {
        match tokio::time::timeout(LIMIT, files.rx.recv()).await {
            Ok(Some(chunk)) => progress.add(&chunk),
            other => panic!("lines stopped at {}: {other:?}", progress.count()),
        }
    }
    writer.join().unwrap();
    let counters = files.stop(&progress).await;
    assert_exactly_once(&progress.numbers.lock().unwrap(), TOTAL);
    assert_eq!(
        counters.lines(),
        TOTAL,
        "logs_processed counts each line once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_rotation_restart_mid_file_each_line_once() {
    const FIRST: u64 = 100_000;
    const MORE: u64 = 300;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    let checkpoint = dir.path().join("state/cp.json");
    let mut file = append(&log);
    let text: String = (0..FIRST).map(|n| format!("line {n}\n")).collect();
    file.write_all(text.as_bytes()).unwrap();
    // A partial last line: it belongs to no run until its newline is written.
    write!(file, "line {FIRST}").unwrap();

    // A one-chunk channel the test reads slowly: the source is stopped mid-file.
    let progress = Progress::default();
    let mut files = start_files(&dir.path().join("app.log*"), &checkpoint, 1);
    for _ in 0..2 {
        let chunk = tokio::time::timeout(LIMIT, files.rx.recv())
            .await
            .unwrap()
            .unwrap();
        progress.add(&chunk);
    }
    let first = files.stop(&progress).await;
    let read_first = progress.count() as u64;
    assert!(read_first < FIRST, "stopped mid-file, read {read_first}");
    assert_eq!(first.lines(), read_first);
    assert!(checkpoint.exists());

    // While stopped: the line is completed, the file rotated, a new one written.
    writeln!(file).unwrap();
    std::fs::rename(&log, rotated(dir.path(), 1)).unwrap();
    let mut file = append(&log);
    for n in FIRST + 1..FIRST + 1 + MORE {
        writeln!(file, "line {n}").unwrap();
    }

    let total = FIRST + 1 + MORE;
    let mut files = start_files(&dir.path().join("app.log*"), &checkpoint, 64);
    while (progress.count() as u64) < total {
        match tokio::time::timeout(LIMIT, files.rx.recv()).await {
            Ok(Some(chunk)) => progress.add(&chunk),
            other => panic!("lines stopped at {}: {other:?}", progress.count()),
        }
    }
    let second = files.stop(&progress).await;
    assert_exactly_once(&progress.numbers.lock().unwrap(), total);
    assert_eq!(read_first + second.lines(), total);
}
