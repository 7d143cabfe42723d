//! Metrics, observed from request ends and batches: per model and overall,
//! over the measured window (requests arriving after warm-up and before the
//! end of arrivals). Memory is bounded: counters and a latency histogram per
//! model, whatever the number of requests.

use crate::hist::Histogram;
use crate::isolation::Isolation;
use crate::scenario::Scenario;
use crate::state::{Outcome, Request, RequestEnd};
use crate::time::{Nanos, ms, secs};
use serde::Serialize;

/// Counters of one model instance.
#[derive(Clone, Debug, Default)]
pub struct ModelCounters {
    /// Requests that arrived in the window.
    pub arrived: u64,
    /// ... completed within their SLO.
    pub good: u64,
    /// ... completed late.
    pub late: u64,
    /// ... dropped.
    pub dropped: u64,
    /// ... not done when the run ended.
    pub unfinished: u64,
    /// ... that waited for a model load.
    pub coldstarts: u64,
    /// Latency of completed requests (good and late).
    pub latency: Histogram,
    /// Batches started in the window.
    pub batches: u64,
    /// Requests in those batches.
    pub batched: u64,
    /// GPU time spent on this model within the window (preempted work included).
    pub gpu_ns: u64,
    /// Batches of it preempted (started in the window).
    pub preempted: u64,
    /// GPU time of its preempted batches within the window (lost work).
    pub wasted_ns: u64,
    /// Good requests per timeline bin (when a timeline is asked for), by arrival time.
    pub timeline: Vec<u32>,
    /// Requests that arrived per timeline bin (whatever their outcome).
    pub offered_timeline: Vec<u32>,
}

/// All counters of a run.
#[derive(Clone, Debug)]
pub struct Metrics {
    from: Nanos,
    to: Nanos,
    /// Per model instance.
    pub models: Vec<ModelCounters>,
    /// Busy time per GPU within the window: the union of its batches' runs.
    pub gpu_busy_ns: Vec<Nanos>,
    /// Batch time per GPU within the window: the integral of the number of
    /// batches running (more than the busy time when batches run at once).
    pub gpu_batch_ns: Vec<Nanos>,
    /// GPU time per GPU within the window spent on batches that were
    /// preempted (lost work; part of the busy time).
    pub gpu_wasted_ns: Vec<Nanos>,
    /// Batches preempted per GPU (started in the window).
    pub gpu_preemptions: Vec<u64>,
    /// Per GPU: batches running, and since when (busy time and batch time
    /// are counted up to there).
    busy: Vec<Busy>,
    timeline_bin: Option<Nanos>,
}

/// How many batches run on a GPU, since when.
#[derive(Clone, Copy, Debug)]
struct Busy {
    running: u32,
    since: Nanos,
}

const IDLE: Busy = Busy {
    running: 0,
    since: 0,
};

fn overlap(a: Nanos, b: Nanos, from: Nanos, to: Nanos) -> Nanos {
    b.min(to).saturating_sub(a.max(from))
}

impl Metrics {
    /// Empty counters for a scenario; `timeline_bin` also counts good requests per bin.
    pub fn new(s: &Scenario, timeline_bin: Option<Nanos>) -> Self {
        Metrics {
            from: s.warmup,
            to: s.duration,
            models: vec![ModelCounters::default(); s.models.len()],
            gpu_busy_ns: vec![0; s.cluster.gpus],
            gpu_batch_ns: vec![0; s.cluster.gpus],
            gpu_wasted_ns: vec![0; s.cluster.gpus],
            gpu_preemptions: vec![0; s.cluster.gpus],
            busy: vec![IDLE; s.cluster.gpus],
            timeline_bin,
        }
    }

    /// A batch started on `gpu` at `now`.
    pub fn started(&mut self, gpu: usize, now: Nanos) {
        self.advance(gpu, now);
        self.busy[gpu].running += 1;
    }

    /// Counts `gpu`'s busy time and batch time up to `t`.
    fn advance(&mut self, gpu: usize, t: Nanos) {
        let b = &mut self.busy[gpu];
        let t = t.max(b.since);
        if b.running > 0 {
            let d = overlap(b.since, t, self.from, self.to);
            self.gpu_busy_ns[gpu] += d;
            self.gpu_batch_ns[gpu] += d * b.running as Nanos;
        }
        b.since = t;
    }

    fn measured(&self, r: &Request) -> bool {
        r.arrival >= self.from && r.arrival < self.to
    }

    /// A request arrived.
    pub fn arrival(&mut self, r: &Request) {
        if self.measured(r) {
            self.models[r.model].arrived += 1;
        }
    }

