//! `inferfair trace gen | convert | stats | slice | bench`: make, convert,
//! summarize and cut workload traces (formats and knobs: docs/traces.md).

use super::output::AtomicFile;
use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use inferfair_sim::rng::Rng;
use inferfair_sim::time::{Nanos, Unit, checked};
use inferfair_sim::trace::generate::{GenConfig, Generator};
use inferfair_sim::trace::mapping::{self, Assign, MinuteSource, Replay, Slice, Style};
use inferfair_sim::trace::{self, Writer, maf1, maf2, stats};
use inferfair_sim::workload::ArrivalStream;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// Arguments of `trace`.
#[derive(Args, Debug)]
pub struct TraceArgs {
    #[command(subcommand)]
    command: TraceCommand,
}

#[derive(Subcommand, Debug)]
enum TraceCommand {
    /// Generate a synthetic Azure-like trace: MAF1-schema day files, or a canonical request trace.
    Gen(GenArgs),
    /// Convert Azure Functions traces (MAF1 day files or a MAF2 file) to a canonical request trace.
    Convert(ConvertArgs),
    /// Summarize a trace: rate, CV, per-model shares, peak-to-mean, rate over time.
    Stats(StatsArgs),
    /// Cut a time range out of a canonical request trace.
    Slice(SliceArgs),
    /// Measure how fast a MAF1 day file is read (use a release build).
    Bench(BenchArgs),
}

/// What `trace gen` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum GenKind {
    /// Day files in the MAF1 schema (invocations_per_function_md.anon.dNN.csv).
    Maf1,
    /// A canonical request trace (arrival_ms,model[,slo_ms]) drawn from a generated day.
    Requests,
}

/// Input formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum InputFormat {
    /// Decide from the header.
    Auto,
    /// Canonical request trace (arrival_ms,model[,slo_ms]).
    Canonical,
    /// Azure Functions 2019 per-minute counts (one or more day files).
    Maf1,
    /// Azure Functions 2021 per-invocation records.
    Maf2,
}

/// Whose mapping of functions to instances.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum StyleArg {
    /// Rank by total invocations, keep idle functions, contiguous blocks.
    Clockwork,
    /// File order, drop idle functions, stripe.
    Alpaserve,
}

/// How ranked functions are dealt to instances.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum AssignArg {
    /// Rank i to instance n*i/f.
    Block,
    /// Rank i to instance i % n.
    Stripe,
}

