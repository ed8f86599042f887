//! The syslog source: messages over UDP and TCP, RFC 5424 and RFC 3164.
//!
//! A UDP datagram is one message. On TCP each message is framed either by octet counting
//! (`LEN SP MSG`, RFC 6587 3.4.1) or by a trailing newline (3.4.2); the framing is told per
//! message from its first bytes (see [`SyslogCodec`]), so a sender may use either.
//!
//! Limits: a message longer than [`SyslogConfig::max_message_bytes`] is truncated to that
//! length, kept, and counted in `ic_lines_truncated_total{source="syslog"}`; a connection over
//! [`SyslogConfig::max_connections`] is closed at once and counted in
//! `ic_syslog_connections_rejected_total`. When the ingest channel is full, UDP messages are
//! dropped and counted in `ic_lines_dropped_total{reason="full"}` (a datagram sender cannot be
//! slowed down), while TCP connections stop reading until there is room (backpressure).

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use anyhow::{Context as _, bail};
use bytes::{Buf, BytesMut};
use chrono::Utc;
use futures::{FutureExt, StreamExt};
use ic_core::LogEvent;
use ic_core::parse::{parse_line, syslog};
use serde::Deserialize;
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{Semaphore, mpsc};
use tokio_util::codec::{Decoder, FramedRead};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::pipeline::{CHUNK_EVENTS, Chunk, Envelope, SharedCounters};

/// The source's name in counters and metrics.
const SOURCE: &str = "syslog";
use crate::metrics::{CONNECTIONS_REJECTED, LINES_TRUNCATED};

/// Limits of the syslog source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyslogConfig {
    /// Longer messages are truncated to this many bytes (and counted).
    pub max_message_bytes: usize,
    /// At most this many TCP connections at once; more are closed (and counted).
    pub max_connections: usize,
}

impl SyslogConfig {
    /// 64 KiB: above the largest UDP payload, so only TCP messages can be truncated.
    pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 64 * 1024;
    pub const DEFAULT_MAX_CONNECTIONS: usize = 256;
}

impl Default for SyslogConfig {
    fn default() -> Self {
        Self {
            max_message_bytes: Self::DEFAULT_MAX_MESSAGE_BYTES,
            max_connections: Self::DEFAULT_MAX_CONNECTIONS,
        }
    }
}

/// `[syslog]`: the syslog receiver (UDP and TCP on one port).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyslogFile {
    /// `"PORT"` (on 127.0.0.1) or `"ADDR:PORT"`; without it no syslog is received.
    pub listen: Option<String>,
    /// Longer messages are truncated to this many bytes (default 65536).
    pub max_message_bytes: Option<usize>,
    /// At most this many TCP connections at once (default 256).
    pub max_connections: Option<usize>,
}

impl SyslogFile {
    /// The receiver's address and limits, if syslog is on (the flag's address wins).
    pub fn settings(&self, flag: Option<&str>) -> anyhow::Result<Option<SyslogSettings>> {
        let Some(listen) = flag.or(self.listen.as_deref()) else {
            return Ok(None);
        };
        let listen = parse_listen(listen).context("--syslog-listen")?;
        let defaults = SyslogConfig::default();
        let config = SyslogConfig {
            max_message_bytes: self.max_message_bytes.unwrap_or(defaults.max_message_bytes),
            max_connections: self.max_connections.unwrap_or(defaults.max_connections),
        };
        if config.max_message_bytes == 0 || config.max_connections == 0 {
            bail!("[syslog] max_message_bytes and max_connections must be at least 1");
        }
        Ok(Some(SyslogSettings { listen, config }))
    }
}

/// Where syslog is received, and its limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyslogSettings {
    pub listen: SocketAddr,
    pub config: SyslogConfig,
}

/// Why a listen address was refused.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    #[error(
        "`{0}` is neither a port nor an address with a port (e.g. 8080, localhost:8080, 0.0.0.0:8080)"
    )]
    Invalid(String),
    #[error("cannot listen for syslog on {addr}: {source}")]
    Bind { addr: SocketAddr, source: io::Error },
}

