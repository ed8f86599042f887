//! Titles and summaries a human would write, from a finding.

use std::fmt::Write;

use chrono::{DateTime, Utc};

use super::horizons::Anomaly;
use super::{Culprit, Finding, Signal};
use crate::condense::{Digest, TemplateStat};

/// Templates are cut to this many characters in titles and summaries.
const TITLE_TEMPLATE_CHARS: usize = 80;
const SUMMARY_TEMPLATE_CHARS: usize = 120;
const EVIDENCE_TEMPLATE_CHARS: usize = 80;
/// Bytes reserved for a summary: a quiet window's fits, and so does most of an incident's.
const SUMMARY_CAPACITY: usize = 256;
/// Culprits named after the root cause in a summary.
const FOLLOWERS_NAMED: usize = 3;

pub fn title(digest: &Digest, finding: &Finding) -> String {
    let Some(root) = finding.culprits.first() else {
        let mut title = String::with_capacity(48);
        title.push_str("No incident: ");
        push_int(&mut title, digest.log_count);
        title.push_str(" lines in ");
        push_int(&mut title, digest.templates.len());
        title.push_str(" templates");
        return title;
    };
    let template = shorten(&root.template_text, TITLE_TEMPLATE_CHARS);
    let service = &root.service;
    let mut title = match root.signal {
        Signal::Storm => format!("{service} failing: {template}"),
        Signal::Surge => format!("{service} error surge: {template}"),
        Signal::New => format!("New error in {service}: {template}"),
        Signal::Climb => format!("{service} warnings climbing: {template}"),
        Signal::Rise => format!("{service} errors rising: {template}"),
        Signal::Silence => format!("{service} went silent: {template}"),
        Signal::Slow => format!("{service} slow to answer: {template}"),
    };
    match finding.culprits.len() - 1 {
        0 => {}
        1 => title.push_str(" (+1 service)"),
        n => {
            title.push_str(" (+");
            push_int(&mut title, n);
            title.push_str(" services)");
        }
    }
    title
}

pub fn summary(digest: &Digest, finding: &Finding) -> String {
    // Room for the usual summary, so it is not grown piece by piece.
    let mut out = String::with_capacity(SUMMARY_CAPACITY);
    match finding.culprits.split_first() {
        Some((root, followers)) => {
            describe_root(&mut out, digest, finding, root);
            for culprit in followers.iter().take(FOLLOWERS_NAMED) {
                describe_follower(&mut out, root, culprit);
            }
            if followers.len() > FOLLOWERS_NAMED {
                let _ = write!(
                    out,
                    " {} more services show anomalies.",
                    followers.len() - FOLLOWERS_NAMED
                );
            }
            out.push(' ');
            push_int(&mut out, digest.log_count);
            out.push_str(" lines condensed into ");
            push_int(&mut out, digest.templates.len());
            out.push_str(" templates; ");
            push_int(&mut out, digest.levels.errors());
            out.push_str(" errors in all.");
        }
        None => describe_quiet(&mut out, digest, finding),
    }
    out
}

fn describe_root(out: &mut String, digest: &Digest, finding: &Finding, root: &Culprit) {
    let window_signal = root.signal >= Signal::Climb;
    let Some(index) = root.template.filter(|_| window_signal) else {
        // The horizons' finding leads: say what it is.
        match strongest(finding, &root.service) {
            Some(anomaly) => describe_anomaly(out, anomaly, &root.service),
            None => {
                let _ = write!(out, "{} shows anomalies.", root.service);
            }
        }
        return;
    };
    let stat = &digest.templates[index];
    let assessment = &finding.assessments[index];
    let level = stat.levels.dominant().unwrap_or_default();
    push_int(out, stat.count);
    out.push_str(" of ");
    push_int(out, digest.log_count);
    out.push_str(" lines (");
    push_int(out, percent(stat.count, digest.log_count));
    out.push_str("%) are ");
    out.push_str(level.as_str());
    out.push_str(" \"");
    out.push_str(&shorten(&stat.template, SUMMARY_TEMPLATE_CHARS));
    out.push_str("\" from ");
    out.push_str(&root.service);
    match root.signal {
        Signal::New => out.push_str(", a message not seen before"),
        Signal::Climb
        | Signal::Surge
        | Signal::Storm
        | Signal::Rise
        | Signal::Silence
        | Signal::Slow => {
            let _ = write!(
                out,
                ", {}/s against a usual {}/s",
                rate(assessment.rate),
                rate(assessment.usual)
            );
        }
    }
    let _ = write!(out, "; failing since {}.", clock(root.onset));
}

/// The horizons' strongest finding about `service`.
fn strongest<'a>(finding: &'a Finding, service: &str) -> Option<&'a Anomaly> {
    finding
        .anomalies
        .iter()
        .filter(|a| a.services.iter().any(|(s, _)| s == service))
        .min_by(|a, b| a.p.total_cmp(&b.p))
}

