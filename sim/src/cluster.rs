//! The GPUs of a scenario: pools of identical GPUs, each pool with its own
//! profile (what each model costs there) and memory. The one-pool form
//! (`[cluster] gpus = N` and the scenario's top-level `profile`) is one pool
//! called `gpu`. GPUs are numbered in pool order: pool 0's GPUs first.
//!
//! A model can run on a GPU only if that GPU's pool profiles it and its
//! weights fit there; everything a batch costs on a GPU comes from that
//! pool's profile (see [`crate::policy::View::exec_ns`]).

use crate::error::{Error, Result};
use crate::interference::{Interference, InterferenceSpec};
use crate::limits::{MAX_GPU_MEMORY_GIB, MAX_GPUS};
use crate::profile::Profile;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Index of a pool of a cluster.
pub type PoolId = usize;

/// Fraction of a GPU's memory that holds model weights when
/// `weights_memory_gib` is not given: Clockwork's 21.5 GiB page cache on a 32 GB V100.
pub const WEIGHTS_FRACTION: f64 = 21.5 / 32.0;

/// Name of the pool of the one-pool form.
pub const DEFAULT_POOL: &str = "gpu";

fn default_count() -> u32 {
    1
}

/// One `[[cluster.pools]]` entry as written.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolSpec {
    /// Name shown in outputs, unique in the cluster.
    pub name: String,
    /// Number of GPUs of this type.
    #[serde(default = "default_count")]
    pub count: u32,
    /// Profile CSV, relative to the scenario file (default: the scenario's top-level `profile`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<PathBuf>,
    /// Memory of each GPU (GiB; default: the cluster's `gpu_memory_gib`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_memory_gib: Option<f64>,
    /// Memory of each GPU available for weights (GiB; default gpu_memory_gib * 21.5/32).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights_memory_gib: Option<f64>,
    /// Batches that may run at once on each GPU (default: the cluster's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrent: Option<u32>,
    /// How concurrent batches slow each other down here (default: the cluster's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interference: Option<InterferenceSpec>,
}

/// One pool of a resolved scenario.
#[derive(Clone, Debug, PartialEq)]
pub struct Pool {
    /// Name.
    pub name: String,
    /// Number of GPUs.
    pub count: usize,
    /// Index of its first GPU.
    pub first_gpu: usize,
    /// Bytes of each GPU available for model weights.
    pub weights_bytes: u64,
    /// What each model costs here.
    pub profile: Arc<Profile>,
    /// Batches that may run at once on each GPU (1: exclusive).
    pub max_concurrent: u32,
    /// How concurrent batches slow each other down.
    pub interference: Arc<Interference>,
}

/// The GPUs of a resolved scenario.
#[derive(Clone, Debug, PartialEq)]
pub struct Cluster {
    /// Number of GPUs, over all pools.
    pub gpus: usize,
    /// The pools, in GPU order.
    pub pools: Vec<Pool>,
    /// Start with models loaded.
    pub preload: bool,
}

impl Cluster {
    /// The pool of GPU `gpu`.
    pub fn pool_of(&self, gpu: usize) -> PoolId {
        assert!(gpu < self.gpus, "no gpu {gpu}");
        self.pools.partition_point(|p| p.first_gpu + p.count <= gpu)
    }

    /// Whether every GPU is of one type (the one-pool form, or one pool).
    pub fn is_uniform(&self) -> bool {
        self.pools.len() == 1
    }
}

/// Resolves memory sizes (GiB) to bytes for weights, checking them; `at`
/// names fields in errors. Returns (gpu_memory_gib, weights_memory_gib).
fn memory(
    at: &dyn Fn(&str) -> String,
    prefix: &str,
    gpu_gib: f64,
    weights_gib: Option<f64>,
) -> Result<(f64, f64)> {
    let field = |k: &str| at(&format!("{prefix}{k}"));
    if !(gpu_gib.is_finite() && gpu_gib > 0.0) {
        return Err(Error::invalid(
            field("gpu_memory_gib"),
            format!("must be a positive number, found {gpu_gib}"),
        ));
    }
    if gpu_gib > MAX_GPU_MEMORY_GIB {
        return Err(Error::invalid(
            field("gpu_memory_gib"),
            format!("must be at most {MAX_GPU_MEMORY_GIB} (1 PiB), found {gpu_gib}"),
        ));
    }
    let weights = weights_gib.unwrap_or(gpu_gib * WEIGHTS_FRACTION);
    if !(weights.is_finite() && weights > 0.0) {
        return Err(Error::invalid(
            field("weights_memory_gib"),
            format!("must be a positive number, found {weights}"),
        ));
    }
    if weights > gpu_gib {
        return Err(Error::invalid(
            field("weights_memory_gib"),
            format!("must not exceed gpu_memory_gib = {gpu_gib}, found {weights}"),
        ));
    }
    Ok((gpu_gib, weights))
}

