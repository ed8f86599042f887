//! Replaying and scoring fault cases: folders of `<case>.log.gz` (NDJSON lines) with
//! `<case>.truth.json` (the injected service and time, and the fault-free spans), as in
//! `tests/fixtures/nezha-dev` (see its README for the scoring rules).
//!
//! Shared by the `detection` test, which asserts the totals on that folder, and the `detection`
//! bench, which prints them for any folder.

use std::error::Error;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use flate2::read::GzDecoder;
use ic_core::miner::MinerConfig;
use ic_core::parse::parse_line;
use ic_core::{
    AnalyzerConfig, BuiltinAnalyzer, Condenser, Report, Severity, TumblingWindow, WindowConfig,
};
use serde_json::Value;

/// A window flagged this long after the injection still counts as detecting the fault.
const DETECTION_WINDOW_S: f64 = 180.0;

/// One case's ground truth.
#[derive(Debug)]
pub struct Truth {
    pub case: String,
    pub control: bool,
    pub fault_type: String,
    pub service: String,
    pub inject: Option<DateTime<Utc>>,
    /// Fault-free spans: a flagged window whose end lies in one is a false alarm.
    pub quiet: Vec<(DateTime<Utc>, DateTime<Utc>)>,
}

/// How the analyzer did on one case.
#[derive(Debug)]
pub struct CaseScore {
    pub truth: Truth,
    /// Seconds from the injection to the first flagged window's start, if one started within
    /// [`DETECTION_WINDOW_S`].
    pub delay: Option<f64>,
    /// That window's root-cause service.
    pub flagged_root: Option<String>,
    pub rc1: bool,
    pub rc3: bool,
    pub false_alarms: usize,
    pub quiet_seconds: f64,
}

/// The totals over a folder.
#[derive(Debug, Default)]
pub struct Totals {
    pub faults: usize,
    pub detected: usize,
    pub rc1: usize,
    pub rc3: usize,
    pub false_alarms: usize,
    pub quiet_hours: f64,
}

impl Totals {
    pub fn false_alarms_per_hour(&self) -> f64 {
        self.false_alarms as f64 / self.quiet_hours.max(f64::MIN_POSITIVE)
    }
}

pub fn totals(scores: &[CaseScore]) -> Totals {
    let mut t = Totals::default();
    for s in scores {
        if !s.truth.control {
            t.faults += 1;
            t.detected += usize::from(s.delay.is_some());
            t.rc1 += usize::from(s.rc1);
            t.rc3 += usize::from(s.rc3);
        }
        t.false_alarms += s.false_alarms;
        t.quiet_hours += s.quiet_seconds / 3600.0;
    }
    t
}

/// Replays and scores every case of `folder`, in name order.
pub fn score_folder(folder: &Path) -> Result<Vec<CaseScore>, Box<dyn Error>> {
    let mut truths: Vec<PathBuf> = std::fs::read_dir(folder)?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.to_string_lossy().ends_with(".truth.json"))
        .collect();
    truths.sort();
    if truths.is_empty() {
        return Err(format!("no <case>.truth.json in {}", folder.display()).into());
    }
    truths
        .iter()
        .map(|path| {
            let truth = read_truth(path)?;
            let log = folder.join(format!("{}.log.gz", truth.case));
            let reports = replay(&log)?;
            Ok(score(truth, &reports))
        })
        .collect()
}

fn time(value: &Value) -> Result<DateTime<Utc>, Box<dyn Error>> {
    let text = value.as_str().ok_or("a time that is not a string")?;
    Ok(DateTime::parse_from_rfc3339(text)?.with_timezone(&Utc))
}

fn read_truth(path: &Path) -> Result<Truth, Box<dyn Error>> {
    let json: Value = serde_json::from_reader(File::open(path)?)?;
    let text = |key: &str| json[key].as_str().unwrap_or_default().to_owned();
    let quiet = json["quiet"]
        .as_array()
        .ok_or("no quiet spans")?
        .iter()
        .map(|span| Ok((time(&span["start"])?, time(&span["end"])?)))
        .collect::<Result<_, Box<dyn Error>>>()?;
    Ok(Truth {
        case: text("case"),
        control: json["control"].as_bool().unwrap_or(false),
        fault_type: text("fault_type"),
        service: text("root_cause_service"),
        inject: json["inject_time"]
            .as_str()
            .map(|_| time(&json["inject_time"]))
            .transpose()?,
        quiet,
    })
}

