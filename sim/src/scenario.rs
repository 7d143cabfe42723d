//! Scenario files (TOML): what runs where. `ScenarioFile` is the file as
//! written (unknown keys are errors); `Scenario` is the validated, resolved,
//! immutable form the engine runs: models expanded to instances, times in
//! nanoseconds, arrival processes resolved and scaled, traces loaded.

use crate::cluster::{Cluster, ClusterInput, PoolSpec};
use crate::error::{Error, Result};
use crate::interference::InterferenceSpec;
use crate::limits::{
    MAX_ARRIVALS, MAX_CLIENTS, MAX_EXEC_CV, MAX_GPU_MODEL_CELLS, MAX_INSTANCES, approx, show,
};
use crate::profile::ModelProfile;
use crate::time::{Nanos, Unit, checked};
use crate::trace::Trace;
use crate::trace::mapping::MinuteTable;
use crate::workload::{Arrival, ArrivalSpec, AzureKey, AzureRow, Scales, Sources, TraceEntry};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// SLO of a model that names none: Clockwork's default.
pub const DEFAULT_SLO_MS: f64 = 100.0;
pub use crate::cluster::WEIGHTS_FRACTION;

fn one() -> f64 {
    1.0
}
fn default_seed() -> u64 {
    1
}
fn default_memory() -> f64 {
    32.0
}
fn default_count() -> u32 {
    1
}

/// A scenario file as written.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    /// Name shown in outputs.
    pub name: String,
    /// The seed every random stream is derived from.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Arrivals happen in [0, duration_s).
    pub duration_s: f64,
    /// Requests arriving before this are not measured.
    #[serde(default)]
    pub warmup_s: f64,
    /// How long the run goes on after the last arrival so that requests in
    /// flight can finish (default: the longest SLO of any request, the
    /// models' or a trace's own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drain_s: Option<f64>,
    /// Profile CSV, relative to the scenario file (with `[[cluster.pools]]`,
    /// the profile of any pool that names none; may then be omitted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<PathBuf>,
    /// Multiplies every arrival rate.
    #[serde(default = "one")]
    pub rate_scale: f64,
    /// Multiplies every inter-arrival CV.
    #[serde(default = "one")]
    pub cv_scale: f64,
    /// Multiplies every SLO.
    #[serde(default = "one")]
    pub slo_scale: f64,
    /// The GPUs.
    pub cluster: ClusterSpec,
    /// The model instances and their traffic.
    pub models: Vec<ModelEntry>,
    /// Policy parameters, one table per policy name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub policy: BTreeMap<String, toml::Table>,
}

/// `[cluster]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterSpec {
    /// Number of GPUs, all of the top-level profile's type (default 1; not
    /// with `pools`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpus: Option<u32>,
    /// Memory of each GPU (GiB; with `pools`, the default of each pool).
    #[serde(default = "default_memory")]
    pub gpu_memory_gib: f64,
    /// Memory of each GPU available for model weights (GiB; default
    /// gpu_memory_gib * 21.5/32, as Clockwork configures a 32 GB V100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights_memory_gib: Option<f64>,
    /// Coefficient of variation of execution times (0: every batch takes exactly its profiled time).
    #[serde(default)]
    pub exec_cv: f64,
    /// Start with models already loaded: GPU g takes the models in order,
    /// starting at model g*n/gpus and wrapping, each one that still fits
    /// (so everything is everywhere when it fits, and spread otherwise).
    #[serde(default)]
    pub preload: bool,
    /// Batches that may run at once on each GPU (default 1: one at a time;
    /// with `pools`, the default of each pool).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrent: Option<u32>,
    /// How batches running at once on a GPU slow each other down.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interference: Option<InterferenceSpec>,
    /// GPUs of several types: `[[cluster.pools]]`, in GPU order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pools: Vec<PoolSpec>,
}

/// One `[[models]]` entry: one model instance, or `count` copies of it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelEntry {
    /// A model of the profile.
    pub model: String,
    /// Instance name (default: the model's name); copies get `-0`, `-1`, ... appended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Number of copies, each with its own arrival stream.
    #[serde(default = "default_count")]
    pub count: u32,
    /// Copies' rates follow a Zipf law with this exponent, normalized so that
    /// the mean rate over the copies is the configured one (default 0: equal).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zipf_alpha: Option<f64>,
    /// Latency objective (ms; default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slo_ms: Option<f64>,
    /// Latency objective as a multiple of the batch-1 execution time (instead of slo_ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slo_factor: Option<f64>,
    /// Execution-time CV for this model (default: the cluster's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exec_cv: Option<f64>,
    /// The arrival process of each copy.
    pub arrival: ArrivalSpec,
}

