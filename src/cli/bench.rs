//! `inferfair bench`: the simulator's speed, in simulated requests and events
//! per second of wall time (one simulation at a time on one core), beside the
//! bare event loop of `inferfair::bench` on the same request count; on
//! request, how it scales with models and GPUs, how sweeps scale with
//! threads, and Clockwork's Azure-scale day with its peak memory.

use super::load_scenario_with;
use super::output::{Table, WIDTH};
use crate::progress::Progress;
use anyhow::{Context, Result};
use clap::Args;
use inferfair::bench::{self, BareLoop};
use inferfair_sim::run::{self, RunOptions, RunResult};
use inferfair_sim::{Scenario, time};
use rayon::prelude::*;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

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
    /// Cut every scenario file to this many simulated seconds of arrivals.
    #[arg(long)]
    duration_s: Option<f64>,
    /// Also time generated scaling scenarios, each MODELSxGPUS (e.g. 1000x8:
    /// see --scaling), in the scenario table; repeat or comma-separate.
    #[arg(long, value_delimiter = ',', value_name = "MODELSxGPUS")]
    scale: Vec<String>,
    /// Skip the scenario files (run only what is asked for besides).
    #[arg(long)]
    no_files: bool,
    /// Also the scaling tables: requests/s against models (10 to 10,000 on
    /// 8 GPUs) and GPUs (1 to 10,000 with 100 models), for each policy.
    #[arg(long)]
    scaling: bool,
    /// Requests per run of the scaling tables.
    #[arg(long, default_value_t = 1_000_000)]
    scaling_requests: u64,
    /// Largest model count and GPU count of the scaling tables.
    #[arg(long, default_value_t = 10_000)]
    scaling_max: usize,
    /// Wall seconds a scaling run may take: a policy whose run took more
    /// than a tenth of this skips the larger points of that table (each is
    /// about ten times larger).
    #[arg(long, default_value_t = 300.0)]
    scaling_budget_s: f64,
    /// Also sweep points per second with 1, 2, ... rayon threads (up to the cores).
    #[arg(long)]
    sweep: bool,
    /// Also Clockwork's Azure-scale day (4,000 instances on 24 GPUs, 1,200
    /// requests/s), for this many simulated hours (24: about 100 M requests).
    #[arg(long)]
    azure_day_hours: Option<f64>,
}

/// Runs `bench`.
pub fn bench(a: BenchArgs) -> Result<()> {
    files_table(&a)?;
    if a.scaling {
        scaling_tables(&a)?;
    }
    if a.sweep {
        sweep_table(&a)?;
    }
    if let Some(hours) = a.azure_day_hours {
        let s = bench::azure_day(hours, Path::new("."))?;
        println!();
        println!(
            "Clockwork-scale day: 4,000 instances on 24 GPUs, {hours} simulated hours (peak MB: this run's own peak resident memory)"
        );
        print!(
            "{}",
            scenario_table(&[s], &a)?.render_fit(WIDTH, 2, &[3, 3, 3, 2])
        );
    }
    Ok(())
}

