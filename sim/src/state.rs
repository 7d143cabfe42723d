//! The serving state that policies see and that both drivers (the simulator's
//! engine and the real-time replay) mutate in the same way: per-model queues
//! of pending requests, per-GPU resident models, memory, queued batches and
//! transfers. Every action is validated here with `assert!`: a GPU never runs
//! more batches at once than its pool allows (one, unless `max_concurrent`
//! says more), a batch never mixes models, a request ends exactly once (a
//! preempted batch's requests go back to their queue and end later), a
//! model runs only where it is loaded, memory is never overcommitted.

use crate::cluster::PoolId;
use crate::interference::{Fluid, Interference, Runner};
use crate::policy::{Action, Dispatch, View};
use crate::profile::ModelProfile;
use crate::scenario::Scenario;
use crate::time::Nanos;
use std::collections::VecDeque;
use std::sync::Arc;

/// Index of a model instance in the scenario.
pub type ModelId = usize;
/// Index of a GPU.
pub type GpuId = usize;
/// A request's id: unique, increasing in arrival order.
pub type RequestId = u64;
/// A batch's id: unique, increasing in dispatch order.
pub type BatchId = u64;

/// A request waiting to be served.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Request {
    /// Unique id.
    pub id: RequestId,
    /// Model instance.
    pub model: ModelId,
    /// Arrival time.
    pub arrival: Nanos,
    /// arrival + SLO: completing later is late.
    pub deadline: Nanos,
}

/// How a request ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Outcome {
    /// Completed within its SLO.
    Good,
    /// Completed after its deadline.
    Late,
    /// Never run: dropped by the policy (or its batch was rejected).
    Dropped,
    /// Still queued or running when the run ended.
    Unfinished,
}

impl Outcome {
    /// The name used in output files.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Good => "good",
            Outcome::Late => "late",
            Outcome::Dropped => "dropped",
            Outcome::Unfinished => "unfinished",
        }
    }
}

/// The end of one request, as recorded.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RequestEnd {
    /// The request.
    pub req: Request,
    /// How it ended.
    pub outcome: Outcome,
    /// When its batch started, if it ran.
    pub start: Option<Nanos>,
    /// When it ended (completion, drop, or the end of the run).
    pub finish: Nanos,
    /// The GPU it ran on.
    pub gpu: Option<GpuId>,
    /// The (padded) batch size it ran in; 0 if it did not run.
    pub batch_size: u32,
    /// Whether it waited for its model to be loaded on that GPU.
    pub coldstart: bool,
}

/// One model instance: static description and its queue.
#[derive(Clone, Debug)]
pub struct ModelState {
    /// Index.
    pub id: ModelId,
    /// Instance name.
    pub name: String,
    /// Its profile model as a kind (see `ModelSpec::kind`).
    pub kind: u32,
    /// Its profile on each pool (`None` where it cannot run); read it through
    /// [`View::profile`] and friends, which take the GPU.
    pub profiles: Arc<Vec<Option<ModelProfile>>>,
    /// SLO.
    pub slo: Nanos,
    /// Its smallest batch's execution time on its fastest pool
    /// (`fastest().min_exec_ns()`, kept: every test of whether a request
    /// can still finish asks it).
    pub min_exec_ns: Nanos,
    /// Pending requests (arrived, not dispatched, not dropped), in arrival order.
    pub queue: VecDeque<Request>,
    /// Requests arrived so far.
    pub arrived: u64,
    /// The GPUs where it is loaded (usable), in no particular order: the
    /// inverse of [`GpuState::is_loaded`], so that a policy finds where a
    /// model can run without asking every GPU.
    pub loaded_on: Vec<GpuId>,
}

impl ModelState {
    /// Its profile on the pool where its smallest batch is fastest (the first
    /// such pool on ties): for what does not depend on the GPU, e.g. whether a
    /// request could still finish anywhere.
    pub fn fastest(&self) -> &ModelProfile {
        self.profiles
            .iter()
            .flatten()
            .min_by_key(|p| p.min_exec_ns())
            .expect("a model runs on some pool")
    }
}

/// Whether a model's weights are on a GPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Residency {
    /// Not on the GPU.
    Absent,
    /// A transfer is queued or running.
    Loading,
    /// Loaded, since the given time.
    Loaded(Nanos),
}

