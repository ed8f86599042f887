//! Settings as users write and read them: durations in seconds, and the defaults `--help` shows.

use std::fmt::Display;
use std::time::Duration;

use anyhow::{Context, bail};

/// A positive, finite number of seconds.
pub fn seconds(secs: f64) -> anyhow::Result<Duration> {
    if !(secs.is_finite() && secs > 0.0) {
        bail!("{secs} is not a positive number of seconds");
    }
    Duration::try_from_secs_f64(secs).with_context(|| format!("{secs} seconds is too long"))
}

/// `text [default: VALUE]`, for a flag's `help`: the default shown is the very constant the
/// setting falls back to, so the two cannot drift.
pub fn with_default(text: &str, value: impl Display) -> String {
    format!("{text} [default: {value}]")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_positive_finite_seconds_are_durations() {
        assert_eq!(seconds(1.5).unwrap(), Duration::from_millis(1500));
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(seconds(bad).is_err(), "{bad}");
        }
        assert!(seconds(1e300).is_err());
    }
}
