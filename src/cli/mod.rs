//! Command-line parsing (clap) and dispatch to the commands.

mod bench;
mod clockwork_log;
mod figures;
use inferfair::output;
mod profile;
mod progress;
mod replay;
mod simulate;
mod swarm;
mod sweep;
mod trace;

use anyhow::Result;
use clap::{Parser, Subcommand, ValueEnum};

/// Find out, before you deploy, which scheduling policy keeps every model's
/// users well served when many DNN models share GPUs.
#[derive(Parser, Debug)]
#[command(name = "inferfair", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Output format on stdout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Aligned tables for people.
    Table,
    /// One JSON document.
    Json,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a scenario under one policy.
    Simulate(simulate::SimulateArgs),
    /// Run a scenario under several policies, with isolation metrics.
    Compare(simulate::CompareArgs),
    /// Measure the simulator's speed on standard scenarios.
    Bench(bench::BenchArgs),
    /// Make, convert, summarize and cut workload traces (Azure Functions MAF1/MAF2, synthetic).
    Trace(trace::TraceArgs),
    /// Run a scenario in real time on a backend (cpu emulation or a real GPU).
    Replay(replay::ReplayArgs),
    /// Compare the simulator's predictions with real-time replays, per policy and model.
    Validate(replay::ValidateArgs),
    /// Execution profiles: measure one on a GPU.
    #[command(subcommand)]
    Profile(profile::ProfileCommand),
    /// Run a parameter sweep (resumable, shardable) into merged results with confidence intervals.
    Sweep(sweep::SweepArgs),
    /// Run the sweeps the figure specs need and draw the figures (PNG, SVG, CSV).
    Figures(figures::FiguresArgs),
    /// Run random valid scenarios with every invariant checked (a seeded swarm tester).
    Swarm(swarm::SwarmArgs),
}

/// Parses the command line and runs the command.
pub fn run() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Simulate(a) => simulate::simulate(a),
        Command::Compare(a) => simulate::compare(a),
        Command::Bench(a) => bench::bench(a),
        Command::Trace(a) => trace::trace(a),
        Command::Replay(a) => replay::replay(a),
        Command::Validate(a) => replay::validate(a),
        Command::Profile(c) => profile::run(c),
        Command::Sweep(a) => sweep::sweep(a),
        Command::Figures(a) => figures::figures(a),
        Command::Swarm(a) => swarm::swarm(a),
    }
}

/// Overrides of a scenario's seed and scaling knobs from the command line.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct Overrides {
    /// Seed of every random stream (default: the scenario's).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Multiply every arrival rate (the scenario's rate_scale).
    #[arg(long)]
    pub rate_scale: Option<f64>,
    /// Multiply every inter-arrival CV (the scenario's cv_scale).
    #[arg(long)]
    pub cv_scale: Option<f64>,
    /// Multiply every SLO (the scenario's slo_scale).
    #[arg(long)]
    pub slo_scale: Option<f64>,
}

/// Loads a scenario with the command line's overrides applied.
pub fn load_scenario(path: &std::path::Path, o: &Overrides) -> Result<inferfair_sim::Scenario> {
    load_scenario_with(path, o, |_| {})
}

/// Loads a scenario with the command line's overrides and `edit` applied.
pub fn load_scenario_with(
    path: &std::path::Path,
    o: &Overrides,
    edit: impl FnOnce(&mut inferfair_sim::scenario::ScenarioFile),
) -> Result<inferfair_sim::Scenario> {
    Ok(inferfair_sim::Scenario::load_with(path, |f| {
        edit(f);
        if let Some(s) = o.seed {
            f.seed = s;
        }
        if let Some(x) = o.rate_scale {
            f.rate_scale = x;
        }
        if let Some(x) = o.cv_scale {
            f.cv_scale = x;
        }
        if let Some(x) = o.slo_scale {
            f.slo_scale = x;
        }
    })?)
}
