//! Clockwork's `LoadTracker` (infer5/load_tracker.cpp), which decides which
//! model each GPU loads next and which it evicts. Run synchronously here: each
//! update is processed at once, where Clockwork's tracker thread processes
//! them a few microseconds later.
//!
//! Demand: every queued request adds `exec_demand` = b1 * capacity / exec_slo
//! and `load_demand` = b1 * capacity / weights_slo to its model. Execution
//! demand is spread over the GPUs holding the model in proportion to their
//! weights (`distributeLoad`); a GPU's weight is capacity / its outstanding
//! demand. A model's load priority is its outstanding load demand minus what
//! the GPUs holding it already serve (`updatePriority`). Per GPU, models not
//! on it are ordered for loading (`not_cached`: models with demand first, by
//! priority, then most recently used) and loaded models for eviction
//! (`cached`: the last one goes: without demand first, least recently used).
//! A model's priorities are recomputed only when its own demand changes
//! ("stale"), exactly as in Clockwork.
//!
//! Bookkeeping that changes no decision, so that an update costs time in
//! the GPUs holding the model, not in all GPUs:
//! - a model's load priority is the same on every GPU that does not hold it:
//!   the models with demand are ordered once per pool by load priority, not
//!   once per GPU. On a GPU, the models that tie on priority are ordered by
//!   when they were last used there, so `load_model` looks through the
//!   first priority among the models it does not hold. (Models without
//!   demand come after all others: they are never loaded.)
//! - a GPU's loaded models are kept in order of last use there only; the
//!   model to evict (the last of Clockwork's `cached` set) is the least
//!   recently used one without demand, else the least recently used one, so
//!   it is found from the least recently used end, and a model's demand
//!   coming and going moves nothing;
//! - each GPU counts the models with demand that it does not hold (those
//!   with demand that its pool runs, minus those it holds), so that
//!   `load_model` answers "nothing to load" without looking further; and
//!   each pool counts its GPUs by how many models with demand they hold, so
//!   that "no GPU has anything to load" is answered at once;
//! - execution demand is taken back only from the GPUs it was allocated to;
//! - once every model is on every GPU that can run it (all preloaded, the
//!   usual case when everything fits), nothing can be loaded or evicted
//!   again: `load_model` finds no candidate on any GPU, and evictions follow
//!   only loads. The GPUs' weights and the models' priorities are then never
//!   read again, so demand is no longer spread over the holders, and the
//!   counts of candidates are no longer kept (there are none); only whether
//!   a model has demand is kept: it says when to wake up.

use crate::cluster::PoolId;
use crate::policy::recency::Recency;
use crate::state::{GpuId, ModelId};
use crate::time::Nanos;
use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap};

#[derive(Clone, Debug)]
struct Model {
    /// Whether it can run on each pool (its profile there): it is never
    /// counted by, or loaded on a GPU where it cannot.
    runs: Vec<bool>,
    /// Loaded or loading on each GPU.
    gpus: Vec<bool>,
    loading: Vec<bool>,
    /// The GPUs of `gpus`, ascending.
    holders: Vec<GpuId>,
    outstanding_exec: i64,
    outstanding_load: i64,
    completed_exec: i64,
    completed_load: i64,
    timedout_load: i64,
    /// Execution demand allocated to GPUs by the last distribution (nonzero shares).
    allocations: Vec<(GpuId, u64)>,
    /// Load priority where it is not held, and whether it has no demand at
    /// all, as of its last refresh (`updatePriority`).
    load_priority: i64,
    is_empty: bool,
    /// The load priority it is filed under in its pools' demand orders.
    filed_demand: Option<i64>,
    last_used: Vec<u64>,
    stale: bool,
    has_demand: bool,
}

impl Model {
    /// Whether it is loaded (not loading) on `g`.
    fn loaded(&self, g: GpuId) -> bool {
        self.gpus[g] && !self.loading[g]
    }
}

#[derive(Clone, Debug)]
struct Gpu {
    pool: PoolId,
    outstanding: i64,
    weight: f64,
    /// The models loaded here, by last use here.
    cached: Recency,
    /// Models with demand that it holds (loaded or loading).
    held_with_demand: usize,
}

