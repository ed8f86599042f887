use chrono::{DateTime, TimeZone, Utc};

use super::*;
use crate::LevelCounts;
use crate::condense::Sample;
use crate::event::Level;
use crate::miner::TemplateId;
use crate::report::{ReportTemplate, WindowSummary};
use crate::window::FlushReason;

fn at(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_700_000_000 + secs, 0).unwrap()
}

/// A window ending at `end` whose report blames `service`'s template `id` with text `text`.
fn window(end: i64, service: &str, id: u32, text: &str, severity: Severity) -> (Report, Digest) {
    let mut levels = LevelCounts::default();
    for _ in 0..70 {
        levels.add(Level::Error);
    }
    let sample = |n: i64| Sample {
        seq: n as u32,
        timestamp: at(end - 1),
        level: Level::Error,
        service: 0,
        message: format!("{text} #{n}"),
    };
    let stat = TemplateStat {
        id: TemplateId(id),
        family: TemplateId(id),
        template: text.into(),
        count: 70,
        levels,
        services: vec![(service.into(), 70)],
        first: at(end - 1),
        last: at(end),
        first_samples: (0..5).map(sample).collect(),
        last_samples: (65..70).map(sample).collect(),
    };
    let digest = Digest {
        seq: 1,
        start: at(end - 1),
        end: at(end),
        log_count: 100,
        flush: FlushReason::Size,
        seconds: 1.0,
        templates: vec![stat],
        services: vec![],
        levels,
        notes: Vec::new(),
    };
    let report = Report {
        title: format!("{service} failing: {text}"),
        severity,
        impacted_services: vec![service.into()],
        summary: format!("summary at {end}"),
        noise_reduction_ratio: 1.0,
        window: WindowSummary::of(&digest),
        root_cause: (severity > Severity::Info).then(|| RootCause {
            service: service.into(),
            template: text.into(),
            candidates: Vec::new(),
        }),
        templates: vec![ReportTemplate {
            id: TemplateId(id).to_string(),
            template: text.into(),
            count: 70,
            level: Level::Error,
            services: vec![service.into()],
            signal: (severity > Severity::Info).then(|| "storm".to_owned()),
        }],
        analyzer: "builtin".into(),
        llm: None,
    };
    (report, digest)
}

fn observe(c: &mut Correlator, w: (Report, Digest)) -> Vec<IncidentEvent> {
    c.observe(&w.0, &w.1)
}

fn transitions(events: &[IncidentEvent]) -> Vec<Transition> {
    events.iter().map(|e| e.transition).collect()
}

const POOL: &str = "Pool exhausted";

#[test]
fn one_outage_is_one_incident_that_grows_escalates_and_resolves() {
    let mut c = Correlator::new(CorrelatorConfig::default());
    let first = observe(&mut c, window(10, "db", 1, POOL, Severity::Warning));
    assert_eq!(transitions(&first), [Transition::Opened]);
    let id = first[0].incident.id.clone();
    assert!(id.ends_with(&first[0].incident.fingerprint[..6]), "{id}");

    for end in 11..20 {
        let events = observe(&mut c, window(end, "db", 1, POOL, Severity::Warning));
        assert_eq!(transitions(&events), [Transition::Updated]);
    }
    let escalated = observe(&mut c, window(20, "db", 1, POOL, Severity::Critical));
    assert_eq!(transitions(&escalated), [Transition::Escalated]);
    let incident = &escalated[0].incident;
    assert_eq!(
        (incident.id.as_str(), incident.windows, incident.lines),
        (id.as_str(), 11, 770)
    );
    assert_eq!(incident.severity, Severity::Critical);
    assert_eq!(incident.summary, "summary at 20");
    let evidence = &incident.templates[0];
    assert_eq!(evidence.count, 770, "exact counts");
    assert_eq!(evidence.first_lines.len(), SAMPLE_LINES);
    assert!(evidence.first_lines[0].ends_with("#0"));
    assert!(evidence.last_lines.last().unwrap().ends_with("#69"));

    // A quiet Info window does not keep it open; quiet time resolves it.
    assert!(observe(&mut c, window(100, "db", 1, POOL, Severity::Info)).is_empty());
    assert_eq!(c.next_deadline(), Some(at(140)));
    let resolved = c.expire(at(140));
    assert_eq!(transitions(&resolved), [Transition::Resolved]);
    assert_eq!(resolved[0].incident.resolved_at, Some(at(140)));
    assert!(c.open_incidents().is_empty());
    assert_eq!(c.next_deadline(), None);
}

