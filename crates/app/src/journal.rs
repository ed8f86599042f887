//! The ingest journal: request bodies that HTTP and OTLP ingest accept, on disk before they
//! are answered.
//!
//! A 2xx promises that the lines are kept. Between that answer and the commit of the windows
//! that hold them, the lines live only in the pipeline's memory, and a crash there would lose
//! what was acknowledged. So every accepted body is appended here and synced (`fdatasync`)
//! before the answer, replayed at the next start, and forgotten once every event of it is in a
//! stored window: a segment whose records are all stored is deleted. This is the write-ahead
//! log of Loki's ingesters and Vector's disk buffers. The replay is exactly-once because the
//! windows' transaction records how many events of each record it counted (the store's
//! `consumed` rows, keyed by the journal's name and the record's number): a record whose
//! windows were partly stored before the crash skips those, as a NATS message delivered again
//! does.
//!
//! Appends are committed in groups: the writer thread takes every append waiting, writes them
//! and syncs once, so requests in flight together share one sync. The journal holds at most
//! `max_bytes` of records not yet stored; past that, appends are refused (the request gets
//! 429) until the store catches up.
//!
//! A record on disk: `len: u32 | crc32: u32 | seq: u64 | received: i64 (ms) | kind: u8 |
//! body`, little-endian, where `len` counts what follows the checksum and the checksum covers
//! it. A record cut short by a crash was never answered (it would have been synced first), so
//! the replay stops at the first record that does not check out.

use std::collections::{BTreeSet, VecDeque};
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, mpsc};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use tokio::sync::oneshot;

use crate::metrics::{JOURNAL_BYTES, JOURNAL_ERRORS};
use crate::pipeline::Receipt;
use crate::sync::lock;

/// A segment is closed and a new one begun once it holds this much, or an eighth of the
/// journal's bound if that is less: a segment goes only once closed, so what is stored must not
/// wait long in the open one.
const SEGMENT_BYTES: u64 = 64 << 20;
/// Bytes after the length and the checksum: seq, received, kind.
const META: usize = 8 + 8 + 1;
/// Length and checksum.
const PREFIX: usize = 4 + 4;
/// Appends one sync commits at most.
const GROUP: usize = 256;
/// Servers of one database on one machine, at most, each with a journal of its own.
const SLOTS: usize = 64;
/// What segment files are called: their first record's number, and this.
const SUFFIX: &str = "journal";

/// Why the journal cannot take or keep records.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error(
        "the ingest journal is full ({0} bytes of accepted lines are not stored yet); retry \
         once the store catches up"
    )]
    Full(u64),
    #[error("cannot write the ingest journal: {0}")]
    Write(String),
    #[error("the ingest journal has stopped")]
    Stopped,
    #[error("cannot open the ingest journal {}: {cause}; choose another with --journal", .dir.display())]
    Open { dir: PathBuf, cause: io::Error },
    #[error(
        "the ingest journal {} is in use by another running incident-commander; give each \
         server its own with --journal", .0.display()
    )]
    InUse(PathBuf),
}

/// Where the ingest journal lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JournalPlace {
    /// `--journal DIR`: this directory, for this server alone.
    Dir(PathBuf),
    /// The default: the first free slot under this directory, one directory per database, so
    /// that several servers of one database on one machine each have one, and a server
    /// started after a crash takes up what the crashed one left.
    Slots(PathBuf),
    /// An in-memory database keeps nothing across a restart: no journal either.
    Off,
}

/// The writing end; cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct Journal {
    /// `None` only while dropping.
    appends: Option<mpsc::Sender<Append>>,
    writer: Option<std::thread::JoinHandle<()>>,
    shared: Arc<Shared>,
}

/// What was appended is on disk already; dropping waits for the writer's last group.
impl Drop for Journal {
    fn drop(&mut self) {
        self.appends.take();
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

/// A record read back at start, to be analyzed again.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub seq: u64,
    pub received: DateTime<Utc>,
    pub kind: u8,
    pub body: Bytes,
    /// Its events are in stored windows once this hears that all of them are.
    pub entry: Arc<Entry>,
}

/// What the previous runs left: the segments to read again, oldest first.
#[derive(Debug)]
pub struct Replay {
    segments: Vec<(PathBuf, usize)>,
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Append {
    kind: u8,
    received: DateTime<Utc>,
    body: Bytes,
    events: u64,
    reply: oneshot::Sender<Result<Arc<Entry>, JournalError>>,
}

#[derive(Debug)]
struct Shared {
    /// The name the store's `consumed` rows know this journal by.
    stream: String,
    dir: PathBuf,
    max_bytes: u64,
    state: Mutex<State>,
    /// Why the last write failed, while no write has succeeded since: for readiness.
    problem: Mutex<Option<String>>,
    /// Held for as long as the journal is open: one server per journal.
    _lock: File,
}

#[derive(Debug, Default)]
struct State {
    /// Records written or left to replay whose events are not all stored yet.
    pending: BTreeSet<u64>,
    /// Segments on disk, oldest first; the last may be the one being written.
    segments: VecDeque<Segment>,
    /// Their bytes, together.
    bytes: u64,
}

#[derive(Debug)]
struct Segment {
    path: PathBuf,
    /// The highest record number in it (0 while empty).
    last: u64,
    bytes: u64,
    /// Being written: it stays, whatever is stored.
    open: bool,
}

/// One record on its way through the pipeline: it is done once all its events are stored.
#[derive(Debug)]
pub struct Entry {
    shared: Arc<Shared>,
    seq: u64,
    remaining: AtomicU64,
}

impl Receipt for Entry {
    fn key(&self) -> (&str, u64) {
        (&self.shared.stream, self.seq)
    }

