//! Request bodies: one incident event in each target format, bounded in size.
//!
//! An incident can hold long templates, sample lines of any length and many services; a body
//! must not. Each body is built at the most generous [`Budget`] first and at tighter ones until
//! it fits [`MAX_BODY_BYTES`]: fewer templates and sample lines, shorter strings. What is left
//! out is said, not hidden: a shortened string ends with `… (+N chars)`, and
//! `templates_omitted` / `services_omitted` count the entries not sent.

use chrono::SecondsFormat;
use ic_core::Severity;
use ic_core::incident::{Evidence, Incident, IncidentEvent};
use serde_json::{Map, Value, json};

use super::route::NotifyEvent;
use super::target::{WebhookFormat, WebhookTarget};

/// The largest body sent, in bytes, for every format. Slack caps each block's text (3,000
/// characters for a section) rather than the request, and PagerDuty's Events API v2 accepts
/// 512 KB; 16 KiB keeps every format far below its receiver's limits and is plenty for a
/// summary that people read.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// PagerDuty's limit on `payload.summary`, in characters.
pub const PAGERDUTY_SUMMARY_CHARS: usize = 1024;

/// Slack's limit on a section block's text, in characters.
pub const SLACK_SECTION_CHARS: usize = 3000;

/// How much of an incident a body carries.
#[derive(Debug, Clone, Copy)]
struct Budget {
    templates: usize,
    samples: usize,
    services: usize,
    /// Characters of a title, template, sample line or service name.
    text: usize,
    summary: usize,
}

/// From generous to tight. The last one fits [`MAX_BODY_BYTES`] whatever the incident: at most
/// a few dozen strings of at most a few hundred characters, even if each JSON-escapes to six
/// bytes a character.
const BUDGETS: [Budget; 4] = [
    Budget {
        templates: 5,
        samples: 2,
        services: 10,
        text: 500,
        summary: 2000,
    },
    Budget {
        templates: 3,
        samples: 1,
        services: 5,
        text: 200,
        summary: 800,
    },
    Budget {
        templates: 1,
        samples: 1,
        services: 3,
        text: 120,
        summary: 300,
    },
    Budget {
        templates: 0,
        samples: 0,
        services: 3,
        text: 80,
        summary: 200,
    },
];

/// Identifiers and names that are short by construction but are capped anyway.
const ID_CHARS: usize = 120;

/// The body for `target`, or `None` when its route does not send the event.
pub fn render(target: &WebhookTarget, event: &IncidentEvent) -> Option<Vec<u8>> {
    let kind = target.route.admits(event)?;
    let incident = &event.incident;
    let build = |budget: &Budget| match target.format {
        WebhookFormat::Generic => generic(kind, incident, budget),
        WebhookFormat::Slack => slack(kind, incident, budget),
        WebhookFormat::PagerDuty => pagerduty(
            kind,
            incident,
            target.routing_key.as_ref().map_or("", |key| key.expose()),
            budget,
        ),
    };
    let mut body = Vec::new();
    for budget in &BUDGETS {
        body = serde_json::to_vec(&build(budget)).expect("a JSON value always serializes");
        if body.len() <= MAX_BODY_BYTES {
            break;
        }
    }
    Some(body)
}

/// `{"event": "opened" | "escalated" | "resolved", "incident": {…}}`.
fn generic(kind: NotifyEvent, incident: &Incident, budget: &Budget) -> Value {
    json!({ "event": kind.as_str(), "incident": incident_json(incident, budget) })
}

/// The incident, bounded by `budget`; the generic body and PagerDuty's `custom_details`.
fn incident_json(incident: &Incident, budget: &Budget) -> Value {
    let mut out = Map::new();
    let mut put = |key: &str, value: Value| {
        out.insert(key.to_owned(), value);
    };
    put("id", shorten(&incident.id, ID_CHARS).into());
    put(
        "fingerprint",
        shorten(&incident.fingerprint, ID_CHARS).into(),
    );
    put("status", incident.status.as_str().into());
    put("severity", incident.severity.as_str().into());
    put("title", shorten(&incident.title, budget.text).into());
    put("summary", shorten(&incident.summary, budget.summary).into());
    put(
        "root_cause",
        json!({
            "service": shorten(&incident.root_cause.service, budget.text),
            "template": shorten(&incident.root_cause.template, budget.text),
        }),
    );
    let (services, services_omitted) = names(&incident.impacted_services, budget.services);
    put("impacted_services", services);
    if services_omitted > 0 {
        put("services_omitted", services_omitted.into());
    }
    put("opened_at", time(incident.opened_at).into());
    put("last_seen", time(incident.last_seen).into());
    put("resolved_at", incident.resolved_at.map(time).into());
    if incident.resolved_at.is_some() {
        put("duration_secs", incident.duration().as_secs().into());
    }
    put("acknowledged_at", incident.acknowledged_at.map(time).into());
    put("windows", incident.windows.into());
    put("lines", incident.lines.into());
    put(
        "noise_reduction_ratio",
        incident.noise_reduction_ratio.into(),
    );
    put("reopened", incident.reopened.into());
    if let Some(seen) = &incident.seen_before {
        put(
            "seen_before",
            json!({
                "last_id": shorten(&seen.last_id, ID_CHARS),
                "last_opened_at": time(seen.last_opened_at),
                "times_last_7_days": seen.times_last_7_days,
            }),
        );
    }
    let kept = incident.templates.len().min(budget.templates);
    let templates: Vec<Value> = incident.templates[..kept]
        .iter()
        .map(|evidence| evidence_json(evidence, budget))
        .collect();
    put("templates", templates.into());
    if incident.templates.len() > kept {
        put(
            "templates_omitted",
            (incident.templates.len() - kept).into(),
        );
    }
    Value::Object(out)
}

