//! A report as one line of JSON, written straight into a byte buffer.
//!
//! The bytes are exactly those `serde_json` writes for a [`Report`] (the tests hold the two
//! together), at a fraction of the cost: `serde_json` checks strings a byte at a time and
//! formats each timestamp through `fmt` a character at a time, and a replayed file with sparse
//! timestamps prints a report every few lines. Numbers with a fraction and enums still go
//! through `serde_json`, so their spelling cannot drift from it.

use chrono::{DateTime, Datelike, Timelike, Utc};
use ic_core::Report;
use ic_core::report::{Candidate, ReportTemplate, RootCause, WindowSummary};
use serde::Serialize;

/// Appends `report` as JSON (without a newline) to `out`.
pub fn write_report(out: &mut Vec<u8>, report: &Report) {
    // No `..`: a field added to `Report` does not compile until it is written here.
    let Report {
        title,
        severity,
        impacted_services,
        summary,
        noise_reduction_ratio,
        window,
        root_cause,
        templates,
        analyzer,
        llm,
    } = report;
    let mut object = Object::open(out);
    string(object.key("title"), title);
    value(object.key("severity"), severity);
    strings(object.key("impacted_services"), impacted_services);
    string(object.key("summary"), summary);
    value(object.key("noise_reduction_ratio"), noise_reduction_ratio);
    write_window(object.key("window"), window);
    match root_cause {
        Some(root) => write_root_cause(object.key("root_cause"), root),
        None => object.key("root_cause").extend_from_slice(b"null"),
    }
    let list = object.key("templates");
    list.push(b'[');
    for (i, template) in templates.iter().enumerate() {
        if i > 0 {
            list.push(b',');
        }
        write_template(list, template);
    }
    list.push(b']');
    string(object.key("analyzer"), analyzer);
    // `skip_serializing_if = "Option::is_none"`, as on the field.
    if let Some(llm) = llm {
        value(object.key("llm"), llm);
    }
    object.close();
}

fn write_window(out: &mut Vec<u8>, window: &WindowSummary) {
    let WindowSummary {
        seq,
        start,
        end,
        log_count,
        flush,
    } = window;
    let mut object = Object::open(out);
    integer(object.key("seq"), *seq);
    timestamp(object.key("start"), start);
    timestamp(object.key("end"), end);
    integer(object.key("log_count"), u64::from(*log_count));
    value(object.key("flush"), flush);
    object.close();
}

fn write_root_cause(out: &mut Vec<u8>, root: &RootCause) {
    let RootCause {
        service,
        template,
        candidates,
    } = root;
    let mut object = Object::open(out);
    string(object.key("service"), service);
    string(object.key("template"), template);
    // `skip_serializing_if = "Vec::is_empty"`, as on the field.
    if !candidates.is_empty() {
        let list = object.key("candidates");
        list.push(b'[');
        for (i, candidate) in candidates.iter().enumerate() {
            if i > 0 {
                list.push(b',');
            }
            write_candidate(list, candidate);
        }
        list.push(b']');
    }
    object.close();
}

fn write_candidate(out: &mut Vec<u8>, candidate: &Candidate) {
    let Candidate {
        service,
        score,
        evidence,
    } = candidate;
    let mut object = Object::open(out);
    string(object.key("service"), service);
    value(object.key("score"), score);
    strings(object.key("evidence"), evidence);
    object.close();
}

fn write_template(out: &mut Vec<u8>, template: &ReportTemplate) {
    let ReportTemplate {
        id,
        template,
        count,
        level,
        services,
        signal,
    } = template;
    let mut object = Object::open(out);
    string(object.key("id"), id);
    string(object.key("template"), template);
    integer(object.key("count"), u64::from(*count));
    value(object.key("level"), level);
    strings(object.key("services"), services);
    // `skip_serializing_if = "Option::is_none"`, as on the field.
    if let Some(signal) = signal {
        string(object.key("signal"), signal);
    }
    object.close();
}

