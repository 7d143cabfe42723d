//! InferFair's allocation of GPU time (pure functions). Each model has an
//! effective throughput requirement (ETR) and a cost curve; capacity is in GPU
//! seconds per second. When all demands fit, each model gets its demand and
//! the surplus is shared in proportion to demand. Otherwise:
//! - equal degradation: water-filling for one fraction f of every model's
//!   ETR, with the cost of serving f*ETR (smaller batches at lower rates);
//! - throughput-maximizing: the cheapest GPU time per request first;
//! - the fairness knob blends the two (1 = equal degradation).
//!
//! Every model keeps at least its floor (a minimum share).

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
}

/// Total demand at full ETR.
pub fn total_demand<D: Demand>(models: &[D]) -> f64 {
    models.iter().map(|m| m.need(m.etr()).max(m.floor())).sum()
}

/// Equal fraction of every ETR (water-filling by bisection on f).
pub fn equal_fraction<D: Demand>(models: &[D], capacity: f64) -> (Vec<f64>, f64) {
    let at = |f: f64| -> f64 {
        models
            .iter()
            .map(|m| m.need(f * m.etr()).max(m.floor()))
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
    let shares = models
        .iter()
        .map(|m| m.need(lo * m.etr()).max(m.floor()))
        .collect();
    (shares, lo)
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

/// Allocates `capacity` GPU s/s; `fairness` in [0, 1] blends throughput-maximizing (0) and equal degradation (1).
pub fn allocate<D: Demand>(models: &[D], capacity: f64, fairness: f64) -> Allocation {
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
        };
    }
    let (eq, f) = equal_fraction(models, capacity);
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
        let a = allocate(&m, 1.0, 1.0);
        assert!(!a.overloaded);
        assert_eq!(a.fraction, 1.0);
        assert!((a.shares[0] - 0.5).abs() < 1e-12 && (a.shares[1] - 0.5).abs() < 1e-12);
    }

    #[test]
    fn overload_gives_equal_fractions() {
        // Demands 1.0 and 0.5 on capacity 1: f = 2/3, shares 2/3 and 1/3.
        let m = [Lin(500.0, 0.002, 0.0), Lin(50.0, 0.01, 0.0)];
        let a = allocate(&m, 1.0, 1.0);
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
        let a = allocate(&m, 1.0, 1.0);
        assert!((a.shares[0] - 0.1).abs() < 1e-9);
        assert!((a.shares[1] - 0.45).abs() < 1e-9 && (a.shares[2] - 0.45).abs() < 1e-9);
        assert!((a.fraction - 0.45).abs() < 1e-9);
    }

    #[test]
    fn throughput_max_serves_the_cheapest_first_and_the_knob_blends() {
        // Cheap: 0.001 s/req, demand 0.8; expensive: 0.01 s/req, demand 0.8. Capacity 1.
        let m = [Lin(800.0, 0.001, 0.0), Lin(80.0, 0.01, 0.0)];
        let tp = allocate(&m, 1.0, 0.0);
        assert!((tp.shares[0] - 0.8).abs() < 1e-9 && (tp.shares[1] - 0.2).abs() < 1e-9);
        let eq = allocate(&m, 1.0, 1.0);
        assert!((eq.shares[0] - 0.5).abs() < 1e-9 && (eq.shares[1] - 0.5).abs() < 1e-9);
        let half = allocate(&m, 1.0, 0.5);
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
        let (shares, f) = equal_fraction(&[Step, Step], 0.3);
        assert!((f - 0.09375).abs() < 1e-6, "{f}");
        assert!((shares[0] - 0.15).abs() < 1e-6);
    }
}