/// Reads a listen address (`--syslog-listen`, `--listen`): `ADDR:PORT`, or a bare `PORT` or
/// `localhost:PORT` on loopback, so that listening on other interfaces is always written out.
pub fn parse_listen(text: &str) -> Result<SocketAddr, ListenError> {
    let port = text.strip_prefix("localhost:").unwrap_or(text);
    if let Ok(port) = port.parse::<u16>() {
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port));
    }
    text.parse()
        .map_err(|_| ListenError::Invalid(text.to_owned()))
}

/// The bound sockets: UDP and TCP on the same port.
#[derive(Debug)]
pub struct Listeners {
    pub udp: UdpSocket,
    pub tcp: TcpListener,
}

impl Listeners {
    /// Binds TCP first, then UDP on the port TCP got (port 0 picks one free port for both).
    /// Must run inside the tokio runtime.
    pub fn bind(addr: SocketAddr) -> Result<Self, ListenError> {
        let tcp = std::net::TcpListener::bind(addr).map_err(bind_error(addr))?;
        let port = tcp.local_addr().map_err(bind_error(addr))?.port();
        let udp_addr = SocketAddr::new(addr.ip(), port);
        let udp = std::net::UdpSocket::bind(udp_addr).map_err(bind_error(udp_addr))?;
        tcp.set_nonblocking(true).map_err(bind_error(addr))?;
        udp.set_nonblocking(true).map_err(bind_error(udp_addr))?;
        Ok(Self {
            udp: UdpSocket::from_std(udp).map_err(bind_error(udp_addr))?,
            tcp: TcpListener::from_std(tcp).map_err(bind_error(addr))?,
        })
    }

    /// The address both sockets listen on.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.tcp.local_addr()
    }
}

fn bind_error(addr: SocketAddr) -> impl FnOnce(io::Error) -> ListenError {
    move |source| ListenError::Bind { addr, source }
}

/// What every task of the source shares.
#[derive(Clone)]
struct Context {
    config: SyslogConfig,
    ingest: mpsc::Sender<Envelope>,
    counters: SharedCounters,
    cancel: CancellationToken,
}

/// Receives syslog on `listeners` until `cancel` fires, then waits for every connection to
/// hand over what it read.
pub async fn run(
    listeners: Listeners,
    config: SyslogConfig,
    ingest: mpsc::Sender<Envelope>,
    counters: SharedCounters,
    cancel: CancellationToken,
) {
    let context = Context {
        config,
        ingest,
        counters,
        cancel,
    };
    if let Ok(addr) = listeners.local_addr() {
        tracing::info!(%addr, "Syslog listening on UDP and TCP.");
    }
    let tracker = TaskTracker::new();
    tracker.spawn(receive_udp(listeners.udp, context.clone()));
    tracker.spawn(accept_tcp(listeners.tcp, tracker.clone(), context));
    tracker.close();
    tracker.wait().await;
}

/// One datagram, one message; messages already waiting are read in the same chunk.
async fn receive_udp(socket: UdpSocket, context: Context) {
    // One byte more than the limit tells a datagram that was cut from one that fits.
    let mut buf = vec![0u8; context.config.max_message_bytes.min(u16::MAX as usize) + 1];
    loop {
        let first = tokio::select! {
            () = context.cancel.cancelled() => return,
            got = socket.recv(&mut buf) => got,
        };
        let mut chunk = Chunk::new();
        let mut got = first;
        loop {
            match got {
                Ok(n) => chunk.extend(message_event(datagram(
                    &buf[..n],
                    context.config.max_message_bytes,
                ))),
                Err(err) => tracing::warn!(%err, "Syslog UDP receive failed."),
            }
            if chunk.len() >= CHUNK_EVENTS {
                break;
            }
            match socket.try_recv(&mut buf) {
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
                next => got = next,
            }
        }
        offer(chunk, &context);
    }
}

/// A datagram's text: cut to the limit (and counted), without trailing line ends or NULs.
fn datagram(bytes: &[u8], max: usize) -> &[u8] {
    let bytes = if bytes.len() > max {
        count_truncated();
        &bytes[..max]
    } else {
        bytes
    };
    trim_message(bytes)
}

