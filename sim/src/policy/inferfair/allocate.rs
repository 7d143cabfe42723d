//! InferFair's allocation of GPU time (pure functions). Each model has an
//! effective throughput requirement (ETR) and a cost curve; capacity is in GPU
//! seconds per second. When all demands fit, each model gets its demand and
//! the surplus is shared in proportion to demand. Otherwise:
//! - equal degradation: water-filling for one fraction f of every model's
//!   ETR, with the cost of serving f*ETR (smaller batches at lower rates);
//! - throughput-maximizing: the cheapest GPU time per request first;
//! - the fairness knob blends the two (1 = equal degradation);
//! - `proportional` tilts equal degradation toward the small demands
//!   (α-fairness with α = 1 / `proportional`).
//!
//! Every model keeps at least its floor (a minimum share). With a
//! `guarantee` g > 0, equal degradation does not take a model below g times
//! its max-min fair share of GPU time (each model min(demand, λ), the level
//! λ filling the capacity): a model whose whole demand is small next to its
//! fair share is not degraded for the others' load, and the models that
//! exceed their fair share share what is left at one fraction of their ETR.

/// One model's input to the allocation.
pub trait Demand {
    /// The effective throughput requirement (req/s).
    fn etr(&self) -> f64;
    /// GPU seconds per second needed to serve `rate` req/s.
    fn need(&self, rate: f64) -> f64;
    /// The minimum share (GPU s/s).
    fn floor(&self) -> f64;
    /// Which piece of the cost curve serves `rate` (e.g. which batch size),
    /// non-decreasing in the rate, so that the water-filling can reuse it
    /// for every rate between two with the same piece. Default: one piece.
    fn step(&self, _rate: f64) -> usize {
        0
    }
    /// `need(rate)` for a rate that `step` puts on piece `step`: the same
    /// number, without finding the piece again.
    fn need_at(&self, rate: f64, _step: usize) -> f64 {
        self.need(rate)
    }
}

/// The result of an allocation.
#[derive(Clone, Debug, PartialEq)]
pub struct Allocation {
    /// GPU seconds per second per model.
    pub shares: Vec<f64>,
    /// Whether the demands exceeded the capacity.
    pub overloaded: bool,
    /// The equal fraction of ETR served under equal degradation (1 when not
    /// overloaded); with `proportional` > 0, the fraction of the largest demand.
    pub fraction: f64,
    /// Each model's intended fraction of its ETR (the fraction, or more for
    /// a model held up by its guarantee; 1 when not overloaded).
    pub targets: Vec<f64>,
}

/// Total demand at full ETR.
pub fn total_demand<D: Demand>(models: &[D]) -> f64 {
    models.iter().map(|m| m.need(m.etr()).max(m.floor())).sum()
}

/// Max-min fair shares: each demand capped at one level λ, the levels
/// filling `capacity` (every demand in full if they fit).
pub fn max_min(demands: &[f64], capacity: f64) -> Vec<f64> {
    let total: f64 = demands.iter().sum();
    if total <= capacity {
        return demands.to_vec();
    }
    let mut sorted: Vec<f64> = demands.to_vec();
    sorted.sort_unstable_by(f64::total_cmp);
    let (mut left, mut n) = (capacity, sorted.len());
    let mut level = 0.0;
    for d in sorted {
        if d * n as f64 > left {
            level = left / n as f64;
            break;
        }
        left -= d;
        n -= 1;
        level = d;
    }
    demands.iter().map(|&d| d.min(level)).collect()
}

