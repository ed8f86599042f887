//! The post-incident summary: an incident as Markdown, ready to paste into a postmortem
//! document (`incidents show ID --format markdown`).
//!
//! Everything log-derived (the title, services, templates, sample lines) arrives as text:
//! control characters replaced, Markdown's punctuation escaped outside code, and templates and
//! lines inside code spans and blocks fenced longer than any backtick run they hold, so no log
//! line becomes a heading, a link or HTML in the document.

use chrono::{DateTime, Utc};
use ic_core::incident::Incident;

use crate::output::{duration_text, printable};
use crate::timeline;

/// The incident as a Markdown document.
pub fn render(incident: &Incident, recorded: &timeline::Recorded) -> String {
    let mut doc = format!(
        "# Incident {}: {}\n\n",
        escape(&incident.id),
        escape(&incident.title)
    );
    let ended = incident.resolved_at;
    let rows = [
        ("Severity", format!("{:?}", incident.severity)),
        ("Status", format!("{:?}", incident.status).to_lowercase()),
        ("Started", time(incident.opened_at)),
        ("Ended", ended.map_or_else(|| "ongoing".to_owned(), time)),
        ("Duration", duration_text(incident.duration().as_secs())),
        ("Root cause", escape(&incident.root_cause.service)),
        (
            "Impacted services",
            escape(&incident.impacted_services.join(", ")),
        ),
        (
            "Lines",
            format!("{} in {} windows", incident.lines, incident.windows),
        ),
    ];
    doc.push_str("| | |\n|---|---|\n");
    for (name, value) in rows {
        doc.push_str(&format!("| {name} | {} |\n", value.replace('|', "\\|")));
    }
    doc.push_str(&format!(
        "\nRoot-cause template: {}\n\n## Summary\n\n{}\n\n## Timeline\n\n| Time | Event |\n|---|---|\n",
        code_span(&incident.root_cause.template),
        escape(&incident.summary)
    ));
    for entry in timeline::of(incident, recorded) {
        doc.push_str(&format!(
            "| {} | {} |\n",
            time(entry.at),
            escape(&entry.text())
        ));
    }
    doc.push_str("\n## Evidence\n");
    for evidence in &incident.templates {
        doc.push_str(&format!(
            "\n### {} × {} {}\n\nServices: {}\n\n",
            evidence.count,
            evidence.level,
            code_span(&evidence.template),
            escape(&evidence.services.join(", "))
        ));
        // The first lines, then (when there are more) the last ones, as `show` prints them.
        let gap = (!evidence.last_lines.is_empty()).then_some("…");
        let lines: Vec<&str> = evidence
            .first_lines
            .iter()
            .map(String::as_str)
            .chain(gap)
            .chain(evidence.last_lines.iter().map(String::as_str))
            .collect();
        doc.push_str(&code_block(&lines));
    }
    doc
}

/// A time as every part of `incidents show` prints it.
pub(super) fn time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// Text for a Markdown paragraph or table cell: on one line, its punctuation escaped.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in printable(text).chars() {
        match c {
            '\n' | '\r' => out.push(' '),
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '#' | '|' | '~' | '!' | '&' => {
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

/// The longest run of backticks in `text`.
fn longest_backticks(text: &str) -> usize {
    text.split(|c| c != '`').map(str::len).max().unwrap_or(0)
}

/// `text` as inline code, fenced by more backticks than it holds in a row.
fn code_span(text: &str) -> String {
    let text = printable(text).replace(['\n', '\r'], " ");
    let fence = "`".repeat(longest_backticks(&text) + 1);
    format!("{fence} {text} {fence}")
}

/// `lines` as a fenced code block, fenced by more backticks than any of them holds in a row.
fn code_block(lines: &[&str]) -> String {
    let lines: Vec<String> = lines.iter().map(|l| printable(l)).collect();
    let longest = lines
        .iter()
        .map(|l| longest_backticks(l))
        .max()
        .unwrap_or(0);
    let fence = "`".repeat(longest.max(2) + 1);
    format!("{fence}text\n{}\n{fence}\n", lines.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_text_cannot_become_markdown() {
        assert_eq!(
            escape("# *boom* [x](y) <b>"),
            "\\# \\*boom\\* \\[x\\](y) \\<b\\>"
        );
        assert_eq!(code_span("a ``b`` c"), "``` a ``b`` c ```");
        let block = code_block(&["```", "line\u{1b}[2J"]);
        assert!(block.starts_with("````text\n"), "{block}");
        assert!(block.ends_with("\n````\n"), "{block}");
        assert!(!block.contains('\u{1b}'), "{block}");
    }
}
