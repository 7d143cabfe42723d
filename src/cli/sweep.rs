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
}

#[derive(Subcommand, Debug)]
enum SweepCommand {
    /// Merge the folders of a sweep's shards into one.
    Merge(MergeArgs),
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
    let spec = SweepSpec::load(&file)?;
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