/// The load tracker's parameters (see `ClockworkConfig`).
#[derive(Clone, Copy, Debug)]
pub struct TrackerParams {
    /// Demand units of one GPU (`capacity`).
    pub capacity: i64,
    /// A GPU's initial outstanding demand.
    pub gpu_outstanding: i64,
    /// A GPU's initial weight.
    pub gpu_weight: f64,
    /// Withdraw load demand when its weights deadline passes.
    pub expire: bool,
    /// Load only models with a positive priority.
    pub positive_only: bool,
}

/// The load tracker.
#[derive(Clone, Debug)]
pub struct LoadTracker {
    capacity: i64,
    models: Vec<Model>,
    gpus: Vec<Gpu>,
    stale: Vec<ModelId>,
    seqno: u64,
    /// Load demand to withdraw at a time (only with `expire`).
    requests: BinaryHeap<Reverse<(Nanos, ModelId, i64)>>,
    expire: bool,
    positive_only: bool,
    models_with_demand: usize,
    /// Per pool: the models with demand that can run there, highest load
    /// priority first (as of their last refresh).
    by_priority: Vec<BTreeSet<(Reverse<i64>, ModelId)>>,
    /// Per pool: models with demand that can run there.
    demand_on_pool: Vec<usize>,
    /// Per pool: how many of its GPUs hold each number of models with demand.
    held_counts: Vec<Vec<usize>>,
    /// GPUs per pool.
    pool_gpus: Vec<usize>,
    /// (Model, GPU) pairs where the GPU can run the model and does not hold it.
    unheld: usize,
    /// Set when `unheld` is 0 at a `settle`: nothing is loaded or evicted
    /// any more, and demand is no longer distributed (see the module's doc).
    frozen: bool,
}

impl LoadTracker {
    /// A tracker of `models` models on GPUs of the pools `gpu_pools` (one
    /// entry per GPU), nothing loaded; `runs` says which model can run on
    /// which pool.
    pub fn new(
        gpu_pools: &[PoolId],
        models: usize,
        runs: impl Fn(ModelId, PoolId) -> bool,
        params: TrackerParams,
    ) -> Self {
        let TrackerParams {
            capacity,
            gpu_outstanding,
            gpu_weight,
            expire,
            positive_only,
        } = params;
        let gpus = gpu_pools.len();
        let pools = gpu_pools.iter().max().map_or(0, |&p| p + 1);
        let pool_gpus: Vec<usize> = (0..pools)
            .map(|p| gpu_pools.iter().filter(|&&q| q == p).count())
            .collect();
        let mut t = LoadTracker {
            capacity,
            models: Vec::with_capacity(models),
            gpus: gpu_pools
                .iter()
                .map(|&pool| Gpu {
                    pool,
                    outstanding: gpu_outstanding,
                    weight: gpu_weight,
                    cached: Recency::default(),
                    held_with_demand: 0,
                })
                .collect(),
            stale: Vec::new(),
            seqno: 0,
            requests: BinaryHeap::new(),
            expire,
            positive_only,
            models_with_demand: 0,
            by_priority: vec![BTreeSet::new(); pools],
            demand_on_pool: vec![0; pools],
            held_counts: pool_gpus
                .iter()
                .map(|&n| {
                    let mut counts = vec![0; models + 1];
                    counts[0] = n;
                    counts
                })
                .collect(),
            pool_gpus,
            unheld: 0,
            frozen: false,
        };
        for m in 0..models {
            let last_used: Vec<u64> = (0..gpus).map(|_| t.next_seqno()).collect();
            let runs: Vec<bool> = (0..pools).map(|p| runs(m, p)).collect();
            t.unheld += gpu_pools.iter().filter(|&&p| runs[p]).count();
            t.models.push(Model {
                runs,
                gpus: vec![false; gpus],
                loading: vec![false; gpus],
                holders: Vec::new(),
                outstanding_exec: 0,
                outstanding_load: 0,
                completed_exec: 0,
                completed_load: 0,
                timedout_load: 0,
                allocations: Vec::new(),
                load_priority: 0,
                is_empty: true,
                filed_demand: None,
                last_used,
                stale: false,
                has_demand: false,
            });
        }
        t
    }

