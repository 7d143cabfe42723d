//! Grid expansion, in a fixed order: the axes nest in the order of
//! `SweepSpec::axes` (the first outermost), then the policies in the order
//! written, then the seeds. A policy parameter axis applies only to the
//! variants of its policy that do not set that parameter themselves: the
//! others get one point per combination of the other axes, with no value
//! (an empty cell) on it.

use super::spec::{AxisKind, SweepSpec};
use inferfair_sim::limits::MAX_SWEEP_POINTS;

/// One point of the grid, before it is resolved into a scenario.
#[derive(Clone, Debug, PartialEq)]
pub struct GridPoint {
    /// Index of the policy variant in `SweepSpec::policies`.
    pub variant: usize,
    /// The seed.
    pub seed: u64,
    /// The value of each axis of `SweepSpec::axes`; `None` where the axis
    /// does not apply to this point's policy.
    pub coords: Vec<Option<toml::Value>>,
}

/// Refuses a grid of more than [`MAX_SWEEP_POINTS`] points, before expanding it.
pub fn check_size(spec: &SweepSpec) -> anyhow::Result<()> {
    let n = spec
        .axes
        .iter()
        .map(|a| a.values.len() as f64)
        .product::<f64>()
        * spec.policies.len() as f64
        * spec.seeds.len() as f64;
    if n > MAX_SWEEP_POINTS as f64 {
        anyhow::bail!(
            "{}: the grid has about {} points ({} axes, {} policies, {} seeds), more than the {MAX_SWEEP_POINTS} a sweep may have: split it into several sweeps",
            spec.source,
            inferfair_sim::limits::approx(n),
            spec.axes
                .iter()
                .map(|a| format!("{} x{}", a.name, a.values.len()))
                .collect::<Vec<_>>()
                .join(", "),
            spec.policies.len(),
            spec.seeds.len()
        );
    }
    Ok(())
}

/// Every point of the grid, in order.
pub fn expand(spec: &SweepSpec) -> Vec<GridPoint> {
    let sizes: Vec<usize> = spec.axes.iter().map(|a| a.values.len()).collect();
    let combos: usize = sizes.iter().product();
    let mut out = Vec::new();
    let mut idx = vec![0usize; sizes.len()];
    for _ in 0..combos {
        for (vi, v) in spec.policies.iter().enumerate() {
            let applies = |a: usize| match &spec.axes[a].kind {
                AxisKind::Param { policy, key } => {
                    *policy == v.policy && !v.params.contains_key(key)
                }
                AxisKind::Scenario(_) | AxisKind::MixSeed => true,
            };
            // An axis that does not apply is expanded once, at its first value.
            if (0..sizes.len()).any(|a| !applies(a) && idx[a] != 0) {
                continue;
            }
            let coords: Vec<Option<toml::Value>> = (0..sizes.len())
                .map(|a| applies(a).then(|| spec.axes[a].values[idx[a]].clone()))
                .collect();
            for &seed in &spec.seeds {
                out.push(GridPoint {
                    variant: vi,
                    seed,
                    coords: coords.clone(),
                });
            }
        }
        // Next combination: the last axis varies fastest.
        for a in (0..sizes.len()).rev() {
            idx[a] += 1;
            if idx[a] < sizes[a] {
                break;
            }
            idx[a] = 0;
        }
    }
    out
}
