//! A finding must stand before it is reported: the `for` clause of an alerting rule.
//!
//! Each test is held to one in a million, but real counts are overdispersed (requests come in
//! bursts, a retry doubles a line), so a finding that flickers on for one judgment and is gone
//! the next is mostly that noise. Alerting rules have long answered this with a pending state
//! (Prometheus' `for:` clause; the SRE Workbook's "Alerting on SLOs" weighs the detection time
//! this costs against the precision it buys): a finding is reported once it has been found
//! again and again for [`HorizonConfig::hold`]. Thin faults flicker too, between the lines
//! that carry their evidence, so a finding that is missing from a judgment keeps its standing
//! for up to [`HorizonConfig::hold_gap`].

use std::collections::HashMap;

use super::{Anomaly, HorizonConfig};
use crate::analyze::Signal;

/// A finding, as far as standing goes: what it says about which template of which service.
type Key = (Signal, String, String);

/// Since when each finding has stood, and when it was last found.
#[derive(Debug, Default)]
pub(super) struct Hold {
    standing: HashMap<Key, (i64, i64)>,
}

impl Hold {
    /// Keeps in `found` (judged at second `now`) the findings that have stood long enough.
    /// Findings not seen for longer than the gap are forgotten, so the table holds no more
    /// than what the last gap found.
    pub(super) fn confirm(&mut self, now: i64, config: &HorizonConfig, found: &mut Vec<Anomaly>) {
        let hold = config.hold.as_secs() as i64;
        let gap = config.hold_gap.as_secs() as i64;
        self.standing.retain(|_, (_, last)| now - *last <= gap);
        found.retain(|anomaly| {
            let since = self.standing.entry(key(anomaly)).or_insert((now, now));
            since.1 = now;
            now - since.0 >= hold
        });
    }
}

fn key(anomaly: &Anomaly) -> Key {
    let service = anomaly.services.first().map(|(s, _)| s.clone());
    (
        anomaly.signal,
        anomaly.template.clone(),
        service.unwrap_or_default(),
    )
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;

    use super::*;

    fn finding(service: &str) -> Anomaly {
        Anomaly {
            signal: Signal::New,
            services: vec![(service.to_owned(), 1.0)],
            template: "payment declined <*>".to_owned(),
            family: None,
            observed: 9.0,
            expected: 0.1,
            horizon: 30,
            p: 1e-9,
            onset: DateTime::UNIX_EPOCH,
            detail: String::new(),
        }
    }

    /// What `confirm` keeps at each second, when `found` says which seconds find it.
    fn kept(found: impl Fn(i64) -> bool) -> Vec<i64> {
        let config = HorizonConfig::default();
        let mut hold = Hold::default();
        let mut reported = Vec::new();
        for now in 0..120 {
            let mut anomalies = if found(now) {
                vec![finding("billing")]
            } else {
                vec![]
            };
            hold.confirm(now, &config, &mut anomalies);
            if !anomalies.is_empty() {
                reported.push(now);
            }
        }
        reported
    }

    #[test]
    fn a_finding_is_reported_once_it_has_stood_for_the_hold() {
        let reported = kept(|now| now >= 10);
        assert_eq!(reported.first(), Some(&30));
        assert_eq!(reported.len(), 90);
    }

    #[test]
    fn a_flicker_is_never_reported() {
        // Found for five seconds every minute: each time gone longer than the gap.
        assert!(kept(|now| now % 60 < 5).is_empty());
    }

    #[test]
    fn thin_evidence_keeps_standing_across_short_gaps() {
        // Found one second in ten, as a thin fault's few lines a minute are.
        assert_eq!(kept(|now| now % 10 == 0).first(), Some(&20));
    }

    #[test]
    fn each_service_stands_on_its_own() {
        let config = HorizonConfig::default();
        let mut hold = Hold::default();
        for now in 0..20 {
            hold.confirm(now, &config, &mut vec![finding("billing")]);
        }
        let mut both = vec![finding("billing"), finding("orders")];
        hold.confirm(20, &config, &mut both);
        assert_eq!(both.len(), 1);
        assert_eq!(both[0].services[0].0, "billing");
    }
}
