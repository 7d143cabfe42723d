//! Shepherd's online scheduler, Flex (Zhang et al., NSDI'23, "SHEPHERD:
//! Serving DNNs in the Wild"), on every GPU of the cluster; each GPU runs
//! one batch at a time, as in the paper.
//!
//! - Requests that cannot finish in time even if started now (on the
//!   fastest GPU that runs their model) are dropped.
//! - An idle GPU runs the largest batch that meets its deadlines among the
//!   models it can run: for each model, its pending requests in deadline
//!   order, as many as still end by the earliest deadline among them (ties:
//!   the earliest deadline, then the lower model id). A model that is not
//!   loaded there may be chosen if it can be loaded now (least recently used
//!   idle models evicted), the load time counted in its start.
//! - A busy GPU's running batch is preempted when the largest batch that
//!   meets its deadlines there now (among the models loaded there, the
//!   running batch's own requests included when it is of the same model) is
//!   at least `preempt_factor` times larger (requests); the new batch starts
//!   at once. The preempted batch's GPU time is lost and its requests go
//!   back to their queue.
//!
//! Simplified: Shepherd's periodic planner (Herd) that groups models and
//! GPUs is not modelled (every GPU may serve every model it can run, with
//! loading on demand), and preemption is checked at every decision.

use super::common::{self, Pending};
use super::counts::Counts;
use super::gpuset::GpuSet;
use super::lru::Lru;
use super::{Action, Decision, Dispatch, Notice, Policy, View, to_table};
use crate::state::{Batch, GpuId, GpuState, ModelId, Request, RequestId, Residency};
use crate::time::Nanos;
use serde::{Deserialize, Serialize};

/// `[policy.shepherd]`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ShepherdConfig {
    /// Preempt a running batch for a candidate at least this many times
    /// larger (requests; the paper's lambda, 2 or more). Above 1.
    pub preempt_factor: f64,
    /// Whether to preempt at all.
    pub preempt: bool,
    /// Largest batch to form (default: each model's largest batch size).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_batch: Option<u32>,
}

impl Default for ShepherdConfig {
    fn default() -> Self {
        ShepherdConfig {
            preempt_factor: 2.0,
            preempt: true,
            max_batch: None,
        }
    }
}

impl ShepherdConfig {
    /// Checks the values.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.preempt_factor.is_finite() && self.preempt_factor > 1.0) {
            return Err(format!(
                "preempt_factor: must be a number above 1 (a batch is preempted only for a larger one), found {}",
                self.preempt_factor
            ));
        }
        if self.max_batch == Some(0) {
            return Err("max_batch: must be at least 1".into());
        }
        Ok(())
    }
}

/// The Shepherd (Flex) policy.
///
/// So that finding a GPU's best batch does not look at every backlogged
/// model, the models with pending requests are kept bucketed by how many
/// they have (in the current decision): a batch is never larger than its
/// model's pending requests, so the search goes from the most to the
/// fewest and stops below the best batch found (the best is the same in
/// any order: larger, then earlier deadline, then lower model id). And so
/// that a decision does not look at every GPU for the idle ones, the GPUs
/// that may be idle are kept in a set (a GPU found busy leaves it; one
/// whose batch finished, was rejected or preempted joins it again).
#[derive(Debug, Default)]
pub struct Shepherd {
    cfg: ShepherdConfig,
    pending: Pending,
    lru: Lru,
    /// Models with pending requests by how many; counts from the largest
    /// batch any model can run up share a bucket (set up by `init`).
    by_left: Counts,
    scratch: Vec<ModelId>,
    /// The running model's candidate requests in a preemption check (reused).
    own: Vec<(Nanos, RequestId, bool)>,
    /// Models whose batch was preempted in this decision (listed again after it).
    preempted: Vec<ModelId>,
    /// GPUs that may be idle: every idle GPU, and some busy ones.
    maybe_idle: GpuSet,
    /// When the models loading on the GPU being filled are expected loaded.
    loads: LoadTimes,
}

