//! Recurring silences: Alertmanager's time intervals (weekdays and times of day), in UTC or in
//! the time zone their `location` names.
//!
//! `{"weekdays": ["saturday", "monday:friday"], "times": [{"startTime": "22:00", "endTime":
//! "24:00"}], "location": "Europe/Berlin"}` mutes on the weekdays listed, in the times listed,
//! as the clocks of that zone show them; a list left out or empty means every day, or all day.
//! A time range ends before its end (`24:00` is the end of the day) and does not cross
//! midnight: a night window is two ranges, or two weekdays. As in Alertmanager, the local time
//! decides across daylight-saving changes: `02:00`–`04:00` is two hours of local time, so an
//! hour shorter on the night the clocks go forward.

use std::fmt;

use chrono::{DateTime, Datelike, Timelike, Utc, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// When a silence mutes, between its start and its end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Schedule {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub weekdays: Vec<WeekdayRange>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub times: Vec<TimeRange>,
    /// The time zone its weekdays and times are in; UTC when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
}

/// Ranges a schedule may list, of each kind.
const MAX_RANGES: usize = 32;

impl Schedule {
    /// A schedule must say something, and its time ranges must be ranges.
    pub fn validate(&self) -> Result<(), String> {
        if self.weekdays.is_empty() && self.times.is_empty() {
            return Err("give weekdays, times or both (or no schedule at all)".to_owned());
        }
        if self.weekdays.len() > MAX_RANGES || self.times.len() > MAX_RANGES {
            return Err(format!(
                "at most {MAX_RANGES} weekday and {MAX_RANGES} time ranges"
            ));
        }
        for range in &self.times {
            if range.start_minute() >= range.end_minute() {
                return Err(format!(
                    "time range {}–{} ends before it starts; split a range across midnight in two",
                    range.start_time, range.end_time
                ));
            }
        }
        Ok(())
    }

    /// Whether `at` falls on a listed weekday and in a listed time of day, where the schedule's
    /// clocks are.
    pub fn contains(&self, at: DateTime<Utc>) -> bool {
        let (day, minute) = match self.location {
            Some(Location(zone)) => local(at.with_timezone(&zone)),
            None => local(at),
        };
        let day_ok = self.weekdays.is_empty() || self.weekdays.iter().any(|r| r.contains(day));
        let time_ok = self.times.is_empty()
            || self
                .times
                .iter()
                .any(|r| (r.start_minute()..r.end_minute()).contains(&minute));
        day_ok && time_ok
    }
}

/// The weekday and the minute of the day a clock shows.
fn local(at: impl Datelike + Timelike) -> (Weekday, u32) {
    (at.weekday(), at.hour() * 60 + at.minute())
}

/// A time zone of the IANA database, by its name: `"Europe/Berlin"`, `"America/New_York"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Location(pub Tz);

impl TryFrom<String> for Location {
    type Error = String;

    fn try_from(name: String) -> Result<Self, String> {
        name.parse::<Tz>().map(Location).map_err(|_| {
            format!(
                "{name:?} is not a time zone; write an IANA name such as Europe/Berlin, \
                 America/New_York or UTC"
            )
        })
    }
}

impl From<Location> for String {
    fn from(location: Location) -> String {
        location.0.name().to_owned()
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.name())
    }
}

/// `"monday"` or `"monday:friday"` (a range may wrap: `"saturday:monday"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct WeekdayRange {
    pub first: Weekday,
    pub last: Weekday,
}

impl WeekdayRange {
    fn contains(self, day: Weekday) -> bool {
        let (first, last, day) = (
            self.first.num_days_from_monday(),
            self.last.num_days_from_monday(),
            day.num_days_from_monday(),
        );
        if first <= last {
            (first..=last).contains(&day)
        } else {
            day >= first || day <= last
        }
    }
}

impl TryFrom<String> for WeekdayRange {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        let day = |name: &str| {
            name.trim().parse::<Weekday>().map_err(|_| {
                format!("{name:?} is not a weekday; write monday, tuesday, … or monday:friday")
            })
        };
        let (first, last) = match text.split_once(':') {
            Some((first, last)) => (day(first)?, day(last)?),
            None => (day(&text)?, day(&text)?),
        };
        Ok(WeekdayRange { first, last })
    }
}

impl From<WeekdayRange> for String {
    fn from(range: WeekdayRange) -> String {
        range.to_string()
    }
}

impl fmt::Display for WeekdayRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = |day: Weekday| match day {
            Weekday::Mon => "monday",
            Weekday::Tue => "tuesday",
            Weekday::Wed => "wednesday",
            Weekday::Thu => "thursday",
            Weekday::Fri => "friday",
            Weekday::Sat => "saturday",
            Weekday::Sun => "sunday",
        };
        if self.first == self.last {
            f.write_str(name(self.first))
        } else {
            write!(f, "{}:{}", name(self.first), name(self.last))
        }
    }
}

/// `{"startTime": "22:00", "endTime": "24:00"}`, in the schedule's time zone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TimeRange {
    pub start_time: TimeOfDay,
    pub end_time: TimeOfDay,
}

impl TimeRange {
    fn start_minute(&self) -> u32 {
        self.start_time.0
    }

    fn end_minute(&self) -> u32 {
        self.end_time.0
    }
}

/// `HH:MM`, from `00:00` to `24:00`, as minutes since midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TimeOfDay(u32);

