//! Incident Commander: condenses log storms into incident reports that name the root-cause
//! service. The binary (`main.rs`) parses the command line and calls [`run`]; everything else
//! is here, so the integration tests reach the same code the binary runs.

pub mod cli;
mod commands;
mod config;
mod http_retry;
mod instance;
mod journal;
mod llm;
mod log_stream;
mod metrics;
mod notify;
mod output;
mod pipeline;
mod secret;
mod setting;
mod shutdown;
mod silences;
mod sources;
mod sync;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
mod timeline;
mod web;

use tracing_subscriber::EnvFilter;

use cli::{Cli, Command};
use config::FileConfig;

pub use commands::serve::BANNER;

/// Runs one command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    let file = FileConfig::load(cli.config.as_deref())?;
    match cli
        .command
        .unwrap_or_else(|| Command::Serve(Default::default()))
    {
        Command::Templates(args) => commands::templates::run(&args),
        Command::DemoLogs(args) => commands::demo_logs::run(&args),
        Command::Incidents(args) => runtime()?.block_on(commands::incidents::run(args, &file)),
        Command::Stats(args) => runtime()?.block_on(commands::stats::run(args, &file)),
        Command::Silences(args) => runtime()?.block_on(commands::silences::run(args, &file)),
        Command::Analyze(args) => runtime()?.block_on(commands::analyze::run(args, &file)),
        Command::Serve(args) => runtime()?.block_on(commands::serve::run(*args, &file)),
    }
}

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
}

/// Our own log lines go to stderr (stdout holds reports); `IC_LOG` or `RUST_LOG` filter them.
pub fn init_logging() {
    let filter = std::env::var("IC_LOG")
        .ok()
        .and_then(|f| EnvFilter::try_new(f).ok())
        .or_else(|| EnvFilter::try_from_default_env().ok())
        // PostgreSQL's notices ("relation … already exists, skipping" at every start) are
        // the server's chatter, not ours.
        .unwrap_or_else(|| EnvFilter::new("info,sqlx::postgres::notice=warn"));
    // Fields carry log-derived text (service names, templates): the writer shows their
    // control characters instead of letting a terminal obey them, which also rules out
    // colors of our own.
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| output::Printable(std::io::stderr()))
        .with_ansi(false)
        .init();
}