fn gib_bytes(gib: f64) -> u64 {
    (gib * (1u64 << 30) as f64) as u64
}

/// What resolving `[cluster]` needs from the rest of the scenario file.
pub(crate) struct ClusterInput<'a> {
    /// `[cluster] gpus`, if written.
    pub gpus: &'a mut Option<u32>,
    /// `[cluster] gpu_memory_gib`.
    pub gpu_memory_gib: f64,
    /// `[cluster] weights_memory_gib`; filled in.
    pub weights_memory_gib: &'a mut Option<f64>,
    /// `[[cluster.pools]]`; filled in (profiles made absolute, memory resolved).
    pub pools: &'a mut [PoolSpec],
    /// `[cluster] preload`.
    pub preload: bool,
    /// `[cluster] max_concurrent`; filled in.
    pub max_concurrent: &'a mut Option<u32>,
    /// `[cluster.interference]`; filled in when some pool runs batches concurrently.
    pub interference: &'a mut Option<InterferenceSpec>,
    /// The top-level `profile`; made absolute.
    pub profile: &'a mut Option<PathBuf>,
}

/// Checks a number of concurrent batches.
fn concurrency(at: &dyn Fn(&str) -> String, key: &str, k: u32) -> Result<u32> {
    if k == 0 {
        return Err(Error::invalid(
            at(key),
            "must be at least 1 (1 = one batch at a time)",
        ));
    }
    Ok(k)
}

/// Validates and resolves the cluster; `base` resolves relative paths, `at`
/// names fields in errors. Profiles are read once each.
pub(crate) fn resolve(
    c: ClusterInput,
    base: &Path,
    at: &dyn Fn(&str) -> String,
) -> Result<Cluster> {
    let mut loaded: BTreeMap<PathBuf, Arc<Profile>> = BTreeMap::new();
    // A profile file, read once; a file that cannot be read is an error of the key naming it.
    let mut load = |p: &Path, key: &str| -> Result<(PathBuf, Arc<Profile>)> {
        let abs = std::path::absolute(base.join(p)).unwrap_or_else(|_| base.join(p));
        if !loaded.contains_key(&abs) {
            let prof = Profile::load(&abs).map_err(|e| match e {
                Error::Io { .. } => Error::invalid(at(key), e.to_string()),
                e => e,
            })?;
            loaded.insert(abs.clone(), Arc::new(prof));
        }
        Ok((abs.clone(), loaded[&abs].clone()))
    };
    let top = match c.profile.as_ref() {
        Some(p) => {
            let (abs, prof) = load(p, "profile")?;
            *c.profile = Some(abs);
            Some(prof)
        }
        None => None,
    };
    if c.pools.is_empty() {
        let gpus = c.gpus.unwrap_or(1);
        if gpus == 0 || gpus as u64 > MAX_GPUS {
            return Err(Error::invalid(
                at("cluster.gpus"),
                format!("must be from 1 to {MAX_GPUS}, found {gpus}"),
            ));
        }
        *c.gpus = Some(gpus);
        let (_, weights) = memory(at, "cluster.", c.gpu_memory_gib, *c.weights_memory_gib)?;
        *c.weights_memory_gib = Some(weights);
        let profile = top.ok_or_else(|| {
            Error::invalid(
                at("profile"),
                "a scenario needs a top-level `profile` (or [[cluster.pools]] that each name one)",
            )
        })?;
        let k = concurrency(at, "cluster.max_concurrent", c.max_concurrent.unwrap_or(1))?;
        *c.max_concurrent = Some(k);
        let known = |m: &str| profile.get(m).is_some();
        let interference = resolve_interference(
            c.interference,
            k > 1,
            base,
            "cluster.interference.",
            at,
            &known,
        )?;
        return Ok(Cluster {
            gpus: gpus as usize,
            pools: vec![Pool {
                name: DEFAULT_POOL.into(),
                count: gpus as usize,
                first_gpu: 0,
                weights_bytes: gib_bytes(weights),
                profile,
                max_concurrent: k,
                interference,
            }],
            preload: c.preload,
        });
    }
    if c.gpus.is_some() {
        return Err(Error::invalid(
            at("cluster.gpus"),
            "give either `gpus` (GPUs of one type) or [[cluster.pools]], not both",
        ));
    }
    if c.weights_memory_gib.is_some() {
        return Err(Error::invalid(
            at("cluster.weights_memory_gib"),
            "with [[cluster.pools]], give `weights_memory_gib` in each pool",
        ));
    }
    let default_k = concurrency(at, "cluster.max_concurrent", c.max_concurrent.unwrap_or(1))?;
    *c.max_concurrent = Some(default_k);
    let mut pools = Vec::with_capacity(c.pools.len());
    let mut first_gpu = 0usize;
    for (i, spec) in c.pools.iter_mut().enumerate() {
        let prefix = format!("cluster.pools[{i}].");
        let field = |k: &str| at(&format!("{prefix}{k}"));
        if spec.name.trim().is_empty() {
            return Err(Error::invalid(field("name"), "must not be empty"));
        }
        if let Some(j) = pools.iter().position(|p: &Pool| p.name == spec.name) {
            return Err(Error::invalid(
                field("name"),
                format!(
                    "pool name `{}` is already used by cluster.pools[{j}]",
                    spec.name
                ),
            ));
        }
        if spec.count == 0 || first_gpu as u64 + spec.count as u64 > MAX_GPUS {
            return Err(Error::invalid(
                field("count"),
                format!(
                    "must be at least 1, and all pools together at most {MAX_GPUS} GPUs, found {}",
                    spec.count
                ),
            ));
        }
        let profile = match spec.profile.as_ref() {
            Some(p) => {
                let (abs, prof) = load(p, &format!("{prefix}profile"))?;
                spec.profile = Some(abs);
                prof
            }
            None => top.clone().ok_or_else(|| {
                Error::invalid(
                    field("profile"),
                    "missing: name a profile here or give the scenario a top-level `profile`",
                )
            })?,
        };
        let gpu_gib = spec.gpu_memory_gib.unwrap_or(c.gpu_memory_gib);
        let (gpu_gib, weights) = memory(at, &prefix, gpu_gib, spec.weights_memory_gib)?;
        spec.gpu_memory_gib = Some(gpu_gib);
        spec.weights_memory_gib = Some(weights);
        let k = concurrency(
            at,
            &format!("{prefix}max_concurrent"),
            spec.max_concurrent.unwrap_or(default_k),
        )?;
        spec.max_concurrent = Some(k);
        pools.push(Pool {
            name: spec.name.clone(),
            count: spec.count as usize,
            first_gpu,
            weights_bytes: gib_bytes(weights),
            profile,
            max_concurrent: k,
            interference: Arc::default(),
        });
        first_gpu = first_gpu
            .checked_add(spec.count as usize)
            .ok_or_else(|| Error::invalid(field("count"), "too many GPUs"))?;
    }
    // Interference: a pool's own table, else the cluster's; pairs may name
    // any model some pool profiles.
    let known = |m: &str| pools.iter().any(|p: &Pool| p.profile.get(m).is_some());
    let concurrent = pools.iter().any(|p| p.max_concurrent > 1);
    let shared = resolve_interference(
        c.interference,
        concurrent,
        base,
        "cluster.interference.",
        at,
        &known,
    )?;
    let mut own = Vec::with_capacity(pools.len());
    for (i, spec) in c.pools.iter_mut().enumerate() {
        own.push(match spec.interference.as_mut() {
            Some(t) => Arc::new(crate::interference::resolve(
                t,
                base,
                &format!("cluster.pools[{i}].interference."),
                at,
                &known,
            )?),
            None => shared.clone(),
        });
    }
    for (pool, i) in pools.iter_mut().zip(own) {
        pool.interference = i;
    }
    Ok(Cluster {
        gpus: first_gpu,
        pools,
        preload: c.preload,
    })
}