/// A JSON object being written: puts the commas between its members.
struct Object<'a> {
    out: &'a mut Vec<u8>,
    empty: bool,
}

impl<'a> Object<'a> {
    fn open(out: &'a mut Vec<u8>) -> Self {
        out.push(b'{');
        Object { out, empty: true }
    }

    /// Writes the member's key (a Rust field name: nothing to escape); its value goes next.
    fn key(&mut self, name: &str) -> &mut Vec<u8> {
        if !self.empty {
            self.out.push(b',');
        }
        self.empty = false;
        self.out.push(b'"');
        self.out.extend_from_slice(name.as_bytes());
        self.out.extend_from_slice(b"\":");
        self.out
    }

    fn close(self) {
        self.out.push(b'}');
    }
}

/// Anything else, as `serde_json` writes it.
fn value(out: &mut Vec<u8>, value: &impl Serialize) {
    serde_json::to_writer(out, value).expect("report values serialize and a Vec takes any bytes");
}

fn integer(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[start..]);
}

fn strings(out: &mut Vec<u8>, list: &[String]) {
    out.push(b'[');
    for (i, text) in list.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        string(out, text);
    }
    out.push(b']');
}

/// How `serde_json` escapes each byte: 0 for none, the letter of a short escape, or `u` for
/// `\u00XX`. Only control characters, `"` and `\` are escaped; other text is copied as is.
const ESCAPE: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut byte = 0;
    while byte < 0x20 {
        table[byte] = b'u';
        byte += 1;
    }
    table[0x08] = b'b';
    table[0x09] = b't';
    table[0x0a] = b'n';
    table[0x0c] = b'f';
    table[0x0d] = b'r';
    table[b'"' as usize] = b'"';
    table[b'\\' as usize] = b'\\';
    table
};

/// A JSON string. Most text (ids, names, templates) has nothing to escape and is copied whole
/// after one check eight bytes at a time.
fn string(out: &mut Vec<u8>, text: &str) {
    let bytes = text.as_bytes();
    out.push(b'"');
    if has_escape(bytes) {
        escaped(out, bytes);
    } else {
        out.extend_from_slice(bytes);
    }
    out.push(b'"');
}

/// Whether any byte of `bytes` needs an escape.
fn has_escape(bytes: &[u8]) -> bool {
    let mut words = bytes.chunks_exact(8);
    words.any(|word| any_escape(u64::from_le_bytes(word.try_into().expect("eight bytes"))))
        || any_escape(short_word(words.remainder()))
}

/// Up to seven bytes packed in a word by overlapping reads, so that every byte of the word is
/// one of them (and [`any_escape`] stays exact) without a byte-by-byte loop; a space (which
/// needs no escape) for none.
fn short_word(rest: &[u8]) -> u64 {
    let n = rest.len();
    let half = match n {
        0 => u32::from_le_bytes([b' '; 4]),
        1..=3 => u32::from_le_bytes([rest[0], rest[n / 2], rest[n - 1], rest[0]]),
        _ => {
            let low = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]);
            let high = u32::from_le_bytes([rest[n - 4], rest[n - 3], rest[n - 2], rest[n - 1]]);
            return u64::from(low) | u64::from(high) << 32;
        }
    };
    u64::from(half) | u64::from(half) << 32
}

/// The bytes of a string that has something to escape: runs that need no escape are copied
/// whole.
fn escaped(out: &mut Vec<u8>, bytes: &[u8]) {
    let mut run = 0;
    let mut i = 0;
    while i < bytes.len() {
        // Most text has nothing to escape: skip it eight bytes at a time.
        if let Some(word) = bytes.get(i..i + 8)
            && !any_escape(u64::from_le_bytes(word.try_into().expect("eight bytes")))
        {
            i += 8;
            continue;
        }
        let byte = bytes[i];
        let escape = ESCAPE[usize::from(byte)];
        if escape != 0 {
            out.extend_from_slice(&bytes[run..i]);
            run = i + 1;
            write_escape(out, byte, escape);
        }
        i += 1;
    }
    out.extend_from_slice(&bytes[run..]);
}

