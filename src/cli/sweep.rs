//! `inferfair sweep FILE --out DIR [--shard K/N]` and `inferfair sweep merge DIR... --out DIR`.

use anyhow::Result;
use clap::{Args, Subcommand};
use inferfair::output::ensure_dir;
use inferfair::sweep::exec::{self, ExecOptions};
use inferfair::sweep::merge::Results;
use inferfair::sweep::point::{self, ContentHashes};
use inferfair::sweep::shard::{self, Shard};
use inferfair::sweep::spec::SweepSpec;
use inferfair::sweep::{Sweep, spec::fmt_value};
use std::path::PathBuf;

/// Arguments of `sweep`.
#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct SweepArgs {
    #[command(subcommand)]
    command: Option<SweepCommand>,
    /// Sweep file (TOML; format in docs/sweeps.md).
    #[arg(required = true)]
    file: Option<PathBuf>,
    /// Output folder: grid.json, points/<id>.json, results.csv, results_ci.csv.
    #[arg(long, required = true)]
    out: Option<PathBuf>,
    /// Run only the K-th of N disjoint slices of the points (K from 0), e.g. 0/4.
    #[arg(long)]
    shard: Option<Shard>,
    /// Points run in parallel (default: one per core).
    #[arg(long, short)]
    jobs: Option<usize>,
    /// Rerun points whose result file exists.
    #[arg(long)]
    fresh: bool,
    /// List the points and whether each is done; run nothing.
    #[arg(long)]
    dry_run: bool,
    /// Set a key of the base scenario before the grid applies, as `simulate
    /// --set` does (repeatable; every shard must be given the same).
    #[arg(long = "set", value_name = "KEY=VALUE", value_parser = super::parse_set)]
    sets: Vec<inferfair_sim::set::Set>,
}

#[derive(Subcommand, Debug)]
enum SweepCommand {
    /// Merge the folders of a sweep's shards into one.
    Merge(MergeArgs),
    /// Compare two policies point by point (same mix, load, GPUs, seed):
    /// per cell of the kept axes, how often A's isolation gap is smaller and
    /// its STP at least B's, and the spread of the goodput ratio A / B.
    Report(ReportArgs),
}

/// Arguments of `sweep report`.
#[derive(Args, Debug)]
struct ReportArgs {
    /// A finished sweep folder (grid.json and points/).
    dir: PathBuf,
    /// The two policy labels A,B.
    #[arg(long, value_delimiter = ',', default_value = "inferfair,clockwork")]
    policies: Vec<String>,
    /// The axes whose cells are reported (the others are summarized over).
    #[arg(long, value_delimiter = ',', default_value = "gpus,rate_scale")]
    by: Vec<String>,
    /// Also write the table as CSV.
    #[arg(long)]
    csv: Option<PathBuf>,
}

/// Arguments of `sweep merge`.
#[derive(Args, Debug)]
struct MergeArgs {
    /// Shard folders (each written by `sweep FILE --shard K/N --out DIR`).
    #[arg(required = true)]
    dirs: Vec<PathBuf>,
    /// Output folder (may be one of the shard folders).
    #[arg(long)]
    out: PathBuf,
}

