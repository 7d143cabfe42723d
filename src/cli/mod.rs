//! Command-line parsing (clap) and dispatch to the commands, and what the
//! commands share: scenario overrides (`--set`, seed and scales), policy
//! names, the output format. The conventions are documented in `docs/cli.md`.
//! [`main`] is the whole program: the `inferfair` binary calls it, and so can
//! a program that first registers policies of its own
//! (`inferfair_sim::policy::register`, `examples/custom_policy.rs`).

mod bench;
mod clockwork_log;
mod figures;
mod mix;
use inferfair::output;
mod profile;
mod replay;
mod simulate;
mod swarm;
mod sweep;
mod trace;

use anyhow::Result;
use clap::{Parser, Subcommand, ValueEnum};
use inferfair_sim::scenario::ScenarioFile;
use inferfair_sim::set::Set;

/// Find out, before you deploy, which scheduling policy keeps every model's
/// users well served when many DNN models share GPUs.
#[derive(Parser, Debug)]
#[command(name = "inferfair", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Output format on stdout (`--format`, the same on every command: docs/cli.md).
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
    /// Random heterogeneous model mixes: write one as a scenario.
    #[command(subcommand)]
    Mix(mix::MixCommand),
    /// Run random valid scenarios with every invariant checked (a seeded swarm tester).
    Swarm(swarm::SwarmArgs),
}

/// The `inferfair` program: parses the command line, runs the command, and
/// turns an error into a message on stderr and a failure exit code.
/// Temporary files of results being written are removed on SIGINT/SIGTERM.
pub fn main() -> std::process::ExitCode {
    inferfair::atomic::install_signal_cleanup();
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("inferfair: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Parses the command line and runs the command.
pub fn run() -> Result<()> {
    dispatch(Cli::parse())
}

/// Runs the command line `args` (the first is the program's name), e.g.
/// `["inferfair", "compare", "s.toml", "--policies", "fifo,mine"]`; a
/// malformed one (or `--help`) is an error holding clap's message.
pub fn run_from<I, T>(args: I) -> Result<()>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    dispatch(Cli::try_parse_from(args)?)
}

fn dispatch(cli: Cli) -> Result<()> {
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
        Command::Mix(c) => mix::run(c),
        Command::Swarm(a) => swarm::swarm(a),
    }
}

/// The policy names `--policy` accepts: every built-in and registered
/// policy, in any case (`InferFair` is `inferfair`); clap suggests the
/// nearest name for a typo and names the flag.
pub fn policy_parser() -> impl clap::builder::TypedValueParser<Value = String> {
    names_parser(false)
}

/// The same for `--policies`, which also takes `all` (every policy).
pub fn policies_parser() -> impl clap::builder::TypedValueParser<Value = String> {
    names_parser(true)
}

fn names_parser(all: bool) -> impl clap::builder::TypedValueParser<Value = String> {
    use clap::builder::TypedValueParser;
    let mut names = inferfair_sim::policy::names();
    if all {
        names.push("all");
    }
    clap::builder::PossibleValuesParser::new(names).map(|name: String| name.to_lowercase())
}

/// A flag's value that must be a positive, finite number.
pub fn positive(s: &str) -> std::result::Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        Ok(v) => Err(format!("must be a positive number, found {v}")),
        Err(_) => Err(format!("expected a number, found `{s}`")),
    }
}

pub(crate) fn parse_set(s: &str) -> std::result::Result<Set, String> {
    let mut set: Set = s.parse()?;
    // Paths given on the command line are taken from the current folder.
    let is_path = matches!(
        set.path.last().map(String::as_str),
        Some("profile" | "path" | "next_days")
    );
    if is_path && let Some(v) = &mut set.value {
        let abs = |p: &str| -> toml::Value {
            std::path::absolute(p)
                .map(|a| toml::Value::String(a.display().to_string()))
                .unwrap_or_else(|_| toml::Value::String(p.to_string()))
        };
        match v {
            toml::Value::String(p) => *v = abs(p),
            toml::Value::Array(items) => {
                for it in items.iter_mut() {
                    if let toml::Value::String(p) = it {
                        *it = abs(p);
                    }
                }
            }
            _ => {}
        }
    }
    Ok(set)
}

