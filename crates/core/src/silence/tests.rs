use chrono::TimeDelta;

use super::*;
use crate::testing::{epoch, incident};

fn spec(matchers: &str) -> SilenceSpec {
    serde_json::from_str(&format!(
        r#"{{"matchers": {matchers}, "startsAt": "2026-01-01T00:00:00Z",
            "endsAt": "2026-01-01T02:00:00Z", "createdBy": "ana", "comment": "db upgrade"}}"#
    ))
    .unwrap()
}

fn silence(matchers: &str) -> CompiledSilence {
    let spec = spec(matchers);
    spec.validate(epoch()).unwrap();
    spec.into_silence("s1".into(), epoch()).compile().unwrap()
}

#[test]
fn reads_alertmanager_json_with_its_defaults() {
    let spec = spec(r#"[{"name": "service", "value": "inventory-db"}]"#);
    assert_eq!(
        spec.terms.matchers,
        vec![Matcher {
            name: MatcherName::Service,
            value: "inventory-db".into(),
            is_regex: false,
            is_equal: true,
        }]
    );
    let unknown = serde_json::from_str::<Matcher>(r#"{"name": "host", "value": "a"}"#);
    let message = unknown.unwrap_err().to_string();
    assert!(
        message.contains("`service`, `impacted`, `template`, `fingerprint`, `severity`"),
        "{message}"
    );
}

#[test]
fn impacted_matches_any_impacted_service_and_its_negation_none() {
    let mut db = incident("i", "inventory-db", Severity::Critical);
    db.impacted_services = vec!["inventory-db".into(), "payments-api".into()];
    let api = incident("j", "api", Severity::Critical);
    let payments = silence(r#"[{"name": "impacted", "value": "payments-*"}]"#);
    assert!(payments.matches(&db), "an impacted service matches");
    assert!(!payments.matches(&api));
    let root = silence(r#"[{"name": "impacted", "value": "inventory-db"}]"#);
    assert!(root.matches(&db), "the root cause is among the impacted");
    let not = silence(r#"[{"name": "impacted", "value": "payments-api", "isEqual": false}]"#);
    assert!(!not.matches(&db), "one impacted service is payments-api");
    assert!(not.matches(&api));
    let parsed: Matcher = "impacted=~payments-.*".parse().unwrap();
    assert_eq!(parsed.name, MatcherName::Impacted);
    assert_eq!(parsed.to_string(), r#"impacted=~"payments-.*""#);
}

#[test]
fn exact_glob_and_regex_values_match_the_whole_text() {
    let db = incident("i", "inventory-db", Severity::Critical);
    let api = incident("i", "api", Severity::Critical);
    let exact = silence(r#"[{"name": "service", "value": "inventory"}]"#);
    assert!(!exact.matches(&db), "an exact value is not a prefix");
    let glob = silence(r#"[{"name": "service", "value": "inventory-*"}]"#);
    assert!(glob.matches(&db) && !glob.matches(&api));
    let dots = silence(r#"[{"name": "service", "value": "a.i"}]"#);
    assert!(!dots.matches(&api), "a dot in a glob is a dot");
    let regex = silence(r#"[{"name": "service", "value": "inv.*|api", "isRegex": true}]"#);
    assert!(regex.matches(&db) && regex.matches(&api));
    let anchored = silence(r#"[{"name": "service", "value": "db", "isRegex": true}]"#);
    assert!(
        !anchored.matches(&db),
        "anchored as Alertmanager anchors it"
    );
    let not = silence(r#"[{"name": "service", "value": "api", "isEqual": false}]"#);
    assert!(not.matches(&db) && !not.matches(&api));
}

#[test]
fn a_severity_matches_it_and_below() {
    let warnings = silence(r#"[{"name": "severity", "value": "warning"}]"#);
    assert!(warnings.matches(&incident("i", "db", Severity::Info)));
    assert!(warnings.matches(&incident("i", "db", Severity::Warning)));
    assert!(!warnings.matches(&incident("i", "db", Severity::Critical)));
    let exactly = silence(r#"[{"name": "severity", "value": "critical", "isRegex": true}]"#);
    assert!(exactly.matches(&incident("i", "db", Severity::Critical)));
    assert!(!exactly.matches(&incident("i", "db", Severity::Warning)));
}

#[test]
fn every_matcher_must_match() {
    let both = silence(
        r#"[{"name": "service", "value": "db"}, {"name": "template", "value": "*Pool exhausted"}]"#,
    );
    assert!(both.matches(&incident("i", "db", Severity::Critical)));
    let mut other = incident("i", "db", Severity::Critical);
    other.root_cause.template = "Disk full".into();
    assert!(!both.matches(&other));
    let fingerprint = silence(r#"[{"name": "fingerprint", "value": "db:pool-exhausted"}]"#);
    assert!(fingerprint.matches(&incident("i", "db", Severity::Info)));
}

#[test]
fn mutes_between_start_and_end_only() {
    let s = silence(r#"[{"name": "service", "value": "db"}]"#);
    let db = incident("i", "db", Severity::Critical);
    assert!(s.mutes(&db, epoch()));
    assert!(s.mutes(&db, epoch() + TimeDelta::minutes(119)));
    assert!(!s.mutes(&db, epoch() + TimeDelta::minutes(120)));
    assert!(!s.mutes(&db, epoch() - TimeDelta::seconds(1)));
    assert_eq!(
        s.silence.state(epoch() - TimeDelta::seconds(1)),
        SilenceState::Pending
    );
    assert_eq!(
        s.silence.state(epoch() + TimeDelta::hours(2)),
        SilenceState::Expired
    );
}

#[test]
fn a_schedule_mutes_inside_its_times_only() {
    let mut spec = spec(r#"[{"name": "service", "value": "db"}]"#);
    spec.terms.ends_at = epoch() + TimeDelta::days(30);
    spec.terms.schedule = Some(
        serde_json::from_str(r#"{"times": [{"startTime": "01:00", "endTime": "02:00"}]}"#).unwrap(),
    );
    spec.validate(epoch()).unwrap();
    let s = spec.into_silence("s".into(), epoch());
    assert!(!s.mutes_at(epoch()));
    assert!(s.mutes_at(epoch() + TimeDelta::minutes(61)));
    assert!(s.mutes_at(epoch() + TimeDelta::days(3) + TimeDelta::minutes(90)));
    assert!(!s.mutes_at(epoch() + TimeDelta::minutes(120)));
    assert_eq!(s.state(epoch()), SilenceState::Active);
}

#[test]
fn refuses_what_would_mislead_or_grow_without_bound() {
    let now = epoch();
    let check = |f: &dyn Fn(&mut SilenceSpec)| {
        let mut s = spec(r#"[{"name": "service", "value": "db"}]"#);
        f(&mut s);
        s.validate(now).unwrap_err()
    };
    assert_eq!(
        check(&|s| s.terms.matchers.clear()),
        SilenceError::NoMatchers
    );
    assert_eq!(
        check(&|s| s.terms.ends_at = s.terms.starts_at),
        SilenceError::EndsBeforeStart
    );
    assert_eq!(
        check(&|s| {
            s.terms.starts_at = now - TimeDelta::hours(3);
            s.terms.ends_at = now - TimeDelta::hours(1);
        }),
        SilenceError::AlreadyEnded
    );
    assert_eq!(
        check(&|s| s.terms.created_by = " ".into()),
        SilenceError::Author
    );
    assert_eq!(check(&|s| s.terms.comment.clear()), SilenceError::Comment);
    assert_eq!(
        check(&|s| s.terms.matchers[0].value = "x".repeat(MAX_VALUE_LEN + 1)),
        SilenceError::ValueTooLong {
            name: MatcherName::Service
        }
    );
    assert!(matches!(
        check(&|s| {
            s.terms.matchers[0].is_regex = true;
            s.terms.matchers[0].value = "(".into();
        }),
        SilenceError::InvalidRegex { .. }
    ));
    assert!(matches!(
        check(&|s| {
            s.terms.matchers[0].is_regex = true;
            s.terms.matchers[0].value = "(a{1000}){1000}".into();
        }),
        SilenceError::InvalidRegex { .. }
    ));
    assert!(matches!(
        check(&|s| {
            s.terms.matchers[0].name = MatcherName::Severity;
            s.terms.matchers[0].value = "loud".into();
        }),
        SilenceError::InvalidSeverity { .. }
    ));
}

#[test]
fn matchers_print_in_alertmanager_notation() {
    let s = spec(
        r#"[{"name": "service", "value": "db"}, {"name": "severity", "value": "critical", "isEqual": false, "isRegex": true}]"#,
    );
    let printed: Vec<String> = s.terms.matchers.iter().map(ToString::to_string).collect();
    assert_eq!(printed, [r#"service="db""#, r#"severity!~"critical""#]);
}

#[test]
fn matchers_read_as_amtool_writes_them() {
    for text in [
        r#"service="db""#,
        r#"template=~"Pool.*""#,
        r#"severity!~"critical""#,
        r#"fingerprint!="f""#,
    ] {
        let matcher: Matcher = text.parse().unwrap();
        assert_eq!(matcher.to_string(), text);
    }
    let bare: Matcher = "service=inventory-db".parse().unwrap();
    assert_eq!(bare.value, "inventory-db");
    assert!(
        "service"
            .parse::<Matcher>()
            .unwrap_err()
            .contains("NAME=VALUE")
    );
    assert!(
        "host=a"
            .parse::<Matcher>()
            .unwrap_err()
            .contains("not a matcher name")
    );
}