/// How functions become model instances and counts become arrivals.
#[derive(Args, Debug, Clone)]
struct MapArgs {
    /// Model instances to map the functions to: NAME[:COUNT],... in order;
    /// COUNT copies are named NAME-0 .. NAME-(COUNT-1), as a scenario's
    /// `[[models]]` entry with `count` names them (a single copy is just NAME).
    #[arg(long, default_value = "m:100", value_name = "SPEC")]
    models: String,
    /// Multiply every COUNT by this (Clockwork's memory factor), rounding, at least 1.
    #[arg(long, default_value_t = 1.0, value_name = "F")]
    memory_factor: f64,
    /// clockwork: rank functions by total invocations over the whole input,
    /// keep idle ones, contiguous blocks; alpaserve: file order, drop those
    /// idle in the slice, stripe.
    #[arg(long, value_enum, default_value_t = StyleArg::Clockwork)]
    mapping: StyleArg,
    /// Override the mapping's assignment: block (rank i to instance n*i/f) or stripe (i % n).
    #[arg(long, value_enum)]
    assign: Option<AssignArg>,
    /// Leave out functions without invocations in the slice (default for alpaserve).
    #[arg(long, conflicts_with = "keep_idle")]
    drop_idle: bool,
    /// Keep functions without invocations in the slice (default for clockwork).
    #[arg(long)]
    keep_idle: bool,
    /// Start of the slice, in seconds from the start of the trace (a multiple of 60 for per-minute counts).
    #[arg(long, default_value_t = 0.0, value_name = "S")]
    start_s: f64,
    /// End of the slice in seconds (default: the end of the trace).
    #[arg(long, value_name = "S")]
    end_s: Option<f64>,
    /// Per-minute counts: sum counts over intervals of this many seconds (a
    /// multiple of 60) and spread each interval's evenly (AlpaServe's interval).
    #[arg(long, value_name = "S")]
    interval_s: Option<f64>,
    /// Per-minute counts: inter-arrival CV within an interval (1: Poisson, else Gamma).
    #[arg(long)]
    cv: Option<f64>,
    /// Per-minute counts: expected arrivals per counted invocation (Clockwork's load factor).
    #[arg(long, value_name = "F")]
    rate_scale: Option<f64>,
    /// Per-minute counts: scale so that all instances together receive this mean rate (replaces --rate-scale).
    #[arg(long, value_name = "RPS", conflicts_with = "rate_scale")]
    total_rps: Option<f64>,
    /// Compress time by this factor: a trace second lasts 1/F seconds (rates grow by F).
    #[arg(long, default_value_t = 1.0, value_name = "F")]
    time_scale: f64,
    /// Write an slo_ms column with this SLO on every request.
    #[arg(long, value_name = "MS")]
    slo_ms: Option<f64>,
    /// Seed of the arrival draws (each instance's stream is derived from it
    /// and its name) and, for `trace gen`, of the generated functions.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// Arguments of `trace gen`.
#[derive(Args, Debug)]
struct GenArgs {
    /// Output: a file (gzip if it ends in .gz), or for several days a folder
    /// that gets invocations_per_function_md.anon.dNN.csv files.
    #[arg(long)]
    out: PathBuf,
    /// maf1: day files in the Azure 2019 schema; requests: a canonical request trace.
    #[arg(long, value_enum, default_value_t = GenKind::Maf1)]
    kind: GenKind,
    /// Number of functions (a full real day has about 46,400).
    #[arg(long, default_value_t = inferfair_sim::trace::generate::FULL_DAY_FUNCTIONS)]
    functions: usize,
    /// Number of days.
    #[arg(long, default_value_t = 1)]
    days: usize,
    /// Multiply every function's rate (timers excepted) by this.
    #[arg(long, default_value_t = 1.0, value_name = "F")]
    scale: f64,
    #[command(
        flatten,
        next_help_heading = "Seed, and with --kind requests: mapping and arrivals"
    )]
    map: MapArgs,
}

/// Arguments of `trace convert`.
#[derive(Args, Debug)]
struct ConvertArgs {
    /// MAF1 day files (in day order) or one MAF2 file; plain or gzip.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// Output canonical trace (gzip if it ends in .gz).
    #[arg(long)]
    out: PathBuf,
    /// Input format (`--format` is an older name of it).
    #[arg(long = "input-format", alias = "format", value_enum, default_value_t = InputFormat::Auto)]
    input_format: InputFormat,
    #[command(flatten, next_help_heading = "Mapping and arrivals")]
    map: MapArgs,
}

/// Arguments of `trace stats`.
#[derive(Args, Debug)]
struct StatsArgs {
    /// A canonical trace, MAF1 day files (in day order) or a MAF2 file; plain or gzip.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// Input format (default: decided from the header).
    #[arg(long = "input-format", value_enum)]
    input_format: Option<InputFormat>,
    /// Bin of the rate over time for peak-to-mean (seconds; rounded to whole minutes for MAF1).
    #[arg(long, default_value_t = 60.0, value_name = "S")]
    bin_s: f64,
    /// Number of models (functions) listed.
    #[arg(long, default_value_t = 10)]
    top: usize,
    /// Rows of the histogram of the rate over time (0: none).
    #[arg(long, default_value_t = 24)]
    rows: usize,
    /// Output format on stdout (older spellings still accepted: `--json`,
    /// and an input format given to `--format`).
    #[arg(long, value_enum, default_value_t = StatsFormat::Table)]
    format: StatsFormat,
    /// `--format json` (an older spelling).
    #[arg(long, hide = true)]
    json: bool,
}

/// `trace stats --format`: the output format, or (an older use of the
/// flag, kept for scripts) the input format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum StatsFormat {
    /// Aligned text for people.
    Table,
    /// One JSON document.
    Json,
    #[value(hide = true)]
    Auto,
    #[value(hide = true)]
    Canonical,
    #[value(hide = true)]
    Maf1,
    #[value(hide = true)]
    Maf2,
}

