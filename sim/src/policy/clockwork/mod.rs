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
mod worker;

pub use config::{ClockworkConfig, Params};

use super::{Action, Decision, Dispatch, Notice, Policy, View, to_table};
use crate::state::{ModelId, RequestId};
use crate::time::Nanos;
use estimates::Estimates;
use gpu::{Gpu, InFlight};
use memory::PageCache;
use queues::{Entry, ModelQueues};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use tracker::LoadTracker;

/// One model's scheduler state (`Scheduler::Model`).
#[derive(Clone, Debug)]
struct Model {
    queues: ModelQueues,
    est: Estimates,
    /// Profiled time of the smallest batch (`b1_exec`, fixed at start).
    b1_exec: Nanos,
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
    order: Vec<(Nanos, usize, usize)>,
    drops: Vec<(ModelId, RequestId)>,
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
            drops: Vec::new(),
        }
    }

    fn setup(&mut self, view: &View) {
        let p = self.p;
        self.models = view
            .models
            .iter()
            .map(|m| {
                let prof = &m.profile;
                let allowed: Vec<usize> = (0..prof.batch_sizes.len())
                    .filter(|&i| {
                        i == 0
                            || (prof.exec_ns[i] <= p.max_exec && prof.batch_sizes[i] <= p.max_batch)
                    })
                    .collect();
                Model {
                    queues: ModelQueues::new(
                        allowed.iter().map(|&i| prof.batch_sizes[i]).collect(),
                    ),
                    est: Estimates::new(
                        allowed.iter().map(|&i| prof.exec_ns[i]).collect(),
                        prof.load_ns,
                        p.window,
                        p.percentile,
                    ),
                    b1_exec: prof.exec_ns[0],
                }
            })
            .collect();
        let n = view.models.len();
        self.gpus = view
            .gpus
            .iter()
            .map(|_| Gpu::new(n, p.lag, p.future))
            .collect();
        let capacity = view.gpus.first().map_or(0, |g| g.capacity_bytes);
        let mut memory = PageCache::new(
            view.gpus.len(),
            capacity,
            p.page_bytes,
            view.models.iter().map(|m| m.profile.weights_bytes),
        );
        let mut tracker = LoadTracker::new(
            view.gpus.len(),
            n,
            p.capacity,
            p.gpu_outstanding,
            p.gpu_weight,
            p.load_demand_expires,
            p.positive_priority_only,
        );
        // Models the scenario preloads are loaded when the scheduler starts.
        for g in view.gpus {
            for &m in &g.resident {
                if g.is_loaded(m) {
                    tracker.preloaded(m, g.id);
                    memory.take(g.id, m);
                    self.gpus[g.id].instances[m].loaded = true;
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

    fn arrival(&mut self, r: &crate::state::Request, now: Nanos) {
        let m = r.model;
        let (exec_slo, weights_slo) = self.slos(m, r.deadline - r.arrival);
        let size = self.models[m].est.exec(0) as i128;
        let cap = self.p.capacity as i128;
        let exec_demand = (size * cap / exec_slo.max(1) as i128) as i64;
        let load_demand = (size * cap / weights_slo.max(1) as i128) as i64;
        let deadline = r.arrival + exec_slo;
        self.models[m].queues.push(Entry {
            id: r.id,
            deadline,
            exec_demand,
            load_demand,
            gone: false,
        });
        self.tracker.as_mut().expect("set up").add_request(
            m,
            exec_demand,
            load_demand,
            now + weights_slo,
            now,
        );
        self.timeouts.push(Reverse(Timeout {
            deadline,
            id: r.id,
            model: m,
            exec_demand,
            load_demand,
        }));
        for g in &mut self.gpus {
            if g.instances[m].loaded {
                g.activate(m);
            }
        }
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
            out.actions.push(Action::Drop {
                model,
                requests: self.drops[i..j].iter().map(|d| d.1).collect(),
            });
            i = j;
        }
        self.drops.clear();
    }

    /// One pass of `GPU::schedule_infer` on GPU `g`: new strategies for activated
    /// models, then the best strategies are tried until one batch is dispatched
    /// (true) or there is nothing to try or the GPU is booked schedule_ahead ahead.
    fn schedule_infer(&mut self, g: usize, now: Nanos, out: &mut Decision) -> bool {
        let gpu = &mut self.gpus[g];
        for i in 0..gpu.activated.len() {
            let m = gpu.activated[i];
            gpu.set_strategies(
                m,
                self.models[m]
                    .queues
                    .best_strategy(&self.models[m].est, u32::MAX),
            );
        }
        gpu.activated.clear();
        loop {
            let Some(&(_, batch, m)) = gpu.strategies.first() else {
                return false;
            };
            let exec_at = gpu.exec.available(now);
            if exec_at >= now + self.p.schedule_ahead {
                return false;
            }
            gpu.remove_strategies(m);
            if !gpu.instances[m].loaded {
                gpu.instances[m].active = false;
                continue;
            }
            let model = &mut self.models[m];
            let Some(taken) = model.queues.try_dequeue(&model.est, exec_at, batch) else {
                gpu.set_strategies(m, model.queues.best_strategy(&model.est, batch - 1));
                continue;
            };
            if !taken.ids.is_empty() {
                // Timed-out requests left out of the batch make it run padded
                // to a smaller size: expect, and later measure, that size.
                let size_index = model.queues.padded_index(taken.ids.len());
                let est = model.est.exec(size_index);
                let p = &self.p;
                out.actions.push(Action::Dispatch(Dispatch {
                    gpu: g,
                    model: m,
                    requests: taken.ids,
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
            gpu.set_strategies(m, model.queues.best_strategy(&model.est, u32::MAX));
            return true;
        }
    }

    /// One call of `GPU::schedule_load` on GPU `g`: if its weight transfers are
    /// booked less than schedule_ahead ahead, load the tracker's choice, evicting
    /// as the tracker says until its pages fit. True if a load was sent.
    fn schedule_load(&mut self, g: usize, now: Nanos, out: &mut Decision) -> bool {
        if self.gpus[g].pcie.available(now) >= now + self.p.schedule_ahead {
            return false;
        }
        let tracker = self.tracker.as_mut().expect("set up");
        let memory = self.memory.as_mut().expect("set up");
        let Some(m) = tracker.load_model(g, now) else {
            return false;
        };
        let pages = memory.pages(m);
        if pages > memory.total() {
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
            memory.give(g, v);
            out.actions.push(Action::Evict { gpu: g, model: v });
        }
        if memory.free(g) < pages {
            tracker.load_complete(m, g, false, now);
            return false;
        }
        memory.take(g, m);
        out.actions.push(Action::Load { gpu: g, model: m });
        gpu.pcie.add(self.models[m].est.weights(), now);
        true
    }

    fn wake(&mut self, view: &View, out: &mut Decision) {
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
        let demand = self.tracker.as_ref().is_some_and(|t| t.any_demand());
        // While a GPU's running action is overdue its expected free time
        // moves with now: waking before it completes (a notice of its own)
        // could plan nothing there, and each wake-up would ask for the next
        // a few nanoseconds later.
        for gpu in &self.gpus {
            if !gpu.strategies.is_empty() && !gpu.exec.overdue(now) {
                let at = gpu.exec.available(now);
                if at >= now + ahead {
                    out.wake(at - ahead + 1);
                }
            }
            if demand && !gpu.pcie.overdue(now) {
                let at = gpu.pcie.available(now);
                if at >= now + ahead {
                    out.wake(at - ahead + 1);
                }
            }
        }
    }
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

    fn notify(&mut self, view: &View, notice: &Notice) {
        if self.tracker.is_none() {
            self.setup(view);
        }
        let now = view.now;
        match *notice {
            Notice::Arrival(r) => self.arrival(&r, now),
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
                self.models[f.model]
                    .est
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
                self.models[m].est.measured_weights(finished - started);
                self.tracker
                    .as_mut()
                    .unwrap()
                    .load_complete(m, g, true, now);
                self.gpus[g].instances[m].loaded = true;
                self.gpus[g].activate(m);
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
        // as Clockwork's infer threads do, the earliest free first.
        let n = self.gpus.len();
        let first = self.turn % n.max(1);
        self.turn = self.turn.wrapping_add(1);
        let mut order = std::mem::take(&mut self.order);
        order.clear();
        order.extend((0..n).map(|g| {
            let rotated = if g >= first { g - first } else { g + n - first };
            (self.gpus[g].exec.available(now), rotated, g)
        }));
        order.sort_unstable();
        loop {
            let mut progress = false;
            for &(_, _, g) in &order {
                progress |= self.schedule_infer(g, now, out);
            }
            if !progress {
                break;
            }
        }
        self.order = order;
        loop {
            let mut progress = false;
            for i in 0..n {
                progress |= self.schedule_load((first + i) % n, now, out);
            }
            if !progress {
                break;
            }
        }
        self.wake(view, out);
    }
}