fn evidence_json(evidence: &Evidence, budget: &Budget) -> Value {
    let (services, services_omitted) = names(&evidence.services, budget.services.min(3));
    let mut out = json!({
        "template_id": shorten(&evidence.template_id, ID_CHARS),
        "template": shorten(&evidence.template, budget.text),
        "level": evidence.level.as_str(),
        "count": evidence.count,
        "services": services,
        "sample_lines": samples(evidence, budget.samples)
            .map(|line| shorten(line, budget.text))
            .collect::<Vec<_>>(),
    });
    if services_omitted > 0 {
        out["services_omitted"] = services_omitted.into();
    }
    out
}

/// Up to `n` sample lines: the first one seen, then the latest, without repeating a line.
fn samples(evidence: &Evidence, n: usize) -> impl Iterator<Item = &str> {
    let first = evidence.first_lines.first();
    let last = evidence
        .last_lines
        .last()
        .filter(|last| Some(*last) != first);
    first.into_iter().chain(last).take(n).map(String::as_str)
}

/// The first `max` names, each capped, and how many were left out.
fn names(all: &[String], max: usize) -> (Value, usize) {
    let kept: Vec<Value> = all
        .iter()
        .take(max)
        .map(|name| shorten(name, ID_CHARS).into())
        .collect();
    (kept.into(), all.len().saturating_sub(max))
}