impl StatsArgs {
    /// (input format, JSON output) from the flags and their older spellings.
    fn formats(&self) -> Result<(InputFormat, bool)> {
        let old_input = match self.format {
            StatsFormat::Table | StatsFormat::Json => None,
            StatsFormat::Auto => Some(InputFormat::Auto),
            StatsFormat::Canonical => Some(InputFormat::Canonical),
            StatsFormat::Maf1 => Some(InputFormat::Maf1),
            StatsFormat::Maf2 => Some(InputFormat::Maf2),
        };
        let input = match (self.input_format, old_input) {
            (Some(_), Some(_)) => {
                bail!("--format: give the input format with --input-format only")
            }
            (a, b) => a.or(b).unwrap_or(InputFormat::Auto),
        };
        Ok((input, self.json || self.format == StatsFormat::Json))
    }
}

/// Arguments of `trace slice`.
#[derive(Args, Debug)]
struct SliceArgs {
    /// Canonical trace (plain or gzip).
    input: PathBuf,
    /// Output canonical trace (gzip if it ends in .gz).
    #[arg(long)]
    out: PathBuf,
    /// Keep requests arriving at or after this time (seconds).
    #[arg(long, default_value_t = 0.0, value_name = "S")]
    start_s: f64,
    /// Keep requests arriving before this time (seconds; default: all).
    #[arg(long, value_name = "S")]
    end_s: Option<f64>,
    /// Keep the original times (default: shift so that start_s becomes 0).
    #[arg(long)]
    keep_time: bool,
    /// Keep only these models (comma-separated; default: all).
    #[arg(long, value_delimiter = ',')]
    models: Vec<String>,
}

/// Arguments of `trace bench`.
#[derive(Args, Debug)]
struct BenchArgs {
    /// A MAF1 day file (make a full-size one with `inferfair trace gen --out FILE`).
    file: PathBuf,
    /// Repetitions; the best time is reported.
    #[arg(long, default_value_t = 3)]
    repeat: u32,
    /// Model instances for the mapping step.
    #[arg(long, default_value_t = 1000)]
    instances: usize,
}

/// Runs `trace`.
pub fn trace(a: TraceArgs) -> Result<()> {
    match a.command {
        TraceCommand::Gen(a) => gen_cmd(a),
        TraceCommand::Convert(a) => convert(a),
        TraceCommand::Stats(a) => stats_cmd(a),
        TraceCommand::Slice(a) => slice(a),
        TraceCommand::Bench(a) => bench(a),
    }
}

/// Writes `path` atomically, through a gzip encoder if its name ends in `.gz`.
fn write_output(path: &Path, f: impl FnOnce(&mut dyn Write) -> Result<()>) -> Result<()> {
    let mut file = AtomicFile::create(path)?;
    if trace::is_gz_name(path) {
        let mut gz = flate2::write::GzEncoder::new(file.writer(), flate2::Compression::new(6));
        f(&mut gz)?;
        gz.finish()
            .with_context(|| format!("cannot write {}", path.display()))?;
    } else {
        f(file.writer())?;
    }
    file.commit()
}

/// Instance names from `NAME[:COUNT],...` and a memory factor.
fn instance_names(spec: &str, memory_factor: f64) -> Result<Vec<String>> {
    if !(memory_factor.is_finite() && memory_factor > 0.0) {
        bail!("--memory-factor must be a positive number, found {memory_factor}");
    }
    let mut names = Vec::new();
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, count) = match part.rsplit_once(':') {
            Some((n, c)) => (
                n.trim(),
                c.trim()
                    .parse::<usize>()
                    .ok()
                    .filter(|&c| c > 0)
                    .with_context(|| {
                        format!("--models: `{part}`: COUNT must be a positive integer")
                    })?,
            ),
            None => (part, 1),
        };
        trace::check_model_name(name).map_err(|e| anyhow::anyhow!("--models: {e}"))?;
        let n = mapping::instances(count, memory_factor);
        if (names.len() + n) as u64 > inferfair_sim::limits::MAX_INSTANCES {
            bail!(
                "--models and --memory-factor make more than {} instances",
                inferfair_sim::limits::MAX_INSTANCES
            );
        }
        if n == 1 {
            names.push(name.to_string());
        } else {
            names.extend((0..n).map(|i| format!("{name}-{i}")));
        }
    }
    if names.is_empty() {
        bail!("--models: give at least one NAME[:COUNT]");
    }
    let mut sorted = names.clone();
    sorted.sort();
    if let Some(w) = sorted.windows(2).find(|w| w[0] == w[1]) {
        bail!("--models: instance name `{}` appears twice", w[0]);
    }
    Ok(names)
}

