//! FIFO: first-come first-served across all models, the naive baseline. A
//! free GPU takes the oldest pending request it can run (work-conserving over
//! every GPU whose pool profiles the model) and batches it with the next
//! pending requests of the same model, up to the model's largest batch size
//! there. By default nothing is ever dropped; `drop = "expired"` drops
//! requests at or past their deadline when the scheduler reaches them
//! (Triton's queue timeout, the SLO as timeout), `drop = "hopeless"` those
//! that could not finish in time even if started now, and `max_queue` caps
//! each model's queue (an arrival that finds it full is dropped, as Triton's
//! `max_queue_size` rejects it). On GPUs that run several batches at once
//! (`max_concurrent = k`), a GPU takes work while fewer than k batches run or
//! wait there: the Triton-like baseline with k instances per model. Models
//! are preloaded everywhere when they fit, otherwise loaded on demand,
//! evicting the least recently used idle model.
//!
//! So that a decision costs time in the GPUs it uses, not in all of them,
//! the policy mirrors what it needs of the state: each GPU's free slots
//! (its own dispatches take them, finished batches give them back) with a
//! bit set of the GPUs that have some, and each GPU's loaded models by last
//! use ([`Lru`], as EDF, fair queuing and Shepherd keep them).

use super::common::{self, DropMode};
use super::gpuset::GpuSet;
use super::lru::Lru;
use super::{Action, Decision, Dispatch, Notice, Policy, View, to_table};
use crate::state::{GpuId, ModelId, RequestId};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// `[policy.fifo]`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FifoConfig {
    /// Largest batch to form (default: each model's largest batch size).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_batch: Option<u32>,
    /// Which pending requests to drop: `never` (default), `expired`, `hopeless`.
    pub drop: DropMode,
    /// Most requests a model's queue holds; an arrival that finds it full is
    /// dropped (default: no limit).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_queue: Option<u32>,
}

impl FifoConfig {
    /// Checks the values.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_batch == Some(0) {
            return Err("max_batch: must be at least 1".into());
        }
        if self.max_queue == Some(0) {
            return Err("max_queue: must be at least 1 (a queue of 0 drops everything)".into());
        }
        Ok(())
    }
}

/// The FIFO policy.
#[derive(Debug, Default)]
pub struct Fifo {
    cfg: FifoConfig,
    /// Per pool: the pending requests of the models that can run there, in
    /// arrival order (entries already served are skipped lazily).
    order: Vec<VecDeque<(RequestId, ModelId)>>,
    /// Requests taken from the front of a model's queue in this decision
    /// (a few models at most: one per idle GPU).
    taken: Vec<(ModelId, usize)>,
    /// Set up from the first view.
    ready: bool,
    /// Per GPU: batches it can still take (as the state will have it once
    /// this decision's actions are applied).
    slots: Vec<usize>,
    /// GPUs with free slots, and how many per pool.
    free: GpuSet,
    free_count: usize,
    free_in_pool: Vec<usize>,
    /// Decisions so far: a GPU stamped with the current one took a batch in
    /// it (`took`), or takes nothing more in it (`blocked`).
    decision: u64,
    took: Vec<u64>,
    blocked: Vec<u64>,
    /// Per pool: GPUs with free slots blocked in this decision.
    blocked_in_pool: Vec<usize>,
    /// Per GPU: its loaded models by last use.
    lru: Lru,
    /// With `max_queue`: models that had arrivals since the last decision.
    arrived: Vec<ModelId>,
    /// With `max_queue`: models whose queue is cut in this decision, and
    /// where (requests from there on are dropped).
    cut: Vec<(ModelId, usize)>,
}

impl Fifo {
    /// A FIFO policy.
    pub fn new(cfg: FifoConfig) -> Self {
        Fifo {
            cfg,
            ..Default::default()
        }
    }

    /// Mirrors the state of `view` (once, before anything happens).
    #[inline]
    fn set_up(&mut self, view: &View) {
        if !self.ready {
            self.mirror(view);
        }
    }

