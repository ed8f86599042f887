//! The command line: `serve` (the default), `analyze`, `templates`, `demo-logs`.
//!
//! Every setting can come from a flag, an `IC_*` environment variable or the TOML file given
//! by `--config`, in that order of precedence; see `config.rs` for the file.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use ic_core::WindowConfig;
use ic_core::demo::{MELTDOWN_RATE, NORMAL_RATE};
use ic_core::incident::CorrelatorConfig;

use crate::llm::settings::LlmArgs;
use crate::log_stream::NatsArgs;
use crate::output::{Format, MinSeverity};
use crate::setting::with_default;
use crate::web::limits::IngestArgs;

#[derive(Debug, Parser)]
#[command(
    name = "incident-commander",
    version,
    about = "Condenses log storms into incident reports that name the root-cause service.",
    long_about = "Condenses log storms into incident reports that name the root-cause service.\n\n\
        Logs are cut into tumbling windows (100 lines or 5 seconds), each window is condensed \
        into log templates, and the analyzer compares every template with its usual rate to \
        decide what is an incident.\n\n\
        With no command, runs `serve` with the demo source."
)]
pub struct Cli {
    /// TOML file with settings; flags and IC_* variables override it.
    #[arg(long, global = true, env = "IC_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Runs the pipeline live on one or more sources and prints each window's report.
    Serve(Box<ServeArgs>),
    /// Replays a log file (or stdin) through the pipeline by event time and prints one report
    /// per window.
    Analyze(AnalyzeArgs),
    /// Mines the log templates of a file (or stdin) and prints the template table.
    Templates(TemplatesArgs),
    /// Prints the demo source's log lines (JSON) on stdout.
    DemoLogs(DemoLogsArgs),
    /// Lists the stored incidents, shows one with its evidence, or acknowledges or resolves one.
    Incidents(IncidentsArgs),
    /// Lists the silences, adds one (a maintenance window when it starts later), or expires
    /// one. Every instance on the database honours them within seconds.
    Silences(SilencesArgs),
    /// Prints what the incident database holds, summed over every instance that writes to
    /// it: lines analyzed, windows, open and resolved incidents.
    Stats(StatsArgs),
}

#[derive(Debug, Clone, Args)]
pub struct StatsArgs {
    /// Print JSON: `{"lines_analyzed", "windows", "incidents": {"open", "resolved"}}`.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub db: DbArgs,
}

/// Where incidents are stored.
#[derive(Debug, Clone, Default, Args)]
pub struct DbArgs {
    /// The incident database: `sqlite://PATH` or `postgres://USER@HOST/DB`
    /// [default: sqlite://$XDG_DATA_HOME/incident-commander/incidents.db].
    #[arg(
        long,
        global = true,
        env = "IC_DB",
        value_name = "URL",
        hide_env_values = true
    )]
    pub db: Option<String>,
}

/// The window's limits, shared by `serve` and `analyze`.
#[derive(Debug, Clone, Default, Args)]
pub struct WindowArgs {
    #[arg(long, env = "IC_WINDOW_EVENTS", value_name = "N", help = with_default(
        "A window closes when it holds this many events",
        WindowConfig::DEFAULT_MAX_EVENTS,
    ))]
    pub window_events: Option<usize>,

    #[arg(long, env = "IC_WINDOW_SECS", value_name = "SECS", help = with_default(
        "A window closes this many seconds after its first event",
        WindowConfig::DEFAULT_MAX_AGE.as_secs(),
    ))]
    pub window_secs: Option<f64>,
}

/// Incident settings, shared by `serve` and `analyze`.
#[derive(Debug, Clone, Default, Args)]
pub struct IncidentArgs {
    #[arg(long, env = "IC_RESOLVE_AFTER", value_name = "SECS", help = with_default(
        "An incident resolves after this many seconds without a matching report",
        CorrelatorConfig::DEFAULT_RESOLVE_AFTER.as_secs(),
    ))]
    pub resolve_after: Option<f64>,

    /// Post incidents that open, escalate or resolve to this webhook: `URL` (generic JSON),
    /// `slack:URL` or `pagerduty:URL?routing_key=KEY`. Repeat for several targets; flags
    /// replace the config file's `[[webhooks]]`.
    #[arg(
        long = "webhook",
        env = "IC_WEBHOOK",
        value_name = "TARGET",
        value_delimiter = ' ',
        hide_env_values = true
    )]
    pub webhooks: Vec<String>,
}