impl MapArgs {
    fn mapping(&self) -> mapping::Mapping {
        let drop = if self.drop_idle {
            Some(true)
        } else if self.keep_idle {
            Some(false)
        } else {
            None
        };
        let style = match self.mapping {
            StyleArg::Clockwork => Style::Clockwork,
            StyleArg::Alpaserve => Style::Alpaserve,
        };
        let assign = self.assign.map(|a| match a {
            AssignArg::Block => Assign::Block,
            AssignArg::Stripe => Assign::Stripe,
        });
        mapping::Mapping::new(style, assign, drop)
    }

    fn slo(&self) -> Result<Option<Nanos>> {
        match self.slo_ms {
            Some(v) => Ok(Some(
                checked(v, Unit::Ms, true).map_err(|m| anyhow::anyhow!("--slo-ms: {m}"))?,
            )),
            None => Ok(None),
        }
    }

    fn window_s(&self) -> Result<(f64, Option<f64>)> {
        if !(self.start_s.is_finite() && self.start_s >= 0.0) {
            bail!(
                "--start-s must be a non-negative number, found {}",
                self.start_s
            );
        }
        if let Some(e) = self.end_s
            && !(e.is_finite() && e > self.start_s)
        {
            bail!(
                "--end-s must be after --start-s ({}), found {e}",
                self.start_s
            );
        }
        if !(self.time_scale.is_finite() && self.time_scale > 0.0) {
            bail!(
                "--time-scale must be a positive number, found {}",
                self.time_scale
            );
        }
        Ok((self.start_s, self.end_s))
    }

    fn minutes(&self) -> Result<(Slice, usize)> {
        let (start, end) = self.window_s()?;
        let whole = |s: f64, flag: &str| -> Result<usize> {
            if s % 60.0 != 0.0 {
                bail!("{flag} must be a multiple of 60 s for per-minute counts, found {s}");
            }
            Ok((s / 60.0) as usize)
        };
        let interval = whole(self.interval_s.unwrap_or(60.0), "--interval-s")?;
        if interval == 0 {
            bail!("--interval-s must be at least 60");
        }
        let slice = Slice {
            start: whole(start, "--start-s")?,
            end: end.map(|e| whole(e, "--end-s")).transpose()?,
        };
        Ok((slice, interval))
    }

    fn replay(&self, interval_min: usize) -> Result<Replay> {
        let r = Replay {
            interval_min,
            rate_scale: self.rate_scale.unwrap_or(1.0),
            time_scale: self.time_scale,
            total_rps: self.total_rps,
            cv: self.cv.unwrap_or(1.0),
        };
        r.check("replay").map_err(|e| {
            anyhow::anyhow!("{e}").context("check --rate-scale, --time-scale, --total-rps and --cv")
        })?;
        Ok(r)
    }
}

/// Maps a per-minute source to instances, draws the arrivals and writes them.
fn replay_counts(source: &mut dyn MinuteSource, m: &MapArgs, out: &Path) -> Result<()> {
    let names = instance_names(&m.models, m.memory_factor)?;
    let (slice, interval) = m.minutes()?;
    let replay = m.replay(interval)?;
    let slo = m.slo()?;
    let table = mapping::build(source, m.mapping(), names.len(), slice)?;
    replay.check_span(&table, "replay")?;
    let table = Arc::new(table);
    let streams = names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let a = replay.arrival(&table, i, 1.0);
            (
                n.clone(),
                ArrivalStream::new(a, Rng::derive(m.seed, &format!("arrival/{n}"))),
            )
        })
        .collect();
    let mut rows = 0;
    write_output(out, |w| {
        let mut tw = Writer::new(w, slo.is_some())?;
        trace::write_streams(streams, Nanos::MAX, slo, &mut tw)?;
        rows = tw.rows();
        Ok(())
    })?;
    eprintln!(
        "wrote {rows} requests for {} instances over {:.0} s ({} functions, {} idle in the slice; {:.3} arrivals per invocation) to {}",
        names.len(),
        replay.span_s(&table),
        table.source_functions,
        table.idle_functions,
        replay.per_count(&table),
        out.display()
    );
    Ok(())
}

