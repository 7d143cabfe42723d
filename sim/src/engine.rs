//! The discrete-event engine: simulated time over the serving core of
//! [`crate::serve`]. It pops the earliest events (all those at the same
//! time), feeds them to the core, lets the policy decide once, and schedules
//! what the core's commands ask for, with execution times from the profile
//! (and the scenario's noise). Arrivals are drawn lazily, one pending arrival
//! per model, so few events are ever pending.
//!
//! On a GPU that runs batches concurrently, each start or end re-times the
//! other running batches ([`crate::interference::Fluid`]): their end events
//! are pushed again at the new times, and an end event that no longer
//! matches its batch's scheduled end is skipped when it comes.
//!
//! A preempted batch's end event is skipped too: with several batches at
//! once it left the fluid model (the others are re-timed); one at a time,
//! its id waits in a short list until its end event comes (nothing else
//! changes, so runs without preemption keep their exact event order).

use crate::error::{Error, Result};
use crate::event::EventQueue;
use crate::interference::{Fluid, Interference};
use crate::limits::MAX_PENDING;
use crate::metrics::Metrics;
use crate::policy::Policy;
use crate::scenario::Scenario;
use crate::serve::{Arrivals, ExecNoise, Server, Source, Timing};
use crate::state::{Batch, BatchId, GpuId, ModelId};
use crate::time::Nanos;
use std::sync::Arc;

pub use crate::serve::Observer;

#[derive(Clone, Copy, Debug)]
enum Event {
    /// The pending arrival of an open-loop stream.
    Arrival(ModelId),
    /// A closed-loop client sends a request.
    Send(ModelId),
    /// A running batch of a GPU ends (if this is still its scheduled end).
    BatchDone(GpuId, BatchId),
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

/// Decision rounds at one instant of simulated time, at most: more means the
/// run livelocks (every event at that time schedules another at that time).
pub const MAX_SAME_INSTANT: u64 = 100_000;

/// One simulation run.
pub struct Engine<'s, 'p, 'o> {
    scenario: &'s Scenario,
    server: Server<'p, 'o>,
    events: EventQueue<Event>,
    arrivals: Arrivals,
    noise: ExecNoise,
    timers: Vec<ExecTimer>,
    now: Nanos,
    processed: u64,
    max_events: u64,
    max_pending: usize,
}

/// How one GPU's running batches progress, with their actual (noisy) work.
struct ExecTimer {
    /// Batches that may run at once (1: one at a time, no re-timing).
    k: u32,
    fluid: Fluid,
    interference: Arc<Interference>,
    /// The scheduled end of each running batch (only when `k > 1`).
    ends: Vec<(BatchId, Nanos)>,
    /// Preempted batches whose end event is still pending (only when `k == 1`).
    aborted: Vec<BatchId>,
}

impl ExecTimer {
    /// Pushes an end event for every running batch whose end moved.
    fn reschedule(&mut self, gpu: GpuId, events: &mut EventQueue<Event>) {
        let mut ends: Vec<(BatchId, Nanos)> = self.fluid.ends().collect();
        for &(id, end) in &ends {
            if !self.ends.contains(&(id, end)) {
                events.push(end, Event::BatchDone(gpu, id));
            }
        }
        std::mem::swap(&mut self.ends, &mut ends);
    }

    /// Whether an end event of `id` at `t` is the batch's scheduled end
    /// (an end of a preempted batch is taken off the list and skipped).
    fn is_due(&mut self, id: BatchId, t: Nanos) -> bool {
        if self.k > 1 {
            return self.ends.contains(&(id, t));
        }
        match self.aborted.iter().position(|&a| a == id) {
            Some(i) => {
                self.aborted.swap_remove(i);
                false
            }
            None => true,
        }
    }

    /// Batch `id` was preempted at `now`.
    fn abort(&mut self, gpu: GpuId, id: BatchId, now: Nanos, events: &mut EventQueue<Event>) {
        if self.k == 1 {
            self.aborted.push(id);
        } else {
            self.fluid.finish(now, id, &self.interference);
            self.reschedule(gpu, events);
        }
    }
}

