use super::*;
use crate::llm::fixtures::meltdown_window;

const CLEAN: &str = r#"{"title": "inventory-db connection pool exhausted", "severity": "Critical",
 "root_cause_service": "inventory-db", "impacted_services": ["inventory-db", "order-service"],
 "summary": "inventory-db refuses connections: its pool is exhausted."}"#;

fn context() -> Context {
    Context::new(&meltdown_window().report)
}

fn answer(json: &str) -> Answer {
    parse_answer(json).expect("parses")
}

#[test]
fn answers_are_found_bare_fenced_listed_or_in_prose() {
    let expected = answer(CLEAN);
    let wrapped = [
        format!("```json\n{CLEAN}\n```"),
        format!("[{CLEAN}]"),
        format!("Here is the report [as asked]:\n{CLEAN}\nHope this helps {{:"),
        format!("```\n[ {CLEAN} ]\n```"),
    ];
    for reply in wrapped {
        assert_eq!(parse_answer(&reply).as_ref(), Ok(&expected), "{reply}");
    }
    assert_eq!(expected.root_cause_service.as_deref(), Some("inventory-db"));
}

#[test]
fn replies_without_a_usable_object_are_errors() {
    assert_eq!(
        parse_answer("The database is down, restart it."),
        Err(AnswerError::NoJson)
    );
    assert_eq!(parse_answer("[1, 2]"), Err(AnswerError::NoJson));
    let missing = parse_answer(r#"{"title": "t", "severity": "Critical"}"#);
    assert!(
        matches!(missing, Err(AnswerError::Schema(_))),
        "{missing:?}"
    );
}

#[test]
fn a_clean_answer_rewrites_the_text_and_keeps_our_numbers() {
    let context = context();
    let checked = context
        .check(answer(CLEAN), "openai:test-model".into())
        .unwrap();
    let report = &checked.report;
    let builtin = context.builtin();
    assert_eq!(report.title, "inventory-db connection pool exhausted");
    assert_eq!(report.analyzer, "openai:test-model");
    assert_eq!(report.severity, Severity::Critical);
    assert_eq!(report.root_cause, builtin.root_cause);
    assert_eq!(report.noise_reduction_ratio, builtin.noise_reduction_ratio);
    assert_eq!(report.templates, builtin.templates);
    assert_eq!(report.window, builtin.window);
    assert_eq!(report.impacted_services[0], "inventory-db");
    assert!(checked.dropped_services.is_empty());
}

#[test]
fn services_that_did_not_log_in_the_window_are_dropped() {
    let invented = r#"{"title": "t", "severity": "Critical", "root_cause_service": "mainframe-9",
      "impacted_services": ["mainframe-9", "ORDER-SERVICE", "inventory-db"], "summary": "s"}"#;
    let context = context();
    let checked = context.check(answer(invented), "gemini:m".into()).unwrap();
    assert_eq!(checked.dropped_services, ["mainframe-9", "mainframe-9"]);
    // The built-in root cause stands; a known service keeps the window's spelling.
    assert_eq!(checked.report.root_cause, context.builtin().root_cause);
    assert_eq!(
        checked.report.impacted_services,
        ["inventory-db", "order-service"]
    );
}

#[test]
fn another_known_root_cause_brings_its_own_template() {
    let other = r#"{"title": "t", "severity": "Critical", "root_cause_service": "order-service",
      "impacted_services": [], "summary": "s"}"#;
    let context = context();
    let checked = context.check(answer(other), "m".into()).unwrap();
    let root = checked.report.root_cause.unwrap();
    assert_eq!(root.service, "order-service");
    let template = context
        .builtin()
        .templates
        .iter()
        .find(|t| t.template == root.template)
        .expect("a template of the window");
    assert!(template.services.contains(&root.service));
    assert_eq!(checked.report.impacted_services, ["order-service"]);
}

#[test]
fn the_severity_can_rise_but_never_fall_below_the_builtin_one() {
    let lowered = CLEAN.replace("\"Critical\"", "\"Info\"");
    let context = context();
    let checked = context.check(answer(&lowered), "m".into()).unwrap();
    assert_eq!(checked.report.severity, Severity::Critical);

    let mut calm = context.builtin().clone();
    calm.severity = Severity::Warning;
    let raised = Context::new(&calm)
        .check(answer(CLEAN), "m".into())
        .unwrap();
    assert_eq!(raised.report.severity, Severity::Critical);

    let odd = CLEAN.replace("\"Critical\"", "\"Apocalyptic\"");
    assert!(matches!(
        context.check(answer(&odd), "m".into()),
        Err(AnswerError::Severity(_))
    ));
}

#[test]
fn title_and_summary_become_bounded_plain_text() {
    let long = "word ".repeat(400);
    let messy = format!(
        r#"{{"title": "  line one\nline\u0007 two\u202e  ", "severity": "warn",
        "root_cause_service": "", "impacted_services": [], "summary": "{long}"}}"#
    );
    let checked = context().check(answer(&messy), "m".into()).unwrap();
    assert_eq!(checked.report.title, "line one line two");
    assert_eq!(checked.report.summary.chars().count(), MAX_SUMMARY_CHARS);
    assert!(checked.report.summary.ends_with('…'));

    let blank = CLEAN.replace("inventory-db connection pool exhausted", " \\n\\t ");
    assert_eq!(
        context().check(answer(&blank), "m".into()),
        Err(AnswerError::Empty("title"))
    );
}

#[test]
fn a_fallback_is_the_builtin_report_signed_with_the_reason() {
    let context = context();
    let report = context.fallback("timeout");
    assert_eq!(report.analyzer, "builtin (fallback: timeout)");
    assert_eq!(report.title, context.builtin().title);
    assert_eq!(AnswerError::NoJson.reason(), "no JSON in answer");
}

#[test]
fn the_schema_requires_every_property_and_allows_no_other() {
    let schema = response_schema();
    let properties = schema["properties"].as_object().unwrap();
    let required: Vec<&str> = schema["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(properties.len(), required.len());
    assert!(properties.keys().all(|k| required.contains(&k.as_str())));
    assert_eq!(schema["additionalProperties"], false);
}
