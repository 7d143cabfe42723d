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
//! Two bookkeeping shortcuts, neither of which changes a decision: a detached
//! model stays filed in a GPU's set under its old key until that GPU next
//! reads its sets (`attach` then refiles it only if the key changed), and
//! each GPU counts the models with demand that it does not hold, so that
//! `load_model` answers "nothing to load" without touching its sets.

use crate::state::{GpuId, ModelId};
use crate::time::Nanos;
use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap};

/// Order in a GPU's sets: demand first; then higher priority; then most recently used.
type Key = (bool, Reverse<i64>, Reverse<u64>, ModelId);

#[derive(Clone, Debug)]
struct Priority {
    detached: bool,
    priority: i64,
    is_empty: bool,
    last_used: u64,
    /// The key it is filed under in its GPU's sets, and whether in `cached`.
    /// While detached it may be out of date; `attach` brings it up to date.
    filed: Option<(Key, bool)>,
}

#[derive(Clone, Debug)]
struct Model {
    /// Whether it can run on each GPU (its pool profiles it): it is never
    /// filed in, counted by, or loaded on a GPU where it cannot.
    runs: Vec<bool>,
    /// Loaded or loading on each GPU.
    gpus: Vec<bool>,
    loading: Vec<bool>,
    gpu_count: u32,
    outstanding_exec: i64,
    outstanding_load: i64,
    completed_exec: i64,
    completed_load: i64,
    timedout_load: i64,
    allocations: Vec<u64>,
    priorities: Vec<Priority>,
    last_used: Vec<u64>,
    stale: bool,
    has_demand: bool,
}

#[derive(Clone, Debug)]
struct Gpu {
    outstanding: i64,
    weight: f64,
    cached: BTreeSet<Key>,
    not_cached: BTreeSet<Key>,
    detached: Vec<ModelId>,
    /// Models with demand that are neither loaded nor loading here.
    candidates: usize,
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
}

fn key(m: ModelId, p: &Priority) -> Key {
    if p.is_empty {
        (true, Reverse(0), Reverse(p.last_used), m)
    } else {
        (false, Reverse(p.priority), Reverse(p.last_used), m)
    }
}

