//! Sweeps beyond one machine: `--shard K/N` runs the points whose position
//! in the list of distinct points is K modulo N (K from 0; interleaved, so
//! that every shard gets a share of the light and of the heavy points), and
//! `merge` gathers shard folders into one. Every shard writes the same
//! `grid.json`; the merged results are built from it and the point files
//! exactly as on one machine, so they are byte-identical.

use super::merge::{GridFile, Results};
use super::point;
use crate::atomic::{TempPath, copy_atomic};
use crate::output::ensure_dir;
use anyhow::{Result, anyhow, bail};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The K-th of N slices.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// Which slice, from 0.
    pub k: usize,
    /// How many slices.
    pub n: usize,
}

impl std::str::FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("expected K/N with 0 <= K < N (e.g. 0/4), found `{s}`");
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let k: usize = k.trim().parse().map_err(|_| bad())?;
        let n: usize = n.trim().parse().map_err(|_| bad())?;
        if n == 0 || k >= n {
            return Err(bad());
        }
        Ok(Shard { k, n })
    }
}

impl Shard {
    /// The ids of this shard: every N-th distinct id, from the K-th.
    pub fn select<'a>(&self, ids: impl IntoIterator<Item = &'a str>) -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut mine = BTreeSet::new();
        for id in ids {
            if seen.insert(id) && (seen.len() - 1) % self.n == self.k {
                mine.insert(id.to_string());
            }
        }
        mine
    }
}

/// Merges sweep folders (shards of one sweep) into `out`: checks that they
/// are shards of the same sweep and that together they hold a complete
/// result for every point, before writing anything; then copies their point
/// files and writes the grid and the merged results. A new `out` is built
/// under a temporary name and renamed into place at the end, so a failed
/// merge leaves no half-written folder. Returns the results.
pub fn merge_dirs(dirs: &[PathBuf], out: &Path) -> Result<Results> {
    let first = dirs
        .first()
        .ok_or_else(|| anyhow!("give at least one sweep folder"))?;
    let grid = GridFile::read(first)?;
    for d in &dirs[1..] {
        if GridFile::read(d)? != grid {
            bail!(
                "{} and {} are not shards of the same sweep (their grid.json differ)",
                first.display(),
                d.display()
            );
        }
    }
    let ids: BTreeSet<&str> = grid.points.iter().map(|p| p.id.as_str()).collect();
    let out_points = out.join("points");
    let mut copies = Vec::new();
    let mut missing = Vec::new();
    for id in ids {
        if point::is_done(&out_points, id) {
            continue;
        }
        match dirs
            .iter()
            .map(|d| d.join("points"))
            .find(|d| point::is_done(d, id))
        {
            Some(d) => copies.push(point::path(&d, id)),
            None => missing.push(id),
        }
    }
    if !missing.is_empty() {
        bail!(
            "{} of the {} points of sweep `{}` have no result in {} (e.g. {}): run the missing shards first; nothing was written",
            missing.len(),
            grid.points.len(),
            grid.sweep,
            dirs.iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            missing
                .iter()
                .take(3)
                .copied()
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let fresh = !out.exists();
    let tmp = if fresh {
        Some(TempPath::beside(out, ".merge")?)
    } else {
        None
    };
    let dir = tmp.as_ref().map_or(out, |t| t.path());
    let points = dir.join("points");
    ensure_dir(&points)?;
    for src in &copies {
        copy_atomic(src, &points.join(src.file_name().expect("a point file")))?;
    }
    grid.write(dir)?;
    let results = Results::load(grid, &points)?;
    results.write(dir)?;
    if let Some(t) = tmp {
        t.rename_to(out)?;
    }
    Ok(results)
}