/// A batch dispatched to a GPU.
#[derive(Clone, Debug)]
pub struct Batch {
    /// Unique id.
    pub id: BatchId,
    /// Model instance.
    pub model: ModelId,
    /// The requests, in arrival order.
    pub requests: Vec<Request>,
    /// Allowed batch size it runs as (requests padded up to it).
    pub size: u32,
    /// Profiled execution time of that size.
    pub expected_ns: Nanos,
    /// When the policy dispatched it.
    pub dispatched_at: Nanos,
    /// It must not start before this.
    pub not_before: Nanos,
    /// It is rejected (its requests dropped) if it cannot start by this.
    pub not_after: Nanos,
    /// When it started, once it has.
    pub started_at: Option<Nanos>,
    /// Once it runs: when it is expected to end, by the profile and the
    /// interference of the batches running beside it (if none starts or
    /// ends before).
    pub expected_end: Option<Nanos>,
    /// Its profile model as a kind (see `ModelSpec::kind`).
    pub kind: u32,
    /// The fraction of the GPU it keeps busy alone (the profile's `util`).
    pub util: f64,
}

impl Batch {
    /// The batch as the interference model sees it.
    pub fn runner(&self) -> Runner {
        Runner {
            kind: self.kind,
            util: self.util,
        }
    }
}

/// A weights transfer queued on a GPU.
#[derive(Clone, Copy, Debug)]
pub struct Transfer {
    /// Model instance.
    pub model: ModelId,
    /// Profiled load time.
    pub expected_ns: Nanos,
    /// When it started, once it has.
    pub started_at: Option<Nanos>,
}

impl Transfer {
    /// When it is expected done, the transfers queued before it expected
    /// done at `before`.
    fn expected_end(&self, before: Nanos) -> Nanos {
        match self.started_at {
            Some(s) => (s + self.expected_ns).max(before),
            None => before + self.expected_ns,
        }
    }
}

/// One GPU.
#[derive(Clone, Debug)]
pub struct GpuState {
    /// Index.
    pub id: GpuId,
    /// Its pool (GPU type).
    pub pool: PoolId,
    /// Bytes for weights.
    pub capacity_bytes: u64,
    /// Bytes taken by loaded and loading models.
    pub used_bytes: u64,
    residency: Vec<Residency>,
    /// Last time each model was dispatched here (for LRU), 0 if never.
    pub last_used: Vec<Nanos>,
    /// Models loaded or loading, ascending.
    pub resident: Vec<ModelId>,
    /// Batches dispatched here and not finished, in dispatch order: the first
    /// [`GpuState::running`] of them run, the others wait their turn.
    pub exec: VecDeque<Batch>,
    /// Batches that may run at once (its pool's `max_concurrent`, capped by the policy).
    pub max_concurrent: u32,
    running: usize,
    interference: std::sync::Arc<Interference>,
    /// Expected progress of the running batches (only when more than one may run).
    fluid: Fluid,
    /// Transfers queued here; only the front can be running.
    pub transfers: VecDeque<Transfer>,
    last_finish: Nanos,
}

impl GpuState {
    /// Residency of `model`.
    pub fn residency(&self, model: ModelId) -> Residency {
        self.residency[model]
    }

    /// Whether `model` is loaded or loading here.
    pub fn is_resident(&self, model: ModelId) -> bool {
        self.residency[model] != Residency::Absent
    }

    /// Whether `model` is loaded (usable without waiting).
    pub fn is_loaded(&self, model: ModelId) -> bool {
        matches!(self.residency[model], Residency::Loaded(_))
    }

    /// Bytes free for more weights.
    pub fn free_bytes(&self) -> u64 {
        self.capacity_bytes - self.used_bytes
    }

    /// Whether nothing is running or queued for execution.
    pub fn is_idle(&self) -> bool {
        self.exec.is_empty()
    }

    /// Number of batches running.
    pub fn running(&self) -> usize {
        self.running
    }

    /// The running batches.
    pub fn running_batches(&self) -> impl Iterator<Item = &Batch> {
        self.exec.range(..self.running)
    }

    /// How batches running at once here slow each other down (its pool's model).
    pub fn interference(&self) -> &Interference {
        &self.interference
    }