/// One model instance of a resolved scenario.
#[derive(Clone, Debug)]
pub struct ModelSpec {
    /// Instance name, unique in the scenario.
    pub name: String,
    /// The profile model it runs (`model` of its entry).
    pub model: String,
    /// Its profile model as a number: the index of `model` among the
    /// scenario's profile models, sorted by name (interference tables use it).
    pub kind: u32,
    /// Its profile on each pool of the cluster (by pool index): `None` where
    /// that pool's profile lacks the model or its weights do not fit, so that
    /// it cannot run there.
    pub profiles: Arc<Vec<Option<ModelProfile>>>,
    /// Latency objective.
    pub slo: Nanos,
    /// Arrival process.
    pub arrival: Arrival,
    /// Execution-time CV.
    pub exec_cv: f64,
    /// Index of the `[[models]]` entry it came from.
    pub entry: usize,
}

/// A validated, resolved scenario.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// The file with every default filled in and paths made absolute
    /// (derived defaults too: `drain_s`, `cluster.weights_memory_gib`, the
    /// models' `exec_cv`, an azure arrival's `assign` and `drop_idle`).
    pub file: ScenarioFile,
    /// Name.
    pub name: String,
    /// Seed.
    pub seed: u64,
    /// End of arrivals.
    pub duration: Nanos,
    /// Start of the measured window.
    pub warmup: Nanos,
    /// Time after `duration` during which requests may still finish.
    pub drain: Nanos,
    /// GPUs.
    pub cluster: Cluster,
    /// Model instances.
    pub models: Vec<ModelSpec>,
}

fn toml_error(path: &Path, text: &str, e: &toml::de::Error) -> Error {
    let line = e
        .span()
        .map(|s| text[..s.start.min(text.len())].matches('\n').count() as u64 + 1);
    Error::parse(path, line, e.message().to_string())
}

impl ScenarioFile {
    /// Reads a scenario file without resolving it (to modify it first, as sweeps do).
    pub fn load(path: &Path) -> Result<ScenarioFile> {
        let text = crate::error::read_to_string(path)?;
        ScenarioFile::parse(&text, path)
    }

    /// Parses scenario TOML; `path` names the source in errors.
    pub fn parse(text: &str, path: &Path) -> Result<ScenarioFile> {
        toml::from_str(text).map_err(|e| toml_error(path, text, &e))
    }
}

impl Scenario {
    /// Reads, validates and resolves a scenario file.
    pub fn load(path: &Path) -> Result<Scenario> {
        Scenario::load_with(path, |_| {})
    }

    /// Reads a scenario file, lets `edit` change it (e.g. a rate scale), then validates and resolves it.
    pub fn load_with(path: &Path, edit: impl FnOnce(&mut ScenarioFile)) -> Result<Scenario> {
        let mut file = ScenarioFile::load(path)?;
        edit(&mut file);
        let base = path.parent().unwrap_or(Path::new("."));
        Scenario::resolve(file, base, &path.display().to_string())
    }

    /// Parses scenario TOML; relative paths are taken from `path`'s folder.
    pub fn parse(text: &str, path: &Path) -> Result<Scenario> {
        let file = ScenarioFile::parse(text, path)?;
        let base = path.parent().unwrap_or(Path::new("."));
        Scenario::resolve(file, base, &path.display().to_string())
    }