    #[cold]
    fn mirror(&mut self, view: &View) {
        self.ready = true;
        self.order = vec![VecDeque::new(); view.pools()];
        self.free = GpuSet::with_len(view.gpus.len());
        self.free_in_pool = vec![0; view.pools()];
        self.blocked_in_pool = vec![0; view.pools()];
        for g in view.gpus {
            self.slots.push(g.free_slots());
            if g.free_slots() > 0 {
                self.free.set(g.id, true);
                self.free_count += 1;
                self.free_in_pool[g.pool] += 1;
            }
        }
        self.lru.set_up(view);
        self.took = vec![0; view.gpus.len()];
        self.blocked = vec![0; view.gpus.len()];
    }

    /// `gpu` gains (`up`) or loses a free slot.
    fn slot(&mut self, view: &View, gpu: GpuId, up: bool) {
        let s = &mut self.slots[gpu];
        let was = *s > 0;
        if up {
            *s += 1;
        } else {
            *s -= 1;
        }
        let now = *s > 0;
        if was != now {
            let pool = view.gpus[gpu].pool;
            self.free.set(gpu, now);
            if now {
                self.free_count += 1;
                self.free_in_pool[pool] += 1;
            } else {
                self.free_count -= 1;
                self.free_in_pool[pool] -= 1;
            }
        }
    }

    /// Whether `gpu` can take a batch in this decision.
    fn open(&self, gpu: GpuId) -> bool {
        self.slots[gpu] > 0 && self.blocked[gpu] != self.decision
    }

    /// `gpu` takes nothing more in this decision.
    fn block(&mut self, view: &View, gpu: GpuId) {
        if self.open(gpu) {
            self.blocked_in_pool[view.gpus[gpu].pool] += 1;
        }
        self.blocked[gpu] = self.decision;
    }

    fn taken_from(&self, model: ModelId) -> usize {
        self.taken.iter().find(|t| t.0 == model).map_or(0, |t| t.1)
    }

    fn take(&mut self, model: ModelId, n: usize) {
        match self.taken.iter_mut().find(|t| t.0 == model) {
            Some(t) => t.1 += n,
            None => self.taken.push((model, n)),
        }
    }

    /// How many of `model`'s queued requests are pending for this decision
    /// (those past `max_queue` are dropped in it).
    fn avail(&self, view: &View, model: ModelId) -> usize {
        let len = view.models[model].queue.len();
        self.cut
            .iter()
            .find(|c| c.0 == model)
            .map_or(len, |c| c.1.min(len))
    }

    /// `max_queue`: drops the newest requests of every model whose queue
    /// grew past it since the last decision (the arrivals that found it full).
    fn cut_queues(&mut self, view: &View, out: &mut Decision) {
        self.cut.clear();
        let Some(max) = self.cfg.max_queue else {
            return;
        };
        self.arrived.sort_unstable();
        self.arrived.dedup();
        for &m in &self.arrived {
            let q = &view.models[m].queue;
            let max = max as usize;
            if q.len() > max {
                let requests = q.range(max..).map(|r| r.id).collect();
                out.actions.push(Action::Drop { model: m, requests });
                self.cut.push((m, max));
            }
        }
        self.arrived.clear();
    }

    /// Drops the requests at the front of `model`'s pending ones that the
    /// drop mode drops; whether there were any.
    fn drop_front(&mut self, view: &View, model: ModelId, out: &mut Decision) -> bool {
        let start = self.taken_from(model);
        let (q, end) = (&view.models[model].queue, self.avail(view, model));
        let requests: Vec<RequestId> = q
            .range(start..end)
            .take_while(|r| self.cfg.drop.drops(view, r))
            .map(|r| r.id)
            .collect();
        if requests.is_empty() {
            return false;
        }
        self.take(model, requests.len());
        out.actions.push(Action::Drop { model, requests });
        true
    }

    /// The oldest pending request that a free GPU can run: pops served
    /// entries off the front of every pool with a free GPU, then takes the
    /// oldest front among them.
    fn oldest(&mut self, view: &View) -> Option<ModelId> {
        let mut best: Option<(RequestId, ModelId)> = None;
        for pool in 0..self.order.len() {
            if self.free_in_pool[pool] == self.blocked_in_pool[pool] {
                continue;
            }
            // Skip entries already served; the front is then the oldest pending request.
            while let Some(&(id, m)) = self.order[pool].front() {
                let next = self.taken_from(m);
                match view.models[m].queue.get(next) {
                    Some(front) if front.id <= id && next < self.avail(view, m) => break,
                    _ => {
                        self.order[pool].pop_front();
                    }
                }
            }
            if let Some(&e) = self.order[pool].front()
                && best.is_none_or(|b| e.0 < b.0)
            {
                best = Some(e);
            }
        }
        best.map(|b| b.1)
    }

