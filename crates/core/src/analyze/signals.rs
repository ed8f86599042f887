//! Signals: which templates of a window are not the usual noise, and why.
//!
//! An on-call engineer ignores what every window has and looks for change. Each template's
//! count is compared with what its usual rate predicts for the window's length; only the lines
//! above a generous Poisson bound (expected + 3·√expected + 2) count as excess, so random
//! variation of background errors never looks like a change.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::history::Known;
use crate::Level;
use crate::condense::{Digest, TemplateStat};

/// Why a template (or a service) stands out. The first three come from the horizons (see
/// [`super::horizons`]), the others from the window alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Signal {
    /// Hops into a service became far slower than usual.
    Slow,
    /// A service's usual line stopped following its caller's, or the service stopped logging.
    Silence,
    /// Known error lines far above their usual rate over a horizon.
    Rise,
    /// A warning template whose rate climbs well above its usual rate.
    Climb,
    /// An error template never seen before, at a moderate rate or more.
    New,
    /// An error template far above its usual rate.
    Surge,
    /// One error template is most of the window.
    Storm,
}

impl Signal {
    pub const fn as_str(self) -> &'static str {
        match self {
            Signal::Slow => "slow",
            Signal::Silence => "silence",
            Signal::Rise => "rise",
            Signal::Climb => "climb",
            Signal::New => "new",
            Signal::Surge => "surge",
            Signal::Storm => "storm",
        }
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The thresholds behind the signals; see the README's "How severity is decided".
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SignalConfig {
    /// Storm: share of the window's lines one error template must reach.
    pub storm_share: f64,
    /// Storm: and at least this many lines.
    pub storm_min_lines: u32,
    /// Surge: an error template's rate at least this many times its usual rate…
    pub surge_factor: f64,
    /// …with at least this many lines above the expected bound.
    pub surge_min_excess: f64,
    /// New: an error template first seen this recently…
    pub new_for: Duration,
    /// …with at least this many lines in the window.
    pub new_min_lines: u32,
    /// Climb: a warning template's rate at least this many times its usual rate…
    pub climb_factor: f64,
    /// …with at least this many lines above the expected bound.
    pub climb_min_excess: f64,
}

impl Default for SignalConfig {
    fn default() -> Self {
        Self {
            storm_share: 0.5,
            storm_min_lines: 20,
            surge_factor: 5.0,
            surge_min_excess: 10.0,
            new_for: Duration::from_secs(600),
            new_min_lines: 3,
            climb_factor: 3.0,
            climb_min_excess: 5.0,
        }
    }
}

/// One template of the window as the analyzer sees it.
#[derive(Debug, Clone, Copy)]
pub struct Assessment {
    /// Index into the digest's templates.
    pub index: usize,
    /// Lines per second in this window.
    pub rate: f64,
    /// The usual rate before this window.
    pub usual: f64,
    /// Lines above the Poisson bound of the usual rate.
    pub excess: f64,
    pub signal: Option<Signal>,
}

/// Lines above what a usual rate explains over `seconds`.
fn excess(count: u32, usual_rate: f64, seconds: f64) -> f64 {
    let expected = usual_rate * seconds;
    let bound = expected + 3.0 * expected.sqrt() + 2.0;
    (f64::from(count) - bound).max(0.0)
}

/// How much the history knows: whether it is long enough for "new" and "above its usual rate"
/// to mean anything (a storm needs no history), and since when a first sighting is news (what
/// appeared while the history was still learning is not).
#[derive(Debug, Clone, Copy)]
pub struct Maturity {
    pub warm: bool,
    pub news_since: DateTime<Utc>,
}

/// Decides the signal of one template.
pub fn assess(
    config: &SignalConfig,
    digest: &Digest,
    index: usize,
    known: Known,
    maturity: Maturity,
) -> Assessment {
    let stat = &digest.templates[index];
    let rate = f64::from(stat.count) / digest.seconds;
    let excess = excess(stat.count, known.rate, digest.seconds);
    let signal = signal_of(config, digest, stat, known, rate, excess, maturity);
    Assessment {
        index,
        rate,
        usual: known.rate,
        excess,
        signal,
    }
}

fn signal_of(
    config: &SignalConfig,
    digest: &Digest,
    stat: &TemplateStat,
    known: Known,
    rate: f64,
    excess: f64,
    maturity: Maturity,
) -> Option<Signal> {
    let warm = maturity.warm;
    let level = stat.levels.dominant()?;
    let share = f64::from(stat.count) / f64::from(digest.log_count.max(1));
    let above = |factor: f64| rate >= factor * known.rate;
    if level.is_error() && excess > 0.0 {
        if share >= config.storm_share && stat.count >= config.storm_min_lines {
            return Some(Signal::Storm);
        }
        if warm && excess >= config.surge_min_excess && above(config.surge_factor) {
            return Some(Signal::Surge);
        }
        let new = is_new(config, known.first_seen, maturity.news_since, digest.end);
        if warm && new && stat.count >= config.new_min_lines {
            return Some(Signal::New);
        }
    }
    if warm
        && level == Level::Warn
        && excess >= config.climb_min_excess
        && above(config.climb_factor)
    {
        return Some(Signal::Climb);
    }
    None
}

fn is_new(
    config: &SignalConfig,
    first_seen: Option<DateTime<Utc>>,
    news_since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> bool {
    first_seen.is_none_or(|first| {
        first >= news_since && (now - first).to_std().unwrap_or_default() <= config.new_for
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excess_ignores_poisson_noise() {
        assert_eq!(excess(2, 0.0, 5.0), 0.0);
        assert_eq!(excess(12, 2.0, 5.0), 0.0, "10 expected, 12 seen");
        assert!(excess(70, 0.0, 1.0) > 60.0);
        assert!(excess(40, 2.0, 5.0) > 15.0);
    }
}
