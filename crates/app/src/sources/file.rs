//! The file source: every file a glob matches, followed as `tail -F` follows it.
//!
//! Files are polled, not watched: every [`POLL`] the patterns are expanded again (new files
//! are read from their start) and each file is read to its end. A file is followed by its
//! identity (device and inode), so rotation is seen for what it is:
//!
//! - renamed to a name the pattern still matches (`app.log*` and `app.log.1`): the same file,
//!   read on under its new name, and the new file at the old name is read from its start;
//! - renamed away or deleted: read to its end, its last line even without a newline, then
//!   dropped. A file rotated away twice within one poll is missed, so a pattern that matches
//!   the rotated names too is the exact choice;
//! - truncated (its size below the offset read): read again from its start. A file truncated
//!   and grown past the old offset within one poll cannot be told from one that grew.
//!
//! Reads block, so they run on a thread of their own that sends straight into the ingest
//! channel and waits when it is full. A line is handed over once complete (a partial last
//! line waits for its newline), and a multi-line event once its file has been quiet for one
//! poll.
//!
//! The checkpoint (see [`checkpoint`](super::checkpoint)) never runs ahead of the store: it
//! keeps, per file, the offset up to which every event is in a stored window, written at most
//! every [`CHECKPOINT_EVERY`] and at shutdown. Each chunk names the runs of each file's events
//! it holds (the file's stream name and the run's first offset), and the windows' transaction
//! counts them as it counts NATS messages; once a run is stored, the file's stored offset moves
//! to its end. A restart (after a crash too) reads on from the checkpoint and first skips what
//! windows stored after it counted, so each line is counted once even when the checkpoint was
//! written a second before the crash.

use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, mpsc as std_mpsc};
use std::time::{Duration, Instant};

use chrono::Utc;
use ic_core::LogEvent;
use ic_core::parse::LineJoiner;
use ic_store::Store;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::checkpoint::{self, CheckpointError, Entry, FileId};
use super::reader::MAX_LINE_BYTES;
use crate::pipeline::{CHUNK_EVENTS, Chunk, Envelope, Origin, Receipt, SharedCounters};
use crate::sync::lock;

/// How often files at their end are checked for new lines, and patterns for new files.
pub const POLL: Duration = Duration::from_millis(250);
/// The checkpoint is written at most this often while lines flow (and always at shutdown).
pub const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);
/// At shutdown, how long the source waits for what it handed over to be stored before it
/// writes its last checkpoint.
const STORE_WAIT: Duration = Duration::from_secs(30);
/// Bytes read from one file before the others get their turn.
const READ_BUDGET: usize = 1 << 20;
const SOURCE: &str = "file";

/// What to follow and where to keep the offsets.
#[derive(Debug, Clone)]
pub struct FileSourceConfig {
    /// Glob patterns (`/var/log/app/*.log`); a plain path is a pattern matching one file.
    pub patterns: Vec<String>,
    /// The checkpoint file; `None` keeps no offsets (every start reads the files again).
    pub checkpoint: Option<PathBuf>,
    pub poll: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum FileSourceError {
    #[error("`{pattern}` is not a valid file pattern: {source}")]
    Pattern {
        pattern: String,
        source: glob::PatternError,
    },
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error("cannot start the file reader thread: {0}")]
    Thread(io::Error),
}

/// A file source checked and ready: patterns valid, checkpoint read.
#[derive(Debug)]
pub struct FileSource {
    config: FileSourceConfig,
    resume: Vec<Entry>,
}

impl FileSource {
    /// Checks the patterns and reads the checkpoint, so that mistakes show at start-up.
    pub fn new(config: FileSourceConfig) -> Result<Self, FileSourceError> {
        for pattern in &config.patterns {
            glob::Pattern::new(pattern).map_err(|source| FileSourceError::Pattern {
                pattern: pattern.clone(),
                source,
            })?;
        }
        let resume = match &config.checkpoint {
            Some(path) => checkpoint::load(path)?,
            None => Vec::new(),
        };
        Ok(Self { config, resume })
    }

