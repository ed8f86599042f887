//! Printing reports: one JSON object per line, or a readable coloured summary.

mod json;

use std::io::{self, Write};

use clap::ValueEnum;
use ic_core::incident::{Incident, IncidentEvent};
use ic_core::{Report, Severity};

/// Output format of reports and tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Text,
    Json,
}

/// The least severity a report must have to be printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MinSeverity {
    Info,
    Warning,
    Critical,
}

impl From<MinSeverity> for ic_core::Severity {
    fn from(value: MinSeverity) -> Self {
        match value {
            MinSeverity::Info => ic_core::Severity::Info,
            MinSeverity::Warning => ic_core::Severity::Warning,
            MinSeverity::Critical => ic_core::Severity::Critical,
        }
    }
}

/// Counts of what was printed, for the final summary.
#[derive(Debug, Default, Clone, Copy)]
pub struct Tally {
    pub windows: u64,
    pub lines: u64,
    pub info: u64,
    pub warning: u64,
    pub critical: u64,
}

impl Tally {
    fn count(&mut self, report: &Report) {
        self.windows += 1;
        self.lines += u64::from(report.window.log_count);
        match report.severity {
            Severity::Info => self.info += 1,
            Severity::Warning => self.warning += 1,
            Severity::Critical => self.critical += 1,
        }
    }
}

/// Writes reports to `out` in one format.
pub struct ReportPrinter<W: Write> {
    out: W,
    format: Format,
    min_severity: Severity,
    color: bool,
    tally: Tally,
    /// The JSON line being written, reused from report to report.
    line: Vec<u8>,
}

impl<W: Write> ReportPrinter<W> {
    /// `min_severity` hides quieter reports in text format only: JSON output always holds one
    /// report per window.
    pub fn new(out: W, format: Format, min_severity: Severity, color: bool) -> Self {
        Self {
            out,
            format,
            min_severity,
            color,
            tally: Tally::default(),
            line: Vec::new(),
        }
    }

    pub fn print(&mut self, report: &Report) -> io::Result<()> {
        self.tally.count(report);
        match self.format {
            Format::Json => {
                self.line.clear();
                json::write_report(&mut self.line, report);
                self.line.push(b'\n');
                self.out.write_all(&self.line)
            }
            Format::Text if report.severity >= self.min_severity => {
                let text = render_text(report, self.color);
                self.out.write_all(text.as_bytes())
            }
            Format::Text => Ok(()),
        }
    }

    pub fn print_all(&mut self, reports: &[Report]) -> io::Result<()> {
        reports.iter().try_for_each(|report| self.print(report))
    }

