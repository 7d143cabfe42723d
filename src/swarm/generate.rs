//! The swarm's scenario generator: one seed gives one valid scenario (a
//! scenario file, its profile, its trace files) and the policies to run it
//! under. Each dimension has one function, so that a new one is added in
//! one place: [`policies`] (every implemented policy, with random legal
//! parameters), [`profile`], [`cluster`] (GPUs, memory pressure, preload,
//! noise, pools of several GPU types with their own profile, batches at once
//! and interference), [`arrival`] (every arrival process), [`trace_file`] (per-request
//! SLOs), [`azure_file`], [`names`] and [`extremes`] (tiny and huge but
//! legal values). Runs are kept small: the expected arrivals of a case are at
//! most [`MAX_CASE_ARRIVALS`] (the duration is cut to fit).

use inferfair_sim::cluster::PoolSpec;
use inferfair_sim::interference::InterferenceSpec;
use inferfair_sim::rng::Rng;
use inferfair_sim::scenario::{ClusterSpec, ModelEntry, ScenarioFile};
use inferfair_sim::workload::ArrivalSpec;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Expected arrivals of one generated scenario, at most.
pub const MAX_CASE_ARRIVALS: f64 = 4000.0;

/// A generated scenario: its file (paths relative to its folder), the other
/// files of its folder, and the policies to run.
#[derive(Clone, Debug, PartialEq)]
pub struct Case {
    /// The seed it was generated from.
    pub seed: u64,
    /// The scenario file.
    pub file: ScenarioFile,
    /// Other files by name: the profile, traces.
    pub files: BTreeMap<String, Vec<u8>>,
    /// Policies to run it under.
    pub policies: Vec<String>,
}

/// One generated profile model.
#[derive(Clone, Debug)]
pub struct GenModel {
    /// Its name.
    pub name: String,
    /// Batch sizes, ascending.
    pub sizes: Vec<u32>,
    /// Execution time of each, microseconds (non-decreasing).
    pub exec_us: Vec<f64>,
    /// Weights, MiB.
    pub weights_mib: f64,
    /// Load time, microseconds.
    pub load_us: f64,
    /// Utilization of each batch size when it runs alone, in (0, 1] (the
    /// profile's optional `util` column), if drawn.
    pub util: Option<Vec<f64>>,
}

impl GenModel {
    /// Fastest execution, ms.
    pub fn min_exec_ms(&self) -> f64 {
        self.exec_us[0] / 1e3
    }
    /// Requests per second one GPU serves at the largest batch.
    pub fn capacity_rps(&self) -> f64 {
        *self.sizes.last().expect("a size") as f64 / (self.exec_us.last().expect("a time") * 1e-6)
    }
}

fn log_uniform(rng: &mut Rng, lo: f64, hi: f64) -> f64 {
    (lo.ln() + rng.uniform() * (hi.ln() - lo.ln())).exp()
}

fn chance(rng: &mut Rng, p: f64) -> bool {
    rng.uniform() < p
}

fn pick<T: Copy>(rng: &mut Rng, v: &[T]) -> T {
    v[rng.below(v.len() as u64) as usize]
}

/// Rounds to 4 significant digits, so that files stay readable.
fn round4(v: f64) -> f64 {
    if v == 0.0 || !v.is_finite() {
        return v;
    }
    let p = 10f64.powi(3 - v.abs().log10().floor() as i32);
    (v * p).round() / p
}

