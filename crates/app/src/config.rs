//! Settings: flags and `IC_*` variables (through clap) over an optional TOML file over defaults.

use std::ffi::OsString;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::{Context, bail};
use ic_core::incident::CorrelatorConfig;
use ic_core::{Severity, WindowConfig};
use ic_store::Retention;
use serde::Deserialize;

use crate::cli::{IncidentArgs, ServeArgs, WindowArgs};
use crate::journal::JournalPlace;
use crate::llm::settings::LlmArgs;
use crate::llm::{self, LlmSettings, settings::LlmFile};
use crate::log_stream::{NatsArgs, NatsFile, NatsSettings};
use crate::notify::{self, WebhookConfig, WebhookTarget};
use crate::output::{Format, MinSeverity};
use crate::setting::seconds;
use crate::sources::syslog::{SyslogFile, SyslogSettings};
use crate::web::limits::{IngestFile, IngestSettings};

/// The TOML file. Every field is optional; a flag or `IC_*` variable wins over it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// `serve`'s sources: `"demo"`, `"stdin"`, `"file:GLOB"`.
    pub sources: Option<Vec<String>>,
    /// Where the file source keeps its read offsets
    /// (default: `file-offsets.json` next to the default database).
    pub checkpoint: Option<PathBuf>,
    /// Where HTTP and OTLP ingest journal what they accept
    /// (default: a slot under `journal/` next to the default database).
    pub journal: Option<PathBuf>,
    #[serde(default)]
    pub syslog: SyslogFile,
    /// `serve`'s HTTP address, e.g. `"127.0.0.1:8080"`.
    pub listen: Option<SocketAddr>,
    /// `"text"` or `"json"`.
    pub format: Option<Format>,
    /// `"info"`, `"warning"` or `"critical"`.
    pub min_severity: Option<MinSeverity>,
    #[serde(default)]
    pub window: WindowFile,
    #[serde(default)]
    pub demo: DemoFile,
    #[serde(default)]
    pub incidents: IncidentsFile,
    /// The incident database URL (`sqlite://PATH`, `postgres://…`).
    pub db: Option<String>,
    #[serde(default)]
    pub retention: RetentionFile,
    /// Webhook targets: `[[webhooks]] url = "…" format = "slack" timeout_secs = 5`.
    #[serde(default)]
    pub webhooks: Vec<WebhookConfig>,
    /// `[ingest]`: the token and limits of `/api/logs` and `/v1/logs`.
    #[serde(default)]
    pub ingest: IngestFile,
    /// `[llm]`: the LLM analyzer.
    #[serde(default)]
    pub llm: LlmFile,
    /// `[nats]`: the shared stream.
    #[serde(default)]
    pub nats: NatsFile,
}

/// `[retention]`: how long resolved incidents are kept.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionFile {
    /// Resolved incidents older than this many days are deleted (default 30).
    pub max_age_days: Option<f64>,
    /// At most this many resolved incidents are kept (default 10,000).
    pub max_count: Option<u64>,
}

/// `[incidents]`: how reports become incidents.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncidentsFile {
    /// An incident resolves after this many seconds without a matching report.
    pub resolve_after_secs: Option<f64>,
}

/// `[window]`: the tumbling window's limits.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowFile {
    /// A window closes when it holds this many events.
    pub max_events: Option<usize>,
    /// A window closes this many seconds after its first event.
    pub max_age_secs: Option<f64>,
}

/// `[demo]`: the demo source.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoFile {
    /// Seed of its random choices.
    pub seed: Option<u64>,
    /// Start in meltdown.
    pub meltdown: Option<bool>,
    /// Lines per second (default: 10, or 500 in a meltdown).
    pub rate: Option<f64>,
}

impl FileConfig {
    /// Reads the file, or the defaults when no file is given.
    pub fn load(path: Option<&Path>) -> anyhow::Result<Self> {
        let Some(path) = path else {
            return Ok(Self::default());
        };
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the config file {}", path.display()))?;
        toml::from_str(&text)
            .with_context(|| format!("the config file {} is not valid", path.display()))
    }

