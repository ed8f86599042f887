//! Timestamp shapes found at the start of log lines and in structured fields.
//!
//! Every shape is read byte by byte: lines arrive by the million, and a general date parser
//! (or a regex) per line would cost more than the rest of parsing together.
//!
//! Times written without a zone are taken as UTC. Shapes without a year (`Jun 14 15:16:01`,
//! `03-17 16:13:38.811`) take it from the time the line was received, or the year before when
//! that would put the event more than a day after its arrival; shapes without a date
//! (`16:13:38.811`) take the date the same way.

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, Utc};

/// How far ahead of its arrival an event may be dated before its inferred year (or day) is
/// taken as the previous one: clocks drift, but logs do not come from the future.
const MAX_AHEAD: TimeDelta = TimeDelta::days(1);

/// How far ahead of its arrival a time of day may be before it is taken as yesterday's:
/// more than clock drift, less than the hours a replayed file is usually behind.
const MAX_AHEAD_TIME_ONLY: TimeDelta = TimeDelta::hours(1);

/// Reads a timestamp at the start of `text`; returns it with the number of bytes it spans.
///
/// The shapes are those of real logs: ISO 8601 dates with a `T`, space, `-` or `_` before the
/// time and a `.`, `,` or `:` before the fraction (`2015-10-18 18:01:47,978`,
/// `2005-06-03-15.42.50.675872`, `2016/9/27 20:30:31`), compact dates (`20171223-22:15:29:606`,
/// `081109 203615`), `yy/MM/dd HH:mm:ss`, month and day only (`03-17 16:13:38.811`,
/// `Jun 14 15:16:01`), ctime (`Sun Dec 04 04:47:44 2005`), a time of day only, and epoch
/// seconds, milliseconds, microseconds or nanoseconds followed by whitespace.
pub(crate) fn leading(text: &str, received: DateTime<Utc>) -> Option<(DateTime<Utc>, usize)> {
    let bytes = text.as_bytes();
    let first = *bytes.first()?;
    if first.is_ascii_alphabetic() {
        return named_month(text, received);
    }
    if !first.is_ascii_digit() {
        return None;
    }
    let digits = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
    match (digits, bytes.get(digits)) {
        (4, Some(b'-' | b'/' | b'.')) => iso(text),
        (8, Some(b'-' | b'T' | b' ')) => compact_date(text),
        (6, Some(b' ')) => yymmdd_hhmmss(text),
        (2, Some(b'/')) => yy_mm_dd(text),
        (2, Some(b'-')) => month_day(text, received),
        (1 | 2, Some(b':')) => time_only(text, received),
        (10 | 13 | 16 | 19, Some(b'.' | b' ' | b'\t')) => epoch_leading(text),
        _ => None,
    }
}

/// Reads a field value that is a timestamp and nothing else: any shape [`leading`] knows, or
/// a number of epoch seconds, milliseconds, microseconds or nanoseconds (told apart by size).
/// Numbers below 10^8 (before March 1973 as seconds) are durations or counters, not times.
pub(crate) fn parse_text(text: &str, received: DateTime<Utc>) -> Option<DateTime<Utc>> {
    const SMALLEST_EPOCH: DateTime<Utc> = DateTime::from_timestamp_nanos(100_000_000_000_000_000);
    let text = text.trim();
    if let Some(at) = epoch(text) {
        return (at >= SMALLEST_EPOCH).then_some(at);
    }
    let (at, len) = leading(text, received)?;
    (len == text.len()).then_some(at)
}

/// The year of a date written without one, as [`leading`] infers it (syslog's get-year hook).
pub(crate) fn year_for(month: u32, day: u32, time: NaiveTime, received: DateTime<Utc>) -> i32 {
    with_inferred_year(month, day, time, received).map_or(received.year(), |at| at.year())
}

/// Reads the klog/glog date and time (`0101 12:00:00.123456`) at the start of `text`.
pub(crate) fn month_day_compact(
    text: &str,
    received: DateTime<Utc>,
) -> Option<(DateTime<Utc>, usize)> {
    let mut c = Cursor::new(text);
    let month = c.fixed(2)?;
    let day = c.fixed(2)?;
    c.expect(b' ')?;
    let time = c.time(b":")?;
    c.finish(with_inferred_year(month, day, time, received)?)
}