/// The reports `analyze` writes for a gzipped log: parsed line by line, windowed and analyzed
/// by the events' own time, with the default settings.
pub fn replay(log: &Path) -> Result<Vec<Report>, Box<dyn Error>> {
    let config = WindowConfig::default();
    let mut window = TumblingWindow::new(config)?;
    let mut condenser = Condenser::new(MinerConfig::default(), config.max_age);
    let mut analyzer = BuiltinAnalyzer::new(AnalyzerConfig::default());
    let mut reports = Vec::new();
    let reader = BufReader::new(GzDecoder::new(File::open(log)?));
    for line in reader.lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let event = parse_line(&line, DateTime::<Utc>::UNIX_EPOCH);
        let at = event.timestamp;
        for batch in window.push(event, at) {
            reports.push(analyzer.analyze(&condenser.condense(batch)));
        }
    }
    if let Some(batch) = window.flush() {
        reports.push(analyzer.analyze(&condenser.condense(batch)));
    }
    Ok(reports)
}

fn seconds(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    (to - from).num_milliseconds() as f64 / 1000.0
}

fn score(truth: Truth, reports: &[Report]) -> CaseScore {
    let flagged = |r: &&Report| r.severity >= Severity::Warning;
    let false_alarms = reports
        .iter()
        .filter(flagged)
        .filter(|r| {
            truth
                .quiet
                .iter()
                .any(|(start, end)| (*start..=*end).contains(&r.window.end))
        })
        .count();
    let quiet_seconds = truth
        .quiet
        .iter()
        .map(|(s, e)| seconds(*s, *e).max(0.0))
        .sum();
    let first = truth.inject.and_then(|inject| {
        reports
            .iter()
            .filter(flagged)
            .filter(|r| {
                let after = seconds(inject, r.window.start);
                (0.0..=DETECTION_WINDOW_S).contains(&after)
            })
            .min_by_key(|r| r.window.start)
            .map(|r| (seconds(inject, r.window.start), r))
    });
    let root = first.and_then(|(_, r)| r.root_cause.as_ref().map(|c| c.service.clone()));
    let named = |r: &Report| {
        r.impacted_services
            .iter()
            .take(2)
            .any(|s| *s == truth.service)
    };
    CaseScore {
        delay: first.map(|(d, _)| d),
        rc1: root.as_deref() == Some(truth.service.as_str()),
        rc3: root.as_deref() == Some(truth.service.as_str())
            || first.is_some_and(|(_, r)| named(r)),
        flagged_root: root,
        false_alarms,
        quiet_seconds,
        truth,
    }
}

/// The scores as a table: one line per case, then the totals.
pub fn table(scores: &[CaseScore]) -> String {
    let mut out = format!(
        "{:<38} {:<15} {:<28} {:>8} {:>4} {:>4} {:<28} {:>3}\n",
        "case", "fault", "injected service", "detected", "rc@1", "rc@3", "first flagged root", "FA"
    );
    let mark = |b: bool| if b { "yes" } else { "." };
    for s in scores {
        let t = &s.truth;
        let delay = s
            .delay
            .map_or_else(|| ".".to_owned(), |d| format!("{d:.0} s"));
        out.push_str(&format!(
            "{:<38} {:<15} {:<28} {:>8} {:>4} {:>4} {:<28} {:>3}\n",
            t.case,
            if t.control {
                "(control)"
            } else {
                &t.fault_type
            },
            t.service,
            if t.control { "" } else { &delay },
            if t.control { "" } else { mark(s.rc1) },
            if t.control { "" } else { mark(s.rc3) },
            s.flagged_root
                .as_deref()
                .unwrap_or(if t.control { "" } else { "-" }),
            s.false_alarms,
        ));
    }
    let t = totals(scores);
    out.push_str(&format!(
        "detected {}/{}, root cause first {}/{}, in top 3 {}/{}; false alarms {} windows in {:.2} \
         fault-free hours = {:.1} per hour\n",
        t.detected,
        t.faults,
        t.rc1,
        t.faults,
        t.rc3,
        t.faults,
        t.false_alarms,
        t.quiet_hours,
        t.false_alarms_per_hour()
    ));
    out
}
