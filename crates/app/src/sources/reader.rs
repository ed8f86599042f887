//! Lines from a blocking reader (a file, stdin), parsed into events on their own thread.
//!
//! Blocking reads run on a dedicated thread and hand chunks of events to an async relay, which
//! forwards them into the ingest channel and stops at shutdown even while the thread is stuck
//! in a read that will never return (an idle terminal).

use std::io::{self, BufRead, BufReader, Read};

use chrono::{DateTime, Utc};
use ic_core::parse::LineJoiner;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::pipeline::{CHUNK_EVENTS, Chunk, Envelope, SharedCounters};

/// Lines longer than this are cut into pieces of this size, each read as a line of its own,
/// so one endless line cannot exhaust memory.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// How events without a timestamp of their own are stamped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stamping {
    /// Live input: the time the line was read. A multi-line event waiting for more lines is
    /// sent as soon as the input goes quiet.
    Arrival,
    /// A replayed file: the timestamp of the event before, the best estimate of when the
    /// line was written.
    Replay,
}

/// Reads `reader` to its end on a blocking thread and sends its events into `ingest`, until
/// the input ends or `cancel` fires. Returns when the relay has stopped.
pub async fn relay<R: Read + Send + 'static>(
    source: &'static str,
    reader: R,
    stamping: Stamping,
    ingest: mpsc::Sender<Envelope>,
    counters: SharedCounters,
    cancel: CancellationToken,
) -> io::Result<()> {
    let (tx, mut rx) = mpsc::channel::<Chunk>(2);
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    // A plain thread, not `spawn_blocking`: a read that never returns must not keep the
    // runtime from shutting down.
    std::thread::Builder::new()
        .name("line-reader".into())
        .spawn(move || {
            let reader = BufReader::with_capacity(1 << 16, reader);
            let tally = Tally { source, counters };
            let _ = done_tx.send(read_events(reader, stamping, &tx, &tally));
        })?;
    loop {
        tokio::select! {
            () = cancel.cancelled() => {
                // What was already read is passed on; only unread input stays behind.
                while let Ok(events) = rx.try_recv() {
                    if ingest.send(events.into()).await.is_err() {
                        break;
                    }
                }
                return Ok(());
            }
            chunk = rx.recv() => match chunk {
                Some(events) => {
                    if ingest.send(events.into()).await.is_err() {
                        return Ok(());
                    }
                }
                None => break,
            },
        }
    }
    done_rx.await.unwrap_or(Ok(()))
}

/// The blocking loop: read, parse, join multi-line events, send in chunks.
fn read_events<R: Read>(
    mut reader: BufReader<R>,
    stamping: Stamping,
    tx: &mpsc::Sender<Chunk>,
    tally: &Tally,
) -> io::Result<()> {
    let mut joiner = LineJoiner::new();
    let mut chunk = Chunk::with_capacity(CHUNK_EVENTS);
    let mut lines_in_chunk = 0u64;
    let mut line = Vec::new();
    let mut last_stamp: Option<DateTime<Utc>> = None;
    let mut not_text = NotText::default();
    loop {
        if stamping == Stamping::Arrival && reader.buffer().is_empty() {
            // The next read may block: hand over what is complete before waiting.
            chunk.extend(joiner.finish());
            if !send(tx, &mut chunk, &mut lines_in_chunk, tally) {
                return Ok(());
            }
        }
        let Some(text) = read_line(&mut reader, &mut line)? else {
            break;
        };
        lines_in_chunk += 1;
        if text.iter().all(u8::is_ascii_whitespace) {
            metrics::counter!(crate::metrics::LINES_DROPPED, "reason" => "blank").increment(1);
        }
        let received = match stamping {
            Stamping::Arrival => Utc::now(),
            Stamping::Replay => last_stamp.unwrap_or_else(Utc::now),
        };
        let decoded = std::str::from_utf8(text);
        not_text.line(decoded.is_ok() && !text.contains(&0), tally.source);
        let event = match decoded {
            Ok(text) => joiner.push(text, received),
            Err(_) => joiner.push(&String::from_utf8_lossy(text), received),
        };
        if let Some(pending) = joiner.pending() {
            last_stamp = Some(pending.timestamp);
        }
        if let Some(event) = event {
            chunk.push(event);
            if chunk.len() >= CHUNK_EVENTS && !send(tx, &mut chunk, &mut lines_in_chunk, tally) {
                return Ok(());
            }
        }
    }
    chunk.extend(joiner.finish());
    send(tx, &mut chunk, &mut lines_in_chunk, tally);
    not_text.finish(tally.source);
    Ok(())
}

