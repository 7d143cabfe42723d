//! InferFair's per-model estimates (pure functions): the SLO-feasible batch
//! sizes, the effective throughput requirement ETR (the arrival rate capped by
//! what the model alone could serve within its SLO), the batch size the model
//! would use at a given rate, and the GPU time per second that rate needs.

use crate::profile::ModelProfile;
use crate::time::Nanos;

/// What InferFair precomputes of a model from its profile and SLO.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelCurve {
    /// Allowed batch sizes whose execution fits in `slo_fraction` of the SLO
    /// (at least the smallest batch size).
    pub sizes: Vec<u32>,
    /// Their execution times (seconds).
    pub exec_s: Vec<f64>,
    /// Time budget for filling and running a batch: `slo_fraction` * SLO (seconds).
    pub budget_s: f64,
    /// Largest SLO-feasible throughput alone: max over `sizes` of b / exec(b) (req/s).
    pub cap_rps: f64,
}

impl ModelCurve {
    /// The curve of a model with the given SLO; `slo_fraction` is the share of
    /// the SLO that filling and executing a batch may take (the rest is queueing room).
    pub fn new(p: &ModelProfile, slo: Nanos, slo_fraction: f64) -> Self {
        let budget_s = slo as f64 * 1e-9 * slo_fraction;
        let mut sizes = Vec::new();
        let mut exec_s = Vec::new();
        for (&b, &e) in p.batch_sizes.iter().zip(&p.exec_ns) {
            let e = e as f64 * 1e-9;
            if e <= budget_s || sizes.is_empty() {
                sizes.push(b);
                exec_s.push(e);
            }
        }
        let cap_rps = sizes
            .iter()
            .zip(&exec_s)
            .map(|(&b, &e)| b as f64 / e)
            .fold(0.0, f64::max);
        ModelCurve {
            sizes,
            exec_s,
            budget_s,
            cap_rps,
        }
    }

    /// Effective throughput requirement at arrival rate `rate_rps`.
    pub fn etr(&self, rate_rps: f64) -> f64 {
        rate_rps.min(self.cap_rps)
    }

    /// Index into `sizes` of the batch the model would use at `rate_rps`: the
    /// largest b whose fill time (b-1)/rate plus exec(b) fits the budget.
    pub fn batch_index(&self, rate_rps: f64) -> usize {
        let mut best = 0;
        for (i, (&b, &e)) in self.sizes.iter().zip(&self.exec_s).enumerate() {
            let fill = if b > 1 {
                if rate_rps > 0.0 {
                    (b - 1) as f64 / rate_rps
                } else {
                    f64::INFINITY
                }
            } else {
                0.0
            };
            if fill + e <= self.budget_s {
                best = i;
            }
        }
        best
    }

    /// The batch size the model would use at `rate_rps`.
    pub fn batch(&self, rate_rps: f64) -> u32 {
        self.sizes[self.batch_index(rate_rps)]
    }

    /// GPU seconds per request at `rate_rps`: exec(b) / b for that rate's batch.
    pub fn cost(&self, rate_rps: f64) -> f64 {
        let i = self.batch_index(rate_rps);
        self.exec_s[i] / self.sizes[i] as f64
    }

    /// GPU seconds per second needed to serve `rate_rps`.
    pub fn need(&self, rate_rps: f64) -> f64 {
        rate_rps * self.cost(rate_rps)
    }

    /// Execution time of the smallest batch (seconds).
    pub fn min_exec_s(&self) -> f64 {
        self.exec_s[0]
    }
}

/// Exponentially weighted moving average: `weight` on the new value.
pub fn ewma(old: f64, new: f64, weight: f64) -> f64 {
    weight * new + (1.0 - weight) * old
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prof() -> ModelProfile {
        // b1 10 ms, b2 16 ms, b4 24 ms, b8 40 ms.
        ModelProfile {
            name: "m".into(),
            batch_sizes: vec![1, 2, 4, 8],
            exec_ns: vec![10_000_000, 16_000_000, 24_000_000, 40_000_000],
            util: vec![1.0; 4],
            weights_bytes: 1,
            load_ns: 1,
            gflops: None,
        }
    }

    #[test]
    fn cap_uses_only_slo_feasible_batches() {
        // SLO 60 ms, half of it for the batch: b8 (40 ms) is not feasible; best is b4: 4/24ms = 166.7/s.
        let c = ModelCurve::new(&prof(), 60_000_000, 0.5);
        assert_eq!(c.sizes, vec![1, 2, 4]);
        assert!((c.cap_rps - 4.0 / 0.024).abs() < 1e-9);
        assert_eq!(c.etr(100.0), 100.0);
        assert!((c.etr(500.0) - 4.0 / 0.024).abs() < 1e-9);
        // A tight SLO keeps the smallest batch even if it does not fit the budget.
        let t = ModelCurve::new(&prof(), 15_000_000, 0.5);
        assert_eq!(t.sizes, vec![1]);
        assert!((t.cap_rps - 100.0).abs() < 1e-9);
    }

    #[test]
    fn batch_grows_with_rate() {
        let c = ModelCurve::new(&prof(), 60_000_000, 0.5); // budget 30 ms
        // At 10/s, filling a batch of 2 takes 100 ms: batch 1.
        assert_eq!(c.batch(10.0), 1);
        // At 200/s: b2 fill 5 ms + 16 = 21 ms ok; b4 fill 15 ms + 24 = 39 > 30: batch 2.
        assert_eq!(c.batch(200.0), 2);
        // At 1000/s: b4 fill 3 ms + 24 = 27 ms ok.
        assert_eq!(c.batch(1000.0), 4);
        assert!((c.cost(1000.0) - 0.006).abs() < 1e-12);
        assert!((c.need(1000.0) - 6.0).abs() < 1e-9);
        assert!((c.need(10.0) - 0.1).abs() < 1e-12);
    }

    #[test]
    fn ewma_weights_the_new_value() {
        assert_eq!(ewma(10.0, 20.0, 0.25), 12.5);
        assert_eq!(ewma(10.0, 20.0, 1.0), 20.0);
    }
}
