//! Which service is the culprit: the window's flagged services and the horizons' findings,
//! ranked by how strongly the evidence points at each.
//!
//! Every finding weighs its surprise, the orders of magnitude of its probability under the
//! usual behaviour (`p = 1e-9` weighs 9), capped at [`SURPRISE_CAP`] so that one overwhelming
//! finding cannot outweigh several independent ones, and shared among the services it points
//! at (a caller's error that names its callee, an error in a trace whose first failure was
//! elsewhere). A service's score is the sum of its shares. Services in the same band of
//! scores ([`SCORE_BAND`] wide) are ordered by onset: once the evidence for two services is
//! overwhelming for both, as in a cascade, the one that began failing first is the root cause,
//! and its dependents follow it.

use super::horizons::Anomaly;
use super::signals::Assessment;
use super::stats::surprise;
use super::{Culprit, narrate};
use crate::condense::Digest;

/// The most one finding weighs, in orders of magnitude of surprise.
pub const SURPRISE_CAP: f64 = 20.0;
/// Scores this close count as equally strong, and onset decides.
const SCORE_BAND: f64 = 10.0;
/// Findings quoted per culprit.
const EVIDENCE_QUOTED: usize = 3;

/// Marks the window's templates of the error families the horizons found with the finding's
/// signal, where the window alone flagged nothing, so reports and incidents list them.
pub fn mark_templates(digest: &Digest, assessments: &mut [Assessment], anomalies: &[Anomaly]) {
    for anomaly in anomalies {
        let Some(family) = anomaly.family else {
            continue;
        };
        for (a, stat) in assessments.iter_mut().zip(&digest.templates) {
            let bad = stat.levels.errors() + stat.levels.get(crate::Level::Warn) > 0;
            if a.signal.is_none() && bad && stat.family == family {
                a.signal = Some(anomaly.signal);
            }
        }
    }
}

/// Adds the horizons' findings to the window's culprits and puts them in order.
pub fn rank(mut culprits: Vec<Culprit>, anomalies: &[Anomaly], digest: &Digest) -> Vec<Culprit> {
    for anomaly in anomalies {
        let weight = surprise(anomaly.p, SURPRISE_CAP);
        for (service, share) in &anomaly.services {
            add(&mut culprits, service, anomaly, weight * share, digest);
        }
    }
    for culprit in &mut culprits {
        culprit
            .evidence
            .sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        culprit.evidence.truncate(EVIDENCE_QUOTED);
    }
    culprits.sort_by(|a, b| {
        band(b.score)
            .total_cmp(&band(a.score))
            .then_with(|| a.onset.cmp(&b.onset))
            .then_with(|| b.score.total_cmp(&a.score))
            .then_with(|| a.service.cmp(&b.service))
    });
    culprits
}

fn band(score: f64) -> f64 {
    (score / SCORE_BAND).floor()
}

fn add(
    culprits: &mut Vec<Culprit>,
    service: &str,
    anomaly: &Anomaly,
    weight: f64,
    digest: &Digest,
) {
    let evidence = (weight, narrate::anomaly_evidence(anomaly));
    if let Some(c) = culprits.iter_mut().find(|c| c.service == service) {
        c.score += weight;
        c.onset = c.onset.min(anomaly.onset);
        c.evidence.push(evidence);
        return;
    }
    // The window's template of the finding's family from this service, if it holds one.
    let template = anomaly.family.and_then(|family| {
        digest.templates.iter().position(|stat| {
            stat.family == family && stat.services.iter().any(|(s, _)| s == service)
        })
    });
    let lines = template.map_or(0, |i| {
        let stat = &digest.templates[i];
        stat.services
            .iter()
            .find(|(s, _)| s == service)
            .map_or(0, |(_, n)| *n)
    });
    culprits.push(Culprit {
        service: service.to_owned(),
        onset: anomaly.onset,
        lines,
        excess: 0.0,
        template,
        template_text: template.map_or_else(
            || anomaly.template.clone(),
            |i| digest.templates[i].template.clone(),
        ),
        signal: anomaly.signal,
        score: weight,
        evidence: vec![evidence],
    });
}