/// Whether any of the eight bytes packed in `word` is below 0x20, `"` or `\` (the classic
/// "has zero byte" and "has byte less than" tests, exact for whether any byte matches).
fn any_escape(word: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let below = |v: u64, n: u8| v.wrapping_sub(ONES * u64::from(n)) & !v & HIGH;
    let control = below(word, 0x20);
    let quote = below(word ^ (ONES * u64::from(b'"')), 1);
    let backslash = below(word ^ (ONES * u64::from(b'\\')), 1);
    control | quote | backslash != 0
}

/// Writes `byte` escaped, as its [`ESCAPE`] entry says.
fn write_escape(out: &mut Vec<u8>, byte: u8, escape: u8) {
    match escape {
        b'u' => {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(byte >> 4)]);
            out.push(HEX[usize::from(byte & 0xf)]);
        }
        letter => out.extend_from_slice(&[b'\\', letter]),
    }
}

/// A timestamp as chrono serializes it: RFC 3339 in UTC with a `Z`, and as many digits of
/// fraction as the nanoseconds need (none, 3, 6 or 9). Years beyond four digits and leap
/// seconds, which never come from a parsed log line, are left to chrono.
fn timestamp(out: &mut Vec<u8>, at: &DateTime<Utc>) {
    let (date, time) = (at.date_naive(), at.time());
    let nanos = time.nanosecond();
    let Ok(year) = u32::try_from(date.year()) else {
        return value(out, at);
    };
    if year > 9999 || nanos >= 1_000_000_000 {
        return value(out, at);
    }
    let mut text = *b"\"0000-00-00T00:00:00";
    pad(&mut text[1..5], year);
    pad(&mut text[6..8], date.month());
    pad(&mut text[9..11], date.day());
    pad(&mut text[12..14], time.hour());
    pad(&mut text[15..17], time.minute());
    pad(&mut text[18..20], time.second());
    out.extend_from_slice(&text);
    let fraction = match nanos {
        0 => None,
        n if n % 1_000_000 == 0 => Some((n / 1_000_000, 3)),
        n if n % 1_000 == 0 => Some((n / 1_000, 6)),
        n => Some((n, 9)),
    };
    if let Some((n, width)) = fraction {
        let mut digits = [b'.'; 10];
        pad(&mut digits[1..=width], n);
        out.extend_from_slice(&digits[..=width]);
    }
    out.extend_from_slice(b"Z\"");
}

/// Writes `n` into `slot` in decimal, padded with zeros to the slot's width.
fn pad(slot: &mut [u8], mut n: u32) {
    for digit in slot.iter_mut().rev() {
        *digit = b'0' + (n % 10) as u8;
        n /= 10;
    }
}

#[cfg(test)]
mod tests {
    use chrono::{NaiveDate, TimeZone};
    use ic_core::report::LlmUsage;
    use ic_core::{FlushReason, Level, Severity};

    use super::*;

    fn written(report: &Report) -> String {
        let mut out = Vec::new();
        write_report(&mut out, report);
        String::from_utf8(out).expect("JSON is UTF-8")
    }

    fn at(secs: i64, nanos: u32) -> DateTime<Utc> {
        Utc.timestamp_opt(secs, nanos).unwrap()
    }

    /// Every byte that needs an escape, and some that do not.
    const AWKWARD: &str = "a\"b\\c/d\u{0}\u{1}\u{8}\t\n\u{b}\u{c}\r\u{1f}\u{7f} é → 🚀 <*>";

