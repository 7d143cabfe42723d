//! `inferfair figures [--only NAME] [--out DIR]`: runs the sweeps the figure
//! specs need (resuming from the cache) and draws the figures.

use anyhow::{Result, bail};
use clap::Args;
use inferfair::figures::{self, Options};
use std::path::PathBuf;

/// Arguments of `figures`.
#[derive(Args, Debug)]
pub struct FiguresArgs {
    /// Draw only these figures (spec file names without .toml; comma-separated).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Where the PNG, SVG and CSV files go.
    #[arg(long, default_value = "figures")]
    out: PathBuf,
    /// Folder of the figure specs (*.toml).
    #[arg(long, default_value = "figures")]
    specs: PathBuf,
    /// Cache of point results (default: SPECS/.cache).
    #[arg(long)]
    cache: Option<PathBuf>,
    /// Keep only these policies of the specs (comma-separated), e.g. to draw before all exist.
    #[arg(long, value_delimiter = ',')]
    policies: Option<Vec<String>>,
    /// Points run in parallel (default: one per core).
    #[arg(long, short)]
    jobs: Option<usize>,
    /// Rerun points that are in the cache (e.g. after changing a policy's code).
    #[arg(long)]
    fresh: bool,
    /// Count the points to run; run and draw nothing.
    #[arg(long)]
    dry_run: bool,
    /// PNG pixels per SVG pixel.
    #[arg(long, default_value_t = 2.0)]
    scale: f64,
    /// Set a key of every sweep's base scenario (and of each random mix), as
    /// `sweep --set` does (repeatable; e.g. --set cluster.exec_cv=0.1 with
    /// --out elsewhere to redraw the figures under execution noise).
    #[arg(long = "set", value_name = "KEY=VALUE", value_parser = super::parse_set)]
    sets: Vec<inferfair_sim::set::Set>,
}

/// Runs `figures`.
pub fn figures(a: FiguresArgs) -> Result<()> {
    let started = std::time::Instant::now();
    let s = figures::run(&Options {
        specs: a.specs,
        out: a.out.clone(),
        cache: a.cache,
        only: a.only,
        policies: a.policies,
        jobs: a.jobs,
        fresh: a.fresh,
        dry_run: a.dry_run,
        scale: a.scale,
        sets: a.sets,
    })?;
    if a.dry_run {
        println!(
            "{} distinct points ({} cached, {} to run)",
            s.points,
            s.cached,
            s.points - s.cached
        );
    } else {
        eprintln!(
            "figures: {} drawn in {} ({:.0} s), {} failed",
            s.drawn.len(),
            a.out.display(),
            started.elapsed().as_secs_f64(),
            s.failed.len()
        );
    }
    if !s.failed.is_empty() {
        let list: Vec<String> = s.failed.iter().map(|(n, e)| format!("{n}: {e}")).collect();
        bail!(
            "{} figures failed:\n  {}",
            s.failed.len(),
            list.join("\n  ")
        );
    }
    Ok(())
}
