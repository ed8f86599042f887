//! The accept loop. `axum::serve` offers no header read timeout and no connection limit, so
//! the server drives hyper itself: every connection holds a permit of a semaphore (the total
//! limit), HTTP/1 clients must send their headers in time, and an HTTP/2 connection carries a
//! bounded number of requests at once.
//!
//! A flood of connections that send their headers a byte at a time (slowloris) would hold
//! every permit until the header timeout, and a health check or a shipper would wait behind
//! them. So connections that have not yet sent a whole request are capped at a quarter of the
//! limit: past it, the oldest of them is closed to make room. A client that sends its request
//! at once is never the oldest for long; one that dawdles is the first to go.

use std::collections::VecDeque;
use std::io;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use super::limits::{IngestSettings, MAX_STREAMS_PER_CONNECTION};
use crate::sync::lock;

/// After a failed accept (out of file descriptors, say), wait this long before the next.
const ACCEPT_RETRY: Duration = Duration::from_millis(100);

/// Serves `app` until `shutdown` fires, then waits for the open connections to finish their
/// requests (live event streams end on the same token).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: CancellationToken,
    limits: &IngestSettings,
) -> io::Result<()> {
    let builder = connection_builder(limits);
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let unproven = Arc::new(Unproven::new(limits.max_connections.div_ceil(4)));
    let graceful = GracefulShutdown::new();
    let mut next_id = 0u64;
    loop {
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
            () = shutdown.cancelled() => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(err) => {
                    tracing::warn!(%err, "Cannot accept a connection.");
                    tokio::time::sleep(ACCEPT_RETRY).await;
                    continue;
                }
            },
            () = shutdown.cancelled() => break,
        };
        // Answers are small and often the last bytes of a write: do not wait to coalesce them.
        let _ = stream.set_nodelay(true);
        next_id += 1;
        let (id, evicted) = (next_id, CancellationToken::new());
        unproven.admit(id, evicted.clone());
        let proven = Arc::new(AtomicBool::new(false));
        let service = app.clone().map_request({
            let unproven = unproven.clone();
            move |request: Request<hyper::body::Incoming>| {
                if !proven.swap(true, Ordering::Relaxed) {
                    unproven.proven(id);
                }
                request
            }
        });
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), TowerToHyperService::new(service))
            .into_owned();
        let connection = graceful.watch(connection);
        let unproven = unproven.clone();
        tokio::spawn(async move {
            tokio::select! {
                ended = connection => if let Err(err) = ended {
                    tracing::debug!(%err, "Connection ended with an error.");
                },
                () = evicted.cancelled() => {
                    tracing::debug!("Closed a connection that sent no request, to make room.");
                }
            }
            unproven.proven(id);
            drop(permit);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// Connections that have not sent a whole request yet, oldest first, with what closes each.
struct Unproven {
    waiting: Mutex<VecDeque<(u64, CancellationToken)>>,
    max: usize,
}

impl Unproven {
    fn new(max: usize) -> Self {
        Unproven {
            waiting: Mutex::new(VecDeque::with_capacity(max)),
            max: max.max(1),
        }
    }

    /// Adds a new connection; closes the oldest waiting one if that makes too many.
    fn admit(&self, id: u64, close: CancellationToken) {
        let mut waiting = lock(&self.waiting);
        waiting.push_back((id, close));
        if waiting.len() > self.max
            && let Some((_, oldest)) = waiting.pop_front()
        {
            oldest.cancel();
        }
    }

    /// The connection sent a request (or ended): it no longer waits.
    fn proven(&self, id: u64) {
        let mut waiting = lock(&self.waiting);
        if let Some(at) = waiting.iter().position(|(waiting, _)| *waiting == id) {
            waiting.remove(at);
        }
    }
}

fn connection_builder(limits: &IngestSettings) -> Builder<TokioExecutor> {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(MAX_STREAMS_PER_CONNECTION);
    builder
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    use super::*;

    /// A server on port 0 whose one route `GET /` answers "hi", with these limits: its address,
    /// what stops it, and its task.
    async fn start(
        header_timeout: Duration,
        max_connections: usize,
    ) -> (
        std::net::SocketAddr,
        CancellationToken,
        tokio::task::JoinHandle<io::Result<()>>,
    ) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let limits = IngestSettings {
            header_timeout,
            max_connections,
            ..IngestSettings::default()
        };
        let app = Router::new().route("/", axum::routing::get(|| async { "hi" }));
        let stop = CancellationToken::new();
        let server = tokio::spawn({
            let stop = stop.clone();
            async move { serve(listener, app, stop, &limits).await }
        });
        (addr, stop, server)
    }

    /// A connection that sent half a request.
    async fn dawdling(addr: std::net::SocketAddr) -> TcpStream {
        let mut slow = TcpStream::connect(addr).await.unwrap();
        slow.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        slow
    }

    /// A whole request at once, and the answer, which must be "hi".
    async fn prompt_get(addr: std::net::SocketAddr) {
        let mut prompt = TcpStream::connect(addr).await.unwrap();
        prompt
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut answer = String::new();
        prompt.read_to_string(&mut answer).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.ends_with("hi"), "{answer}");
    }

    #[tokio::test]
    async fn a_client_too_slow_with_its_headers_is_cut_off_and_a_prompt_one_served() {
        let (addr, stop, server) = start(Duration::from_millis(200), 2).await;
        let mut slow = dawdling(addr).await;
        let mut answer = Vec::new();
        // The server closes the connection (with a 408 or nothing) instead of waiting forever.
        slow.read_to_end(&mut answer).await.unwrap();
        let text = String::from_utf8_lossy(&answer);
        assert!(!text.contains("hi"), "{text}");
        prompt_get(addr).await;
        stop.cancel();
        server.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn a_flood_of_dawdling_connections_leaves_room_for_a_prompt_client() {
        // The header timeout alone would hold the flood for an hour.
        let (addr, stop, server) = start(Duration::from_secs(3600), 8).await;
        // As many connections as the limit, each with half a request.
        let mut flood = Vec::new();
        for _ in 0..8 {
            flood.push(dawdling(addr).await);
        }
        prompt_get(addr).await;
        // The oldest of the flood made room: the server closed it without an answer.
        let mut nothing = Vec::new();
        flood[0].read_to_end(&mut nothing).await.unwrap();
        assert!(nothing.is_empty());
        stop.cancel();
        drop(flood);
        server.await.unwrap().unwrap();
    }
}
