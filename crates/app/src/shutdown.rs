//! Ctrl-C and SIGTERM: the first one asks the sources to stop (the pipeline then drains and
//! prints what it holds); a second one exits at once.

use tokio_util::sync::CancellationToken;

/// A token cancelled by the first Ctrl-C or SIGTERM.
pub fn on_signals() -> CancellationToken {
    let token = CancellationToken::new();
    let cancel = token.clone();
    tokio::spawn(async move {
        signal().await;
        tracing::info!(
            "Shutting down: flushing the open window (press Ctrl-C again to quit at once)."
        );
        cancel.cancel();
        signal().await;
        std::process::exit(130);
    });
    token
}

#[cfg(unix)]
async fn signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(term) => term,
        Err(err) => {
            tracing::warn!(%err, "Cannot listen for SIGTERM; only Ctrl-C stops the process.");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

#[cfg(not(unix))]
async fn signal() {
    let _ = tokio::signal::ctrl_c().await;
}

/// A token cancelled `grace` after `shutdown` is: for work that may go on for a while after a
/// shutdown begins, but not forever.
pub fn grace_after(shutdown: &CancellationToken, grace: std::time::Duration) -> CancellationToken {
    let token = CancellationToken::new();
    let (shutdown, expired) = (shutdown.clone(), token.clone());
    tokio::spawn(async move {
        shutdown.cancelled().await;
        tokio::time::sleep(grace).await;
        expired.cancel();
    });
    token
}