impl TryFrom<String> for TimeOfDay {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        let invalid = || format!("{text:?} is not a time of day; write HH:MM, 00:00 to 24:00");
        let (hours, minutes) = text.split_once(':').ok_or_else(invalid)?;
        let number = |s: &str| {
            (s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit()))
                .then(|| s.parse::<u32>().ok())
                .flatten()
        };
        let (Some(hours), Some(minutes)) = (number(hours), number(minutes)) else {
            return Err(invalid());
        };
        let minute = hours * 60 + minutes;
        if minutes >= 60 || minute > 24 * 60 {
            return Err(invalid());
        }
        Ok(TimeOfDay(minute))
    }
}

impl From<TimeOfDay> for String {
    fn from(time: TimeOfDay) -> String {
        time.to_string()
    }
}

impl fmt::Display for TimeOfDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.0 / 60, self.0 % 60)
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn schedule(json: &str) -> Schedule {
        serde_json::from_str(json).unwrap()
    }

    fn at(day: u32, hour: u32, minute: u32) -> DateTime<Utc> {
        // 2026-11-30 is a Monday.
        Utc.with_ymd_and_hms(2026, 11, 30, hour, minute, 0).unwrap()
            + chrono::TimeDelta::days(i64::from(day) - 1)
    }

    #[test]
    fn weekdays_and_times_both_hold() {
        let s = schedule(
            r#"{"weekdays": ["monday:wednesday"], "times": [{"startTime": "22:00", "endTime": "24:00"}]}"#,
        );
        s.validate().unwrap();
        assert!(s.contains(at(1, 22, 0)));
        assert!(s.contains(at(3, 23, 59)));
        assert!(!s.contains(at(1, 21, 59)), "before the range");
        assert!(!s.contains(at(4, 22, 30)), "Thursday");
    }

    #[test]
    fn a_weekday_range_may_wrap_over_the_week_end() {
        let s = schedule(r#"{"weekdays": ["saturday:monday"]}"#);
        assert!(s.contains(at(1, 12, 0)));
        assert!(!s.contains(at(2, 12, 0)));
        assert!(s.contains(Utc.with_ymd_and_hms(2026, 12, 6, 3, 0, 0).unwrap()));
    }

    #[test]
    fn round_trips_in_alertmanager_notation() {
        let text = r#"{"weekdays":["saturday","monday:friday"],"times":[{"startTime":"09:30","endTime":"17:00"}]}"#;
        assert_eq!(serde_json::to_string(&schedule(text)).unwrap(), text);
        let zoned =
            r#"{"times":[{"startTime":"09:30","endTime":"17:00"}],"location":"America/New_York"}"#;
        assert_eq!(serde_json::to_string(&schedule(zoned)).unwrap(), zoned);
    }

    #[test]
    fn a_location_puts_the_times_on_its_clocks() {
        // Saturday 02:00–04:00 in Berlin: 01:00–03:00 UTC in winter (CET, UTC+1)…
        let s = schedule(
            r#"{"weekdays": ["saturday"], "times": [{"startTime": "02:00", "endTime": "04:00"}],
                "location": "Europe/Berlin"}"#,
        );
        s.validate().unwrap();
        let utc = |m, d, h, min| Utc.with_ymd_and_hms(2026, m, d, h, min, 0).unwrap();
        assert!(s.contains(utc(12, 5, 1, 0)));
        assert!(s.contains(utc(12, 5, 2, 59)));
        assert!(!s.contains(utc(12, 5, 3, 0)), "04:00 in Berlin");
        assert!(!s.contains(utc(12, 5, 0, 59)), "01:59 in Berlin");
        // …and 00:00–02:00 UTC in summer (CEST, UTC+2).
        assert!(s.contains(utc(7, 4, 0, 0)));
        assert!(!s.contains(utc(7, 4, 2, 0)));
        // The weekday is Berlin's too: Friday 23:30 UTC is already Saturday 00:30 there.
        let all_saturday = schedule(r#"{"weekdays": ["saturday"], "location": "Europe/Berlin"}"#);
        assert!(all_saturday.contains(utc(12, 4, 23, 30)));
        assert!(
            !all_saturday.contains(utc(12, 5, 23, 30)),
            "Sunday 00:30 there"
        );
    }

    #[test]
    fn across_a_clock_change_the_local_time_decides() {
        // On 2026-03-29 Berlin's clocks go from 02:00 to 03:00: of 02:00–04:00 local, only
        // 03:00–04:00 happens, which is 01:00–02:00 UTC.
        let s = schedule(
            r#"{"times": [{"startTime": "02:00", "endTime": "04:00"}], "location": "Europe/Berlin"}"#,
        );
        let utc = |h, min| Utc.with_ymd_and_hms(2026, 3, 29, h, min, 0).unwrap();
        assert!(!s.contains(utc(0, 59)), "01:59 CET");
        assert!(s.contains(utc(1, 0)), "03:00 CEST");
        assert!(s.contains(utc(1, 59)));
        assert!(!s.contains(utc(2, 0)), "04:00 CEST");
    }

    #[test]
    fn refuses_what_is_not_a_schedule() {
        for bad in [
            r#"{"weekdays": ["funday"]}"#,
            r#"{"times": [{"startTime": "9:00", "endTime": "10:00"}]}"#,
            r#"{"times": [{"startTime": "23:00", "endTime": "24:01"}]}"#,
            r#"{"times": [{"startTime": "10:60", "endTime": "11:00"}]}"#,
            r#"{"days": ["monday"]}"#,
            r#"{"weekdays": ["monday"], "location": "Mars/Olympus_Mons"}"#,
        ] {
            assert!(
                serde_json::from_str::<Schedule>(bad).is_err(),
                "{bad} was taken"
            );
        }
        let backwards = schedule(r#"{"times": [{"startTime": "23:00", "endTime": "01:00"}]}"#);
        assert!(backwards.validate().unwrap_err().contains("midnight"));
        assert!(schedule("{}").validate().is_err());
    }
}