fn time(at: chrono::DateTime<chrono::Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A Slack incoming-webhook message: a `text` for notifications and `blocks` for the channel.
fn slack(kind: NotifyEvent, incident: &Incident, budget: &Budget) -> Value {
    let emoji = match (kind, incident.severity) {
        (NotifyEvent::Resolved, _) => ":white_check_mark:",
        (_, Severity::Critical) => ":red_circle:",
        (_, Severity::Warning) => ":large_orange_circle:",
        (_, Severity::Info) => ":large_blue_circle:",
    };
    let service = mrkdwn(&incident.root_cause.service, ID_CHARS);
    let title = mrkdwn(&incident.title, budget.text);
    let lasted = match kind {
        NotifyEvent::Resolved => format!(
            " after {}",
            crate::output::duration_text(incident.duration().as_secs())
        ),
        _ => String::new(),
    };
    let text = format!(
        "[{}] Incident {}{lasted}: {title} (root cause: {service})",
        incident.severity,
        kind.as_str(),
    );

    let shown = incident.impacted_services.len().min(budget.services);
    let mut impacted = incident.impacted_services[..shown]
        .iter()
        .map(|name| mrkdwn(name, ID_CHARS))
        .collect::<Vec<_>>()
        .join(", ");
    if incident.impacted_services.len() > shown {
        impacted.push_str(&format!(
            " (+{} more)",
            incident.impacted_services.len() - shown
        ));
    }
    let field = |label: &str, value: String| json!({ "type": "mrkdwn", "text": format!("*{label}*\n{value}") });
    let fields = vec![
        field("Severity", incident.severity.to_string()),
        field(
            "Root cause",
            format!(
                "{service}\n`{}`",
                code(&incident.root_cause.template, budget.text)
            ),
        ),
        field("Impacted services", impacted),
        field(
            "Counts",
            format!(
                "{} lines in {} windows, {}x noise reduction",
                incident.lines, incident.windows, incident.noise_reduction_ratio
            ),
        ),
    ];

    let section =
        |text: String| json!({ "type": "section", "text": { "type": "mrkdwn", "text": text } });
    let mut blocks = vec![
        section(format!(
            "{emoji} *{} incident {}:* {title}",
            incident.severity,
            kind.as_str()
        )),
        json!({ "type": "section", "fields": fields }),
    ];
    if !incident.summary.is_empty() {
        blocks.push(section(mrkdwn(&incident.summary, budget.summary)));
    }
    let kept = incident.templates.len().min(budget.templates);
    if kept > 0 {
        // Per-line caps that keep the whole section under Slack's limit at any budget.
        let template_chars = budget
            .text
            .min(SLACK_SECTION_CHARS / (2 * BUDGETS[0].templates) - 40);
        let mut lines = vec!["*Top templates*".to_owned()];
        for evidence in &incident.templates[..kept] {
            lines.push(format!(
                "• `{}` ×{} ({})",
                code(&evidence.template, template_chars),
                evidence.count,
                evidence.level.as_str()
            ));
            if let Some(line) = samples(evidence, budget.samples.min(1)).next() {
                lines.push(format!("> {}", mrkdwn(line, template_chars)));
            }
        }
        if incident.templates.len() > kept {
            lines.push(format!(
                "_{} more templates not shown_",
                incident.templates.len() - kept
            ));
        }
        blocks.push(section(lines.join("\n")));
    }
    let mut context = format!("Incident `{}`", code(&incident.id, ID_CHARS));
    if incident.reopened > 0 {
        context.push_str(&format!(", reopened {} times", incident.reopened));
    }
    blocks.push(json!({ "type": "context", "elements": [{ "type": "mrkdwn", "text": context }] }));

    json!({ "text": text, "blocks": blocks })
}

/// A PagerDuty Events API v2 event. Every event of an incident has its fingerprint as
/// `dedup_key`, so an escalation updates the alert that the open triggered and the resolve
/// closes it.
fn pagerduty(kind: NotifyEvent, incident: &Incident, routing_key: &str, budget: &Budget) -> Value {
    let action = match kind {
        NotifyEvent::Opened | NotifyEvent::Escalated => "trigger",
        NotifyEvent::Resolved => "resolve",
    };
    let mut body = json!({
        "routing_key": routing_key,
        "event_action": action,
        "dedup_key": incident.fingerprint,
    });
    if kind == NotifyEvent::Resolved {
        // PagerDuty ignores a payload on resolve: the dedup_key is all it needs.
        return body;
    }
    let severity = match incident.severity {
        Severity::Critical => "critical",
        Severity::Warning => "warning",
        Severity::Info => "info",
    };
    let service = shorten(&incident.root_cause.service, ID_CHARS);
    let summary = format!(
        "[{}] {} (root cause: {service})",
        incident.severity, incident.title
    );
    let mut details = incident_json(incident, budget);
    details["event"] = kind.as_str().into();
    body["payload"] = json!({
        "summary": shorten(&summary, PAGERDUTY_SUMMARY_CHARS),
        "source": service,
        "severity": severity,
        "timestamp": time(incident.last_seen),
        "component": service,
        "custom_details": details,
    });
    body["client"] = "Incident Commander".into();
    body
}

/// `text` in at most `max` characters: when longer, its start and `… (+N chars)`.
pub(crate) fn shorten(text: &str, max: usize) -> String {
    shorten_by(text, max, |_| 1, |out, c| out.push(c))
}

/// Log text for Slack mrkdwn, in at most `max` characters after escaping: Slack reads `&`, `<`
/// and `>` as markup, so a line such as `<html>` or `a && b` must be escaped to show as is.
fn mrkdwn(text: &str, max: usize) -> String {
    shorten_by(
        text,
        max,
        |c| match c {
            '&' => 5,
            '<' | '>' => 4,
            _ => 1,
        },
        |out, c| match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        },
    )
}

/// Like [`mrkdwn`], for text inside a `code` span, which a backtick would end early.
fn code(text: &str, max: usize) -> String {
    mrkdwn(&text.replace('`', "'"), max)
}

/// Writes `text` with `push`, within `max` output characters (each input character takes
/// `width` of them); when it does not fit, writes as much as fits before a note of what was
/// left out. The note is sized for the whole text, so the result never exceeds `max`.
fn shorten_by(
    text: &str,
    max: usize,
    width: impl Fn(char) -> usize,
    push: impl Fn(&mut String, char),
) -> String {
    let mut out = String::new();
    let mut used = 0;
    let mut fits_whole = true;
    for c in text.chars() {
        used += width(c);
        if used > max {
            fits_whole = false;
            break;
        }
    }
    if fits_whole {
        text.chars().for_each(|c| push(&mut out, c));
        return out;
    }
    let total = text.chars().count();
    let room = max.saturating_sub(format!("… (+{total} chars)").chars().count());
    let mut used = 0;
    let mut kept = 0;
    for c in text.chars() {
        if used + width(c) > room {
            break;
        }
        used += width(c);
        kept += 1;
        push(&mut out, c);
    }
    out.push_str(&format!("… (+{} chars)", total - kept));
    out
}

#[cfg(test)]
mod tests;
