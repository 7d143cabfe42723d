//! `inferfair figures`: reads the figure specs (`figures/*.toml`), resolves
//! every sweep they need, runs all their missing points at once into a
//! shared cache of point files (a point several figures need runs once; an
//! interrupted run resumes), then draws each figure as PNG and SVG, with the
//! data it plots as CSV beside them. A figure whose spec or data is wrong is
//! reported and skipped; the others are still drawn.

pub mod build;
pub mod labels;
pub mod spec;

use crate::output::{ensure_dir, write_atomic};
use crate::sweep::Sweep;
use crate::sweep::exec::{self, ExecOptions};
use crate::sweep::merge::Results;
use crate::sweep::point::ContentHashes;
use anyhow::{Context, Result, anyhow, bail};
use build::{Colors, Data};
use inferfair_plot::{Figure, Panel};
use spec::FigureSpec;
use std::path::{Path, PathBuf};

/// Options of `inferfair figures`.
#[derive(Clone, Debug)]
pub struct Options {
    /// Folder of the figure specs.
    pub specs: PathBuf,
    /// Where the figures go.
    pub out: PathBuf,
    /// The cache of point files (default: `<specs>/.cache`).
    pub cache: Option<PathBuf>,
    /// Only these figures (by name).
    pub only: Vec<String>,
    /// Only these policies (by policy name); default: every policy of the specs.
    pub policies: Option<Vec<String>>,
    /// Points run in parallel.
    pub jobs: Option<usize>,
    /// Rerun cached points.
    pub fresh: bool,
    /// Count the points; run and draw nothing.
    pub dry_run: bool,
    /// PNG pixels per SVG pixel.
    pub scale: f64,
    /// `--set KEY=VALUE` overrides of every sweep's base scenario (and of
    /// each generated mix), as `sweep --set` applies them.
    pub sets: Vec<inferfair_sim::set::Set>,
}

/// What a run of `figures` did.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    /// Figures drawn (names).
    pub drawn: Vec<String>,
    /// Figures that failed, with why.
    pub failed: Vec<(String, String)>,
    /// Distinct points the figures need.
    pub points: usize,
    /// Of those, already in the cache.
    pub cached: usize,
}

/// The figure spec files of a folder, by name.
pub fn spec_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read the figure specs folder {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml") && p.is_file())
        .collect();
    v.sort();
    Ok(v)
}

struct Loaded {
    spec: FigureSpec,
    sweeps: Vec<(String, Sweep)>,
}

fn load(
    path: &Path,
    policies: &Option<Vec<String>>,
    sets: &[inferfair_sim::set::Set],
    hashes: &ContentHashes,
) -> Result<Loaded> {
    let mut spec = FigureSpec::load(path)?;
    if !sets.is_empty() {
        for s in spec.sweeps.values_mut() {
            s.base = s
                .base
                .with_sets(sets)
                .with_context(|| format!("sweep `{}`", s.name))?;
            s.sets = sets.to_vec();
        }
    }
    if let Some(keep) = policies {
        for s in spec.sweeps.values_mut() {
            s.retain_policies(keep);
            if s.policies.is_empty() {
                bail!(
                    "sweep `{}` has none of the policies {}",
                    s.name,
                    keep.join(", ")
                );
            }
        }
    }
    let sweeps = spec
        .sweeps
        .iter()
        .map(|(n, s)| Ok((n.clone(), Sweep::new(s.clone(), hashes)?)))
        .collect::<Result<Vec<_>>>()?;
    Ok(Loaded { spec, sweeps })
}

/// The largest `--scale`: 16 PNG pixels per SVG pixel.
pub const MAX_SCALE: f64 = 16.0;