/// Water-filling by bisection on a level f (equal degradation when every
/// tilt is 1): model i gets the fraction
/// f * `tilt[i]` of its ETR (at least `lower[i]`, at most 1), the largest f
/// whose costs fit `capacity`; returns the shares, f and each model's fraction.
fn water_fill<D: Demand>(
    models: &[D],
    capacity: f64,
    lower: &[f64],
    tilt: &[f64],
) -> (Vec<f64>, f64, Vec<f64>) {
    debug_assert!(lower.len() == models.len() && tilt.len() == models.len());
    let level = |f: f64, tilt: f64, lower: f64| (f * tilt).max(lower).min(1.0);
    let frac = |i: usize, f: f64| level(f, tilt[i], lower[i]);
    // The total cost at level f, each model's piece of its cost curve
    // written to `at_f`. A model's rate grows with f, and its piece with its
    // rate, so a model on the same piece at both ends of the bracket is on
    // it in between: its piece is not looked up again (same numbers).
    // (The models' ETRs and floors are read from lists of their own, and
    // every list walked in step: the same numbers, summed in the same order.)
    let etr: Vec<f64> = models.iter().map(|m| m.etr()).collect();
    let floor: Vec<f64> = models.iter().map(|m| m.floor()).collect();
    let cost = |f: f64, at_f: &mut [usize], lo: &[usize], hi: &[usize]| -> f64 {
        let per_model = models
            .iter()
            .zip(tilt.iter().zip(lower))
            .zip(etr.iter().zip(&floor));
        per_model
            .zip(at_f.iter_mut().zip(lo.iter().zip(hi)))
            .map(|(((m, (&t, &low)), (&e, &fl)), (at, (&l, &h)))| {
                let rate = level(f, t, low) * e;
                *at = if l == h { l } else { m.step(rate) };
                debug_assert_eq!(*at, m.step(rate));
                m.need_at(rate, *at).max(fl)
            })
            .sum()
    };
    let n = models.len();
    let (mut at_lo, mut at_hi, mut at_mid) = (vec![0; n], vec![usize::MAX; n], vec![0; n]);
    for (i, m) in models.iter().enumerate() {
        at_lo[i] = m.step(frac(i, 0.0) * m.etr());
    }
    let (mut lo, mut hi) = (0.0f64, 1.0f64);
    if cost(1.0, &mut at_mid, &at_lo, &at_hi) <= capacity {
        lo = 1.0;
    } else {
        std::mem::swap(&mut at_hi, &mut at_mid);
        for _ in 0..40 {
            let mid = 0.5 * (lo + hi);
            if cost(mid, &mut at_mid, &at_lo, &at_hi) <= capacity {
                lo = mid;
                std::mem::swap(&mut at_lo, &mut at_mid);
            } else {
                hi = mid;
                std::mem::swap(&mut at_hi, &mut at_mid);
            }
        }
    }
    let fracs: Vec<f64> = (0..models.len()).map(|i| frac(i, lo)).collect();
    let shares = models
        .iter()
        .zip(&fracs)
        .map(|(m, &x)| m.need(x * m.etr()).max(m.floor()))
        .collect();
    (shares, lo, fracs)
}

/// Cheapest GPU time per request first: full demand in order of cost until capacity runs out.
pub fn throughput_max<D: Demand>(models: &[D], capacity: f64) -> Vec<f64> {
    let mut order: Vec<usize> = (0..models.len()).collect();
    let cost = |i: usize| {
        let m = &models[i];
        let e = m.etr();
        if e > 0.0 {
            m.need(e) / e
        } else {
            f64::INFINITY
        }
    };
    order.sort_unstable_by(|&a, &b| cost(a).total_cmp(&cost(b)).then(a.cmp(&b)));
    let mut shares: Vec<f64> = models.iter().map(|m| m.floor()).collect();
    let mut left = capacity - shares.iter().sum::<f64>();
    for i in order {
        if left <= 0.0 {
            break;
        }
        let m = &models[i];
        let extra = (m.need(m.etr()) - shares[i]).max(0.0).min(left);
        shares[i] += extra;
        left -= extra;
    }
    shares
}

/// Each model's tilt under α-fairness with α = 1 / `proportional`: the
/// fraction of its ETR is proportional to (d / d_max)^-`proportional`, d
/// its GPU-time demand at full ETR (1 for the largest demand; every tilt 1
/// when `proportional` is 0).
fn tilts(full: &[f64], proportional: f64) -> Vec<f64> {
    let largest = full.iter().copied().fold(0.0, f64::max);
    full.iter()
        .map(|&d| {
            if proportional > 0.0 && d > 0.0 {
                (d / largest).powf(-proportional)
            } else {
                1.0
            }
        })
        .collect()
}

