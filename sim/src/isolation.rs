//! Isolation metrics over per-model normalized goodputs N(m) = G_shared / G_alone
//! (definitions in `docs/metrics.md`): the isolation gap max N - min N, the
//! worst-off model min N, Jain's index, the disparity ratio max N / min N,
//! and system throughput STP = sum N.

use serde::Serialize;

/// Isolation metrics of one run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Isolation {
    /// max N - min N (0: perfect isolation).
    pub isolation_gap: f64,
    /// Jain's fairness index over N: (sum N)^2 / (n sum N^2).
    pub jain: f64,
    /// min N: the worst-off model.
    pub min_normalized_goodput: f64,
    /// max N / min N (infinite, written as null, when a model gets nothing).
    pub disparity: f64,
    /// sum N.
    pub stp: f64,
    /// Number of models the metrics are over (those with a positive G_alone).
    pub isolation_models: usize,
}

impl Isolation {
    /// Metrics over the given normalized goodputs (models without one, because
    /// their isolated goodput is 0, are left out). `None` if there are none.
    pub fn from_normalized(ns: impl IntoIterator<Item = Option<f64>>) -> Option<Isolation> {
        let v: Vec<f64> = ns.into_iter().flatten().collect();
        if v.is_empty() {
            return None;
        }
        let max = v.iter().copied().fold(f64::MIN, f64::max);
        let min = v.iter().copied().fold(f64::MAX, f64::min);
        let sum: f64 = v.iter().sum();
        let sq: f64 = v.iter().map(|x| x * x).sum();
        Some(Isolation {
            isolation_gap: max - min,
            jain: if sq > 0.0 {
                sum * sum / (v.len() as f64 * sq)
            } else {
                1.0
            },
            min_normalized_goodput: min,
            disparity: if min > 0.0 { max / min } else { f64::INFINITY },
            stp: sum,
            isolation_models: v.len(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed() {
        let m = Isolation::from_normalized([Some(1.0), Some(0.5), None, Some(0.75)]).unwrap();
        assert_eq!(m.isolation_gap, 0.5);
        assert_eq!(m.min_normalized_goodput, 0.5);
        assert_eq!(m.disparity, 2.0);
        assert_eq!(m.stp, 2.25);
        assert_eq!(m.isolation_models, 3);
        // (2.25)^2 / (3 * (1 + 0.25 + 0.5625)) = 5.0625 / 5.4375
        assert!((m.jain - 5.0625 / 5.4375).abs() < 1e-12);
    }

    #[test]
    fn equal_shares_are_perfectly_fair_and_zero_is_infinite_disparity() {
        let m = Isolation::from_normalized([Some(0.6); 4]).unwrap();
        assert_eq!(m.isolation_gap, 0.0);
        assert!((m.jain - 1.0).abs() < 1e-12);
        let z = Isolation::from_normalized([Some(0.0), Some(1.0)]).unwrap();
        assert!(z.disparity.is_infinite());
        assert!(Isolation::from_normalized([None]).is_none());
    }
}
