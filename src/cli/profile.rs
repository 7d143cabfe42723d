//! `inferfair profile measure`: measures every model of a profile on a
//! backend and writes a profile in the simulator's format, with a header
//! naming the device, its driver and the date.

use super::output::{Table, write_atomic};
use anyhow::Result;
use clap::builder::PossibleValuesParser;
use clap::{Args, Subcommand};
use inferfair_replay::interfere;
use inferfair_replay::measure::{self, MeasureOptions};
use inferfair_replay::sizing;
use inferfair_sim::profile::Profile;
use inferfair_sim::time::ms;
use std::path::PathBuf;

/// `profile` subcommands.
#[derive(Subcommand, Debug)]
pub enum ProfileCommand {
    /// Measure every model of a profile at every batch size, and its weight
    /// transfers, on a backend; write a profile of the measured times.
    Measure(MeasureArgs),
}

/// Arguments of `profile measure`.
#[derive(Args, Debug)]
pub struct MeasureArgs {
    /// Where to run: `cuda` (a GPU; needs a build with `--features cuda`) or
    /// `cpu` (timed waits of the source profile's durations: it reproduces
    /// that profile, a test of the measuring path, not a measurement).
    #[arg(long, default_value = "cpu", value_parser = PossibleValuesParser::new(inferfair_replay::backend::NAMES))]
    backend: String,
    /// The CUDA device.
    #[arg(long, value_name = "N", default_value_t = 0)]
    gpu: usize,
    /// The models to measure: their batch sizes, weight bytes and GFLOPs (e.g. profiles/v100.csv).
    #[arg(long)]
    profile: PathBuf,
    /// Only these models (comma-separated; default: all of the profile's).
    #[arg(long, value_delimiter = ',')]
    models: Vec<String>,
    /// The measured profile to write (e.g. profiles/h200.csv).
    #[arg(long)]
    out: PathBuf,
    /// Untimed runs of each batch size first.
    #[arg(long, default_value_t = 5)]
    warmup: u32,
    /// Timed runs of each batch size.
    #[arg(long, default_value_t = 30)]
    reps: u32,
    /// Timed loads of each model.
    #[arg(long, default_value_t = 5)]
    load_reps: u32,
    /// Instead of a profile, measure how much each model (victim) slows down
    /// beside each other (aggressor) running in a loop on a second stream,
    /// and write the pairwise interference table (victim,aggressor,slowdown)
    /// to --out, for `[cluster.interference] model = "pairwise"`.
    #[arg(long)]
    pairs: bool,
    /// The batch size of --pairs (each model's smallest allowed size that holds it).
    #[arg(long, value_name = "N", default_value_t = 8, requires = "pairs")]
    pair_batch: u32,
    /// Also estimate the profile's `util` column: two copies of each batch at
    /// once, util = their slowdown / 2.
    #[arg(long, conflicts_with = "pairs")]
    util: bool,
}

/// Runs a `profile` subcommand.
pub fn run(c: ProfileCommand) -> Result<()> {
    match c {
        ProfileCommand::Measure(a) => measure_cmd(a),
    }
}

