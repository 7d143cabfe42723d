//! The serving core shared by both drivers: the simulator's engine (simulated
//! time) and the real-time replay (wall-clock time). It holds the serving
//! `State`, the policy, the metrics and the observer, and turns timestamped
//! inputs (a request arrived, a batch or a transfer finished, a timer fired)
//! into policy notices, state changes, and [`Command`]s for the timing layer
//! (start this batch, start this transfer, call me again at t, a closed-loop
//! client sends at t). The timing layer decides how long things take: the
//! engine from the profile (with noise), the replay by running them.
//!
//! Every input takes `now`, the driver's current time, and `out`, a
//! [`Timing`] that receives the commands it produces, in order (the engine's
//! event order depends on it). The engine's `Timing` schedules events
//! directly (one call per command, no buffer, no dispatch on a command enum:
//! the simulator's speed depends on it); `Vec<Command>` collects them (the
//! replay). A driver calls [`Server::decide`] once after the inputs of one
//! instant.

use crate::metrics::Metrics;
use crate::policy::{Action, Decision, Notice, Policy};
use crate::rng::Rng;
use crate::scenario::Scenario;
use crate::state::{
    Batch, BatchId, Effect, GpuId, ModelId, Outcome, Ready, Request, RequestEnd, State,
};
use crate::time::Nanos;
use crate::workload::{Arrival, ArrivalStream};

/// Receives what happens during a run (request logs, timelines).
pub trait Observer {
    /// A request ended.
    fn request_end(&mut self, _end: &RequestEnd) {}
    /// A batch started on `gpu` at `now` (it reports [`Observer::batch`] when it ends).
    fn batch_start(&mut self, _gpu: GpuId, _batch: &Batch, _now: Nanos) {}
    /// A batch ran on `gpu` from `start` to `finish`.
    fn batch(&mut self, _gpu: GpuId, _batch: &Batch, _start: Nanos, _finish: Nanos) {}
    /// A running batch of `gpu`, started at `start`, was preempted at `now`
    /// (its work is lost; its requests are pending again). It reports no
    /// [`Observer::batch`].
    fn preempted(&mut self, _gpu: GpuId, _batch: &Batch, _start: Nanos, _now: Nanos) {}
    /// A model was loaded on `gpu` from `start` to `finish`.
    fn load(&mut self, _gpu: GpuId, _model: ModelId, _start: Nanos, _finish: Nanos) {}
    /// A model was evicted from `gpu` at `now`.
    fn evict(&mut self, _gpu: GpuId, _model: ModelId, _now: Nanos) {}
    /// `model`'s queue holds `len` pending requests at `now`.
    fn queue(&mut self, _now: Nanos, _model: ModelId, _len: usize) {}
}

/// What the timing layer must do next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    /// A batch of `gpu` started now: run it and report
    /// [`Server::batch_done`] when it ends.
    Exec {
        /// The GPU.
        gpu: GpuId,
        /// The batch.
        batch: BatchId,
        /// The model instance.
        model: ModelId,
        /// The (padded) batch size it runs as.
        size: u32,
        /// Requests in it.
        requests: u32,
        /// Its profiled execution time.
        expected_ns: Nanos,
    },
    /// The front transfer of `gpu` started now: copy the weights and report
    /// [`Server::transfer_done`] when done.
    Transfer {
        /// The GPU.
        gpu: GpuId,
        /// The model instance.
        model: ModelId,
        /// Its profiled load time.
        expected_ns: Nanos,
    },
    /// The running batch `batch` of `gpu` was preempted now: stop it
    /// (or stop waiting for it) and never report it done.
    Abort {
        /// The GPU.
        gpu: GpuId,
        /// The batch.
        batch: BatchId,
    },
    /// A model's weights were evicted from `gpu` (free its memory).
    Evict {
        /// The GPU.
        gpu: GpuId,
        /// The model instance.
        model: ModelId,
    },
    /// Call [`Server::gpu_ready`] at `at` (a batch's `not_before`).
    GpuReady {
        /// The GPU.
        gpu: GpuId,
        /// When.
        at: Nanos,
    },
    /// Call [`Server::wake`] with `at`, at `at` (the policy asked to be woken).
    Wake {
        /// When.
        at: Nanos,
    },
    /// A closed-loop client of `model` sends a request at `at`: call
    /// [`Server::arrive`] then.
    Send {
        /// The model instance.
        model: ModelId,
        /// When.
        at: Nanos,
    },
}

