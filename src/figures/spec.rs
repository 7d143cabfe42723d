//! Figure specs (`figures/*.toml`): the sweeps a figure needs (inline tables
//! with the keys of a sweep file, or paths to sweep files) and its panels.
//! The format is documented in `figures/README.md`:
//!
//! ```toml
//! title = "Raw goodput and STP vs offered load"    # optional
//! columns = 2                                       # panels per row
//! panel_size = [520, 380]                           # SVG pixels (default)
//! [sweeps.load]                                     # an inline sweep...
//! scenario = "../scenarios/paper/mix-1gpu.toml"     # (relative to this file)
//! policies = ["fifo", "clockwork", "inferfair"]
//! seeds = [1, 2, 3]
//! [sweeps.load.grid]
//! rate_scale = [0.5, 1.0, 1.5, 2.0]
//! # sweeps.other = "sweeps/other.toml"             # ...or a sweep file
//!
//! [[panels]]
//! type = "lines"            # lines | bars | cdf | timeline | tradeoff | ratio
//! sweep = "load"            # default: the only sweep
//! x = "rate_scale"
//! y = "goodput_rps"
//! ```

use crate::sweep::spec::SweepSpec;
use anyhow::{Context, Result, anyhow, bail};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// What a panel draws.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PanelKind {
    /// A metric against an axis, one line per policy, with 95% CI bands.
    Lines,
    /// A per-model metric at one point: bars per model, grouped by policy.
    Bars,
    /// Latency CDF of one model at one point, one line per policy.
    Cdf,
    /// Goodput of every model over time at one point (one panel per policy).
    Timeline,
    /// One metric against another, traced by a knob axis (a line per policy
    /// that has the knob, a point for each policy that has not).
    Tradeoff,
    /// The ratio of a metric between two policies, point by point (same
    /// axes and seed), over the axes not drawn (e.g. random mixes): bars of
    /// the median per value of `x`, one bar per value of `series`, with the
    /// quartiles as error bars.
    Ratio,
}

/// One `[[panels]]` entry.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PanelSpec {
    /// What it draws.
    #[serde(rename = "type")]
    pub kind: PanelKind,
    /// Which sweep of the figure (default: the only one).
    pub sweep: Option<String>,
    /// Lines: the axis on x.
    pub x: Option<String>,
    /// The metric (a column of results.csv; defaults per kind). Tradeoff: the metric on y.
    pub y: Option<String>,
    /// Tradeoff: the metric on x (default goodput_rps).
    pub x_metric: Option<String>,
    /// Lines: `*` (overall rows, default) or a model instance. Cdf: the model (default: the first).
    pub model: Option<String>,
    /// Pins axes to one value: `at = { rate_scale = 1.5 }`.
    #[serde(default)]
    pub at: toml::Table,
    /// Panel title.
    pub title: Option<String>,
    /// X axis label (default: from the axis or metric, with its unit).
    pub x_label: Option<String>,
    /// Y axis label.
    pub y_label: Option<String>,
    /// Lines: a dotted vertical mark where each policy first reaches this
    /// value of y (as stored, e.g. 0.99 for 99% attainment).
    pub mark: Option<f64>,
    /// Show y as a percentage (default: for slo_attainment and CDFs).
    pub percent: Option<bool>,
    /// Tradeoff: the axis that traces each line.
    pub knob: Option<String>,
    /// Timeline: the policy label (default: one panel per policy).
    pub policy: Option<String>,
    /// Ratio: the two policy labels, numerator first.
    pub policies: Option<Vec<String>>,
    /// Ratio: the axis with one bar per value in each group (optional).
    pub series: Option<String>,
    /// Y range.
    pub y_range: Option<[f64; 2]>,
    /// X range.
    pub x_range: Option<[f64; 2]>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FigureFile {
    title: Option<String>,
    columns: Option<usize>,
    panel_size: Option<[u32; 2]>,
    #[serde(default)]
    sweeps: BTreeMap<String, toml::Value>,
    panels: Vec<PanelSpec>,
}