fn files_table(a: &BenchArgs) -> Result<()> {
    let mut files = a.scenarios.clone();
    if a.no_files {
        files.clear();
    } else if files.is_empty() {
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
    let mut scenarios = files
        .iter()
        .map(|f| {
            load_scenario_with(f, &Default::default(), |file| {
                if let Some(d) = a.duration_s {
                    file.duration_s = file.duration_s.min(d);
                    file.warmup_s = file.warmup_s.min(file.duration_s / 4.0);
                }
            })
        })
        .collect::<Result<Vec<_>>>()?;
    for spec in &a.scale {
        let (m, g) = spec
            .split_once('x')
            .and_then(|(m, g)| Some((m.parse().ok()?, g.parse().ok()?)))
            .with_context(|| format!("--scale {spec}: expected MODELSxGPUS, e.g. 1000x8"))?;
        scenarios.push(bench::scaling(m, g, a.scaling_requests, Path::new("."))?);
    }
    if scenarios.is_empty() {
        return Ok(());
    }
    print!(
        "{}",
        scenario_table(&scenarios, a)?.render_fit(WIDTH, 2, &[3, 3, 3, 2])
    );
    Ok(())
}

/// The best of `repeat` runs of `s` under `policy`, with its peak memory.
fn timed(
    s: &Scenario,
    policy: &str,
    repeat: u32,
    progress: &Progress,
) -> Result<(RunResult, Option<f64>)> {
    let mut best: Option<(RunResult, Option<f64>)> = None;
    for _ in 0..repeat.max(1) {
        progress.stage(&format!("{} / {policy}", s.name));
        bench::reset_peak_memory();
        let r = run::simulate(s, policy, RunOptions::default())?;
        let peak = bench::peak_memory_mb();
        progress.advance(1.0, true);
        if best.as_ref().is_none_or(|b| r.wall_s < b.0.wall_s) {
            best = Some((r, peak));
        }
    }
    Ok(best.expect("at least one run"))
}

/// The best of `repeat` bare loops.
fn bare(models: usize, requests: u64, repeat: u32) -> BareLoop {
    (0..repeat.max(1))
        .map(|_| bench::bare_loop(models, requests))
        .min_by(|x, y| x.wall_s.total_cmp(&y.wall_s))
        .expect("at least one run")
}

/// A rate per second: millions, or thousands below 0.1 M.
fn millions(per_s: f64) -> String {
    if per_s >= 1e5 {
        format!("{:.2}M", per_s / 1e6)
    } else {
        format!("{:.1}k", per_s / 1e3)
    }
}

/// A ratio to the bare loop: two decimals, three below 0.1.
fn ratio(x: f64) -> String {
    if x >= 0.1 {
        format!("{x:.2}")
    } else {
        format!("{x:.3}")
    }
}

fn scenario_table(scenarios: &[Scenario], a: &BenchArgs) -> Result<Table> {
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
        "x bare loop",
        "x real time",
        "peak MB",
    ]);
    let runs = scenarios.len() * a.policies.len() * a.repeat.max(1) as usize;
    let progress = Progress::new("bench: runs", runs as f64, runs, Duration::ZERO);
    for s in scenarios {
        let sim_s = time::secs(s.duration);
        let mut reference: Option<BareLoop> = None;
        for p in &a.policies {
            let (r, peak) = timed(s, p, a.repeat, &progress)?;
            let b = *reference.get_or_insert_with(|| {
                let b = bare(s.models.len(), r.requests, a.repeat);
                t.row(vec![
                    s.name.clone(),
                    "bare loop".into(),
                    s.models.len().to_string(),
                    "-".into(),
                    "-".into(),
                    b.requests.to_string(),
                    (2 * b.requests).to_string(),
                    format!("{:.2}", b.wall_s),
                    millions(2.0 * b.requests as f64 / b.wall_s),
                    millions(b.requests as f64 / b.wall_s),
                    "1.00".into(),
                    "-".into(),
                    "-".into(),
                ]);
                b
            });
            let rps = r.requests as f64 / r.wall_s;
            t.row(vec![
                s.name.clone(),
                p.clone(),
                s.models.len().to_string(),
                s.cluster.gpus.to_string(),
                format!("{sim_s:.0}"),
                r.requests.to_string(),
                r.events.to_string(),
                format!("{:.2}", r.wall_s),
                millions(r.events as f64 / r.wall_s),
                millions(rps),
                ratio(rps / (b.requests as f64 / b.wall_s)),
                format!("{:.0}", sim_s / r.wall_s),
                peak.map_or("-".into(), |m| format!("{m:.0}")),
            ]);
        }
    }
    drop(progress);
    Ok(t)
}

/// 10, 100, ... up to `max`.
fn decades(from: usize, max: usize) -> Vec<usize> {
    std::iter::successors(Some(from), |&n| n.checked_mul(10))
        .take_while(|&n| n <= max)
        .collect()
}

fn scaling_tables(a: &BenchArgs) -> Result<()> {
    let n = a.scaling_requests;
    println!();
    println!(
        "Scaling, models: N ResNet-50 instances on 8 GPUs, 1,600 requests/s in all, every model preloaded everywhere; about {n} requests per run; requests/s (x bare loop)"
    );
    let models: Vec<(usize, usize)> = decades(10, a.scaling_max)
        .into_iter()
        .map(|m| (m, 8))
        .collect();
    print!("{}", scaling_table(&models, a)?.render());
    println!();
    println!(
        "Scaling, GPUs: 100 ResNet-50 instances on N GPUs, 200 requests/s per GPU, every model preloaded everywhere; about {n} requests per run; requests/s (x bare loop)"
    );
    let gpus: Vec<(usize, usize)> = decades(1, a.scaling_max)
        .into_iter()
        .map(|g| (100, g))
        .collect();
    print!("{}", scaling_table(&gpus, a)?.render());
    Ok(())
}