    /// The GPU that takes `model`: the first open one that can run it and
    /// holds it, else the first open one that can run it.
    fn gpu_for(&self, view: &View, model: ModelId) -> Option<GpuId> {
        let mut first = None;
        for g in self.free.iter() {
            if !self.open(g) || !view.can_run(model, g) {
                continue;
            }
            if view.gpus[g].is_resident(model) {
                return Some(g);
            }
            first.get_or_insert(g);
        }
        first
    }
}

impl Policy for Fifo {
    fn name(&self) -> &'static str {
        "fifo"
    }

    fn params(&self) -> toml::Table {
        to_table(&self.cfg)
    }

    fn init(&mut self, view: &View, out: &mut Decision) {
        self.set_up(view);
        common::preload_all(view, out);
    }

    fn notify(&mut self, view: &View, notice: &Notice) {
        self.set_up(view);
        match *notice {
            Notice::Arrival(r) => {
                for (pool, q) in self.order.iter_mut().enumerate() {
                    if view.pool_profile(r.model, pool).is_some() {
                        q.push_back((r.id, r.model));
                    }
                }
                if self.cfg.max_queue.is_some() {
                    self.arrived.push(r.model);
                }
            }
            Notice::BatchDone { gpu, .. } | Notice::BatchRejected { gpu, .. } => {
                self.slot(view, gpu, true);
            }
            Notice::LoadDone { gpu, model, .. } => self.lru.loaded(view, gpu, model),
        }
    }

    fn decide(&mut self, view: &View, out: &mut Decision) {
        self.set_up(view);
        self.cut_queues(view, out);
        if self.free_count == 0 || self.order.iter().all(|q| q.is_empty()) {
            return;
        }
        self.taken.clear();
        self.decision += 1;
        self.blocked_in_pool.iter_mut().for_each(|b| *b = 0);
        while let Some(model) = self.oldest(view) {
            if self.cfg.drop != DropMode::Never && self.drop_front(view, model, out) {
                continue;
            }
            let Some(gpu) = self.gpu_for(view, model) else {
                break;
            };
            let g = &view.gpus[gpu];
            let loads = !g.is_resident(model);
            if loads {
                if self.took[gpu] == self.decision {
                    // It took a batch in this decision already: memory and
                    // victims are planned on a quiet GPU only.
                    self.block(view, gpu);
                    continue;
                }
                // Load on demand, evicting least recently used models with nothing queued.
                if !self.lru.load(view, gpu, model, out) {
                    // Everything here is busy or loading; try again when something finishes.
                    self.block(view, gpu);
                    continue;
                }
            } else {
                // Used now: refiled as such when this GPU next needs room.
                self.lru.used(view, gpu, model);
            }
            let m = &view.models[model];
            let max = self
                .cfg
                .max_batch
                .unwrap_or(u32::MAX)
                .min(view.max_batch(model, gpu))
                .max(1) as usize;
            let start = self.taken_from(model);
            let end = self.avail(view, model);
            let mut ids = out.ids();
            // The next `max` pending requests (the front one is not dropped:
            // see `drop_front`), dropping those in between that the drop mode drops.
            let (mut n, mut dropped) = (0, Vec::new());
            for r in m.queue.range(start..end) {
                if ids.len() == max {
                    break;
                }
                n += 1;
                if self.cfg.drop.drops(view, r) {
                    dropped.push(r.id);
                } else {
                    ids.push(r.id);
                }
            }
            if !dropped.is_empty() {
                out.actions.push(Action::Drop {
                    model,
                    requests: dropped,
                });
            }
            self.take(model, n);
            self.took[gpu] = self.decision;
            self.slot(view, gpu, false);
            // A GPU that loads takes nothing else in this decision.
            if loads {
                self.block(view, gpu);
            }
            out.actions
                .push(Action::Dispatch(Dispatch::new(gpu, model, ids)));
        }
    }
}