impl<'s, 'p, 'o> Engine<'s, 'p, 'o> {
    /// A run of `scenario` under `policy`; `metrics` decides what is counted.
    pub fn new(
        scenario: &'s Scenario,
        policy: &'p mut dyn Policy,
        metrics: Metrics,
        observer: Option<&'o mut dyn Observer>,
    ) -> Self {
        Engine {
            scenario,
            server: Server::new(scenario, policy, metrics, observer),
            events: EventQueue::new(),
            arrivals: Arrivals::new(scenario),
            noise: ExecNoise::new(scenario),
            timers: (0..scenario.cluster.gpus)
                .map(|g| {
                    let pool = &scenario.cluster.pools[scenario.cluster.pool_of(g)];
                    ExecTimer {
                        k: pool.max_concurrent,
                        fluid: Fluid::default(),
                        interference: pool.interference.clone(),
                        ends: Vec::new(),
                        aborted: Vec::new(),
                    }
                })
                .collect(),
            now: 0,
            processed: 0,
            max_events: u64::MAX,
            max_pending: MAX_PENDING,
        }
    }

    /// Stops the run with an error after `max_events` events (a watchdog for
    /// policies that wake without making progress; none by default) or when
    /// more than `max_pending` requests wait at once (default [`MAX_PENDING`]).
    pub fn with_limits(mut self, max_events: Option<u64>, max_pending: Option<usize>) -> Self {
        self.max_events = max_events.unwrap_or(u64::MAX);
        self.max_pending = max_pending.unwrap_or(MAX_PENDING);
        self
    }

    /// Runs to the end; `progress` is called now and then with the fraction
    /// of simulated time done. Stops with [`Error::Limit`] when more than
    /// [`MAX_PENDING`] requests wait at once (a policy that never drops, far
    /// past capacity) or past the event limit (see [`Engine::with_limits`]).
    pub fn run(mut self, mut progress: Option<&mut dyn FnMut(f64)>) -> Result<Finished> {
        let end = self.scenario.duration + self.scenario.drain;
        let events = &mut self.events;
        self.arrivals.start(|t, m, src| {
            events.push(
                t,
                match src {
                    Source::Arrival => Event::Arrival(m),
                    Source::Send => Event::Send(m),
                },
            )
        });
        self.server.init(&mut sink(
            &mut self.events,
            &mut self.noise,
            &mut self.timers,
            0,
        ));
        let mut same_instant = 0u64;
        while let Some(t) = self.events.peek_time() {
            if t > end {
                break;
            }
            same_instant = if t == self.now { same_instant + 1 } else { 0 };
            if same_instant > MAX_SAME_INSTANT {
                return Err(Error::Limit(format!(
                    "{} under {}: time stopped at {:.6} s: the policy took {MAX_SAME_INSTANT} decisions without time advancing (e.g. loading and evicting models whose load takes 0 ns, load_us = 0 in the profile)",
                    self.scenario.name,
                    self.server.policy_name(),
                    crate::time::secs(t)
                )));
            }
            self.now = t;
            let mut any = false;
            while self.events.peek_time() == Some(t) {
                let (_, ev) = self.events.pop().unwrap();
                any |= self.handle(ev);
            }
            if !any {
                // Only end events of batches that were re-timed since.
                continue;
            }
            self.server.decide(
                t,
                &mut sink(&mut self.events, &mut self.noise, &mut self.timers, t),
            );
            if self.server.state().queued() > self.max_pending {
                return Err(self.overflow(t));
            }
            if self.processed > self.max_events {
                return Err(Error::Limit(format!(
                    "{} under {}: stopped at {:.6} s of simulated time after {} events (the limit of this run): the policy may be waking without progress",
                    self.scenario.name,
                    self.server.policy_name(),
                    crate::time::secs(t),
                    self.processed
                )));
            }
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
        let (metrics, requests) = self.server.finish(stop);
        if let Some(p) = progress.as_mut() {
            p(1.0);
        }
        Ok(Finished {
            requests,
            metrics,
            events: self.processed,
        })
    }

    fn overflow(&self, t: Nanos) -> Error {
        let st = self.server.state();
        let m = st
            .models
            .iter()
            .max_by_key(|m| (m.queue.len(), std::cmp::Reverse(m.id)))
            .expect("a scenario has models");
        Error::Limit(format!(
            "{} under {}: stopped at {:.3} s of simulated time with {} requests waiting (`{}` alone holds {}), more than the limit of {} (with the default limit, about 1-2 GB of memory): the offered load is far past what the policy serves and it does not drop requests; lower the load (rate_scale, fewer clients) or use a policy that drops late requests (clockwork, inferfair)",
            self.scenario.name,
            self.server.policy_name(),
            crate::time::secs(t),
            st.queued(),
            m.name,
            m.queue.len(),
            self.max_pending
        ))
    }

    /// Handles one event; false for a stale batch end (re-timed or preempted: nothing happened).
    fn handle(&mut self, ev: Event) -> bool {
        let now = self.now;
        if let Event::BatchDone(g, id) = ev
            && !self.timers[g].is_due(id, now)
        {
            return false;
        }
        self.processed += 1;
        match ev {
            Event::Arrival(m) => {
                let (slo, next) = self.arrivals.take(m);
                self.server.arrive(now, now, m, slo);
                if let Some(t) = next {
                    self.events.push(t, Event::Arrival(m));
                }
            }
            Event::Send(m) => {
                self.server.arrive(now, now, m, None);
            }
            Event::BatchDone(g, id) => {
                let start = self.server.state().gpus[g]
                    .running_batches()
                    .find(|b| b.id == id)
                    .and_then(|b| b.started_at)
                    .expect("running");
                let timer = &mut self.timers[g];
                if timer.k > 1 {
                    timer.fluid.finish(now, id, &timer.interference);
                    timer.reschedule(g, &mut self.events);
                }
                let out = &mut sink(&mut self.events, &mut self.noise, &mut self.timers, now);
                self.server.batch_done(now, g, id, start, now, out);
            }
            Event::TransferDone(g) => {
                let start = self.server.state().gpus[g].transfers[0]
                    .started_at
                    .expect("running");
                let out = &mut sink(&mut self.events, &mut self.noise, &mut self.timers, now);
                self.server.transfer_done(now, g, start, now, out);
            }
            Event::GpuReady(g) => self.server.gpu_ready(
                now,
                g,
                &mut sink(&mut self.events, &mut self.noise, &mut self.timers, now),
            ),
            Event::Wake => self.server.wake(now),
        }
        true
    }
}

/// Turns the core's commands at `now` into events.
struct Sink<'a> {
    events: &'a mut EventQueue<Event>,
    noise: &'a mut ExecNoise,
    timers: &'a mut [ExecTimer],
    now: Nanos,
}