/// The most functions `trace gen` makes (a real day has about 46,400).
const MAX_FUNCTIONS: usize = 10_000_000;
/// The most days `trace gen` makes.
const MAX_DAYS: usize = 366;

fn gen_cmd(a: GenArgs) -> Result<()> {
    if a.functions == 0 || a.days == 0 {
        bail!("--functions and --days must be at least 1");
    }
    if a.functions > MAX_FUNCTIONS || a.days > MAX_DAYS {
        bail!(
            "--functions must be at most {MAX_FUNCTIONS} and --days at most {MAX_DAYS}, found {} and {}",
            a.functions,
            a.days
        );
    }
    if !(a.scale.is_finite() && a.scale > 0.0) {
        bail!("--scale must be a positive number, found {}", a.scale);
    }
    let mut g = Generator::new(GenConfig {
        functions: a.functions,
        days: a.days,
        seed: a.map.seed,
        scale: a.scale,
    });
    match a.kind {
        GenKind::Requests => replay_counts(&mut g, &a.map, &a.out),
        GenKind::Maf1 => {
            let files: Vec<PathBuf> = if a.days > 1 || a.out.is_dir() {
                super::output::ensure_dir(&a.out)?;
                (0..a.days)
                    .map(|d| a.out.join(Generator::day_file_name(d)))
                    .collect()
            } else {
                vec![a.out.clone()]
            };
            for (d, f) in files.iter().enumerate() {
                let t = Instant::now();
                write_output(f, |w| Ok(g.write_day(d, w)?))?;
                let size = std::fs::metadata(f).map(|m| m.len()).unwrap_or(0);
                eprintln!(
                    "wrote {} ({} functions, {:.1} MB) in {:.1} s",
                    f.display(),
                    a.functions,
                    size as f64 / 1e6,
                    t.elapsed().as_secs_f64()
                );
            }
            Ok(())
        }
    }
}

/// The format of `path` from its header.
fn detect(path: &Path) -> Result<InputFormat> {
    let mut r = trace::open(path)?;
    let mut line = Vec::new();
    let mut chunk = [0u8; 4096];
    while !line.contains(&b'\n') && line.len() < 64 * 1024 {
        let n = r
            .read(&mut chunk)
            .with_context(|| format!("cannot read {}", path.display()))?;
        if n == 0 {
            break;
        }
        line.extend_from_slice(&chunk[..n]);
    }
    let text = String::from_utf8_lossy(&line);
    let first = text
        .lines()
        .find(|l| !l.trim_start().starts_with('#'))
        .unwrap_or("");
    let first = first.trim_start_matches('\u{feff}');
    let cols: Vec<&str> = first.split(',').map(str::trim).collect();
    Ok(if cols.first() == Some(&"HashOwner") {
        InputFormat::Maf1
    } else if maf2::is_header(&cols) {
        InputFormat::Maf2
    } else if cols.first() == Some(&"arrival_ms") {
        InputFormat::Canonical
    } else {
        bail!(
            "{}: cannot tell the format from the header `{}`: expected a canonical trace (arrival_ms,model[,slo_ms]), MAF1 (HashOwner,HashApp,HashFunction,Trigger,1,...,1440) or MAF2 (app,func,end_timestamp,duration); or give --format",
            path.display(),
            first.chars().take(80).collect::<String>()
        )
    })
}

fn format_of(inputs: &[PathBuf], f: InputFormat) -> Result<InputFormat> {
    let f = if f == InputFormat::Auto {
        detect(&inputs[0])?
    } else {
        f
    };
    if f != InputFormat::Maf1 && inputs.len() > 1 {
        bail!(
            "only MAF1 traces can have several files (one per day); got {} files",
            inputs.len()
        );
    }
    Ok(f)
}

fn convert(a: ConvertArgs) -> Result<()> {
    match format_of(&a.inputs, a.input_format)? {
        InputFormat::Maf1 => {
            let mut days = maf1::Days::new(a.inputs.clone())?;
            replay_counts(&mut days, &a.map, &a.out)
        }
        InputFormat::Maf2 => convert_maf2(&a.inputs[0], &a.map, &a.out),
        InputFormat::Canonical => bail!(
            "{} is already a canonical trace: use `inferfair trace slice` to cut it",
            a.inputs[0].display()
        ),
        InputFormat::Auto => unreachable!("resolved"),
    }
}