    /// The window limits: flags and variables, then this file, then the defaults.
    pub fn window(&self, args: &WindowArgs) -> anyhow::Result<WindowConfig> {
        let max_events = args
            .window_events
            .or(self.window.max_events)
            .unwrap_or(WindowConfig::DEFAULT_MAX_EVENTS);
        let max_age = match args.window_secs.or(self.window.max_age_secs) {
            Some(secs) => seconds(secs).context("--window-secs")?,
            None => WindowConfig::DEFAULT_MAX_AGE,
        };
        let config = WindowConfig {
            max_events,
            max_age,
        };
        config.validate().context("invalid window settings")?;
        Ok(config)
    }

    /// The correlator's settings: flags and variables, then this file, then the defaults.
    pub fn correlator(&self, args: &IncidentArgs) -> anyhow::Result<CorrelatorConfig> {
        let mut config = CorrelatorConfig::default();
        if let Some(secs) = args.resolve_after.or(self.incidents.resolve_after_secs) {
            config.resolve_after = seconds(secs).context("--resolve-after")?;
        }
        Ok(config)
    }

    /// The incident database: the flag or variable, then this file, then the default file.
    pub fn db_url(&self, flag: Option<&str>) -> anyhow::Result<String> {
        match flag.map(str::to_owned).or_else(|| self.db.clone()) {
            Some(url) => Ok(url),
            None => default_db_url(),
        }
    }

    pub fn retention(&self) -> anyhow::Result<Retention> {
        let mut retention = Retention::default();
        if let Some(days) = self.retention.max_age_days {
            retention.max_age = seconds(days * 86_400.0).context("[retention] max_age_days")?;
        }
        if let Some(count) = self.retention.max_count {
            retention.max_count = count;
        }
        Ok(retention)
    }

    /// Webhook targets: the flags when any is given, else this file's.
    pub fn webhooks(&self, flags: &[String]) -> anyhow::Result<Vec<WebhookTarget>> {
        Ok(notify::targets(flags, &self.webhooks)?)
    }

    pub fn format(&self, flag: Option<Format>, stdout_is_terminal: bool) -> Format {
        flag.or(self.format).unwrap_or(if stdout_is_terminal {
            Format::Text
        } else {
            Format::Json
        })
    }

    /// The stream a gateway publishes into, when `--forward nats` is asked for.
    pub fn forward(&self, args: &NatsArgs) -> anyhow::Result<Option<NatsSettings>> {
        self.nats.forward(args)
    }

    /// The shared stream: flags and variables, then this file, then the defaults.
    pub fn nats(&self, args: &NatsArgs) -> anyhow::Result<NatsSettings> {
        self.nats.resolve(args)
    }

    /// The LLM analyzer's settings, checked; `None` for the built-in analyzer.
    pub fn llm(&self, args: &LlmArgs) -> anyhow::Result<Option<LlmSettings>> {
        let settings = llm::settings::resolve(&self.llm, args, |name| std::env::var(name).ok())?;
        if let Some(settings) = &settings {
            llm::settings::check(settings)?;
        }
        Ok(settings)
    }

    pub fn min_severity(&self, flag: Option<MinSeverity>) -> Severity {
        flag.or(self.min_severity)
            .map_or(Severity::Info, Severity::from)
    }
}

/// `sqlite://` in the user's data directory (`$XDG_DATA_HOME`, else `~/.local/share`), the
/// directory created if missing; `./incident-commander.db` when neither is known.
fn default_db_url() -> anyhow::Result<String> {
    db_url_in(data_dir(
        std::env::var_os("XDG_DATA_HOME"),
        std::env::var_os("HOME"),
    ))
}

fn data_dir(xdg_data_home: Option<OsString>, home: Option<OsString>) -> Option<PathBuf> {
    xdg_data_home
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| home.map(|h| Path::new(&h).join(".local/share")))
}

fn db_url_in(data: Option<PathBuf>) -> anyhow::Result<String> {
    let Some(data) = data else {
        return Ok("sqlite://incident-commander.db".to_owned());
    };
    let dir = data.join("incident-commander");
    std::fs::create_dir_all(&dir).with_context(|| {
        format!(
            "cannot create {}; choose a database with --db",
            dir.display()
        )
    })?;
    Ok(format!("sqlite://{}", dir.join("incidents.db").display()))
}