    /// Validates and resolves a scenario; `base` resolves relative paths,
    /// `label` names the source in errors.
    pub fn resolve(mut file: ScenarioFile, base: &Path, label: &str) -> Result<Scenario> {
        let at = |field: &str| format!("{label}: {field}");
        let pos = |field: &str, v: f64| -> Result<f64> {
            if v.is_finite() && v > 0.0 {
                Ok(v)
            } else {
                Err(Error::invalid(
                    at(field),
                    format!(
                        "must be a positive number, found {}",
                        crate::limits::show(v)
                    ),
                ))
            }
        };
        if file.name.trim().is_empty() {
            return Err(Error::invalid(at("name"), "must not be empty"));
        }
        let time = |field: &str, v: f64, unit: Unit, positive: bool| {
            checked(v, unit, positive).map_err(|m| Error::invalid(at(field), m))
        };
        let duration = time("duration_s", file.duration_s, Unit::S, true)?;
        let warmup = time("warmup_s", file.warmup_s, Unit::S, false)?;
        if warmup >= duration {
            return Err(Error::invalid(
                at("warmup_s"),
                format!(
                    "must be in [0, duration_s = {}), found {}",
                    file.duration_s, file.warmup_s
                ),
            ));
        }
        pos("rate_scale", file.rate_scale)?;
        pos("cv_scale", file.cv_scale)?;
        pos("slo_scale", file.slo_scale)?;
        check_exec_cv(&at("cluster.exec_cv"), file.cluster.exec_cv)?;
        if file.models.is_empty() {
            return Err(Error::invalid(
                at("models"),
                "a scenario needs at least one [[models]] entry",
            ));
        }
        let c = &mut file.cluster;
        let mut cluster = crate::cluster::resolve(
            ClusterInput {
                gpus: &mut c.gpus,
                gpu_memory_gib: c.gpu_memory_gib,
                weights_memory_gib: &mut c.weights_memory_gib,
                pools: &mut c.pools,
                preload: c.preload,
                max_concurrent: &mut c.max_concurrent,
                interference: &mut c.interference,
                profile: &mut file.profile,
            },
            base,
            &at,
        )?;
        check_sizes(&file, cluster.gpus, &at)?;

        // Azure sources: make paths absolute, then count the instances that
        // share each table so that each gets its own row, in scenario order.
        let mut azure_instances: BTreeMap<AzureKey, usize> = BTreeMap::new();
        for entry in file.models.iter_mut() {
            if let ArrivalSpec::Azure {
                path, next_days, ..
            } = &mut entry.arrival
            {
                *path = absolute(&base.join(&*path));
                for p in next_days.iter_mut() {
                    *p = absolute(&base.join(&*p));
                }
            }
            if let Some(key) = entry.arrival.azure_key() {
                *azure_instances.entry(key).or_default() += entry.count as usize;
            }
        }
        let mut sources = Loader {
            traces: BTreeMap::new(),
            tables: BTreeMap::new(),
            instances: azure_instances,
            next_row: BTreeMap::new(),
        };
        let mut models = Vec::new();
        let mut names = BTreeMap::new();
        for (ei, entry) in file.models.iter_mut().enumerate() {
            let place = format!("models[{ei}]");
            let profiles = model_profiles(&cluster, &entry.model, &at(&format!("{place}.model")))?;
            let mp = fastest(&profiles);
            if entry.count == 0 {
                return Err(Error::invalid(
                    at(&format!("{place}.count")),
                    "must be at least 1",
                ));
            }
            let slo_ms = match (entry.slo_ms, entry.slo_factor) {
                (Some(_), Some(_)) => {
                    return Err(Error::invalid(
                        at(&format!("{place}.slo_factor")),
                        "give slo_ms or slo_factor, not both",
                    ));
                }
                (Some(ms), None) => pos(&format!("{place}.slo_ms"), ms)?,
                (None, Some(f)) => {
                    pos(&format!("{place}.slo_factor"), f)? * crate::time::ms(mp.min_exec_ns())
                }
                (None, None) => {
                    entry.slo_ms = Some(DEFAULT_SLO_MS);
                    DEFAULT_SLO_MS
                }
            };
            let slo = checked(slo_ms * file.slo_scale, Unit::Ms, true).map_err(|m| {
                Error::invalid(
                    at(&format!("{place}.slo_ms")),
                    format!("{m} (the SLO times slo_scale = {})", file.slo_scale),
                )
            })?;
            if slo < mp.min_exec_ns() {
                return Err(Error::invalid(
                    at(&format!("{place}.slo_ms")),
                    format!(
                        "an SLO of {:.3} ms is shorter than `{}`'s fastest execution ({:.3} ms at batch size {}): no request could meet it",
                        crate::time::ms(slo),
                        mp.name,
                        crate::time::ms(mp.min_exec_ns()),
                        mp.min_batch()
                    ),
                ));
            }
            let exec_cv = entry.exec_cv.unwrap_or(file.cluster.exec_cv);
            check_exec_cv(&at(&format!("{place}.exec_cv")), exec_cv)?;
            entry.exec_cv = Some(exec_cv);
            let alpha = *entry.zipf_alpha.get_or_insert(0.0);
            if !(alpha >= 0.0 && alpha.is_finite()) {
                return Err(Error::invalid(
                    at(&format!("{place}.zipf_alpha")),
                    "must be a non-negative number",
                ));
            }
            let n = entry.count as usize;
            let weights: Vec<f64> = (1..=n).map(|i| (i as f64).powf(-alpha)).collect();
            let wsum: f64 = weights.iter().sum();
            let base_name = entry
                .name
                .get_or_insert_with(|| entry.model.clone())
                .clone();
            if let ArrivalSpec::Trace { path, .. } = &mut entry.arrival {
                *path = absolute(&base.join(&*path));
            }
            for (ci, w) in weights.iter().enumerate() {
                let name = if n == 1 {
                    base_name.clone()
                } else {
                    format!("{base_name}-{ci}")
                };
                if let Some(prev) = names.insert(name.clone(), ei) {
                    return Err(Error::invalid(
                        at(&format!("{place}.name")),
                        format!(
                            "instance name `{name}` is already used by models[{prev}]: give each entry its own `name`"
                        ),
                    ));
                }
                let arrival = entry
                    .arrival
                    .resolve(
                        &at(&format!("{place}.arrival")),
                        Scales {
                            rate: file.rate_scale,
                            cv: file.cv_scale,
                            slo: file.slo_scale,
                        },
                        w * n as f64 / wsum,
                        &mut sources,
                        &name,
                    )?
                    .until(duration);
                check_trace_slos(&at(&format!("{place}.arrival")), &arrival, mp)?;
                models.push(ModelSpec {
                    name,
                    kind: 0,
                    model: entry.model.clone(),
                    profiles: profiles.clone(),
                    slo,
                    arrival,
                    exec_cv,
                    entry: ei,
                });
            }
            entry.arrival.fill_defaults();
        }

        for (name, table) in &file.policy {
            crate::policy::check_params(name, table)
                .map_err(|msg| Error::invalid(at(&format!("policy.{name}")), msg))?;
        }

        // Kinds: the scenario's profile models, numbered in name order.
        let kinds: Vec<String> = models
            .iter()
            .map(|m| m.model.clone())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        for m in &mut models {
            m.kind = kinds.binary_search(&m.model).expect("listed") as u32;
        }
        for pool in &mut cluster.pools {
            Arc::make_mut(&mut pool.interference).bind(&kinds);
        }

        check_work(&models, duration, &at)?;
        // Long enough for the request with the longest SLO, the model's or its own.
        let max_slo = models.iter().map(ModelSpec::max_slo).max().unwrap_or(0);
        let drain = match file.drain_s {
            Some(d) => time("drain_s", d, Unit::S, false)?,
            None => max_slo,
        };
        file.drain_s = Some(crate::time::secs(drain));
        Ok(Scenario {
            name: file.name.clone(),
            seed: file.seed,
            duration,
            warmup,
            drain,
            cluster,
            models,
            file,
        })
    }

