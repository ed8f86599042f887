//! A circuit breaker: after repeated failures the LLM is skipped for a while, so a dead
//! endpoint costs one timeout per cool-down instead of one per window.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

#[derive(Debug)]
pub struct Breaker {
    threshold: u32,
    cooldown: Duration,
    state: Mutex<State>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Calls go through; failures in a row so far.
    Closed { failures: u32 },
    /// Calls are skipped until then.
    Open { until: Instant },
    /// One trial call is out; its outcome closes or reopens the circuit.
    Trial,
}

impl Breaker {
    /// Opens after `threshold` failures in a row, for `cooldown`.
    pub fn new(threshold: u32, cooldown: Duration) -> Self {
        Self {
            threshold: threshold.max(1),
            cooldown,
            state: Mutex::new(State::Closed { failures: 0 }),
        }
    }

    /// Whether a call may go now. Once the cool-down is over, one trial call may.
    pub fn allow(&self) -> bool {
        let mut state = self.lock();
        match *state {
            State::Closed { .. } => true,
            State::Open { until } if Instant::now() >= until => {
                *state = State::Trial;
                true
            }
            State::Open { .. } | State::Trial => false,
        }
    }

    pub fn success(&self) {
        *self.lock() = State::Closed { failures: 0 };
    }

    pub fn failure(&self) {
        let mut state = self.lock();
        let failures = match *state {
            State::Closed { failures } => failures + 1,
            State::Open { .. } | State::Trial => self.threshold,
        };
        *state = if failures >= self.threshold {
            tracing::warn!(cooldown = ?self.cooldown, "LLM failing; using the built-in analyzer for a while.");
            State::Open {
                until: Instant::now() + self.cooldown,
            }
        } else {
            State::Closed { failures }
        };
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is one value, always whole: a panic elsewhere cannot leave it half-written.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn opens_after_failures_in_a_row_then_tries_once() {
        let breaker = Breaker::new(3, Duration::from_secs(60));
        breaker.failure();
        breaker.failure();
        breaker.success();
        breaker.failure();
        breaker.failure();
        assert!(breaker.allow(), "a success resets the count");
        breaker.failure();
        assert!(!breaker.allow(), "three in a row open it");

        tokio::time::advance(Duration::from_secs(60)).await;
        assert!(breaker.allow(), "one trial after the cool-down");
        assert!(!breaker.allow(), "only one");
        breaker.failure();
        assert!(!breaker.allow(), "a failed trial reopens it at once");

        tokio::time::advance(Duration::from_secs(60)).await;
        assert!(breaker.allow());
        breaker.success();
        assert!(breaker.allow() && breaker.allow(), "a good trial closes it");
    }
}