/// Receives the commands of the serving core, one method per [`Command`].
pub trait Timing {
    /// See [`Command::Exec`]: `batch` of `model`, padded to `size`, holding `requests`.
    fn exec(&mut self, gpu: GpuId, batch: &Batch);
    /// See [`Command::Transfer`].
    fn transfer(&mut self, gpu: GpuId, model: ModelId, expected_ns: Nanos);
    /// See [`Command::Abort`].
    fn abort(&mut self, gpu: GpuId, batch: BatchId);
    /// See [`Command::Evict`].
    fn evict(&mut self, gpu: GpuId, model: ModelId);
    /// See [`Command::GpuReady`].
    fn gpu_ready(&mut self, gpu: GpuId, at: Nanos);
    /// See [`Command::Wake`].
    fn wake(&mut self, at: Nanos);
    /// See [`Command::Send`].
    fn send(&mut self, model: ModelId, at: Nanos);
}

/// Collects the commands, in order.
impl Timing for Vec<Command> {
    fn exec(&mut self, gpu: GpuId, b: &Batch) {
        self.push(Command::Exec {
            gpu,
            batch: b.id,
            model: b.model,
            size: b.size,
            requests: b.requests.len() as u32,
            expected_ns: b.expected_ns,
        });
    }
    fn transfer(&mut self, gpu: GpuId, model: ModelId, expected_ns: Nanos) {
        self.push(Command::Transfer {
            gpu,
            model,
            expected_ns,
        });
    }
    fn abort(&mut self, gpu: GpuId, batch: BatchId) {
        self.push(Command::Abort { gpu, batch });
    }
    fn evict(&mut self, gpu: GpuId, model: ModelId) {
        self.push(Command::Evict { gpu, model });
    }
    fn gpu_ready(&mut self, gpu: GpuId, at: Nanos) {
        self.push(Command::GpuReady { gpu, at });
    }
    fn wake(&mut self, at: Nanos) {
        self.push(Command::Wake { at });
    }
    fn send(&mut self, model: ModelId, at: Nanos) {
        self.push(Command::Send { model, at });
    }
}

/// The policy-facing serving logic of one run.
pub struct Server<'p, 'o> {
    state: State,
    policy: &'p mut dyn Policy,
    metrics: Metrics,
    observer: Option<&'o mut dyn Observer>,
    decision: Decision,
    ends: Vec<RequestEnd>,
    /// Think time of each closed-loop model.
    think: Vec<Option<Nanos>>,
    /// Each model's fastest execution: a closed-loop client sends at most
    /// once per this (see `record_ends`).
    min_cycle: Vec<Nanos>,
    /// End of arrivals: closed-loop clients send nothing from then on.
    duration: Nanos,
    /// The pending wake-up the policy asked for.
    wake: Option<Nanos>,
}

impl<'p, 'o> Server<'p, 'o> {
    /// The serving core of `scenario` under `policy`; `metrics` decides what is counted.
    pub fn new(
        scenario: &Scenario,
        policy: &'p mut dyn Policy,
        metrics: Metrics,
        observer: Option<&'o mut dyn Observer>,
    ) -> Self {
        let mut state = State::new(scenario);
        if let Some(cap) = policy.max_concurrent() {
            state.cap_concurrency(cap);
        }
        Server {
            state,
            policy,
            metrics,
            observer,
            decision: Decision::default(),
            ends: Vec::new(),
            think: scenario
                .models
                .iter()
                .map(|m| match m.arrival {
                    Arrival::Closed { think_ns, .. } => Some(think_ns),
                    _ => None,
                })
                .collect(),
            min_cycle: scenario
                .models
                .iter()
                .map(|m| m.fastest().min_exec_ns())
                .collect(),
            duration: scenario.duration,
            wake: None,
        }
    }