    /// A request ended.
    pub fn end(&mut self, e: &RequestEnd) {
        if !self.measured(&e.req) {
            return;
        }
        let m = &mut self.models[e.req.model];
        match e.outcome {
            Outcome::Good => m.good += 1,
            Outcome::Late => m.late += 1,
            Outcome::Dropped => m.dropped += 1,
            Outcome::Unfinished => m.unfinished += 1,
        }
        if matches!(e.outcome, Outcome::Good | Outcome::Late) {
            m.latency.record(e.finish - e.req.arrival);
            m.coldstarts += e.coldstart as u64;
        }
        if let Some(bin) = self.timeline_bin {
            let i = ((e.req.arrival - self.from) / bin) as usize;
            let count = |t: &mut Vec<u32>| {
                if t.len() <= i {
                    t.resize(i + 1, 0);
                }
                t[i] += 1;
            };
            count(&mut m.offered_timeline);
            if e.outcome == Outcome::Good {
                count(&mut m.timeline);
            }
        }
    }

    /// A batch ran on `gpu` from `start` to `finish` (completed or
    /// preempted): the busy time. Returns its time within the window.
    fn ran(&mut self, gpu: usize, start: Nanos, finish: Nanos) -> Nanos {
        // Busy while at least one batch runs: counted as time passes.
        self.advance(gpu, finish);
        let b = &mut self.busy[gpu];
        b.running = b.running.saturating_sub(1);
        overlap(start, finish, self.from, self.to)
    }

    /// A batch of `model` that started on `gpu` at `start` was preempted at
    /// `now`: the GPU was busy, and the work is lost.
    pub fn preempted(&mut self, gpu: usize, model: usize, start: Nanos, now: Nanos) {
        let busy = self.ran(gpu, start, now);
        self.gpu_wasted_ns[gpu] += busy;
        let m = &mut self.models[model];
        m.gpu_ns += busy;
        m.wasted_ns += busy;
        if start >= self.from && start < self.to {
            m.preempted += 1;
            self.gpu_preemptions[gpu] += 1;
        }
    }

    /// A batch of `n` requests of `model` ran on `gpu` from `start` to `finish`.
    pub fn batch(&mut self, gpu: usize, model: usize, n: usize, start: Nanos, finish: Nanos) {
        let busy = self.ran(gpu, start, finish);
        let m = &mut self.models[model];
        m.gpu_ns += busy;
        if start >= self.from && start < self.to {
            m.batches += 1;
            m.batched += n as u64;
        }
    }

    /// Summaries of a run.
    pub fn summarize(&self, s: &Scenario) -> (Overall, Vec<ModelSummary>, Vec<GpuSummary>) {
        let window = secs(self.to - self.from);
        let cluster_ns = (self.to - self.from) as f64 * s.cluster.gpus as f64;
        let mut all = ModelCounters::default();
        let models = self
            .models
            .iter()
            .zip(&s.models)
            .map(|(c, spec)| {
                all.arrived += c.arrived;
                all.good += c.good;
                all.late += c.late;
                all.dropped += c.dropped;
                all.unfinished += c.unfinished;
                all.coldstarts += c.coldstarts;
                all.preempted += c.preempted;
                all.latency.merge(&c.latency);
                ModelSummary {
                    model: spec.name.clone(),
                    profile_model: spec.model.clone(),
                    slo_ms: ms(spec.slo),
                    arrived: c.arrived,
                    good: c.good,
                    late: c.late,
                    dropped: c.dropped,
                    unfinished: c.unfinished,
                    offered_rps: c.arrived as f64 / window,
                    goodput_rps: c.good as f64 / window,
                    slo_attainment: ratio(c.good, c.arrived),
                    normalized_goodput: None,
                    alone_goodput_rps: None,
                    latency_ms: LatencyMs::of(&c.latency),
                    mean_batch: ratio(c.batched, c.batches),
                    gpu_share: c.gpu_ns as f64 / cluster_ns,
                    coldstarts: c.coldstarts,
                    preempted: c.preempted,
                    wasted_share: c.wasted_ns as f64 / cluster_ns,
                }
            })
            .collect();
        let gpus: Vec<GpuSummary> = self
            .gpu_busy_ns
            .iter()
            .enumerate()
            .map(|(gpu, &b)| GpuSummary {
                gpu,
                pool: s.cluster.pools[s.cluster.pool_of(gpu)].name.clone(),
                utilization: b as f64 / (self.to - self.from) as f64,
                concurrency: ratio(self.gpu_batch_ns[gpu], b),
                max_concurrent: s.cluster.pools[s.cluster.pool_of(gpu)].max_concurrent,
                preemptions: self.gpu_preemptions[gpu],
                wasted: self.gpu_wasted_ns[gpu] as f64 / (self.to - self.from) as f64,
            })
            .collect();
        let overall = Overall {
            arrived: all.arrived,
            good: all.good,
            late: all.late,
            dropped: all.dropped,
            unfinished: all.unfinished,
            goodput_rps: all.good as f64 / window,
            slo_attainment: ratio(all.good, all.arrived),
            latency_ms: LatencyMs::of(&all.latency),
            gpu_utilization: gpus.iter().map(|g| g.utilization).sum::<f64>() / gpus.len() as f64,
            gpu_concurrency: ratio(
                self.gpu_batch_ns.iter().sum(),
                self.gpu_busy_ns.iter().sum(),
            ),
            coldstarts: all.coldstarts,
            preemptions: all.preempted,
            gpu_wasted: gpus.iter().map(|g| g.wasted).sum::<f64>() / gpus.len() as f64,
            isolation: None,
        };
        (overall, models, gpus)
    }
}