/// Sends a chunk if there is room, else drops it and counts its messages: UDP cannot push
/// back, and waiting would only lose newer datagrams in the kernel's buffer instead.
/// Returns whether the chunk went in.
fn offer(chunk: Chunk, context: &Context) -> bool {
    let n = chunk.len() as u64;
    if n == 0 {
        return true;
    }
    match context.ingest.try_send(chunk.into()) {
        Ok(()) => {
            context.counters.add(SOURCE, n, n);
            true
        }
        Err(mpsc::error::TrySendError::Full(_)) => {
            metrics::counter!(crate::metrics::LINES_DROPPED, "reason" => "full").increment(n);
            false
        }
        Err(mpsc::error::TrySendError::Closed(_)) => false,
    }
}

/// Accepts connections while under the limit; closes the others at once.
async fn accept_tcp(listener: TcpListener, tracker: TaskTracker, context: Context) {
    let permits = Arc::new(Semaphore::new(context.config.max_connections));
    loop {
        let accepted = tokio::select! {
            () = context.cancel.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(err) => {
                // Out of file descriptors and the like: the listener itself is fine.
                tracing::warn!(%err, "Syslog TCP accept failed.");
                continue;
            }
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            metrics::counter!(CONNECTIONS_REJECTED, "reason" => "limit").increment(1);
            tracing::warn!(%peer, limit = context.config.max_connections, "Syslog connection refused: too many connections.");
            continue;
        };
        let context = context.clone();
        tracker.spawn(async move {
            if let Err(err) = read_connection(stream, &context).await {
                tracing::debug!(%peer, %err, "Syslog connection ended with an error.");
            }
            drop(permit);
        });
    }
}

/// Reads one connection's messages until it closes or `cancel` fires, sending them in chunks;
/// a full ingest channel makes it wait, and so slows the sender down.
async fn read_connection(stream: TcpStream, context: &Context) -> io::Result<()> {
    let mut frames = FramedRead::new(stream, SyslogCodec::new(context.config.max_message_bytes));
    loop {
        let first = tokio::select! {
            () = context.cancel.cancelled() => return Ok(()),
            frame = frames.next() => frame,
        };
        let Some(first) = first else { return Ok(()) };
        let mut chunk: Chunk = message_event(&first?).into_iter().collect();
        let mut ended = false;
        // Whatever is already readable joins the chunk; nothing here waits.
        while chunk.len() < CHUNK_EVENTS {
            match frames.next().now_or_never() {
                Some(Some(frame)) => chunk.extend(message_event(&frame?)),
                Some(None) => {
                    ended = true;
                    break;
                }
                None => break,
            }
        }
        let n = chunk.len() as u64;
        if n > 0 {
            if context.ingest.send(chunk.into()).await.is_err() {
                return Ok(());
            }
            context.counters.add(SOURCE, n, n);
        }
        if ended {
            return Ok(());
        }
    }
}

/// One message parsed into an event: syslog when it is syslog, else any format
/// [`parse_line`] knows; `None` for an empty frame.
fn message_event(bytes: &[u8]) -> Option<LogEvent> {
    let bytes = trim_message(bytes);
    if bytes.is_empty() {
        return None;
    }
    let text = String::from_utf8_lossy(bytes);
    let now = Utc::now();
    Some(syslog::parse(&text, now).unwrap_or_else(|| parse_line(&text, now)))
}

fn trim_message(bytes: &[u8]) -> &[u8] {
    let end = bytes
        .iter()
        .rposition(|b| !matches!(b, b'\n' | b'\r' | b'\0'))
        .map_or(0, |i| i + 1);
    &bytes[..end]
}

fn count_truncated() {
    metrics::counter!(LINES_TRUNCATED, "source" => SOURCE).increment(1);
}

