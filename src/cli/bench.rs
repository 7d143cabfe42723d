//! `inferfair bench`: the simulator's speed on standard scenarios, in
//! simulated requests and events per second of wall time (one core).

use super::load_scenario;
use super::output::{Table, WIDTH};
use crate::progress::Progress;
use anyhow::{Context, Result};
use clap::Args;
use inferfair_sim::run::{self, RunOptions};
use std::path::PathBuf;
use std::time::Duration;

/// Arguments of `bench`.
#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Scenario files to time (default: every .toml in scenarios/bench/).
    scenarios: Vec<PathBuf>,
    /// Policies to time each scenario with, comma-separated (any case).
    #[arg(long, value_delimiter = ',', default_value = "fifo", value_parser = super::policy_parser(), ignore_case = true)]
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
        for e in std::fs::read_dir(&dir).with_context(|| {
            format!(
                "cannot list {} (run from the project root or name scenario files)",
                dir.display()
            )
        })? {
            let p = e?.path();
            if p.extension().is_some_and(|x| x == "toml") {
                files.push(p);
            }
        }
        files.sort();
    }
    let mut t = Table::new(&[
        "scenario",
        "policy",
        "models",
        "gpus",
        "sim s",
        "requests",
        "events",
        "wall s",
        "events/s",
        "requests/s",
        "x real time",
    ]);
    let scenarios = files
        .iter()
        .map(|f| load_scenario(f, &Default::default()))
        .collect::<Result<Vec<_>>>()?;
    let repeat = a.repeat.max(1) as usize;
    let runs = scenarios.len() * a.policies.len() * repeat;
    // Weighed by the requests each run simulates.
    let total: f64 = scenarios.iter().map(|s| s.expected_requests()).sum::<f64>()
        * (a.policies.len() * repeat) as f64;
    let progress = Progress::new("bench: runs", total, runs, Duration::ZERO);
    for s in &scenarios {
        for p in &a.policies {
            let mut best: Option<inferfair_sim::RunResult> = None;
            for _ in 0..repeat {
                progress.stage(&format!("{} / {p}", s.name));
                let r = run::simulate(s, p, RunOptions::default())?;
                progress.advance(s.expected_requests(), true);
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
        }
    }
    drop(progress);
    print!("{}", t.render_fit(WIDTH, 2, &[3, 3, 3]));
    Ok(())
}