#[derive(Debug, Clone, Default, Args)]
pub struct ServeArgs {
    /// Where logs come from: `demo`, `stdin`, `file:GLOB` (every matching file read, then
    /// followed as `tail -F` does: new files, rotation, truncation) or `nats` (the shared
    /// JetStream stream, see --nats-url). Repeat the flag to run
    /// several at once, or give `none` for only the HTTP and OTLP endpoints (`POST /api/logs`,
    /// `POST /v1/logs`), which every server offers [default: demo, unless --syslog-listen is
    /// given].
    #[arg(
        long = "source",
        env = "IC_SOURCE",
        value_name = "SOURCE",
        value_delimiter = ','
    )]
    pub sources: Vec<String>,

    /// Receive syslog (RFC 5424 and 3164) on UDP and TCP at this address: `PORT` listens on
    /// 127.0.0.1, `ADDR:PORT` anywhere else (e.g. `0.0.0.0:5514`) [default: off].
    #[arg(long, env = "IC_SYSLOG_LISTEN", value_name = "ADDR")]
    pub syslog_listen: Option<String>,

    /// Where the file source keeps its read offsets, so a restart neither reads a line
    /// twice nor skips one [default: file-offsets.json next to the default database].
    #[arg(long, env = "IC_CHECKPOINT", value_name = "PATH")]
    pub checkpoint: Option<PathBuf>,

    /// Where HTTP and OTLP ingest journal the lines they accept before answering, so that a
    /// crash loses none of them; one server per directory [default: a free slot of
    /// journal/DATABASE/ next to the default database; none for an in-memory database].
    #[arg(long, env = "IC_JOURNAL", value_name = "DIR")]
    pub journal: Option<PathBuf>,

    #[arg(long, env = "IC_LISTEN", value_name = "ADDR", value_parser = listen_address,
        help = with_default(
            "Address of the HTTP server (dashboard, API, ingest, health): `PORT` or \
             `localhost:PORT` listens on 127.0.0.1, `ADDR:PORT` anywhere else",
            crate::web::DEFAULT_LISTEN,
        ))]
    pub listen: Option<SocketAddr>,

    /// How reports are printed [default: text on a terminal, json otherwise].
    #[arg(long, env = "IC_FORMAT", value_enum)]
    pub format: Option<Format>,

    /// Print only reports at this severity or above [default: info].
    #[arg(long, env = "IC_MIN_SEVERITY", value_enum)]
    pub min_severity: Option<MinSeverity>,

    /// Start the demo source in meltdown.
    #[arg(long)]
    pub meltdown: bool,

    #[arg(long, env = "IC_DEMO_RATE", value_name = "N", help = demo_rate_help(
        "The demo source's rate in lines per second",
    ))]
    pub demo_rate: Option<f64>,

    /// Seed of the demo source's random choices [default: from the clock].
    #[arg(long, env = "IC_DEMO_SEED")]
    pub seed: Option<u64>,

    #[command(flatten)]
    pub window: WindowArgs,

    #[command(flatten)]
    pub incidents: IncidentArgs,

    #[command(flatten)]
    pub db: DbArgs,

    #[command(flatten)]
    pub ingest: IngestArgs,

    #[command(flatten)]
    pub llm: LlmArgs,

    #[command(flatten)]
    pub nats: NatsArgs,
}

#[derive(Debug, Clone, Args)]
pub struct AnalyzeArgs {
    /// The log file; `-` or nothing reads stdin.
    #[arg(value_name = "PATH|-")]
    pub path: Option<PathBuf>,

    /// Report format [default: text on a terminal, json otherwise]. `json` prints exactly one
    /// report per window, one JSON object per line, and nothing else.
    #[arg(long, env = "IC_FORMAT", value_enum)]
    pub format: Option<Format>,

    /// In text format, print only reports at this severity or above [default: info].
    #[arg(long, env = "IC_MIN_SEVERITY", value_enum)]
    pub min_severity: Option<MinSeverity>,

    #[command(flatten)]
    pub window: WindowArgs,

    #[command(flatten)]
    pub incidents: IncidentArgs,

    /// Store the incidents found in this database (`sqlite://PATH` or `postgres://…`);
    /// without it nothing is stored.
    #[arg(long, env = "IC_DB", value_name = "URL", hide_env_values = true)]
    pub db: Option<String>,

    #[command(flatten)]
    pub llm: LlmArgs,
}

