//! Running points in parallel (rayon), each into its own result file
//! `<id>.json`, written atomically; a point whose file exists is skipped, so
//! an interrupted sweep resumes where it stopped. Heavy points (by the
//! requests they simulate) start first, and progress is weighed by them
//! (`crate::progress`): a bar with an ETA on a terminal, a line every 10%
//! otherwise (batch logs).
//! A point that fails (or a policy that panics) does not stop the others; the
//! failures are reported at the end.

use super::point::{self, Point};
use crate::output::{ensure_dir, write_atomic};
use crate::progress::Progress;
use anyhow::{Result, bail};
use rayon::prelude::*;
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

/// How to run.
#[derive(Clone, Debug, Default)]
pub struct ExecOptions {
    /// Worker threads (default: rayon's, one per core).
    pub jobs: Option<usize>,
    /// Name shown in progress lines.
    pub label: String,
    /// Rerun points whose result file exists.
    pub fresh: bool,
}

/// What a run did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Report {
    /// Distinct points asked for.
    pub total: usize,
    /// Of those, already done.
    pub cached: usize,
    /// Run now.
    pub ran: usize,
}

/// The distinct points (by id) whose result file is missing from `dir` (or
/// is not a complete point file).
pub fn missing<'a>(points: &[&'a Point], dir: &Path, fresh: bool) -> (Vec<&'a Point>, usize) {
    let mut seen = BTreeSet::new();
    let mut todo = Vec::new();
    let mut cached = 0;
    for p in points {
        if !seen.insert(p.id.as_str()) {
            continue;
        }
        let file = point::path(dir, &p.id);
        if !fresh && point::is_done(dir, &p.id) {
            cached += 1;
        } else {
            if !fresh && file.exists() {
                eprintln!(
                    "inferfair: warning: {} is not a complete point result (truncated or corrupt): running it again",
                    file.display()
                );
            }
            todo.push(*p);
        }
    }
    (todo, cached)
}

/// The work a point costs, for progress: the requests it simulates, twice
/// with its isolation runs (every model alone again).
pub fn weight(p: &Point) -> f64 {
    let runs = if p.run.isolation { 2.0 } else { 1.0 };
    p.scenario.expected_requests().max(1.0) * runs
}

fn panic_message(e: &(dyn std::any::Any + Send)) -> String {
    e.downcast_ref::<String>()
        .cloned()
        .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "panic".into())
}

/// Runs the points of `points` whose result file is missing from `dir`.
pub fn run(points: &[&Point], dir: &Path, opts: &ExecOptions) -> Result<Report> {
    if let Some(j) = opts.jobs.filter(|&j| j > 1024) {
        bail!("--jobs must be at most 1024, found {j}");
    }
    ensure_dir(dir)?;
    let (todo, cached) = missing(points, dir, opts.fresh);
    let total = todo.len() + cached;
    eprintln!(
        "{}: {total} points ({cached} already done, {} to run)",
        opts.label,
        todo.len()
    );
    if todo.is_empty() {
        return Ok(Report {
            total,
            cached,
            ran: 0,
        });
    }
    // Heaviest first: the last points to finish are light ones, so threads
    // finish together (the files do not depend on the order).
    let weights: Vec<f64> = todo.iter().map(|p| weight(p)).collect();
    let mut order: Vec<usize> = (0..todo.len()).collect();
    order.sort_by(|&a, &b| weights[b].total_cmp(&weights[a]).then(a.cmp(&b)));
    let todo: Vec<&Point> = order.iter().map(|&i| todo[i]).collect();
    let progress = Progress::new(
        format!("{}: points", opts.label),
        weights.iter().sum(),
        todo.len(),
        Duration::from_secs(2),
    );
    let failures = Mutex::new(Vec::new());
    let work = || {
        todo.iter().par_bridge().for_each(|p| {
            let outcome =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| -> Result<()> {
                    let file = p.run()?;
                    let mut text = serde_json::to_string(&file)?;
                    text.push('\n');
                    write_atomic(&point::path(dir, &p.id), text.as_bytes())
                }));
            let err = match outcome {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(format!("{e:#}")),
                Err(panic) => Some(format!("panicked: {}", panic_message(panic.as_ref()))),
            };
            if let Some(e) = err {
                failures.lock().expect("not poisoned").push(format!(
                    "point {} ({}, seed {}): {e}",
                    p.id, p.label, p.scenario.seed
                ));
            }
            progress.advance(weight(p), true);
        })
    };
    match opts.jobs {
        Some(n) => rayon::ThreadPoolBuilder::new()
            .num_threads(n.max(1))
            .build()?
            .install(work),
        None => work(),
    }
    drop(progress);
    let failures = failures.into_inner().expect("not poisoned");
    if !failures.is_empty() {
        let n = failures.len();
        let shown: Vec<_> = failures.into_iter().take(10).collect();
        bail!(
            "{n} of {} points failed (the others are saved; rerun to retry the failed ones):\n  {}",
            todo.len(),
            shown.join("\n  ")
        );
    }
    Ok(Report {
        total,
        cached,
        ran: todo.len(),
    })
}