    /// The serving state.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// The policy's name.
    pub fn policy_name(&self) -> &'static str {
        self.policy.name()
    }

    /// Time 0, before anything arrives: the policy's `init`, then its actions.
    pub fn init(&mut self, out: &mut impl Timing) {
        self.decision.clear();
        self.policy.init(&self.state.view(0), &mut self.decision);
        self.apply_decision(0, out);
    }

    /// A request of `model` arrives at time `at` (`at <= now`; the same in the
    /// simulator, the scheduled time in the replay), with its own SLO if it has one.
    /// Produces no commands.
    pub fn arrive(&mut self, now: Nanos, at: Nanos, model: ModelId, slo: Option<Nanos>) -> Request {
        let req = self.state.arrive(model, at, slo);
        self.metrics.arrival(&req);
        self.policy
            .notify(&self.state.view(now), &Notice::Arrival(req));
        if let Some(o) = self.observer.as_mut() {
            o.queue(now, model, self.state.models[model].queue.len());
        }
        req
    }

    /// The running batch `batch` of `gpu` ran from `start` to `finish` (measured; `finish <= now`).
    pub fn batch_done(
        &mut self,
        now: Nanos,
        gpu: GpuId,
        batch: BatchId,
        start: Nanos,
        finish: Nanos,
        out: &mut impl Timing,
    ) {
        let batch = self.state.finish(gpu, batch, start, finish, &mut self.ends);
        self.metrics
            .batch(gpu, batch.model, batch.requests.len(), start, finish);
        if let Some(o) = self.observer.as_mut() {
            o.batch(gpu, &batch, start, finish);
        }
        self.policy.notify(
            &self.state.view(now),
            &Notice::BatchDone {
                gpu,
                batch: &batch,
                started: start,
                finished: finish,
            },
        );
        self.state.recycle(batch);
        self.record_ends(out);
        self.try_start(gpu, now, out);
    }

    /// The running transfer of `gpu` ran from `start` to `finish` (measured; `finish <= now`).
    pub fn transfer_done(
        &mut self,
        now: Nanos,
        gpu: GpuId,
        start: Nanos,
        finish: Nanos,
        out: &mut impl Timing,
    ) {
        let t = self.state.finish_transfer(gpu, finish);
        if let Some(o) = self.observer.as_mut() {
            o.load(gpu, t.model, start, finish);
        }
        self.policy.notify(
            &self.state.view(now),
            &Notice::LoadDone {
                gpu,
                model: t.model,
                started: start,
                finished: finish,
            },
        );
        self.try_transfer(gpu, now, out);
        self.try_start(gpu, now, out);
    }

    /// The time asked for by [`Command::GpuReady`] has come.
    pub fn gpu_ready(&mut self, now: Nanos, gpu: GpuId, out: &mut impl Timing) {
        self.try_start(gpu, now, out);
    }

    /// The wake-up asked for at `at` by [`Command::Wake`] has come.
    pub fn wake(&mut self, at: Nanos) {
        if self.wake == Some(at) {
            self.wake = None;
        }
    }

    /// Lets the policy decide, and applies its actions. Called once after the
    /// inputs of one instant.
    pub fn decide(&mut self, now: Nanos, out: &mut impl Timing) {
        self.decision.clear();
        self.policy
            .decide(&self.state.view(now), &mut self.decision);
        self.apply_decision(now, out);
    }

    /// Ends the run at `stop`: every request still queued or running is
    /// unfinished. Returns the metrics and the number of requests that arrived.
    pub fn finish(mut self, stop: Nanos) -> (Metrics, u64) {
        self.state.finish_all(stop, &mut self.ends);
        for e in self.ends.drain(..) {
            self.metrics.end(&e);
            if let Some(o) = self.observer.as_mut() {
                o.request_end(&e);
            }
        }
        (self.metrics, self.state.requests_arrived())
    }

    /// Records ended requests; closed-loop clients think and send again. A
    /// client sends at most once per its model's fastest execution: one
    /// whose request was dropped sooner than that after it was sent waits
    /// out the rest (else, with no think time, a policy that drops at
    /// arrival would have it send a billion requests a second).
    fn record_ends(&mut self, out: &mut impl Timing) {
        for i in 0..self.ends.len() {
            let e = self.ends[i];
            self.metrics.end(&e);
            if let Some(o) = self.observer.as_mut() {
                o.request_end(&e);
            }
            if let (Some(think), true) = (self.think[e.req.model], e.outcome != Outcome::Unfinished)
            {
                let m = e.req.model;
                let at = (e.finish + think.max(1)).max(e.req.arrival + self.min_cycle[m]);
                if at < self.duration {
                    out.send(e.req.model, at);
                }
            }
        }
        self.ends.clear();
    }

    fn try_start(&mut self, g: GpuId, now: Nanos, out: &mut impl Timing) {
        loop {
            match self.state.ready(g, now) {
                Ready::No | Ready::WaitLoad => return,
                Ready::At(at) => {
                    out.gpu_ready(g, at);
                    return;
                }
                Ready::Reject => {
                    let batch = self.state.reject(g, now, &mut self.ends);
                    self.policy.notify(
                        &self.state.view(now),
                        &Notice::BatchRejected {
                            gpu: g,
                            batch: &batch,
                        },
                    );
                    self.state.recycle(batch);
                    self.record_ends(out);
                }
                Ready::Now => {
                    let b = self.state.start(g, now);
                    self.metrics.started(g, now);
                    if let Some(o) = self.observer.as_mut() {
                        o.batch_start(g, b, now);
                    }
                    out.exec(g, b);
                }
            }
        }
    }

    fn try_transfer(&mut self, g: GpuId, now: Nanos, out: &mut impl Timing) {
        if self.state.transfer_ready(g) {
            let t = self.state.start_transfer(g, now);
            out.transfer(g, t.model, t.expected_ns);
        }
    }

    /// Applies a policy's `Action::Preempt`.
    fn preempt(&mut self, now: Nanos, gpu: GpuId, batch: BatchId, out: &mut impl Timing) {
        let (b, started) = self.state.preempt(gpu, batch, now);
        if let Some(start) = started {
            out.abort(gpu, batch);
            self.metrics.preempted(gpu, b.model, start, now);
            if let Some(o) = self.observer.as_mut() {
                o.preempted(gpu, &b, start, now);
            }
        }
        if let Some(o) = self.observer.as_mut() {
            o.queue(now, b.model, self.state.models[b.model].queue.len());
        }
        self.try_start(gpu, now, out);
    }

    fn apply_decision(&mut self, now: Nanos, out: &mut impl Timing) {
        let mut actions = std::mem::take(&mut self.decision.actions);
        for a in actions.drain(..) {
            if let Action::Preempt { gpu, batch } = a {
                self.preempt(now, gpu, batch, out);
                continue;
            }
            let touched = match &a {
                Action::Dispatch(d) => Some(d.model),
                Action::Drop { model, .. } => Some(*model),
                Action::Evict { gpu, model } => {
                    out.evict(*gpu, *model);
                    if let Some(o) = self.observer.as_mut() {
                        o.evict(*gpu, *model, now);
                    }
                    None
                }
                Action::Load { .. } | Action::Preempt { .. } => None,
            };
            match self.state.apply(now, a, &mut self.ends) {
                Effect::Exec(g) => self.try_start(g, now, out),
                Effect::Transfer(g) => self.try_transfer(g, now, out),
                Effect::None => {}
            }
            if let (Some(m), Some(o)) = (touched, self.observer.as_mut()) {
                o.queue(now, m, self.state.models[m].queue.len());
            }
        }
        self.decision.actions = actions;
        while let Some(ids) = self.state.spare_ids() {
            self.decision.give_ids(ids);
        }
        self.record_ends(out);
        match self.decision.wake_at {
            Some(w) => {
                assert!(
                    w > now,
                    "{}: wake_at {w} is not after now {now}",
                    self.policy.name()
                );
                if self.wake != Some(w) {
                    self.wake = Some(w);
                    out.wake(w);
                }
            }
            None => self.wake = None,
        }
    }
}