    /// How many more batches could be dispatched here to start now: the
    /// concurrency limit minus the batches running or waiting.
    pub fn free_slots(&self) -> usize {
        (self.max_concurrent as usize).saturating_sub(self.exec.len())
    }

    /// Whether a batch of `model` is running or queued here.
    pub fn has_work_for(&self, model: ModelId) -> bool {
        self.exec.iter().any(|b| b.model == model)
    }

    /// Whether a transfer is running or queued.
    pub fn is_transferring(&self) -> bool {
        !self.transfers.is_empty()
    }

    /// When all queued work is expected to be done, by the profile's times:
    /// `now` if idle. Transfers that batches wait for are taken into account.
    /// With several batches at once, when a newly dispatched batch could
    /// expect to start: once the batches ahead of it have started and fewer
    /// than `max_concurrent` run.
    pub fn expected_free_at(&self, now: Nanos) -> Nanos {
        if self.max_concurrent > 1 {
            return self.expected_slot_at(now);
        }
        let mut t = now;
        for b in &self.exec {
            let start = match b.started_at {
                Some(s) => s,
                None => t
                    .max(b.not_before)
                    .max(self.expected_loaded_at(b.model, now)),
            };
            t = t.max(start + b.expected_ns);
        }
        t
    }

    /// Refreshes the expected ends of the running batches from the fluid model.
    fn retime(&mut self) {
        for (id, end) in self.fluid.ends() {
            if let Some(b) = self.exec.range_mut(..self.running).find(|b| b.id == id) {
                b.expected_end = Some(end);
            }
        }
    }

    fn expected_slot_at(&self, now: Nanos) -> Nanos {
        let k = self.max_concurrent as usize;
        let mut f = self.fluid.clone();
        let mut t = now;
        let next_end = |f: &mut Fluid, t: &mut Nanos| {
            let (id, end) = f.ends().min_by_key(|e| (e.1, e.0)).expect("running");
            f.finish(end, id, &self.interference);
            *t = (*t).max(end);
        };
        for b in self.exec.range(self.running..) {
            while f.len() >= k {
                next_end(&mut f, &mut t);
            }
            t = t
                .max(b.not_before)
                .max(self.expected_loaded_at(b.model, now));
            f.start(t, b.id, b.runner(), b.expected_ns, &self.interference);
        }
        while f.len() >= k {
            next_end(&mut f, &mut t);
        }
        t
    }

    /// When the transfers queued before and including `model`'s are expected
    /// done (`now` if it is not loading).
    pub fn expected_loaded_at(&self, model: ModelId, now: Nanos) -> Nanos {
        if self.residency[model] != Residency::Loading {
            return now;
        }
        let mut t = now;
        for (m, end) in self.expected_transfer_ends(now) {
            t = end;
            if m == model {
                break;
            }
        }
        t
    }

    /// Each queued transfer's model and when it is expected done, in queue
    /// order (one walk, for a caller that wants many models' times).
    pub fn expected_transfer_ends(&self, now: Nanos) -> impl Iterator<Item = (ModelId, Nanos)> {
        self.transfers.iter().scan(now, |t, tr| {
            *t = tr.expected_end(*t);
            Some((tr.model, *t))
        })
    }
}

/// What applying an action asks the driver to do next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Nothing to start.
    None,
    /// A batch was queued on this GPU: try to start it.
    Exec(GpuId),
    /// A transfer was queued on this GPU: try to start it.
    Transfer(GpuId),
}

/// Whether the front batch of a GPU can start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ready {
    /// Nothing queued, or the front batch is already running.
    No,
    /// The front batch waits for its model's transfer.
    WaitLoad,
    /// The front batch may not start before this time.
    At(Nanos),
    /// It can start now.
    Now,
    /// It can no longer start in its window: reject it.
    Reject,
}

/// The serving state.
#[derive(Clone, Debug)]
pub struct State {
    /// Model instances.
    pub models: Vec<ModelState>,
    /// GPUs.
    pub gpus: Vec<GpuState>,
    next_id: RequestId,
    next_batch: BatchId,
    /// Requests in the models' queues, over all models.
    queued: usize,
    /// Emptied request lists of finished batches and dispatches, reused so
    /// that serving a batch allocates nothing.
    spare: Spare,
}

/// Emptied vectors kept for reuse (a few: one per batch in flight at most).
#[derive(Clone, Debug, Default)]
struct Spare {
    requests: Vec<Vec<Request>>,
    ids: Vec<Vec<RequestId>>,
}

