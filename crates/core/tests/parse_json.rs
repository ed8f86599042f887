//! JSON lines from common structured loggers.

use ic_core::Level;
use ic_core::parse::json;

mod common;
use common::{check, received};

#[test]
fn common_loggers() {
    check(
        json::parse,
        &[
            (
                r#"{"timestamp":"2024-05-02T10:15:00.123Z","level":"error","service":"inventory-db","message":"Pool exhausted","active":50}"#,
                "2024-05-02T10:15:00.123Z",
                Level::Error,
                "inventory-db",
                "Pool exhausted",
                "active=50",
            ),
            (
                r#"{"level":50,"time":1714644900123,"pid":4242,"name":"checkout","msg":"timed out","req":{"id": "r-17", "method":"POST"}}"#,
                "2024-05-02T10:15:00.123Z",
                Level::Error,
                "",
                "timed out",
                r#"name=checkout pid=4242 req={"id":"r-17","method":"POST"}"#,
            ),
            (
                r#"{"level":"info","ts":1714644900.123456,"logger":"api.http","caller":"handler.go:88","msg":"served","ok":true,"err":null}"#,
                "2024-05-02T10:15:00.123456Z",
                Level::Info,
                "api.http",
                "served",
                "caller=handler.go:88 err=null ok=true",
            ),
            (
                r#"{"@timestamp":"2024-05-02T10:15:00.123+02:00","log.level":"WARN","message":"slow query","service.name":"orders","event":{"duration":15}}"#,
                "2024-05-02T08:15:00.123Z",
                Level::Warn,
                "orders",
                "slow query",
                r#"event={"duration":15}"#,
            ),
            (
                r#"{"__REALTIME_TIMESTAMP":"1714644900123456","PRIORITY":"3","SYSLOG_IDENTIFIER":"sshd","MESSAGE":"kex failed"}"#,
                "2024-05-02T10:15:00.123456Z",
                Level::Error,
                "sshd",
                "kex failed",
                "",
            ),
            (
                r#"{"host":"db-2","short_message":"replication lag","timestamp":1714644900.5,"level":4}"#,
                "2024-05-02T10:15:00.500Z",
                Level::Warn,
                "",
                "replication lag",
                "host=db-2",
            ),
            (
                r#"{"time":"2024-05-02 10:15:00,250","severity":"DEBUG","service":{"name":"billing","version":"3.2"},"msg":"say \"hi\"\n\u00e9","tags":["a", "b"]}"#,
                "2024-05-02T10:15:00.250Z",
                Level::Debug,
                "billing",
                "say \"hi\"\né",
                r#"service.version=3.2 tags=["a","b"]"#,
            ),
            (
                r#"{"ts":"1714644900123456789","severity_number":17,"msg":"reset","body":"b"}"#,
                "2024-05-02T10:15:00.123456789Z",
                Level::Error,
                "",
                "reset",
                "body=b",
            ),
            (
                r#"  { "time" : "yesterday" , "level" : "loud" , "app" : "web" }  "#,
                "2024-05-02T12:00:00Z",
                Level::Info,
                "web",
                r#"  { "time" : "yesterday" , "level" : "loud" , "app" : "web" }  "#,
                "level=loud time=yesterday",
            ),
            ("{}\r\n", "2024-05-02T12:00:00Z", Level::Info, "", "{}", ""),
        ],
    );
}

#[test]
fn not_json_objects() {
    for line in [
        "",
        "{",
        r#"{"a":1"#,
        r#"{"a":1} trailing"#,
        r#"{"a" 1}"#,
        r#"{"a":1,}"#,
        r#"{a:1}"#,
        r#"{"a":tru}"#,
        r#"{"a":"unterminated}"#,
        r#"{"a":[1,2}"#,
        "[1,2]",
        "plain text",
    ] {
        assert!(json::parse(line, received()).is_none(), "{line:?}");
    }
}

#[test]
fn fixture_lines_all_parse() {
    for line in include_str!("fixtures/parse/json.log").lines() {
        let event = json::parse(line, received()).unwrap_or_else(|| panic!("{line}"));
        assert_ne!(event.timestamp, received(), "{line}");
        assert!(!event.message.starts_with('{'), "{line}");
    }
}