/// The file source's checkpoint: next to the default database in the data directory, or
/// in the working directory when there is none.
fn default_checkpoint() -> PathBuf {
    beside_default_db("file-offsets.json", "incident-commander-offsets.json")
}

/// Where the ingest journal lives: `--journal`, else a slot beside the default database.
fn journal_place(dir: Option<PathBuf>, db: &str) -> JournalPlace {
    match dir {
        Some(dir) => JournalPlace::Dir(dir),
        None if ic_store::is_in_memory(db) => JournalPlace::Off,
        // A stable name for the database: the journal of one must never be replayed into
        // another.
        None => JournalPlace::Slots(
            beside_default_db("journal", "incident-commander-journal")
                .join(format!("{:08x}", crc32fast::hash(db.as_bytes()))),
        ),
    }
}

fn beside_default_db(name: &str, or_here: &str) -> PathBuf {
    match data_dir(std::env::var_os("XDG_DATA_HOME"), std::env::var_os("HOME")) {
        Some(data) => data.join("incident-commander").join(name),
        None => PathBuf::from(or_here),
    }
}

/// Everything `serve` needs, resolved.
#[derive(Debug, Clone)]
pub struct ServeSettings {
    pub sources: Vec<SourceSpec>,
    pub listen: SocketAddr,
    pub format: Format,
    pub min_severity: Severity,
    pub window: WindowConfig,
    pub correlator: CorrelatorConfig,
    pub db: String,
    pub retention: Retention,
    pub webhooks: Vec<WebhookTarget>,
    pub demo_seed: Option<u64>,
    pub demo_rate: Option<f64>,
    pub meltdown: bool,
    /// The syslog receiver, when one is asked for.
    pub syslog: Option<SyslogSettings>,
    /// Where the file source keeps its offsets.
    pub checkpoint: PathBuf,
    /// Where HTTP and OTLP ingest journal what they accept.
    pub journal: JournalPlace,
    /// The HTTP listener's token and limits.
    pub ingest: IngestSettings,
    /// The LLM analyzer; `None` for the built-in one.
    pub llm: Option<LlmSettings>,
    /// Where the HTTP, OTLP and syslog sources publish instead of the local pipeline.
    pub forward: Option<NatsSettings>,
    /// The shared stream, for `--source nats` and `--forward nats`.
    pub nats: NatsSettings,
}

impl ServeSettings {
    pub fn resolve(
        args: &ServeArgs,
        file: &FileConfig,
        stdout_is_terminal: bool,
    ) -> anyhow::Result<Self> {
        let syslog = file.syslog.settings(args.syslog_listen.as_deref())?;
        let names = if args.sources.is_empty() {
            // The demo is the default input only when no other input is asked for.
            let default = if syslog.is_some() {
                vec![]
            } else {
                vec!["demo".into()]
            };
            file.sources.clone().unwrap_or(default)
        } else {
            args.sources.clone()
        };
        // `none`: only the HTTP and OTLP endpoints, which every server offers.
        let sources = names
            .iter()
            .filter(|s| s.as_str() != "none")
            .map(|s| s.parse())
            .collect::<Result<Vec<SourceSpec>, _>>()?;
        for once in [SourceSpec::Stdin, SourceSpec::Demo, SourceSpec::Nats] {
            if sources.iter().filter(|s| **s == once).count() > 1 {
                bail!("--source {once} is given twice; it can run only once");
            }
        }
        let db = file.db_url(args.db.db.as_deref())?;
        let listen = args.listen.or(file.listen).unwrap_or_else(|| {
            crate::web::DEFAULT_LISTEN
                .parse()
                .expect("a valid default address")
        });
        Ok(Self {
            sources,
            listen,
            ingest: IngestSettings::resolve(&args.ingest, &file.ingest, listen)?,
            format: file.format(args.format, stdout_is_terminal),
            min_severity: file.min_severity(args.min_severity),
            window: file.window(&args.window)?,
            correlator: file.correlator(&args.incidents)?,
            db: db.clone(),
            retention: file.retention()?,
            webhooks: file.webhooks(&args.incidents.webhooks)?,
            llm: file.llm(&args.llm)?,
            forward: file.forward(&args.nats)?,
            nats: file.nats(&args.nats)?,
            demo_seed: args.seed.or(file.demo.seed),
            demo_rate: match args.demo_rate.or(file.demo.rate) {
                Some(rate) if !(rate.is_finite() && rate > 0.0) => {
                    bail!("--demo-rate must be a positive number of lines per second, not {rate}")
                }
                rate => rate,
            },
            meltdown: args.meltdown || file.demo.meltdown.unwrap_or(false),
            syslog,
            checkpoint: args
                .checkpoint
                .clone()
                .or_else(|| file.checkpoint.clone())
                .unwrap_or_else(default_checkpoint),
            journal: journal_place(args.journal.clone().or_else(|| file.journal.clone()), &db),
        })
    }
}