    /// Follows the files until `cancel` fires; what was read by then is handed over and
    /// checkpointed before this returns. `store` tells, at start, what of each file windows
    /// stored after the checkpoint was written; without one, nothing is skipped.
    pub async fn run(
        self,
        ingest: mpsc::Sender<Envelope>,
        store: Option<Arc<dyn Store>>,
        counters: SharedCounters,
        cancel: CancellationToken,
    ) -> Result<(), FileSourceError> {
        // Dropping `wake` interrupts the thread's wait between polls at once.
        let (wake, asleep) = std_mpsc::channel::<()>();
        let (done_tx, mut done) = oneshot::channel();
        let lookup = store.map(|store| Lookup {
            store,
            runtime: tokio::runtime::Handle::current(),
        });
        let follower = Follower::new(self, ingest, lookup, counters, cancel.clone(), asleep);
        std::thread::Builder::new()
            .name("file-source".into())
            .spawn(move || {
                let _ = done_tx.send(follower.run());
            })
            .map_err(FileSourceError::Thread)?;
        tokio::select! {
            () = cancel.cancelled() => drop(wake),
            result = &mut done => return result.unwrap_or(Ok(())),
        }
        done.await.unwrap_or(Ok(()))
    }
}

/// One followed file.
struct Tailed {
    path: PathBuf,
    id: FileId,
    file: File,
    /// Bytes read from the file so far.
    read: u64,
    /// Bytes read that do not end in a newline yet.
    partial: Vec<u8>,
    /// Where `partial` starts: the end of the last complete line taken.
    consumed: u64,
    joiner: LineJoiner,
    /// Where the event the joiner holds starts, if it holds one.
    pending_from: Option<u64>,
    /// The name the store counts this file's runs under: new for every file read from its
    /// start, kept in the checkpoint.
    stream: Arc<str>,
    /// Where its next run starts: the end of its last event handed over.
    run_from: u64,
    /// Events stored before a restart that are read again: skipped.
    skip: u64,
    /// Everything before this offset is in stored windows.
    stored: Arc<AtomicU64>,
}

impl Tailed {
    /// The offset up to which every line's event has left the joiner.
    fn emitted(&self) -> u64 {
        self.pending_from.unwrap_or(self.consumed)
    }

    fn entry(&self) -> Entry {
        Entry {
            path: self.path.clone(),
            id: self.id,
            offset: self.stored.load(Ordering::Acquire),
            stream: Some(self.stream.to_string()),
        }
    }

    /// Read again from its start, as a new file: the store counts it under a new name.
    fn restart(&mut self) {
        self.read = 0;
        self.consumed = 0;
        self.stream = new_stream();
        self.run_from = 0;
        self.stored = Arc::new(AtomicU64::new(0));
    }
}

/// A file that left the patterns (rotated away, deleted) stays in the checkpoint until what
/// was read of it is stored.
struct Departed {
    entry: Entry,
    end: u64,
    stored: Arc<AtomicU64>,
}

/// Consecutive events of one file in the chunk being filled.
struct Run {
    stream: Arc<str>,
    start: u64,
    end: u64,
    events: u64,
    stored: Arc<AtomicU64>,
}

/// A run on its way through the pipeline: once all its events are stored, its file's stored
/// offset moves to its end (runs are stored in order).
#[derive(Debug)]
struct StoredRun {
    stream: Arc<str>,
    start: u64,
    end: u64,
    remaining: AtomicU64,
    stored: Arc<AtomicU64>,
    wake: Arc<Wake>,
}

/// Tells a source stopping that more of what it handed over is stored.
#[derive(Debug, Default)]
struct Wake {
    lock: Mutex<()>,
    stored: Condvar,
}

impl Receipt for StoredRun {
    fn key(&self) -> (&str, u64) {
        (&self.stream, self.start)
    }

    fn stored(&self, events: u64) {
        if self.remaining.fetch_sub(events, Ordering::AcqRel) == events {
            self.stored.fetch_max(self.end, Ordering::AcqRel);
            let _held = lock(&self.wake.lock);
            self.wake.stored.notify_all();
        }
    }

    /// The offset stays: a restart reads the run again.
    fn failed(&self) {}
}

/// A new name for a file's runs: this run's name and a counter, unique across runs.
fn new_stream() -> Arc<str> {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("file:{}-{n}", crate::instance::name()).into()
}

/// Where the reader thread asks what windows stored.
struct Lookup {
    store: Arc<dyn Store>,
    runtime: tokio::runtime::Handle,
}

impl Lookup {
    /// Events of `stream` stored from `offset` on; on a database error, 0 (said in the log:
    /// those lines may then be counted twice, never lost).
    fn stored_from(&self, stream: &str, offset: u64, path: &std::path::Path) -> u64 {
        match self
            .runtime
            .block_on(self.store.consumed_from(stream, offset))
        {
            Ok(events) => events,
            Err(err) => {
                tracing::warn!(%err, path = %path.display(), "Cannot tell what of a file was stored after its checkpoint; reading on from the checkpoint may count those lines twice.");
                0
            }
        }
    }
}

