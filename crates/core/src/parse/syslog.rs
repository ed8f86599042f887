//! Syslog lines, RFC 5424 and RFC 3164, read with the `syslog_loose` crate.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveTime, Utc};
use syslog_loose::{IncompleteDate, Message, Variant};

use super::{timestamp, trim_line_end};
use crate::event::{Level, LogEvent};

/// Parses a syslog line; `None` if it is not one.
///
/// RFC 5424 (`<165>1 2003-10-11T22:14:15.003Z host app 42 ID47 [sd@1 k="v"] message`) and
/// RFC 3164 with or without its `<PRI>` (`Jun 14 15:16:01 combo sshd(pam_unix)[19939]: …`).
/// The app name or tag is the service and the severity the level (Info without a `<PRI>`).
/// The host, process id and message id become the attributes `host`, `pid` and `msgid`, and
/// each structured-data parameter an attribute `ID.NAME`. A 3164 date has no year: it is
/// `received`'s, or the year before if that would date the event more than a day after its
/// arrival. Times without a zone are UTC.
pub fn parse(line: &str, received: DateTime<Utc>) -> Option<LogEvent> {
    let line = trim_line_end(line);
    let variant = if is_rfc5424(line) {
        Variant::RFC5424
    } else {
        Variant::RFC3164
    };
    let year = move |(month, day, h, m, s): IncompleteDate| {
        let time = NaiveTime::from_hms_opt(h, m, s).unwrap_or_default();
        timestamp::year_for(month, day, time, received)
    };
    let message =
        syslog_loose::parse_message_with_year_exact_tz(line, year, Some(Utc), variant).ok()?;
    Some(event(message, received))
}

/// Whether a line starts with `<PRI>` and a version number, as only RFC 5424 does.
pub(crate) fn is_rfc5424(line: &str) -> bool {
    let Some(after_pri) = pri_len(line).map(|len| &line[len..]) else {
        return false;
    };
    let version = after_pri.bytes().take_while(u8::is_ascii_digit).count();
    (1..=2).contains(&version) && after_pri.as_bytes().get(version) == Some(&b' ')
}

/// The length of a leading `<PRI>` (one to three digits in angle brackets).
pub(crate) fn pri_len(line: &str) -> Option<usize> {
    let rest = line.strip_prefix('<')?;
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    ((1..=3).contains(&digits) && rest.as_bytes().get(digits) == Some(&b'>')).then_some(digits + 2)
}

fn event(message: Message<&str>, received: DateTime<Utc>) -> LogEvent {
    let mut attributes = BTreeMap::new();
    if let Some(host) = message.hostname {
        attributes.insert("host".to_owned(), host.to_owned());
    }
    if let Some(pid) = &message.procid {
        attributes.insert("pid".to_owned(), pid.to_string());
    }
    if let Some(msgid) = message.msgid {
        attributes.insert("msgid".to_owned(), msgid.to_owned());
    }
    for element in &message.structured_data {
        if element.params.is_empty() {
            attributes.insert(element.id.to_owned(), String::new());
        }
        for (name, value) in element.params() {
            attributes.insert(format!("{}.{name}", element.id), value);
        }
    }
    LogEvent {
        timestamp: message.timestamp.map_or(received, |t| t.to_utc()),
        service: message.appname.unwrap_or_default().to_owned(),
        level: message
            .severity
            .map_or(Level::Info, |s| Level::from_syslog_severity(s as u8)),
        message: message.msg.to_owned(),
        attributes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pri_and_version() {
        assert_eq!(pri_len("<34>Oct"), Some(4));
        assert_eq!(pri_len("<1>x"), Some(3));
        assert_eq!(pri_len("<1234>x"), None);
        assert_eq!(pri_len("<>x"), None);
        assert!(is_rfc5424("<165>1 2003-10-11T22:14:15.003Z"));
        assert!(!is_rfc5424("<34>Oct 11 22:14:15"));
        assert!(!is_rfc5424("<34>1"));
    }
}
