//! How severe an advisory is: from its CVSS vector, scored by the `cvss` crate (RustSec's,
//! versions 2, 3 and 4), or `unknown` when the record carries none (most PyPA records). An
//! unknown severity ranks with high ones: it is shown, held to the high-severity deadline,
//! and never patched without a human's approval.

use super::osv::SeverityVector;
use std::str::FromStr;

pub use crate::domain::Severity;

impl Severity {
    /// The severity of the vectors a record gives (the most severe one that scores), with
    /// its base score; unknown when none scores.
    pub fn of_vectors(vectors: &[&SeverityVector]) -> (Severity, Option<f64>) {
        vectors
            .iter()
            .map(|v| v.score.trim())
            .filter(|v| complete(v))
            .filter_map(|v| cvss::Cvss::from_str(v).ok())
            .map(|c| c.score())
            .filter(|s| s.is_finite())
            .max_by(f64::total_cmp)
            .map_or((Severity::Unknown, None), |s| (Self::of_score(s), Some(s)))
    }
}

/// A CVSS 3 vector names every base metric (the `cvss` crate checks this for versions 2 and
/// 4, not 3: `CVSS:3.1/AV:N` would score 0, below a record that gives no vector at all).
fn complete(vector: &str) -> bool {
    if !vector.starts_with("CVSS:3") {
        return true;
    }
    let named: Vec<&str> = vector
        .split('/')
        .skip(1)
        .filter_map(|m| m.split_once(':').map(|(k, _)| k))
        .collect();
    ["AV", "AC", "PR", "UI", "S", "C", "I", "A"]
        .iter()
        .all(|k| named.contains(k))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vector(s: &str) -> SeverityVector {
        SeverityVector {
            kind: "CVSS_V3".into(),
            score: s.into(),
        }
    }

    #[test]
    fn vectors_are_scored_and_a_record_without_one_is_unknown() {
        let crit = vector("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H");
        let low = vector("CVSS:3.1/AV:L/AC:L/PR:L/UI:R/S:U/C:L/I:N/A:N");
        let (s, score) = Severity::of_vectors(&[&low, &crit]);
        assert_eq!(s, Severity::Critical);
        assert_eq!(score, Some(9.8));
        let (s, score) = Severity::of_vectors(&[&low]);
        // by hand: impact 6.42 × 0.22 = 1.41, exploitability 8.22 × 0.55 × 0.77 × 0.62 × 0.62
        // = 1.34, rounded up: 2.8
        assert_eq!((s, score), (Severity::Low, Some(2.8)));
        assert_eq!(
            Severity::of_vectors(&[&vector("not a vector")]),
            (Severity::Unknown, None)
        );
        // a vector missing base metrics says nothing: unknown, not "none"
        assert_eq!(
            Severity::of_vectors(&[&vector("CVSS:3.1/AV:N")]),
            (Severity::Unknown, None)
        );
        assert!(Severity::Unknown.ranks_at_least(Severity::High));
        assert!(!Severity::Unknown.ranks_at_least(Severity::Critical));
        assert_eq!(Severity::from_name("medium"), Some(Severity::Medium));
    }
}