    /// The same scenario with another seed.
    pub fn with_seed(mut self, seed: u64) -> Scenario {
        self.seed = seed;
        self.file.seed = seed;
        self
    }

    /// The same scenario with only model instance `i`: its arrivals are the
    /// same as in the full scenario (streams are seeded by instance name).
    pub fn only(&self, i: usize) -> Scenario {
        let mut s = self.clone();
        s.models = vec![self.models[i].clone()];
        s
    }

    /// About how many requests a run simulates (to weigh progress bars).
    pub fn expected_requests(&self) -> f64 {
        self.models
            .iter()
            .map(|m| m.arrival.expected_requests(self.duration))
            .sum()
    }

    /// Length of the measured window.
    pub fn window(&self) -> Nanos {
        self.duration - self.warmup
    }

    /// Index of the model instance called `name`.
    pub fn model_index(&self, name: &str) -> Option<usize> {
        self.models.iter().position(|m| m.name == name)
    }

    /// The resolved scenario as TOML (every default filled in, paths absolute;
    /// `inferfair`'s result folders write a portable copy instead).
    pub fn to_toml(&self) -> String {
        toml::to_string(&self.file).expect("a scenario serializes")
    }
}

/// The profile of model `name` on each pool of `cluster` (`None` where the
/// pool lacks it or its weights do not fit); an error naming `place` if it can
/// run nowhere.
fn model_profiles(
    cluster: &Cluster,
    name: &str,
    place: &str,
) -> Result<Arc<Vec<Option<ModelProfile>>>> {
    let listed: Vec<Option<&ModelProfile>> =
        cluster.pools.iter().map(|p| p.profile.get(name)).collect();
    if listed.iter().all(Option::is_none) {
        let msg = if let [pool] = &cluster.pools[..] {
            let path = pool.profile.path.as_deref().unwrap_or(Path::new("?"));
            format!(
                "unknown model `{name}` (the profile {} has: {})",
                path.display(),
                pool.profile.names().join(", ")
            )
        } else {
            format!(
                "unknown model `{name}`: no pool's profile has it ({})",
                cluster
                    .pools
                    .iter()
                    .map(|p| format!("pool {}: {}", p.name, p.profile.names().join(", ")))
                    .collect::<Vec<_>>()
                    .join("; ")
            )
        };
        return Err(Error::invalid(place, msg));
    }
    let fits: Vec<Option<ModelProfile>> = listed
        .iter()
        .zip(&cluster.pools)
        .map(|(m, pool)| m.filter(|m| m.weights_bytes <= pool.weights_bytes).cloned())
        .collect();
    if fits.iter().all(Option::is_none) {
        let mib = |b: u64| b as f64 / 1048576.0;
        let msg = if let ([pool], Some(m)) = (&cluster.pools[..], listed[0]) {
            format!(
                "`{}` has {:.0} MiB of weights, more than a GPU's {:.0} MiB for weights",
                m.name,
                mib(m.weights_bytes),
                mib(pool.weights_bytes)
            )
        } else {
            format!(
                "`{name}` does not fit on any pool that profiles it ({})",
                listed
                    .iter()
                    .zip(&cluster.pools)
                    .filter_map(|(m, pool)| m.map(|m| format!(
                        "pool {}: {:.0} MiB of weights, {:.0} MiB for weights",
                        pool.name,
                        mib(m.weights_bytes),
                        mib(pool.weights_bytes)
                    )))
                    .collect::<Vec<_>>()
                    .join("; ")
            )
        };
        return Err(Error::invalid(place, msg));
    }
    Ok(Arc::new(fits))
}

