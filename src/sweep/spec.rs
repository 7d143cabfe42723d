//! Sweep files (TOML): a base scenario, the policies (plain names or named
//! variants with parameters), the seeds, run options, and a `[grid]` of
//! axes. The format is documented in `docs/sweeps.md`:
//!
//! ```toml
//! scenario = "../scenarios/toy.toml"   # relative to this file
//! policies = ["fifo", { label = "fifo-b1", policy = "fifo", params = { max_batch = 1 } }]
//! seeds = [1, 2, 3]                    # default: the scenario's seed
//! isolation = true                     # run every model alone too (default true)
//! timeline_bin_s = 1.0                 # per-model goodput timelines (optional)
//! latency_cdf = false                  # per-model latency CDFs (default false)
//! duration_s = 30                      # override the scenario's (optional)
//! warmup_s = 5
//! [grid]
//! rate_scale = [0.5, 1.0, 1.5]
//! "policy.fifo.max_batch" = [1, 4]
//! ```
//!
//! Instead of `scenario`, a sweep over random mixes has a `[mix]` table
//! (`profile`, `models` = K or "LO-HI") and a `mix_seed` axis: each point's
//! scenario is the mix `inferfair mix gen` draws from that seed for the
//! point's number of GPUs (`inferfair_sim::mix`).

use anyhow::{Context, Result, anyhow, bail};
use inferfair_sim::profile::Profile;
use inferfair_sim::scenario::ScenarioFile;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The scenario axes, in the order the grid nests them (outermost first);
/// policy parameter axes come after them, sorted by name.
pub const SCENARIO_AXES: [&str; 5] = ["rate_scale", "cv_scale", "slo_scale", "gpus", "models"];

/// The axis of random mixes: the seed each point's mix is drawn from.
pub const MIX_SEED: &str = "mix_seed";

/// A sweep as written (before its grid is checked).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SweepFile {
    name: Option<String>,
    scenario: Option<PathBuf>,
    mix: Option<MixFile>,
    policies: Vec<toml::Value>,
    seeds: Option<Vec<u64>>,
    #[serde(default = "yes")]
    isolation: bool,
    timeline_bin_s: Option<f64>,
    #[serde(default)]
    latency_cdf: bool,
    duration_s: Option<f64>,
    warmup_s: Option<f64>,
    #[serde(default)]
    grid: toml::Table,
}

fn yes() -> bool {
    true
}

/// `[mix]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MixFile {
    profile: PathBuf,
    #[serde(default)]
    models: Option<toml::Value>,
}

/// The random mixes of a sweep over `mix_seed` (see `inferfair_sim::mix`).
#[derive(Clone, Debug)]
pub struct MixBase {
    /// Number of models of each mix, or the range it is drawn from.
    pub models: (u32, u32),
    /// The profile file (absolute).
    pub profile_path: PathBuf,
    /// The profile.
    pub profile: Arc<Profile>,
}

impl MixBase {
    fn read(m: MixFile, base: &Path, place: &str) -> Result<MixBase> {
        let models = match &m.models {
            None => (4, 4),
            Some(toml::Value::Integer(k)) if *k >= 1 => (*k as u32, *k as u32),
            Some(toml::Value::String(s)) => match s.split_once('-') {
                Some((a, b)) => match (a.trim().parse::<u32>(), b.trim().parse::<u32>()) {
                    (Ok(a), Ok(b)) if a >= 1 && a <= b => (a, b),
                    _ => {
                        bail!("{place}.models: expected \"LO-HI\" with 1 <= LO <= HI, found {s:?}")
                    }
                },
                None => bail!("{place}.models: expected a whole number or \"LO-HI\", found {s:?}"),
            },
            Some(v) => bail!("{place}.models: expected a whole number or \"LO-HI\", found {v}"),
        };
        let profile_path =
            std::path::absolute(base.join(&m.profile)).unwrap_or_else(|_| base.join(&m.profile));
        let profile =
            Arc::new(Profile::load(&profile_path).map_err(|e| anyhow!("{place}.profile: {e}"))?);
        Ok(MixBase {
            models,
            profile_path,
            profile,
        })
    }
}

/// One policy of a sweep: a policy and its parameters, under a label (the
/// `policy` column of the results).
#[derive(Clone, Debug, PartialEq)]
pub struct Variant {
    /// Label in results and legends.
    pub label: String,
    /// The policy's name.
    pub policy: String,
    /// Parameters set for it (on top of the scenario's `[policy.NAME]`).
    pub params: toml::Table,
}

