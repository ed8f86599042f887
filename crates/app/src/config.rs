//! Settings: flags and `IC_*` variables (through clap) over an optional TOML file over defaults.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use anyhow::{Context, bail};
use ic_core::incident::CorrelatorConfig;
use ic_core::{Severity, WindowConfig};
use serde::Deserialize;

use crate::cli::{Format, IncidentArgs, MinSeverity, ServeArgs, WindowArgs};

/// The TOML file. Every field is optional; a flag or `IC_*` variable wins over it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// `serve`'s sources: `"demo"`, `"stdin"`, `"file:PATH"`.
    pub sources: Option<Vec<String>>,
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

    pub fn format(&self, flag: Option<Format>, stdout_is_terminal: bool) -> Format {
        flag.or(self.format).unwrap_or(if stdout_is_terminal {
            Format::Text
        } else {
            Format::Json
        })
    }

    pub fn min_severity(&self, flag: Option<MinSeverity>) -> Severity {
        flag.or(self.min_severity)
            .map_or(Severity::Info, Severity::from)
    }
}

/// A positive, finite number of seconds.
pub fn seconds(secs: f64) -> anyhow::Result<Duration> {
    if !(secs.is_finite() && secs > 0.0) {
        bail!("{secs} is not a positive number of seconds");
    }
    Duration::try_from_secs_f64(secs).with_context(|| format!("{secs} seconds is too long"))
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
    pub demo_seed: Option<u64>,
    pub meltdown: bool,
}

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

impl ServeSettings {
    pub fn resolve(
        args: &ServeArgs,
        file: &FileConfig,
        stdout_is_terminal: bool,
    ) -> anyhow::Result<Self> {
        let names = if args.sources.is_empty() {
            file.sources.clone().unwrap_or_else(|| vec!["demo".into()])
        } else {
            args.sources.clone()
        };
        let sources = names
            .iter()
            .map(|s| s.parse())
            .collect::<Result<Vec<SourceSpec>, _>>()?;
        if sources.iter().filter(|s| **s == SourceSpec::Stdin).count() > 1 {
            bail!("--source stdin is given twice; stdin can be read only once");
        }
        Ok(Self {
            sources,
            listen: args
                .listen
                .or(file.listen)
                .unwrap_or_else(|| DEFAULT_LISTEN.parse().expect("a valid default address")),
            format: file.format(args.format, stdout_is_terminal),
            min_severity: file.min_severity(args.min_severity),
            window: file.window(&args.window)?,
            correlator: file.correlator(&args.incidents)?,
            demo_seed: args.seed.or(file.demo.seed),
            meltdown: args.meltdown || file.demo.meltdown.unwrap_or(false),
        })
    }
}

/// One `--source`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceSpec {
    Demo,
    Stdin,
    /// Read the file, then follow it as it grows.
    File(PathBuf),
}

impl FromStr for SourceSpec {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "demo" => Ok(SourceSpec::Demo),
            "stdin" | "-" => Ok(SourceSpec::Stdin),
            _ => match s.strip_prefix("file:") {
                Some(path) if !path.is_empty() => Ok(SourceSpec::File(path.into())),
                _ => bail!("unknown source `{s}`: expected demo, stdin or file:PATH"),
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
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_win_over_the_file_and_the_file_over_defaults() {
        let file: FileConfig = toml::from_str(
            r#"
            sources = ["stdin"]
            listen = "0.0.0.0:9000"
            [window]
            max_events = 50
            max_age_secs = 2.5
            "#,
        )
        .unwrap();
        let mut args = ServeArgs::default();
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
        let s =
            ServeSettings::resolve(&ServeArgs::default(), &FileConfig::default(), true).unwrap();
        assert_eq!(s.sources, [SourceSpec::Demo]);
        assert_eq!(s.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(s.window, WindowConfig::default());
    }

    #[test]
    fn bad_settings_are_explained() {
        let err = toml::from_str::<FileConfig>("window_size = 3").unwrap_err();
        assert!(err.to_string().contains("unknown field"), "{err}");
        let err = "kafka".parse::<SourceSpec>().unwrap_err();
        assert!(
            err.to_string()
                .contains("expected demo, stdin or file:PATH")
        );
        let mut args = ServeArgs::default();
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
    }
}
