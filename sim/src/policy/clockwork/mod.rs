//! Clockwork's controller scheduler (the INFER5 scheduler of Gujarati et al.,
//! OSDI'20, `src/clockwork/controller/infer5/`), as a policy. Rules as
//! implemented, parameters and every difference from the original are in
//! `docs/clockwork.md`. In short:
//!
//! - Each request gets an internal deadline arrival + exec_slo, exec_slo =
//!   max(SLO - buffer, schedule_ahead + buffer); one not dispatched by it times
//!   out (is dropped) then.
//! - Each model keeps one queue per allowed batch size ([`queues`]); each GPU
//!   an ordered set of strategies (deadline of the front - estimate of the
//!   batch, smaller batch, model id) over the models loaded on it ([`gpu`]).
//!   While a GPU's expected free time ([`worker`]) is within schedule_ahead of
//!   now, the best strategy's model is tried (`try_dequeue`): on success the
//!   batch is dispatched with a start window, on failure the model's
//!   strategies come back capped below that batch size.
//! - An arrival activates its model on the GPUs that hold it; a decision
//!   visits only the GPUs that may have something to do ([`visits`]).
//! - Estimates come from the profile, then from the p99 of the last 10
//!   measured durations ([`estimates`]).
//! - Weights live in a page cache ([`memory`]); the load tracker ([`tracker`])
//!   picks what each GPU loads (one transfer at a time, planned ahead like
//!   inferences) and evicts.

mod config;
mod estimates;
mod gpu;
mod memory;
mod queues;
mod tracker;
mod visits;
mod worker;

pub use config::{ClockworkConfig, Params};

use super::{Action, Decision, Dispatch, Notice, Policy, View, to_table};
use crate::profile::ModelProfile;
use crate::state::{ModelId, RequestId};
use crate::time::Nanos;
use estimates::Estimates;
use gpu::{Gpu, InFlight};
use memory::PageCache;
use queues::{Entry, ModelQueues};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use tracker::{LoadTracker, TrackerParams};
use visits::Visits;

/// One model's scheduler state (`Scheduler::Model`).
#[derive(Clone, Debug)]
struct Model {
    queues: ModelQueues,
    /// Model-wide estimates (every GPU's measurements), for its demand and SLOs.
    est: Estimates,
    /// Estimates per pool as profiled (`None` where it cannot run): a GPU's
    /// estimates start from its pool's.
    seeds: Vec<Option<Estimates>>,
    /// Estimates of the GPUs it has run on (Clockwork keeps them per model
    /// per worker GPU), in the order they were first measured; a GPU's
    /// `Instance::est` says which is its own. The others use their pool's seed.
    on_gpu: Vec<Estimates>,
    /// Profiled time of the smallest batch (`b1_exec`, fixed at start).
    b1_exec: Nanos,
}

impl Model {
    /// The estimates of a GPU of pool `pool` whose own are `own` (its `Instance::est`).
    fn est(&self, own: Option<u32>, pool: usize) -> &Estimates {
        match own {
            Some(i) => &self.on_gpu[i as usize],
            None => self.seeds[pool].as_ref().expect("it runs on this pool"),
        }
    }

    /// Its queues, with the estimates of a GPU of pool `pool` whose own are `own`.
    fn queues_on(&mut self, own: Option<u32>, pool: usize) -> (&mut ModelQueues, &Estimates) {
        let est = match own {
            Some(i) => &self.on_gpu[i as usize],
            None => self.seeds[pool].as_ref().expect("it runs on this pool"),
        };
        (&mut self.queues, est)
    }

    /// The estimates of a GPU of pool `pool` whose own are `own`, to update
    /// (they start from the pool's seed).
    fn est_mut(&mut self, own: &mut Option<u32>, pool: usize) -> &mut Estimates {
        let i = *own.get_or_insert_with(|| {
            let seed = self.seeds[pool].clone().expect("it runs on this pool");
            self.on_gpu.push(seed);
            (self.on_gpu.len() - 1) as u32
        });
        &mut self.on_gpu[i as usize]
    }
}

/// A request's timeout: at its internal deadline, unless dispatched by then.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Timeout {
    deadline: Nanos,
    id: RequestId,
    model: ModelId,
    exec_demand: i64,
    load_demand: i64,
}

