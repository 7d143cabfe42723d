//! Resolving a grid point into a scenario, its id, running it, and its
//! result file.
//!
//! A point's scenario is the base scenario file with the point's axis values
//! written into it (`rate_scale`, `cv_scale`, `slo_scale`, `cluster.gpus`,
//! the model instances, and `[policy.NAME]` keys), the sweep's duration and
//! warm-up if it sets them, the point's seed, and only its own policy's
//! parameter table; `Scenario::resolve` checks it like any scenario file.
//!
//! `models = N` keeps N model instances: the base scenario's instances in
//! order (entries in order, the copies of an entry in order), repeated as
//! often as needed and cut at N. It is done by setting each entry's `count`,
//! so each instance keeps its entry's traffic (the total load grows with N)
//! and an entry that gets more than one copy names them `NAME-0`, `NAME-1`...
//!
//! The id is the FNV-1a hash (mixed by SplitMix64) of a canonical text of everything the result
//! depends on: the resolved scenario (every default filled in; files named
//! by their name and a hash of their content, not by where they are, so
//! that the id is the same on every machine), the policy, the run options,
//! the version of inferfair and a fingerprint of the simulator's source
//! (`build.rs`: a changed policy gets new ids, so cached results of the old
//! code are never mixed in). A point whose result file exists is never run
//! again.

use super::spec::{AxisKind, MIX_SEED, RunSpec, SweepSpec, fmt_value, value_f64};
use anyhow::{Context, Result, anyhow};
use inferfair_sim::rng::{fnv1a, splitmix64};
use inferfair_sim::scenario::{ModelEntry, ScenarioFile};
use inferfair_sim::workload::ArrivalSpec;
use inferfair_sim::{RunOptions, Scenario};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::grid::GridPoint;

/// Changes when the content of point files changes meaning.
pub const FORMAT: u32 = 1;

/// A resolved point, ready to run.
#[derive(Clone, Debug)]
pub struct Point {
    /// Its place in the grid.
    pub grid: GridPoint,
    /// Policy label (the `policy` column).
    pub label: String,
    /// Policy name.
    pub policy: String,
    /// Stable id: 16 hex digits.
    pub id: String,
    /// The scenario it runs.
    pub scenario: Scenario,
    /// What it computes.
    pub run: RunSpec,
    /// The canonical text its id hashes.
    pub config: String,
}

/// Hashes of file contents, read once each.
#[derive(Default)]
pub struct ContentHashes(Mutex<BTreeMap<PathBuf, u64>>);