/// A checked figure spec with its sweep specs (not yet resolved).
#[derive(Clone, Debug)]
pub struct FigureSpec {
    /// Name: the file's stem; output files are NAME.png, NAME.svg, NAME.csv.
    pub name: String,
    /// The spec file.
    pub path: std::path::PathBuf,
    /// Figure title.
    pub title: Option<String>,
    /// Panels per row.
    pub columns: usize,
    /// Size of a panel (SVG pixels; default 520 x 380).
    pub panel_size: Option<(u32, u32)>,
    /// Its sweeps, by name.
    pub sweeps: BTreeMap<String, SweepSpec>,
    /// Its panels, in order.
    pub panels: Vec<PanelSpec>,
}

impl FigureSpec {
    /// Reads a figure spec and the sweeps it names.
    pub fn load(path: &Path) -> Result<FigureSpec> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let f: FigureFile = toml::from_str(&text).map_err(|e| {
            let line = e
                .span()
                .map(|s| {
                    format!(
                        ":{}",
                        text[..s.start.min(text.len())].matches('\n').count() + 1
                    )
                })
                .unwrap_or_default();
            anyhow!("{}{line}: {}", path.display(), e.message())
        })?;
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let dir = path.parent().unwrap_or(Path::new("."));
        let mut sweeps = BTreeMap::new();
        for (sname, v) in f.sweeps {
            let spec = match v {
                toml::Value::Table(t) => {
                    let source = format!("{}: sweeps.{sname}", path.display());
                    SweepSpec::from_table(t, dir, &format!("{name}.{sname}"), &source)?
                }
                toml::Value::String(p) => SweepSpec::load(&dir.join(p))?,
                _ => bail!(
                    "{}: sweeps.{sname}: expected a sweep table or the path of a sweep file",
                    path.display()
                ),
            };
            sweeps.insert(sname, spec);
        }
        if f.panels.is_empty() {
            bail!("{}: give at least one [[panels]] entry", path.display());
        }
        for (i, p) in f.panels.iter().enumerate() {
            let place = format!("{}: panels[{i}]", path.display());
            match &p.sweep {
                Some(s) if !sweeps.contains_key(s) => bail!(
                    "{place}.sweep: no sweep `{s}` (this figure has: {})",
                    sweeps.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
                None if sweeps.len() != 1 => {
                    bail!(
                        "{place}.sweep: name one of the figure's {} sweeps",
                        sweeps.len()
                    )
                }
                _ => {}
            }
            if p.kind == PanelKind::Lines && p.x.is_none() {
                bail!("{place}.x: a lines panel needs the axis on x, e.g. x = \"rate_scale\"");
            }
            if p.kind == PanelKind::Ratio
                && (p.x.is_none() || p.policies.as_ref().is_none_or(|v| v.len() != 2))
            {
                bail!(
                    "{place}: a ratio panel needs the axis of its groups and two policies, e.g. x = \"gpus\", policies = [\"inferfair\", \"clockwork\"]"
                );
            }
            if p.kind == PanelKind::Tradeoff && p.knob.is_none() {
                bail!(
                    "{place}.knob: a tradeoff panel needs the axis that traces it, e.g. knob = \"policy.inferfair.fairness\""
                );
            }
        }
        Ok(FigureSpec {
            name,
            path: path.to_path_buf(),
            title: f.title,
            columns: f.columns.unwrap_or(f.panels.len().min(2)).max(1),
            panel_size: f
                .panel_size
                .map(|[w, h]| (w.clamp(200, 2000), h.clamp(150, 2000))),
            sweeps,
            panels: f.panels,
        })
    }

    /// The sweep name of a panel.
    pub fn sweep_of<'a>(&'a self, p: &'a PanelSpec) -> &'a str {
        p.sweep
            .as_deref()
            .unwrap_or_else(|| self.sweeps.keys().next().expect("checked: one sweep"))
    }
}