const SPARE_MAX: usize = 64;

fn keep<T>(pool: &mut Vec<Vec<T>>, mut v: Vec<T>) {
    if pool.len() < SPARE_MAX {
        v.clear();
        pool.push(v);
    }
}

impl State {
    /// The initial state of a scenario: empty queues, nothing loaded.
    pub fn new(scenario: &Scenario) -> State {
        let n = scenario.models.len();
        State {
            models: scenario
                .models
                .iter()
                .enumerate()
                .map(|(id, m)| {
                    let mut state = ModelState {
                        id,
                        name: m.name.clone(),
                        kind: m.kind,
                        profiles: m.profiles.clone(),
                        slo: m.slo,
                        min_exec_ns: 0,
                        queue: VecDeque::new(),
                        arrived: 0,
                        loaded_on: Vec::new(),
                    };
                    state.min_exec_ns = state.fastest().min_exec_ns();
                    state
                })
                .collect(),
            gpus: (0..scenario.cluster.gpus)
                .map(|id| {
                    let pool = &scenario.cluster.pools[scenario.cluster.pool_of(id)];
                    GpuState {
                        id,
                        pool: scenario.cluster.pool_of(id),
                        capacity_bytes: pool.weights_bytes,
                        max_concurrent: pool.max_concurrent,
                        running: 0,
                        interference: pool.interference.clone(),
                        fluid: Fluid::default(),
                        used_bytes: 0,
                        residency: vec![Residency::Absent; n],
                        last_used: vec![0; n],
                        resident: Vec::new(),
                        exec: VecDeque::new(),
                        transfers: VecDeque::new(),
                        last_finish: 0,
                    }
                })
                .collect(),
            next_id: 0,
            next_batch: 0,
            queued: 0,
            spare: Spare::default(),
        }
        .preloaded(scenario)
    }

    /// Caps every GPU's concurrency at `cap` (a policy that runs one batch
    /// at a time by design, whatever the cluster allows).
    pub fn cap_concurrency(&mut self, cap: u32) {
        for g in &mut self.gpus {
            g.max_concurrent = g.max_concurrent.min(cap.max(1));
        }
    }

    fn preloaded(mut self, scenario: &Scenario) -> State {
        if !scenario.cluster.preload {
            return self;
        }
        let n = self.models.len();
        let gpus = self.gpus.len();
        for (gi, g) in self.gpus.iter_mut().enumerate() {
            for k in 0..n {
                let m = (gi * n / gpus + k) % n;
                let Some(p) = &self.models[m].profiles[g.pool] else {
                    continue;
                };
                let bytes = p.weights_bytes;
                if g.used_bytes + bytes <= g.capacity_bytes {
                    g.used_bytes += bytes;
                    g.residency[m] = Residency::Loaded(0);
                    self.models[m].loaded_on.push(gi);
                }
            }
            g.resident = (0..n)
                .filter(|&m| g.residency[m] != Residency::Absent)
                .collect();
        }
        self
    }

    /// The profile of `model` on `gpu`'s pool, if it can run there.
    pub fn profile(&self, model: ModelId, gpu: GpuId) -> Option<&ModelProfile> {
        self.models[model].profiles[self.gpus[gpu].pool].as_ref()
    }

    fn runnable(&self, model: ModelId, gpu: GpuId, what: &str) -> &ModelProfile {
        assert!(
            gpu < self.gpus.len() && model < self.models.len(),
            "{what}: no gpu {gpu} or model {model}"
        );
        self.profile(model, gpu).unwrap_or_else(|| {
            panic!("{what}: model {model} cannot run on gpu {gpu} (its pool does not profile it)")
        })
    }

