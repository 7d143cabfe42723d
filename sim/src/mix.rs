//! Seeded random heterogeneous model mixes (`inferfair mix gen`, and the
//! `mix_seed` axis of sweeps): a scenario drawn from a profile, the same for
//! the same inputs on every machine and with every thread count.
//!
//! A mix of K models on G GPUs at load S is drawn from one seed:
//! - **models**: K distinct models of the profile in a random order (repeated
//!   only when K exceeds the profile's models), so that a mix spreads over
//!   the profile's batch curves (flat and steep, 1 ms to 25 ms at batch 1);
//! - **SLOs**, tight to loose: `slo_factor` times the model's batch-1 time,
//!   the factor log-uniform in [`SLO_FACTOR`], then kept in [`SLO_MS`] and
//!   rounded to whole milliseconds;
//! - **GPU-time weights**: each model's share of the demand, log-uniform in
//!   [`WEIGHT`] and normalized to 1, so that mixes have heavy models beside
//!   sparse ones;
//! - **burstiness**: Poisson (40%), Gamma with a CV log-uniform in [`GAMMA_CV`]
//!   (40%), or on/off bursts (20%, Poisson within on periods, mean on and
//!   off lengths uniform in [`ON_S`] and [`OFF_S`]).
//!
//! **Capacity and load.** The GPU-time demand of a model at arrival rate r is
//! `need(r) = r * exec(b) / b`, with b the batch size it would use at that
//! rate: the largest allowed b whose fill time (b - 1) / r plus exec(b) fits
//! half its SLO (the smallest batch when none does), the definition the
//! paper suite's scenarios use. A cluster of G GPUs has a capacity of G GPU
//! seconds per second. Each model's mean rate is the rate whose demand is
//! its weight times G (by bisection), so that at load 1 the mix's demand
//! equals the capacity; the scenario's `rate_scale` is S (load 0.5 is half
//! the capacity, 2 a 2x overload). Rates are at least [`MIN_RATE`].

use crate::policy::inferfair::ModelCurve;
use crate::profile::{ModelProfile, Profile};
use crate::rng::Rng;
use crate::scenario::{ClusterSpec, ModelEntry, ScenarioFile};
use crate::time::from_ms;
use crate::workload::ArrivalSpec;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Range of an SLO as a multiple of the model's batch-1 time.
pub const SLO_FACTOR: [f64; 2] = [4.0, 40.0];
/// Range of an SLO in milliseconds (after the factor).
pub const SLO_MS: [f64; 2] = [10.0, 1000.0];
/// Range of the unnormalized GPU-time weights.
pub const WEIGHT: [f64; 2] = [0.01, 1.0];
/// Range of the Gamma CVs.
pub const GAMMA_CV: [f64; 2] = [1.5, 4.0];
/// Range of the mean on period of on/off streams (seconds).
pub const ON_S: [f64; 2] = [0.2, 1.0];
/// Range of the mean off period of on/off streams (seconds).
pub const OFF_S: [f64; 2] = [0.5, 2.0];
/// Smallest mean rate of a model (requests per second).
pub const MIN_RATE: f64 = 1.0;
/// Share of the SLO that filling and running a batch may take in the demand.
pub const SLO_FRACTION: f64 = 0.5;

/// What to draw.
#[derive(Clone, Debug, PartialEq)]
pub struct MixSpec {
    /// The seed of the mix (also written as the scenario's seed).
    pub seed: u64,
    /// Number of models, or a range [lo, hi] to draw it from.
    pub models: (u32, u32),
    /// Number of GPUs.
    pub gpus: u32,
    /// Load relative to the cluster's capacity (the scenario's `rate_scale`).
    pub load: f64,
    /// Arrivals last this long (seconds).
    pub duration_s: f64,
    /// Of which the first are not measured.
    pub warmup_s: f64,
}

impl MixSpec {
    /// Checks the values are possible.
    pub fn validate(&self) -> Result<(), String> {
        let (lo, hi) = self.models;
        if lo == 0 || hi < lo {
            return Err(format!("models: need 1 <= lo <= hi, found {lo}-{hi}"));
        }
        if self.gpus == 0 {
            return Err("gpus: must be at least 1".into());
        }
        if !(self.load.is_finite() && self.load > 0.0) {
            return Err(format!("load: must be positive, found {}", self.load));
        }
        if !(self.duration_s > 0.0 && self.warmup_s >= 0.0 && self.warmup_s < self.duration_s) {
            return Err("need 0 <= warmup_s < duration_s".into());
        }
        Ok(())
    }
}

fn log_uniform(rng: &mut Rng, [lo, hi]: [f64; 2]) -> f64 {
    (lo.ln() + rng.uniform() * (hi.ln() - lo.ln())).exp()
}

fn uniform(rng: &mut Rng, [lo, hi]: [f64; 2]) -> f64 {
    lo + rng.uniform() * (hi - lo)
}