/// The profile: 1 to 5 models; batch sizes from 1 (sometimes 2 or 3) up to
/// 64; times from 1 us to 200 ms, flat or growing with the batch; weights
/// from 0 to 3 GiB; loads from 1 us (at most 100 GB/s) to 2 s.
pub fn profile(rng: &mut Rng) -> Vec<GenModel> {
    let n = 1 + rng.below(5) as usize;
    (0..n)
        .map(|i| {
            let first = if chance(rng, 0.85) {
                1
            } else {
                pick(rng, &[2, 3])
            };
            let top = pick(rng, &[1u32, 2, 4, 8, 16, 32, 64]).max(first);
            let mut sizes = vec![first];
            let mut b = first;
            while b < top {
                b = (b * 2).min(top);
                if b == top || chance(rng, 0.8) {
                    sizes.push(b);
                }
            }
            let base = if chance(rng, 0.1) {
                pick(rng, &[1.0, 2.5])
            } else {
                log_uniform(rng, 50.0, 200_000.0)
            };
            let slope = if chance(rng, 0.1) { 0.0 } else { rng.uniform() };
            let exec_us = sizes
                .iter()
                .map(|&s| round4(base * (1.0 + slope * (s - first) as f64)))
                .collect();
            let weights_mib = if chance(rng, 0.05) {
                0.0
            } else {
                round4(log_uniform(rng, 1.0, 3000.0))
            };
            // Loads of 0 ns let Clockwork load and evict at one instant
            // forever, and loads faster than ~100 GB/s make it thrash
            // without end (docs/reliability.md): none are drawn.
            let fastest = (weights_mib * 10.0).max(1.0);
            let load_us = if chance(rng, 0.05) {
                fastest
            } else {
                round4(log_uniform(rng, 100.0, 2e6)).max(fastest)
            };
            GenModel {
                name: format!("m{i}"),
                sizes,
                exec_us,
                weights_mib,
                load_us,
                util: None,
            }
        })
        .collect()
}

/// The profile as CSV (with a `util` column when any model has one).
pub fn profile_csv(models: &[GenModel]) -> String {
    let with_util = models.iter().any(|m| m.util.is_some());
    let mut s = String::from(
        "# generated by inferfair swarm\nmodel,batch_size,exec_us,weights_mib,load_us",
    );
    s.push_str(if with_util { ",util\n" } else { "\n" });
    for m in models {
        for (i, (b, t)) in m.sizes.iter().zip(&m.exec_us).enumerate() {
            s.push_str(&format!(
                "{},{b},{t},{},{}",
                m.name, m.weights_mib, m.load_us
            ));
            if with_util {
                let u = m.util.as_ref().map_or(1.0, |u| u[i]);
                s.push_str(&format!(",{u}"));
            }
            s.push('\n');
        }
    }
    s
}

/// A second GPU type: every model `speed` times faster (slower below 1),
/// some models missing (never all of them: `keep` names one that stays).
pub fn other_type(rng: &mut Rng, models: &[GenModel], keep: usize) -> Vec<GenModel> {
    let speed = log_uniform(rng, 0.3, 4.0);
    models
        .iter()
        .enumerate()
        .filter(|&(i, _)| i == keep || chance(rng, 0.7))
        .map(|(_, m)| GenModel {
            exec_us: m
                .exec_us
                .iter()
                .map(|t| round4((t / speed).max(1.0)))
                .collect(),
            load_us: round4(m.load_us / speed.max(1.0)).max((m.weights_mib * 10.0).max(1.0)),
            ..m.clone()
        })
        .collect()
}

/// Batches at once on a GPU (usually 1) and, above 1, an interference model
/// (none, or the utilization model with a contention from 0 to 0.5).
fn concurrency(rng: &mut Rng) -> (Option<u32>, Option<InterferenceSpec>) {
    if chance(rng, 0.6) {
        return (None, None);
    }
    let k = pick(rng, &[1u32, 2, 2, 3, 4, 8]);
    let i = (k > 1 && chance(rng, 0.7)).then(|| InterferenceSpec {
        model: Some("utilization".into()),
        contention: Some(round4(rng.uniform() * 0.5)),
        path: None,
    });
    (Some(k), i)
}