    fn next_seqno(&mut self) -> u64 {
        self.seqno += 1;
        self.seqno - 1
    }

    /// Whether any model has outstanding demand.
    pub fn any_demand(&self) -> bool {
        self.models_with_demand > 0
    }

    /// Models with demand that `g` can run and does not hold.
    fn candidates(&self, g: GpuId) -> usize {
        let gpu = &self.gpus[g];
        self.demand_on_pool[gpu.pool] - gpu.held_with_demand
    }

    /// Whether some model with demand is not on `g` (else `load_model(g)` is None).
    pub fn has_candidates(&self, g: GpuId) -> bool {
        !self.frozen && self.candidates(g) > 0
    }

    /// Whether some GPU has a model with demand to load (else every
    /// `load_model` is None): in some pool, not every GPU holds every model
    /// with demand.
    pub fn may_load(&self) -> bool {
        !self.frozen
            && (0..self.pool_gpus.len())
                .any(|p| self.held_counts[p][self.demand_on_pool[p]] < self.pool_gpus[p])
    }

    /// `g` holds one model with demand more (`up`) or less.
    fn held_step(&mut self, g: GpuId, up: bool) {
        let gpu = &mut self.gpus[g];
        let counts = &mut self.held_counts[gpu.pool];
        counts[gpu.held_with_demand] -= 1;
        if up {
            gpu.held_with_demand += 1;
        } else {
            gpu.held_with_demand -= 1;
        }
        counts[gpu.held_with_demand] += 1;
    }

    fn invalidate(&mut self, m: ModelId) {
        if !self.models[m].stale {
            self.models[m].stale = true;
            self.stale.push(m);
        }
    }

    /// Recomputes the priorities of the models whose demand changed, and files them.
    fn refresh(&mut self) {
        debug_assert!(!self.frozen, "priorities read after the tracker froze");
        let stale = std::mem::take(&mut self.stale);
        for &m in &stale {
            self.update_priority(m);
            self.file(m);
            self.models[m].stale = false;
        }
        let mut stale = stale;
        stale.clear();
        self.stale = stale;
    }

    /// Files `m`'s load priority in its pools' demand orders.
    fn file(&mut self, m: ModelId) {
        let model = &mut self.models[m];
        let demand = (!model.is_empty).then_some(model.load_priority);
        if demand != model.filed_demand {
            for (pool, order) in self.by_priority.iter_mut().enumerate() {
                if model.runs[pool] {
                    if let Some(p) = model.filed_demand {
                        order.remove(&(Reverse(p), m));
                    }
                    if let Some(p) = demand {
                        order.insert((Reverse(p), m));
                    }
                }
            }
            model.filed_demand = demand;
        }
    }

    /// `m` is used on `g` now (`seq`).
    fn touch(&mut self, m: ModelId, g: GpuId, seq: u64) {
        let model = &mut self.models[m];
        let loaded = model.loaded(g);
        model.last_used[g] = seq;
        if loaded {
            self.gpus[g].cached.file(seq, m);
        }
    }

    fn update_priority(&mut self, m: ModelId) {
        let model = &self.models[m];
        let total_weight: f64 = model.holders.iter().map(|&g| self.gpus[g].weight).sum();
        let mut load_priority = model.outstanding_load;
        if total_weight > 0.0 && load_priority > 0 {
            for &g in &model.holders {
                let required =
                    (model.outstanding_load as f64 * (self.gpus[g].weight / total_weight)) as i64;
                // 128-bit: Clockwork's 64-bit product overflows only with thousands of queued slow requests.
                let served = (self.capacity as i128 * required as i128)
                    / (self.gpus[g].outstanding.max(1) as i128);
                load_priority = load_priority
                    .saturating_sub(served.clamp(i64::MIN as i128, i64::MAX as i128) as i64);
            }
        }
        let model = &mut self.models[m];
        model.is_empty = model.outstanding_load == 0 && model.outstanding_exec == 0;
        model.load_priority = load_priority;
    }

