//! `inferfair simulate` and `inferfair compare`.

use super::clockwork_log::ClockworkLog;
use super::output::{Observers, RequestLog, json_doc, render_tables, write_results};
use super::{Format, Overrides, load_scenario};
use crate::progress::Progress;
use anyhow::Result;
use clap::Args;
use inferfair::rundir::RunDir;
use inferfair::trace_events::{DEFAULT_MAX_EVENTS, TraceEvents, TraceOptions};
use inferfair_sim::engine::Observer;
use inferfair_sim::run::{self, RunOptions};
use std::path::PathBuf;

/// Arguments of `simulate`.
#[derive(Args, Debug)]
pub struct SimulateArgs {
    /// Scenario file (TOML).
    scenario: PathBuf,
    /// Scheduling policy (any case): fifo, clockwork, inferfair, edf, fair,
    /// shepherd, or one a program registered (docs/policies.md).
    #[arg(long, default_value = "fifo", value_parser = super::policy_parser(), ignore_case = true)]
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
    /// Write the GPU timeline (batches, loads, queue lengths) as Chrome
    /// trace-event JSON, for Perfetto or chrome://tracing.
    #[arg(long, value_name = "FILE")]
    trace_events: Option<PathBuf>,
    /// Keep only trace events within this window of simulated time, in seconds (e.g. 10:12, or 30: for the rest).
    #[arg(long, value_name = "FROM:TO", requires = "trace_events")]
    trace_window: Option<String>,
    /// Stop writing trace events after this many (the file notes the cut).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_EVENTS)]
    trace_max_events: u64,
}

/// Arguments of `compare`.
#[derive(Args, Debug)]
pub struct CompareArgs {
    /// Scenario file (TOML).
    scenario: PathBuf,
    /// Policies to compare, comma-separated (any case); `all` for every policy.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "fifo,clockwork,inferfair",
        value_parser = super::policies_parser(),
        ignore_case = true
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
    let run_dir = a.out.as_deref().map(RunDir::begin).transpose()?;
    let mut log = match (&a.out, a.requests) {
        (Some(dir), true) => Some(RequestLog::create(dir, &scenario)?),
        _ => None,
    };
    let mut cw_log = match (&a.out, a.clockwork_log) {
        (Some(dir), true) => Some(ClockworkLog::create(dir, &scenario)?),
        _ => None,
    };
    let mut trace = match &a.trace_events {
        Some(path) => Some(TraceEvents::create(
            path,
            &scenario,
            &a.policy,
            trace_options(&a)?,
        )?),
        None => None,
    };
    let mut observers = Observers(Vec::new());
    if let Some(l) = log.as_mut() {
        observers.0.push(l);
    }
    if let Some(l) = cw_log.as_mut() {
        observers.0.push(l);
    }
    if let Some(t) = trace.as_mut() {
        observers.0.push(t);
    }
    let observing = !observers.0.is_empty();
    let progress = Progress::new(
        format!("{} / {}", scenario.name, a.policy),
        1.0,
        0,
        std::time::Duration::from_secs(1),
    );
    let mut tick = |f: f64| progress.set(f);
    let opts = RunOptions {
        observer: observing.then_some(&mut observers as &mut dyn Observer),
        progress: Some(&mut tick),
        ..Default::default()
    };
    let mut result = run::simulate(&scenario, &a.policy, opts)?;
    drop(progress);
    drop(observers);
    if let (Some(t), Some(path)) = (trace, &a.trace_events) {
        let (n, cut) = t.finish()?;
        if cut {
            eprintln!(
                "inferfair: warning: {} holds the first {n} trace events only (--trace-max-events); narrow it with --trace-window",
                path.display()
            );
        }
    }
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
    if let Some(d) = run_dir {
        d.finish(about("simulate", &scenario, &results))?;
    }
    print(a.format, &scenario, &results)
}

/// What a run folder's manifest says ran.
pub fn about(
    command: &str,
    scenario: &inferfair_sim::Scenario,
    results: &[inferfair_sim::RunResult],
) -> serde_json::Value {
    serde_json::json!({
        "command": command,
        "scenario": scenario.name,
        "seed": scenario.seed,
        "policies": results.iter().map(|r| r.policy.clone()).collect::<Vec<_>>(),
    })
}

fn trace_options(a: &SimulateArgs) -> Result<TraceOptions> {
    let mut o = TraceOptions {
        max_events: a.trace_max_events,
        ..Default::default()
    };
    if let Some(w) = &a.trace_window {
        let bad = || {
            anyhow::anyhow!(
                "--trace-window: expected FROM:TO in seconds (either may be empty), found `{w}`"
            )
        };
        let (from, to) = w.split_once(':').ok_or_else(bad)?;
        let secs = |s: &str| -> Result<Option<f64>> {
            let s = s.trim();
            if s.is_empty() {
                return Ok(None);
            }
            match s.parse::<f64>() {
                Ok(v) if v.is_finite() && v >= 0.0 => Ok(Some(v)),
                _ => Err(bad()),
            }
        };
        if let Some(f) = secs(from)? {
            o.from = inferfair_sim::time::from_secs(f);
        }
        if let Some(t) = secs(to)? {
            o.to = inferfair_sim::time::from_secs(t);
        }
        if o.to <= o.from {
            return Err(bad());
        }
    }
    Ok(o)
}

/// Runs `compare`.
pub fn compare(a: CompareArgs) -> Result<()> {
    let scenario = load_scenario(&a.scenario, &a.overrides)?;
    let policies: Vec<String> = if a.policies.iter().any(|p| p == "all") {
        inferfair_sim::policy::names()
            .into_iter()
            .map(String::from)
            .collect()
    } else {
        a.policies.clone()
    };
    let results = run::compare(&scenario, &policies)?;
    if let Some(dir) = &a.out {
        let d = RunDir::begin(dir)?;
        write_results(dir, &scenario, &results)?;
        d.finish(about("compare", &scenario, &results))?;
    }
    print(a.format, &scenario, &results)
}