fn ratio(a: u64, b: u64) -> Option<f64> {
    (b > 0).then(|| a as f64 / b as f64)
}

/// Latency statistics of completed requests, in milliseconds (null when none completed).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct LatencyMs {
    /// Mean (exact).
    pub mean: Option<f64>,
    /// Median.
    pub p50: Option<f64>,
    /// 90th percentile.
    pub p90: Option<f64>,
    /// 99th percentile.
    pub p99: Option<f64>,
    /// 99.9th percentile.
    pub p999: Option<f64>,
}

impl LatencyMs {
    /// From a histogram (quantiles within its relative error).
    pub fn of(h: &Histogram) -> Self {
        let [p50, p90, p99, p999] = h.quantiles([0.5, 0.9, 0.99, 0.999]).map(|q| q.map(ms));
        LatencyMs {
            mean: h.mean().map(|m| m / 1e6),
            p50,
            p90,
            p99,
            p999,
        }
    }
}

/// Results of one model instance.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ModelSummary {
    /// Instance name.
    pub model: String,
    /// The profile model it runs.
    pub profile_model: String,
    /// Its SLO.
    pub slo_ms: f64,
    /// Requests arrived in the measured window.
    pub arrived: u64,
    /// ... completed within the SLO.
    pub good: u64,
    /// ... completed late.
    pub late: u64,
    /// ... dropped.
    pub dropped: u64,
    /// ... unfinished at the end.
    pub unfinished: u64,
    /// Arrived per second of the window.
    pub offered_rps: f64,
    /// Good per second of the window.
    pub goodput_rps: f64,
    /// good / arrived.
    pub slo_attainment: Option<f64>,
    /// goodput / goodput alone (with isolation runs).
    pub normalized_goodput: Option<f64>,
    /// Goodput when running alone (with isolation runs).
    pub alone_goodput_rps: Option<f64>,
    /// Latency of completed requests.
    pub latency_ms: LatencyMs,
    /// Mean number of requests per batch.
    pub mean_batch: Option<f64>,
    /// Fraction of the cluster's GPU time spent on it (preempted work included).
    pub gpu_share: f64,
    /// Completed requests that waited for a model load.
    pub coldstarts: u64,
    /// Batches of it that were preempted (their work lost; 0 unless the policy preempts).
    pub preempted: u64,
    /// Fraction of the cluster's GPU time spent on its preempted batches (part of `gpu_share`).
    pub wasted_share: f64,
}

/// Results over all models.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Overall {
    /// Requests arrived in the measured window.
    pub arrived: u64,
    /// ... completed within their SLO.
    pub good: u64,
    /// ... completed late.
    pub late: u64,
    /// ... dropped.
    pub dropped: u64,
    /// ... unfinished at the end.
    pub unfinished: u64,
    /// Good per second (sum over models).
    pub goodput_rps: f64,
    /// good / arrived.
    pub slo_attainment: Option<f64>,
    /// Latency of all completed requests.
    pub latency_ms: LatencyMs,
    /// Mean GPU utilization (busy: at least one batch running).
    pub gpu_utilization: f64,
    /// Mean number of batches running on a GPU while it is busy (1 when
    /// batches run one at a time; null when no GPU was busy).
    pub gpu_concurrency: Option<f64>,
    /// Completed requests that waited for a model load.
    pub coldstarts: u64,
    /// Batches preempted (0 unless the policy preempts).
    pub preemptions: u64,
    /// Mean fraction of GPU time spent on batches that were preempted (lost
    /// work; part of `gpu_utilization`).
    pub gpu_wasted: f64,
    /// Isolation metrics (with isolation runs).
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub isolation: Option<Isolation>,
}

/// Results of one GPU.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GpuSummary {
    /// Index.
    pub gpu: usize,
    /// Its pool (GPU type).
    pub pool: String,
    /// Busy fraction of the window (at least one batch running).
    pub utilization: f64,
    /// Mean number of batches running while busy (null if never busy).
    pub concurrency: Option<f64>,
    /// The most batches that could run at once (its pool's, or less if the policy runs fewer).
    pub max_concurrent: u32,
    /// Batches preempted on it.
    pub preemptions: u64,
    /// Fraction of the window spent on batches that were preempted (part of `utilization`).
    pub wasted: f64,
}