impl ContentHashes {
    /// `name#hash` for a file.
    fn tag(&self, path: &Path) -> Result<String> {
        let mut m = self.0.lock().expect("not poisoned");
        let h = match m.get(path) {
            Some(h) => *h,
            None => {
                let bytes = std::fs::read(path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                let h = fnv1a(&String::from_utf8_lossy(&bytes));
                m.insert(path.to_path_buf(), h);
                h
            }
        };
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        Ok(format!("{name}#{h:016x}"))
    }
}

/// Sets entry counts so that there are `n` instances (see the module doc).
pub fn take_models(models: &mut Vec<ModelEntry>, n: u32) {
    let total: u32 = models.iter().map(|m| m.count).sum();
    if total == 0 {
        return;
    }
    let (full, mut rem) = (n / total, n % total);
    for m in models.iter_mut() {
        let extra = m.count.min(rem);
        rem -= extra;
        m.count = full * m.count + extra;
    }
    models.retain(|m| m.count > 0);
}

fn as_f64(v: &toml::Value) -> f64 {
    value_f64(v).expect("checked when the sweep was read")
}

/// The scenario file of a grid point (before resolution): the base
/// scenario, or in a sweep over random mixes the mix of the point's
/// `mix_seed` drawn for its number of GPUs (and of models, if `models` is an
/// axis) with the sweep's `--set` overrides, and the scenario seed mix_seed +
/// the point's seed.
pub fn scenario_file(spec: &SweepSpec, gp: &GridPoint) -> Result<ScenarioFile> {
    let var = &spec.policies[gp.variant];
    let mut f = match &spec.mix {
        None => spec.base.clone(),
        Some(mix) => {
            let axis = |name: &str| {
                spec.axes
                    .iter()
                    .zip(&gp.coords)
                    .find(|(a, _)| a.name == name)
                    .and_then(|(_, v)| v.as_ref())
                    .map(|v| as_f64(v) as u64)
            };
            let seed = axis(MIX_SEED).expect("checked: a mix sweep has a mix_seed axis");
            let models = axis("models").map_or(mix.models, |k| (k as u32, k as u32));
            let ms = inferfair_sim::mix::MixSpec {
                seed,
                models,
                gpus: axis("gpus").map_or(spec.base.cluster.gpus.unwrap_or(1), |g| g as u32),
                load: 1.0,
                duration_s: spec.base.duration_s,
                warmup_s: spec.base.warmup_s,
            };
            let mut f = inferfair_sim::mix::generate(&ms, &mix.profile, mix.profile_path.clone())
                .and_then(|f| f.with_sets(&spec.sets).map_err(|e| e.to_string()))
                .map_err(|e| anyhow!("mix {seed}: {e}"))?;
            f.seed = seed.wrapping_add(gp.seed);
            f
        }
    };
    if let Some(d) = spec.duration_s {
        f.duration_s = d;
    }
    if let Some(w) = spec.warmup_s {
        f.warmup_s = w;
    }
    if spec.mix.is_none() {
        f.seed = gp.seed;
    }
    let own = f.policy.remove(&var.policy).unwrap_or_default();
    f.policy.clear();
    let mut table = own;
    for (k, v) in &var.params {
        table.insert(k.clone(), v.clone());
    }
    for (axis, value) in spec.axes.iter().zip(&gp.coords) {
        let Some(value) = value else { continue };
        match &axis.kind {
            AxisKind::Scenario("rate_scale") => f.rate_scale = as_f64(value),
            AxisKind::Scenario("cv_scale") => f.cv_scale = as_f64(value),
            AxisKind::Scenario("slo_scale") => f.slo_scale = as_f64(value),
            AxisKind::Scenario("gpus") => f.cluster.gpus = Some(as_f64(value) as u32),
            AxisKind::Scenario("models") if spec.mix.is_some() => {}
            AxisKind::Scenario("models") => take_models(&mut f.models, as_f64(value) as u32),
            AxisKind::Scenario(other) => unreachable!("unknown scenario axis {other}"),
            AxisKind::MixSeed => {}
            AxisKind::Param { key, .. } => {
                table.insert(key.clone(), value.clone());
            }
        }
    }
    if !table.is_empty() {
        f.policy.insert(var.policy.clone(), table);
    }
    Ok(f)
}

/// Describes a grid point for messages: `fifo, seed 1, rate_scale=0.5`.
pub fn describe(spec: &SweepSpec, gp: &GridPoint) -> String {
    let mut s = format!("{}, seed {}", spec.policies[gp.variant].label, gp.seed);
    for (a, v) in spec.axes.iter().zip(&gp.coords) {
        if let Some(v) = v {
            s.push_str(&format!(", {}={}", a.name, fmt_value(v)));
        }
    }
    s
}

/// Resolves a grid point: its scenario (checked), its policy (built once to
/// check its parameters) and its id.
pub fn resolve(spec: &SweepSpec, gp: &GridPoint, hashes: &ContentHashes) -> Result<Point> {
    let var = &spec.policies[gp.variant];
    let label = format!("{} (point {})", spec.source, describe(spec, gp));
    let file = scenario_file(spec, gp).map_err(|e| anyhow!("{label}: {e}"))?;
    let scenario = Scenario::resolve(file, spec.scenario_dir(), &label)?;
    if let Some(bin) = spec.run.timeline_bin_s {
        let cells =
            inferfair_sim::time::secs(scenario.window()) / bin * scenario.models.len() as f64;
        if cells > inferfair_sim::limits::MAX_BINS as f64 {
            return Err(anyhow!(
                "{label}: timeline_bin_s = {bin} over a {} s window and {} models makes {} timeline bins, more than {}: use wider bins",
                inferfair_sim::time::secs(scenario.window()),
                scenario.models.len(),
                inferfair_sim::limits::approx(cells),
                inferfair_sim::limits::MAX_BINS
            ));
        }
    }
    inferfair_sim::policy::build(&var.policy, &scenario).map_err(|e| anyhow!("{label}: {e}"))?;

    let mut canon = scenario.file.clone();
    if let Some(p) = &canon.profile {
        canon.profile = Some(PathBuf::from(hashes.tag(p)?));
    }
    for pool in &mut canon.cluster.pools {
        if let Some(p) = &pool.profile {
            pool.profile = Some(PathBuf::from(hashes.tag(p)?));
        }
    }
    for m in &mut canon.models {
        if let ArrivalSpec::Trace { path, .. } = &mut m.arrival {
            *path = PathBuf::from(hashes.tag(path)?);
        }
    }
    let config = format!(
        "# inferfair {} simulator {} point format {FORMAT}\npolicy = {:?}\nisolation = {}\ntimeline_bin_s = {}\nlatency_cdf = {}\n{}",
        env!("CARGO_PKG_VERSION"),
        env!("INFERFAIR_SIM_FINGERPRINT"),
        var.policy,
        spec.run.isolation,
        spec.run
            .timeline_bin_s
            .map(|b| b.to_string())
            .unwrap_or_else(|| "none".into()),
        spec.run.latency_cdf,
        toml::to_string(&canon).context("the scenario serializes")?
    );
    Ok(Point {
        grid: gp.clone(),
        label: var.label.clone(),
        policy: var.policy.clone(),
        id: format!("{:016x}", splitmix64(&mut fnv1a(&config))),
        scenario,
        run: spec.run.clone(),
        config,
    })
}

/// Per-model good requests over time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Timeline {
    /// Simulated time of the start of the first bin (the end of warm-up), seconds.
    pub start_s: f64,
    /// Bin width, seconds.
    pub bin_s: f64,
    /// Per model instance, per bin: good requests per second, by arrival time.
    pub goodput_rps: Vec<Vec<f64>>,
    /// Per model instance, per bin: requests that arrived, per second.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub offered_rps: Vec<Vec<f64>>,
}

