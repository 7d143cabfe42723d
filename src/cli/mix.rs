//! `inferfair mix gen`: writes a seeded random heterogeneous mix as a
//! scenario file (the generator and its definitions: `inferfair_sim::mix`).

use anyhow::{Context, Result, anyhow};
use clap::{Args, Subcommand};
use inferfair::output::write_atomic;
use inferfair_sim::mix::{self, MixSpec};
use inferfair_sim::profile::Profile;
use std::path::{Path, PathBuf};

/// `mix` subcommands.
#[derive(Subcommand, Debug)]
pub enum MixCommand {
    /// Draw a random mix of models (batch curves, rates, SLOs, burstiness)
    /// from a profile, at a load relative to the cluster's capacity, and
    /// write it as a scenario.
    Gen(GenArgs),
}

/// Arguments of `mix gen`.
#[derive(Args, Debug)]
pub struct GenArgs {
    /// Seed: the same seed gives the same mix.
    #[arg(long)]
    seed: u64,
    /// Number of models: K, or a range LO-HI to draw it from.
    #[arg(long, default_value = "4", value_parser = parse_range)]
    models: (u32, u32),
    /// Number of GPUs (rates grow with it).
    #[arg(long, default_value_t = 1)]
    gpus: u32,
    /// Load relative to the cluster's capacity (written as rate_scale): 1 = the GPU-time demand equals the GPUs.
    #[arg(long, default_value_t = 1.0)]
    load: f64,
    /// The profile to draw models from.
    #[arg(long, default_value = "profiles/v100.csv")]
    profile: PathBuf,
    /// Seconds of arrivals.
    #[arg(long, default_value_t = 30.0)]
    duration_s: f64,
    /// Seconds of warm-up (not measured).
    #[arg(long, default_value_t = 5.0)]
    warmup_s: f64,
    /// Scenario file to write (default: standard output); the profile is named relative to it.
    #[arg(long)]
    out: Option<PathBuf>,
}

/// `K` or `LO-HI`.
pub fn parse_range(s: &str) -> Result<(u32, u32), String> {
    let num = |t: &str| {
        t.trim()
            .parse::<u32>()
            .map_err(|_| format!("expected a whole number or LO-HI, found `{s}`"))
    };
    match s.split_once('-') {
        Some((a, b)) => Ok((num(a)?, num(b)?)),
        None => num(s).map(|k| (k, k)),
    }
}

/// Runs a `mix` subcommand.
pub fn run(c: MixCommand) -> Result<()> {
    match c {
        MixCommand::Gen(a) => gen_cmd(a),
    }
}

fn gen_cmd(a: GenArgs) -> Result<()> {
    let profile = Profile::load(&a.profile)?;
    let spec = MixSpec {
        seed: a.seed,
        models: a.models,
        gpus: a.gpus,
        load: a.load,
        duration_s: a.duration_s,
        warmup_s: a.warmup_s,
    };
    let named = match &a.out {
        Some(out) => relative_to(&a.profile, out.parent().unwrap_or(Path::new(".")))?,
        None => a.profile.clone(),
    };
    let file = mix::generate(&spec, &profile, named).map_err(|e| anyhow!("mix gen: {e}"))?;
    let mut text = format!(
        "# inferfair mix gen --seed {} --models {} --gpus {} --load {} --profile {}\n\
         # GPU-time demand at rate_scale 1: {:.2} GPUs (docs/results.md, random mixes)\n",
        a.seed,
        if a.models.0 == a.models.1 {
            a.models.0.to_string()
        } else {
            format!("{}-{}", a.models.0, a.models.1)
        },
        a.gpus,
        a.load,
        a.profile.display(),
        mix::demand(&file, &profile),
    );
    text.push_str(&toml::to_string(&file).context("the scenario serializes")?);
    match &a.out {
        Some(out) => write_atomic(out, text.as_bytes())?,
        None => print!("{text}"),
    }
    Ok(())
}

/// `path` relative to the folder `dir` (both made absolute first).
fn relative_to(path: &Path, dir: &Path) -> Result<PathBuf> {
    let abs = |p: &Path| std::path::absolute(p).with_context(|| format!("{}", p.display()));
    let (p, d) = (abs(path)?, abs(dir)?);
    let pc: Vec<_> = p.components().collect();
    let dc: Vec<_> = d.components().collect();
    let common = pc.iter().zip(&dc).take_while(|(a, b)| a == b).count();
    let mut out = PathBuf::new();
    for _ in common..dc.len() {
        out.push("..");
    }
    for c in &pc[common..] {
        out.push(c);
    }
    Ok(out)
}
