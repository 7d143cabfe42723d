//! Merged results of a sweep, built from its grid (`grid.json`) and its
//! point files, never from memory, so that a sweep run on one machine and
//! one run in shards and merged give byte-identical files:
//!
//! - `results.csv`: one row per point and model, plus one overall row per
//!   point whose `model` is `*` (columns that only make sense per model or
//!   only overall are empty in the other kind of row). The axes are columns:
//!   the five scenario axes always (their values as run), then the policy
//!   parameter axes of the sweep (empty where the axis does not apply).
//! - `results_ci.csv`: one row per point without its seed, policy and model:
//!   `seeds` (how many), then for every metric its mean over the seeds
//!   (`_mean`) and the half-width of its 95% Student t confidence interval
//!   (`_ci95`; empty with one seed).

use super::point::{self, PointFile};
use super::spec::{SCENARIO_AXES, fmt_value};
use super::stats::{MeanCi, mean_ci95};
use crate::output::write_atomic;
use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// The resolved grid of a sweep: what merging needs besides the point files.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GridFile {
    /// Sweep name.
    pub sweep: String,
    /// Version of inferfair that expanded it.
    pub inferfair: String,
    /// Names of the policy parameter axes (after the five scenario axes).
    pub param_axes: Vec<String>,
    /// The points, in grid order.
    pub points: Vec<PointRef>,
}

/// One point of a resolved grid.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PointRef {
    /// Its id (its result file is `points/<id>.json`).
    pub id: String,
    /// Scenario name.
    pub scenario: String,
    /// Policy label.
    pub policy: String,
    /// Seed.
    pub seed: u64,
    /// Values of the five scenario axes, then of the parameter axes (`None`: does not apply).
    pub axes: Vec<Option<toml::Value>>,
}

impl GridFile {
    /// Every axis column name: the scenario axes, then the parameter axes.
    pub fn axis_names(&self) -> Vec<String> {
        SCENARIO_AXES
            .iter()
            .map(|s| s.to_string())
            .chain(self.param_axes.iter().cloned())
            .collect()
    }

    /// Reads `grid.json` of a sweep folder.
    pub fn read(dir: &Path) -> Result<GridFile> {
        let p = dir.join("grid.json");
        let text = std::fs::read_to_string(&p).with_context(|| {
            format!(
                "cannot read {} (is {} a sweep folder?)",
                p.display(),
                dir.display()
            )
        })?;
        serde_json::from_str(&text).with_context(|| format!("{}: not a sweep grid", p.display()))
    }

    /// Writes `grid.json` to a sweep folder.
    pub fn write(&self, dir: &Path) -> Result<()> {
        let mut text = serde_json::to_string_pretty(self)?;
        text.push('\n');
        write_atomic(&dir.join("grid.json"), text.as_bytes())
    }
}

