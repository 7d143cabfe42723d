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
    /// Per size: the least arrival rate at which [`ModelCurve::fits`] holds
    /// (NaN where it never does), found once so that `batch_index` compares
    /// instead of dividing (exact: the test is monotone in the rate), and
    /// the GPU seconds per request, exec(b) / b. One array, read together.
    steps: Vec<(f64, f64)>,
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
        let mut c = ModelCurve {
            sizes,
            exec_s,
            budget_s,
            cap_rps,
            steps: Vec::new(),
        };
        c.steps = (0..c.sizes.len())
            .map(|i| (c.least_rate(i), c.exec_s[i] / c.sizes[i] as f64))
            .collect();
        c
    }

    /// Whether a batch of `sizes[i]` fills at `rate_rps` and runs within the
    /// budget: (b - 1) / rate + exec(b) <= budget.
    fn fits(&self, i: usize, rate_rps: f64) -> bool {
        let b = self.sizes[i];
        let fill = if b > 1 {
            if rate_rps > 0.0 {
                (b - 1) as f64 / rate_rps
            } else {
                f64::INFINITY
            }
        } else {
            0.0
        };
        fill + self.exec_s[i] <= self.budget_s
    }

    /// The least positive rate at which `fits(i, _)` holds, NaN if none.
    /// For a positive rate the test only turns from false to true as the
    /// rate grows (rounded division and addition are monotone), and positive
    /// floats are ordered as their bit patterns: a bisection over the bits.
    fn least_rate(&self, i: usize) -> f64 {
        let (mut lo, mut hi) = (0u64, f64::INFINITY.to_bits());
        if !self.fits(i, f64::INFINITY) {
            return f64::NAN;
        }
        // fits(lo) is false (or lo is 0), fits(hi) is true.
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if self.fits(i, f64::from_bits(mid)) {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        f64::from_bits(hi)
    }

    /// Effective throughput requirement at arrival rate `rate_rps`.
    pub fn etr(&self, rate_rps: f64) -> f64 {
        rate_rps.min(self.cap_rps)
    }

    /// Index into `sizes` of the batch the model would use at `rate_rps`: the
    /// largest b whose fill time (b-1)/rate plus exec(b) fits the budget.
    /// (Only the first size can be 1; the others fit from their least rate
    /// on, and no rate that is not positive reaches one.)
    pub fn batch_index(&self, rate_rps: f64) -> usize {
        let mut best = 0;
        for (i, &(t, _)) in self.steps.iter().enumerate().skip(1) {
            if rate_rps >= t {
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
        self.steps[self.batch_index(rate_rps)].1
    }

    /// GPU seconds per second needed to serve `rate_rps`.
    pub fn need(&self, rate_rps: f64) -> f64 {
        self.need_at(rate_rps, self.batch_index(rate_rps))
    }

    /// `need(rate_rps)` when `batch_index(rate_rps)` is `i` (the batch index
    /// never falls as the rate grows).
    pub fn need_at(&self, rate_rps: f64, i: usize) -> f64 {
        rate_rps * self.steps[i].1
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
        ModelProfile::for_tests(
            vec![1, 2, 4, 8],
            vec![10_000_000, 16_000_000, 24_000_000, 40_000_000],
        )
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
    fn batch_index_is_the_direct_test_at_every_rate() {
        // The direct definition: the last size whose test holds (0 if none).
        let direct =
            |c: &ModelCurve, r: f64| (0..c.sizes.len()).rfind(|&i| c.fits(i, r)).unwrap_or(0);
        let odd = ModelProfile::for_tests(
            vec![2, 3, 7, 8, 64],
            vec![3_000_001, 3_000_002, 9_999_999, 10_000_000, 29_999_999],
        );
        for (p, slo) in [
            (prof(), 60_000_000),
            (prof(), 15_000_000),
            (odd, 61_234_567),
        ] {
            let c = ModelCurve::new(&p, slo, 0.5);
            let mut rates = vec![0.0, -1.0, f64::NAN, f64::INFINITY, f64::MAX, 1e-300];
            for &(t, _) in c.steps.iter().filter(|s| s.0.is_finite()) {
                // Each threshold and its neighbouring floats.
                let b = t.to_bits();
                rates.extend([f64::from_bits(b - 1), t, f64::from_bits(b + 1)]);
            }
            let mut x = 0.37;
            for _ in 0..2000 {
                rates.push(x);
                x *= 1.013;
            }
            for r in rates {
                assert_eq!(c.batch_index(r), direct(&c, r), "rate {r}");
            }
        }
    }

    #[test]
    fn ewma_weights_the_new_value() {
        assert_eq!(ewma(10.0, 20.0, 0.25), 12.5);
        assert_eq!(ewma(10.0, 20.0, 1.0), 20.0);
    }
}