/// The cluster: 1 to 4 GPUs (rarely 8), weights memory from just the
/// largest model (every load evicts) to all of them twice over, preloading
/// or not, execution noise from none to the largest allowed.
pub fn cluster(rng: &mut Rng, models: &[GenModel]) -> ClusterSpec {
    let gpus = if chance(rng, 0.05) {
        8
    } else {
        1 + rng.below(4) as u32
    };
    let max_w = models.iter().map(|m| m.weights_mib).fold(0.0, f64::max);
    let sum_w: f64 = models.iter().map(|m| m.weights_mib).sum();
    let w_mib = if chance(rng, 0.3) {
        max_w
    } else {
        max_w + rng.uniform() * 2.0 * sum_w
    };
    // Room for rounding (bytes are truncated), and never zero.
    let weights_gib = round4((w_mib * 1.001 + 1.0) / 1024.0);
    ClusterSpec {
        gpus: Some(gpus),
        gpu_memory_gib: round4(weights_gib * 1.5),
        weights_memory_gib: Some(weights_gib),
        exec_cv: match rng.below(10) {
            0..=5 => 0.0,
            6..=8 => round4(rng.uniform() * 0.5),
            _ => pick(rng, &[1.0, 2.0]),
        },
        preload: chance(rng, 0.5),
        max_concurrent: None,
        interference: None,
        pools: Vec::new(),
    }
}

/// How GPUs are shared, drawn from a stream of its own (so that a seed
/// that draws none of it gives the scenario it gave before these existed):
/// utilizations in the profile, batches at once with interference, and
/// pools of two GPU types. Writes the profiles.
pub fn sharing(
    seed: u64,
    models: &mut [GenModel],
    c: &mut ClusterSpec,
    files: &mut BTreeMap<String, Vec<u8>>,
) {
    let mut rng = Rng::derive(seed, "swarm-sharing");
    for m in models.iter_mut() {
        if chance(&mut rng, 0.3) {
            let lo = 0.05 + rng.uniform() * 0.9;
            let first = m.sizes[0] as f64;
            m.util = Some(
                m.sizes
                    .iter()
                    .map(|&s| round4((lo * s as f64 / first).min(1.0)))
                    .collect(),
            );
        }
    }
    (c.max_concurrent, c.interference) = concurrency(&mut rng);
    if let Some(other) = pools(&mut rng, c, models) {
        files.insert("profile-b.csv".into(), profile_csv(&other).into_bytes());
    }
    files.insert("profile.csv".into(), profile_csv(models).into_bytes());
}

/// The cluster as two pools (in a quarter of the cases): the scenario's
/// profile on the first, `other_type`'s in `profile-b.csv` on the second,
/// each with its own count, memory, batches at once and interference.
/// Returns the second type's models when it made pools.
pub fn pools(rng: &mut Rng, c: &mut ClusterSpec, models: &[GenModel]) -> Option<Vec<GenModel>> {
    if !chance(rng, 0.25) {
        return None;
    }
    let keep = rng.below(models.len() as u64) as usize;
    let other = other_type(rng, models, keep);
    let weights = c.weights_memory_gib.expect("set");
    let spec = |name: &str, profile: Option<&str>, rng: &mut Rng| {
        let (max_concurrent, interference) = concurrency(rng);
        PoolSpec {
            name: name.into(),
            count: 1 + rng.below(3) as u32,
            profile: profile.map(PathBuf::from),
            gpu_memory_gib: None,
            weights_memory_gib: Some(weights),
            max_concurrent,
            interference,
        }
    };
    c.pools = vec![spec("a", None, rng), spec("b", Some("profile-b.csv"), rng)];
    c.gpus = None;
    c.weights_memory_gib = None;
    c.max_concurrent = None;
    c.interference = None;
    Some(other)
}

/// An instance name: usually none (the model's), sometimes a name with a
/// comma, quotes, spaces and non-ASCII letters, or a very long one.
pub fn names(rng: &mut Rng, i: usize) -> Option<String> {
    match rng.below(20) {
        0 => Some(format!("a,b \"q\" é-{i}")),
        1 => Some(format!("{}{i}", "n".repeat(300))),
        2..=5 => Some(format!("inst-{i}")),
        _ => None,
    }
}