    fn report(variant: usize) -> Report {
        let template = |signal: Option<&str>| ReportTemplate {
            id: "T12".into(),
            template: format!("Pool {AWKWARD} exhausted <*>"),
            count: 70,
            level: Level::Error,
            services: vec!["inventory-db".into(), AWKWARD.into()],
            signal: signal.map(str::to_owned),
        };
        Report {
            title: format!("inventory-db failing: {AWKWARD}"),
            severity: [Severity::Info, Severity::Warning, Severity::Critical][variant % 3],
            impacted_services: (0..variant).map(|i| format!("svc-{i}")).collect(),
            summary: "70 of 100 lines (70%) are ERROR …".into(),
            noise_reduction_ratio: [6.7, 25.0, 1.0, 1e21, f64::NAN][variant % 5],
            window: WindowSummary {
                seq: [1, u64::MAX][variant % 2],
                start: at(1_700_000_000, 0),
                end: at(1_700_000_004, 811_000_000),
                log_count: [0, u32::MAX, 100][variant % 3],
                flush: [FlushReason::Size, FlushReason::Time, FlushReason::End][variant % 3],
            },
            root_cause: (!variant.is_multiple_of(2)).then(|| RootCause {
                service: "inventory-db".into(),
                template: AWKWARD.into(),
                candidates: (0..variant / 2)
                    .map(|i| Candidate {
                        service: format!("svc-{i}"),
                        score: [12.5, 0.0, 40.0][i % 3],
                        evidence: vec![AWKWARD.into(), "new error".into()],
                    })
                    .collect(),
            }),
            templates: (0..variant)
                .map(|i| template(i.is_multiple_of(2).then_some("storm")))
                .collect(),
            analyzer: "builtin".into(),
            llm: variant.is_multiple_of(2).then_some(LlmUsage {
                prompt_tokens: 1200,
                completion_tokens: 80,
            }),
        }
    }

    #[test]
    fn reports_are_written_as_serde_json_writes_them() {
        for variant in 0..6 {
            let report = report(variant);
            let expected = serde_json::to_string(&report).unwrap();
            assert_eq!(written(&report), expected, "variant {variant}");
        }
    }

    #[test]
    fn timestamps_are_written_as_chrono_serializes_them() {
        let far = |year| {
            NaiveDate::from_ymd_opt(year, 12, 31)
                .unwrap()
                .and_hms_nano_opt(23, 59, 59, 5)
                .unwrap()
                .and_utc()
        };
        let leap = NaiveDate::from_ymd_opt(2016, 12, 31)
            .unwrap()
            .and_hms_nano_opt(23, 59, 59, 1_500_000_000)
            .unwrap()
            .and_utc();
        let mut times = vec![far(-1), far(0), far(9999), far(10_000), leap];
        for secs in [0, 1, 59, 86_399, 951_782_400, 1_700_000_000, 4_102_444_799] {
            for nanos in [
                0,
                1,
                999,
                1_000,
                120_000,
                1_000_000,
                811_000_000,
                999_999_999,
            ] {
                times.push(at(secs, nanos));
            }
        }
        for time in times {
            let mut out = Vec::new();
            timestamp(&mut out, &time);
            let expected = serde_json::to_string(&time).unwrap();
            assert_eq!(String::from_utf8(out).unwrap(), expected, "{time:?}");
        }
    }

    #[test]
    fn every_byte_is_escaped_as_serde_json_escapes_it() {
        // At every offset of an eight-byte word, and with more text after it.
        for c in (0..=0x7f_u8).map(char::from).chain(['é', '→', '🚀']) {
            for before in 0..9 {
                for after in [0, 1, 7, 8, 13] {
                    let text = format!("{}{c}{}", "x".repeat(before), "é".repeat(after));
                    let mut out = Vec::new();
                    string(&mut out, &text);
                    let expected = serde_json::to_string(&text).unwrap();
                    assert_eq!(String::from_utf8(out).unwrap(), expected, "{text:?}");
                }
            }
        }
    }
}