/// One `--source`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceSpec {
    Demo,
    Stdin,
    /// Read the files a glob matches, then follow them as `tail -F` does.
    File(PathBuf),
    /// Pull from the shared NATS JetStream stream.
    Nats,
}

impl FromStr for SourceSpec {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "demo" => Ok(SourceSpec::Demo),
            "stdin" | "-" => Ok(SourceSpec::Stdin),
            "nats" => Ok(SourceSpec::Nats),
            _ => match s.strip_prefix("file:") {
                Some(path) if !path.is_empty() => Ok(SourceSpec::File(path.into())),
                _ => {
                    bail!("unknown source `{s}`: expected demo, stdin, file:PATH or nats, or none")
                }
            },
        }
    }
}

impl fmt::Display for SourceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SourceSpec::Demo => f.write_str("demo"),
            SourceSpec::Stdin => f.write_str("stdin"),
            SourceSpec::File(path) => write!(f, "file:{}", path.display()),
            SourceSpec::Nats => f.write_str("nats"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn flags_win_over_the_file_and_the_file_over_defaults() {
        let file: FileConfig = toml::from_str(
            r#"
            sources = ["stdin"]
            listen = "0.0.0.0:9000"
            [ingest]
            token = "t"
            [window]
            max_events = 50
            max_age_secs = 2.5
            "#,
        )
        .unwrap();
        let mut args = ServeArgs::default();
        args.db.db = Some("sqlite::memory:".into());
        let s = ServeSettings::resolve(&args, &file, false).unwrap();
        assert_eq!(s.sources, [SourceSpec::Stdin]);
        assert_eq!(s.listen.port(), 9000);
        assert_eq!(s.window.max_events, 50);
        assert_eq!(s.window.max_age, Duration::from_millis(2500));
        assert_eq!(s.format, Format::Json);

        args.sources = vec!["demo".into()];
        args.window.window_events = Some(10);
        let s = ServeSettings::resolve(&args, &file, true).unwrap();
        assert_eq!(s.sources, [SourceSpec::Demo]);
        assert_eq!(s.window.max_events, 10);
        assert_eq!(s.format, Format::Text);
    }

    #[test]
    fn defaults_without_a_file() {
        let mut args = ServeArgs::default();
        args.db.db = Some("sqlite::memory:".into());
        let s = ServeSettings::resolve(&args, &FileConfig::default(), true).unwrap();
        assert_eq!(s.sources, [SourceSpec::Demo]);
        assert_eq!(s.listen.to_string(), crate::web::DEFAULT_LISTEN);
        assert_eq!(s.window, WindowConfig::default());
    }

    #[test]
    fn the_journal_is_per_database_off_in_memory_and_where_it_is_told() {
        let mut args = ServeArgs::default();
        args.db.db = Some("sqlite::memory:".into());
        let resolve = |args: &ServeArgs| {
            ServeSettings::resolve(args, &FileConfig::default(), true)
                .unwrap()
                .journal
        };
        assert_eq!(resolve(&args), JournalPlace::Off);
        args.db.db = Some("sqlite:///var/lib/ic/a.db".into());
        let a = resolve(&args);
        args.db.db = Some("sqlite:///var/lib/ic/b.db".into());
        let b = resolve(&args);
        assert!(matches!((&a, &b), (JournalPlace::Slots(x), JournalPlace::Slots(y)) if x != y));
        args.journal = Some("/srv/journal".into());
        assert_eq!(resolve(&args), JournalPlace::Dir("/srv/journal".into()));
    }

    #[test]
    fn syslog_is_off_unless_asked_for_and_then_replaces_the_demo() {
        let mut args = ServeArgs::default();
        args.db.db = Some("sqlite::memory:".into());
        let s = ServeSettings::resolve(&args, &FileConfig::default(), true).unwrap();
        assert_eq!(s.syslog, None);
        assert!(s.checkpoint.ends_with("file-offsets.json") || s.checkpoint.is_relative());

        let file: FileConfig = toml::from_str(
            r#"
            checkpoint = "/tmp/offsets.json"
            [syslog]
            listen = "0.0.0.0:5514"
            max_message_bytes = 1024
            "#,
        )
        .unwrap();
        let s = ServeSettings::resolve(&args, &file, true).unwrap();
        let syslog = s.syslog.unwrap();
        assert_eq!(syslog.listen.to_string(), "0.0.0.0:5514");
        assert_eq!(syslog.config.max_message_bytes, 1024);
        assert_eq!(syslog.config.max_connections, 256);
        assert_eq!(s.sources, []);
        assert_eq!(s.checkpoint, PathBuf::from("/tmp/offsets.json"));

        args.syslog_listen = Some("6514".into());
        args.sources = vec!["file:/var/log/*.log".into()];
        let s = ServeSettings::resolve(&args, &file, true).unwrap();
        assert_eq!(s.syslog.unwrap().listen.to_string(), "127.0.0.1:6514");
        assert_eq!(s.sources, [SourceSpec::File("/var/log/*.log".into())]);

        args.syslog_listen = Some("nowhere".into());
        let err = ServeSettings::resolve(&args, &file, true).unwrap_err();
        assert!(format!("{err:#}").contains("neither a port"), "{err:#}");
    }

    #[test]
    fn the_default_database_lives_in_the_data_directory() {
        let xdg = data_dir(Some("/x".into()), Some("/home/u".into()));
        assert_eq!(xdg, Some(PathBuf::from("/x")));
        let home = data_dir(Some("".into()), Some("/home/u".into()));
        assert_eq!(home, Some(PathBuf::from("/home/u/.local/share")));
        assert_eq!(db_url_in(None).unwrap(), "sqlite://incident-commander.db");
        let dir = tempfile::tempdir().unwrap();
        let url = db_url_in(Some(dir.path().to_owned())).unwrap();
        assert!(url.ends_with("/incident-commander/incidents.db"), "{url}");
        assert!(dir.path().join("incident-commander").is_dir());

        let file: FileConfig = toml::from_str(r#"db = "sqlite://from-file.db""#).unwrap();
        assert_eq!(file.db_url(None).unwrap(), "sqlite://from-file.db");
        assert_eq!(
            file.db_url(Some("postgres://h/db")).unwrap(),
            "postgres://h/db"
        );
    }

    #[test]
    fn bad_settings_are_explained() {
        let err = toml::from_str::<FileConfig>("window_size = 3").unwrap_err();
        assert!(err.to_string().contains("unknown field"), "{err}");
        let err = "kafka".parse::<SourceSpec>().unwrap_err();
        assert!(
            err.to_string()
                .contains("expected demo, stdin, file:PATH or nats")
        );
        let mut args = ServeArgs::default();
        args.db.db = Some("sqlite::memory:".into());
        args.window.window_secs = Some(-1.0);
        let err = ServeSettings::resolve(&args, &FileConfig::default(), true).unwrap_err();
        assert!(
            format!("{err:#}").contains("not a positive number"),
            "{err:#}"
        );
        args.window.window_secs = None;
        args.window.window_events = Some(0);
        let err = ServeSettings::resolve(&args, &FileConfig::default(), true).unwrap_err();
        assert!(format!("{err:#}").contains("at least 1 event"), "{err:#}");
        args.window.window_events = None;
        let gateway: FileConfig =
            toml::from_str("[nats]\nforward = \"nats\"\nsubject = \"logs\"").unwrap();
        let err = ServeSettings::resolve(&args, &gateway, true).unwrap_err();
        assert!(format!("{err:#}").contains("PREFIX.>"), "{err:#}");
    }
}