/// The profile with the fastest smallest batch among those given (the first
/// pool's on ties): SLOs given as `slo_factor` and SLO checks use it.
fn fastest(profiles: &[Option<ModelProfile>]) -> &ModelProfile {
    profiles
        .iter()
        .flatten()
        .min_by_key(|p| p.min_exec_ns())
        .expect("a model runs somewhere")
}

impl ModelSpec {
    /// Its profile on pool `pool`, if it can run there.
    pub fn profile_on(&self, pool: crate::cluster::PoolId) -> Option<&ModelProfile> {
        self.profiles[pool].as_ref()
    }

    /// Its profile on the pool where its smallest batch is fastest.
    pub fn fastest(&self) -> &ModelProfile {
        fastest(&self.profiles)
    }
}

impl ModelSpec {
    /// The longest SLO of its requests: the model's, or a longer one a trace gives a request.
    pub fn max_slo(&self) -> Nanos {
        match &self.arrival {
            Arrival::Trace { entries } => entries
                .iter()
                .filter_map(|e| e.slo)
                .max()
                .map_or(self.slo, |s| s.max(self.slo)),
            _ => self.slo,
        }
    }
}

fn check_exec_cv(place: &str, cv: f64) -> Result<()> {
    if !(cv >= 0.0 && cv.is_finite()) {
        return Err(Error::invalid(place, "must be a non-negative number"));
    }
    if cv > MAX_EXEC_CV {
        return Err(Error::invalid(
            place,
            format!(
                "must be at most {MAX_EXEC_CV}, found {}: with more variation most batches would take almost no time (many exactly 1 ns)",
                show(cv)
            ),
        ));
    }
    Ok(())
}

/// Sizes that decide the memory of a run, checked before anything is expanded.
fn check_sizes(file: &ScenarioFile, gpus: usize, at: &dyn Fn(&str) -> String) -> Result<()> {
    let instances: u64 = file.models.iter().map(|m| m.count as u64).sum();
    if instances > MAX_INSTANCES {
        return Err(Error::invalid(
            at("models"),
            format!(
                "{instances} model instances (all `count`s together) is more than the {MAX_INSTANCES} the simulator handles"
            ),
        ));
    }
    let cells = instances * gpus as u64;
    if cells > MAX_GPU_MODEL_CELLS {
        return Err(Error::invalid(
            at(if file.cluster.pools.is_empty() {
                "cluster.gpus"
            } else {
                "cluster.pools"
            }),
            format!(
                "{gpus} GPUs x {instances} model instances = {cells} is more than the {MAX_GPU_MODEL_CELLS} the simulator handles (it keeps a few words per model per GPU)"
            ),
        ));
    }
    let clients: u64 = file
        .models
        .iter()
        .map(|m| match m.arrival {
            ArrivalSpec::Closed { clients, .. } => clients as u64 * m.count as u64,
            _ => 0,
        })
        .sum();
    if clients > MAX_CLIENTS {
        return Err(Error::invalid(
            at("models"),
            format!(
                "{clients} closed-loop clients in all is more than the {MAX_CLIENTS} the simulator handles"
            ),
        ));
    }
    Ok(())
}