/// What an arrival process needs to know about its entry.
pub struct Load {
    /// Target mean rate, requests per second.
    pub rate: f64,
    /// Length of the run, seconds.
    pub duration_s: f64,
    /// The entry's index (names its trace rows).
    pub entry: usize,
    /// The model's fastest execution, ms, and the SLO of its requests, ms.
    pub min_exec_ms: f64,
    /// See `min_exec_ms`.
    pub slo_ms: f64,
}

/// One arrival process of every kind, at about `load.rate`; trace and Azure
/// processes add their files to `files`.
pub fn arrival(rng: &mut Rng, load: &Load, files: &mut BTreeMap<String, Vec<u8>>) -> ArrivalSpec {
    let rate = round4(load.rate.max(0.01));
    let d = load.duration_s;
    let window = |rng: &mut Rng| {
        if chance(rng, 0.8) {
            (None, None)
        } else {
            let a = round4(rng.uniform() * d * 0.5);
            (
                Some(a).filter(|&a| a > 0.0),
                Some(round4(a + d * (0.1 + rng.uniform()))),
            )
        }
    };
    match rng.below(9) {
        0 => {
            let (start_s, stop_s) = window(rng);
            ArrivalSpec::Deterministic {
                rate_rps: rate,
                start_s,
                stop_s,
            }
        }
        1 | 2 => {
            let (start_s, stop_s) = window(rng);
            ArrivalSpec::Poisson {
                rate_rps: rate,
                start_s,
                stop_s,
            }
        }
        3 => ArrivalSpec::Gamma {
            rate_rps: rate,
            cv: if chance(rng, 0.1) {
                pick(rng, &[50.0, 100.0])
            } else {
                round4(log_uniform(rng, 0.1, 8.0))
            },
            start_s: None,
            stop_s: None,
        },
        4 => {
            let on = round4(log_uniform(rng, 0.001, d.max(0.002)));
            let off = round4(log_uniform(rng, 0.001, d.max(0.002)));
            ArrivalSpec::Onoff {
                rate_rps: round4((rate * (on + off) / on).min(1e8)),
                on_s: on,
                off_s: off,
                cv: chance(rng, 0.3).then(|| round4(log_uniform(rng, 0.5, 4.0))),
                start_s: None,
                stop_s: None,
            }
        }
        5 => {
            let k = 1 + rng.below(4) as usize;
            let mut times = vec![0.0];
            for _ in 1..k {
                let last = *times.last().expect("one time");
                times.push(round4(last + rng.uniform() * d / k as f64 + 1e-3));
            }
            let rates = (0..k)
                .map(|_| {
                    if chance(rng, 0.2) {
                        0.0
                    } else {
                        round4(rate * 2.0 * rng.uniform())
                    }
                })
                .collect();
            ArrivalSpec::Piecewise {
                times_s: times,
                rates_rps: rates,
                cv: chance(rng, 0.3).then(|| round4(log_uniform(rng, 0.5, 4.0))),
            }
        }
        6 => ArrivalSpec::Closed {
            clients: 1 + rng.below(16) as u32,
            think_ms: if chance(rng, 0.3) {
                0.0
            } else {
                round4(log_uniform(rng, 0.01, 50.0))
            },
        },
        7 => trace_file(rng, load, files),
        _ => azure_file(rng, load, files),
    }
}

/// A request trace of its own for the entry: Poisson arrivals (some at the
/// very same time, some after the end of arrivals), most with their own
/// SLO, from the fastest execution to far above the model's.
pub fn trace_file(
    rng: &mut Rng,
    load: &Load,
    files: &mut BTreeMap<String, Vec<u8>>,
) -> ArrivalSpec {
    let key = format!("e{}", load.entry);
    let mut s = String::from("arrival_ms,model,slo_ms\n");
    let mut t = 0.0;
    let end_ms = load.duration_s * 1.1e3;
    let mut rows = 0;
    while (t < end_ms || rows == 0) && (rows as f64) < MAX_CASE_ARRIVALS {
        let burst = if chance(rng, 0.05) {
            1 + rng.below(20)
        } else {
            1
        };
        for _ in 0..burst {
            let min = load.min_exec_ms;
            let slo = match rng.below(10) {
                0..=2 => String::new(),
                3 => format!("{min}"),
                4 => format!("{}", round4((load.slo_ms * 20.0).min(1e5)).max(min)),
                _ => format!(
                    "{}",
                    round4(load.slo_ms * log_uniform(rng, 0.2, 3.0)).max(min)
                ),
            };
            s.push_str(&format!("{},{key},{slo}\n", round4(t).max(0.0)));
            rows += 1;
        }
        t += rng.exp(1e3 / load.rate.max(0.01));
    }
    let name = format!("trace-{}.csv", load.entry);
    files.insert(name.clone(), s.into_bytes());
    ArrivalSpec::Trace {
        path: PathBuf::from(name),
        model: Some(key),
    }
}