/// What an axis varies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AxisKind {
    /// One of `SCENARIO_AXES`.
    Scenario(&'static str),
    /// The seed of a random mix (sweeps with `[mix]`).
    MixSeed,
    /// A parameter of one policy: `policy.NAME.KEY`.
    Param {
        /// Policy name.
        policy: String,
        /// Parameter name.
        key: String,
    },
}

/// One axis of the grid.
#[derive(Clone, Debug, PartialEq)]
pub struct Axis {
    /// Column name: `rate_scale`, ..., or `policy.NAME.KEY`.
    pub name: String,
    /// What it varies.
    pub kind: AxisKind,
    /// Its values, in order.
    pub values: Vec<toml::Value>,
}

impl Axis {
    /// Whether it is a column after the five scenario axes (`mix_seed` or a
    /// policy parameter): `GridFile::param_axes`.
    pub fn is_extra(&self) -> bool {
        !matches!(self.kind, AxisKind::Scenario(_))
    }
}

/// Run options that change what a point computes (part of its id).
#[derive(Clone, Debug, PartialEq)]
pub struct RunSpec {
    /// Run every model alone too: normalized goodput and isolation metrics.
    pub isolation: bool,
    /// Width of timeline bins (seconds), if timelines are wanted.
    pub timeline_bin_s: Option<f64>,
    /// Keep per-model latency CDFs.
    pub latency_cdf: bool,
}

/// A checked sweep.
#[derive(Clone, Debug)]
pub struct SweepSpec {
    /// Name (default: the file's stem).
    pub name: String,
    /// Where it came from (for messages).
    pub source: String,
    /// The base scenario file.
    pub scenario_path: PathBuf,
    /// The base scenario as written (a mix sweep: the mix of seed 0 on one GPU).
    pub base: ScenarioFile,
    /// Random mixes instead of a base scenario.
    pub mix: Option<MixBase>,
    /// Policies, in order.
    pub policies: Vec<Variant>,
    /// Seeds, in order (a mix sweep: offsets added to the mix seed).
    pub seeds: Vec<u64>,
    /// What each point computes.
    pub run: RunSpec,
    /// Overrides of the scenario's duration and warm-up.
    pub duration_s: Option<f64>,
    /// See `duration_s`.
    pub warmup_s: Option<f64>,
    /// Axes, outermost first.
    pub axes: Vec<Axis>,
    /// `sweep --set` overrides: applied to the base scenario, and in a sweep
    /// over random mixes to each generated mix (before the grid's axes).
    pub sets: Vec<inferfair_sim::set::Set>,
}

/// Formats an axis value for a CSV cell or a label.
pub fn fmt_value(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        toml::Value::Integer(i) => i.to_string(),
        toml::Value::Float(f) => f.to_string(),
        toml::Value::Boolean(b) => b.to_string(),
        other => other.to_string(),
    }
}

/// An axis value as a number (booleans are 0 and 1), if it is one.
pub fn value_f64(v: &toml::Value) -> Option<f64> {
    match v {
        toml::Value::Integer(i) => Some(*i as f64),
        toml::Value::Float(f) => Some(*f),
        toml::Value::Boolean(b) => Some(*b as u8 as f64),
        _ => None,
    }
}

fn toml_line(text: &str, e: &toml::de::Error) -> String {
    e.span()
        .map(|s| {
            format!(
                ":{}",
                text[..s.start.min(text.len())].matches('\n').count() + 1
            )
        })
        .unwrap_or_default()
}

