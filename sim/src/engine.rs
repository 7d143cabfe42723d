//! The discrete-event engine: pop the earliest events (all those at the same
//! time), apply them to the serving state, tell the policy, let it decide,
//! apply its actions, and schedule what follows. Arrivals are drawn lazily,
//! one pending arrival per model, so few events are ever pending.

use crate::event::EventQueue;
use crate::metrics::Metrics;
use crate::policy::{Action, Decision, Notice, Policy, View};
use crate::rng::Rng;
use crate::scenario::Scenario;
use crate::state::{Batch, Effect, GpuId, ModelId, Outcome, Ready, RequestEnd, State};
use crate::time::Nanos;
use crate::workload::ArrivalStream;

/// Receives what happens during a run (request logs, timelines).
pub trait Observer {
    /// A request ended.
    fn request_end(&mut self, _end: &RequestEnd) {}
    /// A batch ran on `gpu` from `start` to `finish`.
    fn batch(&mut self, _gpu: GpuId, _batch: &Batch, _start: Nanos, _finish: Nanos) {}
    /// A model was loaded on `gpu` from `start` to `finish`.
    fn load(&mut self, _gpu: GpuId, _model: ModelId, _start: Nanos, _finish: Nanos) {}
    /// A model was evicted from `gpu` at `now`.
    fn evict(&mut self, _gpu: GpuId, _model: ModelId, _now: Nanos) {}
    /// `model`'s queue holds `len` pending requests at `now`.
    fn queue(&mut self, _now: Nanos, _model: ModelId, _len: usize) {}
}

#[derive(Clone, Copy, Debug)]
enum Event {
    /// The next arrival of an open-loop stream (its time and SLO are in `next_arrival`).
    Arrival(ModelId),
    /// A closed-loop client sends a request.
    Send(ModelId),
    /// The running batch of a GPU ends.
    BatchDone(GpuId),
    /// The running transfer of a GPU ends.
    TransferDone(GpuId),
    /// The front batch of a GPU may start (its `not_before` has come).
    GpuReady(GpuId),
    /// The policy asked to be called.
    Wake,
}

/// What a finished run hands back.
pub struct Finished {
    /// The counters.
    pub metrics: Metrics,
    /// Events processed.
    pub events: u64,
    /// Requests that arrived (in and out of the window).
    pub requests: u64,
}

/// One simulation run.
pub struct Engine<'s, 'p, 'o> {
    scenario: &'s Scenario,
    state: State,
    policy: &'p mut dyn Policy,
    events: EventQueue<Event>,
    streams: Vec<ArrivalStream>,
    next_arrival: Vec<(Nanos, Option<Nanos>)>,
    think: Vec<Option<Nanos>>,
    noise: Vec<Rng>,
    metrics: Metrics,
    observer: Option<&'o mut dyn Observer>,
    decision: Decision,
    ends: Vec<RequestEnd>,
    wake: Option<Nanos>,
    now: Nanos,
    processed: u64,
}

impl<'s, 'p, 'o> Engine<'s, 'p, 'o> {
    /// A run of `scenario` under `policy`; `metrics` decides what is counted.
    pub fn new(
        scenario: &'s Scenario,
        policy: &'p mut dyn Policy,
        metrics: Metrics,
        observer: Option<&'o mut dyn Observer>,
    ) -> Self {
        let streams: Vec<ArrivalStream> = scenario
            .models
            .iter()
            .map(|m| {
                ArrivalStream::new(
                    m.arrival.clone(),
                    Rng::derive(scenario.seed, &format!("arrival/{}", m.name)),
                )
            })
            .collect();
        let think = streams.iter().map(|s| s.closed_think()).collect();
        Engine {
            scenario,
            state: State::new(scenario),
            policy,
            events: EventQueue::new(),
            next_arrival: vec![(0, None); streams.len()],
            streams,
            think,
            noise: scenario
                .models
                .iter()
                .map(|m| Rng::derive(scenario.seed, &format!("exec/{}", m.name)))
                .collect(),
            metrics,
            observer,
            decision: Decision::default(),
            ends: Vec::new(),
            wake: None,
            now: 0,
            processed: 0,
        }
    }