#[derive(Debug, Clone, Args)]
pub struct TemplatesArgs {
    /// The log file; `-` or nothing reads stdin.
    #[arg(value_name = "PATH|-")]
    pub path: Option<PathBuf>,

    /// Print one line per input line, in input order: `TEMPLATE_ID<TAB>TEMPLATE` (the
    /// template as it stood when the line was mined).
    #[arg(long)]
    pub assign: bool,

    /// Table format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Debug, Clone, Args)]
pub struct DemoLogsArgs {
    /// Generate meltdown traffic from the start.
    #[arg(long)]
    pub meltdown: bool,

    #[arg(long, value_name = "N", help = demo_rate_help("Lines per second"))]
    pub rate: Option<f64>,

    /// Stop after this many lines [default: never].
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,

    /// Seed of the random choices; the same seed prints the same messages.
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,

    /// Don't wait between lines: print as fast as possible, with timestamps spaced as the
    /// rate says (simulated time).
    #[arg(long)]
    pub fast: bool,

    /// Timestamp of the first line, RFC 3339 [default: now].
    #[arg(long, value_name = "TIME")]
    pub start: Option<chrono::DateTime<chrono::Utc>>,

    /// Switch the meltdown on after this many seconds of (simulated) time.
    #[arg(long, value_name = "SECS")]
    pub meltdown_after: Option<f64>,

    /// Switch the meltdown off again after it lasted this many seconds.
    #[arg(long, value_name = "SECS", requires = "meltdown_after")]
    pub meltdown_for: Option<f64>,
}

#[derive(Debug, Clone, Args)]
pub struct IncidentsArgs {
    #[command(subcommand)]
    pub command: Option<IncidentsCommand>,

    /// Only incidents in this status.
    #[arg(long, value_enum)]
    pub status: Option<StatusFilter>,

    /// Only incidents at least this severe.
    #[arg(long, value_enum)]
    pub severity: Option<MinSeverity>,

    /// Only incidents whose root cause or impacted services include this one.
    #[arg(long, value_name = "NAME")]
    pub service: Option<String>,

    /// At most this many incidents, the most recently seen.
    #[arg(long, value_name = "N", default_value_t = 50)]
    pub limit: u32,

    /// Print JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,

    #[command(flatten)]
    pub db: DbArgs,
}

#[derive(Debug, Clone, Subcommand)]
pub enum IncidentsCommand {
    /// Prints one incident with its timeline and evidence: templates, exact counts, sample
    /// lines.
    Show {
        /// The incident's id, as the list prints it.
        id: String,
        /// `text`, `json` (as `--json`), or `markdown`: a post-incident summary to paste into a
        /// postmortem document [default: text].
        #[arg(long, value_enum)]
        format: Option<ShowFormat>,
    },
    /// Acknowledges an incident: someone is on it. The first acknowledgement is kept, with who
    /// made it, in the timeline.
    Ack {
        /// The incident's id, as the list prints it.
        id: String,
        /// Who acknowledges [default: $USER].
        #[arg(long, value_name = "NAME")]
        by: Option<String>,
    },
    /// Resolves an open incident by hand, as the dashboard's Resolve does; an instance that
    /// still sees its failure reopens it. With webhooks in the config file, their receivers
    /// are told, by whichever instance sends webhooks.
    Resolve {
        /// The incident's id, as the list prints it.
        id: String,
        /// Who resolves [default: $USER].
        #[arg(long, value_name = "NAME")]
        by: Option<String>,
    },
}

#[derive(Debug, Clone, Args)]
pub struct SilencesArgs {
    #[command(subcommand)]
    pub command: Option<SilencesCommand>,

    /// List expired silences too (kept until the retention deletes them).
    #[arg(long, global = true)]
    pub all: bool,

    /// Print JSON (Alertmanager's silence objects) instead of a table.
    #[arg(long, global = true)]
    pub json: bool,

    #[command(flatten)]
    pub db: DbArgs,
}

#[derive(Debug, Clone, Subcommand)]
pub enum SilencesCommand {
    /// Lists the silences, as `silences` alone does.
    List,
    /// Mutes the webhooks of the incidents every MATCHER matches, from --start for
    /// --duration. A muted incident still opens, updates and resolves; when the silence ends
    /// while it is open, its webhooks are told then, once.
    #[command(after_help = "Examples:\n  \
        incident-commander silences add service=inventory-db --duration 2h --comment \"pool resize\"\n  \
        incident-commander silences add 'service=~payments-.*' severity=warning --duration 30d \\\n    \
        --weekdays saturday:sunday --times 02:00-04:00 --location Europe/Berlin \\\n    \
        --comment \"weekly maintenance\"")]
    Add(SilenceAddArgs),
    /// Ends a silence now; it stays listed with `--all`.
    Expire {
        /// The silence's id, as `silences` lists it.
        id: String,
    },
}