/// A date of `received`'s year, or of the year before if that is too far in the future.
fn with_inferred_year(
    month: u32,
    day: u32,
    time: NaiveTime,
    received: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let year = received.year();
    let this_year = NaiveDate::from_ymd_opt(year, month, day).map(|d| d.and_time(time).and_utc());
    match this_year {
        Some(at) if at <= received + MAX_AHEAD => Some(at),
        _ => NaiveDate::from_ymd_opt(year - 1, month, day).map(|d| d.and_time(time).and_utc()),
    }
}

/// `2015-10-18 18:01:47,978`, `2024-01-01T12:00:00.5+02:00`, `2009/11/10 23:00:00`,
/// `2005-06-03-15.42.50.675872`.
fn iso(text: &str) -> Option<(DateTime<Utc>, usize)> {
    let mut c = Cursor::new(text);
    let year = c.fixed(4)?;
    let sep = c.one_of(b"-/.")?;
    let month = c.one_or_two()?;
    c.expect(sep)?;
    let day = c.one_or_two()?;
    c.one_of(b"T -_")?;
    let time = c.time(b":.")?;
    let offset = c.zone();
    let date = NaiveDate::from_ymd_opt(year as i32, month, day)?;
    c.finish(to_utc(date.and_time(time), offset))
}

/// A local time `offset` seconds east of UTC, as UTC. Most stamps are in UTC already, and
/// subtracting a zero offset would still pay for chrono's overflow checks.
fn to_utc(local: NaiveDateTime, offset: i32) -> DateTime<Utc> {
    match offset {
        0 => local.and_utc(),
        _ => local.and_utc() - TimeDelta::seconds(offset.into()),
    }
}

/// `20171223-22:15:29:606`, `20240101T120000Z`.
fn compact_date(text: &str) -> Option<(DateTime<Utc>, usize)> {
    let mut c = Cursor::new(text);
    let year = c.fixed(4)?;
    let month = c.fixed(2)?;
    let day = c.fixed(2)?;
    c.one_of(b"-T ")?;
    let time = if c.peek_at(1) == Some(b':') || c.peek_at(2) == Some(b':') {
        c.time(b":")?
    } else {
        let (h, m, s) = (c.fixed(2)?, c.fixed(2)?, c.fixed(2)?);
        let nanos = c.fraction(b".,");
        NaiveTime::from_hms_nano_opt(h, m, s, nanos)?
    };
    let offset = c.zone();
    let date = NaiveDate::from_ymd_opt(year as i32, month, day)?;
    c.finish(to_utc(date.and_time(time), offset))
}

/// `081109 203615` (HDFS's `yyMMdd HHmmss`).
fn yymmdd_hhmmss(text: &str) -> Option<(DateTime<Utc>, usize)> {
    let mut c = Cursor::new(text);
    let (yy, month, day) = (c.fixed(2)?, c.fixed(2)?, c.fixed(2)?);
    c.expect(b' ')?;
    let (h, m, s) = (c.fixed(2)?, c.fixed(2)?, c.fixed(2)?);
    let date = NaiveDate::from_ymd_opt(century(yy), month, day)?;
    c.finish(date.and_hms_opt(h, m, s)?.and_utc())
}

/// `17/06/09 20:10:40`: log4j's `yy/MM/dd`, the order Spark and Hadoop tools write. (A US
/// `MM/dd/yy` date cannot be told apart from it, and is read the same way.)
fn yy_mm_dd(text: &str) -> Option<(DateTime<Utc>, usize)> {
    let mut c = Cursor::new(text);
    let yy = c.fixed(2)?;
    c.expect(b'/')?;
    let month = c.fixed(2)?;
    c.expect(b'/')?;
    let day = c.fixed(2)?;
    c.expect(b' ')?;
    let time = c.time(b":")?;
    let date = NaiveDate::from_ymd_opt(century(yy), month, day)?;
    c.finish(date.and_time(time).and_utc())
}

/// `03-17 16:13:38.811` (Android's logcat): no year.
fn month_day(text: &str, received: DateTime<Utc>) -> Option<(DateTime<Utc>, usize)> {
    let mut c = Cursor::new(text);
    let month = c.fixed(2)?;
    c.expect(b'-')?;
    let day = c.fixed(2)?;
    c.expect(b' ')?;
    let time = c.time(b":")?;
    c.finish(with_inferred_year(month, day, time, received)?)
}

