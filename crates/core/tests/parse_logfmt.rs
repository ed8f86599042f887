//! logfmt lines.

use ic_core::Level;
use ic_core::parse::logfmt;

mod common;
use common::{check, received};

#[test]
fn common_shapes() {
    check(
        logfmt::parse,
        &[
            (
                r#"ts=2024-05-02T10:15:00.123Z level=error service=inventory-db msg="Connection Refused: Pool exhausted" active=50"#,
                "2024-05-02T10:15:00.123Z",
                Level::Error,
                "inventory-db",
                "Connection Refused: Pool exhausted",
                "active=50",
            ),
            (
                r#"level=info ts=2024-05-02T10:15:00.456Z caller=main.go:42 msg="Starting" version="(version=2.51.0, branch=HEAD)""#,
                "2024-05-02T10:15:00.456Z",
                Level::Info,
                "",
                "Starting",
                "caller=main.go:42 version=(version=2.51.0, branch=HEAD)",
            ),
            (
                r#"time="2024-05-02T10:15:00Z" level=warning msg="retrying" app=checkout err="dial tcp: \"refused\"""#,
                "2024-05-02T10:15:00Z",
                Level::Warn,
                "checkout",
                "retrying",
                r#"err=dial tcp: "refused""#,
            ),
            (
                r#"ts=1714644900123 level=debug component=scheduler msg="queue drained\tin 3ms" ok"#,
                "2024-05-02T10:15:00.123Z",
                Level::Debug,
                "scheduler",
                "queue drained\tin 3ms",
                "ok=",
            ),
            (
                "at=info method=GET path=/health status=200\r\n",
                "2024-05-02T12:00:00Z",
                Level::Info,
                "",
                "at=info method=GET path=/health status=200",
                "at=info method=GET path=/health status=200",
            ),
            (
                "msg= level=",
                "2024-05-02T12:00:00Z",
                Level::Info,
                "",
                "",
                "level=",
            ),
        ],
    );
}

#[test]
fn not_logfmt() {
    for line in [
        "",
        "hello world",
        "user=admin logged in from home",
        r#"msg="never closed level=info"#,
        "=value other=1",
        "a=1 =2",
        "2024-05-02 level=info",
    ] {
        assert!(logfmt::parse(line, received()).is_none(), "{line:?}");
    }
}

#[test]
fn fixture_lines_all_parse() {
    for line in include_str!("fixtures/parse/logfmt.log").lines() {
        assert!(logfmt::parse(line, received()).is_some(), "{line}");
    }
}