/// When each model loading on one GPU is expected loaded: read from one
/// walk of the GPU's transfers, made when the first of them is asked for,
/// not one walk per model a batch search looks at.
#[derive(Debug, Default)]
struct LoadTimes {
    /// Whether `at` holds the times of the GPU being filled.
    walked: bool,
    /// Per model: when it is expected loaded (read only for models loading
    /// there, each of which is queued once: the state loads only absent
    /// models and evicts only loaded ones).
    at: Vec<Nanos>,
}

impl LoadTimes {
    /// Forgets the times read (a new GPU, or a new decision).
    fn reset(&mut self) {
        self.walked = false;
    }

    /// When `m`, loaded or loading on `g`, is expected loaded.
    fn get(&mut self, view: &View, g: &GpuState, m: ModelId) -> Nanos {
        if g.residency(m) != Residency::Loading {
            return view.now;
        }
        if !self.walked {
            self.walk(view, g);
        }
        debug_assert_eq!(self.at[m], g.expected_loaded_at(m, view.now));
        self.at[m]
    }

    #[inline(never)]
    fn walk(&mut self, view: &View, g: &GpuState) {
        self.walked = true;
        self.at.resize(view.models.len(), view.now);
        for (m, t) in g.expected_transfer_ends(view.now) {
            self.at[m] = t;
        }
    }
}

/// A batch a GPU could run: its requests, the first deadline, its model.
#[derive(Clone, Copy, Debug)]
struct Candidate {
    n: usize,
    deadline: Nanos,
    model: ModelId,
}

impl Candidate {
    /// Larger first, then the earliest deadline, then the lower model id.
    fn better(&self, other: &Option<Candidate>) -> bool {
        other.is_none_or(|o| {
            (
                self.n,
                std::cmp::Reverse(self.deadline),
                std::cmp::Reverse(self.model),
            ) > (
                o.n,
                std::cmp::Reverse(o.deadline),
                std::cmp::Reverse(o.model),
            )
        })
    }
}

impl Shepherd {
    /// A Shepherd policy.
    pub fn new(cfg: ShepherdConfig) -> Self {
        Shepherd {
            cfg,
            pending: Pending::new(common::DropMode::Hopeless),
            lru: Lru::default(),
            by_left: Counts::default(),
            scratch: Vec::new(),
            own: Vec::new(),
            preempted: Vec::new(),
            maybe_idle: GpuSet::default(),
            loads: LoadTimes::default(),
        }
    }

    fn cap(&self) -> u32 {
        self.cfg.max_batch.unwrap_or(u32::MAX)
    }

    /// Files `m` under `left` pending requests (none: out of the order).
    fn file(&mut self, m: ModelId, left: usize) {
        self.by_left.file(m, left);
    }

    /// Takes the next `n` requests of `m` (in deadline order); returns their ids.
    fn take(&mut self, view: &View, m: ModelId, n: usize, out: &mut Decision) -> Vec<RequestId> {
        let ids = self.pending.take(view, m, n, out);
        self.file(m, self.pending.left(view, m));
        ids
    }

    /// The best batch of pending requests on `gpu`, among the models that
    /// `start` gives a start time for and that have at least `min_n`
    /// pending requests.
    fn best(
        &mut self,
        view: &View,
        gpu: GpuId,
        min_n: usize,
        mut start: impl FnMut(ModelId) -> Option<Nanos>,
    ) -> Option<Candidate> {
        let mut best: Option<Candidate> = None;
        let cap = self.cap();
        // Most pending first: one walk down the buckets. Counts at or above
        // the clamp (the largest batch) share its bucket, so below the
        // threshold only a bucket under the clamp ends the walk.
        let clamp = self.by_left.clamp();
        let floor = |best: &Option<Candidate>| min_n.max(1).max(best.map_or(0, |b| b.n));
        let mut bucket = self.by_left.at_or_below(clamp);
        while let Some(k) = bucket {
            if k < floor(&best) && k < clamp {
                break;
            }
            for &m in self.by_left.bucket(k) {
                let left = self.by_left.count(m);
                if left < floor(&best) {
                    continue;
                }
                let Some(t) = start(m) else { continue };
                let Some(first) = self.pending.get(view, m, 0) else {
                    continue;
                };
                let n = common::fit(view, m, gpu, t, first.deadline, left, cap);
                let c = Candidate {
                    n,
                    deadline: first.deadline,
                    model: m,
                };
                if n > 0 && c.better(&best) {
                    best = Some(c);
                }
            }
            bucket = k.checked_sub(1).and_then(|k| self.by_left.at_or_below(k));
        }
        best
    }