/// Where a metric comes from in a point's result.
#[derive(Clone, Copy, Debug)]
enum Src {
    /// Overall rows: a JSON pointer into the result; model rows: into the model.
    Both(&'static str, &'static str),
    /// Overall rows only.
    Overall(&'static str),
    /// Model rows only.
    Model(&'static str),
    /// Overall: the sum over models; models: the pointer.
    Sum(&'static str),
}

/// The metric columns, in order.
const METRICS: &[(&str, Src)] = &[
    ("arrived", Src::Both("/overall/arrived", "/arrived")),
    ("good", Src::Both("/overall/good", "/good")),
    ("late", Src::Both("/overall/late", "/late")),
    ("dropped", Src::Both("/overall/dropped", "/dropped")),
    (
        "unfinished",
        Src::Both("/overall/unfinished", "/unfinished"),
    ),
    ("offered_rps", Src::Sum("/offered_rps")),
    (
        "goodput_rps",
        Src::Both("/overall/goodput_rps", "/goodput_rps"),
    ),
    (
        "slo_attainment",
        Src::Both("/overall/slo_attainment", "/slo_attainment"),
    ),
    ("normalized_goodput", Src::Model("/normalized_goodput")),
    ("alone_goodput_rps", Src::Model("/alone_goodput_rps")),
    ("isolation_gap", Src::Overall("/overall/isolation_gap")),
    ("jain", Src::Overall("/overall/jain")),
    (
        "min_normalized_goodput",
        Src::Overall("/overall/min_normalized_goodput"),
    ),
    ("disparity", Src::Overall("/overall/disparity")),
    ("stp", Src::Overall("/overall/stp")),
    (
        "latency_mean_ms",
        Src::Both("/overall/latency_ms/mean", "/latency_ms/mean"),
    ),
    (
        "latency_p50_ms",
        Src::Both("/overall/latency_ms/p50", "/latency_ms/p50"),
    ),
    (
        "latency_p90_ms",
        Src::Both("/overall/latency_ms/p90", "/latency_ms/p90"),
    ),
    (
        "latency_p99_ms",
        Src::Both("/overall/latency_ms/p99", "/latency_ms/p99"),
    ),
    (
        "latency_p999_ms",
        Src::Both("/overall/latency_ms/p999", "/latency_ms/p999"),
    ),
    ("mean_batch", Src::Model("/mean_batch")),
    ("gpu_share", Src::Model("/gpu_share")),
    ("gpu_utilization", Src::Overall("/overall/gpu_utilization")),
    (
        "coldstarts",
        Src::Both("/overall/coldstarts", "/coldstarts"),
    ),
    (
        "preemptions",
        Src::Both("/overall/preemptions", "/preempted"),
    ),
    ("gpu_wasted", Src::Overall("/overall/gpu_wasted")),
    ("wasted_share", Src::Model("/wasted_share")),
];

/// Names of the metric columns, in order.
pub fn metric_names() -> Vec<&'static str> {
    METRICS.iter().map(|m| m.0).collect()
}

/// Index of a metric column.
pub fn metric_index(name: &str) -> Option<usize> {
    METRICS.iter().position(|m| m.0 == name)
}

/// One row of `results.csv`.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// Index of its point in the grid.
    pub point: usize,
    /// Model instance, or `*` for the overall row.
    pub model: String,
    /// The profile model it runs (empty for overall rows).
    pub profile_model: String,
    /// Its SLO (overall rows: none).
    pub slo_ms: Option<f64>,
    /// Metric values, in the order of `metric_names()`.
    pub values: Vec<Option<f64>>,
}

/// One row of `results_ci.csv`: a point and model over its seeds.
#[derive(Clone, Debug, PartialEq)]
pub struct Group {
    /// The first of its rows in `Results::rows` (axes, policy, model).
    pub first: usize,
    /// Number of seeds.
    pub seeds: usize,
    /// Per metric: mean and interval over the seeds that have a value.
    pub stats: Vec<Option<MeanCi>>,
}

/// A sweep's merged results.
#[derive(Clone, Debug)]
pub struct Results {
    /// Its grid.
    pub grid: GridFile,
    /// Rows in grid order; each point's overall row, then its models.
    pub rows: Vec<Row>,
}

fn num(v: Option<&Value>) -> Option<f64> {
    v.and_then(|v| v.as_f64())
}

/// The rows of one point's result.
pub fn point_rows(index: usize, file: &PointFile) -> Result<Vec<Row>> {
    let r = &file.result;
    let models = r
        .get("models")
        .and_then(|m| m.as_array())
        .with_context(|| format!("point {}: the result has no models", file.id))?;
    let isolated = r.pointer("/overall/jain").is_some_and(|v| !v.is_null());
    let mut rows = Vec::with_capacity(models.len() + 1);
    let overall: Vec<Option<f64>> = METRICS
        .iter()
        .map(|(name, src)| match *src {
            Src::Both(p, _) | Src::Overall(p) => match num(r.pointer(p)) {
                // JSON has no infinity: a disparity without a value is infinite.
                None if *name == "disparity" && isolated => Some(f64::INFINITY),
                v => v,
            },
            Src::Model(_) => None,
            Src::Sum(p) => models.iter().map(|m| num(m.pointer(p))).sum(),
        })
        .collect();
    rows.push(Row {
        point: index,
        model: "*".into(),
        profile_model: String::new(),
        slo_ms: None,
        values: overall,
    });
    for m in models {
        rows.push(Row {
            point: index,
            model: m
                .get("model")
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string(),
            profile_model: m
                .get("profile_model")
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string(),
            slo_ms: num(m.get("slo_ms")),
            values: METRICS
                .iter()
                .map(|(_, src)| match *src {
                    Src::Both(_, p) | Src::Model(p) | Src::Sum(p) => num(m.pointer(p)),
                    Src::Overall(_) => None,
                })
                .collect(),
        });
    }
    Ok(rows)
}

fn cell(v: Option<f64>) -> String {
    match v {
        Some(x) if x.is_infinite() => if x > 0.0 { "inf" } else { "-inf" }.into(),
        Some(x) => x.to_string(),
        None => String::new(),
    }
}

impl Results {
    /// Reads every point of `grid` from `points_dir`; all must be there.
    pub fn load(grid: GridFile, points_dir: &Path) -> Result<Results> {
        let mut missing = Vec::new();
        let mut rows = Vec::new();
        let mut cache: BTreeMap<&str, Vec<Row>> = BTreeMap::new();
        for (i, p) in grid.points.iter().enumerate() {
            let path = point::path(points_dir, &p.id);
            if !path.exists() {
                missing.push(p.id.clone());
                continue;
            }
            let mine = match cache.get(p.id.as_str()) {
                Some(r) => r.clone(),
                None => {
                    let f = point::read(&path)?;
                    if f.id != p.id {
                        bail!("{}: holds point {}, not {}", path.display(), f.id, p.id);
                    }
                    let r = point_rows(i, &f)?;
                    cache.insert(&p.id, r.clone());
                    r
                }
            };
            rows.extend(mine.into_iter().map(|mut r| {
                r.point = i;
                r
            }));
        }
        if !missing.is_empty() {
            bail!(
                "{} of the {} points of sweep `{}` have no result in {} (e.g. {}): run the sweep (or all its shards) first",
                missing.len(),
                grid.points.len(),
                grid.sweep,
                points_dir.display(),
                missing
                    .iter()
                    .take(3)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        Ok(Results { grid, rows })
    }

    fn key_cells(&self, row: &Row) -> Vec<String> {
        let p = &self.grid.points[row.point];
        let mut c = vec![p.scenario.clone()];
        c.extend(
            p.axes
                .iter()
                .map(|v| v.as_ref().map(fmt_value).unwrap_or_default()),
        );
        c.push(p.policy.clone());
        c
    }

    /// The text of `results.csv`.
    pub fn csv(&self) -> Result<String> {
        let mut w = csv::Writer::from_writer(Vec::new());
        let mut header = vec!["point".to_string(), "scenario".to_string()];
        header.extend(self.grid.axis_names());
        header.extend(["policy", "seed", "model", "profile_model", "slo_ms"].map(String::from));
        header.extend(metric_names().into_iter().map(String::from));
        w.write_record(&header)?;
        for r in &self.rows {
            let p = &self.grid.points[r.point];
            let mut rec = vec![p.id.clone()];
            rec.extend(self.key_cells(r));
            rec.extend([
                p.seed.to_string(),
                r.model.clone(),
                r.profile_model.clone(),
                cell(r.slo_ms),
            ]);
            rec.extend(r.values.iter().map(|v| cell(*v)));
            w.write_record(&rec)?;
        }
        Ok(String::from_utf8(
            w.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?,
        )?)
    }

    /// Rows grouped over seeds, in order of first appearance.
    pub fn groups(&self) -> Vec<Group> {
        let mut index: BTreeMap<(Vec<String>, String), usize> = BTreeMap::new();
        let mut members: Vec<Vec<usize>> = Vec::new();
        let mut firsts = Vec::new();
        for (i, r) in self.rows.iter().enumerate() {
            let key = (self.key_cells(r), r.model.clone());
            let g = *index.entry(key).or_insert_with(|| {
                members.push(Vec::new());
                firsts.push(i);
                members.len() - 1
            });
            members[g].push(i);
        }
        members
            .into_iter()
            .zip(firsts)
            .map(|(m, first)| Group {
                first,
                seeds: m.len(),
                stats: (0..METRICS.len())
                    .map(|k| {
                        let vals: Vec<f64> =
                            m.iter().filter_map(|&i| self.rows[i].values[k]).collect();
                        mean_ci95(&vals)
                    })
                    .collect(),
            })
            .collect()
    }

    /// The text of `results_ci.csv`.
    pub fn ci_csv(&self) -> Result<String> {
        let mut w = csv::Writer::from_writer(Vec::new());
        let mut header = vec!["scenario".to_string()];
        header.extend(self.grid.axis_names());
        header.extend(["policy", "model", "profile_model", "slo_ms", "seeds"].map(String::from));
        for m in metric_names() {
            header.push(format!("{m}_mean"));
            header.push(format!("{m}_ci95"));
        }
        w.write_record(&header)?;
        for g in self.groups() {
            let r = &self.rows[g.first];
            let mut rec = self.key_cells(r);
            rec.extend([
                r.model.clone(),
                r.profile_model.clone(),
                cell(r.slo_ms),
                g.seeds.to_string(),
            ]);
            for s in &g.stats {
                rec.push(cell(s.map(|s| s.mean)));
                rec.push(cell(s.and_then(|s| s.half_width)));
            }
            w.write_record(&rec)?;
        }
        Ok(String::from_utf8(
            w.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?,
        )?)
    }

    /// Writes `results.csv` and `results_ci.csv` to `dir`.
    pub fn write(&self, dir: &Path) -> Result<()> {
        write_atomic(&dir.join("results.csv"), self.csv()?.as_bytes())?;
        write_atomic(&dir.join("results_ci.csv"), self.ci_csv()?.as_bytes())
    }
}