fn convert_maf2(input: &Path, m: &MapArgs, out: &Path) -> Result<()> {
    for (set, flag) in [
        (m.cv.is_some(), "--cv"),
        (m.interval_s.is_some(), "--interval-s"),
        (m.rate_scale.is_some(), "--rate-scale"),
        (m.total_rps.is_some(), "--total-rps"),
    ] {
        if set {
            bail!(
                "{flag} applies to per-minute counts (MAF1): MAF2 replays each invocation as is; use --time-scale to change its rate"
            );
        }
    }
    let names = instance_names(&m.models, m.memory_factor)?;
    let (start, end) = m.window_s()?;
    let slo = m.slo()?;
    let t = maf2::load(input, start, end)?;
    let map = mapping::assign(&t.totals, &t.totals, names.len(), m.mapping())?;
    let mut rows = 0;
    write_output(out, |w| {
        let mut tw = Writer::new(w, slo.is_some())?;
        for &(at, f) in &t.arrivals {
            if let Some(i) = map[f as usize] {
                let at = (at as f64 / m.time_scale).round();
                if at > inferfair_sim::time::MAX_TIME as f64 {
                    bail!(
                        "--time-scale {}: an arrival lands after the simulator's longest time (about 3 years)",
                        m.time_scale
                    );
                }
                let at = at as Nanos;
                tw.write(at, &names[i as usize], slo)?;
            }
        }
        rows = tw.rows();
        Ok(())
    })?;
    eprintln!(
        "wrote {rows} requests for {} instances ({} functions; {} invocations outside the slice) to {}",
        names.len(),
        t.functions.len(),
        t.outside,
        out.display()
    );
    Ok(())
}

fn stats_cmd(a: StatsArgs) -> Result<()> {
    if !(a.bin_s.is_finite() && a.bin_s > 0.0) {
        bail!("--bin-s must be a positive number, found {}", a.bin_s);
    }
    let (input, json) = a.formats()?;
    let summary = match format_of(&a.inputs, input)? {
        InputFormat::Canonical => {
            let t = trace::Trace::load(&a.inputs[0])?;
            let times: Vec<(String, Vec<Nanos>)> = t
                .models
                .iter()
                .map(|(k, v)| (k.clone(), v.iter().map(|e| e.t).collect()))
                .collect();
            let groups: Vec<(String, &[Nanos])> =
                times.iter().map(|(k, v)| (k.clone(), &v[..])).collect();
            stats::from_times("canonical", &groups, a.bin_s, a.top, a.rows)?
        }
        InputFormat::Maf2 => {
            let t = maf2::load(&a.inputs[0], 0.0, None)?;
            let mut per: Vec<Vec<Nanos>> = vec![Vec::new(); t.functions.len()];
            for &(at, f) in &t.arrivals {
                per[f as usize].push(at);
            }
            let groups: Vec<(String, &[Nanos])> = t
                .functions
                .iter()
                .cloned()
                .zip(per.iter().map(|v| &v[..]))
                .collect();
            stats::from_times("maf2", &groups, a.bin_s, a.top, a.rows)?
        }
        InputFormat::Maf1 => {
            let mut days = maf1::Days::new(a.inputs.clone())?;
            stats::from_maf1(
                &mut days,
                (a.bin_s / 60.0).round().max(1.0) as usize,
                a.top,
                a.rows,
            )?
        }
        InputFormat::Auto => unreachable!("resolved"),
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        print!("{}", summary.render(50));
    }
    Ok(())
}