    fn clear_load(&mut self, m: ModelId) {
        for (g, a) in self.models[m].allocations.drain(..) {
            self.gpus[g].outstanding -= a as i64;
        }
    }

    /// Counts `m`'s change of "has demand" in every GPU's candidates.
    fn demand_changed(&mut self, m: ModelId, has: bool) {
        let step = |n: &mut usize| {
            if has {
                *n += 1;
            } else {
                *n -= 1;
            }
        };
        step(&mut self.models_with_demand);
        let model = &self.models[m];
        for (pool, n) in self.demand_on_pool.iter_mut().enumerate() {
            if model.runs[pool] {
                step(n);
            }
        }
        if self.frozen {
            // Every GPU holds every model it can run: none has candidates.
            return;
        }
        for i in 0..self.models[m].holders.len() {
            self.held_step(self.models[m].holders[i], has);
        }
    }

    fn distribute(&mut self, m: ModelId) {
        let model = &mut self.models[m];
        model.outstanding_exec -= model.completed_exec;
        model.completed_exec = 0;
        let delta = model.completed_load.max(model.timedout_load);
        model.outstanding_load -= delta;
        model.completed_load -= delta;
        model.timedout_load -= delta;
        let has = model.outstanding_load != 0 || model.outstanding_exec != 0;
        if has != model.has_demand {
            model.has_demand = has;
            self.demand_changed(m, has);
        }
        if self.frozen {
            return;
        }
        self.clear_load(m);
        let model = &mut self.models[m];
        if model.holders.is_empty() {
            return;
        }
        let total_weight: f64 = model.holders.iter().map(|&g| self.gpus[g].weight).sum();
        for &g in &model.holders {
            let gpu = &mut self.gpus[g];
            let allocation = model.outstanding_exec as f64 * (gpu.weight / total_weight);
            if allocation as u64 != 0 {
                model.allocations.push((g, allocation as u64));
            }
            gpu.outstanding = (gpu.outstanding as f64 + allocation) as i64;
            gpu.weight = self.capacity as f64 / gpu.outstanding as f64;
        }
    }

    fn add_gpu(&mut self, m: ModelId, g: GpuId) {
        let seq = self.next_seqno();
        let model = &mut self.models[m];
        debug_assert!(
            !model.gpus[g] && !model.loading[g],
            "adding model {m} to gpu {g} twice"
        );
        debug_assert!(
            model.runs[self.gpus[g].pool],
            "model {m} cannot run on gpu {g}"
        );
        model.gpus[g] = true;
        model.loading[g] = true;
        self.unheld -= 1;
        let at = model.holders.partition_point(|&h| h < g);
        model.holders.insert(at, g);
        model.last_used[g] = seq;
        if model.has_demand {
            self.held_step(g, true);
        }
    }

    fn add_gpu_complete(&mut self, m: ModelId, g: GpuId) {
        let seq = self.next_seqno();
        let model = &mut self.models[m];
        debug_assert!(
            model.gpus[g] && model.loading[g],
            "model {m} completed a load on gpu {g} it was not loading"
        );
        model.loading[g] = false;
        model.last_used[g] = seq;
        self.gpus[g].cached.file(seq, m);
    }

    fn remove_gpu(&mut self, m: ModelId, g: GpuId) {
        let model = &mut self.models[m];
        debug_assert!(
            model.gpus[g],
            "removing model {m} from gpu {g} that does not hold it"
        );
        let loaded = model.loaded(g);
        model.gpus[g] = false;
        model.loading[g] = false;
        if loaded {
            self.gpus[g].cached.removed(m);
        }
        let model = &mut self.models[m];
        self.unheld += 1;
        let at = model.holders.binary_search(&g).expect("a holder");
        model.holders.remove(at);
        let has_demand = model.has_demand;
        // Clockwork stamps the other holders' priorities as used now; the
        // stamps are recomputed before they are read (`updatePriority`), but
        // they take sequence numbers.
        self.seqno += model.holders.len() as u64;
        if has_demand {
            self.held_step(g, false);
        }
    }