/// The arrivals of a scenario, drawn lazily, one stream per model instance,
/// seeded by instance name: every driver draws the very same requests.
pub struct Arrivals {
    streams: Vec<ArrivalStream>,
    /// The SLO of each open stream's pending arrival.
    slo: Vec<Option<Nanos>>,
    duration: Nanos,
}

/// Where a driver's first arrivals come from (see [`Arrivals::start`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// The pending arrival of an open stream: at its time, call
    /// [`Arrivals::take`] and then [`Server::arrive`].
    Arrival,
    /// A closed-loop client's send: call [`Server::arrive`] with no SLO.
    Send,
}

impl Arrivals {
    /// The arrival streams of `scenario`.
    pub fn new(scenario: &Scenario) -> Self {
        Arrivals {
            streams: scenario
                .models
                .iter()
                .map(|m| {
                    ArrivalStream::new(
                        m.arrival.clone(),
                        Rng::derive(scenario.seed, &format!("arrival/{}", m.name)),
                    )
                })
                .collect(),
            slo: vec![None; scenario.models.len()],
            duration: scenario.duration,
        }
    }

    /// The first arrivals, model by model: every first send of a closed loop,
    /// the first arrival of every other stream (within the run).
    pub fn start(&mut self, mut push: impl FnMut(Nanos, ModelId, Source)) {
        for m in 0..self.streams.len() {
            if self.streams[m].closed_think().is_some() {
                while let Some((t, _)) = self.streams[m].next() {
                    if t < self.duration {
                        push(t, m, Source::Send);
                    }
                }
            } else if let Some(t) = self.pull(m) {
                push(t, m, Source::Arrival);
            }
        }
    }