/// Azure Functions 2019 per-minute counts: a small generated day (shared by
/// every entry that uses it), a slice of 1 to 4 minutes compressed into the
/// run, scaled to about the entry's rate.
pub fn azure_file(
    rng: &mut Rng,
    load: &Load,
    files: &mut BTreeMap<String, Vec<u8>>,
) -> ArrivalSpec {
    let name = "maf1.csv";
    if !files.contains_key(name) {
        let g = inferfair_sim::trace::generate::Generator::new(
            inferfair_sim::trace::generate::GenConfig {
                functions: 40,
                days: 1,
                seed: rng.next_u64() % 1000,
                scale: 1.0,
            },
        );
        let mut day = Vec::new();
        g.write_day(0, &mut day).expect("writes to memory");
        files.insert(name.into(), day);
    }
    // One slice and mapping for the whole file (its instances share them).
    let start = 600;
    let minutes = 2;
    ArrivalSpec::Azure {
        path: PathBuf::from(name),
        next_days: vec![],
        mapping: None,
        assign: None,
        drop_idle: None,
        start_min: Some(start),
        end_min: Some(start + minutes),
        interval_min: None,
        cv: chance(rng, 0.3).then(|| round4(log_uniform(rng, 0.5, 4.0))),
        rate_scale: None,
        time_scale: Some(round4(minutes as f64 * 60.0 / load.duration_s)),
        total_rps: Some(round4(load.rate.max(0.01))),
    }
}

/// Random legal parameters for a policy (none for one it does not know):
/// the one place to add the parameters of a new policy.
pub fn policy_params(
    rng: &mut Rng,
    name: &str,
    models: &[GenModel],
    weights_gib: f64,
) -> toml::Table {
    let mut t = toml::Table::new();
    let f = |v: f64| toml::Value::Float(round4(v));
    if chance(rng, 0.4) {
        // Defaults, but Clockwork's 16 MiB pages must fit a small GPU.
        if name == "clockwork" && !pages_fit(16.0, models, weights_gib) {
            t.insert(
                "page_size_mib".into(),
                f(page_size(rng, models, weights_gib)),
            );
        }
        return t;
    }
    match name {
        "fifo" => {
            t.insert(
                "max_batch".into(),
                toml::Value::Integer(1 + rng.below(8) as i64),
            );
        }
        "clockwork" => {
            let future = pick(rng, &[0.0, 0.5, 1.0, 2.0]);
            t.insert("future_ms".into(), f(future));
            t.insert(
                "schedule_ahead_ms".into(),
                f(future + log_uniform(rng, 0.5, 20.0)),
            );
            t.insert("buffer_ms".into(), f(rng.uniform() * 10.0));
            t.insert("latest_delta_ms".into(), f(rng.uniform() * 20.0));
            t.insert(
                "estimate_window".into(),
                toml::Value::Integer(1 + rng.below(20) as i64),
            );
            t.insert(
                "max_batch".into(),
                toml::Value::Integer(1 + rng.below(16) as i64),
            );
            t.insert(
                "load_demand_expires".into(),
                toml::Value::Boolean(chance(rng, 0.5)),
            );
            t.insert(
                "load_requires_positive_priority".into(),
                toml::Value::Boolean(chance(rng, 0.5)),
            );
            t.insert(
                "page_size_mib".into(),
                f(page_size(rng, models, weights_gib)),
            );
        }
        "inferfair" => {
            t.insert("period_ms".into(), f(log_uniform(rng, 2.0, 500.0)));
            t.insert("fairness".into(), f(rng.uniform()));
            t.insert("headroom".into(), f(rng.uniform() * 0.2));
            t.insert("slo_fraction".into(), f(0.1 + rng.uniform() * 0.9));
            t.insert("carry_periods".into(), f(rng.uniform() * 3.0));
            for k in [
                "estimation",
                "feedback",
                "batching",
                "efficient_batches",
                "overload_only",
                "min_share",
                "replicas",
            ] {
                t.insert(k.into(), toml::Value::Boolean(chance(rng, 0.7)));
            }
        }
        _ => {}
    }
    t
}