/// The result file of a point: `points/<id>.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PointFile {
    /// The point's id.
    pub id: String,
    /// Version of inferfair that ran it.
    pub inferfair: String,
    /// Scenario name.
    pub scenario: String,
    /// Policy name.
    pub policy: String,
    /// Seed.
    pub seed: u64,
    /// The policy's effective parameters.
    pub params: serde_json::Value,
    /// The result, as in `summary.json` (`overall`, `models`, `gpus`, ...; no wall-clock time).
    pub result: serde_json::Value,
    /// Per model instance: latency CDF points (ms, fraction at most), when asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_cdf: Option<Vec<Vec<(f64, f64)>>>,
    /// Per model goodput over time, when asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeline: Option<Timeline>,
    /// The canonical configuration its id hashes.
    pub config: String,
}

/// CDF points thinned to steps of at least 0.2% (the first and last kept).
fn thin_cdf(points: &[(u64, f64)]) -> Vec<(f64, f64)> {
    let mut out: Vec<(f64, f64)> = Vec::new();
    for (i, &(ns, f)) in points.iter().enumerate() {
        let last = i + 1 == points.len();
        if out.is_empty() || last || f - out.last().expect("not empty").1 >= 0.002 {
            out.push((ns as f64 / 1e6, f));
        }
    }
    out
}

impl Point {
    /// Runs the point.
    pub fn run(&self) -> Result<PointFile> {
        let s = &self.scenario;
        let bin = self.run.timeline_bin_s.map(inferfair_sim::time::from_secs);
        let opts = RunOptions {
            timeline_bin: bin,
            ..Default::default()
        };
        let mut r = inferfair_sim::simulate(s, &self.policy, opts)?;
        if self.run.isolation {
            let alone = inferfair_sim::run::alone_goodputs(s, &self.policy)?;
            inferfair_sim::run::apply_isolation(&mut r, &alone);
        }
        let mut result = serde_json::to_value(&r)?;
        if let Some(o) = result.as_object_mut() {
            o.remove("wall_s");
        }
        let latency_cdf = self.run.latency_cdf.then(|| {
            r.latency
                .iter()
                .map(|h| thin_cdf(&h.cdf_points()))
                .collect()
        });
        let timeline = self.run.timeline_bin_s.map(|bin_s| {
            let bins = (inferfair_sim::time::secs(s.window()) / bin_s).ceil() as usize;
            let rates = |counts: &[Vec<u32>]| -> Vec<Vec<f64>> {
                counts
                    .iter()
                    .map(|t| {
                        (0..bins)
                            .map(|i| t.get(i).copied().unwrap_or(0) as f64 / bin_s)
                            .collect()
                    })
                    .collect()
            };
            Timeline {
                start_s: inferfair_sim::time::secs(s.warmup),
                bin_s,
                goodput_rps: rates(&r.timeline),
                offered_rps: rates(&r.offered_timeline),
            }
        });
        Ok(PointFile {
            id: self.id.clone(),
            inferfair: env!("CARGO_PKG_VERSION").to_string(),
            scenario: s.name.clone(),
            policy: self.policy.clone(),
            seed: s.seed,
            params: serde_json::to_value(&r.params)?,
            result,
            latency_cdf,
            timeline,
            config: self.config.clone(),
        })
    }

    /// The value of each scenario axis at this point, as run.
    pub fn scenario_axes(&self) -> Vec<toml::Value> {
        let f = &self.scenario.file;
        vec![
            toml::Value::Float(f.rate_scale),
            toml::Value::Float(f.cv_scale),
            toml::Value::Float(f.slo_scale),
            toml::Value::Integer(self.scenario.cluster.gpus as i64),
            toml::Value::Integer(self.scenario.models.len() as i64),
        ]
    }
}

/// The file of point `id` in `dir`.
pub fn path(dir: &Path, id: &str) -> PathBuf {
    dir.join(format!("{id}.json"))
}

/// Whether point `id` has a complete result file in `dir` (one that reads
/// as a point file of that id: a truncated or corrupt file is not done).
pub fn is_done(dir: &Path, id: &str) -> bool {
    read(&path(dir, id)).is_ok_and(|f| f.id == id)
}

/// Reads a point file.
pub fn read(path: &Path) -> Result<PointFile> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text)
        .with_context(|| format!("{}: not a point result file", path.display()))
}