    /// An idle GPU takes the largest batch that meets its deadlines.
    fn fill(&mut self, view: &View, gpu: GpuId, out: &mut Decision) {
        let g = &view.gpus[gpu];
        let now = view.now;
        let mut loads = std::mem::take(&mut self.loads);
        loads.reset();
        let loaded =
            |m: ModelId| (view.can_run(m, gpu) && g.is_resident(m)).then(|| loads.get(view, g, m));
        let here = self.best(view, gpu, 1, loaded);
        self.loads = loads;
        let elsewhere = if g.is_transferring() {
            None
        } else {
            let absent = |m: ModelId| {
                (view.can_run(m, gpu) && !g.is_resident(m)).then(|| now + view.load_ns(m, gpu))
            };
            self.best(view, gpu, here.map_or(1, |h| h.n + 1), absent)
        };
        let mut pick = here;
        if let Some(c) = elsewhere
            && c.n > here.map_or(0, |h| h.n)
            && self.lru.load(view, gpu, c.model, out)
        {
            pick = Some(c);
        }
        if let Some(c) = pick {
            self.lru.used(view, gpu, c.model);
            let ids = self.take(view, c.model, c.n, out);
            out.actions
                .push(Action::Dispatch(Dispatch::new(gpu, c.model, ids)));
        }
    }

    /// A busy GPU's running batch gives way to a batch `preempt_factor` times
    /// larger. The preempted requests are pending again from the next decision.
    fn preempt(&mut self, view: &View, gpu: GpuId, out: &mut Decision) {
        let g = &view.gpus[gpu];
        let Some(running) = g.running_batches().next() else {
            return;
        };
        let now = view.now;
        let need = self.cfg.preempt_factor * running.requests.len() as f64;
        let m = running.model;
        let left = self.pending.left(view, m);
        // The running model can preempt with its pending requests beside the
        // batch's only if all of them together are enough.
        let own_may = (running.requests.len() + left) as f64 >= need;
        if (self.by_left.bound() as f64) < need && !own_may {
            // Nor does another model have that many pending.
            return;
        }
        let loaded = |m: ModelId| (view.can_run(m, gpu) && g.is_loaded(m)).then_some(now);
        let other = self.best(view, gpu, need.ceil() as usize, |m| {
            loaded(m).filter(|_| m != running.model)
        });
        // The running model's candidate: the running batch's requests that
        // can still finish (back in its queue once preempted) and as many
        // pending ones as fill a batch beside them, in deadline order.
        // Whether it wins depends only on how many there are and the earliest
        // deadline among them; they are gathered only if it does.
        let cap = view.max_batch(m, gpu).min(self.cap()) as usize;
        let live = |r: &&Request| !common::hopeless(view, r);
        let (mut count, mut first, mut taken) = (0, None, 0);
        if own_may {
            for r in running.requests.iter().filter(live) {
                count += 1;
                first = Some(first.map_or(r.deadline, |d: Nanos| d.min(r.deadline)));
            }
            taken = (running.requests.len() + cap - count).min(left);
            if let Some(r) = self.pending.get(view, m, 0).filter(|_| taken > 0) {
                first = Some(first.map_or(r.deadline, |d| d.min(r.deadline)));
            }
            count += taken;
        }
        let n_own = first.map_or(0, |d| common::fit(view, m, gpu, now, d, count, self.cap()));
        if n_own as f64 >= need && n_own > other.map_or(0, |c| c.n) {
            let mut own = std::mem::take(&mut self.own);
            own.clear();
            own.extend(
                running
                    .requests
                    .iter()
                    .filter(live)
                    .map(|r| (r.deadline, r.id, false)),
            );
            for i in 0..taken {
                let r = self.pending.get(view, m, i).expect("a pending request");
                own.push((r.deadline, r.id, true));
            }
            own.sort_unstable();
            debug_assert_eq!((own.len(), own.first().map(|r| r.0)), (count, first));
            let from_queue = own[..n_own].iter().filter(|r| r.2).count();
            let mut ids = self.take(view, m, from_queue, out);
            ids.clear();
            ids.extend(own[..n_own].iter().map(|r| r.1));
            ids.sort_unstable();
            self.own = own;
            self.replace(view, gpu, running, m, ids, out);
        } else if let Some(c) = other
            && c.n as f64 >= need
        {
            let ids = self.take(view, c.model, c.n, out);
            self.replace(view, gpu, running, c.model, ids, out);
        }
    }