/// The Clockwork policy.
#[derive(Debug)]
pub struct Clockwork {
    cfg: ClockworkConfig,
    p: Params,
    models: Vec<Model>,
    gpus: Vec<Gpu>,
    tracker: Option<LoadTracker>,
    memory: Option<PageCache>,
    timeouts: BinaryHeap<Reverse<Timeout>>,
    /// Rotates which GPU goes first among equals.
    turn: usize,
    /// The GPUs that take turns in a decision: (free at, rotated index, GPU).
    order: Vec<(Nanos, usize, usize)>,
    /// GPUs free within schedule_ahead but not as early as possible (reused).
    later: Vec<(Nanos, usize, usize)>,
    /// GPUs booked beyond schedule_ahead with strategies or models
    /// activated: (free at, GPU), in rotated order (each only files its own
    /// strategies and asks for a wake-up: the order does not matter).
    booked: Vec<(Nanos, usize)>,
    /// GPUs whose link has transfers outstanding.
    transferring: Vec<usize>,
    /// GPUs that may still load in a decision (reused).
    live: Vec<usize>,
    drops: Vec<(ModelId, RequestId)>,
    /// Which GPUs a decision visits: models' holders, arrivals, watched GPUs.
    visits: Visits,
    /// Holders above which an arrived model's holders are walked, and GPUs
    /// up to which every GPU is visited ([`visits`]).
    walk_above: usize,
    dense_up_to: usize,
}

impl Clockwork {
    /// A Clockwork policy (the configuration must be valid).
    pub fn new(cfg: ClockworkConfig) -> Self {
        let p = cfg.params();
        Clockwork {
            cfg,
            p,
            models: Vec::new(),
            gpus: Vec::new(),
            tracker: None,
            memory: None,
            timeouts: BinaryHeap::new(),
            turn: 0,
            order: Vec::new(),
            later: Vec::new(),
            booked: Vec::new(),
            transferring: Vec::new(),
            live: Vec::new(),
            drops: Vec::new(),
            visits: Visits::default(),
            walk_above: visits::FEW,
            dense_up_to: visits::DENSE,
        }
    }

    /// The same policy, visiting every GPU when there are at most `dense`,
    /// and else walking an arrived model's holders rather than watching them
    /// when it has more than `few` (for tests: the results do not depend on
    /// either; see `visits`).
    #[doc(hidden)]
    pub fn visiting(mut self, dense: usize, few: usize) -> Self {
        self.dense_up_to = dense;
        self.walk_above = few;
        self
    }

    fn setup(&mut self, view: &View) {
        let p = self.p;
        let pools = view.pools();
        self.models = view
            .models
            .iter()
            .map(|m| {
                // The allowed batch sizes over every pool that runs the model.
                let mut sizes: Vec<u32> = Vec::new();
                for prof in m.profiles.iter().flatten() {
                    sizes.extend((0..prof.batch_sizes.len()).filter_map(|i| {
                        (i == 0
                            || (prof.exec_ns[i] <= p.max_exec
                                && prof.batch_sizes[i] <= p.max_batch))
                            .then_some(prof.batch_sizes[i])
                    }));
                }
                sizes.sort_unstable();
                sizes.dedup();
                // On each pool, the estimates of the allowed sizes it can run
                // (padded to its own sizes), smallest first, up to the first it cannot.
                let seed = |prof: &ModelProfile| {
                    let exec: Vec<Nanos> = sizes
                        .iter()
                        .enumerate()
                        .map_while(|(i, &b)| {
                            prof.exec_for(b)
                                .filter(|&e| i == 0 || (e <= p.max_exec && b <= p.max_batch))
                        })
                        .collect();
                    Estimates::new(exec, prof.load_ns, p.window, p.percentile)
                };
                let fastest = m.fastest();
                Model {
                    queues: ModelQueues::new(sizes.clone()),
                    est: seed(fastest),
                    seeds: m.profiles.iter().map(|p| p.as_ref().map(seed)).collect(),
                    on_gpu: Vec::new(),
                    b1_exec: fastest.exec_ns[0],
                }
            })
            .collect();
        let n = view.models.len();
        self.gpus = view
            .gpus
            .iter()
            .map(|_| Gpu::new(n, p.lag, p.future))
            .collect();
        let mut memory = PageCache::new(
            view.gpus.iter().map(|g| (g.pool, g.capacity_bytes)),
            p.page_bytes,
            pools,
            view.models.iter().flat_map(|m| {
                m.profiles
                    .iter()
                    .map(|p| p.as_ref().map_or(0, |p| p.weights_bytes))
            }),
        );
        let gpu_pools: Vec<usize> = view.gpus.iter().map(|g| g.pool).collect();
        let mut tracker = LoadTracker::new(
            &gpu_pools,
            n,
            |m, pool| view.pool_profile(m, pool).is_some(),
            TrackerParams {
                capacity: p.capacity,
                gpu_outstanding: p.gpu_outstanding,
                gpu_weight: p.gpu_weight,
                expire: p.load_demand_expires,
                positive_only: p.positive_priority_only,
            },
        );
        self.visits = Visits::new(n, view.gpus.len(), self.walk_above, self.dense_up_to);
        // Models the scenario preloads are loaded when the scheduler starts.
        for g in view.gpus {
            for &m in &g.resident {
                if g.is_loaded(m) {
                    tracker.preloaded(m, g.id);
                    memory.take(g.id, m);
                    self.gpus[g.id].instances[m].loaded = true;
                    self.visits.loaded(m, g.id);
                }
            }
        }
        self.tracker = Some(tracker);
        self.memory = Some(memory);
    }