    fn stored(&self, events: u64) {
        if events > 0 && self.remaining.fetch_sub(events, Ordering::AcqRel) == events {
            self.shared.done(self.seq);
        }
    }

    /// The record stays in the journal and is analyzed again at the next start.
    fn failed(&self) {}
}

impl Journal {
    /// Opens (creating) the journal in `dir`, and what earlier runs left in it to replay. Fails
    /// when another server holds it.
    pub fn open(dir: &Path, max_bytes: u64) -> Result<(Arc<Journal>, Replay), JournalError> {
        let open_error = |cause| JournalError::Open {
            dir: dir.to_owned(),
            cause,
        };
        fs::create_dir_all(dir).map_err(open_error)?;
        let lock = File::create(dir.join("lock")).map_err(open_error)?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => return Err(JournalError::InUse(dir.to_owned())),
            Err(fs::TryLockError::Error(cause)) => return Err(open_error(cause)),
        }
        let stream = format!("journal:{}", journal_id(dir).map_err(open_error)?);
        let mut state = State::default();
        let mut replay = Vec::new();
        let mut next = 1;
        for path in segment_files(dir).map_err(open_error)? {
            let data = fs::read(&path).map_err(open_error)?;
            let (records, valid) = records_in(&data);
            if valid < data.len() {
                tracing::warn!(
                    segment = %path.display(),
                    bytes = data.len() - valid,
                    "The ingest journal ends in a record a crash cut short; it was never \
                     answered, and is dropped."
                );
            }
            let last = records.last().map_or(0, |r| r.seq);
            next = next.max(last + 1);
            state.pending.extend(records.iter().map(|r| r.seq));
            state.bytes += data.len() as u64;
            state.segments.push_back(Segment {
                path: path.clone(),
                last,
                bytes: data.len() as u64,
                open: false,
            });
            replay.push((path, valid));
        }
        let shared = Arc::new(Shared {
            stream,
            dir: dir.to_owned(),
            max_bytes,
            state: Mutex::new(state),
            problem: Mutex::new(None),
            _lock: lock,
        });
        let (tx, rx) = mpsc::channel();
        let writer = Writer {
            shared: shared.clone(),
            file: None,
            next,
        };
        let writer = std::thread::Builder::new()
            .name("journal".into())
            .spawn(move || writer.run(&rx))
            .map_err(open_error)?;
        let journal = Journal {
            appends: Some(tx),
            writer: Some(writer),
            shared: shared.clone(),
        };
        Ok((
            Arc::new(journal),
            Replay {
                segments: replay,
                shared,
            },
        ))
    }

    /// Opens the journal `place` says, if any.
    pub fn open_at(
        place: &JournalPlace,
        max_bytes: u64,
    ) -> Result<Option<(Arc<Journal>, Replay)>, JournalError> {
        match place {
            JournalPlace::Dir(dir) => Self::open(dir, max_bytes).map(Some),
            JournalPlace::Slots(base) => {
                for slot in 0..SLOTS {
                    match Self::open(&base.join(slot.to_string()), max_bytes) {
                        Err(JournalError::InUse(_)) => continue,
                        opened => return opened.map(Some),
                    }
                }
                Err(JournalError::InUse(base.clone()))
            }
            JournalPlace::Off => Ok(None),
        }
    }

    /// Appends a body of `events` events and returns once it is on disk.
    pub async fn append(
        &self,
        kind: u8,
        received: DateTime<Utc>,
        body: Bytes,
        events: u64,
    ) -> Result<Arc<Entry>, JournalError> {
        let (reply, answer) = oneshot::channel();
        let append = Append {
            kind,
            received,
            body,
            events,
            reply,
        };
        self.appends
            .as_ref()
            .ok_or(JournalError::Stopped)?
            .send(append)
            .map_err(|_| JournalError::Stopped)?;
        answer.await.map_err(|_| JournalError::Stopped)?
    }