#[test]
fn a_recurrence_soon_after_reopens_and_a_later_one_opens_a_linked_incident() {
    let mut c = Correlator::new(CorrelatorConfig::default());
    let first = observe(&mut c, window(10, "db", 1, POOL, Severity::Critical));
    c.expire(at(130));

    let again = observe(&mut c, window(200, "db", 1, POOL, Severity::Critical));
    assert_eq!(
        transitions(&again),
        [Transition::Reopened],
        "flapping is damped"
    );
    assert_eq!(again[0].incident.id, first[0].incident.id);
    assert_eq!(again[0].incident.reopened, 1);
    assert!(again[0].transition.notifies(&again[0].incident));

    c.expire(at(320));
    let later = observe(&mut c, window(3600, "db", 1, POOL, Severity::Critical));
    assert_eq!(
        transitions(&later),
        [Transition::Opened],
        "resolved incidents absorb nothing"
    );
    let incident = &later[0].incident;
    assert_ne!(incident.id, first[0].incident.id);
    let seen = incident
        .seen_before
        .as_ref()
        .expect("linked to the earlier one");
    assert_eq!(seen.last_id, first[0].incident.id);
    assert_eq!(seen.times_last_7_days, 1);
}

#[test]
fn a_generalized_template_keeps_its_incident() {
    let mut c = Correlator::new(CorrelatorConfig::default());
    let first = observe(
        &mut c,
        window(
            10,
            "db",
            7,
            "Pool exhausted for tenant acme",
            Severity::Critical,
        ),
    );
    let later = observe(
        &mut c,
        window(
            11,
            "db",
            7,
            "Pool exhausted for tenant <*>",
            Severity::Critical,
        ),
    );
    assert_eq!(transitions(&later), [Transition::Updated]);
    assert_eq!(later[0].incident.id, first[0].incident.id);
}

#[test]
fn related_failures_of_one_root_cause_are_grouped_under_it() {
    let mut c = Correlator::new(CorrelatorConfig::default());
    let root = observe(&mut c, window(10, "db", 1, POOL, Severity::Critical));
    let related = observe(
        &mut c,
        window(30, "db", 2, "Replica lag too high", Severity::Warning),
    );
    assert_eq!(transitions(&related), [Transition::Opened]);
    let child = &related[0].incident;
    assert_eq!(child.parent.as_deref(), Some(root[0].incident.id.as_str()));
    assert!(
        !related[0].transition.notifies(child),
        "pages nobody on its own"
    );

    let unrelated = observe(
        &mut c,
        window(40, "mail", 3, "SMTP refused", Severity::Warning),
    );
    assert_eq!(unrelated[0].incident.parent, None);
    let late = observe(&mut c, window(200, "db", 4, "Disk slow", Severity::Warning));
    assert_eq!(late[0].incident.parent, None, "not the same minute");
}

#[test]
fn a_restart_keeps_updating_the_same_incident() {
    let mut before = Correlator::new(CorrelatorConfig::default());
    let opened = observe(&mut before, window(10, "db", 1, POOL, Severity::Critical));
    let stored = before.open_incidents().to_vec();

    // New process: template ids restart, fingerprints do not.
    let mut after = Correlator::new(CorrelatorConfig::default());
    after.restore(stored);
    let events = observe(&mut after, window(20, "db", 99, POOL, Severity::Critical));
    assert_eq!(transitions(&events), [Transition::Updated]);
    assert_eq!(events[0].incident.id, opened[0].incident.id);
    assert_eq!(events[0].incident.windows, 2);
}