    /// exec_slo and weights_slo of a request with this SLO (`RequestImpl::set_slo`,
    /// with Clockwork's unsigned arithmetic: a subtraction that would wrap leaves the SLO).
    fn slos(&self, m: ModelId, slo: Nanos) -> (Nanos, Nanos) {
        let p = &self.p;
        let minus = |x: Nanos| if slo >= x { slo - x } else { slo };
        let exec_slo = minus(p.buffer).max(p.schedule_ahead + p.buffer);
        let model = &self.models[m];
        let weights = minus(model.est.weights() + model.b1_exec + p.buffer + p.schedule_ahead);
        let weights_slo = weights
            .min(p.max_loadweights_slo)
            .max(p.schedule_ahead + p.buffer);
        (exec_slo, weights_slo)
    }

    fn arrival(&mut self, view: &View, r: &crate::state::Request, now: Nanos) {
        let m = r.model;
        let (exec_slo, weights_slo) = self.slos(m, r.deadline - r.arrival);
        let size = self.models[m].est.exec(0) as i128;
        let cap = self.p.capacity as i128;
        let exec_demand = mul_div(size, cap, exec_slo.max(1) as i128);
        let load_demand = mul_div(size, cap, weights_slo.max(1) as i128);
        let deadline = r.arrival + exec_slo;
        self.models[m].queues.push(Entry {
            id: r.id,
            deadline,
            exec_demand,
            load_demand,
            gone: false,
        });
        let tracker = self.tracker.as_mut().expect("set up");
        tracker.settle();
        tracker.add_request(m, exec_demand, load_demand, now + weights_slo, now);
        self.timeouts.push(Reverse(Timeout {
            deadline,
            id: r.id,
            model: m,
            exec_demand,
            load_demand,
        }));
        // The GPUs where it is loaded consider its requests: they are
        // activated when the decision reaches them (`visits`).
        debug_assert!({
            let mut on = view.models[m].loaded_on.clone();
            on.sort_unstable();
            on == self.visits.holders(m)
        });
        self.visits.arrival(m);
    }

    /// Requests whose internal deadline has come without being dispatched time out.
    fn time_out(&mut self, view: &View, out: &mut Decision) {
        let now = view.now;
        let tracker = self.tracker.as_mut().expect("set up");
        while let Some(&Reverse(t)) = self.timeouts.peek() {
            if t.deadline > now {
                break;
            }
            self.timeouts.pop();
            if pending(view, t.model, t.id) {
                self.drops.push((t.model, t.id));
                tracker.cancelled(t.model, t.exec_demand, t.load_demand, now);
                self.models[t.model].queues.mark_gone(t.id);
            }
        }
        if self.drops.is_empty() {
            return;
        }
        self.drops.sort_unstable();
        let mut i = 0;
        while i < self.drops.len() {
            let model = self.drops[i].0;
            let j = i + self.drops[i..].iter().take_while(|d| d.0 == model).count();
            let mut requests = out.ids();
            requests.extend(self.drops[i..j].iter().map(|d| d.1));
            out.actions.push(Action::Drop { model, requests });
            i = j;
        }
        self.drops.clear();
    }

