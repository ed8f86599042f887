//! The accept loop. `axum::serve` offers no header read timeout and no connection limit, so
//! the server drives hyper itself: every connection holds a permit of a semaphore (the total
//! limit), HTTP/1 clients must send their headers in time, and an HTTP/2 connection carries a
//! bounded number of requests at once.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::limits::{IngestSettings, MAX_STREAMS_PER_CONNECTION};

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
    let graceful = GracefulShutdown::new();
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
        let service = TowerToHyperService::new(app.clone());
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), service)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(%err, "Connection ended with an error.");
            }
            drop(permit);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
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

    #[tokio::test]
    async fn a_client_too_slow_with_its_headers_is_cut_off_and_a_prompt_one_served() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let limits = IngestSettings {
            header_timeout: Duration::from_millis(200),
            max_connections: 2,
            ..IngestSettings::default()
        };
        let app = Router::new().route("/", axum::routing::get(|| async { "hi" }));
        let stop = CancellationToken::new();
        let server = tokio::spawn({
            let stop = stop.clone();
            async move { serve(listener, app, stop, &limits).await }
        });

        let mut slow = TcpStream::connect(addr).await.unwrap();
        slow.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        let mut answer = Vec::new();
        // The server closes the connection (with a 408 or nothing) instead of waiting forever.
        slow.read_to_end(&mut answer).await.unwrap();
        let text = String::from_utf8_lossy(&answer);
        assert!(!text.contains("hi"), "{text}");

        let mut prompt = TcpStream::connect(addr).await.unwrap();
        prompt
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut answer = String::new();
        prompt.read_to_string(&mut answer).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.ends_with("hi"), "{answer}");

        stop.cancel();
        server.await.unwrap().unwrap();
    }
}