    /// What a policy sees at `now`.
    pub fn view(&self, now: Nanos) -> View<'_> {
        View {
            now,
            models: &self.models,
            gpus: &self.gpus,
        }
    }

    /// A new request of `model` arrives at `now` (with its own SLO if it has one).
    pub fn arrive(&mut self, model: ModelId, now: Nanos, slo: Option<Nanos>) -> Request {
        let m = &mut self.models[model];
        let req = Request {
            id: self.next_id,
            model,
            arrival: now,
            deadline: now + slo.unwrap_or(m.slo),
        };
        self.next_id += 1;
        self.queued += 1;
        m.arrived += 1;
        m.queue.push_back(req);
        req
    }

    /// Removes the pending requests `ids` of `model` (ids in increasing order).
    fn take(&mut self, model: ModelId, ids: &[RequestId], what: &str) -> Vec<Request> {
        let q = &mut self.models[model].queue;
        let mut out = self.spare.requests.pop().unwrap_or_default();
        out.reserve(ids.len());
        for (k, &id) in ids.iter().enumerate() {
            assert!(
                k == 0 || id > ids[k - 1],
                "{what}: request ids must be distinct and increasing, got {ids:?}"
            );
            if q.front().is_some_and(|r| r.id == id) {
                out.push(q.pop_front().unwrap());
                continue;
            }
            match q.binary_search_by_key(&id, |r| r.id) {
                Ok(i) => out.push(q.remove(i).unwrap()),
                Err(_) => panic!("{what}: request {id} is not pending for model {model}"),
            }
        }
        self.queued -= out.len();
        out
    }

    /// Applies one action at `now`, validating it. Dropped requests are pushed to `ends`.
    pub fn apply(&mut self, now: Nanos, action: Action, ends: &mut Vec<RequestEnd>) -> Effect {
        match action {
            Action::Dispatch(d) => self.dispatch(now, d),
            Action::Drop { model, requests } => {
                assert!(model < self.models.len(), "drop: no model {model}");
                let taken = self.take(model, &requests, "drop");
                for &req in &taken {
                    ends.push(RequestEnd {
                        req,
                        outcome: Outcome::Dropped,
                        start: None,
                        finish: now,
                        gpu: None,
                        batch_size: 0,
                        coldstart: false,
                    });
                }
                keep(&mut self.spare.requests, taken);
                keep(&mut self.spare.ids, requests);
                Effect::None
            }
            Action::Load { gpu, model } => {
                let p = self.runnable(model, gpu, "load");
                let (bytes, expected_ns) = (p.weights_bytes, p.load_ns);
                let g = &mut self.gpus[gpu];
                assert_eq!(
                    g.residency[model],
                    Residency::Absent,
                    "load: model {model} already on gpu {gpu}"
                );
                assert!(
                    g.used_bytes + bytes <= g.capacity_bytes,
                    "load: model {model} ({bytes} B) does not fit on gpu {gpu} ({} of {} B used)",
                    g.used_bytes,
                    g.capacity_bytes
                );
                g.used_bytes += bytes;
                g.residency[model] = Residency::Loading;
                let pos = g.resident.binary_search(&model).unwrap_err();
                g.resident.insert(pos, model);
                g.transfers.push_back(Transfer {
                    model,
                    expected_ns,
                    started_at: None,
                });
                Effect::Transfer(gpu)
            }
            Action::Preempt { gpu, batch } => {
                self.preempt(gpu, batch, now);
                Effect::Exec(gpu)
            }
            Action::Evict { gpu, model } => {
                let bytes = self.runnable(model, gpu, "evict").weights_bytes;
                let g = &mut self.gpus[gpu];
                assert!(
                    g.is_loaded(model),
                    "evict: model {model} is not loaded on gpu {gpu}"
                );
                assert!(
                    !g.has_work_for(model),
                    "evict: gpu {gpu} still has batches of model {model}"
                );
                g.used_bytes -= bytes;
                g.residency[model] = Residency::Absent;
                let pos = g.resident.binary_search(&model).unwrap();
                g.resident.remove(pos);
                let on = &mut self.models[model].loaded_on;
                on.swap_remove(on.iter().position(|&h| h == gpu).expect("loaded there"));
                Effect::None
            }
        }
    }

    fn dispatch(&mut self, now: Nanos, d: Dispatch) -> Effect {
        let Dispatch {
            gpu,
            model,
            requests,
            not_before,
            not_after,
        } = d;
        let profile = self.runnable(model, gpu, "dispatch");
        assert!(!requests.is_empty(), "dispatch: empty batch");
        let n = requests.len() as u32;
        let idx = profile.padded_index(n).unwrap_or_else(|| {
            panic!(
                "dispatch: batch of {n} exceeds model {model}'s largest batch size {}",
                profile.max_batch()
            )
        });
        let (size, expected_ns, util) = (
            profile.batch_sizes[idx],
            profile.exec_ns[idx],
            profile.util[idx],
        );
        assert!(
            self.gpus[gpu].is_resident(model),
            "dispatch: model {model} is neither loaded nor loading on gpu {gpu}"
        );
        let reqs = self.take(model, &requests, "dispatch");
        keep(&mut self.spare.ids, requests);
        let kind = self.models[model].kind;
        let id = self.next_batch;
        self.next_batch += 1;
        let g = &mut self.gpus[gpu];
        g.last_used[model] = now;
        g.exec.push_back(Batch {
            id,
            kind,
            util,
            expected_end: None,
            model,
            requests: reqs,
            size,
            expected_ns,
            dispatched_at: now,
            not_before,
            not_after,
            started_at: None,
        });
        Effect::Exec(gpu)
    }

    /// Whether the next waiting batch of `gpu` can start at `now`.
    pub fn ready(&self, gpu: GpuId, now: Nanos) -> Ready {
        let g = &self.gpus[gpu];
        if g.running >= g.max_concurrent as usize {
            return Ready::No;
        }
        let Some(b) = g.exec.get(g.running) else {
            return Ready::No;
        };
        if now > b.not_after {
            return Ready::Reject;
        }
        if !g.is_loaded(b.model) {
            return Ready::WaitLoad;
        }
        if now < b.not_before {
            return Ready::At(b.not_before);
        }
        Ready::Now
    }

    /// Starts the next waiting batch of `gpu` at `now`; returns it.
    pub fn start(&mut self, gpu: GpuId, now: Nanos) -> &Batch {
        assert_eq!(
            self.ready(gpu, now),
            Ready::Now,
            "start: gpu {gpu} cannot start its next batch"
        );
        let g = &mut self.gpus[gpu];
        assert!(
            now >= g.last_finish,
            "gpu {gpu} would run two batches at once"
        );
        let i = g.running;
        g.running += 1;
        let b = &mut g.exec[i];
        b.started_at = Some(now);
        if g.max_concurrent == 1 {
            b.expected_end = Some(now + b.expected_ns);
        } else {
            let (id, runner, work) = (b.id, b.runner(), b.expected_ns);
            g.fluid.start(now, id, runner, work, &g.interference);
            g.retime();
        }
        &g.exec[i]
    }

    /// Rejects the next waiting batch of `gpu` (it missed its start window): its requests are dropped.
    pub fn reject(&mut self, gpu: GpuId, now: Nanos, ends: &mut Vec<RequestEnd>) -> Batch {
        assert_eq!(self.ready(gpu, now), Ready::Reject, "reject: gpu {gpu}");
        let g = &mut self.gpus[gpu];
        let b = g.exec.remove(g.running).unwrap();
        for &req in &b.requests {
            ends.push(RequestEnd {
                req,
                outcome: Outcome::Dropped,
                start: None,
                finish: now,
                gpu: Some(gpu),
                batch_size: 0,
                coldstart: false,
            });
        }
        b
    }

    /// Aborts batch `batch` of `gpu` at `now` (a policy's
    /// [`Action::Preempt`]): a running batch stops and the GPU time it used
    /// is lost; a waiting one never starts. Its requests go back to their
    /// model's queue, in id order, with their arrival and deadline. Returns
    /// the batch and when it had started (`None`: it was waiting).
    pub fn preempt(&mut self, gpu: GpuId, batch: BatchId, now: Nanos) -> (Batch, Option<Nanos>) {
        assert!(gpu < self.gpus.len(), "preempt: no gpu {gpu}");
        let g = &mut self.gpus[gpu];
        let i = g
            .exec
            .iter()
            .position(|b| b.id == batch)
            .unwrap_or_else(|| panic!("preempt: batch {batch} is not on gpu {gpu}"));
        let b = g.exec.remove(i).expect("found");
        let started = b.started_at;
        if started.is_some() {
            g.running -= 1;
            if g.max_concurrent == 1 {
                // The GPU is free from now: the next batch may start at once.
                g.last_finish = now;
            } else {
                g.fluid.finish(now, batch, &g.interference);
                g.retime();
            }
        }
        let q = &mut self.models[b.model].queue;
        for &req in &b.requests {
            let pos = q.binary_search_by_key(&req.id, |r| r.id).unwrap_err();
            q.insert(pos, req);
        }
        self.queued += b.requests.len();
        (b, started)
    }

    /// The running batch `batch` of `gpu` finished: it ran from `start` to
    /// `finish` (measured). Its requests' ends are pushed to `ends`; the batch is returned.
    pub fn finish(
        &mut self,
        gpu: GpuId,
        batch: BatchId,
        start: Nanos,
        finish: Nanos,
        ends: &mut Vec<RequestEnd>,
    ) -> Batch {
        let g = &mut self.gpus[gpu];
        let i = g
            .running_batches()
            .position(|b| b.id == batch)
            .unwrap_or_else(|| panic!("finish: batch {batch} is not running on gpu {gpu}"));
        let b = g.exec.remove(i).expect("running");
        g.running -= 1;
        assert!(
            finish >= start,
            "gpu {gpu}: batch {batch} ends before it starts"
        );
        if g.max_concurrent == 1 {
            assert!(start >= g.last_finish, "gpu {gpu}: batches overlap");
            g.last_finish = finish;
        } else {
            g.fluid.finish(finish, batch, &g.interference);
            g.retime();
        }
        let loaded_at = match g.residency[b.model] {
            Residency::Loaded(t) => t,
            r => panic!("finish: model {} ran on gpu {gpu} while {r:?}", b.model),
        };
        for &req in &b.requests {
            ends.push(RequestEnd {
                req,
                outcome: if finish <= req.deadline {
                    Outcome::Good
                } else {
                    Outcome::Late
                },
                start: Some(start),
                finish,
                gpu: Some(gpu),
                batch_size: b.size,
                coldstart: req.arrival < loaded_at,
            });
        }
        b
    }

    /// Whether the front transfer of `gpu` can start.
    pub fn transfer_ready(&self, gpu: GpuId) -> bool {
        self.gpus[gpu]
            .transfers
            .front()
            .is_some_and(|t| t.started_at.is_none())
    }

    /// Starts the front transfer of `gpu`.
    pub fn start_transfer(&mut self, gpu: GpuId, now: Nanos) -> Transfer {
        assert!(
            self.transfer_ready(gpu),
            "start_transfer: nothing to start on gpu {gpu}"
        );
        let t = self.gpus[gpu].transfers.front_mut().unwrap();
        t.started_at = Some(now);
        *t
    }

    /// The running transfer of `gpu` finished at `now`: the model is loaded.
    pub fn finish_transfer(&mut self, gpu: GpuId, now: Nanos) -> Transfer {
        let g = &mut self.gpus[gpu];
        let t = g
            .transfers
            .pop_front()
            .expect("finish_transfer: nothing running");
        assert!(t.started_at.is_some(), "finish_transfer: never started");
        assert_eq!(g.residency[t.model], Residency::Loading);
        g.residency[t.model] = Residency::Loaded(now);
        self.models[t.model].loaded_on.push(gpu);
        t
    }

    /// Ends every request still queued or in a batch as unfinished, at `now`.
    pub fn finish_all(&mut self, now: Nanos, ends: &mut Vec<RequestEnd>) {
        let unfinished = |req: Request| RequestEnd {
            req,
            outcome: Outcome::Unfinished,
            start: None,
            finish: now,
            gpu: None,
            batch_size: 0,
            coldstart: false,
        };
        for g in &mut self.gpus {
            for b in g.exec.drain(..) {
                ends.extend(b.requests.into_iter().map(unfinished));
            }
            g.running = 0;
        }
        for m in &mut self.models {
            ends.extend(m.queue.drain(..).map(unfinished));
        }
        self.queued = 0;
    }

    /// Requests waiting in the models' queues (arrived, not dispatched, not dropped).
    pub fn queued(&self) -> usize {
        self.queued
    }

    /// Number of requests arrived so far.
    pub fn requests_arrived(&self) -> u64 {
        self.next_id
    }

    /// A batch is done with (finished or rejected, its ends recorded): its
    /// request list is reused.
    pub fn recycle(&mut self, batch: Batch) {
        keep(&mut self.spare.requests, batch.requests);
    }

    /// An emptied list of request ids, if one is spare (for a policy's next dispatch).
    pub fn spare_ids(&mut self) -> Option<Vec<RequestId>> {
        self.spare.ids.pop()
    }
}