    fn check_requests(&mut self, now: Nanos) {
        while let Some(&Reverse((t, m, size))) = self.requests.peek() {
            if t >= now {
                break;
            }
            self.requests.pop();
            self.models[m].timedout_load += size;
            self.invalidate(m);
            self.distribute(m);
        }
    }

    /// Starts processing an update of model `m`.
    fn begin(&mut self, m: ModelId, now: Nanos) {
        self.invalidate(m);
        if self.expire {
            self.check_requests(now);
        }
    }

    /// Freezes the tracker if every model is on every GPU that can run it
    /// (see the module's doc). Call it only where no load is under way (not
    /// between `load_model` and the evictions or failure that follow it: a
    /// load that fails takes its model off its GPU again), e.g. at arrivals.
    pub fn settle(&mut self) {
        self.frozen |= self.unheld == 0;
    }

    /// A request arrived: its demands, and (with `expire`) when its load demand lapses.
    pub fn add_request(&mut self, m: ModelId, exec: i64, load: i64, load_by: Nanos, now: Nanos) {
        self.begin(m, now);
        if self.expire && load > 0 {
            self.requests.push(Reverse((load_by, m, load)));
        }
        self.models[m].outstanding_exec += exec;
        self.models[m].outstanding_load += load;
        self.distribute(m);
    }

    /// Requests of `m` were sent to run on `g`: their load demand is met.
    pub fn executing(&mut self, m: ModelId, load: i64, g: GpuId, now: Nanos) {
        self.begin(m, now);
        self.models[m].completed_load += load;
        let seq = self.next_seqno();
        self.touch(m, g, seq);
        self.distribute(m);
    }

    /// Requests of `m` finished (or failed) on `g`: their execution demand is met.
    pub fn completed(&mut self, m: ModelId, exec: i64, g: GpuId, now: Nanos) {
        self.begin(m, now);
        self.models[m].completed_exec += exec;
        let seq = self.next_seqno();
        self.touch(m, g, seq);
        self.distribute(m);
    }

    /// Requests of `m` timed out: all their demand goes.
    pub fn cancelled(&mut self, m: ModelId, exec: i64, load: i64, now: Nanos) {
        self.begin(m, now);
        self.models[m].completed_exec += exec;
        self.models[m].completed_load += load;
        self.distribute(m);
    }

    /// A load of `m` on `g` finished (`ok`), or could not be done.
    pub fn load_complete(&mut self, m: ModelId, g: GpuId, ok: bool, now: Nanos) {
        self.begin(m, now);
        if ok {
            self.add_gpu_complete(m, g);
        } else {
            self.remove_gpu(m, g);
        }
        self.distribute(m);
    }

    /// `m` is already on `g` when the run starts (preloaded), before any demand.
    pub fn preloaded(&mut self, m: ModelId, g: GpuId) {
        debug_assert!(
            self.models_with_demand == 0 && self.models.iter().all(|m| m.allocations.is_empty()),
            "models are preloaded before any request"
        );
        self.invalidate(m);
        self.add_gpu(m, g);
        self.add_gpu_complete(m, g);
        // `distribute` with no demand anywhere: every holder keeps its
        // outstanding work and takes the weight capacity / outstanding, which
        // the earlier holders of `m` already have.
        let gpu = &mut self.gpus[g];
        gpu.weight = self.capacity as f64 / gpu.outstanding as f64;
    }

    /// The first model of `g`'s `not_cached` set (all models that can run
    /// on `g` and are not on it, by key) if it has demand: its priority and
    /// id. After `refresh`.
    fn first_to_load(&self, g: GpuId) -> Option<(i64, ModelId)> {
        let mut best: Option<(i64, u64, ModelId)> = None;
        for &(Reverse(priority), m) in &self.by_priority[self.gpus[g].pool] {
            if best.is_some_and(|b| priority < b.0) {
                break;
            }
            let model = &self.models[m];
            if model.gpus[g] {
                continue;
            }
            // Ties go to the most recently used here (no two share a stamp).
            if best.is_none_or(|b| model.last_used[g] > b.1) {
                best = Some((priority, model.last_used[g], m));
            }
        }
        best.map(|(p, _, m)| (p, m))
    }