    /// Runs to the end; `progress` is called now and then with the fraction of simulated time done.
    pub fn run(mut self, mut progress: Option<&mut dyn FnMut(f64)>) -> Finished {
        let end = self.scenario.duration + self.scenario.drain;
        for m in 0..self.streams.len() {
            if self.think[m].is_some() {
                while let Some((t, _)) = self.streams[m].next() {
                    if t < self.scenario.duration {
                        self.events.push(t, Event::Send(m));
                    }
                }
            } else {
                self.pull_arrival(m);
            }
        }
        {
            let view = View {
                now: 0,
                models: &self.state.models,
                gpus: &self.state.gpus,
            };
            self.policy.init(&view, &mut self.decision);
        }
        self.apply_decision();
        while let Some(t) = self.events.peek_time() {
            if t > end {
                break;
            }
            self.now = t;
            while self.events.peek_time() == Some(t) {
                let (_, ev) = self.events.pop().unwrap();
                self.handle(ev);
            }
            self.decide();
            if self.processed & 0xFFFF == 0
                && let Some(p) = progress.as_mut()
            {
                p(t as f64 / end as f64);
            }
        }
        let stop = if self.events.is_empty() {
            self.now
        } else {
            end
        };
        self.state.finish_all(stop, &mut self.ends);
        for e in self.ends.drain(..) {
            self.metrics.end(&e);
            if let Some(o) = self.observer.as_mut() {
                o.request_end(&e);
            }
        }
        if let Some(p) = progress.as_mut() {
            p(1.0);
        }
        Finished {
            requests: self.state.requests_arrived(),
            metrics: self.metrics,
            events: self.processed,
        }
    }

    fn pull_arrival(&mut self, m: ModelId) {
        if let Some((t, slo)) = self.streams[m].next()
            && t < self.scenario.duration
        {
            self.next_arrival[m] = (t, slo);
            self.events.push(t, Event::Arrival(m));
        }
    }

    fn arrive(&mut self, m: ModelId, slo: Option<Nanos>) {
        let req = self.state.arrive(m, self.now, slo);
        self.metrics.arrival(&req);
        let view = View {
            now: self.now,
            models: &self.state.models,
            gpus: &self.state.gpus,
        };
        self.policy.notify(&view, &Notice::Arrival(req));
        if let Some(o) = self.observer.as_mut() {
            o.queue(self.now, m, self.state.models[m].queue.len());
        }
    }

    fn handle(&mut self, ev: Event) {
        self.processed += 1;
        match ev {
            Event::Arrival(m) => {
                let (_, slo) = self.next_arrival[m];
                self.arrive(m, slo);
                self.pull_arrival(m);
            }
            Event::Send(m) => self.arrive(m, None),
            Event::BatchDone(g) => {
                let start = self.state.gpus[g].exec[0].started_at.expect("running");
                let batch = self.state.finish(g, start, self.now, &mut self.ends);
                self.metrics
                    .batch(g, batch.model, batch.requests.len(), start, self.now);
                if let Some(o) = self.observer.as_mut() {
                    o.batch(g, &batch, start, self.now);
                }
                let view = View {
                    now: self.now,
                    models: &self.state.models,
                    gpus: &self.state.gpus,
                };
                self.policy.notify(
                    &view,
                    &Notice::BatchDone {
                        gpu: g,
                        batch: &batch,
                        started: start,
                        finished: self.now,
                    },
                );
                self.record_ends();
                self.try_start(g);
            }
            Event::TransferDone(g) => {
                let start = self.state.gpus[g].transfers[0].started_at.expect("running");
                let t = self.state.finish_transfer(g, self.now);
                if let Some(o) = self.observer.as_mut() {
                    o.load(g, t.model, start, self.now);
                }
                let view = View {
                    now: self.now,
                    models: &self.state.models,
                    gpus: &self.state.gpus,
                };
                self.policy.notify(
                    &view,
                    &Notice::LoadDone {
                        gpu: g,
                        model: t.model,
                        started: start,
                        finished: self.now,
                    },
                );
                self.try_transfer(g);
                self.try_start(g);
            }
            Event::GpuReady(g) => self.try_start(g),
            Event::Wake => {
                if self.wake == Some(self.now) {
                    self.wake = None;
                }
            }
        }
    }

