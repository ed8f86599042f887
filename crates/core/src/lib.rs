//! Incident Commander's core: pure, synchronous and deterministic.
//!
//! Every stage of the pipeline that decides something lives here as a plain type whose methods
//! take the current time as an argument: the parsers, the tumbling window, the template miner,
//! the condenser and the analyzer. The binary wraps them in thin async shells.

pub mod analyze;
pub mod condense;
pub mod demo;
pub mod event;
pub mod incident;
pub mod llm;
pub mod miner;
pub mod parse;
pub mod redact;
pub mod report;
pub mod silence;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod window;

pub use analyze::{AnalyzerConfig, BuiltinAnalyzer};
pub use condense::{Condenser, Digest};
pub use event::{Level, LevelCounts, LogEvent};
pub use report::{Report, Severity};
pub use window::{Batch, FlushReason, TumblingWindow, WindowConfig};