    /// New strategies for the models activated on GPU `g` of pool `pool`
    /// since it last scheduled (the start of `GPU::schedule_infer`).
    fn file_activated(&mut self, g: usize, pool: usize) {
        let gpu = &mut self.gpus[g];
        for i in 0..gpu.activated.len() {
            let m = gpu.activated[i];
            let model = &self.models[m];
            let est = model.est(gpu.instances[m].est, pool);
            gpu.set_strategies(m, model.queues.best_strategy(est, u32::MAX));
        }
        gpu.activated.clear();
    }

    /// The activation of the models that arrived since the last decision on
    /// GPU `g` (the first time it schedules in the decision): each it holds,
    /// not active there yet and with requests still queued, files its
    /// strategies. (One whose queue is empty would file none and stay inactive.)
    fn file_arrived(&mut self, g: usize, pool: usize) {
        let gpu = &mut self.gpus[g];
        let before = gpu.no_strategies();
        for &m in self.visits.arrived() {
            let model = &self.models[m];
            let inst = &mut gpu.instances[m];
            if !activated_by_arrival(inst, model) {
                continue;
            }
            inst.active = true;
            let est = model.est(inst.est, pool);
            gpu.set_strategies(m, model.queues.best_strategy(est, u32::MAX));
        }
        if before && !gpu.no_strategies() {
            self.visits.watch(g, true);
        }
    }

    /// Whether GPU `g` activates a model that arrived (see `file_arrived`).
    fn activates(&self, g: usize) -> bool {
        let gpu = &self.gpus[g];
        self.visits
            .arrived()
            .iter()
            .any(|&m| activated_by_arrival(&gpu.instances[m], &self.models[m]))
    }

    /// One pass of `GPU::schedule_infer` on GPU `g`: new strategies for activated
    /// models, then the best strategies are tried until one batch is dispatched
    /// (true) or there is nothing to try or the GPU is booked schedule_ahead ahead.
    fn schedule_infer(&mut self, g: usize, pool: usize, now: Nanos, out: &mut Decision) -> bool {
        self.file_activated(g, pool);
        let gpu = &mut self.gpus[g];
        loop {
            let Some((_, batch, m)) = gpu.first_strategy() else {
                return false;
            };
            let exec_at = gpu.exec.available(now);
            if exec_at >= now + self.p.schedule_ahead {
                return false;
            }
            // `m`'s strategy stays at the front until it is refiled there.
            let model = &mut self.models[m];
            if !gpu.instances[m].loaded || model.queues.is_empty() {
                // Nothing to take, nothing to drop: no strategy either.
                gpu.refile_first(m, None);
                continue;
            }
            let (queues, est) = model.queues_on(gpu.instances[m].est, pool);
            let mut ids = out.ids();
            let Some(taken) = queues.try_dequeue(est, exec_at, batch, &mut ids) else {
                out.give_ids(ids);
                gpu.refile_first(m, queues.best_strategy(est, batch - 1));
                continue;
            };
            if ids.is_empty() {
                out.give_ids(ids);
            } else {
                // Timed-out requests left out of the batch make it run padded
                // to a smaller size: expect, and later measure, that size.
                let size_index = queues.padded_index(ids.len());
                let est = est.exec(size_index);
                let p = &self.p;
                out.actions.push(Action::Dispatch(Dispatch {
                    gpu: g,
                    model: m,
                    requests: ids,
                    not_before: now,
                    not_after: (now + p.future + p.latest_delta).max(exec_at + p.latest_delta),
                }));
                gpu.exec.add(est, now);
                gpu.in_flight.push_back(InFlight {
                    model: m,
                    size_index,
                    exec_demand: taken.exec_demand,
                });
                self.tracker
                    .as_mut()
                    .expect("set up")
                    .executing(m, taken.load_demand, g, now);
            }
            let est = model.est(gpu.instances[m].est, pool);
            gpu.refile_first(m, model.queues.best_strategy(est, u32::MAX));
            return true;
        }
    }