/// A trace's own SLOs must be reachable, as a scenario's `slo_ms` must.
fn check_trace_slos(place: &str, arrival: &Arrival, mp: &ModelProfile) -> Result<()> {
    let Arrival::Trace { entries } = arrival else {
        return Ok(());
    };
    let fastest = mp.min_exec_ns();
    let short: Vec<Nanos> = entries
        .iter()
        .filter_map(|e| e.slo)
        .filter(|&s| s < fastest)
        .collect();
    if let Some(min) = short.iter().min() {
        return Err(Error::invalid(
            place,
            format!(
                "{} of its {} requests have an SLO shorter than `{}`'s fastest execution ({:.3} ms at batch size {}), the shortest {:.3} ms (after slo_scale): no such request could meet it",
                short.len(),
                entries.len(),
                mp.name,
                crate::time::ms(fastest),
                mp.min_batch(),
                crate::time::ms(*min)
            ),
        ));
    }
    Ok(())
}

/// The expected arrivals (and on/off switches) of a run, refused beyond
/// [`MAX_ARRIVALS`] before anything runs.
fn check_work(models: &[ModelSpec], duration: Nanos, at: &dyn Fn(&str) -> String) -> Result<()> {
    let mut total = 0.0;
    let mut worst = (0.0, 0);
    for (i, m) in models.iter().enumerate() {
        let (arrivals, switches) = m.arrival.expected_work(duration, m.fastest().min_exec_ns());
        let w = arrivals + switches;
        total += w;
        if w > worst.0 {
            worst = (w, i);
        }
    }
    if total > MAX_ARRIVALS || total.is_nan() {
        let m = &models[worst.1];
        let (arrivals, switches) = m.arrival.expected_work(duration, m.fastest().min_exec_ns());
        return Err(Error::invalid(
            at(&format!("models[{}].arrival", m.entry)),
            format!(
                "the run would draw about {} arrivals{} in {} s ({} for `{}` alone{}): the simulator handles at most {} per run; lower the rates or the duration",
                approx(total),
                if switches > 0.0 {
                    " and on/off switches"
                } else {
                    ""
                },
                crate::time::secs(duration),
                approx(arrivals),
                m.name,
                if switches > 0.0 {
                    format!(", and {} on/off switches", approx(switches))
                } else {
                    String::new()
                },
                approx(MAX_ARRIVALS)
            ),
        ));
    }
    Ok(())
}

/// Trace data for resolving a scenario: each file is read once per load.
struct Loader {
    traces: BTreeMap<PathBuf, Trace>,
    tables: BTreeMap<AzureKey, Arc<MinuteTable>>,
    /// Instances that share each Azure table.
    instances: BTreeMap<AzureKey, usize>,
    /// The row the next instance of each Azure table gets.
    next_row: BTreeMap<AzureKey, usize>,
}

impl Sources for Loader {
    fn trace(&mut self, p: &Path, key: &str) -> Result<Arc<Vec<TraceEntry>>> {
        if !self.traces.contains_key(p) {
            self.traces.insert(p.to_path_buf(), Trace::load(p)?);
        }
        Ok(self.traces[p].models.get(key).cloned().unwrap_or_default())
    }

    fn azure(&mut self, key: &AzureKey) -> Result<AzureRow> {
        if !self.tables.contains_key(key) {
            let n = self.instances.get(key).copied().unwrap_or(1);
            let mut days = crate::trace::maf1::Days::new(key.paths.clone())?;
            let table = crate::trace::mapping::build(&mut days, key.mapping, n, key.slice)?;
            self.tables.insert(key.clone(), Arc::new(table));
        }
        let row = self.next_row.entry(key.clone()).or_default();
        let table = self.tables[key].clone();
        let r = *row % table.instances;
        *row += 1;
        Ok((table, r))
    }
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}
