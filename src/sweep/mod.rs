//! Parameter sweeps (`inferfair sweep`): a sweep file names a base scenario
//! and a grid of axes, policies and seeds (`spec`); the grid expands in a
//! fixed order (`grid`); each point resolves into a scenario with a stable
//! id (`point`); points run in parallel into one result file each, skipping
//! those already done (`exec`); shards split the work across machines
//! (`shard`); and the point files merge into `results.csv` and
//! `results_ci.csv` with means and 95% confidence intervals over seeds
//! (`merge`, `stats`); `paired` compares two policies point by point
//! (`inferfair sweep report`). Documented in `docs/sweeps.md`.

pub mod exec;
pub mod grid;
pub mod merge;
pub mod paired;
pub mod point;
pub mod shard;
pub mod spec;
pub mod stats;

use anyhow::Result;
use merge::{GridFile, PointRef};
use point::{ContentHashes, Point};
use rayon::prelude::*;
use spec::SweepSpec;

/// A sweep with every point resolved.
#[derive(Clone, Debug)]
pub struct Sweep {
    /// Its spec.
    pub spec: SweepSpec,
    /// Its points, in grid order.
    pub points: Vec<Point>,
}

impl Sweep {
    /// Expands and resolves a sweep (every point's scenario is checked here,
    /// before anything runs).
    pub fn new(spec: SweepSpec, hashes: &ContentHashes) -> Result<Sweep> {
        for (i, v) in spec.policies.iter().enumerate() {
            inferfair_sim::policy::check_params(&v.policy, &v.params).map_err(|e| {
                anyhow::anyhow!("{}: policies[{i}] ({}): {e}", spec.source, v.label)
            })?;
        }
        grid::check_size(&spec)?;
        let grid = grid::expand(&spec);
        let resolved: Vec<Result<Point>> = grid
            .par_iter()
            .map(|gp| point::resolve(&spec, gp, hashes))
            .collect();
        // The first error in grid order, whatever the thread that found it.
        let points = resolved.into_iter().collect::<Result<Vec<_>>>()?;
        Ok(Sweep { spec, points })
    }

    /// The resolved grid, as merging reads it.
    pub fn grid_file(&self) -> GridFile {
        GridFile {
            sweep: self.spec.name.clone(),
            inferfair: env!("CARGO_PKG_VERSION").to_string(),
            param_axes: self
                .spec
                .axes
                .iter()
                .filter(|a| a.is_extra())
                .map(|a| a.name.clone())
                .collect(),
            points: self
                .points
                .iter()
                .map(|p| {
                    let mut axes: Vec<Option<toml::Value>> =
                        p.scenario_axes().into_iter().map(Some).collect();
                    axes.extend(
                        self.spec
                            .axes
                            .iter()
                            .zip(&p.grid.coords)
                            .filter(|(a, _)| a.is_extra())
                            .map(|(_, v)| v.clone()),
                    );
                    PointRef {
                        id: p.id.clone(),
                        scenario: p.scenario.name.clone(),
                        policy: p.label.clone(),
                        seed: p.scenario.seed,
                        axes,
                    }
                })
                .collect(),
        }
    }
}