impl LoadTracker {
    /// A tracker of `models` models on `gpus` GPUs, nothing loaded; `runs`
    /// says which model can run on which GPU.
    pub fn new(
        gpus: usize,
        models: usize,
        runs: impl Fn(ModelId, GpuId) -> bool,
        params: TrackerParams,
    ) -> Self {
        let TrackerParams {
            capacity,
            gpu_outstanding,
            gpu_weight,
            expire,
            positive_only,
        } = params;
        let mut t = LoadTracker {
            capacity,
            models: Vec::with_capacity(models),
            gpus: (0..gpus)
                .map(|_| Gpu {
                    outstanding: gpu_outstanding,
                    weight: gpu_weight,
                    cached: BTreeSet::new(),
                    not_cached: BTreeSet::new(),
                    detached: Vec::new(),
                    candidates: 0,
                })
                .collect(),
            stale: Vec::new(),
            seqno: 0,
            requests: BinaryHeap::new(),
            expire,
            positive_only,
            models_with_demand: 0,
        };
        for m in 0..models {
            let last_used: Vec<u64> = (0..gpus).map(|_| t.next_seqno()).collect();
            let priorities: Vec<Priority> = last_used
                .iter()
                .map(|&l| Priority {
                    detached: false,
                    priority: 0,
                    is_empty: true,
                    last_used: l,
                    filed: None,
                })
                .collect();
            t.models.push(Model {
                runs: (0..gpus).map(|g| runs(m, g)).collect(),
                gpus: vec![false; gpus],
                loading: vec![false; gpus],
                gpu_count: 0,
                outstanding_exec: 0,
                outstanding_load: 0,
                completed_exec: 0,
                completed_load: 0,
                timedout_load: 0,
                allocations: vec![0; gpus],
                priorities,
                last_used,
                stale: false,
                has_demand: false,
            });
            for g in 0..gpus {
                if !t.models[m].runs[g] {
                    continue;
                }
                let k = key(m, &t.models[m].priorities[g]);
                t.gpus[g].not_cached.insert(k);
                t.models[m].priorities[g].filed = Some((k, false));
            }
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

    fn attach(&mut self, g: GpuId) {
        let detached = std::mem::take(&mut self.gpus[g].detached);
        for &m in &detached {
            let model = &mut self.models[m];
            let p = &mut model.priorities[g];
            debug_assert!(p.detached, "attaching a model already attached");
            p.detached = false;
            // Loading: neither loadable nor evictable; nor where it cannot run.
            let now = (!model.loading[g] && model.runs[g]).then(|| (key(m, p), model.gpus[g]));
            if now != p.filed {
                let gpu = &mut self.gpus[g];
                if let Some((k, cached)) = p.filed {
                    let removed = if cached {
                        gpu.cached.remove(&k)
                    } else {
                        gpu.not_cached.remove(&k)
                    };
                    debug_assert!(removed, "model {m} missing from gpu {g}'s sets");
                }
                if let Some((k, cached)) = now {
                    if cached {
                        gpu.cached.insert(k);
                    } else {
                        gpu.not_cached.insert(k);
                    }
                }
                p.filed = now;
            }
        }
        let mut detached = detached;
        detached.clear();
        self.gpus[g].detached = detached;
    }

    fn detach(&mut self, m: ModelId) {
        for g in 0..self.gpus.len() {
            let p = &mut self.models[m].priorities[g];
            if p.detached {
                continue;
            }
            p.detached = true;
            self.gpus[g].detached.push(m);
        }
    }

    fn invalidate(&mut self, m: ModelId) {
        if !self.models[m].stale {
            self.models[m].stale = true;
            self.stale.push(m);
        }
    }

    fn refresh(&mut self) {
        let stale = std::mem::take(&mut self.stale);
        for &m in &stale {
            self.update_priority(m);
            self.models[m].stale = false;
        }
        let mut stale = stale;
        stale.clear();
        self.stale = stale;
    }

    fn update_priority(&mut self, m: ModelId) {
        let n = self.gpus.len();
        let model = &self.models[m];
        let total_weight: f64 = (0..n)
            .filter(|&g| model.gpus[g])
            .map(|g| self.gpus[g].weight)
            .sum();
        let mut load_priority = model.outstanding_load;
        if total_weight > 0.0 && load_priority > 0 {
            for g in (0..n).filter(|&g| model.gpus[g]) {
                let required =
                    (model.outstanding_load as f64 * (self.gpus[g].weight / total_weight)) as i64;
                // 128-bit: Clockwork's 64-bit product overflows only with thousands of queued slow requests.
                let served = (self.capacity as i128 * required as i128)
                    / (self.gpus[g].outstanding.max(1) as i128);
                load_priority = load_priority
                    .saturating_sub(served.clamp(i64::MIN as i128, i64::MAX as i128) as i64);
            }
        }
        let is_empty = model.outstanding_load == 0 && model.outstanding_exec == 0;
        let model = &mut self.models[m];
        for g in 0..n {
            let p = &mut model.priorities[g];
            p.priority = if model.gpus[g] {
                model.last_used[g] as i64
            } else {
                load_priority
            };
            p.is_empty = is_empty;
            p.last_used = model.last_used[g];
        }
    }

    fn clear_load(&mut self, m: ModelId) {
        for g in 0..self.gpus.len() {
            self.gpus[g].outstanding -= self.models[m].allocations[g] as i64;
            self.models[m].allocations[g] = 0;
        }
    }

    fn distribute(&mut self, m: ModelId) {
        {
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
                if has {
                    self.models_with_demand += 1;
                } else {
                    self.models_with_demand -= 1;
                }
                for (g, gpu) in self.gpus.iter_mut().enumerate() {
                    if !model.gpus[g] && model.runs[g] {
                        if has {
                            gpu.candidates += 1;
                        } else {
                            gpu.candidates -= 1;
                        }
                    }
                }
            }
        }
        self.clear_load(m);
        if self.models[m].gpu_count == 0 {
            return;
        }
        let n = self.gpus.len();
        let total_weight: f64 = (0..n)
            .filter(|&g| self.models[m].gpus[g])
            .map(|g| self.gpus[g].weight)
            .sum();
        for g in 0..n {
            if self.models[m].gpus[g] {
                let allocation =
                    self.models[m].outstanding_exec as f64 * (self.gpus[g].weight / total_weight);
                self.models[m].allocations[g] = allocation as u64;
                let gpu = &mut self.gpus[g];
                gpu.outstanding = (gpu.outstanding as f64 + allocation) as i64;
                gpu.weight = self.capacity as f64 / gpu.outstanding as f64;
            }
        }
    }

    fn add_gpu(&mut self, m: ModelId, g: GpuId) {
        let seq = self.next_seqno();
        let model = &mut self.models[m];
        debug_assert!(
            !model.gpus[g] && !model.loading[g],
            "adding model {m} to gpu {g} twice"
        );
        model.gpus[g] = true;
        model.loading[g] = true;
        debug_assert!(model.runs[g], "model {m} cannot run on gpu {g}");
        model.gpu_count += 1;
        model.last_used[g] = seq;
        if model.has_demand {
            self.gpus[g].candidates -= 1;
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
    }

    fn remove_gpu(&mut self, m: ModelId, g: GpuId) {
        let model = &mut self.models[m];
        debug_assert!(
            model.gpus[g],
            "removing model {m} from gpu {g} that does not hold it"
        );
        model.gpus[g] = false;
        model.loading[g] = false;
        model.gpu_count -= 1;
        if model.has_demand {
            self.gpus[g].candidates += 1;
        }
        for i in 0..self.gpus.len() {
            if self.models[m].gpus[i] {
                let seq = self.next_seqno();
                self.models[m].priorities[i].last_used = seq;
            }
        }
    }

    fn check_requests(&mut self, now: Nanos) {
        while let Some(&Reverse((t, m, size))) = self.requests.peek() {
            if t >= now {
                break;
            }
            self.requests.pop();
            self.models[m].timedout_load += size;
            self.detach(m);
            self.invalidate(m);
            self.distribute(m);
        }
    }

    /// Starts processing an update of model `m`.
    fn begin(&mut self, m: ModelId, now: Nanos) {
        self.detach(m);
        self.invalidate(m);
        if self.expire {
            self.check_requests(now);
        }
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
        self.models[m].last_used[g] = seq;
        self.distribute(m);
    }

    /// Requests of `m` finished (or failed) on `g`: their execution demand is met.
    pub fn completed(&mut self, m: ModelId, exec: i64, g: GpuId, now: Nanos) {
        self.begin(m, now);
        self.models[m].completed_exec += exec;
        let seq = self.next_seqno();
        self.models[m].last_used[g] = seq;
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

    /// `m` is already on `g` when the run starts (preloaded).
    pub fn preloaded(&mut self, m: ModelId, g: GpuId) {
        self.detach(m);
        self.invalidate(m);
        self.add_gpu(m, g);
        self.add_gpu_complete(m, g);
        self.distribute(m);
    }

    /// `loadModel`: the model `g` should load next, marked as loading there;
    /// None when no model without a copy on `g` has demand.
    pub fn load_model(&mut self, g: GpuId, now: Nanos) -> Option<ModelId> {
        if self.gpus[g].candidates == 0 {
            // Every model not on `g` is without demand: the best of them would be empty.
            return None;
        }
        if self.expire {
            self.check_requests(now);
        }
        self.refresh();
        self.attach(g);
        let &(is_empty, Reverse(priority), _, m) = self.gpus[g].not_cached.first()?;
        if is_empty || (self.positive_only && priority <= 0) {
            return None;
        }
        self.detach(m);
        self.invalidate(m);
        self.add_gpu(m, g);
        self.distribute(m);
        Some(m)
    }

    /// `evictModel`: the model `g` should evict next (the last of its cached
    /// set, skipping those `busy` says have work queued there), removed from `g`.
    pub fn evict_model(&mut self, g: GpuId, busy: impl Fn(ModelId) -> bool) -> Option<ModelId> {
        self.refresh();
        self.attach(g);
        let m = self.gpus[g]
            .cached
            .iter()
            .rev()
            .map(|k| k.3)
            .find(|&m| !busy(m))?;
        self.detach(m);
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
        LoadTracker::new(gpus, models, |_, _| true, params(false, false))
    }

    /// The counts and sets agree with a recount from scratch.
    fn check(t: &mut LoadTracker) {
        for g in 0..t.gpus.len() {
            let want = t
                .models
                .iter()
                .filter(|m| m.has_demand && !m.gpus[g] && m.runs[g])
                .count();
            assert_eq!(t.gpus[g].candidates, want, "gpu {g}");
            t.refresh();
            t.attach(g);
            let cached: Vec<ModelId> = t.gpus[g].cached.iter().map(|k| k.3).collect();
            let mut want: Vec<ModelId> = (0..t.models.len())
                .filter(|&m| t.models[m].gpus[g] && !t.models[m].loading[g])
                .collect();
            want.sort_by_key(|&m| key(m, &t.models[m].priorities[g]));
            assert_eq!(cached, want);
            assert_eq!(
                t.gpus[g].not_cached.len(),
                t.models.iter().filter(|m| !m.gpus[g] && m.runs[g]).count()
            );
        }
    }

    #[test]
    fn never_loads_a_model_where_it_cannot_run() {
        // Model 1 runs on gpu 1 only.
        let mut t = LoadTracker::new(2, 2, |m, g| m == 0 || g == 1, params(false, false));
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
        let mut strict = LoadTracker::new(2, 2, |_, _| true, params(false, true));
        strict.add_request(0, 10, 40, 0, 0);
        assert_eq!(strict.load_model(0, 0), Some(0));
        strict.load_complete(0, 0, true, 0);
        strict.add_request(0, 10, 40, 0, 0);
        assert_eq!(strict.load_model(1, 0), None);
        check(&mut t);
        check(&mut strict);
    }

    #[test]
    fn expiring_load_demand_is_withdrawn() {
        let mut t = LoadTracker::new(1, 1, |_, _| true, params(true, false));
        t.add_request(0, 10, 40, 5, 0);
        t.executing(0, 0, 0, 0);
        // Still there at 5; gone after 5 (the load demand), though the exec demand stays.
        assert_eq!(t.models[0].outstanding_load, 40);
        assert_eq!(t.load_model(0, 6), Some(0));
        assert_eq!(t.models[0].outstanding_load, 0);
        assert_eq!(t.models[0].outstanding_exec, 10);
    }
}