    fn pull(&mut self, m: ModelId) -> Option<Nanos> {
        match self.streams[m].next() {
            Some((t, slo)) if t < self.duration => {
                self.slo[m] = slo;
                Some(t)
            }
            _ => None,
        }
    }

    /// The pending arrival of open stream `m` happens: returns its SLO (if it
    /// has its own) and the time of the next one (if within the run).
    pub fn take(&mut self, m: ModelId) -> (Option<Nanos>, Option<Nanos>) {
        let slo = self.slo[m];
        (slo, self.pull(m))
    }
}

/// Execution-time noise of the simulator (`exec_cv`): one stream per model
/// instance, seeded by instance name.
pub struct ExecNoise {
    rngs: Vec<Rng>,
    cv: Vec<f64>,
}

impl ExecNoise {
    /// The noise streams of `scenario`.
    pub fn new(scenario: &Scenario) -> Self {
        ExecNoise {
            rngs: scenario
                .models
                .iter()
                .map(|m| Rng::derive(scenario.seed, &format!("exec/{}", m.name)))
                .collect(),
            cv: scenario.models.iter().map(|m| m.exec_cv).collect(),
        }
    }

    /// The duration of a batch of `model` whose profiled time is `expected`
    /// (exactly `expected` when the model's CV is 0; at least 1 ns).
    pub fn duration(&mut self, model: ModelId, expected: Nanos) -> Nanos {
        let cv = self.cv[model];
        if cv > 0.0 {
            let f = self.rngs[model].unit_mean(cv);
            ((expected as f64 * f).round() as Nanos).max(1)
        } else {
            expected
        }
    }
}