/// Splits a TCP stream into messages.
///
/// A message that starts with 1 to 9 digits and a space is octet-counted: the digits give the
/// length of the message after the space. Any other message ends at a newline (`\n`; a `\r`
/// before it is trimmed later). A syslog message itself starts with `<PRI>`, so the two cannot
/// be mixed up. A message over the limit is cut to it, counted, and the rest of it skipped.
#[derive(Debug)]
pub struct SyslogCodec {
    max: usize,
    /// Bytes of an oversized message still to skip.
    skip: Skip,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Skip {
    Nothing,
    /// This many more bytes (the rest of an octet-counted message).
    Bytes(usize),
    /// Everything up to and including the next newline.
    Line,
}

impl SyslogCodec {
    pub fn new(max: usize) -> Self {
        Self {
            max: max.max(1),
            skip: Skip::Nothing,
        }
    }

    /// Drops the rest of an oversized message; true once it is gone.
    fn skip_rest(&mut self, buf: &mut BytesMut) -> bool {
        match self.skip {
            Skip::Nothing => true,
            Skip::Bytes(n) => {
                let now = n.min(buf.len());
                buf.advance(now);
                self.skip = if now == n {
                    Skip::Nothing
                } else {
                    Skip::Bytes(n - now)
                };
                self.skip == Skip::Nothing
            }
            Skip::Line => match buf.iter().position(|b| *b == b'\n') {
                Some(i) => {
                    buf.advance(i + 1);
                    self.skip = Skip::Nothing;
                    true
                }
                None => {
                    buf.clear();
                    false
                }
            },
        }
    }

    fn octet_counted(&mut self, buf: &mut BytesMut, digits: usize) -> Option<BytesMut> {
        let len: usize = std::str::from_utf8(&buf[..digits]).ok()?.parse().ok()?;
        let start = digits + 1;
        let kept = len.min(self.max);
        if buf.len() < start + kept {
            buf.reserve(start + kept - buf.len());
            return None;
        }
        buf.advance(start);
        let message = buf.split_to(kept);
        if len > kept {
            count_truncated();
            self.skip = Skip::Bytes(len - kept);
        }
        Some(message)
    }

    fn newline_framed(&mut self, buf: &mut BytesMut) -> Option<BytesMut> {
        let search = buf.len().min(self.max + 1);
        if let Some(i) = buf[..search].iter().position(|b| *b == b'\n') {
            let message = buf.split_to(i + 1);
            return Some(message);
        }
        if buf.len() <= self.max {
            return None;
        }
        count_truncated();
        self.skip = Skip::Line;
        Some(buf.split_to(self.max))
    }
}

/// The number of leading digits when they are followed by a space (an octet count).
fn count_prefix(buf: &[u8]) -> Option<usize> {
    let digits = buf
        .iter()
        .take(10)
        .take_while(|b| b.is_ascii_digit())
        .count();
    ((1..=9).contains(&digits) && buf.get(digits) == Some(&b' ') && buf[0] != b'0')
        .then_some(digits)
}

/// Whether the buffer may still become an octet count once more bytes arrive.
fn may_be_count(buf: &[u8]) -> bool {
    buf.len() < 10 && !buf.is_empty() && buf.iter().all(u8::is_ascii_digit) && buf[0] != b'0'
}

impl Decoder for SyslogCodec {
    type Item = BytesMut;
    type Error = io::Error;

    fn decode(&mut self, buf: &mut BytesMut) -> io::Result<Option<BytesMut>> {
        loop {
            if !self.skip_rest(buf) || buf.is_empty() {
                return Ok(None);
            }
            if let Some(digits) = count_prefix(buf) {
                return Ok(self.octet_counted(buf, digits));
            }
            if may_be_count(buf) {
                return Ok(None);
            }
            match self.newline_framed(buf) {
                // An empty line between messages carries nothing: look further.
                Some(message) if trim_message(&message).is_empty() => continue,
                message => return Ok(message),
            }
        }
    }