    /// `loadModel`: the model `g` should load next, marked as loading there;
    /// None when no model without a copy on `g` has demand.
    pub fn load_model(&mut self, g: GpuId, now: Nanos) -> Option<ModelId> {
        if self.candidates(g) == 0 {
            // Every model not on `g` is without demand: the best of them would be empty.
            return None;
        }
        if self.expire {
            self.check_requests(now);
        }
        self.refresh();
        let (priority, m) = self.first_to_load(g)?;
        if self.positive_only && priority <= 0 {
            return None;
        }
        self.invalidate(m);
        self.add_gpu(m, g);
        self.distribute(m);
        Some(m)
    }

    /// The last of `g`'s cached set (its loaded models by Clockwork's key)
    /// that `busy` does not rule out: the least recently used one without
    /// demand, else the least recently used one. After `refresh`.
    fn to_evict(&self, g: GpuId, busy: impl Fn(ModelId) -> bool) -> Option<ModelId> {
        let mut with_demand = None;
        for m in self.gpus[g].cached.iter() {
            if busy(m) {
                continue;
            }
            if self.models[m].is_empty {
                return Some(m);
            }
            with_demand.get_or_insert(m);
        }
        with_demand
    }

    /// `evictModel`: the model `g` should evict next (the last of its cached
    /// set, skipping those `busy` says have work queued there), removed from `g`.
    pub fn evict_model(&mut self, g: GpuId, busy: impl Fn(ModelId) -> bool) -> Option<ModelId> {
        self.refresh();
        let m = self.to_evict(g, busy)?;
        self.invalidate(m);
        self.remove_gpu(m, g);
        self.distribute(m);
        Some(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: i64 = 1_000_000;

    fn params(expire: bool, positive_only: bool) -> TrackerParams {
        TrackerParams {
            capacity: 100 * MS,
            gpu_outstanding: MS,
            gpu_weight: 0.01,
            expire,
            positive_only,
        }
    }

    fn tracker(gpus: usize, models: usize) -> LoadTracker {
        LoadTracker::new(&vec![0; gpus], models, |_, _| true, params(false, false))
    }

    /// Clockwork's key of model `m` on GPU `g`, by which its sets are
    /// ordered: demand first; then higher priority (the last use where it is
    /// held, the load priority elsewhere); then most recently used.
    fn key(t: &LoadTracker, m: ModelId, g: GpuId) -> (bool, Reverse<i64>, Reverse<u64>, ModelId) {
        let model = &t.models[m];
        let last_used = model.last_used[g];
        if model.is_empty {
            (true, Reverse(0), Reverse(last_used), m)
        } else if model.gpus[g] {
            (false, Reverse(last_used as i64), Reverse(last_used), m)
        } else {
            (false, Reverse(model.load_priority), Reverse(last_used), m)
        }
    }

    /// The counts, sets and orders agree with a recount from scratch.
    fn check(t: &mut LoadTracker) {
        let any = (0..t.gpus.len()).any(|g| t.candidates(g) > 0);
        assert_eq!(t.may_load(), any);
        t.refresh();
        for g in 0..t.gpus.len() {
            let pool = t.gpus[g].pool;
            let want = t
                .models
                .iter()
                .filter(|m| m.has_demand && !m.gpus[g] && m.runs[pool])
                .count();
            assert_eq!(t.candidates(g), want, "gpu {g}");
            let cached: Vec<ModelId> = t.gpus[g].cached.iter().collect();
            let mut want: Vec<ModelId> = (0..t.models.len())
                .filter(|&m| t.models[m].loaded(g))
                .collect();
            want.sort_by_key(|&m| t.models[m].last_used[g]);
            assert_eq!(cached, want, "gpu {g}");
            // Clockwork's `cached` set: its last model.
            let last = want.iter().map(|&m| key(t, m, g)).max().map(|k| k.3);
            assert_eq!(t.to_evict(g, |_| false), last, "gpu {g}");
            // Clockwork's `not_cached` set: its first model, if it has demand.
            let first = (0..t.models.len())
                .filter(|&m| !t.models[m].gpus[g] && t.models[m].runs[pool])
                .map(|m| key(t, m, g))
                .min()
                .filter(|k| !k.0)
                .map(|k| (k.1.0, k.3));
            assert_eq!(t.first_to_load(g), first, "gpu {g}");
        }
    }

    #[test]
    fn never_loads_a_model_where_it_cannot_run() {
        // Model 1 runs on gpu 1 (of pool 1) only.
        let mut t = LoadTracker::new(&[0, 1], 2, |m, p| m == 0 || p == 1, params(false, false));
        t.add_request(1, 10, 40, 0, 0);
        assert_eq!(t.load_model(0, 0), None);
        check(&mut t);
        assert_eq!(t.load_model(1, 0), Some(1));
        t.load_complete(1, 1, true, 0);
        t.add_request(0, 10, 40, 0, 0);
        assert_eq!(t.load_model(0, 0), Some(0));
        check(&mut t);
    }

    #[test]
    fn ties_on_priority_go_to_the_most_recently_used_here() {
        // Five models with the same demand on two GPUs; models 1 and 3 were
        // loaded on gpu 1 and evicted, 3 last: gpu 1 loads 3, then 1, then
        // the others from the highest id down (Clockwork's initial stamps).
        let mut t = tracker(2, 5);
        for m in [1, 3] {
            t.add_request(m, 10, 40, 0, 0);
            assert_eq!(t.load_model(1, 0), Some(m));
            t.load_complete(m, 1, true, 0);
            t.executing(m, 40, 1, 0);
            t.completed(m, 10, 1, 0);
            assert_eq!(t.evict_model(1, |_| false), Some(m));
        }
        for m in 0..5 {
            t.add_request(m, 10, 40, 0, 0);
        }
        check(&mut t);
        let order: Vec<_> = (0..5).map(|_| t.load_model(1, 0).unwrap()).collect();
        assert_eq!(order, vec![3, 1, 4, 2, 0]);
        check(&mut t);
        assert_eq!(t.load_model(0, 0), Some(4));
        check(&mut t);
    }

    #[test]
    fn random_updates_keep_every_order_as_clockworks_keys_say() {
        // 3 GPUs in 2 pools, 6 models (model 5 runs on pool 1 only); random
        // demand, loads, runs and evictions, checked against the keys after each.
        let mut t = LoadTracker::new(&[0, 1, 0], 6, |m, p| m != 5 || p == 1, params(false, false));
        let mut x: u64 = 7;
        let mut rand = |n: u64| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 33) % n
        };
        for _ in 0..3000 {
            let m = rand(6) as usize;
            let g = rand(3) as usize;
            match rand(6) {
                0 | 1 => t.add_request(m, 10 + rand(3) as i64, 40 + rand(5) as i64, 0, 0),
                2 if t.models[m].loaded(g) => {
                    t.executing(m, 40, g, 0);
                    t.completed(m, 10, g, 0);
                }
                3 => t.cancelled(m, 10, 40, 0),
                4 => {
                    if let Some(m) = t.load_model(g, 0) {
                        t.load_complete(m, g, rand(4) > 0, 0);
                    }
                }
                _ => {
                    t.evict_model(g, |v| v == m);
                }
            }
            check(&mut t);
        }
    }

