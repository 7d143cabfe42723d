//! Shrinking a failing scenario: try smaller versions of it (only the
//! failing policy, fewer models, single copies, a shorter run, fewer GPUs,
//! no noise, default parameters and scales) and keep each one that still
//! fails the same way, until none does; then write it out with what failed
//! and how to run it again.

use super::generate::Case;
use super::{Failure, Kind, check_case};
use anyhow::{Context, Result};
use inferfair_sim::workload::ArrivalSpec;
use std::path::Path;

/// The most candidate scenarios tried while shrinking.
const MAX_TRIES: usize = 400;

/// Smaller versions of `c`, most promising first.
fn candidates(c: &Case, f: &Failure) -> Vec<Case> {
    let mut out = Vec::new();
    let mut push = |edit: &dyn Fn(&mut Case)| {
        let mut d = c.clone();
        edit(&mut d);
        if d != *c {
            out.push(d);
        }
    };
    if let Some(p) = &f.policy {
        push(&|d| d.policies = vec![p.clone()]);
    }
    for i in 0..c.file.models.len() {
        if c.file.models.len() > 1 {
            push(&|d| {
                d.file.models.remove(i);
            });
        }
    }
    for i in 0..c.file.models.len() {
        push(&|d| {
            d.file.models[i].count = 1;
            d.file.models[i].zipf_alpha = None;
        });
    }
    push(&|d| {
        let f = &mut d.file;
        if f.duration_s > 0.001 {
            f.duration_s /= 2.0;
            f.warmup_s /= 2.0;
            f.drain_s = f.drain_s.map(|x| x / 2.0);
        }
    });
    let c0 = &c.file.cluster;
    if c0.pools.is_empty() {
        push(&|d| d.file.cluster.gpus = Some(1));
        push(&|d| {
            let g = &mut d.file.cluster.gpus;
            *g = Some((g.unwrap_or(1) / 2).max(1));
        });
    } else {
        for i in 0..c0.pools.len() {
            push(&|d| d.file.cluster.pools[i].count = 1);
            if c0.pools.len() > 1 {
                push(&|d| {
                    d.file.cluster.pools.remove(i);
                });
            }
        }
    }
    push(&|d| {
        let c = &mut d.file.cluster;
        c.max_concurrent = None;
        c.interference = None;
        for p in &mut c.pools {
            p.max_concurrent = None;
            p.interference = None;
        }
    });
    push(&|d| {
        d.file.cluster.exec_cv = 0.0;
        for m in &mut d.file.models {
            m.exec_cv = None;
        }
    });
    push(&|d| d.file.policy.clear());
    push(&|d| {
        d.file.rate_scale = 1.0;
        d.file.cv_scale = 1.0;
        d.file.slo_scale = 1.0;
        d.file.drain_s = None;
    });
    push(&|d| d.file.warmup_s = 0.0);
    out
}

/// The smallest version of `case` that still fails as `f` did (same kind,
/// same policy), and its failure.
pub fn shrink(mut case: Case, mut f: Failure, scratch: &Path) -> (Case, Failure) {
    let iso = f.policy.is_none() && f.kind == Kind::Nondeterministic;
    let mut tries = 0;
    'outer: while tries < MAX_TRIES {
        for c in candidates(&case, &f) {
            tries += 1;
            if tries > MAX_TRIES {
                break 'outer;
            }
            if let Err(g) = check_case(&c, &scratch.join(format!("shrink-{tries}")), iso)
                && g.kind == f.kind
                && g.policy == f.policy
            {
                case = c;
                f = g;
                continue 'outer;
            }
        }
        break;
    }
    // Keep only the files the scenario still names.
    let used: Vec<String> = std::iter::once("profile.csv".to_string())
        .chain(
            case.file
                .cluster
                .pools
                .iter()
                .filter_map(|p| p.profile.as_ref().map(|p| p.display().to_string())),
        )
        .chain(case.file.models.iter().filter_map(|m| match &m.arrival {
            ArrivalSpec::Trace { path, .. } | ArrivalSpec::Azure { path, .. } => {
                Some(path.display().to_string())
            }
            _ => None,
        }))
        .collect();
    case.files.retain(|k, _| used.contains(k));
    (case, f)
}

/// Writes a failing case to `dir` with `failure.txt`: what failed and the
/// commands that run it again.
pub fn write_repro(case: &Case, f: &Failure, dir: &Path) -> Result<()> {
    let _ = std::fs::remove_dir_all(dir);
    let path = super::write_case(case, dir)?;
    let mut text = format!(
        "{f}\n\nscenario: {} ({} model entries, {} s, {} GPUs)\n\nRun it again with every check:\n  inferfair swarm --check {}\n",
        path.display(),
        case.file.models.len(),
        case.file.duration_s,
        case.file.cluster.gpus.unwrap_or_else(|| case
            .file
            .cluster
            .pools
            .iter()
            .map(|p| p.count)
            .sum()),
        path.display()
    );
    if let Some(p) = &f.policy {
        text.push_str(&format!(
            "or on its own:\n  inferfair simulate {} --policy {p}\n",
            path.display()
        ));
    }
    text.push_str(&format!(
        "The unshrunk scenario: inferfair swarm --seed {} --scenarios 1\n",
        f.seed
    ));
    let p = dir.join("failure.txt");
    std::fs::write(&p, text).with_context(|| format!("cannot write {}", p.display()))
}