/// Lines that are not text (a NUL byte or invalid UTF-8): a binary file given by mistake, or a
/// corrupted log. They are still analyzed, invalid bytes shown as U+FFFD, but the user hears
/// of it: at the first such line, and with the count at the end of the input.
#[derive(Default)]
struct NotText {
    lines: u64,
    of: u64,
}

impl NotText {
    fn line(&mut self, is_text: bool, source: &str) {
        self.of += 1;
        if is_text {
            return;
        }
        self.lines += 1;
        if self.lines == 1 {
            tracing::warn!(
                source,
                line = self.of,
                "The input holds a line that is not text (a NUL byte or invalid UTF-8); is it \
                 a log? Such lines are analyzed with invalid bytes shown as U+FFFD."
            );
        }
    }

    fn finish(&self, source: &str) {
        if self.lines > 0 {
            tracing::warn!(
                source,
                "{} of {} lines were not text (invalid bytes shown as U+FFFD).",
                self.lines,
                self.of
            );
        }
    }
}

/// Where the counts of a source go.
struct Tally {
    source: &'static str,
    counters: SharedCounters,
}

/// Sends the chunk if it holds anything; false when nobody listens any more.
fn send(tx: &mpsc::Sender<Chunk>, chunk: &mut Chunk, lines: &mut u64, tally: &Tally) -> bool {
    if chunk.is_empty() {
        return true;
    }
    let events = std::mem::replace(chunk, Chunk::with_capacity(CHUNK_EVENTS));
    tally
        .counters
        .add(tally.source, std::mem::take(lines), events.len() as u64);
    tx.blocking_send(events).is_ok()
}

/// Reads the next line into `buf` and returns it without its line ending; `None` at the end of
/// the input. A line longer than [`MAX_LINE_BYTES`] comes back in pieces of that size.
pub fn read_line<'a, R: BufRead>(
    reader: &mut R,
    buf: &'a mut Vec<u8>,
) -> io::Result<Option<&'a [u8]>> {
    buf.clear();
    if reader.take(MAX_LINE_BYTES as u64).read_until(b'\n', buf)? == 0 {
        return Ok(None);
    }
    let line = buf.strip_suffix(b"\n").unwrap_or(buf);
    Ok(Some(line.strip_suffix(b"\r").unwrap_or(line)))
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use ic_core::LogEvent;

    use super::*;
    use crate::pipeline::Counters;

    async fn events_of(input: &'static [u8], stamping: Stamping) -> (Vec<LogEvent>, u64) {
        let (tx, mut rx) = mpsc::channel(16);
        let counters = SharedCounters::default();
        let task = tokio::spawn(relay(
            "test",
            Cursor::new(input),
            stamping,
            tx,
            counters.clone(),
            CancellationToken::new(),
        ));
        let mut events = Vec::new();
        while let Some(chunk) = rx.recv().await {
            events.extend(chunk.events);
        }
        task.await.unwrap().unwrap();
        assert_eq!(counters.events(), events.len() as u64);
        (events, counters.lines())
    }

    #[tokio::test]
    async fn every_line_becomes_an_event_and_stack_traces_join() {
        let input = b"2024-05-01T10:00:00Z ERROR api: boom\r\n\
            java.lang.IllegalStateException: x\n\
            \tat a.b.C.d(C.java:10)\n\
            2024-05-01T10:00:01Z INFO api: fine\n\
            no newline at the end";
        let (events, lines) = events_of(input, Stamping::Replay).await;
        assert_eq!(lines, 5);
        let messages: Vec<&str> = events.iter().map(|e| e.message.as_str()).collect();
        assert_eq!(messages.len(), 4, "{messages:?}");
        assert!(messages[1].contains("\tat a.b.C.d"), "{messages:?}");
        assert_eq!(messages[3], "no newline at the end");
        assert_eq!(
            events[3].timestamp, events[2].timestamp,
            "replay stamps from the event before"
        );
    }

    #[tokio::test]
    async fn invalid_utf8_is_kept_not_dropped() {
        let (events, _) = events_of(b"caf\xe9 ok\n", Stamping::Arrival).await;
        assert_eq!(events.len(), 1);
        assert!(
            events[0].message.starts_with("caf"),
            "{:?}",
            events[0].message
        );
    }

    #[tokio::test]
    async fn an_endless_line_is_cut_into_pieces() {
        let big: &'static [u8] = Box::leak(vec![b'x'; MAX_LINE_BYTES * 2 + 10].into_boxed_slice());
        let (events, lines) = events_of(big, Stamping::Replay).await;
        assert_eq!(lines, 3);
        let total: usize = events.iter().map(|e| e.message.len()).sum();
        assert_eq!(total, MAX_LINE_BYTES * 2 + 10);
    }

    #[test]
    fn counters_start_at_zero() {
        let c = Counters::default();
        assert_eq!((c.lines(), c.events()), (0, 0));
    }
}
