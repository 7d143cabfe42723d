//! `inferfair bench`: the simulator's speed on standard scenarios, in
//! simulated requests and events per second of wall time (one core).

use super::load_scenario;
use super::output::Table;
use anyhow::{Context, Result};
use clap::Args;
use inferfair_sim::run::{self, RunOptions};
use std::path::PathBuf;

/// Arguments of `bench`.
#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Scenario files to time (default: every .toml in scenarios/bench/).
    scenarios: Vec<PathBuf>,
    /// Policies to time each scenario with, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "fifo")]
    policies: Vec<String>,
    /// Repetitions; the best is reported.
    #[arg(long, default_value_t = 1)]
    repeat: u32,
}

/// Runs `bench`.
pub fn bench(a: BenchArgs) -> Result<()> {
    let mut files = a.scenarios.clone();
    if files.is_empty() {
        let dir = PathBuf::from("scenarios/bench");
        for e in std::fs::read_dir(&dir).with_context(|| format!("cannot list {} (run from the project root or name scenario files)", dir.display()))? {
            let p = e?.path();
            if p.extension().is_some_and(|x| x == "toml") {
                files.push(p);
            }
        }
        files.sort();
    }
    let mut t = Table::new(&["scenario", "policy", "models", "gpus", "sim s", "requests", "events", "wall s", "events/s", "requests/s", "x real time"]);
    for f in &files {
        let s = load_scenario(f, None)?;
        for p in &a.policies {
            let mut best: Option<inferfair_sim::RunResult> = None;
            for _ in 0..a.repeat.max(1) {
                let r = run::simulate(&s, p, RunOptions::default())?;
                if best.as_ref().is_none_or(|b| r.wall_s < b.wall_s) {
                    best = Some(r);
                }
            }
            let r = best.unwrap();
            let sim_s = inferfair_sim::time::secs(s.duration);
            t.row(vec![
                s.name.clone(),
                p.clone(),
                s.models.len().to_string(),
                s.cluster.gpus.to_string(),
                format!("{sim_s:.0}"),
                r.requests.to_string(),
                r.events.to_string(),
                format!("{:.2}", r.wall_s),
                format!("{:.2}M", r.events as f64 / r.wall_s / 1e6),
                format!("{:.2}M", r.requests as f64 / r.wall_s / 1e6),
                format!("{:.0}", sim_s / r.wall_s),
            ]);
            eprint!(".");
        }
    }
    eprintln!();
    print!("{}", t.render());
    Ok(())
}