    /// GPU `g`'s first turn in a decision: the models that arrived are
    /// activated, then `schedule_infer`.
    fn first_turn(&mut self, g: usize, pool: usize, now: Nanos, out: &mut Decision) -> bool {
        self.file_arrived(g, pool);
        self.schedule_infer(g, pool, now, out)
    }

    /// One call of `GPU::schedule_load` on GPU `g`: if its weight transfers are
    /// booked less than schedule_ahead ahead, load the tracker's choice, evicting
    /// as the tracker says until its pages fit. Some(true) if a load was sent,
    /// None if the link is booked or the tracker has nothing for `g`.
    fn schedule_load(
        &mut self,
        g: usize,
        pool: usize,
        now: Nanos,
        out: &mut Decision,
    ) -> Option<bool> {
        let tracker = self.tracker.as_mut().expect("set up");
        // (Asking the tracker first changes nothing: it has no model to offer
        // `g` without looking at its link.)
        if !tracker.has_candidates(g)
            || self.gpus[g].pcie.available(now) >= now + self.p.schedule_ahead
        {
            return None;
        }
        Some(self.load_on(g, pool, now, out))
    }

    /// The rest of `schedule_load`: asks the tracker for a model and loads it.
    fn load_on(&mut self, g: usize, pool: usize, now: Nanos, out: &mut Decision) -> bool {
        let tracker = self.tracker.as_mut().expect("set up");
        let memory = self.memory.as_mut().expect("set up");
        let Some(m) = tracker.load_model(g, now) else {
            return false;
        };
        let pages = memory.pages(g, m);
        if pages > memory.total(g) {
            // It can never fit here: give up at once rather than evict everything first.
            tracker.load_complete(m, g, false, now);
            return false;
        }
        let gpu = &mut self.gpus[g];
        while memory.free(g) < pages {
            let Some(v) = tracker.evict_model(g, |v| gpu.busy_with(v)) else {
                break;
            };
            gpu.unload(v);
            self.visits.unloaded(v, g);
            memory.give(g, v);
            out.actions.push(Action::Evict { gpu: g, model: v });
        }
        if memory.free(g) < pages {
            tracker.load_complete(m, g, false, now);
            return false;
        }
        memory.take(g, m);
        out.actions.push(Action::Load { gpu: g, model: m });
        if gpu.pcie.is_idle() {
            self.transferring.push(g);
        }
        let weights = self.models[m].est(gpu.instances[m].est, pool).weights();
        gpu.pcie.add(weights, now);
        true
    }

    /// When to be called again: the earliest internal deadline of a waiting
    /// request; for each GPU with strategies booked schedule_ahead ahead, when
    /// it no longer is; the same for links that could load (while any model
    /// has demand). `booked` are the GPUs that were booked at the start of
    /// the decision, with when they are free; `order` those that were not.
    fn wake(&mut self, view: &View, booked: &[(Nanos, usize)], out: &mut Decision) {
        let now = view.now;
        // Forget timeouts of requests already dispatched or dropped.
        while let Some(&Reverse(t)) = self.timeouts.peek() {
            if pending(view, t.model, t.id) {
                out.wake(t.deadline);
                break;
            }
            self.timeouts.pop();
        }
        let ahead = self.p.schedule_ahead;
        let mut wake_at = |at: Nanos| {
            if at >= now + ahead {
                out.wake(at - ahead + 1);
            }
        };
        // While a GPU's running action is overdue its expected free time
        // moves with now: waking before it completes (a notice of its own)
        // could plan nothing there, and each wake-up would ask for the next
        // a few nanoseconds later. So overdue GPUs and links are skipped.
        let plans = |gpu: &Gpu| !gpu.no_strategies() && !gpu.exec.overdue(now);
        // A GPU with nothing outstanding is free from now + future on: only
        // when future >= schedule_ahead can any GPU be booked without work.
        let idle_booked = self.p.future >= ahead;
        if idle_booked {
            for gpu in self.gpus.iter().filter(|g| plans(g)) {
                wake_at(gpu.exec.available(now));
            }
        } else {
            for &(at, g) in booked {
                if plans(&self.gpus[g]) {
                    wake_at(at);
                }
            }
            for &(_, _, g) in &self.order {
                let gpu = &self.gpus[g];
                if plans(gpu) {
                    wake_at(gpu.exec.available(now));
                }
            }
        }
        if self.tracker.as_ref().is_some_and(|t| t.any_demand()) {
            let link = |gpu: &Gpu| (!gpu.pcie.overdue(now)).then(|| gpu.pcie.available(now));
            if idle_booked {
                self.gpus.iter().filter_map(link).for_each(&mut wake_at);
            } else {
                let gpus = &self.gpus;
                self.transferring
                    .iter()
                    .filter_map(|&g| link(&gpus[g]))
                    .for_each(&mut wake_at);
            }
        }
    }
}