#[derive(Debug, Clone, Args)]
#[command(group(clap::ArgGroup::new("recurring").multiple(true)))]
pub struct SilenceAddArgs {
    /// Alertmanager's matchers: `NAME=VALUE`, `NAME!=VALUE`, `NAME=~REGEX`,
    /// `NAME!~REGEX`. Names: `service` (the root-cause service), `impacted` (any impacted
    /// service, the root cause among them), `template` (the root-cause template),
    /// `fingerprint`, `severity` (that severity and below). `*` and
    /// `?` in a plain value are wildcards.
    #[arg(required = true, value_name = "MATCHER")]
    pub matchers: Vec<String>,
    /// How long it lasts: `90m`, `2h`, `7d`.
    #[arg(long, value_name = "DURATION")]
    pub duration: String,
    /// When it starts, RFC 3339 (`2026-12-24T22:00:00Z`) [default: now].
    #[arg(long, value_name = "TIME")]
    pub start: Option<String>,
    /// Why: shown beside it wherever it is listed.
    #[arg(long)]
    pub comment: String,
    /// Who made it [default: $USER].
    #[arg(long, value_name = "NAME")]
    pub by: Option<String>,
    /// Recurring: mute only on these weekdays, `monday:friday` or `saturday`; repeat for
    /// more.
    #[arg(long, value_name = "DAYS", group = "recurring")]
    pub weekdays: Vec<String>,
    /// Recurring: mute only in these times of day, `HH:MM-HH:MM`; repeat for more.
    #[arg(long, value_name = "RANGE", group = "recurring")]
    pub times: Vec<String>,
    /// The time zone of --weekdays and --times, an IANA name (`Europe/Berlin`,
    /// `America/New_York`); local time decides across daylight-saving changes [default: UTC].
    #[arg(long, value_name = "ZONE", requires = "recurring")]
    pub location: Option<String>,
}

/// How `incidents show` prints an incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ShowFormat {
    Text,
    Json,
    Markdown,
}

/// An incident status, as a filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StatusFilter {
    Open,
    Resolved,
}

/// The demo's rates, as `--help` shows them.
fn demo_rate_help(text: &str) -> String {
    with_default(
        text,
        format_args!("{NORMAL_RATE}, or {MELTDOWN_RATE} in a meltdown"),
    )
}

/// `--listen`, read as `--syslog-listen` is.
fn listen_address(text: &str) -> Result<SocketAddr, String> {
    crate::sources::syslog::parse_listen(text).map_err(|err| err.to_string())
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn listen_takes_a_port_localhost_or_an_address() {
        let listen = |text: &str| {
            let cli = Cli::try_parse_from(["incident-commander", "serve", "--listen", text])?;
            let Some(Command::Serve(serve)) = cli.command else {
                panic!("serve")
            };
            Ok::<_, clap::Error>(serve.listen.map(|a| a.to_string()))
        };
        assert_eq!(listen("9000").unwrap().as_deref(), Some("127.0.0.1:9000"));
        assert_eq!(
            listen("localhost:9000").unwrap().as_deref(),
            Some("127.0.0.1:9000")
        );
        assert_eq!(
            listen("0.0.0.0:9000").unwrap().as_deref(),
            Some("0.0.0.0:9000")
        );
        let err = listen("nowhere").unwrap_err().to_string();
        assert!(err.contains("neither a port nor an address"), "{err}");
    }

    #[test]
    fn no_arguments_means_serve_with_defaults() {
        let cli = Cli::try_parse_from(["incident-commander"]).unwrap();
        assert!(cli.command.is_none());
    }

    #[test]
    fn sources_repeat_or_take_commas() {
        let cli = Cli::try_parse_from([
            "incident-commander",
            "serve",
            "--source",
            "demo",
            "--source",
            "stdin,file:/var/log/app.log",
        ])
        .unwrap();
        let Some(Command::Serve(args)) = cli.command else {
            panic!("not serve")
        };
        assert_eq!(args.sources, ["demo", "stdin", "file:/var/log/app.log"]);
    }
}
