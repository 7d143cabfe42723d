//! The serving state that policies see and that both drivers (the simulator's
//! engine and the real-time replay) mutate in the same way: per-model queues
//! of pending requests, per-GPU resident models, memory, queued batches and
//! transfers. Every action is validated here with `assert!`: a GPU never runs
//! two batches at once, a batch never mixes models, a request ends exactly
//! once, a model runs only where it is loaded, memory is never overcommitted.

use crate::policy::{Action, Dispatch, View};
use crate::profile::ModelProfile;
use crate::scenario::Scenario;
use crate::time::Nanos;
use std::collections::VecDeque;

/// Index of a model instance in the scenario.
pub type ModelId = usize;
/// Index of a GPU.
pub type GpuId = usize;
/// A request's id: unique, increasing in arrival order.
pub type RequestId = u64;

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
    /// Profile.
    pub profile: ModelProfile,
    /// SLO.
    pub slo: Nanos,
    /// Pending requests (arrived, not dispatched, not dropped), in arrival order.
    pub queue: VecDeque<Request>,
    /// Requests arrived so far.
    pub arrived: u64,
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

/// One GPU.
#[derive(Clone, Debug)]
pub struct GpuState {
    /// Index.
    pub id: GpuId,
    /// Bytes for weights.
    pub capacity_bytes: u64,
    /// Bytes taken by loaded and loading models.
    pub used_bytes: u64,
    residency: Vec<Residency>,
    /// Last time each model was dispatched here (for LRU), 0 if never.
    pub last_used: Vec<Nanos>,
    /// Models loaded or loading, ascending.
    pub resident: Vec<ModelId>,
    /// Batches dispatched here and not finished; only the front can be running.
    pub exec: VecDeque<Batch>,
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
    pub fn expected_free_at(&self, now: Nanos) -> Nanos {
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

    /// When the transfers queued before and including `model`'s are expected done.
    pub fn expected_loaded_at(&self, model: ModelId, now: Nanos) -> Nanos {
        if self.residency[model] != Residency::Loading {
            return now;
        }
        let mut t = now;
        for tr in &self.transfers {
            t = match tr.started_at {
                Some(s) => (s + tr.expected_ns).max(t),
                None => t + tr.expected_ns,
            };
            if tr.model == model {
                break;
            }
        }
        t
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
    /// Requests in the models' queues, over all models.
    queued: usize,
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
                .map(|(id, m)| ModelState {
                    id,
                    name: m.name.clone(),
                    profile: m.profile.clone(),
                    slo: m.slo,
                    queue: VecDeque::new(),
                    arrived: 0,
                })
                .collect(),
            gpus: (0..scenario.cluster.gpus)
                .map(|id| GpuState {
                    id,
                    capacity_bytes: scenario.cluster.weights_bytes,
                    used_bytes: 0,
                    residency: vec![Residency::Absent; n],
                    last_used: vec![0; n],
                    resident: Vec::new(),
                    exec: VecDeque::new(),
                    transfers: VecDeque::new(),
                    last_finish: 0,
                })
                .collect(),
            next_id: 0,
            queued: 0,
        }
        .preloaded(scenario)
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
                let bytes = self.models[m].profile.weights_bytes;
                if g.used_bytes + bytes <= g.capacity_bytes {
                    g.used_bytes += bytes;
                    g.residency[m] = Residency::Loaded(0);
                }
            }
            g.resident = (0..n)
                .filter(|&m| g.residency[m] != Residency::Absent)
                .collect();
        }
        self
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
        let mut out = Vec::with_capacity(ids.len());
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
                for req in self.take(model, &requests, "drop") {
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
                Effect::None
            }
            Action::Load { gpu, model } => {
                assert!(
                    gpu < self.gpus.len() && model < self.models.len(),
                    "load: no gpu {gpu} or model {model}"
                );
                let bytes = self.models[model].profile.weights_bytes;
                let expected_ns = self.models[model].profile.load_ns;
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
            Action::Evict { gpu, model } => {
                assert!(
                    gpu < self.gpus.len() && model < self.models.len(),
                    "evict: no gpu {gpu} or model {model}"
                );
                let bytes = self.models[model].profile.weights_bytes;
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
        assert!(
            gpu < self.gpus.len() && model < self.models.len(),
            "dispatch: no gpu {gpu} or model {model}"
        );
        assert!(!requests.is_empty(), "dispatch: empty batch");
        let n = requests.len() as u32;
        let profile = &self.models[model].profile;
        let idx = profile.padded_index(n).unwrap_or_else(|| {
            panic!(
                "dispatch: batch of {n} exceeds model {model}'s largest batch size {}",
                profile.max_batch()
            )
        });
        let (size, expected_ns) = (profile.batch_sizes[idx], profile.exec_ns[idx]);
        assert!(
            self.gpus[gpu].is_resident(model),
            "dispatch: model {model} is neither loaded nor loading on gpu {gpu}"
        );
        let reqs = self.take(model, &requests, "dispatch");
        let g = &mut self.gpus[gpu];
        g.last_used[model] = now;
        g.exec.push_back(Batch {
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

    /// Whether the front batch of `gpu` can start at `now`.
    pub fn ready(&self, gpu: GpuId, now: Nanos) -> Ready {
        let g = &self.gpus[gpu];
        let Some(b) = g.exec.front() else {
            return Ready::No;
        };
        if b.started_at.is_some() {
            return Ready::No;
        }
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

    /// Starts the front batch of `gpu` at `now`; returns it.
    pub fn start(&mut self, gpu: GpuId, now: Nanos) -> &Batch {
        assert_eq!(
            self.ready(gpu, now),
            Ready::Now,
            "start: gpu {gpu} cannot start its front batch"
        );
        let g = &mut self.gpus[gpu];
        assert!(
            now >= g.last_finish,
            "gpu {gpu} would run two batches at once"
        );
        let b = g.exec.front_mut().unwrap();
        b.started_at = Some(now);
        b
    }

    /// Rejects the front batch of `gpu` (it missed its start window): its requests are dropped.
    pub fn reject(&mut self, gpu: GpuId, now: Nanos, ends: &mut Vec<RequestEnd>) -> Batch {
        assert_eq!(self.ready(gpu, now), Ready::Reject, "reject: gpu {gpu}");
        let b = self.gpus[gpu].exec.pop_front().unwrap();
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

    /// The running batch of `gpu` finished: it ran from `start` to `finish`
    /// (measured). Its requests' ends are pushed to `ends`; the batch is returned.
    pub fn finish(
        &mut self,
        gpu: GpuId,
        start: Nanos,
        finish: Nanos,
        ends: &mut Vec<RequestEnd>,
    ) -> Batch {
        let g = &mut self.gpus[gpu];
        let b = g.exec.pop_front().expect("finish: no batch on gpu");
        assert!(
            b.started_at.is_some(),
            "finish: gpu {gpu}'s front batch never started"
        );
        assert!(
            finish >= start && start >= g.last_finish,
            "gpu {gpu}: batches overlap"
        );
        g.last_finish = finish;
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
}