    fn decode_eof(&mut self, buf: &mut BytesMut) -> io::Result<Option<BytesMut>> {
        match self.decode(buf)? {
            Some(message) => Ok(Some(message)),
            // The connection closed: a last message without its newline is still a message,
            // and an octet-counted one that was cut short is kept as far as it came.
            None if self.skip == Skip::Nothing && !buf.is_empty() => {
                let rest = buf.split_to(buf.len());
                let rest = match count_prefix(&rest) {
                    Some(digits) => rest[digits + 1..].into(),
                    None => rest,
                };
                Ok((!trim_message(&rest).is_empty()).then_some(rest))
            }
            None => {
                buf.clear();
                Ok(None)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(input: &[u8], max: usize) -> Vec<String> {
        let mut codec = SyslogCodec::new(max);
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        // Byte by byte: framing must not depend on how the stream is split.
        for b in input {
            buf.extend_from_slice(&[*b]);
            while let Some(frame) = codec.decode(&mut buf).unwrap() {
                out.push(String::from_utf8_lossy(trim_message(&frame)).into_owned());
            }
        }
        while let Some(frame) = codec.decode_eof(&mut buf).unwrap() {
            out.push(String::from_utf8_lossy(trim_message(&frame)).into_owned());
        }
        out
    }

    #[test]
    fn octet_counting_and_newlines_mix_on_one_stream() {
        let input = b"11 <13>1 a\nb c<14>plain line\r\n\n17 <15>1 x - - - - y<1>last";
        assert_eq!(
            frames(input, 1024),
            [
                "<13>1 a\nb c",
                "<14>plain line",
                "<15>1 x - - - - y",
                "<1>last"
            ]
        );
    }

    #[test]
    fn long_messages_are_cut_and_the_rest_skipped() {
        let input = b"10 <1>abcdefg<2>0123456789xyz\n<3>ok\n";
        assert_eq!(frames(input, 5), ["<1>ab", "<2>01", "<3>ok"]);
    }

    #[test]
    fn a_line_starting_with_a_number_is_not_a_count() {
        assert_eq!(frames(b"2024-05-01 x\n", 64), ["2024-05-01 x"]);
        assert_eq!(frames(b"42\n", 64), ["42"]);
    }

    #[test]
    fn udp_drops_and_counts_when_the_channel_is_full() {
        let metrics = crate::metrics::handle().unwrap();
        let (ingest, mut rx) = mpsc::channel(1);
        let context = Context {
            config: SyslogConfig::default(),
            ingest,
            counters: SharedCounters::default(),
            cancel: CancellationToken::new(),
        };
        let event = || message_event(b"<11>May  1 10:00:00 h api: x").unwrap();
        assert!(offer(vec![event()], &context));
        assert!(!offer(vec![event(), event()], &context), "full: dropped");
        assert_eq!(context.counters.lines(), 1, "only what went in is counted");
        let text = metrics.render();
        assert!(
            text.lines()
                .any(|l| l.starts_with("ic_lines_dropped_total{reason=\"full\"}")),
            "{text}"
        );
        rx.try_recv().unwrap();
        assert!(offer(vec![event()], &context), "room again");
    }

    #[test]
    fn listen_takes_a_port_on_loopback_or_a_full_address() {
        assert_eq!(parse_listen("5514").unwrap().to_string(), "127.0.0.1:5514");
        assert_eq!(
            parse_listen("0.0.0.0:514").unwrap().to_string(),
            "0.0.0.0:514"
        );
        assert_eq!(parse_listen("[::1]:514").unwrap().port(), 514);
        assert_eq!(
            parse_listen("localhost:5514").unwrap().to_string(),
            "127.0.0.1:5514"
        );
        assert!(parse_listen("localhost").is_err());
    }

    #[test]
    fn messages_become_events_with_service_and_level() {
        let e = message_event(b"<11>1 2024-05-01T10:00:00Z host api 7 - - boom\n").unwrap();
        assert_eq!((e.service.as_str(), e.message.as_str()), ("api", "boom"));
        assert_eq!(e.level, ic_core::Level::Error);
        let e = message_event(b"<28>May  1 10:00:00 host db[9]: slow").unwrap();
        assert_eq!((e.service.as_str(), e.level), ("db", ic_core::Level::Warn));
        let e = message_event(b"not syslog at all").unwrap();
        assert_eq!(e.message, "not syslog at all");
        assert!(message_event(b"\r\n").is_none());
    }
}