/// `16:13:38.811`: the date is the day the line was received, or the day before.
fn time_only(text: &str, received: DateTime<Utc>) -> Option<(DateTime<Utc>, usize)> {
    let mut c = Cursor::new(text);
    let time = c.time(b":")?;
    let at = received.date_naive().and_time(time).and_utc();
    let at = if at > received + MAX_AHEAD_TIME_ONLY {
        at - TimeDelta::days(1)
    } else {
        at
    };
    c.finish(at)
}

/// `Jun 14 15:16:01`, `Jul  4 19:16:01 2005`, `Sun Dec 04 04:47:44 2005`,
/// `Tue Jun 08 11:54:08.929301 2021`.
fn named_month(text: &str, received: DateTime<Utc>) -> Option<(DateTime<Utc>, usize)> {
    let mut c = Cursor::new(text);
    let word = c.word3()?;
    let weekday = WEEKDAYS.iter().any(|w| w.eq_ignore_ascii_case(word));
    let month = if weekday {
        c.expect(b' ')?;
        month_number(c.word3()?)?
    } else {
        month_number(word)?
    };
    c.expect(b' ')?;
    c.spaces();
    let day = c.one_or_two()?;
    c.expect(b' ')?;
    let time = c.time(b":")?;
    let year = c.year_after_space();
    let at = match year {
        Some(year) => NaiveDate::from_ymd_opt(year, month, day)?
            .and_time(time)
            .and_utc(),
        None => with_inferred_year(month, day, time, received)?,
    };
    c.finish(at)
}

/// `1117838570`, `1117838570.675`, `1700000000123` (milliseconds), … followed by whitespace.
fn epoch_leading(text: &str) -> Option<(DateTime<Utc>, usize)> {
    let len = text
        .bytes()
        .position(|b| !(b.is_ascii_digit() || b == b'.'))
        .unwrap_or(text.len());
    if !text[len..].starts_with([' ', '\t']) {
        return None;
    }
    epoch(&text[..len]).map(|at| (at, len))
}

/// A non-negative number of epoch seconds, milliseconds, microseconds or nanoseconds, told
/// apart by size: below 10^11 it is seconds (up to the year 5138), below 10^14 milliseconds,
/// below 10^17 microseconds, else nanoseconds. A fraction is allowed.
fn epoch(text: &str) -> Option<DateTime<Utc>> {
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if int.is_empty() || int.len() > 19 || !all_digits(int) || !all_digits(frac) {
        return None;
    }
    let whole: i128 = int.parse().ok()?;
    let unit: i128 = match whole {
        0..100_000_000_000 => 1_000_000_000,
        100_000_000_000..100_000_000_000_000 => 1_000_000,
        100_000_000_000_000..100_000_000_000_000_000 => 1_000,
        _ => 1,
    };
    let frac = &frac[..frac.len().min(9)];
    let frac_nanos = if frac.is_empty() {
        0
    } else {
        frac.parse::<i128>().ok()? * unit / 10i128.pow(frac.len() as u32)
    };
    let nanos = whole * unit + frac_nanos;
    let secs = i64::try_from(nanos.div_euclid(1_000_000_000)).ok()?;
    DateTime::from_timestamp(secs, nanos.rem_euclid(1_000_000_000) as u32)
}

/// Two-digit years: 70–99 are the 1900s, the rest the 2000s.
fn century(yy: u32) -> i32 {
    if yy >= 70 {
        1900 + yy as i32
    } else {
        2000 + yy as i32
    }
}

const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// The month (1–12) of a three-letter English name, any case.
pub(crate) fn month_number(word: &str) -> Option<u32> {
    MONTHS
        .iter()
        .position(|m| m.eq_ignore_ascii_case(word))
        .map(|i| i as u32 + 1)
}

