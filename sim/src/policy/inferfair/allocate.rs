//! InferFair's allocation of GPU time (pure functions). Each model has an
//! effective throughput requirement (ETR) and a cost curve; capacity is in GPU
//! seconds per second. When all demands fit, each model gets its demand and
//! the surplus is shared in proportion to demand. Otherwise:
//! - equal degradation: water-filling for one fraction f of every model's
//!   ETR, with the cost of serving f*ETR (smaller batches at lower rates);
//! - throughput-maximizing: the cheapest GPU time per request first;
//! - the fairness knob blends the two (1 = equal degradation).
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
}

/// The result of an allocation.
#[derive(Clone, Debug, PartialEq)]
pub struct Allocation {
    /// GPU seconds per second per model.
    pub shares: Vec<f64>,
    /// Whether the demands exceeded the capacity.
    pub overloaded: bool,
    /// The equal fraction of ETR served under equal degradation (1 when not overloaded).
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
    sorted.sort_by(f64::total_cmp);
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

/// Equal fraction of every ETR (water-filling by bisection on f), no model
/// below its `lower` fraction; returns the shares, f and each model's fraction.
pub fn equal_fraction<D: Demand>(
    models: &[D],
    capacity: f64,
    lower: &[f64],
) -> (Vec<f64>, f64, Vec<f64>) {
    let frac = |i: usize, f: f64| f.max(lower[i]).min(1.0);
    let at = |f: f64| -> f64 {
        models
            .iter()
            .enumerate()
            .map(|(i, m)| m.need(frac(i, f) * m.etr()).max(m.floor()))
            .sum()
    };
    let (mut lo, mut hi) = (0.0f64, 1.0f64);
    if at(1.0) <= capacity {
        lo = 1.0;
    } else {
        for _ in 0..40 {
            let mid = 0.5 * (lo + hi);
            if at(mid) <= capacity {
                lo = mid;
            } else {
                hi = mid;
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
    order.sort_by(|&a, &b| cost(a).total_cmp(&cost(b)).then(a.cmp(&b)));
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

/// Allocates `capacity` GPU s/s; `fairness` in [0, 1] blends throughput-maximizing
/// (0) and equal degradation (1); `guarantee` in [0, 1] is the part of its
/// max-min fair share that equal degradation leaves every model.
pub fn allocate<D: Demand>(
    models: &[D],
    capacity: f64,
    fairness: f64,
    guarantee: f64,
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
    let (eq, f, targets) = equal_fraction(models, capacity, &lower);
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
        let a = allocate(&m, 1.0, 1.0, 0.0);
        assert!(!a.overloaded);
        assert_eq!(a.fraction, 1.0);
        assert!((a.shares[0] - 0.5).abs() < 1e-12 && (a.shares[1] - 0.5).abs() < 1e-12);
    }

    #[test]
    fn overload_gives_equal_fractions() {
        // Demands 1.0 and 0.5 on capacity 1: f = 2/3, shares 2/3 and 1/3.
        let m = [Lin(500.0, 0.002, 0.0), Lin(50.0, 0.01, 0.0)];
        let a = allocate(&m, 1.0, 1.0, 0.0);
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
        let a = allocate(&m, 1.0, 1.0, 0.0);
        assert!((a.shares[0] - 0.1).abs() < 1e-9);
        assert!((a.shares[1] - 0.45).abs() < 1e-9 && (a.shares[2] - 0.45).abs() < 1e-9);
        assert!((a.fraction - 0.45).abs() < 1e-9);
    }

    #[test]
    fn throughput_max_serves_the_cheapest_first_and_the_knob_blends() {
        // Cheap: 0.001 s/req, demand 0.8; expensive: 0.01 s/req, demand 0.8. Capacity 1.
        let m = [Lin(800.0, 0.001, 0.0), Lin(80.0, 0.01, 0.0)];
        let tp = allocate(&m, 1.0, 0.0, 0.0);
        assert!((tp.shares[0] - 0.8).abs() < 1e-9 && (tp.shares[1] - 0.2).abs() < 1e-9);
        let eq = allocate(&m, 1.0, 1.0, 0.0);
        assert!((eq.shares[0] - 0.5).abs() < 1e-9 && (eq.shares[1] - 0.5).abs() < 1e-9);
        let half = allocate(&m, 1.0, 0.5, 0.0);
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
        let (shares, f, _) = equal_fraction(&[Step, Step], 0.3, &[0.0, 0.0]);
        assert!((f - 0.09375).abs() < 1e-6, "{f}");
        assert!((shares[0] - 0.15).abs() < 1e-6);
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
        let eq = allocate(&m, 1.0, 1.0, 0.0);
        assert!((eq.fraction - 1.0 / 3.1).abs() < 1e-6);
        assert!((eq.shares[0] - 0.1 / 3.1).abs() < 1e-6);
        // Guarantee 1: the small model keeps its whole demand (its fair share is 0.1 < 0.5),
        // the flood gets the rest: 0.9 of 3.0 = 0.3 of its ETR.
        let g = allocate(&m, 1.0, 1.0, 1.0);
        assert!((g.shares[0] - 0.1).abs() < 1e-6 && (g.shares[1] - 0.9).abs() < 1e-6);
        assert!((g.targets[0] - 1.0).abs() < 1e-9 && (g.targets[1] - 0.3).abs() < 1e-6);
        // Half the guarantee: the small model keeps at least half its demand.
        let h = allocate(&m, 1.0, 1.0, 0.5);
        assert!((h.targets[0] - 0.5).abs() < 1e-6, "{:?}", h.targets);
    }
}