/// Whether every model fits in a GPU's pages of `p` MiB (with a page to spare).
fn pages_fit(p: f64, models: &[GenModel], weights_gib: f64) -> bool {
    let cap = weights_gib * 1024.0;
    models
        .iter()
        .all(|m| (m.weights_mib / p).ceil() <= (cap / p).floor() - 1.0)
}

/// A page size (MiB) with which every model fits in a GPU's pages.
fn page_size(rng: &mut Rng, models: &[GenModel], weights_gib: f64) -> f64 {
    let mut p = pick(rng, &[1.0, 4.0, 16.0, 64.0]);
    while p > 1e-3 && !pages_fit(p, models, weights_gib) {
        p /= 4.0;
    }
    p
}

/// The policies: every implemented one (`inferfair_sim::policy::NAMES`
/// whose default parameters are accepted).
pub fn policies() -> Vec<String> {
    inferfair_sim::policy::NAMES
        .iter()
        .filter(|n| inferfair_sim::policy::check_params(n, &Default::default()).is_ok())
        .map(|n| n.to_string())
        .collect()
}

/// The largest inter-arrival CV of a scenario's processes.
fn max_cv(f: &ScenarioFile) -> f64 {
    f.models
        .iter()
        .map(|m| match &m.arrival {
            ArrivalSpec::Gamma { cv, .. } => *cv,
            ArrivalSpec::Onoff { cv, .. }
            | ArrivalSpec::Piecewise { cv, .. }
            | ArrivalSpec::Azure { cv, .. } => cv.unwrap_or(1.0),
            _ => 1.0,
        })
        .fold(0.0, f64::max)
}

/// Tiny and huge but legal values: the scenario-wide ones.
pub fn extremes(rng: &mut Rng, f: &mut ScenarioFile) {
    match rng.below(12) {
        0 => f.warmup_s = 0.0,
        1 => f.drain_s = Some(0.0),
        2 => f.drain_s = Some(round4(f.duration_s * 3.0)),
        3 => f.slo_scale = round4(1.0 + rng.uniform() * 3.0),
        4 => {
            let s: f64 = pick(rng, &[0.5, 2.0, 8.0]);
            f.cv_scale = s.min(inferfair_sim::limits::MAX_CV / max_cv(f));
        }
        5 => f.rate_scale = round4(log_uniform(rng, 0.1, 3.0)),
        _ => {}
    }
}

/// The expected arrivals of an entry over `d` seconds (closed loops: each
/// client once per think time or fastest execution).
fn expected(spec: &ArrivalSpec, count: u32, d: f64, min_exec_ms: f64, trace_rows: usize) -> f64 {
    let per = match spec {
        ArrivalSpec::Closed { clients, think_ms } => {
            *clients as f64 * d * 1e3 / think_ms.max(min_exec_ms).max(1e-6)
        }
        ArrivalSpec::Trace { .. } => trace_rows as f64,
        ArrivalSpec::Azure { total_rps, .. } => total_rps.unwrap_or(1.0) * d,
        ArrivalSpec::Piecewise { rates_rps, .. } => rates_rps.iter().fold(0.0, |a, &b| a + b) * d,
        other => other.mean_rate_rps().unwrap_or(0.0) * d,
    };
    per * count as f64
}

