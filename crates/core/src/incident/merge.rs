//! Merging: several instances, each with its own correlator, add to one stored incident.
//!
//! Every instance sees only its share of the windows, so its incident of a fingerprint holds
//! only its share of the counts. What it adds to the stored incident is the difference between
//! its incident now and as it last wrote it (`since`): counts are added, never overwritten, so
//! the stored incident holds the sum over every instance, and writing the same difference
//! twice is the only way to count twice (the caller moves `since` on after each write).

use super::correlate::{keep_largest, ratio_of};
use super::{Evidence, Incident};
use crate::condense::SAMPLE_LINES;

/// Adds to `stored` what `local` gained since `since` (its state when last merged; `None` when
/// it never was, so all of it). True when the stored severity rose.
///
/// Counts (windows, lines, each template's lines) are summed; the stored incident keeps its
/// identity, its first sample lines, its grouping and its history (how often it reopened is
/// the store's to count: a copy's own reopens may be of an incident that stayed open
/// elsewhere), and opened when the
/// earliest copy did. Text (title, summary, analyzer) is taken from `local` when its severity
/// is higher, or when its text changed since `since` (an LLM's summary): the instance that
/// last learned something about the incident tells it. A copy merged for the first time
/// brings no news in its text, only in its severity.
pub fn merge(
    stored: &mut Incident,
    local: &Incident,
    since: Option<&Incident>,
    max_templates: usize,
) -> bool {
    let rose = local.severity > stored.severity;
    let text_changed = since.is_some_and(|s| {
        (&s.title, &s.summary, &s.analyzer) != (&local.title, &local.summary, &local.analyzer)
    });
    if rose || text_changed {
        stored.title.clone_from(&local.title);
        stored.summary.clone_from(&local.summary);
        stored.analyzer.clone_from(&local.analyzer);
    }
    stored.severity = stored.severity.max(local.severity);
    stored.opened_at = stored.opened_at.min(local.opened_at);
    stored.last_seen = stored.last_seen.max(local.last_seen);
    stored.windows += local.windows - since.map_or(0, |s| s.windows.min(local.windows));
    stored.lines += local.lines - since.map_or(0, |s| s.lines.min(local.lines));
    for service in &local.impacted_services {
        if !stored.impacted_services.contains(service) {
            stored.impacted_services.push(service.clone());
        }
    }
    for template in &local.templates {
        let before = since
            .and_then(|s| {
                s.templates
                    .iter()
                    .find(|t| t.template_id == template.template_id)
            })
            .map_or(0, |t| t.count.min(template.count));
        add_template(&mut stored.templates, template, template.count - before);
    }
    keep_largest(&mut stored.templates, max_templates);
    stored.noise_reduction_ratio = ratio_of(stored.lines, stored.templates.len());
    rose
}