#[test]
fn updates_notify_nobody_and_transitions_do() {
    let mut c = Correlator::new(CorrelatorConfig::default());
    let opened = observe(&mut c, window(10, "db", 1, POOL, Severity::Warning));
    assert!(opened[0].transition.notifies(&opened[0].incident));
    let updated = observe(&mut c, window(11, "db", 1, POOL, Severity::Warning));
    assert!(!updated[0].transition.notifies(&updated[0].incident));
}

#[test]
fn evidence_keeps_the_root_and_the_largest_templates() {
    let evidence = |id: &str, count: u64| Evidence {
        template_id: id.into(),
        template: id.into(),
        level: Level::Error,
        services: vec![],
        count,
        first_lines: vec![],
        last_lines: vec![],
    };
    let mut templates = vec![
        evidence("root", 1),
        evidence("a", 5),
        evidence("b", 50),
        evidence("c", 2),
        evidence("d", 20),
    ];
    keep_largest(&mut templates, 3);
    let ids: Vec<&str> = templates.iter().map(|t| t.template_id.as_str()).collect();
    assert_eq!(ids, ["root", "b", "d"]);
}

#[test]
fn an_incident_resolved_by_hand_leaves_the_open_set_and_reopens_if_it_recurs() {
    let mut c = Correlator::new(CorrelatorConfig::default());
    let opened = observe(&mut c, window(10, "db", 1, POOL, Severity::Critical));
    let id = opened[0].incident.id.clone();
    assert!(c.resolve_by_hand("nope", at(11)).is_none());
    let resolved = c.resolve_by_hand(&id, at(11)).unwrap();
    assert_eq!(resolved.transition, Transition::Resolved);
    assert_eq!(resolved.incident.resolved_at, Some(at(11)));
    assert!(c.open_incidents().is_empty());
    let again = observe(&mut c, window(20, "db", 1, POOL, Severity::Critical));
    assert_eq!(transitions(&again), [Transition::Reopened]);
    assert_eq!(again[0].incident.id, id);
}

#[test]
fn a_replay_of_the_same_failure_gets_a_new_id_and_links_to_the_first() {
    let mut c = Correlator::new(CorrelatorConfig::default());
    let first = observe(&mut c, window(10, "db", 1, POOL, Severity::Critical));
    c.expire(at(10_000));
    c.expire(at(10_000)); // past the flap hold too
    // The same lines again, with the same timestamps.
    let again = observe(&mut c, window(10, "db", 1, POOL, Severity::Critical));
    assert_eq!(transitions(&again), [Transition::Opened]);
    let (one, two) = (&first[0].incident, &again[0].incident);
    assert_eq!(two.id, format!("{}-2", one.id));
    assert_eq!(two.seen_before.as_ref().unwrap().last_id, one.id);
}

#[test]
fn what_each_window_folds_into_adds_up_to_its_incident() {
    let mut c = Correlator::new(CorrelatorConfig::default());
    let mut folded: HashMap<String, (u64, u64)> = HashMap::new();
    let mut last = None;
    for (end, severity) in [
        (10, Severity::Warning),
        (11, Severity::Info),
        (12, Severity::Critical),
        (13, Severity::Warning),
    ] {
        let (report, digest) = window(end, "db", 1, POOL, severity);
        if let Some(f) = folded_into(&report) {
            let counts = folded.entry(f.fingerprint).or_default();
            counts.0 += 1;
            counts.1 += f.lines;
        }
        last = c.observe(&report, &digest).pop().or(last);
    }
    let incident = last.expect("an incident").incident;
    assert_eq!(
        folded,
        HashMap::from([(incident.fingerprint, (incident.windows, incident.lines))]),
        "the Info window is folded into nothing"
    );
    assert_eq!(incident.windows, 3);
}