/// A position in ASCII text; every reader returns `None` without moving when the bytes do not
/// match, so shapes compose as plain sequences of `?`.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn new(text: &'a str) -> Self {
        Self {
            bytes: text.as_bytes(),
            pos: 0,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn peek_at(&self, ahead: usize) -> Option<u8> {
        self.bytes.get(self.pos + ahead).copied()
    }

    fn expect(&mut self, byte: u8) -> Option<()> {
        (self.peek() == Some(byte)).then(|| self.pos += 1)
    }

    fn one_of(&mut self, set: &[u8]) -> Option<u8> {
        let byte = self.peek().filter(|b| set.contains(b))?;
        self.pos += 1;
        Some(byte)
    }

    fn spaces(&mut self) {
        while self.peek() == Some(b' ') {
            self.pos += 1;
        }
    }

    /// Exactly `n` ASCII digits, as a number.
    fn fixed(&mut self, n: usize) -> Option<u32> {
        let digits = self.bytes.get(self.pos..self.pos + n)?;
        let mut value = 0;
        for &b in digits {
            if !b.is_ascii_digit() {
                return None;
            }
            value = value * 10 + u32::from(b - b'0');
        }
        self.pos += n;
        Some(value)
    }

    /// One or two digits: days, months and hours are not always zero-padded.
    fn one_or_two(&mut self) -> Option<u32> {
        let two = self.peek_at(1).is_some_and(|b| b.is_ascii_digit());
        self.fixed(if two { 2 } else { 1 })
    }

    /// Three ASCII letters (a month or weekday name).
    fn word3(&mut self) -> Option<&'a str> {
        let word = self.bytes.get(self.pos..self.pos + 3)?;
        if !word.iter().all(u8::is_ascii_alphabetic) {
            return None;
        }
        self.pos += 3;
        std::str::from_utf8(word).ok()
    }

    /// `HH:MM:SS` with an optional fraction; `seps` are the separators allowed between the
    /// fields (the same one must be used twice).
    fn time(&mut self, seps: &[u8]) -> Option<NaiveTime> {
        // Hours, minutes and seconds are not always zero-padded (`0:0:0:215`).
        let h = self.one_or_two()?;
        let sep = self.one_of(seps)?;
        let m = self.one_or_two()?;
        self.expect(sep)?;
        let s = self.one_or_two()?;
        // HealthApp writes milliseconds after a colon; a dotted time cannot also use one.
        let fraction_seps: &[u8] = if sep == b':' { b".,:" } else { b".," };
        let nanos = self.fraction(fraction_seps);
        NaiveTime::from_hms_nano_opt(h, m, s, nanos)
    }

    /// A fraction of a second after one of `seps`, in nanoseconds; 0 when absent. Digits
    /// past the ninth are read and dropped.
    fn fraction(&mut self, seps: &[u8]) -> u32 {
        let starts = self.peek().is_some_and(|b| seps.contains(&b))
            && self.peek_at(1).is_some_and(|b| b.is_ascii_digit());
        if !starts {
            return 0;
        }
        self.pos += 1;
        let mut nanos = 0;
        let mut scale = 100_000_000;
        while let Some(b) = self.peek().filter(u8::is_ascii_digit) {
            nanos += u32::from(b - b'0') * scale;
            scale /= 10;
            self.pos += 1;
        }
        nanos
    }

    /// `Z`, `+02:00`, `-0700` or `+02` right after the time, in seconds east of UTC; 0 when
    /// absent.
    fn zone(&mut self) -> i32 {
        match self.peek() {
            Some(b'Z' | b'z') => {
                self.pos += 1;
                0
            }
            Some(sign @ (b'+' | b'-')) => {
                let start = self.pos;
                self.pos += 1;
                let Some(hours) = self.fixed(2) else {
                    self.pos = start;
                    return 0;
                };
                let colon = self.expect(b':').is_some();
                let minutes = match self.fixed(2) {
                    Some(m) => m,
                    None if colon => {
                        self.pos = start;
                        return 0;
                    }
                    None => 0,
                };
                let seconds = (hours * 3600 + minutes * 60) as i32;
                if sign == b'-' { -seconds } else { seconds }
            }
            _ => 0,
        }
    }

    /// ` 2005` after a ctime or syslog time.
    fn year_after_space(&mut self) -> Option<i32> {
        if self.peek() != Some(b' ') {
            return None;
        }
        let start = self.pos;
        self.pos += 1;
        match self.fixed(4) {
            Some(year) if self.peek().is_none_or(|b| !b.is_ascii_alphanumeric()) => {
                Some(year as i32)
            }
            _ => {
                self.pos = start;
                None
            }
        }
    }

    /// The timestamp, if it ends at a word boundary (`12:00:00x` is not a time).
    fn finish(&self, at: DateTime<Utc>) -> Option<(DateTime<Utc>, usize)> {
        self.peek()
            .is_none_or(|b| !b.is_ascii_alphanumeric())
            .then_some((at, self.pos))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn received() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 3, 20, 12, 0, 0).unwrap()
    }

    fn at(text: &str) -> String {
        leading(text, received())
            .map(|(t, len)| format!("{} {len}", t.format("%Y-%m-%dT%H:%M:%S%.f")))
            .unwrap_or_default()
    }

    #[test]
    fn leading_shapes() {
        for (text, expected) in [
            ("2015-10-18 18:01:47,978 INFO", "2015-10-18T18:01:47.978 23"),
            ("2016-09-28 04:30:30, Info", "2016-09-28T04:30:30 19"),
            (
                "2024-01-01T12:00:00.5+02:00 x",
                "2024-01-01T10:00:00.500 27",
            ),
            ("2024-01-01T12:00:00-0700", "2024-01-01T19:00:00 24"),
            (
                "2005-06-03-15.42.50.675872 R02",
                "2005-06-03T15:42:50.675872 26",
            ),
            ("2009/11/10 23:00:00 hi", "2009-11-10T23:00:00 19"),
            ("20171223-22:15:29:606|Step", "2017-12-23T22:15:29.606 21"),
            ("20240101T120000Z", "2024-01-01T12:00:00 16"),
            ("081109 203615 148 INFO", "2008-11-09T20:36:15 13"),
            ("17/06/09 20:10:40 INFO", "2017-06-09T20:10:40 17"),
            ("03-17 16:13:38.811  1702", "2024-03-17T16:13:38.811 18"),
            ("12-31 23:59:59.000 x", "2023-12-31T23:59:59 18"),
            ("Jun 14 15:16:01 combo", "2023-06-14T15:16:01 15"),
            ("Jul  4 19:16:01 combo", "2023-07-04T19:16:01 15"),
            ("Mar 20 11:00:00 host", "2024-03-20T11:00:00 15"),
            ("Sun Dec 04 04:47:44 2005]", "2005-12-04T04:47:44 24"),
            (
                "Tue Jun 08 11:54:08.929301 2021] x",
                "2021-06-08T11:54:08.929301 31",
            ),
            ("11:00:01.250 [main]", "2024-03-20T11:00:01.250 12"),
            ("23:00:00 late", "2024-03-19T23:00:00 8"),
            ("1117838570 2005.06.03", "2005-06-03T22:42:50 10"),
            ("1700000000123 x", "2023-11-14T22:13:20.123 13"),
        ] {
            assert_eq!(at(text), expected, "{text}");
        }
    }

    #[test]
    fn not_timestamps() {
        for text in [
            "",
            "hello",
            "2015-10-18",
            "2015-13-18 18:01:47",
            "2015-10-18 25:01:47",
            "12:00:00x",
            "134681 node-246",
            "1.2.3",
            "June 14 15:16:01",
            "Foo Dec 04 04:47:44 2005",
            "1117838570",
        ] {
            assert_eq!(at(text), "", "{text:?}");
        }
    }

    #[test]
    fn field_values() {
        let parse = |text| parse_text(text, received()).map(|t| t.timestamp_nanos_opt().unwrap());
        assert_eq!(parse("1700000000"), Some(1_700_000_000_000_000_000));
        assert_eq!(parse("1700000000.25"), Some(1_700_000_000_250_000_000));
        assert_eq!(parse("1700000000123"), Some(1_700_000_000_123_000_000));
        assert_eq!(parse("1700000000123456"), Some(1_700_000_000_123_456_000));
        assert_eq!(
            parse("1700000000123456789"),
            Some(1_700_000_000_123_456_789)
        );
        assert_eq!(
            parse("2023-11-14T22:13:20Z"),
            Some(1_700_000_000_000_000_000)
        );
        assert_eq!(parse("2023-11-14T22:13:20Z trailing"), None);
        assert_eq!(parse("-5"), None);
        assert_eq!(parse("12.5"), None);
        assert_eq!(parse("99999999999999999999"), None);
    }

    #[test]
    fn year_is_inferred_backwards() {
        let time = NaiveTime::from_hms_opt(0, 0, 0).unwrap();
        assert_eq!(year_for(3, 21, time, received()), 2024);
        assert_eq!(year_for(3, 22, time, received()), 2023);
        assert_eq!(year_for(12, 31, time, received()), 2023);
    }
}