    /// Bytes of records not yet forgotten.
    #[cfg(test)]
    pub fn bytes(&self) -> u64 {
        self.shared.lock().bytes
    }

    /// Why the journal cannot write, while it cannot.
    pub fn problem(&self) -> Option<String> {
        lock(&self.shared.problem).clone()
    }
}

impl Replay {
    /// How many segments earlier runs left.
    pub fn segments(&self) -> usize {
        self.segments.len()
    }

    /// The records of the `i`-th segment left, read whole (it blocks): one segment at a time
    /// is in memory.
    pub fn read(&self, i: usize) -> io::Result<Vec<Recorded>> {
        let (path, valid) = &self.segments[i];
        let mut data = fs::read(path)?;
        data.truncate(*valid);
        let data = Bytes::from(data);
        let (records, _) = records_in(&data);
        Ok(records
            .into_iter()
            .map(|r| Recorded {
                seq: r.seq,
                received: r.received,
                kind: r.kind,
                body: data.slice(r.body),
                entry: Arc::new(Entry {
                    shared: self.shared.clone(),
                    seq: r.seq,
                    remaining: AtomicU64::new(u64::MAX),
                }),
            })
            .collect())
    }

    /// The name the store knows this journal's records by.
    pub fn stream(&self) -> &str {
        &self.shared.stream
    }
}

impl Recorded {
    /// Sets how many of its events are still to be stored, once it is parsed again and what
    /// windows stored before the crash counted is known: the record is done when they are.
    pub fn holds(&self, events: u64) {
        self.entry.remaining.store(events, Ordering::Release);
        if events == 0 {
            self.entry.shared.done(self.seq);
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Every event of record `seq` is stored.
    fn done(&self, seq: u64) {
        let mut state = self.lock();
        state.pending.remove(&seq);
        Self::collect(&mut state);
    }

    /// The segment being written is closed: a new one begins with the next write.
    fn close_segment(&self) {
        let mut state = self.lock();
        if let Some(segment) = state.segments.back_mut() {
            segment.open = false;
        }
        Self::collect(&mut state);
    }

    /// Deletes the oldest closed segments whose records are all stored.
    fn collect(state: &mut State) {
        while let Some(oldest) = state.segments.front() {
            if oldest.open || state.pending.first().is_some_and(|&p| p <= oldest.last) {
                break;
            }
            if let Err(err) = fs::remove_file(&oldest.path) {
                tracing::warn!(%err, segment = %oldest.path.display(), "Cannot delete a stored segment of the ingest journal.");
            }
            let bytes = oldest.bytes;
            state.bytes -= bytes;
            state.segments.pop_front();
        }
        metrics::gauge!(JOURNAL_BYTES).set(state.bytes as f64);
    }
}

/// The thread that writes and syncs, owning the open segment.
struct Writer {
    shared: Arc<Shared>,
    file: Option<BufWriter<File>>,
    /// The next record's number.
    next: u64,
}

impl Writer {
    fn run(mut self, appends: &mpsc::Receiver<Append>) {
        while let Ok(first) = appends.recv() {
            let mut group = vec![first];
            group.extend(appends.try_iter().take(GROUP - 1));
            let group = self.admit(group);
            if group.is_empty() {
                continue;
            }
            match self.write(&group) {
                Ok(written) => {
                    lock(&self.shared.problem).take();
                    self.accepted(group, written);
                }
                Err(err) => {
                    *lock(&self.shared.problem) = Some(err.to_string());
                    metrics::counter!(JOURNAL_ERRORS).increment(1);
                    tracing::error!(%err, dir = %self.shared.dir.display(), "Writing the ingest journal failed; its requests are answered 503.");
                    // What the failed write left is at the segment's end: the next starts anew.
                    self.file = None;
                    self.shared.close_segment();
                    for append in group {
                        let _ = append.reply.send(Err(JournalError::Write(err.to_string())));
                    }
                }
            }
        }
    }

    /// The appends there is room for; the others are refused.
    fn admit(&self, group: Vec<Append>) -> Vec<Append> {
        let mut room = {
            let state = self.shared.lock();
            self.shared.max_bytes.saturating_sub(state.bytes)
        };
        let mut admitted = Vec::with_capacity(group.len());
        for append in group {
            let size = (PREFIX + META + append.body.len()) as u64;
            if size > room {
                let held = self.shared.max_bytes - room;
                let _ = append.reply.send(Err(JournalError::Full(held)));
            } else {
                room -= size;
                admitted.push(append);
            }
        }
        admitted
    }

    /// Writes the group at the end of the open segment and syncs; the bytes written.
    fn write(&mut self, group: &[Append]) -> io::Result<u64> {
        let file = match &mut self.file {
            Some(file) => file,
            None => self.file.insert(self.begin_segment()?),
        };
        let mut written = 0;
        for (i, append) in group.iter().enumerate() {
            let seq = self.next + i as u64;
            let mut meta = [0u8; META];
            meta[..8].copy_from_slice(&seq.to_le_bytes());
            meta[8..16].copy_from_slice(&append.received.timestamp_millis().to_le_bytes());
            meta[16] = append.kind;
            let mut crc = crc32fast::Hasher::new();
            crc.update(&meta);
            crc.update(&append.body);
            let len = u32::try_from(META + append.body.len())
                .map_err(|_| io::Error::other("a body over 4 GiB"))?;
            file.write_all(&len.to_le_bytes())?;
            file.write_all(&crc.finalize().to_le_bytes())?;
            file.write_all(&meta)?;
            file.write_all(&append.body)?;
            written += (PREFIX + META + append.body.len()) as u64;
        }
        file.flush()?;
        file.get_ref().sync_data()?;
        Ok(written)
    }

    /// Opens a new segment named after the next record, and makes its name durable.
    fn begin_segment(&self) -> io::Result<BufWriter<File>> {
        let path = self.shared.dir.join(format!("{:020}.{SUFFIX}", self.next));
        let file = File::options().create_new(true).append(true).open(&path)?;
        File::open(&self.shared.dir)?.sync_all()?;
        self.shared.lock().segments.push_back(Segment {
            path,
            last: 0,
            bytes: 0,
            open: true,
        });
        Ok(BufWriter::with_capacity(1 << 20, file))
    }

    /// The group is on disk: its records wait for their windows, and their requests hear so.
    fn accepted(&mut self, group: Vec<Append>, written: u64) {
        let first = self.next;
        self.next += group.len() as u64;
        let full = {
            let mut state = self.shared.lock();
            state.pending.extend(first..self.next);
            state.bytes += written;
            metrics::gauge!(JOURNAL_BYTES).set(state.bytes as f64);
            let segment = state.segments.back_mut().expect("the segment just written");
            segment.last = self.next - 1;
            segment.bytes += written;
            segment.bytes >= SEGMENT_BYTES.min(self.shared.max_bytes / 8)
        };
        if full {
            self.file = None;
            self.shared.close_segment();
        }
        for (i, append) in group.into_iter().enumerate() {
            let entry = Arc::new(Entry {
                shared: self.shared.clone(),
                seq: first + i as u64,
                remaining: AtomicU64::new(append.events),
            });
            if append.reply.send(Ok(entry.clone())).is_err() {
                // The request is gone (its client hung up) but its lines are journaled: they
                // are analyzed at the next start, as if the server had died.
            }
        }
    }
}

/// A record found in a segment's bytes.
struct Found {
    seq: u64,
    received: DateTime<Utc>,
    kind: u8,
    body: std::ops::Range<usize>,
}

/// The records of a segment that check out, and the length they cover.
fn records_in(data: &[u8]) -> (Vec<Found>, usize) {
    let mut records = Vec::new();
    let mut at = 0;
    while let Some(found) = record_at(data, at) {
        at = found.body.end;
        records.push(found);
    }
    (records, at)
}

fn record_at(data: &[u8], at: usize) -> Option<Found> {
    let word = |from: usize| -> Option<[u8; 4]> { data.get(from..from + 4)?.try_into().ok() };
    let len = u32::from_le_bytes(word(at)?) as usize;
    let crc = u32::from_le_bytes(word(at + 4)?);
    let start = at + PREFIX;
    let rest = data.get(start..start.checked_add(len)?)?;
    if len < META || crc32fast::hash(rest) != crc {
        return None;
    }
    let seq = u64::from_le_bytes(rest[..8].try_into().ok()?);
    let millis = i64::from_le_bytes(rest[8..16].try_into().ok()?);
    Some(Found {
        seq,
        received: DateTime::from_timestamp_millis(millis).unwrap_or_default(),
        kind: rest[16],
        body: start + META..start + len,
    })
}

/// The segment files of `dir`, oldest first (their names are zero-padded numbers).
fn segment_files(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == SUFFIX) {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// The journal's name, made at its first opening: the store tells the records of journals of
/// several servers apart by it.
fn journal_id(dir: &Path) -> io::Result<String> {
    let path = dir.join("id");
    match fs::read_to_string(&path) {
        Ok(id) if !id.trim().is_empty() => return Ok(id.trim().to_owned()),
        Ok(_) => {}
        Err(err) if err.kind() == io::ErrorKind::NotFound => {}
        Err(err) => return Err(err),
    }
    let id = crate::instance::name().to_owned();
    let temporary = dir.join("id.new");
    fs::write(&temporary, &id)?;
    File::open(&temporary)?.sync_all()?;
    fs::rename(&temporary, &path)?;
    File::open(dir)?.sync_all()?;
    Ok(id)
}

#[cfg(test)]
mod tests;