/// Resolves `[cluster.interference]`, filling it in when `fill` (some pool
/// runs batches concurrently) or when it was given.
fn resolve_interference(
    spec: &mut Option<InterferenceSpec>,
    fill: bool,
    base: &Path,
    prefix: &str,
    at: &dyn Fn(&str) -> String,
    known: &dyn Fn(&str) -> bool,
) -> Result<Arc<Interference>> {
    let mut t = spec.clone().unwrap_or_default();
    let i = crate::interference::resolve(&mut t, base, prefix, at, known)?;
    if fill || spec.is_some() {
        *spec = Some(t);
    }
    Ok(Arc::new(i))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster(counts: &[usize]) -> Cluster {
        let mut first = 0;
        let pools = counts
            .iter()
            .enumerate()
            .map(|(i, &count)| {
                let p = Pool {
                    name: format!("p{i}"),
                    count,
                    first_gpu: first,
                    weights_bytes: 1,
                    profile: Arc::new(Profile::default()),
                    max_concurrent: 1,
                    interference: Arc::default(),
                };
                first += count;
                p
            })
            .collect();
        Cluster {
            gpus: first,
            pools,
            preload: false,
        }
    }

    #[test]
    fn gpus_are_numbered_in_pool_order() {
        let c = cluster(&[2, 1, 3]);
        let pools: Vec<PoolId> = (0..c.gpus).map(|g| c.pool_of(g)).collect();
        assert_eq!(pools, vec![0, 0, 1, 2, 2, 2]);
        assert!(!c.is_uniform());
        assert!(cluster(&[4]).is_uniform());
    }
}
