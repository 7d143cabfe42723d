//! `inferfair simulate` and `inferfair compare`.

use super::clockwork_log::ClockworkLog;
use super::output::{Observers, RequestLog, json_doc, render_tables, write_results};
use super::progress::Progress;
use super::{Format, Overrides, load_scenario};
use anyhow::Result;
use clap::Args;
use inferfair_sim::engine::Observer;
use inferfair_sim::run::{self, RunOptions};
use std::path::PathBuf;

/// Arguments of `simulate`.
#[derive(Args, Debug)]
pub struct SimulateArgs {
    /// Scenario file (TOML).
    scenario: PathBuf,
    /// Scheduling policy: fifo, clockwork or inferfair.
    #[arg(long, default_value = "fifo")]
    policy: String,
    #[command(flatten)]
    overrides: Overrides,
    /// Write summary.json, per_model.csv and the resolved scenario.toml here.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Output format on stdout.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Also write requests.csv (one row per request) to --out.
    #[arg(long, requires = "out")]
    requests: bool,
    /// Also write clockwork_requests.tsv (one row per request, in Clockwork's
    /// request-log columns; see docs/clockwork.md) to --out.
    #[arg(long, requires = "out")]
    clockwork_log: bool,
    /// Also run every model alone to report normalized goodput and isolation metrics.
    #[arg(long)]
    isolation: bool,
}

/// Arguments of `compare`.
#[derive(Args, Debug)]
pub struct CompareArgs {
    /// Scenario file (TOML).
    scenario: PathBuf,
    /// Policies to compare, comma-separated.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "fifo,clockwork,inferfair"
    )]
    policies: Vec<String>,
    #[command(flatten)]
    overrides: Overrides,
    /// Write summary.json, per_model.csv and the resolved scenario.toml here.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Output format on stdout.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

fn print(
    format: Format,
    scenario: &inferfair_sim::Scenario,
    results: &[inferfair_sim::RunResult],
) -> Result<()> {
    match format {
        Format::Table => print!("{}", render_tables(scenario, results)),
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&json_doc(scenario, results, true))?
        ),
    }
    Ok(())
}

/// Runs `simulate`.
pub fn simulate(a: SimulateArgs) -> Result<()> {
    let scenario = load_scenario(&a.scenario, &a.overrides)?;
    inferfair_sim::policy::build(&a.policy, &scenario)?;
    let mut log = match (&a.out, a.requests) {
        (Some(dir), true) => Some(RequestLog::create(dir, &scenario)?),
        _ => None,
    };
    let mut cw_log = match (&a.out, a.clockwork_log) {
        (Some(dir), true) => Some(ClockworkLog::create(dir, &scenario)?),
        _ => None,
    };
    let mut observers = Observers(Vec::new());
    if let Some(l) = log.as_mut() {
        observers.0.push(l);
    }
    if let Some(l) = cw_log.as_mut() {
        observers.0.push(l);
    }
    let observing = !observers.0.is_empty();
    let mut progress = Progress::new(format!("{} / {}", scenario.name, a.policy));
    let mut tick = |f: f64| progress.update(f);
    let opts = RunOptions {
        observer: observing.then_some(&mut observers as &mut dyn Observer),
        progress: Some(&mut tick),
        timeline_bin: None,
    };
    let mut result = run::simulate(&scenario, &a.policy, opts)?;
    drop(progress);
    drop(observers);
    if a.isolation {
        let alone = run::alone_goodputs(&scenario, &a.policy)?;
        run::apply_isolation(&mut result, &alone);
    }
    let results = [result];
    if let Some(dir) = &a.out {
        if let Some(l) = log {
            l.finish()?;
        }
        if let Some(l) = cw_log {
            l.finish()?;
        }
        write_results(dir, &scenario, &results)?;
    }
    print(a.format, &scenario, &results)
}

/// Runs `compare`.
pub fn compare(a: CompareArgs) -> Result<()> {
    let scenario = load_scenario(&a.scenario, &a.overrides)?;
    let results = run::compare(&scenario, &a.policies)?;
    if let Some(dir) = &a.out {
        write_results(dir, &scenario, &results)?;
    }
    print(a.format, &scenario, &results)
}
