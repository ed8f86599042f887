//! What this crate's tests and its integration tests share (the `testing` feature): a fake HTTP
//! receiver (a webhook target, an LLM API) on a port-0 listener that reports every request on
//! a channel, so tests wait for deliveries instead of sleeping.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// One request a fake receiver got.
#[derive(Debug)]
pub struct Received {
    pub path: String,
    pub headers: HeaderMap,
    pub body: serde_json::Value,
}

/// How a fake receiver answers its n-th request (counting from 0).
pub type Answer = Arc<dyn Fn(usize) -> Reply + Send + Sync>;

/// A fake receiver's answer.
#[derive(Debug, Clone)]
pub enum Reply {
    Status(u16),
    /// 200 with this JSON body.
    Json(serde_json::Value),
    /// 200 once the gate is opened with `notify_one`.
    After(Arc<tokio::sync::Notify>),
    /// A 429 or 503 with `Retry-After: SECS`.
    RetryAfter(u16, u64),
    /// Never answers.
    Hang,
}

#[derive(Clone)]
struct Fake {
    answer: Answer,
    count: Arc<AtomicUsize>,
    seen: mpsc::UnboundedSender<Received>,
}

/// Starts a receiver on a port-0 listener; returns its base URL and the channel of requests.
/// Each request is reported when it arrives, before it is answered.
pub async fn fake_receiver(
    answer: impl Fn(usize) -> Reply + Send + Sync + 'static,
) -> (String, mpsc::UnboundedReceiver<Received>) {
    let (seen, received) = mpsc::unbounded_channel();
    let fake = Fake {
        answer: Arc::new(answer),
        count: Arc::default(),
        seen,
    };
    let app = Router::new()
        .route("/{*path}", post(receive))
        .with_state(fake);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), received)
}

async fn receive(
    State(fake): State<Fake>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    let n = fake.count.fetch_add(1, Ordering::SeqCst);
    let _ = fake.seen.send(Received {
        path: uri.to_string(),
        headers,
        body: serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
    });
    match (fake.answer)(n) {
        Reply::Status(code) => StatusCode::from_u16(code).unwrap().into_response(),
        Reply::Json(body) => axum::Json(body).into_response(),
        Reply::RetryAfter(code, secs) => (
            StatusCode::from_u16(code).unwrap(),
            [("retry-after", secs.to_string())],
        )
            .into_response(),
        Reply::After(gate) => {
            gate.notified().await;
            StatusCode::OK.into_response()
        }
        Reply::Hang => std::future::pending().await,
    }
}

/// [`fake_receiver`] on a thread of its own, for plain `#[test]`s that run no runtime.
pub fn fake_receiver_on_a_thread(
    answer: impl Fn(usize) -> Reply + Send + Sync + 'static,
) -> (String, std::sync::mpsc::Receiver<Received>) {
    let (url_tx, url_rx) = std::sync::mpsc::channel();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime for the fake receiver");
        runtime.block_on(async move {
            let (url, mut received) = fake_receiver(answer).await;
            url_tx.send(url).expect("the test waits for the address");
            while let Some(request) = received.recv().await {
                if tx.send(request).is_err() {
                    break;
                }
            }
        });
    });
    (url_rx.recv().expect("the fake receiver starts"), rx)
}