    /// Preempts `running` on `gpu` for a batch of `model` with `ids`.
    fn replace(
        &mut self,
        view: &View,
        gpu: GpuId,
        running: &Batch,
        model: ModelId,
        ids: Vec<RequestId>,
        out: &mut Decision,
    ) {
        out.actions.push(Action::Preempt {
            gpu,
            batch: running.id,
        });
        out.actions
            .push(Action::Dispatch(Dispatch::new(gpu, model, ids)));
        self.lru.used(view, gpu, model);
        self.preempted.push(running.model);
        // Idle if the new batch does not start (no notice would say so).
        self.maybe_idle.set(gpu, true);
    }
}

impl Policy for Shepherd {
    fn name(&self) -> &'static str {
        "shepherd"
    }

    fn params(&self) -> toml::Table {
        to_table(&self.cfg)
    }

    /// One batch at a time on each GPU, as in the paper.
    fn max_concurrent(&self) -> Option<u32> {
        Some(1)
    }

    fn init(&mut self, view: &View, out: &mut Decision) {
        self.lru.set_up(view);
        // No batch is larger than this: pending counts from it up are alike.
        let largest = view
            .models
            .iter()
            .flat_map(|m| m.profiles.iter().flatten())
            .map(|p| p.max_batch())
            .max()
            .unwrap_or(1)
            .min(self.cap());
        self.by_left = Counts::new(largest as usize);
        self.maybe_idle = GpuSet::with_len(view.gpus.len());
        for g in view.gpus {
            self.maybe_idle.set(g.id, true);
        }
        common::preload_all(view, out);
    }

    fn notify(&mut self, view: &View, notice: &Notice) {
        match notice {
            Notice::Arrival(r) => {
                self.pending.arrived(view, r);
                // (Between decisions, a model's pending requests are its queue.)
                self.file(r.model, view.models[r.model].queue.len());
            }
            Notice::LoadDone { gpu, model, .. } => {
                self.lru.loaded(view, *gpu, *model);
            }
            Notice::BatchDone { gpu, .. } | Notice::BatchRejected { gpu, .. } => {
                self.maybe_idle.set(*gpu, true);
            }
        }
    }

    fn decide(&mut self, view: &View, out: &mut Decision) {
        self.pending.begin(view);
        self.pending.drop_due(view, out);
        // Those dropped from, and those whose preempted requests came back.
        let mut changed = std::mem::take(&mut self.scratch);
        changed.clear();
        changed.extend_from_slice(self.pending.changed());
        for &m in &changed {
            self.file(m, self.pending.left(view, m));
        }
        self.scratch = changed;
        debug_assert!(
            view.gpus
                .iter()
                .all(|g| !g.is_idle() || self.maybe_idle.next_from(g.id) == Some(g.id)),
            "an idle GPU is not among those that may be idle"
        );
        // Once nothing is pending, no GPU takes a batch and none is
        // preempted (a running batch alone is never larger than itself).
        // The idle GPUs in id order, the busy ones met leaving the set.
        let mut from = 0;
        while !self.by_left.is_empty() {
            let Some(gpu) = self.maybe_idle.next_from(from) else {
                break;
            };
            from = gpu + 1;
            if view.gpus[gpu].is_idle() {
                self.fill(view, gpu, out);
            } else {
                self.maybe_idle.set(gpu, false);
            }
        }
        if self.cfg.preempt {
            for gpu in 0..view.gpus.len() {
                if self.by_left.is_empty() {
                    break;
                }
                if view.gpus[gpu].running() > 0 {
                    self.preempt(view, gpu, out);
                }
            }
        }
        self.pending.forget_empty(view, |_| {});
        for m in self.preempted.drain(..) {
            self.pending.list(m);
        }
    }
}