/// Adds `added` lines of `template` to the stored evidence; its newest text and latest lines
/// replace the stored ones when it brought lines.
fn add_template(stored: &mut Vec<Evidence>, template: &Evidence, added: u64) {
    let Some(evidence) = stored
        .iter_mut()
        .find(|t| t.template_id == template.template_id)
    else {
        if added > 0 {
            stored.push(Evidence {
                count: added,
                ..template.clone()
            });
        }
        return;
    };
    evidence.count += added;
    for service in &template.services {
        if !evidence.services.contains(service) {
            evidence.services.push(service.clone());
        }
    }
    for line in &template.first_lines {
        if evidence.first_lines.len() >= SAMPLE_LINES {
            break;
        }
        if !evidence.first_lines.contains(line) {
            evidence.first_lines.push(line.clone());
        }
    }
    if added > 0 {
        evidence.template.clone_from(&template.template);
        evidence.last_lines.clone_from(&template.last_lines);
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;

    use super::*;
    use crate::event::Level;
    use crate::report::Severity;

    fn evidence(id: &str, count: u64, line: &str) -> Evidence {
        Evidence {
            template_id: id.into(),
            template: format!("template {id}"),
            level: Level::Error,
            services: vec!["inventory-db".into()],
            count,
            first_lines: vec![line.into()],
            last_lines: vec![line.into()],
        }
    }

    fn incident(id: &str, windows: u64, templates: Vec<Evidence>) -> Incident {
        let mut incident = crate::testing::incident(id, "inventory-db", Severity::Warning);
        incident.fingerprint = "fp".into();
        incident.title = "Pool exhausted".into();
        incident.summary = "inventory-db refuses connections".into();
        incident.root_cause.template = "template 1".into();
        incident.last_seen =
            incident.opened_at + TimeDelta::seconds(i64::try_from(windows).unwrap());
        incident.lines = templates.iter().map(|t| t.count).sum();
        incident.windows = windows;
        incident.templates = templates;
        incident
    }

    #[test]
    fn two_instances_sum_into_the_stored_incident() {
        // Instance A opened it with 2 windows; B saw 3 windows of its own.
        let mut stored = incident("a", 2, vec![evidence("1", 140, "a1")]);
        let from_b = incident(
            "b",
            3,
            vec![evidence("1", 210, "b1"), evidence("2", 9, "b2")],
        );
        assert!(!merge(&mut stored, &from_b, None, 20));
        assert_eq!(
            (stored.id.as_str(), stored.windows, stored.lines),
            ("a", 5, 359)
        );
        assert_eq!(stored.templates[0].count, 350);
        assert_eq!(stored.templates[0].first_lines, ["a1", "b1"]);
        assert_eq!(stored.templates[1].count, 9);
        assert_eq!(stored.noise_reduction_ratio, 179.5);
        assert_eq!(stored.last_seen, from_b.last_seen);
    }

    #[test]
    fn only_what_was_added_since_the_last_merge_counts() {
        let mut stored = incident("a", 2, vec![evidence("1", 140, "a1")]);
        let before = incident("b", 3, vec![evidence("1", 210, "b1")]);
        merge(&mut stored, &before, None, 20);
        let mut after = before.clone();
        after.windows = 4;
        after.lines = 280;
        after.templates[0].count = 280;
        after.templates[0].last_lines = vec!["b9".into()];
        merge(&mut stored, &after, Some(&before), 20);
        assert_eq!((stored.windows, stored.lines), (6, 420));
        assert_eq!(stored.templates[0].count, 420);
        assert_eq!(stored.templates[0].last_lines, ["b9"]);
        // Merging the same state again adds nothing.
        merge(&mut stored, &after, Some(&after), 20);
        assert_eq!((stored.windows, stored.lines), (6, 420));
    }

    #[test]
    fn a_higher_severity_or_new_text_wins_and_old_text_does_not() {
        let mut stored = incident("a", 1, vec![evidence("1", 10, "a1")]);
        stored.summary = "written by the model".into();
        let mut local = incident("b", 1, vec![evidence("1", 10, "b1")]);
        // B's text has not changed since it last merged: the stored text stays.
        merge(&mut stored, &local, Some(&local.clone()), 20);
        assert_eq!(stored.summary, "written by the model");

        let since = local.clone();
        local.severity = Severity::Critical;
        local.title = "Outage".into();
        assert!(merge(&mut stored, &local, Some(&since), 20));
        assert_eq!(
            (stored.severity, stored.title.as_str()),
            (Severity::Critical, "Outage")
        );
    }

    #[test]
    fn the_evidence_keeps_the_largest_templates_with_the_root_first() {
        let mut stored = incident(
            "a",
            1,
            vec![evidence("1", 5, "a1"), evidence("2", 50, "a2")],
        );
        let local = incident("b", 1, vec![evidence("3", 500, "b3")]);
        merge(&mut stored, &local, None, 2);
        let ids: Vec<&str> = stored
            .templates
            .iter()
            .map(|t| t.template_id.as_str())
            .collect();
        assert_eq!(ids, ["1", "3"]);
    }
}