impl SweepSpec {
    /// Reads a sweep file.
    pub fn load(path: &Path) -> Result<SweepSpec> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read sweep file {}", path.display()))?;
        let table: toml::Table = toml::from_str(&text).map_err(|e| {
            anyhow!(
                "{}{}: {}",
                path.display(),
                toml_line(&text, &e),
                e.message()
            )
        })?;
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        SweepSpec::from_table(
            table,
            path.parent().unwrap_or(Path::new(".")),
            &name,
            &path.display().to_string(),
        )
    }

    /// A sweep from a TOML table (a sweep file, or a table inside a figure
    /// spec): `base` resolves the scenario path, `name` is the default name,
    /// `source` names the table in errors.
    pub fn from_table(
        table: toml::Table,
        base: &Path,
        name: &str,
        source: &str,
    ) -> Result<SweepSpec> {
        let f: SweepFile = toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| anyhow!("{source}: {}", e.message()))?;
        let at = |field: &str| format!("{source}: {field}");
        let (scenario_path, scen, mix) = match (&f.scenario, f.mix) {
            (Some(sc), None) => {
                let scenario_path = base.join(sc);
                let text = std::fs::read_to_string(&scenario_path).with_context(|| {
                    format!(
                        "{}: cannot read scenario {}",
                        at("scenario"),
                        scenario_path.display()
                    )
                })?;
                let scen: ScenarioFile = toml::from_str(&text).map_err(|e| {
                    anyhow!(
                        "{}{}: {}",
                        scenario_path.display(),
                        toml_line(&text, &e),
                        e.message()
                    )
                })?;
                (scenario_path, scen, None)
            }
            (None, Some(m)) => {
                let mix = MixBase::read(m, base, &at("mix"))?;
                let spec = inferfair_sim::mix::MixSpec {
                    seed: 0,
                    models: mix.models,
                    gpus: 1,
                    load: 1.0,
                    duration_s: f.duration_s.unwrap_or(30.0),
                    warmup_s: f.warmup_s.unwrap_or(5.0),
                };
                let scen =
                    inferfair_sim::mix::generate(&spec, &mix.profile, mix.profile_path.clone())
                        .map_err(|e| anyhow!("{}: {e}", at("mix")))?;
                // Relative paths of a mix sweep start at the sweep file's folder.
                (base.join("mix.toml"), scen, Some(mix))
            }
            _ => bail!("{source}: give either `scenario` (a scenario file) or a `[mix]` table"),
        };

        if f.policies.is_empty() {
            bail!("{}: give at least one policy", at("policies"));
        }
        let mut policies = Vec::new();
        for (i, v) in f.policies.iter().enumerate() {
            let place = at(&format!("policies[{i}]"));
            let var = match v {
                toml::Value::String(s) => Variant {
                    label: s.clone(),
                    policy: s.clone(),
                    params: toml::Table::new(),
                },
                toml::Value::Table(t) => {
                    for k in t.keys() {
                        if !["label", "policy", "params"].contains(&k.as_str()) {
                            bail!("{place}: unknown key `{k}` (expected label, policy, params)");
                        }
                    }
                    let policy = t
                        .get("policy")
                        .and_then(|p| p.as_str())
                        .ok_or_else(|| anyhow!("{place}: `policy` (a policy name) is required"))?
                        .to_string();
                    let label = match t.get("label") {
                        None => policy.clone(),
                        Some(toml::Value::String(s)) if !s.trim().is_empty() => s.clone(),
                        Some(_) => bail!("{place}.label: expected a non-empty string"),
                    };
                    let params = match t.get("params") {
                        None => toml::Table::new(),
                        Some(toml::Value::Table(p)) => p.clone(),
                        Some(_) => {
                            bail!("{place}.params: expected a table, e.g. {{ max_batch = 4 }}")
                        }
                    };
                    Variant {
                        label,
                        policy,
                        params,
                    }
                }
                _ => bail!("{place}: expected a policy name or {{ label, policy, params }}"),
            };
            if policies.iter().any(|p: &Variant| p.label == var.label) {
                bail!(
                    "{place}: label `{}` is used twice: give each variant its own `label`",
                    var.label
                );
            }
            if var.label.contains(',') || var.label.contains('"') {
                bail!("{place}: a label must not contain commas or quotes");
            }
            policies.push(var);
        }

        let default_seed = if mix.is_some() { 0 } else { scen.seed };
        let seeds = f.seeds.unwrap_or_else(|| vec![default_seed]);
        if seeds.is_empty() {
            bail!("{}: give at least one seed", at("seeds"));
        }
        if let Some(d) = seeds
            .iter()
            .enumerate()
            .find(|(i, s)| seeds[..*i].contains(s))
        {
            bail!("{}: seed {} appears twice", at("seeds"), d.1);
        }
        if let Some(b) = f.timeline_bin_s
            && !(b.is_finite() && b > 0.0)
        {
            bail!(
                "{}: must be a positive number of seconds, found {b}",
                at("timeline_bin_s")
            );
        }

        let mut axes = Vec::new();
        let mut params = Vec::new();
        let mut mix_axis = None;
        let grid = expand_ranges(f.grid, &at("grid"))?;
        for (key, value) in &grid {
            let place = at(&format!("grid.{key}"));
            let values = match value {
                toml::Value::Array(a) => a.clone(),
                v => vec![v.clone()],
            };
            if values.is_empty() {
                bail!("{place}: give at least one value");
            }
            for (i, v) in values.iter().enumerate() {
                if values[..i].contains(v) {
                    bail!("{place}: value {} appears twice", fmt_value(v));
                }
            }
            if key == MIX_SEED {
                if mix.is_none() {
                    bail!("{place}: a `mix_seed` axis needs a `[mix]` table instead of `scenario`");
                }
                if let Some(v) = values
                    .iter()
                    .find(|v| !matches!(v, toml::Value::Integer(i) if *i >= 0))
                {
                    bail!("{place}: expected whole numbers >= 0, found {v}");
                }
                mix_axis = Some(Axis {
                    name: key.clone(),
                    kind: AxisKind::MixSeed,
                    values,
                });
            } else if let Some(&axis) = SCENARIO_AXES.iter().find(|a| **a == key) {
                for v in &values {
                    let ok = match axis {
                        "gpus" => {
                            matches!(v, toml::Value::Integer(i) if *i >= 1 && *i as u64 <= inferfair_sim::limits::MAX_GPUS)
                        }
                        "models" => {
                            matches!(v, toml::Value::Integer(i) if *i >= 1 && *i as u64 <= inferfair_sim::limits::MAX_INSTANCES)
                        }
                        _ => value_f64(v).is_some_and(|x| x.is_finite() && x > 0.0) && !v.is_bool(),
                    };
                    if !ok {
                        let what = if axis == "gpus" {
                            format!(
                                "whole numbers from 1 to {}",
                                inferfair_sim::limits::MAX_GPUS
                            )
                        } else if axis == "models" {
                            format!(
                                "whole numbers from 1 to {}",
                                inferfair_sim::limits::MAX_INSTANCES
                            )
                        } else {
                            "positive numbers".to_string()
                        };
                        bail!("{place}: expected {what}, found {v}");
                    }
                }
                axes.push(Axis {
                    name: key.clone(),
                    kind: AxisKind::Scenario(axis),
                    values,
                });
            } else if let Some(rest) = key.strip_prefix("policy.") {
                let Some((policy, param)) = rest
                    .split_once('.')
                    .filter(|(p, k)| !p.is_empty() && !k.is_empty() && !k.contains('.'))
                else {
                    bail!("{place}: a policy parameter axis is written \"policy.NAME.PARAM\"");
                };
                if !policies.iter().any(|v| v.policy == policy) {
                    bail!("{place}: policy `{policy}` is not in `policies`");
                }
                params.push(Axis {
                    name: key.clone(),
                    kind: AxisKind::Param {
                        policy: policy.to_string(),
                        key: param.to_string(),
                    },
                    values,
                });
            } else {
                bail!(
                    "{place}: unknown axis (known: {}, and policy parameters as \"policy.NAME.PARAM\")",
                    SCENARIO_AXES.join(", ")
                );
            }
        }
        axes.sort_by_key(|a| SCENARIO_AXES.iter().position(|s| *s == a.name));
        params.sort_by(|a, b| a.name.cmp(&b.name));
        match (&mix, mix_axis) {
            (Some(_), Some(a)) => axes.push(a),
            (Some(_), None) => bail!(
                "{}: a sweep over random mixes needs a `mix_seed` axis, e.g. mix_seed = \"1-100\"",
                at("grid")
            ),
            _ => {}
        }
        axes.extend(params);

        Ok(SweepSpec {
            name: f.name.unwrap_or_else(|| name.to_string()),
            source: source.to_string(),
            scenario_path,
            base: scen,
            mix,
            policies,
            seeds,
            run: RunSpec {
                isolation: f.isolation,
                timeline_bin_s: f.timeline_bin_s,
                latency_cdf: f.latency_cdf,
            },
            duration_s: f.duration_s,
            warmup_s: f.warmup_s,
            axes,
            sets: Vec::new(),
        })
    }

    /// Keeps only the policies whose name is in `names` (to draw before
    /// every policy exists). A parameter axis of a policy that is gone stays,
    /// with no value anywhere, so that figures drawn along it still find it.
    pub fn retain_policies(&mut self, names: &[String]) {
        self.policies.retain(|v| names.contains(&v.policy));
    }

    /// The folder of the base scenario (its relative paths start there).
    pub fn scenario_dir(&self) -> &Path {
        self.scenario_path.parent().unwrap_or(Path::new("."))
    }
}

/// `mix_seed = "LO-HI"` in a grid is the list LO, LO+1, ..., HI.
fn expand_ranges(mut grid: toml::Table, place: &str) -> Result<toml::Table> {
    if let Some(toml::Value::String(s)) = grid.get(MIX_SEED) {
        let bad =
            || anyhow!("{place}.{MIX_SEED}: expected a list of seeds or \"LO-HI\", found {s:?}");
        let (a, b) = s.split_once('-').ok_or_else(bad)?;
        let (a, b): (i64, i64) = (
            a.trim().parse().map_err(|_| bad())?,
            b.trim().parse().map_err(|_| bad())?,
        );
        if a < 0 || b < a {
            return Err(bad());
        }
        let list = (a..=b).map(toml::Value::Integer).collect();
        grid.insert(MIX_SEED.into(), toml::Value::Array(list));
    }
    Ok(grid)
}
