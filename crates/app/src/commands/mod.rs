//! One module per subcommand.

pub mod analyze;
pub mod demo_logs;
pub mod incidents;
pub mod serve;
pub mod silences;
pub mod stats;
pub mod templates;

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;

use crate::llm::{Analyst, Gate, LlmSettings};
use crate::pipeline::{LlmMode, LlmStage};

/// Once asked to stop, a store that keeps failing is tried this long before what it has not
/// taken is given up (see [`crate::pipeline::sink::IncidentSink::store`]).
const STORE_GRACE: std::time::Duration = std::time::Duration::from_secs(20);
/// Once asked to stop (or at the end), queued webhooks get this long to be delivered.
const WEBHOOK_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// The LLM stage, when an LLM analyzer is configured.
pub fn llm_stage(settings: Option<LlmSettings>, mode: LlmMode) -> anyhow::Result<Option<LlmStage>> {
    let Some(settings) = settings else {
        return Ok(None);
    };
    let gate = Gate::new(settings.gate);
    let min_severity = settings.gate.min_severity;
    let analyst = Analyst::new(settings).context("cannot set up the LLM analyzer")?;
    tracing::info!(
        analyzer = analyst.name(),
        %min_severity,
        "LLM analysis on for windows at this severity or above."
    );
    Ok(Some(LlmStage {
        analyst: Arc::new(analyst),
        gate,
        mode,
    }))
}

/// The input named on the command line: a file, or stdin for `-` or nothing.
pub fn open_input(path: Option<&Path>) -> anyhow::Result<Box<dyn Read + Send>> {
    match path {
        None => Ok(Box::new(io::stdin())),
        Some(p) if p == Path::new("-") => Ok(Box::new(io::stdin())),
        Some(p) => {
            if p.is_dir() {
                anyhow::bail!(
                    "{} is a directory; give a log file, or - for stdin",
                    p.display()
                );
            }
            let file = File::open(p).with_context(|| format!("cannot open {}", p.display()))?;
            Ok(Box::new(file))
        }
    }
}

/// How the input is named in messages.
pub fn input_name(path: Option<&PathBuf>) -> String {
    match path {
        Some(p) if p.as_os_str() != "-" => p.display().to_string(),
        _ => "stdin".to_owned(),
    }
}

/// True for the error a closed pipe gives (`… | head`): the reader has seen enough.
pub fn is_broken_pipe(err: &io::Error) -> bool {
    err.kind() == io::ErrorKind::BrokenPipe
}

/// Whether to colour text on stdout: a terminal, and `NO_COLOR` unset.
pub fn color_stdout(is_terminal: bool) -> bool {
    is_terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Who acts from the command line: `--by`, else the login name (`$USER`, `$LOGNAME`).
fn who(by: Option<&str>) -> Option<String> {
    by.map(str::to_owned)
        .or_else(|| std::env::var("USER").ok())
        .or_else(|| std::env::var("LOGNAME").ok())
        .filter(|name| !name.trim().is_empty())
}