/// Changes to a scenario from the command line: `--set KEY=VALUE`, then the
/// seed and scaling flags (which win over a `--set` of the same key).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct Overrides {
    /// Set a key of the scenario file before it is checked, e.g. `cluster.gpus=2`,
    /// `models.0.slo_ms=50`, `policy.inferfair.fairness=0.5` (repeatable; an
    /// empty VALUE removes the key; keys: docs/scenarios.md).
    #[arg(long = "set", value_name = "KEY=VALUE", value_parser = parse_set)]
    pub sets: Vec<Set>,
    /// Seed of every random stream (default: the scenario's).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Multiply every arrival rate (the scenario's rate_scale).
    #[arg(long, value_parser = positive)]
    pub rate_scale: Option<f64>,
    /// Multiply every inter-arrival CV (the scenario's cv_scale).
    #[arg(long, value_parser = positive)]
    pub cv_scale: Option<f64>,
    /// Multiply every SLO (the scenario's slo_scale).
    #[arg(long, value_parser = positive)]
    pub slo_scale: Option<f64>,
    /// Number of GPUs (the scenario's cluster.gpus; the one-pool form only).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub gpus: Option<u32>,
}

impl Overrides {
    /// Applies the changes to a scenario file as written.
    pub fn apply(&self, file: &ScenarioFile) -> Result<ScenarioFile> {
        let mut f = file.with_sets(&self.sets)?;
        if let Some(s) = self.seed {
            f.seed = s;
        }
        if let Some(x) = self.rate_scale {
            f.rate_scale = x;
        }
        if let Some(x) = self.cv_scale {
            f.cv_scale = x;
        }
        if let Some(x) = self.slo_scale {
            f.slo_scale = x;
        }
        if let Some(g) = self.gpus {
            if !f.cluster.pools.is_empty() {
                anyhow::bail!(
                    "--gpus sets the number of GPUs of the one-pool form; this scenario has [[cluster.pools]]: use --set cluster.pools.N.count=..."
                );
            }
            f.cluster.gpus = Some(g);
        }
        Ok(f)
    }

    /// How errors in the resolved scenario name its source.
    fn label(&self, path: &std::path::Path) -> String {
        if self.sets.is_empty() {
            path.display().to_string()
        } else {
            let sets: Vec<String> = self.sets.iter().map(|s| format!("--set {s}")).collect();
            format!("{} with {}", path.display(), sets.join(" "))
        }
    }
}

/// Loads a scenario with the command line's overrides applied.
pub fn load_scenario(path: &std::path::Path, o: &Overrides) -> Result<inferfair_sim::Scenario> {
    load_scenario_with(path, o, |_| {})
}

/// Loads a scenario with the command line's overrides and then `edit` applied.
pub fn load_scenario_with(
    path: &std::path::Path,
    o: &Overrides,
    edit: impl FnOnce(&mut ScenarioFile),
) -> Result<inferfair_sim::Scenario> {
    let file = ScenarioFile::load(path)?;
    let mut file = o.apply(&file)?;
    edit(&mut file);
    let no_slo: Vec<String> = file
        .models
        .iter()
        .enumerate()
        .filter(|(_, m)| m.slo_ms.is_none() && m.slo_factor.is_none())
        .map(|(i, m)| format!("models[{i}] ({})", m.name.as_deref().unwrap_or(&m.model)))
        .collect();
    if !no_slo.is_empty() {
        let more = no_slo.len().saturating_sub(3);
        let mut which = no_slo[..no_slo.len().min(3)].join(", ");
        if more > 0 {
            which.push_str(&format!(" and {more} more"));
        }
        eprintln!(
            "inferfair: note: {which} give no slo_ms or slo_factor: their SLO is {} ms (Clockwork's default)",
            inferfair_sim::scenario::DEFAULT_SLO_MS
        );
    }
    let base = path.parent().unwrap_or(std::path::Path::new("."));
    Ok(inferfair_sim::Scenario::resolve(
        file,
        base,
        &o.label(path),
    )?)
}