#[test]
fn an_incident_opens_at_its_first_anomalous_line_not_at_its_window() {
    let mut c = Correlator::new(CorrelatorConfig::default());
    let (mut report, mut digest) = window(10, "db", 1, POOL, Severity::Critical);
    // Four seconds of normal lines before the first error of the storm.
    digest.start = at(5);
    report.window.start = at(5);
    let opened = c.observe(&report, &digest);
    assert_eq!(opened[0].incident.opened_at, at(9));
    let second = at(9).format("%Y%m%d-%H%M%S").to_string();
    assert!(
        opened[0].incident.id.starts_with(&second),
        "named after it too"
    );
}

/// [`window`] with `lines` lines of its template instead of 70.
fn with_lines((mut report, mut digest): (Report, Digest), lines: u32) -> (Report, Digest) {
    let stat = &mut digest.templates[0];
    stat.count = lines;
    stat.services[0].1 = lines;
    report.templates[0].count = lines;
    (report, digest)
}

/// An incident of `db`'s pool open from second 9 to 250, five lines a minute, as a run that
/// then stopped left it in the store.
fn thin_incident_before_a_restart() -> Vec<Incident> {
    let mut before = Correlator::new(CorrelatorConfig::default());
    for end in (10..=250).step_by(60) {
        let w = with_lines(window(end, "db", 1, POOL, Severity::Warning), 5);
        observe(&mut before, w);
    }
    before.open_incidents().to_vec()
}

/// Windows of the restarted run every ten seconds in `span`, none flagged (the analyzer is
/// learning again); one line of the pool every `every` seconds. Returns every transition.
fn relearning(c: &mut Correlator, span: std::ops::Range<i64>, every: i64) -> Vec<IncidentEvent> {
    span.step_by(10)
        .flat_map(|end| {
            let lines = u32::from(end % every == 0);
            observe(
                c,
                with_lines(window(end, "db", 7, POOL, Severity::Info), lines),
            )
        })
        .collect()
}

#[test]
fn a_restored_incident_stays_open_while_its_failure_goes_on_at_its_rate() {
    let stored = thin_incident_before_a_restart();
    let mut after = Correlator::new(CorrelatorConfig::default());
    after.restore(stored.clone());
    // Ten minutes at about its rate (one line in ten seconds, five in sixty before), no window
    // flagged: it is still open, seen in the last window.
    let events = relearning(&mut after, 260..870, 10);
    assert!(
        events.iter().all(|e| e.transition == Transition::Updated),
        "{:?}",
        transitions(&events)
    );
    let open = after.open_incidents();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].id, stored[0].id);
    assert_eq!(open[0].last_seen, at(860));
    assert!(
        open[0].lines > stored[0].lines,
        "the lines seen are its own"
    );
    // The lines stop: it resolves as a quiet incident does.
    let quiet = relearning(&mut after, 870..1200, i64::MAX);
    assert_eq!(transitions(&quiet), [Transition::Resolved]);
    assert_eq!(quiet[0].incident.resolved_at, Some(at(860 + 120)));
}

#[test]
fn a_restored_incident_is_not_held_open_by_a_far_thinner_trickle() {
    let stored = thin_incident_before_a_restart();
    let mut after = Correlator::new(CorrelatorConfig::default());
    after.restore(stored);
    // One line a minute, a fifth of its rate: the background a burst leaves behind.
    let events = relearning(&mut after, 260..900, 60);
    assert!(
        transitions(&events).contains(&Transition::Resolved),
        "{:?}",
        transitions(&events)
    );
    assert!(after.open_incidents().is_empty());
}

#[test]
fn an_incident_of_this_run_is_held_open_by_flagged_reports_only() {
    let mut c = Correlator::new(CorrelatorConfig::default());
    for end in (10..=250).step_by(60) {
        observe(
            &mut c,
            with_lines(window(end, "db", 1, POOL, Severity::Warning), 5),
        );
    }
    // The same lines as above, unflagged: nothing holds it, it resolves 120 s after its last
    // flagged window.
    let events = relearning(&mut c, 260..870, 10);
    assert_eq!(transitions(&events), [Transition::Resolved]);
    assert_eq!(events[0].incident.resolved_at, Some(at(250 + 120)));
}
