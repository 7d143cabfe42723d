//! Running scenarios: one policy (`simulate`), with isolation runs (every
//! model alone under the same policy, in parallel) to get normalized
//! goodputs and isolation metrics, and several policies (`compare`).

use crate::engine::{Engine, Observer};
use crate::error::Result;
use crate::hist::Histogram;
use crate::isolation::Isolation;
use crate::metrics::{GpuSummary, Metrics, ModelSummary, Overall};
use crate::policy::{self, Policy};
use crate::scenario::Scenario;
use crate::time::Nanos;
use rayon::prelude::*;
use serde::Serialize;

/// The results of one policy on one scenario.
#[derive(Clone, Debug, Serialize)]
pub struct RunResult {
    /// Policy name.
    pub policy: String,
    /// Over all models.
    pub overall: Overall,
    /// Per model instance.
    pub models: Vec<ModelSummary>,
    /// Per GPU.
    pub gpus: Vec<GpuSummary>,
    /// Events processed (the shared run only).
    pub events: u64,
    /// Requests simulated (in and out of the measured window).
    pub requests: u64,
    /// Wall-clock seconds of the shared run (not written to result files).
    pub wall_s: f64,
    /// The policy's effective parameters.
    #[serde(skip)]
    pub params: toml::Table,
    /// Per-model latency histograms (for CDFs).
    #[serde(skip)]
    pub latency: Vec<Histogram>,
    /// Per-model good requests per timeline bin, when asked for.
    #[serde(skip)]
    pub timeline: Vec<Vec<u32>>,
    /// Per-model arrivals per timeline bin, when asked for.
    #[serde(skip)]
    pub offered_timeline: Vec<Vec<u32>>,
}

/// Options of a run.
#[derive(Default)]
pub struct RunOptions<'a> {
    /// Stop with an error after this many events (a watchdog; none by default).
    pub max_events: Option<u64>,
    /// Stop with an error when more requests than this wait at once
    /// (default: [`crate::limits::MAX_PENDING`]).
    pub max_pending: Option<usize>,
    /// Receives every request end, batch and load.
    pub observer: Option<&'a mut dyn Observer>,
    /// Called with the fraction of simulated time done.
    pub progress: Option<&'a mut dyn FnMut(f64)>,
    /// Count good requests per bin of this width (for timelines).
    pub timeline_bin: Option<Nanos>,
}

/// Runs `scenario` under policy `name`.
pub fn simulate(scenario: &Scenario, name: &str, opts: RunOptions) -> Result<RunResult> {
    let mut p = policy::build(name, scenario)?;
    simulate_with(scenario, p.as_mut(), opts)
}

/// Runs `scenario` under a policy object.
pub fn simulate_with(
    scenario: &Scenario,
    policy: &mut dyn Policy,
    opts: RunOptions,
) -> Result<RunResult> {
    let wall = std::time::Instant::now();
    let metrics = Metrics::new(scenario, opts.timeline_bin);
    let params = policy.params();
    let name = policy.name().to_string();
    let cap = policy.max_concurrent();
    let done = Engine::new(scenario, policy, metrics, opts.observer)
        .with_limits(opts.max_events, opts.max_pending)
        .run(opts.progress)?;
    let mut r = RunResult::from_metrics(
        scenario,
        name,
        params,
        done.metrics,
        done.events,
        done.requests,
        wall.elapsed().as_secs_f64(),
    );
    r.cap_concurrency(cap);
    Ok(r)
}

impl RunResult {
    /// Records a policy's own limit on batches at once per GPU (see `Policy::max_concurrent`).
    pub fn cap_concurrency(&mut self, cap: Option<u32>) {
        if let Some(cap) = cap {
            for g in &mut self.gpus {
                g.max_concurrent = g.max_concurrent.min(cap.max(1));
            }
        }
    }

    /// The result of a finished run of `scenario` (by any driver) from its metrics.
    pub fn from_metrics(
        scenario: &Scenario,
        policy: String,
        params: toml::Table,
        metrics: Metrics,
        events: u64,
        requests: u64,
        wall_s: f64,
    ) -> RunResult {
        let (overall, models, gpus) = metrics.summarize(scenario);
        let mut latency = Vec::with_capacity(metrics.models.len());
        let mut offered_timeline = Vec::with_capacity(metrics.models.len());
        let mut timeline = Vec::with_capacity(metrics.models.len());
        for m in metrics.models {
            latency.push(m.latency);
            offered_timeline.push(m.offered_timeline);
            timeline.push(m.timeline);
        }
        RunResult {
            policy,
            overall,
            models,
            gpus,
            events,
            requests,
            wall_s,
            params,
            latency,
            offered_timeline,
            timeline,
        }
    }
}

/// Goodput of every model when it runs alone under policy `name` (in
/// parallel): its own arrival stream, or for a closed loop the same clients
/// and think time (which send more alone, being served faster; see
/// `docs/metrics.md`).
pub fn alone_goodputs(scenario: &Scenario, name: &str) -> Result<Vec<f64>> {
    policy::build(name, scenario)?;
    (0..scenario.models.len())
        .into_par_iter()
        .map(|i| {
            let s = scenario.only(i);
            let r = simulate(&s, name, RunOptions::default())?;
            Ok(r.models[0].goodput_rps)
        })
        .collect()
}

/// Fills in normalized goodputs and isolation metrics from isolated goodputs.
pub fn apply_isolation(result: &mut RunResult, alone: &[f64]) {
    for (m, &a) in result.models.iter_mut().zip(alone) {
        m.alone_goodput_rps = Some(a);
        m.normalized_goodput = (a > 0.0).then(|| m.goodput_rps / a);
    }
    result.overall.isolation =
        Isolation::from_normalized(result.models.iter().map(|m| m.normalized_goodput));
}

/// Runs `scenario` under policy `name`, and every model alone to get isolation metrics.
pub fn simulate_isolated(scenario: &Scenario, name: &str, opts: RunOptions) -> Result<RunResult> {
    let mut r = simulate(scenario, name, opts)?;
    let alone = alone_goodputs(scenario, name)?;
    apply_isolation(&mut r, &alone);
    Ok(r)
}

/// Runs every policy of `names` with isolation runs; results in the order given.
pub fn compare(scenario: &Scenario, names: &[String]) -> Result<Vec<RunResult>> {
    for n in names {
        policy::build(n, scenario)?;
    }
    names
        .par_iter()
        .map(|n| simulate_isolated(scenario, n, RunOptions::default()))
        .collect()
}