    #[test]
    fn loads_the_model_with_demand() {
        let mut t = tracker(1, 3);
        assert_eq!(t.load_model(0, 0), None);
        t.add_request(2, 10, 40, 0, 0);
        assert!(t.any_demand());
        assert_eq!(t.load_model(0, 0), Some(2));
        // Loading: not a candidate again, not evictable.
        assert_eq!(t.load_model(0, 0), None);
        assert_eq!(t.evict_model(0, |_| false), None);
        t.load_complete(2, 0, true, 0);
        check(&mut t);
        assert_eq!(t.evict_model(0, |_| false), Some(2));
        check(&mut t);
    }

    #[test]
    fn higher_load_demand_loads_first() {
        let mut t = tracker(1, 3);
        t.add_request(0, 10, 40, 0, 0);
        t.add_request(1, 10, 40, 0, 0);
        t.add_request(1, 10, 40, 0, 0);
        assert_eq!(t.load_model(0, 0), Some(1));
        assert_eq!(t.load_model(0, 0), Some(0));
    }

    #[test]
    fn evicts_models_without_demand_first_then_least_recently_used() {
        let mut t = tracker(1, 3);
        for m in 0..3 {
            t.add_request(m, 10, 40, 0, 0);
            assert_eq!(t.load_model(0, 0), Some(m));
            t.load_complete(m, 0, true, 0);
        }
        // All three have demand; model 0 was used least recently.
        assert_eq!(t.evict_model(0, |_| false), Some(0));
        // Model 2 runs and completes its request: it has no demand left.
        t.executing(2, 40, 0, 0);
        t.completed(2, 10, 0, 0);
        assert_eq!(t.evict_model(0, |_| false), Some(2));
        // A busy model is skipped.
        assert_eq!(t.evict_model(0, |m| m == 1), None);
        check(&mut t);
    }