fn scaling_table(points: &[(usize, usize)], a: &BenchArgs) -> Result<Table> {
    let mut header = vec!["models", "gpus", "requests", "bare loop"];
    header.extend(a.policies.iter().map(|p| p.as_str()));
    let mut t = Table::new(&header);
    // Policies whose last run took more than a tenth of the budget.
    let mut over: Vec<bool> = vec![false; a.policies.len()];
    let runs = points.len() * a.policies.len() * a.repeat.max(1) as usize;
    let progress = Progress::new("bench: scaling", runs as f64, runs, Duration::ZERO);
    for &(models, gpus) in points {
        let s = bench::scaling(models, gpus, a.scaling_requests, Path::new("."))?;
        let mut cells = Vec::new();
        let mut reference: Option<BareLoop> = None;
        for (p, over) in a.policies.iter().zip(&mut over) {
            if *over {
                cells.push("(skipped)".to_string());
                continue;
            }
            let (r, _) = timed(&s, p, a.repeat, &progress)?;
            *over = r.wall_s > a.scaling_budget_s / 10.0;
            let b = *reference.get_or_insert_with(|| bare(models, r.requests, a.repeat));
            let rps = r.requests as f64 / r.wall_s;
            let bare_rps = b.requests as f64 / b.wall_s;
            cells.push(format!("{} ({})", millions(rps), ratio(rps / bare_rps)));
        }
        let b = reference.unwrap_or_else(|| bare(models, a.scaling_requests, a.repeat));
        let mut row = vec![models.to_string(), gpus.to_string()];
        row.push(b.requests.to_string());
        row.push(millions(b.requests as f64 / b.wall_s));
        row.extend(cells);
        t.row(row);
    }
    drop(progress);
    Ok(t)
}

/// Points of a small sweep (every policy, 8 seeds, 100 models on 4 GPUs,
/// about 100,000 requests each) run with 1, 2, ... threads.
fn sweep_table(a: &BenchArgs) -> Result<()> {
    let base = bench::scaling(100, 4, 100_000, Path::new("."))?;
    let points: Vec<(Scenario, &str)> = (1..=8)
        .flat_map(|seed| {
            let s = base.clone().with_seed(seed);
            a.policies.iter().map(move |p| (s.clone(), p.as_str()))
        })
        .collect();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut t = Table::new(&["threads", "points", "wall s", "points/s", "speed-up"]);
    let mut one = None;
    let counts = thread_counts(cores);
    let progress = Progress::new(
        "bench: sweep",
        counts.len() as f64,
        counts.len(),
        Duration::ZERO,
    );
    for threads in counts {
        progress.stage(&format!("{threads} threads"));
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()?;
        let wall = Instant::now();
        pool.install(|| {
            points
                .par_iter()
                .map(|(s, p)| run::simulate(s, p, RunOptions::default()).map(|r| r.requests))
                .collect::<inferfair_sim::Result<Vec<u64>>>()
        })?;
        let wall_s = wall.elapsed().as_secs_f64();
        let rate = points.len() as f64 / wall_s;
        let base_rate = *one.get_or_insert(rate);
        t.row(vec![
            threads.to_string(),
            points.len().to_string(),
            format!("{wall_s:.2}"),
            format!("{rate:.2}"),
            format!("{:.2}", rate / base_rate),
        ]);
        progress.advance(1.0, true);
    }
    drop(progress);
    println!();
    println!(
        "Sweep: {} points (policies x 8 seeds; 100 models on 4 GPUs, about 100,000 requests each), {cores} cores",
        points.len()
    );
    print!("{}", t.render());
    Ok(())
}

/// 1, 2, 4, ... up to `cores` (and `cores` itself); at least 1 and 2.
fn thread_counts(cores: usize) -> Vec<usize> {
    let mut v: Vec<usize> = std::iter::successors(Some(1usize), |&n| n.checked_mul(2))
        .take_while(|&n| n <= cores.max(2))
        .collect();
    if *v.last().expect("not empty") != cores && cores > 2 {
        v.push(cores);
    }
    v
}
