//! Command-line parsing (clap) and dispatch to the commands.

mod bench;
mod output;
mod profile;
mod progress;
mod replay;
mod simulate;

use anyhow::Result;
use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

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
    /// Run a scenario in real time on a backend (cpu emulation or a real GPU).
    Replay(replay::ReplayArgs),
    /// Compare the simulator's predictions with real-time replays, per policy and model.
    Validate(replay::ValidateArgs),
    /// Execution profiles: measure one on a GPU.
    #[command(subcommand)]
    Profile(profile::ProfileCommand),
}

/// Parses the command line and runs the command.
pub fn run() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Simulate(a) => simulate::simulate(a),
        Command::Compare(a) => simulate::compare(a),
        Command::Bench(a) => bench::bench(a),
        Command::Replay(a) => replay::replay(a),
        Command::Validate(a) => replay::validate(a),
        Command::Profile(c) => profile::run(c),
    }
}

/// Loads a scenario, with its seed overridden if asked.
pub fn load_scenario(path: &PathBuf, seed: Option<u64>) -> Result<inferfair_sim::Scenario> {
    let s = inferfair_sim::Scenario::load(path)?;
    Ok(match seed {
        Some(seed) => s.with_seed(seed),
        None => s,
    })
}
