//! `inferfair swarm [--seconds N] [--seed S] [--scenarios N] [--out DIR]`
//! and `inferfair swarm --check FILE`: the seeded swarm tester
//! (`inferfair::swarm`, docs/reliability.md).

use anyhow::{Result, bail};
use clap::Args;
use inferfair::swarm::{self, Options};
use std::path::PathBuf;

/// Arguments of `swarm`.
#[derive(Args, Debug)]
pub struct SwarmArgs {
    /// Run for this many seconds (checked between scenarios).
    #[arg(long, default_value_t = 60.0)]
    seconds: f64,
    /// Seed of the first scenario; the next ones take the following seeds.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Stop after this many scenarios (whatever the time).
    #[arg(long)]
    scenarios: Option<u64>,
    /// Where a failing scenario's minimal reproduction is written (seed-S/).
    #[arg(long, default_value = "swarm-failures")]
    out: PathBuf,
    /// Run one scenario file under every policy with every check instead
    /// (e.g. a reproduction the swarm wrote).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["scenarios"])]
    check: Option<PathBuf>,
}

/// Runs `swarm`.
pub fn swarm(a: SwarmArgs) -> Result<()> {
    if let Some(path) = a.check {
        let file = inferfair_sim::scenario::ScenarioFile::load(&path)?;
        let t = swarm::check_file(&path, file.seed, &swarm::generate::policies(), true)
            .map_err(|f| anyhow::anyhow!("{f}"))?;
        println!(
            "{}: every check passed ({} runs, {} requests)",
            path.display(),
            t.runs,
            t.requests
        );
        return Ok(());
    }
    if !(a.seconds.is_finite() && a.seconds > 0.0) {
        bail!("--seconds must be a positive number, found {}", a.seconds);
    }
    let r = swarm::run(&Options {
        first_seed: a.seed,
        scenarios: a.scenarios,
        seconds: if a.scenarios.is_some() {
            None
        } else {
            Some(a.seconds)
        },
        out: a.out.clone(),
        report_every: 100,
    })?;
    let t = r.tally;
    println!(
        "swarm: {} scenarios passed (seeds {}..{}), {} runs, {} requests, {} events, in {:.0} s",
        t.scenarios,
        a.seed,
        a.seed + t.scenarios,
        t.runs,
        t.requests,
        t.events,
        r.seconds
    );
    if let Some((f, dir)) = r.failure {
        bail!(
            "{f}\nthe smallest scenario that still fails is in {} (failure.txt says how to run it); the unshrunk one: inferfair swarm --seed {} --scenarios 1",
            dir.display(),
            f.seed
        );
    }
    Ok(())
}
