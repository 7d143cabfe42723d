//! Running points in parallel (rayon), each into its own result file
//! `<id>.json`, written atomically; a point whose file exists is skipped, so
//! an interrupted sweep resumes where it stopped. Progress goes to stderr: a
//! bar with an ETA on a terminal, a line every 10% otherwise (batch logs).
//! A point that fails (or a policy that panics) does not stop the others; the
//! failures are reported at the end.

use super::point::{self, Point};
use crate::output::{ensure_dir, write_atomic};
use anyhow::{Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use std::collections::BTreeSet;
use std::io::IsTerminal;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

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

struct Progress {
    bar: Option<ProgressBar>,
    total: usize,
    done: AtomicUsize,
    started: Instant,
    next_line: Mutex<usize>,
    label: String,
}

impl Progress {
    fn new(label: &str, total: usize) -> Self {
        let bar = (std::io::stderr().is_terminal() && total > 0).then(|| {
            let b = ProgressBar::new(total as u64);
            b.set_style(
                ProgressStyle::with_template(
                    "{msg} [{bar:40}] {pos}/{len} points, {elapsed} elapsed, eta {eta}",
                )
                .expect("a valid template")
                .progress_chars("=> "),
            );
            b.set_message(label.to_string());
            b
        });
        Progress {
            bar,
            total,
            done: AtomicUsize::new(0),
            started: Instant::now(),
            next_line: Mutex::new(1),
            label: label.to_string(),
        }
    }

    fn tick(&self) {
        let done = self.done.fetch_add(1, Ordering::SeqCst) + 1;
        if let Some(b) = &self.bar {
            b.inc(1);
            return;
        }
        let mut next = self.next_line.lock().expect("not poisoned");
        // A line at every tenth of the way, once the run has taken a few seconds.
        let slow = self.started.elapsed().as_secs_f64() > 3.0;
        if done * 10 >= *next * self.total && (slow || done == self.total) {
            while done * 10 >= *next * self.total && *next <= 10 {
                *next += 1;
            }
            let el = self.started.elapsed().as_secs_f64();
            let eta = el / done as f64 * (self.total - done) as f64;
            eprintln!(
                "{}: {done}/{} points ({:.0}%), {el:.0} s elapsed, eta {eta:.0} s",
                self.label,
                self.total,
                100.0 * done as f64 / self.total as f64
            );
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
    }
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
    let progress = Progress::new(&opts.label, todo.len());
    let failures = Mutex::new(Vec::new());
    let work = || {
        todo.par_iter().for_each(|p| {
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
            progress.tick();
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