fn measure_cmd(a: MeasureArgs) -> Result<()> {
    // Every timed run is kept until its model is done: bound them.
    if a.reps > 1_000_000 || a.load_reps > 1_000_000 || a.warmup > 1_000_000 {
        anyhow::bail!(
            "--reps, --load-reps and --warmup must be at most 1000000, found {}, {} and {}",
            a.reps,
            a.load_reps,
            a.warmup
        );
    }
    let source = Profile::load(&a.profile)?;
    let backend = inferfair_replay::backend(&a.backend, a.gpu)?;
    let opts = MeasureOptions {
        warmup: a.warmup,
        reps: a.reps,
        load_reps: a.load_reps,
    };
    let device = backend.describe();
    if a.pairs {
        return pairs_cmd(&a, &source, backend.as_ref(), opts, &device);
    }
    eprintln!("measuring {} on {device}", a.profile.display());
    let ms_ = measure::measure(backend.as_ref(), &source, &a.models, opts, &mut |m| {
        eprintln!("  {m}")
    })?;
    let utils = if a.util {
        eprintln!("utils: two copies of each batch at once");
        Some(interfere::utils(
            backend.as_ref(),
            &source,
            &a.models,
            opts,
            &mut |m| eprintln!("  {m}"),
        )?)
    } else {
        None
    };
    let mut comments = vec![format!(
        "inferfair execution profile: measured on {device}, {}",
        measure::today()
    )];
    if a.backend == "cpu" {
        eprintln!(
            "note: the cpu backend waits for the source profile's durations: it reproduces {}, it does not measure hardware (use --backend cuda on a GPU)",
            a.profile.display()
        );
        comments.push(format!(
            "measured by `inferfair profile measure --backend cpu`: no GPU was used; each batch and load was a timed wait of \
             its duration in {} on a CPU thread, so exec_us (the median of {} waits after {} warm-up waits), exec_p99_us and \
             load_us (the median of {} waits) are that profile's times plus the host's timer noise (a test of the measuring \
             path); device_exec_us is empty",
            a.profile.display(),
            opts.reps.max(1),
            opts.warmup,
            opts.load_reps.max(1)
        ));
    } else {
        comments.push(format!(
            "measured by `inferfair profile measure --backend {}`: exec_us is the median of {} runs after {} warm-up runs \
             (host view, issue to completion), exec_p99_us their 99th percentile, device_exec_us the median device time (CUDA events); \
             load_us the median of {} loads (allocation and host-to-device copy from pinned memory)",
            a.backend,
            opts.reps.max(1),
            opts.warmup,
            opts.load_reps.max(1)
        ));
        comments.push(format!(
            "kernels: per model {} fp32 GEMM layers and memory-bound kernels sized from the weights and gflops of {} (replay/src/sizing.rs)",
            sizing::LAYERS,
            a.profile.display()
        ));
    }
    comments.push("units: exec_us and load_us in microseconds, weights_mib in MiB, gflops per sample (10^9 floating-point operations)".into());
    if a.util {
        comments.push(
            "util: two copies of each batch run at once in a loop on two runners; util = their slowdown / 2 \
             (the utilization model without contention: s = max(1, 2 util)); 0.500 means at most 0.5"
                .into(),
        );
    }
    let text = measure::profile_csv(&comments, &ms_, utils.as_deref());
    write_atomic(&a.out, text.as_bytes())?;
    let mut t = Table::new(&[
        "model",
        "batch",
        "profiled ms",
        "measured ms",
        "p99 ms",
        "ratio",
    ]);
    for m in &ms_ {
        let src = source
            .get(&m.name)
            .expect("measured models come from the profile");
        for b in &m.batches {
            let before = src.exec_exact(b.size).unwrap_or(0);
            t.row(vec![
                m.name.clone(),
                b.size.to_string(),
                format!("{:.3}", ms(before)),
                format!("{:.3}", ms(b.exec.median_ns)),
                format!("{:.3}", ms(b.exec.p99_ns)),
                format!("{:.3}", b.exec.median_ns as f64 / before.max(1) as f64),
            ]);
        }
    }
    print!("{}", t.render());
    eprintln!("wrote {}", a.out.display());
    Ok(())
}

fn pairs_cmd(
    a: &MeasureArgs,
    source: &Profile,
    backend: &dyn inferfair_replay::Backend,
    opts: MeasureOptions,
    device: &str,
) -> Result<()> {
    eprintln!(
        "measuring pairwise interference of {} on {device} at batch size {}",
        a.profile.display(),
        a.pair_batch
    );
    let pairs = interfere::pairs(backend, source, &a.models, a.pair_batch, opts, &mut |m| {
        eprintln!("  victim {m}")
    })?;
    let comments = vec![
        format!(
            "inferfair pairwise interference: measured on {device}, {}",
            measure::today()
        ),
        format!(
            "measured by `inferfair profile measure --backend {} --pairs`: each victim at batch size {} (or its largest) \
             timed {} times alone, then {} times while the aggressor runs in a loop on a second stream; \
             slowdown = median beside / median alone (at least 1)",
            a.backend,
            a.pair_batch,
            opts.reps.max(1),
            opts.reps.max(1)
        ),
    ];
    write_atomic(&a.out, interfere::pairs_csv(&comments, &pairs).as_bytes())?;
    let mut t = Table::new(&["victim", "aggressor", "slowdown"]);
    for p in &pairs {
        t.row(vec![
            p.victim.clone(),
            p.aggressor.clone(),
            format!("{:.3}", p.slowdown),
        ]);
    }
    print!("{}", t.render());
    eprintln!("wrote {}", a.out.display());
    Ok(())
}