/// Whether an arrival of `model` activates it on a GPU where it is `inst`:
/// loaded there, not active yet, and with requests still queued.
fn activated_by_arrival(inst: &gpu::Instance, model: &Model) -> bool {
    inst.loaded && !inst.active && !model.queues.is_empty()
}

/// `a * b / c` (c > 0), truncated to 64 bits: in 64-bit arithmetic where
/// the product fits (the same quotient, without a 128-bit division).
fn mul_div(a: i128, b: i128, c: i128) -> i64 {
    if let (Ok(a), Ok(b), Ok(c)) = (i64::try_from(a), i64::try_from(b), i64::try_from(c))
        && let Some(ab) = a.checked_mul(b)
    {
        return ab / c;
    }
    (a * b / c) as i64
}

/// Whether request `id` of `model` is still waiting (not dispatched, not dropped).
fn pending(view: &View, model: ModelId, id: RequestId) -> bool {
    view.models[model]
        .queue
        .binary_search_by_key(&id, |r| r.id)
        .is_ok()
}

impl Policy for Clockwork {
    fn name(&self) -> &'static str {
        "clockwork"
    }

    fn params(&self) -> toml::Table {
        to_table(&self.cfg)
    }

    fn init(&mut self, view: &View, _out: &mut Decision) {
        self.setup(view);
    }

    /// Clockwork runs one batch at a time on each GPU by design: its
    /// predictability rests on it (`docs/clockwork.md`).
    fn max_concurrent(&self) -> Option<u32> {
        Some(1)
    }

    fn notify(&mut self, view: &View, notice: &Notice) {
        if self.tracker.is_none() {
            self.setup(view);
        }
        let now = view.now;
        match *notice {
            Notice::Arrival(r) => self.arrival(view, &r, now),
            Notice::BatchDone {
                gpu: g,
                batch,
                started,
                finished,
            } => {
                let f = self.gpus[g]
                    .in_flight
                    .pop_front()
                    .expect("a batch in flight");
                debug_assert_eq!(f.model, batch.model);
                self.gpus[g].exec.done(finished);
                let model = &mut self.models[f.model];
                model.est.measured_exec(f.size_index, finished - started);
                model
                    .est_mut(&mut self.gpus[g].instances[f.model].est, view.gpus[g].pool)
                    .measured_exec(f.size_index, finished - started);
                self.tracker
                    .as_mut()
                    .unwrap()
                    .completed(f.model, f.exec_demand, g, now);
            }
            Notice::BatchRejected { gpu: g, batch } => {
                let f = self.gpus[g]
                    .in_flight
                    .pop_front()
                    .expect("a batch in flight");
                debug_assert_eq!(f.model, batch.model);
                self.gpus[g].exec.done(now);
                self.tracker
                    .as_mut()
                    .unwrap()
                    .completed(f.model, f.exec_demand, g, now);
            }
            Notice::LoadDone {
                gpu: g,
                model: m,
                started,
                finished,
            } => {
                self.gpus[g].pcie.done(finished);
                if self.gpus[g].pcie.is_idle() {
                    self.transferring.retain(|&x| x != g);
                }
                let model = &mut self.models[m];
                model.est.measured_weights(finished - started);
                model
                    .est_mut(&mut self.gpus[g].instances[m].est, view.gpus[g].pool)
                    .measured_weights(finished - started);
                self.tracker
                    .as_mut()
                    .unwrap()
                    .load_complete(m, g, true, now);
                self.gpus[g].instances[m].loaded = true;
                self.gpus[g].activate(m);
                self.visits.loaded(m, g);
                self.visits.watch(g, true);
            }
        }
    }

    fn decide(&mut self, view: &View, out: &mut Decision) {
        if self.tracker.is_none() {
            self.setup(view);
        }
        let now = view.now;
        self.time_out(view, out);
        // Every GPU schedules independently; they take turns, one batch each,
        // as Clockwork's infer threads do, the earliest free first (ties rotate).
        // Only GPUs free within schedule_ahead with strategies (or models
        // activated) can dispatch: they take turns. A GPU booked further
        // ahead only files the strategies of its activated models; it comes
        // after every free GPU in Clockwork's order, so it does so once the
        // first turn of the free ones is over. Any other GPU has nothing to
        // do, and is not visited (`visits`).
        let n = self.gpus.len();
        let first = self.turn % n.max(1);
        self.turn = self.turn.wrapping_add(1);
        let ahead = now + self.p.schedule_ahead;
        let mut order = std::mem::take(&mut self.order);
        let mut booked = std::mem::take(&mut self.booked);
        let mut later = std::mem::take(&mut self.later);
        order.clear();
        booked.clear();
        later.clear();
        // The first turn. In rotated order; those free at the earliest
        // possible time (now + future: idle, most of them) take their turn at
        // once, the others are sorted after them.
        let mut progress = false;
        self.visits.begin(first);
        while let Some((rotated, g)) = self.visits.next(|m| self.models[m].queues.is_empty()) {
            let gpu = &self.gpus[g];
            if gpu.no_strategies() && gpu.activated.is_empty() && !self.activates(g) {
                self.visits.watch(g, false);
                continue;
            }
            let at = gpu.exec.available(now);
            if at >= ahead {
                booked.push((at, g));
            } else if at == now + self.p.future {
                progress |= self.first_turn(g, view.gpus[g].pool, now, out);
                order.push((at, rotated, g));
            } else {
                later.push((at, rotated, g));
            }
        }
        later.sort_unstable();
        for &(_, _, g) in &later {
            progress |= self.first_turn(g, view.gpus[g].pool, now, out);
        }
        order.append(&mut later);
        self.later = later;
        if !self.visits.arrived().is_empty() {
            for &(_, g) in &booked {
                self.file_arrived(g, view.gpus[g].pool);
            }
        }
        for &(_, g) in &booked {
            if !self.gpus[g].activated.is_empty() {
                self.file_activated(g, view.gpus[g].pool);
            }
        }
        self.visits.end_arrivals();
        // The other turns, while some GPU dispatches.
        while progress {
            progress = false;
            for &(_, _, g) in &order {
                progress |= self.schedule_infer(g, view.gpus[g].pool, now, out);
            }
        }
        self.order = order;
        if self.tracker.as_ref().is_some_and(|t| t.may_load()) {
            // Every GPU in turn, rotating, while some load; a GPU with nothing
            // to load or a busy link stays so for the rest of the decision
            // (other GPUs' loads give it neither).
            let mut live = std::mem::take(&mut self.live);
            live.clear();
            live.extend((first..n).chain(0..first));
            loop {
                let mut progress = false;
                let mut kept = 0;
                for i in 0..live.len() {
                    let g = live[i];
                    let load = self.schedule_load(g, view.gpus[g].pool, now, out);
                    progress |= load == Some(true);
                    if load.is_some() {
                        live[kept] = g;
                        kept += 1;
                    }
                }
                live.truncate(kept);
                if !progress {
                    break;
                }
            }
            self.live = live;
        }
        self.wake(view, &booked, out);
        self.booked = booked;
    }
}

#[cfg(test)]
mod tests {
    use super::mul_div;

    #[test]
    fn mul_div_is_the_128_bit_quotient() {
        for (a, b, c) in [
            (3_322_000i128, 100_000_000, 95_000_000),
            (0, 5, 7),
            (-7, 3, 2),
            (i64::MAX as i128, 3, 2),
            (1 << 40, 1 << 40, 3),
            (u64::MAX as i128, 100_000_000, 1),
        ] {
            assert_eq!(mul_div(a, b, c), (a * b / c) as i64, "{a} {b} {c}");
        }
    }
}