fn slice(a: SliceArgs) -> Result<()> {
    if !(a.start_s.is_finite() && a.start_s >= 0.0) {
        bail!(
            "--start-s must be a non-negative number, found {}",
            a.start_s
        );
    }
    if let Some(e) = a.end_s
        && !(e.is_finite() && e > a.start_s)
    {
        bail!("--end-s must be after --start-s ({}), found {e}", a.start_s);
    }
    let secs =
        |v: f64, flag: &str| checked(v, Unit::S, false).map_err(|m| anyhow::anyhow!("{flag}: {m}"));
    let from = secs(a.start_s, "--start-s")?;
    let to = match a.end_s {
        Some(e) => secs(e, "--end-s")?,
        None => Nanos::MAX,
    };
    let shift = if a.keep_time { 0 } else { from };
    // The header needs to know about the slo_ms column before the first row.
    let has_slo = {
        let mut r = trace::open(&a.input)?;
        let mut first = String::new();
        std::io::BufRead::read_line(&mut r, &mut first)
            .with_context(|| format!("cannot read {}", a.input.display()))?;
        first.split(',').any(|c| c.trim() == "slo_ms")
    };
    let (mut kept, mut seen) = (0u64, 0u64);
    write_output(&a.out, |w| {
        let mut tw = Writer::new(w, has_slo)?;
        trace::for_each_request(&a.input, |q| {
            seen += 1;
            if q.t >= from
                && q.t < to
                && (a.models.is_empty() || a.models.iter().any(|m| m == q.model))
            {
                tw.write(q.t - shift, q.model, q.slo)
                    .map_err(|e| inferfair_sim::Error::io(&a.out, e))?;
                kept += 1;
            }
            Ok(())
        })?;
        Ok(())
    })?;
    eprintln!("kept {kept} of {seen} requests in {}", a.out.display());
    Ok(())
}

/// Peak resident memory of this process (Linux), in MiB.
fn peak_rss_mib() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn bench(a: BenchArgs) -> Result<()> {
    let size = std::fs::metadata(&a.file)
        .with_context(|| format!("cannot read {}", a.file.display()))?
        .len() as f64;
    let best = |f: &mut dyn FnMut() -> Result<u64>| -> Result<(f64, u64)> {
        let mut best = f64::INFINITY;
        let mut out = 0;
        for _ in 0..a.repeat.max(1) {
            let t = Instant::now();
            out = f()?;
            best = best.min(t.elapsed().as_secs_f64());
        }
        Ok((best, out))
    };
    // 1. Raw bytes (decompressed if gzip): the floor set by the disk and the page cache.
    let (raw_s, bytes) = best(&mut || {
        let mut r = trace::open(&a.file)?;
        let mut buf = vec![0u8; 1 << 20];
        let mut n = 0u64;
        loop {
            let k = r.read(&mut buf)?;
            if k == 0 {
                break;
            }
            n += k as u64;
        }
        Ok(n)
    })?;
    // 2. Split into lines only.
    let (lines_s, _) = best(&mut || {
        let mut r = trace::open(&a.file)?;
        let mut buf = Vec::with_capacity(1 << 14);
        let mut n = 0u64;
        loop {
            buf.clear();
            if std::io::BufRead::read_until(&mut r, b'\n', &mut buf)? == 0 {
                break;
            }
            n += 1;
        }
        Ok(n)
    })?;
    // 3. Parse every row and total it.
    let (parse_s, functions) = best(&mut || {
        let mut r = maf1::Reader::open(&a.file)?;
        let (mut n, mut total) = (0u64, 0u64);
        while let Some(row) = r.next_row()? {
            n += 1;
            total += row.total();
        }
        std::hint::black_box(total);
        Ok(n)
    })?;
    // 4. Map to instances (two passes) as `convert` and scenarios do.
    let (map_s, _) = best(&mut || {
        let mut days = maf1::Days::new(vec![a.file.clone()])?;
        let t = mapping::build(
            &mut days,
            mapping::Mapping::new(Style::Clockwork, None, None),
            a.instances,
            Slice::default(),
        )?;
        Ok(t.grand_total())
    })?;
    let mb = bytes as f64 / 1e6;
    println!(
        "file            {} ({:.1} MB on disk, {mb:.1} MB of text, {functions} functions)",
        a.file.display(),
        size / 1e6
    );
    println!("read bytes      {raw_s:.3} s  {:.0} MB/s", mb / raw_s);
    println!("split lines     {lines_s:.3} s  {:.0} MB/s", mb / lines_s);
    println!("parse rows      {parse_s:.3} s  {:.0} MB/s", mb / parse_s);
    println!(
        "map to {:<5}    {map_s:.3} s  {:.0} MB/s (two passes)",
        a.instances,
        2.0 * mb / map_s
    );
    if let Some(p) = peak_rss_mib() {
        println!("peak memory     {p:.1} MiB (VmHWM)");
    }
    Ok(())
}