/// Allocates `capacity` GPU s/s; `fairness` in [0, 1] blends throughput-maximizing
/// (0) and equal degradation (1); `guarantee` in [0, 1] is the part of its
/// max-min fair share that equal degradation leaves every model;
/// `proportional` in [0, 1] leans the fractions toward the small demands
/// (0 = equal fractions, 1 = proportional fairness).
pub fn allocate<D: Demand>(
    models: &[D],
    capacity: f64,
    fairness: f64,
    guarantee: f64,
    proportional: f64,
) -> Allocation {
    let demand = total_demand(models);
    if demand <= capacity {
        let shares = models
            .iter()
            .map(|m| m.need(m.etr()).max(m.floor()))
            .collect::<Vec<_>>();
        let shares = share_surplus(shares, capacity);
        return Allocation {
            shares,
            overloaded: false,
            fraction: 1.0,
            targets: vec![1.0; models.len()],
        };
    }
    let full: Vec<f64> = models.iter().map(|m| m.need(m.etr())).collect();
    let lower: Vec<f64> = max_min(&full, capacity)
        .iter()
        .zip(&full)
        .map(|(s, d)| if *d > 0.0 { guarantee * s / d } else { 0.0 })
        .collect();
    let (eq, f, targets) = water_fill(models, capacity, &lower, &tilts(&full, proportional));
    let tp = if fairness < 1.0 {
        throughput_max(models, capacity)
    } else {
        vec![0.0; models.len()]
    };
    let shares: Vec<f64> = eq
        .iter()
        .zip(&tp)
        .map(|(e, t)| fairness * e + (1.0 - fairness) * t)
        .collect();
    Allocation {
        shares: share_surplus(shares, capacity),
        overloaded: true,
        fraction: f,
        targets,
    }
}