fn describe_anomaly(out: &mut String, anomaly: &Anomaly, service: &str) {
    let template = shorten(&anomaly.template, SUMMARY_TEMPLATE_CHARS);
    let h = anomaly.horizon;
    let since = clock(anomaly.onset);
    let _ = match anomaly.signal {
        Signal::Silence if anomaly.family.is_none() && anomaly.detail.starts_with("no line") => {
            write!(
                out,
                "{service} stopped logging: {}; since {since}.",
                anomaly.detail
            )
        }
        Signal::Silence => write!(
            out,
            "\"{template}\" from {service} stopped: {}; since {since}.",
            anomaly.detail
        ),
        Signal::Slow => write!(
            out,
            "Hops into {service} take {:.0} ms (the median over the last {h} s), usually {:.0} ms: \
             {}; since {since}.",
            anomaly.observed, anomaly.expected, anomaly.detail
        ),
        _ => {
            let news = match (anomaly.signal, anomaly.detail.is_empty()) {
                (Signal::New, _) => ", a message not seen before".to_owned(),
                (_, false) => format!(", {}", anomaly.detail),
                _ => String::new(),
            };
            write!(
                out,
                "{} lines of \"{template}\" in the last {h} s where {} were expected{news}, \
                 mostly from {service}; failing since {since}.",
                anomaly.observed,
                amount(anomaly.expected)
            )
        }
    };
}

/// One line of evidence for a flagged template of the window.
pub fn window_evidence(digest: &Digest, stat: &TemplateStat, signal: Signal) -> String {
    format!(
        "{signal}: {} of {} lines in the window are {} \"{}\"",
        stat.count,
        digest.log_count,
        stat.levels.dominant().unwrap_or_default(),
        shorten(&stat.template, EVIDENCE_TEMPLATE_CHARS)
    )
}

/// One line of evidence for a finding of the horizons.
pub fn anomaly_evidence(anomaly: &Anomaly) -> String {
    let template = shorten(&anomaly.template, EVIDENCE_TEMPLATE_CHARS);
    let h = anomaly.horizon;
    match anomaly.signal {
        Signal::Silence => format!("silence: \"{template}\": {}", anomaly.detail),
        Signal::Slow => format!(
            "slow: {:.0} ms per hop over {h} s, usually {:.0} ms ({})",
            anomaly.observed, anomaly.expected, anomaly.detail
        ),
        signal => {
            let mut line = format!(
                "{signal}: {} lines of \"{template}\" in {h} s, {} expected",
                anomaly.observed,
                amount(anomaly.expected)
            );
            if !anomaly.detail.is_empty() {
                line.push_str(", ");
                line.push_str(&anomaly.detail);
            }
            line
        }
    }
}

/// An expected count as a person writes it.
fn amount(x: f64) -> String {
    if x >= 10.0 {
        format!("{x:.0}")
    } else if x >= 0.1 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

fn describe_follower(out: &mut String, root: &Culprit, culprit: &Culprit) {
    let template = shorten(&culprit.template_text, SUMMARY_TEMPLATE_CHARS);
    let delay = (culprit.onset - root.onset).num_milliseconds() as f64 / 1000.0;
    let when = if delay > 0.0 {
        format!("followed {delay:.1} s later")
    } else {
        "failed at the same time".to_owned()
    };
    let _ = match culprit.lines {
        0 => write!(
            out,
            " {} {when} ({}: \"{template}\").",
            culprit.service, culprit.signal
        ),
        n => write!(
            out,
            " {} {when} ({n} lines of \"{template}\").",
            culprit.service
        ),
    };
}

fn describe_quiet(out: &mut String, digest: &Digest, finding: &Finding) {
    let errors = digest.levels.errors();
    push_int(out, digest.log_count);
    out.push_str(" lines from ");
    push_int(out, digest.services.len());
    out.push_str(" services condensed into ");
    push_int(out, digest.templates.len());
    out.push_str(" templates; ");
    push_int(out, errors);
    out.push_str(" errors (");
    push_int(out, percent(errors, digest.log_count));
    out.push_str("%)");
    if finding.warm {
        out.push_str(", all from templates at their usual rates.");
    } else {
        out.push_str(". Usual rates are still being learned.");
    }
}

/// Appends `n` in decimal. Most windows are quiet and their prose is mostly numbers, which
/// `write!` would send through `fmt`'s padding machinery one at a time.
fn push_int(out: &mut String, n: impl itoa::Integer) {
    out.push_str(itoa::Buffer::new().format(n));
}

fn percent(part: u32, whole: u32) -> u32 {
    (f64::from(part) * 100.0 / f64::from(whole.max(1))).round() as u32
}

fn rate(lines_per_second: f64) -> String {
    if lines_per_second >= 10.0 {
        format!("{lines_per_second:.0}")
    } else if lines_per_second >= 0.1 || lines_per_second == 0.0 {
        format!("{lines_per_second:.1}")
    } else {
        format!("{lines_per_second:.3}")
    }
}

fn clock(at: DateTime<Utc>) -> String {
    at.format("%H:%M:%S UTC").to_string()
}

/// Cuts `text` to at most `max` characters, marking the cut with an ellipsis.
pub(crate) fn shorten(text: &str, max: usize) -> String {
    match text.char_indices().nth(max.saturating_sub(1)) {
        Some((cut, _)) if text.chars().count() > max => format!("{}…", &text[..cut]),
        _ => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shorten_cuts_on_characters() {
        assert_eq!(shorten("abc", 3), "abc");
        assert_eq!(shorten("abcdef", 4), "abc…");
        assert_eq!(shorten("ééééé", 3), "éé…");
    }

    #[test]
    fn rates_read_naturally() {
        assert_eq!(rate(350.4), "350");
        assert_eq!(rate(0.26), "0.3");
        assert_eq!(rate(0.0), "0.0");
        assert_eq!(rate(0.0024), "0.002");
        assert_eq!(percent(70, 100), 70);
        assert_eq!(percent(1, 0), 100);
    }
}