/// The scenario of seed `seed`.
pub fn case(seed: u64) -> Case {
    let mut rng = Rng::derive(seed, "swarm");
    let mut models = profile(&mut rng);
    let mut cluster = cluster(&mut rng, &models);
    let weights_gib = cluster.weights_memory_gib.expect("set");
    let mut duration_s = round4(log_uniform(&mut rng, 0.05, 3.0));
    let load_factor = log_uniform(&mut rng, 0.05, 5.0);
    let n = 1 + rng.below(6) as usize;
    let mut files = BTreeMap::new();
    let mut entries: Vec<ModelEntry> = Vec::new();
    for i in 0..n {
        let m = &models[rng.below(models.len() as u64) as usize];
        let count = if chance(&mut rng, 0.2) {
            2 + rng.below(3) as u32
        } else {
            1
        };
        let slo_ms = if chance(&mut rng, 0.05) {
            1e5
        } else {
            round4(m.min_exec_ms() * log_uniform(&mut rng, 1.0, 100.0)).max(m.min_exec_ms())
        };
        let per = n as f64 * count as f64;
        let load = Load {
            rate: (load_factor * cluster.gpus.unwrap_or(1) as f64 * m.capacity_rps() / per)
                .min(MAX_CASE_ARRIVALS / (duration_s * per)),
            duration_s,
            entry: i,
            min_exec_ms: m.min_exec_ms(),
            slo_ms,
        };
        let arrival = arrival(&mut rng, &load, &mut files);
        let use_factor = chance(&mut rng, 0.1);
        let mut name = names(&mut rng, i);
        if name.is_none()
            && entries
                .iter()
                .any(|e| e.model == m.name && e.name.is_none())
        {
            name = Some(format!("{}-e{i}", m.name));
        }
        entries.push(ModelEntry {
            model: m.name.clone(),
            name,
            count,
            zipf_alpha: (count > 1 && chance(&mut rng, 0.5)).then(|| round4(rng.uniform() * 2.0)),
            slo_ms: (!use_factor).then_some(slo_ms),
            slo_factor: use_factor.then(|| round4(slo_ms / m.min_exec_ms()).max(1.0)),
            exec_cv: chance(&mut rng, 0.1).then(|| round4(rng.uniform() * 2.0)),
            arrival,
        });
    }
    // Keep the run small: cut the duration to the arrival budget.
    let total: f64 = entries
        .iter()
        .map(|e| {
            let m = models
                .iter()
                .find(|m| m.name == e.model)
                .expect("a profile model");
            let rows = match &e.arrival {
                ArrivalSpec::Trace { path, .. } => files[path.to_str().expect("utf-8")]
                    .iter()
                    .filter(|&&b| b == b'\n')
                    .count(),
                _ => 0,
            };
            expected(&e.arrival, e.count, duration_s, m.min_exec_ms(), rows)
        })
        .sum();
    if total > MAX_CASE_ARRIVALS {
        duration_s = round4((duration_s * MAX_CASE_ARRIVALS / total).max(0.0005));
    }
    sharing(seed, &mut models, &mut cluster, &mut files);
    let mut policy = BTreeMap::new();
    let policies = policies();
    for p in &policies {
        let t = policy_params(&mut rng, p, &models, weights_gib);
        if !t.is_empty() {
            policy.insert(p.clone(), t);
        }
    }
    let mut file = ScenarioFile {
        name: format!("swarm-{seed}"),
        seed,
        duration_s,
        warmup_s: round4(duration_s * rng.uniform() * 0.3),
        drain_s: None,
        profile: Some(PathBuf::from("profile.csv")),
        rate_scale: 1.0,
        cv_scale: 1.0,
        slo_scale: 1.0,
        cluster,
        models: entries,
        policy,
    };
    extremes(&mut rng, &mut file);
    Case {
        seed,
        file,
        files,
        policies,
    }
}
