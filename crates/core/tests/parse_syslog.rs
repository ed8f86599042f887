//! Syslog lines, RFC 5424 and RFC 3164.

use ic_core::Level;
use ic_core::parse::syslog;

mod common;
use common::{check, received};

#[test]
fn rfc5424_and_rfc3164() {
    check(
        syslog::parse,
        &[
            (
                r#"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application"] An application event"#,
                "2003-10-11T22:14:15.003Z",
                Level::Info,
                "evntslog",
                "An application event",
                "exampleSDID@32473.eventSource=Application exampleSDID@32473.iut=3 host=mymachine.example.com msgid=ID47",
            ),
            (
                "<34>1 2024-05-02T10:15:00.123+02:00 db-2 postgres 812 - - connection limit exceeded",
                "2024-05-02T08:15:00.123Z",
                Level::Fatal,
                "postgres",
                "connection limit exceeded",
                "host=db-2 pid=812",
            ),
            (
                r#"<11>1 - - - - - [meta note="a \"quoted\] value"] upstream timed out"#,
                "2024-05-02T12:00:00Z",
                Level::Error,
                "",
                "upstream timed out",
                r#"meta.note=a "quoted] value"#,
            ),
            (
                "<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick",
                "2023-10-11T22:14:15Z",
                Level::Fatal,
                "su",
                "'su root' failed for lonvick",
                "host=mymachine",
            ),
            (
                "<86>May  2 10:15:00 web-1 sudo[4242]: pam_unix(sudo:session): session opened",
                "2024-05-02T10:15:00Z",
                Level::Info,
                "sudo",
                "pam_unix(sudo:session): session opened",
                "host=web-1 pid=4242",
            ),
            (
                "Jun 14 15:16:01 combo sshd(pam_unix)[19939]: authentication failure; logname= uid=0 \r\n",
                "2023-06-14T15:16:01Z",
                Level::Info,
                "sshd(pam_unix)",
                "authentication failure; logname= uid=0",
                "host=combo pid=19939",
            ),
            (
                "Dec 10 06:55:46 LabSZ sshd[24200]: Invalid user webmaster from 173.234.31.186",
                "2023-12-10T06:55:46Z",
                Level::Info,
                "sshd",
                "Invalid user webmaster from 173.234.31.186",
                "host=LabSZ pid=24200",
            ),
            (
                "May  3 11:00:00 web-1 cron[1]: a day ahead is still this year",
                "2024-05-03T11:00:00Z",
                Level::Info,
                "cron",
                "a day ahead is still this year",
                "host=web-1 pid=1",
            ),
        ],
    );
}

#[test]
fn not_syslog() {
    for line in [
        "",
        "hello world",
        "Jun 14 is a date",
        "<34>",
        "2024-05-02 10:15:00 INFO x",
    ] {
        assert!(syslog::parse(line, received()).is_none(), "{line:?}");
    }
}

#[test]
fn fixture_lines_all_parse() {
    for line in include_str!("fixtures/parse/syslog.log").lines() {
        let event = syslog::parse(line, received()).unwrap_or_else(|| panic!("{line}"));
        assert!(!event.service.is_empty(), "{line}");
    }
}