/// Runs `inferfair figures`.
pub fn run(o: &Options) -> Result<Summary> {
    if !(o.scale.is_finite() && o.scale > 0.0 && o.scale <= MAX_SCALE) {
        bail!(
            "--scale must be a number of PNG pixels per SVG pixel in (0, {MAX_SCALE}], found {}",
            o.scale
        );
    }
    let files = spec_files(&o.specs)?;
    let name = |p: &PathBuf| {
        p.file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    for want in &o.only {
        if !files.iter().any(|f| &name(f) == want) {
            bail!(
                "--only {want}: no figure spec {want}.toml in {} (there are: {})",
                o.specs.display(),
                files.iter().map(name).collect::<Vec<_>>().join(", ")
            );
        }
    }
    let files: Vec<PathBuf> = files
        .into_iter()
        .filter(|f| o.only.is_empty() || o.only.contains(&name(f)))
        .collect();
    let cache = o.cache.clone().unwrap_or_else(|| o.specs.join(".cache"));
    let points_dir = cache.join("points");
    let hashes = ContentHashes::default();
    let mut summary = Summary::default();
    let mut loaded = Vec::new();
    for f in &files {
        match load(f, &o.policies, &o.sets, &hashes) {
            Ok(l) => loaded.push(l),
            Err(e) => {
                eprintln!("figure {}: skipped: {e:#}", name(f));
                summary.failed.push((name(f), format!("{e:#}")));
            }
        }
    }
    let all: Vec<&crate::sweep::point::Point> = loaded
        .iter()
        .flat_map(|l| l.sweeps.iter().flat_map(|(_, s)| s.points.iter()))
        .collect();
    let (todo, cached) = exec::missing(&all, &points_dir, o.fresh);
    summary.points = todo.len() + cached;
    summary.cached = cached;
    let nsweeps: usize = loaded.iter().map(|l| l.sweeps.len()).sum();
    eprintln!(
        "figures: {} figures, {nsweeps} sweeps, {} distinct points ({cached} cached in {}, {} to run)",
        loaded.len(),
        summary.points,
        points_dir.display(),
        todo.len()
    );
    if o.dry_run {
        return Ok(summary);
    }
    let run_result = exec::run(
        &all,
        &points_dir,
        &ExecOptions {
            jobs: o.jobs,
            label: "figures".into(),
            fresh: o.fresh,
        },
    );
    if let Err(e) = &run_result {
        eprintln!("figures: {e:#}");
    }
    ensure_dir(&o.out)?;
    for l in &loaded {
        match draw(l, &points_dir, &cache, &o.out, o.scale) {
            Ok(()) => {
                eprintln!(
                    "figure {}: wrote {}",
                    l.spec.name,
                    o.out.join(format!("{}.png", l.spec.name)).display()
                );
                summary.drawn.push(l.spec.name.clone());
            }
            Err(e) => {
                eprintln!("figure {}: not drawn: {e:#}", l.spec.name);
                summary.failed.push((l.spec.name.clone(), format!("{e:#}")));
            }
        }
    }
    run_result.map(|_| summary)
}

fn draw(l: &Loaded, points_dir: &Path, cache: &Path, out: &Path, scale: f64) -> Result<()> {
    let mut data = Vec::new();
    for (n, s) in &l.sweeps {
        let grid = s.grid_file();
        let results = Results::load(grid.clone(), points_dir)?;
        let dir = cache.join("sweeps").join(format!("{}.{n}", l.spec.name));
        ensure_dir(&dir)?;
        grid.write(&dir)?;
        results.write(&dir)?;
        let groups = results.groups();
        data.push((
            n.as_str(),
            Data {
                sweep: s,
                results,
                groups,
                points_dir,
            },
        ));
    }
    let mut colors = Colors::default();
    let mut panels = Vec::new();
    for (i, p) in l.spec.panels.iter().enumerate() {
        let sname = l.spec.sweep_of(p);
        let d = &data
            .iter()
            .find(|(n, _)| *n == sname)
            .expect("checked when read")
            .1;
        let place = format!("{}: panels[{i}]", l.spec.path.display());
        panels.extend(build::panels(d, p, &place, &mut colors)?);
    }
    let fig = Figure {
        title: l.spec.title.clone(),
        columns: l.spec.columns,
        panels,
        panel_size: l.spec.panel_size,
        ..Default::default()
    };
    let name = &l.spec.name;
    let svg = inferfair_plot::render_svg(&fig).map_err(|e| anyhow!("{e}"))?;
    write_atomic(&out.join(format!("{name}.svg")), svg.as_bytes())?;
    let png = out.join(format!("{name}.png"));
    let tmp = crate::atomic::TempPath::beside(&png, ".png")?;
    inferfair_plot::render_png_file(&fig, tmp.path(), scale).map_err(|e| anyhow!("{e}"))?;
    tmp.rename_to(&png)?;
    write_atomic(&out.join(format!("{name}.csv")), data_csv(&fig)?.as_bytes())
}

/// The data a figure plots: `panel,kind,series,x,y,lo,hi,label`.
pub fn data_csv(fig: &Figure) -> Result<String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(["panel", "title", "series", "x", "y", "lo", "hi", "label"])?;
    let num = |v: f64| v.to_string();
    for (i, p) in fig.panels.iter().enumerate() {
        match p {
            Panel::Lines(l) => {
                for s in &l.series {
                    for q in &s.points {
                        let (lo, hi) = q.band.map(|(a, b)| (num(a), num(b))).unwrap_or_default();
                        w.write_record([
                            (i + 1).to_string(),
                            l.title.clone().unwrap_or_default(),
                            s.label.clone(),
                            num(q.x),
                            num(q.y),
                            lo,
                            hi,
                            q.label.clone().unwrap_or_default(),
                        ])?;
                    }
                }
            }
            Panel::Bars(b) => {
                for s in &b.bars {
                    for (g, v) in b.groups.iter().zip(&s.values) {
                        let Some((y, e)) = v else { continue };
                        let (lo, hi) = e.map(|(a, b)| (num(a), num(b))).unwrap_or_default();
                        w.write_record([
                            (i + 1).to_string(),
                            b.title.clone().unwrap_or_default(),
                            s.label.clone(),
                            g.clone(),
                            num(*y),
                            lo,
                            hi,
                            String::new(),
                        ])?;
                    }
                }
            }
        }
    }
    Ok(String::from_utf8(
        w.into_inner().map_err(|e| anyhow!("{e}"))?,
    )?)
}