    /// Writes text that is not a report (incident transitions and listings, in text format).
    pub fn write_raw(&mut self, text: &str) -> io::Result<()> {
        self.out.write_all(text.as_bytes())
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    pub fn tally(&self) -> Tally {
        self.tally
    }
}

const RESET: &str = "\x1b[0m";
const BOLD: &str = "\x1b[1m";
const DIM: &str = "\x1b[2m";
const RED: &str = "\x1b[1;31m";
const YELLOW: &str = "\x1b[1;33m";
const GREEN: &str = "\x1b[32m";

/// A report as a few lines of text: severity and title, then the numbers, then the summary.
pub fn render_text(report: &Report, color: bool) -> String {
    let paint = |code: &'static str| if color { code } else { "" };
    let w = &report.window;
    let mut text = format!(
        "{}{}{} {} {}{}{}\n",
        paint(DIM),
        w.start.format("%Y-%m-%d %H:%M:%S"),
        paint(RESET),
        severity_label(report.severity, color),
        paint(BOLD),
        printable(&report.title),
        paint(RESET),
    );
    if report.severity == Severity::Info {
        return text;
    }
    text.push_str(&format!(
        "    {} lines → {} templates ({}× less to read) · window #{} closed on {}",
        w.log_count,
        report.templates.len(),
        report.noise_reduction_ratio,
        w.seq,
        w.flush.as_str(),
    ));
    if !report.impacted_services.is_empty() {
        text.push_str(&format!(
            " · impacted: {}",
            printable(&report.impacted_services.join(", "))
        ));
    }
    text.push('\n');
    text.push_str(&format!("    {}\n", printable(&report.summary)));
    // The runners-up, when the evidence points at more than one service.
    if let Some(root) = &report.root_cause
        && root.candidates.len() > 1
    {
        let ranked: Vec<String> = root
            .candidates
            .iter()
            .map(|c| format!("{} ({:.1})", c.service, c.score))
            .collect();
        text.push_str(&format!(
            "    {}candidates: {}{}\n",
            paint(DIM),
            printable(&ranked.join(", ")),
            paint(RESET)
        ));
    }
    text
}

/// An incident transition as one line: `OPENED CRITICAL id title`.
pub fn render_transition(event: &IncidentEvent, color: bool) -> String {
    let incident = &event.incident;
    let paint = |code: &'static str| if color { code } else { "" };
    let grouped = incident
        .parent
        .as_ref()
        .map(|p| format!(" (grouped under {p})"))
        .unwrap_or_default();
    format!(
        "{}{:<9}{} {} {} {}{}\n",
        paint(BOLD),
        event.transition.as_str().to_uppercase(),
        paint(RESET),
        severity_label(incident.severity, color),
        incident.id,
        printable(&incident.title),
        grouped,
    )
}

/// The incidents of a run, their latest state, for the end of `analyze`.
pub fn render_incidents(incidents: &[Incident], color: bool) -> String {
    let paint = |code: &'static str| if color { code } else { "" };
    let mut text = format!(
        "{}Incidents: {}{}\n",
        paint(BOLD),
        incidents.len(),
        paint(RESET)
    );
    for incident in incidents {
        text.push_str(&format!(
            "  {} {} {:<8} {}\n",
            severity_label(incident.severity, color),
            incident.id,
            incident.status.as_str(),
            printable(&incident.title)
        ));
        let until = incident.resolved_at.unwrap_or(incident.last_seen);
        text.push_str(&format!(
            "      {} – {} · {} windows · {} lines in {} templates ({}× less to read) · impacted: {}\n",
            incident.opened_at.format("%Y-%m-%d %H:%M:%S"),
            until.format("%H:%M:%S"),
            incident.windows,
            incident.lines,
            incident.templates.len(),
            incident.noise_reduction_ratio,
            printable(&incident.impacted_services.join(", ")),
        ));
        if let Some(seen) = &incident.seen_before {
            text.push_str(&format!(
                "      seen before: {}, {} times in the last 7 days\n",
                seen.last_id, seen.times_last_7_days
            ));
        }
    }
    text
}

fn severity_label(severity: Severity, color: bool) -> String {
    let (code, label) = match severity {
        Severity::Critical => (RED, "CRITICAL"),
        Severity::Warning => (YELLOW, "WARNING "),
        Severity::Info => (GREEN, "INFO    "),
    };
    if color {
        format!("{code}{label}{RESET}")
    } else {
        label.to_owned()
    }
}

/// Log text reaches a terminal: control characters (escape sequences) are shown, not obeyed.
pub fn printable(text: &str) -> String {
    text.chars().map(shown).collect()
}

/// `1 h 2 min 5 s`, `3 min 0 s`, `42 s`.
pub fn duration_text(seconds: u64) -> String {
    let (h, m, s) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    match (h, m) {
        (0, 0) => format!("{s} s"),
        (0, _) => format!("{m} min {s} s"),
        _ => format!("{h} h {m} min {s} s"),
    }
}

/// A control character as U+FFFD; any other as itself.
fn shown(c: char) -> char {
    if c.is_control() { '\u{fffd}' } else { c }
}

/// Writes whole lines of text with every control character but the newline shown as U+FFFD:
/// our own log, whose fields hold log-derived text, cannot move a terminal's cursor, set its
/// title or clear it.
pub struct Printable<W>(pub W);

impl<W: Write> Write for Printable<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        // The log writes each line whole, so no character is split between two calls.
        let text = String::from_utf8_lossy(buf);
        let clean: String = text
            .chars()
            .map(|c| if c == '\n' { c } else { shown(c) })
            .collect();
        self.0.write_all(clean.as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn durations_read_as_people_say_them() {
        assert_eq!(duration_text(42), "42 s");
        assert_eq!(duration_text(750), "12 min 30 s");
        assert_eq!(duration_text(3725), "1 h 2 min 5 s");
    }

    use chrono::{TimeZone, Utc};

    use super::*;

    fn report(severity: Severity, title: &str) -> Report {
        let at = Utc.timestamp_opt(1_700_000_000, 0).unwrap();
        let mut report = ic_core::testing::report(3, at, 100);
        report.title = title.into();
        report.severity = severity;
        report.impacted_services = vec!["inventory-db".into()];
        report.summary = "70 of 100 lines".into();
        report.noise_reduction_ratio = 25.0;
        report
    }

    #[test]
    fn json_is_one_object_per_line_for_every_window() {
        let mut printer = ReportPrinter::new(Vec::new(), Format::Json, Severity::Critical, false);
        printer.print(&report(Severity::Info, "quiet")).unwrap();
        printer
            .print(&report(Severity::Critical, "db down"))
            .unwrap();
        let out = String::from_utf8(printer.out).unwrap();
        let lines: Vec<_> = out.lines().collect();
        assert_eq!(lines.len(), 2);
        for line in lines {
            let value: serde_json::Value = serde_json::from_str(line).unwrap();
            assert_eq!(value["noise_reduction_ratio"], 25.0);
        }
    }

    #[test]
    fn text_hides_quiet_windows_below_the_threshold_and_escapes_control_characters() {
        let mut printer = ReportPrinter::new(Vec::new(), Format::Text, Severity::Warning, true);
        printer.print(&report(Severity::Info, "quiet")).unwrap();
        printer
            .print(&report(Severity::Critical, "db \x1b[2Jdown"))
            .unwrap();
        assert_eq!(printer.tally().windows, 2);
        assert_eq!(printer.tally().critical, 1);
        let out = String::from_utf8(printer.out).unwrap();
        assert!(!out.contains("quiet"));
        assert!(out.contains("CRITICAL"));
        assert!(out.contains("db \u{fffd}[2Jdown"), "{out}");
        assert!(out.contains("impacted: inventory-db"));
        assert!(!out.contains("candidates"), "one candidate is no ranking");
    }

    #[test]
    fn our_log_shows_control_characters_of_its_fields_and_keeps_its_lines() {
        let mut log = Printable(Vec::new());
        let line = "INFO Incident opened. service=db\u{1b}]0;title\u{7}\u{9b}2J\r\n";
        log.write_all(line.as_bytes()).unwrap();
        log.write_all(b"INFO next\n").unwrap();
        let out = String::from_utf8(log.0).unwrap();
        assert_eq!(
            out,
            "INFO Incident opened. service=db\u{fffd}]0;title\u{fffd}\u{fffd}2J\u{fffd}\nINFO next\n"
        );
    }

    #[test]
    fn text_ranks_the_candidates() {
        let mut critical = report(Severity::Critical, "db down");
        let candidate = |service: &str, score: f64| ic_core::report::Candidate {
            service: service.into(),
            score,
            evidence: vec!["new: 9 lines".into()],
        };
        critical.root_cause = Some(ic_core::report::RootCause {
            service: "db".into(),
            template: "down".into(),
            candidates: vec![candidate("db", 40.0), candidate("api\u{7}", 12.5)],
        });
        let text = render_text(&critical, false);
        assert!(
            text.contains("candidates: db (40.0), api\u{fffd} (12.5)"),
            "{text}"
        );
    }
}