#[inline]
fn sink<'a>(
    events: &'a mut EventQueue<Event>,
    noise: &'a mut ExecNoise,
    timers: &'a mut [ExecTimer],
    now: Nanos,
) -> Sink<'a> {
    Sink {
        events,
        noise,
        timers,
        now,
    }
}

impl Timing for Sink<'_> {
    #[inline]
    fn exec(&mut self, gpu: GpuId, b: &Batch) {
        let dur = self.noise.duration(b.model, b.expected_ns);
        let timer = &mut self.timers[gpu];
        if timer.k == 1 {
            self.events
                .push(self.now.saturating_add(dur), Event::BatchDone(gpu, b.id));
        } else {
            timer
                .fluid
                .start(self.now, b.id, b.runner(), dur, &timer.interference);
            timer.reschedule(gpu, self.events);
        }
    }
    #[inline]
    fn transfer(&mut self, gpu: GpuId, _model: ModelId, expected_ns: Nanos) {
        self.events.push(
            self.now.saturating_add(expected_ns),
            Event::TransferDone(gpu),
        );
    }
    #[inline]
    fn abort(&mut self, gpu: GpuId, batch: BatchId) {
        self.timers[gpu].abort(gpu, batch, self.now, self.events);
    }
    #[inline]
    fn evict(&mut self, _gpu: GpuId, _model: ModelId) {}
    #[inline]
    fn gpu_ready(&mut self, gpu: GpuId, at: Nanos) {
        self.events.push(at, Event::GpuReady(gpu));
    }
    #[inline]
    fn wake(&mut self, at: Nanos) {
        self.events.push(at, Event::Wake);
    }
    #[inline]
    fn send(&mut self, model: ModelId, at: Nanos) {
        self.events.push(at, Event::Send(model));
    }
}
