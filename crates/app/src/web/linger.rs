//! HTTP/2 answers that come before the request's body has been read.
//!
//! Many answers need no body: a 401 for a missing token, a 404, a 415, a 429 while the queue
//! is full. Over HTTP/1 the server answers and closes the connection, and clients read the
//! answer. Over HTTP/2 the stream ends with the answer and a `RST_STREAM`, which RFC 9113
//! §8.1 allows with `NO_ERROR`, but clients still sending the body often take it as a failure
//! of the request ("Stream error in the HTTP/2 framing layer" from curl) and never show the
//! status. So, like nginx's lingering close, the server reads the rest of such a body and drops
//! it before it answers, within the body limit and [`LINGER`]; past either, the stream is reset
//! as before.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::Version;
use axum::middleware::Next;
use axum::response::Response;
use futures::StreamExt;
use http_body::{Frame, SizeHint};

use crate::sync::lock;

/// The longest an answer waits for the rest of a body it does not need: nginx's default
/// `lingering_timeout`.
pub const LINGER: Duration = Duration::from_secs(5);

/// Middleware: hands the handlers the body through a [`Lent`], and once they have answered
/// reads what they left of it (at most `max_bytes`) before the answer goes out.
pub async fn linger(State(max_bytes): State<usize>, request: Request, next: Next) -> Response {
    if request.version() != Version::HTTP_2 {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    if http_body::Body::is_end_stream(&body) {
        return next.run(Request::from_parts(parts, body)).await;
    }
    let slot = Arc::new(Mutex::new(body));
    let lent = Body::new(Lent { slot: slot.clone() });
    let response = next.run(Request::from_parts(parts, lent)).await;
    let rest = std::mem::take(&mut *lock(&slot));
    if tokio::time::timeout(LINGER, drain(rest, max_bytes))
        .await
        .is_err()
    {
        tracing::debug!("A request body still coming after the answer was cut off.");
    }
    response
}

/// Reads `body` to its end, or until more than `max_bytes` came, and drops it.
async fn drain(body: Body, max_bytes: usize) {
    let mut read = 0usize;
    let mut data = body.into_data_stream();
    while let Some(Ok(chunk)) = data.next().await {
        read = read.saturating_add(chunk.len());
        if read > max_bytes {
            return;
        }
    }
}

/// The request body as the handlers see it: the body itself stays in the slot, so dropping
/// this does not tell the connection that the rest is unwanted.
struct Lent {
    slot: Arc<Mutex<Body>>,
}

impl http_body::Body for Lent {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut *lock(&self.slot)).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        lock(&self.slot).is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        lock(&self.slot).size_hint()
    }
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::http::StatusCode;
    use axum::routing::post;
    use tokio::net::{TcpListener, TcpStream};
    use tokio_util::sync::CancellationToken;

    use super::*;
    use crate::web::limits::IngestSettings;

    /// A body larger than HTTP/2's initial flow-control window (64 KiB): the client cannot
    /// send it all unless the server reads it.
    const BODY: usize = 1 << 20;

    /// Posts `BODY` bytes over HTTP/2 to a server whose only route answers 401 without
    /// reading, and returns the status the client saw and whether it could send every byte.
    async fn early_answer(lingering: bool) -> (StatusCode, bool) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut app = Router::new().route("/", post(|| async { StatusCode::UNAUTHORIZED }));
        if lingering {
            app = app.layer(axum::middleware::from_fn_with_state(BODY * 2, linger));
        }
        let stop = CancellationToken::new();
        let server = tokio::spawn({
            let stop = stop.clone();
            async move { crate::web::serve(listener, app, stop, IngestSettings::default()).await }
        });

        let tcp = TcpStream::connect(addr).await.unwrap();
        let (client, connection) = h2::client::handshake(tcp).await.unwrap();
        tokio::spawn(connection);
        let mut client = client.ready().await.unwrap();
        let request = axum::http::Request::post(format!("http://{addr}/"))
            .body(())
            .unwrap();
        let (response, mut send) = client.send_request(request, false).unwrap();
        let sender = tokio::spawn(async move {
            let mut left = BODY;
            while left > 0 {
                send.reserve_capacity(left);
                let granted = match std::future::poll_fn(|cx| send.poll_capacity(cx)).await {
                    Some(Ok(granted)) => granted,
                    _ => return false,
                };
                let chunk = Bytes::from(vec![b'x'; granted.min(left)]);
                left -= chunk.len();
                if send.send_data(chunk, left == 0).is_err() {
                    return false;
                }
            }
            true
        });
        let status = response.await.map(|r| r.status());
        let sent_all = sender.await.unwrap();
        stop.cancel();
        server.await.unwrap().unwrap();
        (status.unwrap_or(StatusCode::IM_A_TEAPOT), sent_all)
    }

    #[tokio::test]
    async fn an_http2_client_still_sending_sees_an_early_answer() {
        assert_eq!(early_answer(true).await, (StatusCode::UNAUTHORIZED, true));
    }

    #[tokio::test]
    async fn without_lingering_the_stream_is_reset_under_the_client() {
        // What the middleware is for: the answer arrives, but the client's upload is cut off,
        // which clients that report the upload's failure show instead of the status.
        let (_, sent_all) = early_answer(false).await;
        assert!(!sent_all);
    }
}