    /// Records ended requests; closed-loop clients think and send again.
    fn record_ends(&mut self) {
        for i in 0..self.ends.len() {
            let e = self.ends[i];
            self.metrics.end(&e);
            if let Some(o) = self.observer.as_mut() {
                o.request_end(&e);
            }
            if let (Some(think), true) = (self.think[e.req.model], e.outcome != Outcome::Unfinished)
            {
                let t = e.finish + think.max(1);
                if t < self.scenario.duration {
                    self.events.push(t, Event::Send(e.req.model));
                }
            }
        }
        self.ends.clear();
    }

    fn try_start(&mut self, g: GpuId) {
        loop {
            match self.state.ready(g, self.now) {
                Ready::No | Ready::WaitLoad => return,
                Ready::At(t) => {
                    self.events.push(t, Event::GpuReady(g));
                    return;
                }
                Ready::Reject => {
                    let batch = self.state.reject(g, self.now, &mut self.ends);
                    let view = View {
                        now: self.now,
                        models: &self.state.models,
                        gpus: &self.state.gpus,
                    };
                    self.policy.notify(
                        &view,
                        &Notice::BatchRejected {
                            gpu: g,
                            batch: &batch,
                        },
                    );
                    self.record_ends();
                }
                Ready::Now => {
                    let now = self.now;
                    let b = self.state.start(g, now);
                    let cv = self.scenario.models[b.model].exec_cv;
                    let dur = if cv > 0.0 {
                        let f = self.noise[b.model].unit_mean(cv);
                        ((b.expected_ns as f64 * f).round() as Nanos).max(1)
                    } else {
                        b.expected_ns
                    };
                    self.events.push(now + dur, Event::BatchDone(g));
                    return;
                }
            }
        }
    }

    fn try_transfer(&mut self, g: GpuId) {
        if self.state.transfer_ready(g) {
            let t = self.state.start_transfer(g, self.now);
            self.events
                .push(self.now + t.expected_ns, Event::TransferDone(g));
        }
    }

    fn decide(&mut self) {
        self.decision.clear();
        let view = View {
            now: self.now,
            models: &self.state.models,
            gpus: &self.state.gpus,
        };
        self.policy.decide(&view, &mut self.decision);
        self.apply_decision();
    }

    fn apply_decision(&mut self) {
        let mut actions = std::mem::take(&mut self.decision.actions);
        for a in actions.drain(..) {
            let touched = match &a {
                Action::Dispatch(d) => Some(d.model),
                Action::Drop { model, .. } => Some(*model),
                _ => None,
            };
            if let (Action::Evict { gpu, model }, Some(o)) = (&a, self.observer.as_mut()) {
                o.evict(*gpu, *model, self.now);
            }
            match self.state.apply(self.now, a, &mut self.ends) {
                Effect::Exec(g) => self.try_start(g),
                Effect::Transfer(g) => self.try_transfer(g),
                Effect::None => {}
            }
            if let (Some(m), Some(o)) = (touched, self.observer.as_mut()) {
                o.queue(self.now, m, self.state.models[m].queue.len());
            }
        }
        self.decision.actions = actions;
        self.record_ends();
        match self.decision.wake_at {
            Some(w) => {
                assert!(
                    w > self.now,
                    "{}: wake_at {w} is not after now {}",
                    self.policy.name(),
                    self.now
                );
                if self.wake != Some(w) {
                    self.wake = Some(w);
                    self.events.push(w, Event::Wake);
                }
            }
            None => self.wake = None,
        }
    }
}