/// Runs `sweep`.
pub fn sweep(a: SweepArgs) -> Result<()> {
    if let Some(SweepCommand::Report(r)) = a.command {
        return report(r);
    }
    if let Some(SweepCommand::Merge(m)) = a.command {
        let r = shard::merge_dirs(&m.dirs, &m.out)?;
        eprintln!(
            "merged {} folders: {} points, {} rows in {}",
            m.dirs.len(),
            r.grid.points.len(),
            r.rows.len(),
            m.out.join("results.csv").display()
        );
        return Ok(());
    }
    let (Some(file), Some(out)) = (a.file, a.out) else {
        unreachable!("clap requires FILE and --out")
    };
    let mut spec = SweepSpec::load(&file)?;
    spec.base = spec.base.with_sets(&a.sets)?;
    spec.sets = a.sets.clone();
    let sweep = Sweep::new(spec, &ContentHashes::default())?;
    let grid = sweep.grid_file();
    let points_dir = out.join("points");
    let mine = a
        .shard
        .map(|s| s.select(sweep.points.iter().map(|p| p.id.as_str())));
    let chosen: Vec<usize> = (0..sweep.points.len())
        .filter(|&i| {
            mine.as_ref()
                .is_none_or(|m| m.contains(&sweep.points[i].id))
        })
        .collect();
    let selected: Vec<_> = chosen.iter().map(|&i| &sweep.points[i]).collect();
    let label = match a.shard {
        Some(s) => format!("sweep {} shard {}/{}", sweep.spec.name, s.k, s.n),
        None => format!("sweep {}", sweep.spec.name),
    };
    if a.dry_run {
        let names = grid.axis_names();
        for &i in &chosen {
            let p = &sweep.points[i];
            let axes: Vec<String> = grid.points[i]
                .axes
                .iter()
                .zip(&names)
                .filter_map(|(v, n)| v.as_ref().map(|v| format!("{n}={}", fmt_value(v))))
                .collect();
            let done = point::is_done(&points_dir, &p.id);
            println!(
                "{}  {:<4}  {}  seed {}  {}",
                p.id,
                if done { "done" } else { "todo" },
                p.label,
                p.grid.seed,
                axes.join(" ")
            );
        }
        let (todo, cached) = exec::missing(&selected, &points_dir, a.fresh);
        println!(
            "{label}: {} points ({cached} already done, {} to run)",
            todo.len() + cached,
            todo.len()
        );
        return Ok(());
    }
    ensure_dir(&out)?;
    grid.write(&out)?;
    let opts = ExecOptions {
        jobs: a.jobs,
        label: label.clone(),
        fresh: a.fresh,
    };
    exec::run(&selected, &points_dir, &opts)?;
    let (left, _) = exec::missing(&sweep.points.iter().collect::<Vec<_>>(), &points_dir, false);
    if left.is_empty() {
        let r = Results::load(grid, &points_dir)?;
        r.write(&out)?;
        eprintln!(
            "{label}: wrote {} ({} rows) and results_ci.csv",
            out.join("results.csv").display(),
            r.rows.len()
        );
    } else {
        eprintln!(
            "{label}: done; {} points of the sweep are in other shards: merge the shard folders with `inferfair sweep merge DIR... --out DIR`",
            left.len()
        );
    }
    Ok(())
}

fn report(a: ReportArgs) -> Result<()> {
    use inferfair::sweep::merge::GridFile;
    use inferfair::sweep::paired;
    let [pa, pb] = a.policies.as_slice() else {
        anyhow::bail!("--policies: give two policy labels, e.g. inferfair,clockwork");
    };
    let grid = GridFile::read(&a.dir)?;
    let results = Results::load(grid, &a.dir.join("points"))?;
    let pairs = paired::pairs(&results, pa, pb, &a.by)?;
    let cells = paired::summarize(&pairs);
    let f3 = |x: f64| format!("{x:.3}");
    let pct = |x: f64| format!("{:.0}%", 100.0 * x);
    let mut header: Vec<String> = a.by.clone();
    header.extend(
        [
            "mixes",
            "gap smaller",
            "gap not larger",
            "STP at least",
            "both",
            "goodput ratio min",
            "q1",
            "median",
            "q3",
            "gap ratio median",
            "STP ratio median",
            "attainment A min",
            "A median",
            "attainment B min",
            "B median",
            "A >= 99%",
            "A alone >= 99%",
        ]
        .map(String::from),
    );
    let rows: Vec<Vec<String>> = cells
        .iter()
        .map(|c| {
            let mut r = c.cell.clone();
            r.extend([
                c.n.to_string(),
                pct(c.gap_smaller),
                pct(c.gap_not_larger),
                pct(c.stp_not_smaller),
                pct(c.both),
                f3(c.goodput_ratio[0]),
                f3(c.goodput_ratio[1]),
                f3(c.goodput_ratio[2]),
                f3(c.goodput_ratio[3]),
                f3(c.gap_ratio[2]),
                f3(c.stp_ratio[2]),
                format!("{:.2}%", 100.0 * c.attainment_a[0]),
                format!("{:.2}%", 100.0 * c.attainment_a[1]),
                format!("{:.2}%", 100.0 * c.attainment_b[0]),
                format!("{:.2}%", 100.0 * c.attainment_b[1]),
                pct(c.a_99),
                pct(c.alone_99),
            ]);
            r
        })
        .collect();
    println!("A = {pa}, B = {pb}: {} pairs", pairs.len());
    println!("| {} |", header.join(" | "));
    println!("|{}", "---|".repeat(header.len()));
    for r in &rows {
        println!("| {} |", r.join(" | "));
    }
    if let Some(path) = &a.csv {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(&header)?;
        for r in &rows {
            w.write_record(r)?;
        }
        let bytes = w.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?;
        inferfair::output::write_atomic(path, &bytes)?;
    }
    Ok(())
}