/// GPU seconds per second that model `p` with SLO `slo_ms` needs at `rate` req/s.
pub fn need(p: &ModelProfile, slo_ms: f64, rate: f64) -> f64 {
    ModelCurve::new(p, from_ms(slo_ms), SLO_FRACTION).need(rate)
}

/// The mean rate at which model `p` needs `target` GPU seconds per second
/// (the smallest rate whose need reaches it, by bisection).
pub fn rate_for(p: &ModelProfile, slo_ms: f64, target: f64) -> f64 {
    let curve = ModelCurve::new(p, from_ms(slo_ms), SLO_FRACTION);
    let (mut lo, mut hi) = (0.0f64, 1.0f64);
    while curve.need(hi) < target && hi < 1e9 {
        hi *= 2.0;
    }
    for _ in 0..60 {
        let mid = 0.5 * (lo + hi);
        if curve.need(mid) < target {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    hi
}

/// Memory of the generated cluster's GPUs (GiB).
const GPU_MEMORY_GIB: f64 = 32.0;

/// Rounds to 4 significant digits (so that generated files read well).
fn round4(x: f64) -> f64 {
    if x == 0.0 || !x.is_finite() {
        return x;
    }
    let k = 10f64.powi(3 - x.abs().log10().floor() as i32);
    (x * k).round() / k
}

/// Draws the mix of `spec` from `profile`; `profile_path` is written as the
/// scenario's `profile` key (relative to where the scenario will be).
pub fn generate(
    spec: &MixSpec,
    profile: &Profile,
    profile_path: PathBuf,
) -> Result<ScenarioFile, String> {
    spec.validate()?;
    // The models whose weights fit the generated cluster's GPUs (32 GiB, Clockwork's weights cache).
    let room = (GPU_MEMORY_GIB * crate::cluster::WEIGHTS_FRACTION * (1u64 << 30) as f64) as u64;
    let fitting: Vec<&crate::profile::ModelProfile> = profile
        .models
        .iter()
        .filter(|m| m.weights_bytes <= room)
        .collect();
    if fitting.is_empty() {
        return Err(format!(
            "no model of the profile fits a {GPU_MEMORY_GIB} GiB GPU's memory for weights"
        ));
    }
    let mut rng = Rng::derive(spec.seed, "mix");
    let (lo, hi) = spec.models;
    let k = lo + rng.below((hi - lo + 1) as u64) as u32;
    // K models: shuffles of the profile's models, one after another.
    let mut picks: Vec<usize> = Vec::new();
    while picks.len() < k as usize {
        let mut order: Vec<usize> = (0..fitting.len()).collect();
        for i in (1..order.len()).rev() {
            order.swap(i, rng.below(i as u64 + 1) as usize);
        }
        picks.extend(order);
    }
    picks.truncate(k as usize);
    let weights: Vec<f64> = (0..k).map(|_| log_uniform(&mut rng, WEIGHT)).collect();
    let wsum: f64 = weights.iter().sum();
    let mut uses: BTreeMap<usize, u32> = BTreeMap::new();
    let mut models = Vec::new();
    for (&pi, w) in picks.iter().zip(&weights) {
        let p = fitting[pi];
        let exec1_ms = p.min_exec_ns() as f64 * 1e-6;
        let factor = log_uniform(&mut rng, SLO_FACTOR);
        let slo_ms = (factor * exec1_ms)
            .clamp(SLO_MS[0], SLO_MS[1])
            .max(exec1_ms.ceil())
            .round();
        let target = w / wsum * spec.gpus as f64;
        let rate = round4(rate_for(p, slo_ms, target).max(MIN_RATE));
        let kind = rng.uniform();
        let arrival = if kind < 0.4 {
            ArrivalSpec::Poisson {
                rate_rps: rate,
                start_s: None,
                stop_s: None,
            }
        } else if kind < 0.8 {
            ArrivalSpec::Gamma {
                rate_rps: rate,
                cv: round4(log_uniform(&mut rng, GAMMA_CV)),
                start_s: None,
                stop_s: None,
            }
        } else {
            let on_s = round4(uniform(&mut rng, ON_S));
            let off_s = round4(uniform(&mut rng, OFF_S));
            ArrivalSpec::Onoff {
                rate_rps: round4(rate * (on_s + off_s) / on_s),
                on_s,
                off_s,
                cv: None,
                start_s: None,
                stop_s: None,
            }
        };
        let n = uses.entry(pi).or_default();
        *n += 1;
        let name = (*n > 1).then(|| format!("{}-{}", p.name, *n));
        models.push(ModelEntry {
            model: p.name.clone(),
            name,
            count: 1,
            zipf_alpha: None,
            slo_ms: Some(slo_ms),
            slo_factor: None,
            exec_cv: None,
            arrival,
        });
    }
    Ok(ScenarioFile {
        name: format!("mix-{}-k{k}-g{}", spec.seed, spec.gpus),
        seed: spec.seed,
        duration_s: spec.duration_s,
        warmup_s: spec.warmup_s,
        drain_s: None,
        profile: Some(profile_path),
        rate_scale: spec.load,
        cv_scale: 1.0,
        slo_scale: 1.0,
        cluster: ClusterSpec {
            gpus: Some(spec.gpus),
            gpu_memory_gib: GPU_MEMORY_GIB,
            weights_memory_gib: None,
            exec_cv: 0.0,
            preload: false,
            max_concurrent: None,
            interference: None,
            pools: Vec::new(),
        },
        models,
        policy: BTreeMap::new(),
    })
}

/// The mix's GPU-time demand at its rates (before `rate_scale`), in GPUs:
/// the number of GPUs it was drawn for, up to the rounding of rates and
/// the smallest rate.
pub fn demand(file: &ScenarioFile, profile: &Profile) -> f64 {
    file.models
        .iter()
        .filter_map(|m| {
            let p = profile.get(&m.model)?;
            let rate = match &m.arrival {
                ArrivalSpec::Poisson { rate_rps, .. } | ArrivalSpec::Gamma { rate_rps, .. } => {
                    *rate_rps
                }
                ArrivalSpec::Onoff {
                    rate_rps,
                    on_s,
                    off_s,
                    ..
                } => rate_rps * on_s / (on_s + off_s),
                _ => return None,
            };
            Some(need(p, m.slo_ms?, rate))
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile() -> Profile {
        let text = "model,batch_size,exec_us,weights_mib,load_us\n\
            a,1,1000,10,100\na,2,1100,10,100\na,4,1300,10,100\na,8,1700,10,100\n\
            b,1,20000,100,1000\nb,2,35000,100,1000\nb,4,60000,100,1000\n\
            c,1,5000,50,500\nc,2,8000,50,500\nc,4,14000,50,500\n";
        Profile::parse(text, std::path::Path::new("p.csv")).unwrap()
    }

    fn spec(seed: u64, k: u32, gpus: u32) -> MixSpec {
        MixSpec {
            seed,
            models: (k, k),
            gpus,
            load: 1.5,
            duration_s: 20.0,
            warmup_s: 4.0,
        }
    }

    #[test]
    fn need_uses_the_batch_the_rate_allows() {
        let p = profile();
        let a = p.get("a").unwrap();
        // SLO 20 ms: budget 10 ms. At 100 req/s: b8 fill 70 ms no; b4 fill 30 ms no;
        // b2 fill 10 ms + 1.1 > 10 no: batch 1, 1 ms per request.
        assert!((need(a, 20.0, 100.0) - 0.1).abs() < 1e-12);
        // At 1000 req/s: b8 fill 7 ms + 1.7 ms fits: 1.7/8 ms per request.
        assert!((need(a, 20.0, 1000.0) - 1000.0 * 0.0017 / 8.0).abs() < 1e-12);
        let r = rate_for(a, 20.0, 0.1);
        assert!((need(a, 20.0, r) - 0.1).abs() < 1e-6, "{r}");
    }

    #[test]
    fn same_seed_same_mix_and_demand_is_the_capacity() {
        let p = profile();
        let f = generate(&spec(7, 3, 4), &p, "p.csv".into()).unwrap();
        let g = generate(&spec(7, 3, 4), &p, "p.csv".into()).unwrap();
        assert_eq!(f, g);
        assert_ne!(f, generate(&spec(8, 3, 4), &p, "p.csv".into()).unwrap());
        assert_eq!(f.models.len(), 3);
        assert_eq!(f.rate_scale, 1.5);
        assert_eq!(f.cluster.gpus, Some(4));
        // Three distinct models of three.
        let mut names: Vec<_> = f.models.iter().map(|m| m.model.clone()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), 3);
        let d = demand(&f, &p);
        assert!((d - 4.0).abs() < 0.05, "demand {d}");
        for m in &f.models {
            let slo = m.slo_ms.unwrap();
            assert!((SLO_MS[0]..=SLO_MS[1]).contains(&slo), "{slo}");
        }
    }

    #[test]
    fn more_models_than_the_profile_repeats_with_names() {
        let f = generate(&spec(3, 5, 1), &profile(), "p.csv".into()).unwrap();
        assert_eq!(f.models.len(), 5);
        let names: Vec<String> = f
            .models
            .iter()
            .map(|m| m.name.clone().unwrap_or(m.model.clone()))
            .collect();
        let mut d = names.clone();
        d.sort();
        d.dedup();
        assert_eq!(d.len(), 5, "{names:?}");
    }

    #[test]
    fn a_range_of_models_is_drawn_from_the_seed() {
        let mut seen = std::collections::BTreeSet::new();
        for seed in 0..40 {
            let mut s = spec(seed, 2, 2);
            s.models = (2, 4);
            seen.insert(
                generate(&s, &profile(), "p.csv".into())
                    .unwrap()
                    .models
                    .len(),
            );
        }
        assert_eq!(seen.into_iter().collect::<Vec<_>>(), vec![2, 3, 4]);
        let mut bad = spec(1, 2, 2);
        bad.models = (3, 2);
        assert!(generate(&bad, &profile(), "p.csv".into()).is_err());
    }
}