/// Scales shares up so they sum to `capacity` (surplus in proportion to shares).
fn share_surplus(mut shares: Vec<f64>, capacity: f64) -> Vec<f64> {
    let sum: f64 = shares.iter().sum();
    if sum > 0.0 && sum < capacity {
        let k = capacity / sum;
        shares.iter_mut().for_each(|s| *s *= k);
    }
    shares
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Linear cost: need(r) = r * c, with a floor.
    struct Lin(f64, f64, f64);
    impl Demand for Lin {
        fn etr(&self) -> f64 {
            self.0
        }
        fn need(&self, r: f64) -> f64 {
            r * self.1
        }
        fn floor(&self) -> f64 {
            self.2
        }
    }

    #[test]
    fn fits_gives_demand_plus_proportional_surplus() {
        let m = [Lin(100.0, 0.002, 0.0), Lin(10.0, 0.02, 0.0)]; // 0.2 + 0.2
        let a = allocate(&m, 1.0, 1.0, 0.0, 0.0);
        assert!(!a.overloaded);
        assert_eq!(a.fraction, 1.0);
        assert!((a.shares[0] - 0.5).abs() < 1e-12 && (a.shares[1] - 0.5).abs() < 1e-12);
    }

    #[test]
    fn overload_gives_equal_fractions() {
        // Demands 1.0 and 0.5 on capacity 1: f = 2/3, shares 2/3 and 1/3.
        let m = [Lin(500.0, 0.002, 0.0), Lin(50.0, 0.01, 0.0)];
        let a = allocate(&m, 1.0, 1.0, 0.0, 0.0);
        assert!(a.overloaded);
        assert!((a.fraction - 2.0 / 3.0).abs() < 1e-9);
        assert!((a.shares[0] - 2.0 / 3.0).abs() < 1e-9);
        assert!((a.shares[1] - 1.0 / 3.0).abs() < 1e-9);
    }

    #[test]
    fn floors_are_kept_and_the_rest_water_filled() {
        // A tiny model with floor 0.1 needs only 0.01; the others share 0.9 equally in fraction.
        let m = [
            Lin(1.0, 0.01, 0.1),
            Lin(500.0, 0.002, 0.0),
            Lin(500.0, 0.002, 0.0),
        ];
        let a = allocate(&m, 1.0, 1.0, 0.0, 0.0);
        assert!((a.shares[0] - 0.1).abs() < 1e-9);
        assert!((a.shares[1] - 0.45).abs() < 1e-9 && (a.shares[2] - 0.45).abs() < 1e-9);
        assert!((a.fraction - 0.45).abs() < 1e-9);
    }

    #[test]
    fn throughput_max_serves_the_cheapest_first_and_the_knob_blends() {
        // Cheap: 0.001 s/req, demand 0.8; expensive: 0.01 s/req, demand 0.8. Capacity 1.
        let m = [Lin(800.0, 0.001, 0.0), Lin(80.0, 0.01, 0.0)];
        let tp = allocate(&m, 1.0, 0.0, 0.0, 0.0);
        assert!((tp.shares[0] - 0.8).abs() < 1e-9 && (tp.shares[1] - 0.2).abs() < 1e-9);
        let eq = allocate(&m, 1.0, 1.0, 0.0, 0.0);
        assert!((eq.shares[0] - 0.5).abs() < 1e-9 && (eq.shares[1] - 0.5).abs() < 1e-9);
        let half = allocate(&m, 1.0, 0.5, 0.0, 0.0);
        assert!((half.shares[0] - 0.65).abs() < 1e-9 && (half.shares[1] - 0.35).abs() < 1e-9);
    }

    #[test]
    fn water_filling_accounts_for_costlier_small_batches() {
        // need(r) = r * cost(r) with cost 0.004 below 100 req/s and 0.002 above.
        struct Step;
        impl Demand for Step {
            fn etr(&self) -> f64 {
                400.0
            }
            fn need(&self, r: f64) -> f64 {
                r * if r < 100.0 { 0.004 } else { 0.002 }
            }
            fn floor(&self) -> f64 {
                0.0
            }
        }
        // Capacity 0.3 for two such models: each 0.15 -> r = 37.5 at cost 0.004 (f = 0.09375),
        // where a linear model at the large-batch cost would have promised r = 75.
        let (shares, f, _) = water_fill(&[Step, Step], 0.3, &[0.0, 0.0], &[1.0, 1.0]);
        assert!((f - 0.09375).abs() < 1e-6, "{f}");
        assert!((shares[0] - 0.15).abs() < 1e-6);
    }

    #[test]
    fn reusing_the_pieces_gives_the_bisection_over_need_to_the_bit() {
        // Real cost curves (batch sizes by rate), with and without the pieces
        // exposed: the same level, shares and fractions, bit for bit.
        struct Curve(super::super::estimate::ModelCurve, f64, f64, bool);
        impl Demand for Curve {
            fn etr(&self) -> f64 {
                self.1
            }
            fn need(&self, r: f64) -> f64 {
                self.0.need(r)
            }
            fn floor(&self) -> f64 {
                self.2
            }
            fn step(&self, r: f64) -> usize {
                if self.3 { self.0.batch_index(r) } else { 0 }
            }
            fn need_at(&self, r: f64, i: usize) -> f64 {
                if self.3 {
                    self.0.need_at(r, i)
                } else {
                    self.0.need(r)
                }
            }
        }
        let curve = |slo_ms: f64, b1_ms: f64| {
            let sizes = vec![1, 2, 4, 8, 16, 32];
            let exec_ns = sizes
                .iter()
                .map(|&b| ((b1_ms + 0.6 * b1_ms * (b as f64 - 1.0)) * 1e6) as u64)
                .collect();
            let p = crate::profile::ModelProfile::for_tests(sizes, exec_ns);
            super::super::estimate::ModelCurve::new(&p, (slo_ms * 1e6) as u64, 0.5)
        };
        let mix = |pieces: bool| {
            [
                Curve(curve(50.0, 2.0), 900.0, 0.002, pieces),
                Curve(curve(200.0, 25.0), 60.0, 0.0, pieces),
                Curve(curve(100.0, 8.0), 300.0, 0.01, pieces),
                Curve(curve(30.0, 3.0), 5.0, 0.0, pieces),
            ]
        };
        for capacity in [0.2, 0.7, 1.3, 2.9] {
            for (tilt, lower) in [
                ([1.0; 4], [0.0; 4]),
                ([1.0, 0.3, 2.0, 5.0], [0.0, 0.2, 0.0, 0.9]),
            ] {
                let a = water_fill(&mix(true), capacity, &lower, &tilt);
                let b = water_fill(&mix(false), capacity, &lower, &tilt);
                assert_eq!(a.1.to_bits(), b.1.to_bits(), "capacity {capacity}");
                assert!(
                    a.0.iter()
                        .zip(&b.0)
                        .all(|(x, y)| x.to_bits() == y.to_bits())
                );
                assert!(
                    a.1 < 1.0 && (capacity < 0.5 || a.1 > 0.0),
                    "{capacity}: {}",
                    a.1
                );
            }
        }
    }

    #[test]
    fn proportional_leans_the_fractions_toward_small_demands() {
        // Demands 1.0 and 0.5 on capacity 1.
        let m = [Lin(500.0, 0.002, 0.0), Lin(50.0, 0.01, 0.0)];
        // 1 = proportional fairness: fractions f and 2f, cost 1.0 f + 0.5 * 2f = 1:
        // f = 1/2, equal GPU time.
        let pf = allocate(&m, 1.0, 1.0, 0.0, 1.0);
        assert!((pf.fraction - 0.5).abs() < 1e-9);
        assert!((pf.targets[1] - 1.0).abs() < 1e-9);
        assert!((pf.shares[0] - 0.5).abs() < 1e-9 && (pf.shares[1] - 0.5).abs() < 1e-9);
        // 1/2 (α = 2): fractions f and f * sqrt(2), f (1 + sqrt(2) / 2) = 1.
        let half = allocate(&m, 1.0, 1.0, 0.0, 0.5);
        let f = 1.0 / (1.0 + 0.5f64.sqrt());
        assert!((half.fraction - f).abs() < 1e-9, "{}", half.fraction);
        assert!((half.targets[1] - f * 2f64.sqrt()).abs() < 1e-9);
        assert!((half.shares.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        // 0 is equal degradation, to the bit.
        let eq = allocate(&m, 1.0, 1.0, 0.0, 0.0);
        assert_eq!(eq.targets[0], eq.targets[1]);
        assert_eq!(eq.targets[0], eq.fraction);
    }

    #[test]
    fn max_min_caps_every_demand_at_one_level() {
        assert_eq!(max_min(&[0.2, 0.3], 1.0), vec![0.2, 0.3]);
        // 0.1 fits under the level; 0.9 and 2.0 share 0.9 - 0.1... level (1.0 - 0.1) / 2 = 0.45.
        let s = max_min(&[0.1, 2.0, 0.9], 1.0);
        assert!(
            (s[0] - 0.1).abs() < 1e-12
                && (s[1] - 0.45).abs() < 1e-12
                && (s[2] - 0.45).abs() < 1e-12
        );
    }

    #[test]
    fn the_guarantee_keeps_a_small_model_whole() {
        // A small model (demand 0.1) beside a flood (demand 3.0) on capacity 1.
        let m = [Lin(100.0, 0.001, 0.0), Lin(1000.0, 0.003, 0.0)];
        // Equal degradation: f = 1/3.1 for both.
        let eq = allocate(&m, 1.0, 1.0, 0.0, 0.0);
        assert!((eq.fraction - 1.0 / 3.1).abs() < 1e-6);
        assert!((eq.shares[0] - 0.1 / 3.1).abs() < 1e-6);
        // Guarantee 1: the small model keeps its whole demand (its fair share is 0.1 < 0.5),
        // the flood gets the rest: 0.9 of 3.0 = 0.3 of its ETR.
        let g = allocate(&m, 1.0, 1.0, 1.0, 0.0);
        assert!((g.shares[0] - 0.1).abs() < 1e-6 && (g.shares[1] - 0.9).abs() < 1e-6);
        assert!((g.targets[0] - 1.0).abs() < 1e-9 && (g.targets[1] - 0.3).abs() < 1e-6);
        // Half the guarantee: the small model keeps at least half its demand.
        let h = allocate(&m, 1.0, 1.0, 0.5, 0.0);
        assert!((h.targets[0] - 0.5).abs() < 1e-6, "{:?}", h.targets);
    }
}