/// The reader thread's state.
struct Follower {
    patterns: Vec<String>,
    poll: Duration,
    checkpoint: Option<PathBuf>,
    resume: Vec<Entry>,
    files: Vec<Tailed>,
    departed: Vec<Departed>,
    ingest: mpsc::Sender<Envelope>,
    lookup: Option<Lookup>,
    counters: SharedCounters,
    cancel: CancellationToken,
    asleep: std_mpsc::Receiver<()>,
    chunk: Chunk,
    /// The runs of `chunk`, in order.
    runs: Vec<Run>,
    wake: Arc<Wake>,
    lines: u64,
    saved: Option<Instant>,
    /// The checkpoint as last written, to write it only when it changed.
    written: Vec<Entry>,
    /// The ingest channel closed: nobody reads any more.
    closed: bool,
}

impl Follower {
    fn new(
        source: FileSource,
        ingest: mpsc::Sender<Envelope>,
        lookup: Option<Lookup>,
        counters: SharedCounters,
        cancel: CancellationToken,
        asleep: std_mpsc::Receiver<()>,
    ) -> Self {
        Self {
            patterns: source.config.patterns,
            poll: source.config.poll,
            checkpoint: source.config.checkpoint,
            written: source.resume.clone(),
            resume: source.resume,
            files: Vec::new(),
            departed: Vec::new(),
            ingest,
            lookup,
            counters,
            cancel,
            asleep,
            chunk: Chunk::with_capacity(CHUNK_EVENTS),
            runs: Vec::new(),
            wake: Arc::default(),
            lines: 0,
            saved: None,
            closed: false,
        }
    }

    fn stopping(&self) -> bool {
        self.closed || self.cancel.is_cancelled()
    }

    /// Scan, read, checkpoint, sleep when there was nothing to read; until cancelled.
    fn run(mut self) -> Result<(), FileSourceError> {
        self.warn_unmatched();
        let mut scanned: Option<Instant> = None;
        while !self.stopping() {
            if scanned.is_none_or(|at| at.elapsed() >= self.poll) {
                self.scan();
                scanned = Some(Instant::now());
            }
            let busy = self.read_all();
            self.send();
            let due = self.saved.is_none_or(|at| at.elapsed() >= CHECKPOINT_EVERY);
            if due && let Err(err) = self.save() {
                // Reading goes on; the next write may succeed (a full disk freed).
                tracing::warn!(%err, "Checkpoint not written.");
            }
            if !busy
                && self.asleep.recv_timeout(self.poll)
                    == Err(std_mpsc::RecvTimeoutError::Disconnected)
            {
                break;
            }
        }
        // Events held for their continuation lines go out; partial lines stay for next time.
        for i in 0..self.files.len() {
            self.finish_event(i);
        }
        self.send();
        // Our end of the channel closes, so the pipeline can drain; once it has stored what
        // was handed over, the last checkpoint holds all of it.
        drop(std::mem::replace(&mut self.ingest, mpsc::channel(1).0));
        self.wait_for_stored();
        self.save()
    }