    #[test]
    fn served_demand_lowers_the_load_priority() {
        let mut t = tracker(2, 2);
        // Model 0 is on gpu 0 with a lot of demand; model 1 is nowhere with less.
        t.add_request(0, 10, 40, 0, 0);
        assert_eq!(t.load_model(0, 0), Some(0));
        t.load_complete(0, 0, true, 0);
        for _ in 0..3 {
            t.add_request(0, 10, 40, 0, 0);
        }
        t.add_request(1, 10, 20, 0, 0);
        // On gpu 1, model 0's load demand (160) is mostly served by gpu 0, model 1's (20) is not.
        assert_eq!(t.load_model(1, 0), Some(1));
        // Clockwork still replicates model 0 next (its priority check never fires) ...
        assert_eq!(t.load_model(1, 0), Some(0));
        // ... unless asked to apply the check.
        let mut strict = LoadTracker::new(&[0, 0], 2, |_, _| true, params(false, true));
        strict.add_request(0, 10, 40, 0, 0);
        assert_eq!(strict.load_model(0, 0), Some(0));
        strict.load_complete(0, 0, true, 0);
        strict.add_request(0, 10, 40, 0, 0);
        assert_eq!(strict.load_model(1, 0), None);
        check(&mut t);
        check(&mut strict);
    }

    #[test]
    fn freezes_only_once_every_model_is_everywhere_it_runs() {
        // Model 1 runs on gpu 1 (of pool 1) only.
        let mut t = LoadTracker::new(&[0, 1], 2, |m, p| m == 0 || p == 1, params(false, false));
        t.preloaded(0, 0);
        t.preloaded(1, 1);
        t.settle();
        assert!(!t.frozen);
        t.add_request(0, 10, 40, 0, 0);
        assert!(t.may_load() && t.has_candidates(1));
        assert_eq!(t.load_model(1, 0), Some(0));
        t.load_complete(0, 1, true, 0);
        check(&mut t);
        t.settle();
        assert!(t.frozen);
        t.add_request(1, 10, 40, 0, 0);
        t.completed(0, 10, 0, 0);
        assert!(t.any_demand() && !t.may_load());
        assert!(!t.has_candidates(0) && !t.has_candidates(1));
        assert_eq!(t.load_model(0, 0), None);
    }

    #[test]
    fn expiring_load_demand_is_withdrawn() {
        let mut t = LoadTracker::new(&[0], 1, |_, _| true, params(true, false));
        t.add_request(0, 10, 40, 5, 0);
        t.executing(0, 0, 0, 0);
        // Still there at 5; gone after 5 (the load demand), though the exec demand stays.
        assert_eq!(t.models[0].outstanding_load, 40);
        assert_eq!(t.load_model(0, 6), Some(0));
        assert_eq!(t.models[0].outstanding_load, 0);
        assert_eq!(t.models[0].outstanding_exec, 10);
    }
}