    /// Waits, at most [`STORE_WAIT`], until every event handed over is in a stored window.
    fn wait_for_stored(&self) {
        let deadline = Instant::now() + STORE_WAIT;
        let all_stored = || {
            let files = self.files.iter().map(|f| (&f.stored, f.run_from));
            let departed = self.departed.iter().map(|d| (&d.stored, d.end));
            files
                .chain(departed)
                .all(|(stored, end)| stored.load(Ordering::Acquire) >= end)
        };
        let mut guard = lock(&self.wake.lock);
        while !all_stored() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                tracing::warn!(
                    "Stopping before the files' last lines were stored; the next start skips what was."
                );
                return;
            }
            guard = self
                .wake
                .stored
                .wait_timeout(guard, left)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
    }

    fn warn_unmatched(&self) {
        for pattern in &self.patterns {
            if expand(pattern).is_empty() {
                tracing::warn!(%pattern, "No file matches yet; waiting for one.");
            }
        }
    }

    /// Expands the patterns: files seen for the first time are opened, files that moved are
    /// renamed, files no pattern reaches any more are read to their end and dropped.
    fn scan(&mut self) {
        let mut seen = Vec::new();
        for pattern in &self.patterns {
            for path in expand(pattern) {
                let Ok(metadata) = fs::metadata(&path) else {
                    continue;
                };
                if metadata.is_file() && !seen.iter().any(|(id, _)| *id == FileId::of(&metadata)) {
                    seen.push((FileId::of(&metadata), path));
                }
            }
        }
        let mut i = 0;
        while i < self.files.len() {
            match seen.iter().find(|(id, _)| *id == self.files[i].id) {
                Some((_, path)) => {
                    self.files[i].path.clone_from(path);
                    i += 1;
                }
                None => self.depart(i),
            }
        }
        for (id, path) in seen {
            if !self.files.iter().any(|f| f.id == id) {
                self.open(id, path);
            }
        }
    }

    /// A file rotated away or deleted: whatever was written to it last is still read.
    fn depart(&mut self, i: usize) {
        self.read_file(i, usize::MAX);
        self.finish_partial(i);
        self.finish_event(i);
        // Sent before the file leaves the list; it leaves the checkpoint once stored.
        self.send();
        let file = self.files.remove(i);
        tracing::info!(path = %file.path.display(), "File rotated away; read to its end.");
        self.departed.push(Departed {
            entry: file.entry(),
            end: file.run_from,
            stored: file.stored,
        });
    }

    fn open(&mut self, id: FileId, path: PathBuf) {
        let mut file = match File::open(&path) {
            Ok(file) => file,
            Err(err) => {
                tracing::warn!(path = %path.display(), %err, "Cannot open a matching file.");
                return;
            }
        };
        let len = file.metadata().map_or(0, |m| m.len());
        let resumed = match self.resume.iter().position(|e| e.id == id) {
            Some(at) => {
                let entry = self.resume.swap_remove(at);
                // A file now shorter than its checkpoint was truncated meanwhile.
                (entry.offset <= len).then_some(entry)
            }
            None => None,
        };
        let (offset, stream) = match resumed {
            Some(Entry {
                offset,
                stream: Some(stream),
                ..
            }) => (offset, Arc::from(stream)),
            Some(entry) => (entry.offset, new_stream()),
            None => (0, new_stream()),
        };
        if offset > 0 && file.seek(SeekFrom::Start(offset)).is_err() {
            return;
        }
        let skip = match &self.lookup {
            Some(lookup) => lookup.stored_from(&stream, offset, &path),
            None => 0,
        };
        tracing::info!(path = %path.display(), offset, skip, "Following a file.");
        self.files.push(Tailed {
            path,
            id,
            file,
            read: offset,
            partial: Vec::new(),
            consumed: offset,
            joiner: LineJoiner::new(),
            pending_from: None,
            stream,
            run_from: offset,
            skip,
            stored: Arc::new(AtomicU64::new(offset)),
        });
    }

    /// Reads every file once; true if any had new bytes.
    fn read_all(&mut self) -> bool {
        let mut busy = false;
        for i in 0..self.files.len() {
            if self.stopping() {
                break;
            }
            if self.check_truncated(i) {
                busy = true;
            }
            if self.read_file(i, READ_BUDGET) {
                busy = true;
            } else {
                // Quiet for a whole poll: no continuation line is coming soon.
                self.finish_event(i);
            }
        }
        busy
    }

    /// A file shorter than what was read from it was truncated: read it again from 0.
    fn check_truncated(&mut self, i: usize) -> bool {
        let file = &mut self.files[i];
        let len = match file.file.metadata() {
            Ok(metadata) => metadata.len(),
            Err(_) => return false,
        };
        if len >= file.read {
            return false;
        }
        tracing::info!(path = %file.path.display(), "File truncated; reading it from the start.");
        self.finish_partial(i);
        self.finish_event(i);
        let file = &mut self.files[i];
        if file.file.seek(SeekFrom::Start(0)).is_err() {
            return false;
        }
        file.restart();
        true
    }

    /// Reads up to `budget` bytes of one file and takes its complete lines; true if any
    /// byte was read.
    fn read_file(&mut self, i: usize, budget: usize) -> bool {
        let mut buf = [0u8; 1 << 16];
        let mut total = 0usize;
        while total < budget && !self.stopping() {
            let n = match self.files[i].file.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => {
                    tracing::warn!(path = %self.files[i].path.display(), %err, "Reading a file failed.");
                    break;
                }
            };
            total += n;
            let file = &mut self.files[i];
            file.read += n as u64;
            file.partial.extend_from_slice(&buf[..n]);
            self.take_lines(i);
        }
        total > 0
    }

    /// Moves the complete lines of a file's buffer into the joiner; a line over
    /// [`MAX_LINE_BYTES`] is cut into pieces, as the other sources cut it.
    fn take_lines(&mut self, i: usize) {
        let base = self.files[i].consumed;
        let mut start = 0;
        loop {
            let rest = &self.files[i].partial[start..];
            let end = match rest.iter().position(|b| *b == b'\n') {
                Some(newline) if newline < MAX_LINE_BYTES => newline + 1,
                _ if rest.len() >= MAX_LINE_BYTES => MAX_LINE_BYTES,
                _ => break,
            };
            let line = rest[..end].to_vec();
            let line_start = base + start as u64;
            start += end;
            self.files[i].consumed = base + start as u64;
            self.push_line(i, &line, line_start);
        }
        self.files[i].partial.drain(..start);
    }

    /// Hands a partial last line over as a line: its file will not grow any more.
    fn finish_partial(&mut self, i: usize) {
        let line = std::mem::take(&mut self.files[i].partial);
        if !line.is_empty() {
            let start = self.files[i].consumed;
            self.files[i].consumed = self.files[i].read;
            self.push_line(i, &line, start);
        }
    }

    /// One line into the file's joiner; the event it completes into the chunk.
    fn push_line(&mut self, i: usize, line: &[u8], start: u64) {
        self.lines += 1;
        let text = String::from_utf8_lossy(line);
        if text.trim().is_empty() {
            metrics::counter!(crate::metrics::LINES_DROPPED, "reason" => "blank").increment(1);
        }
        let file = &mut self.files[i];
        let was_pending = file.joiner.is_pending();
        let done = file.joiner.push(&text, Utc::now());
        if done.is_some() || !was_pending {
            file.pending_from = file.joiner.is_pending().then_some(start);
        }
        if let Some(event) = done {
            self.emit(i, event);
        }
    }

    /// The event a file's joiner holds goes into the chunk.
    fn finish_event(&mut self, i: usize) {
        let file = &mut self.files[i];
        file.pending_from = None;
        if let Some(event) = file.joiner.finish() {
            self.emit(i, event);
        }
    }

    /// An event of file `i` into the chunk, in the run of that file's events; one counted
    /// before a restart is skipped.
    fn emit(&mut self, i: usize, event: LogEvent) {
        let file = &mut self.files[i];
        let end = file.emitted();
        let start = std::mem::replace(&mut file.run_from, end);
        if file.skip > 0 {
            file.skip -= 1;
            return;
        }
        match self.runs.last_mut() {
            Some(run) if Arc::ptr_eq(&run.stream, &file.stream) => {
                run.end = end;
                run.events += 1;
            }
            _ => self.runs.push(Run {
                stream: file.stream.clone(),
                start,
                end,
                events: 1,
                stored: file.stored.clone(),
            }),
        }
        self.chunk.push(event);
        if self.chunk.len() >= CHUNK_EVENTS {
            self.send();
        }
    }

    /// Sends the chunk with its runs (waiting while the channel is full).
    fn send(&mut self) {
        if self.chunk.is_empty() {
            return;
        }
        let events = std::mem::replace(&mut self.chunk, Chunk::with_capacity(CHUNK_EVENTS));
        let origins = self
            .runs
            .drain(..)
            .map(|run| Origin {
                // A run is a message of its own, read whole.
                first: 0,
                events: run.events,
                receipt: Arc::new(StoredRun {
                    stream: run.stream,
                    start: run.start,
                    end: run.end,
                    remaining: AtomicU64::new(run.events),
                    stored: run.stored,
                    wake: self.wake.clone(),
                }),
            })
            .collect();
        self.counters
            .add(SOURCE, std::mem::take(&mut self.lines), events.len() as u64);
        if self
            .ingest
            .blocking_send(Envelope { events, origins })
            .is_err()
        {
            self.closed = true;
        }
    }

    /// Writes the checkpoint if what is stored moved: the files followed, and those that
    /// left while some of what was read of them is not stored yet.
    fn save(&mut self) -> Result<(), FileSourceError> {
        self.saved = Some(Instant::now());
        let Some(path) = &self.checkpoint else {
            return Ok(());
        };
        self.departed
            .retain(|d| d.stored.load(Ordering::Acquire) < d.end);
        let entries: Vec<Entry> = (self.files.iter().map(Tailed::entry))
            .chain(self.departed.iter().map(|d| Entry {
                offset: d.stored.load(Ordering::Acquire),
                ..d.entry.clone()
            }))
            .collect();
        if entries != self.written {
            checkpoint::save(path, &entries)?;
            self.written = entries;
        }
        Ok(())
    }
}

/// The regular files a pattern matches now; unreadable directory entries are skipped.
fn expand(pattern: &str) -> Vec<PathBuf> {
    match glob::glob(pattern) {
        Ok(paths) => paths.filter_map(Result::ok).collect(),
        Err(_) => Vec::new(),
    }
}
