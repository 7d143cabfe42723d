//! The real-time driver: the simulator's serving core ([`Server`]) with
//! wall-clock time (nanoseconds since the run's start) as `now`.
//!
//! Arrivals come from the very same [`Arrivals`] streams as the simulator's
//! (same seed, same requests) and are released at their wall-clock times;
//! the policy is consulted through the same trait; the core's commands run
//! on a backend, one worker thread per batch a GPU may run at once and one
//! per GPU for weight transfers; completions come back over a channel with
//! their measured start and finish. A batch the policy preempts is cancelled on
//! its backend (its runner stops: the cpu backend's wait ends at once, the
//! cuda backend stops after the chunk of layers in flight) and what its
//! runner reports is discarded: the serving core has already put its
//! requests back in their queue and counted its GPU time, up to the
//! preemption, as wasted. Between inputs the driver sleeps until shortly before
//! its next deadline (or until a completion arrives) and spins only the rest
//! of the way.

use crate::backend::{Backend, Cancel, ExecJob, Slots, Span};
use crate::clock::{Clock, SPIN_NS};
use anyhow::{Context, Result, anyhow, bail};
use inferfair_sim::RunResult;
use inferfair_sim::event::EventQueue;
use inferfair_sim::hist::Histogram;
use inferfair_sim::metrics::Metrics;
use inferfair_sim::policy::Policy;
use inferfair_sim::scenario::Scenario;
use inferfair_sim::serve::{Arrivals, Command, ExecNoise, Observer, Server, Source};
use inferfair_sim::state::{BatchId, GpuId, ModelId};
use inferfair_sim::time::Nanos;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Options of a replay.
#[derive(Default)]
pub struct ReplayOptions<'a> {
    /// Receives every request end, batch and load.
    pub observer: Option<&'a mut dyn Observer>,
    /// Called now and then with the fraction of the run's time done.
    pub progress: Option<&'a mut dyn FnMut(f64)>,
    /// Count good requests per bin of this width (for timelines).
    pub timeline_bin: Option<Nanos>,
}

/// One batch as it ran.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchRecord {
    /// The GPU.
    pub gpu: GpuId,
    /// The batch.
    pub batch: BatchId,
    /// The model instance.
    pub model: ModelId,
    /// The (padded) batch size.
    pub size: u32,
    /// Requests in it.
    pub requests: u32,
    /// Its profiled execution time.
    pub expected_ns: Nanos,
    /// The duration given to the backend (profiled, with the scenario's noise).
    pub target_ns: Nanos,
    /// When the driver started it.
    pub issued: Nanos,
    /// Measured.
    pub span: Span,
}

/// One weight transfer as it ran.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoadRecord {
    /// The GPU.
    pub gpu: GpuId,
    /// The model instance.
    pub model: ModelId,
    /// Its profiled load time.
    pub expected_ns: Nanos,
    /// When the driver started it.
    pub issued: Nanos,
    /// Measured.
    pub span: Span,
}

/// What a replay hands back.
pub struct Replayed {
    /// The same results as a simulation's.
    pub result: RunResult,
    /// Every batch that finished within the run, in order of completion.
    pub batches: Vec<BatchRecord>,
    /// Every batch that was preempted (its span: as its runner reported it
    /// after it stopped), in order of preemption.
    pub preempted: Vec<BatchRecord>,
    /// Every transfer that finished within the run.
    pub loads: Vec<LoadRecord>,
    /// How late the driver released timed inputs (arrivals, sends, timers)
    /// after their times: a measure of the replay's own fidelity.
    pub lateness: Histogram,
}

enum Job {
    Exec(ExecJob),
    Load { model: ModelId, target: Nanos },
    Evict { model: ModelId },
}

enum Done {
    Batch(GpuId, BatchId, Span),
    Load(GpuId, Span),
    Failed(GpuId, String),
}

impl Done {
    fn time(&self) -> Nanos {
        match self {
            Done::Batch(_, _, s) | Done::Load(_, s) => s.finish,
            Done::Failed(..) => 0,
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Timer {
    Arrival(ModelId),
    Send(ModelId),
    GpuReady(GpuId),
    Wake(Nanos),
}

fn panic_text(p: Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic".into())
}

/// Runs one job, turning an error or a panic into a message.
fn guarded<T>(gpu: GpuId, f: impl FnOnce() -> Result<T>) -> Result<T, Done> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(s)) => Ok(s),
        Ok(Err(e)) => Err(Done::Failed(gpu, format!("{e:#}"))),
        Err(p) => Err(Done::Failed(gpu, panic_text(p))),
    }
}

/// Replays `scenario` under `policy` on `backend`, in real time: it takes
/// the scenario's duration plus drain (less when everything is done early).
pub fn replay(
    scenario: &Scenario,
    policy: &mut dyn Policy,
    backend: &dyn Backend,
    opts: ReplayOptions,
) -> Result<Replayed> {
    let wall = std::time::Instant::now();
    let name = policy.name().to_string();
    let params = policy.params();
    let cap = policy.max_concurrent();
    let metrics = Metrics::new(scenario, opts.timeline_bin);
    let mut server = Server::new(scenario, policy, metrics, opts.observer);
    let mut gpus = Vec::with_capacity(scenario.cluster.gpus);
    for g in 0..scenario.cluster.gpus {
        // Each GPU runs its pool's profile; a model its pool cannot run is
        // never dispatched there, and stands in with its fastest profile.
        let pool = scenario.cluster.pool_of(g);
        let profiles: Vec<_> = scenario
            .models
            .iter()
            .map(|m| m.profile_on(pool).unwrap_or_else(|| m.fastest()).clone())
            .collect();
        let state = &server.state().gpus[g];
        let slots = Slots {
            k: state.max_concurrent,
            interference: scenario.cluster.pools[pool].interference.clone(),
        };
        gpus.push(
            backend
                .open(g, &profiles, &state.resident, &slots)
                .with_context(|| {
                    format!("cannot open GPU {g} of the {} backend", backend.name())
                })?,
        );
    }
    let mut progress = opts.progress;
    let (done_tx, done_rx) = mpsc::channel::<Done>();
    let clock = Clock::start();
    let out = std::thread::scope(|scope| -> Result<_> {
        let mut exec_tx: Vec<Sender<Job>> = Vec::new();
        let mut copy_tx: Vec<Sender<Job>> = Vec::new();
        let mut cancel: Vec<Arc<dyn Cancel>> = Vec::new();
        for (g, gpu) in gpus.into_iter().enumerate() {
            cancel.push(gpu.cancel.clone());
            let (tx, rx) = mpsc::channel::<Job>();
            exec_tx.push(tx);
            // The GPU's runners take its batches from one queue: the core
            // never starts more than there are runners.
            let rx = Arc::new(Mutex::new(rx));
            for mut exec in gpu.execs {
                let done = done_tx.clone();
                let rx = rx.clone();
                scope.spawn(move || {
                    loop {
                        let job = match rx.lock().map(|r| r.recv()) {
                            Ok(Ok(job)) => job,
                            _ => break,
                        };
                        let Job::Exec(job) = job else {
                            continue;
                        };
                        let msg = match guarded(g, || exec.run(&clock, &job)) {
                            Ok(span) => Done::Batch(g, job.batch, span),
                            Err(d) => d,
                        };
                        if done.send(msg).is_err() {
                            break;
                        }
                    }
                });
            }
            let (tx, rx) = mpsc::channel::<Job>();
            copy_tx.push(tx);
            let done = done_tx.clone();
            let mut copier = gpu.copier;
            scope.spawn(move || {
                while let Ok(job) = rx.recv() {
                    let msg = match job {
                        Job::Load { model, target } => {
                            match guarded(g, || copier.load(&clock, model, target)) {
                                Ok(span) => Done::Load(g, span),
                                Err(d) => d,
                            }
                        }
                        Job::Evict { model } => match guarded(g, || copier.evict(model)) {
                            Ok(()) => continue,
                            Err(d) => d,
                        },
                        Job::Exec { .. } => continue,
                    };
                    if done.send(msg).is_err() {
                        break;
                    }
                }
            });
        }
        drop(done_tx);
        let mut d = Driver {
            scenario,
            clock,
            timers: EventQueue::new(),
            arrivals: Arrivals::new(scenario),
            noise: ExecNoise::new(scenario),
            exec_tx,
            copy_tx,
            cancel,
            running: vec![Vec::new(); scenario.cluster.gpus],
            aborted: Vec::new(),
            preempted: Vec::new(),
            loading: vec![None; scenario.cluster.gpus],
            inflight: 0,
            batches: Vec::new(),
            loads: Vec::new(),
            lateness: Histogram::new(),
            events: 0,
        };
        let mut tick = |f: f64| {
            if let Some(p) = progress.as_mut() {
                p(f)
            }
        };
        let r = d.run(&mut server, &done_rx, &mut tick);
        // Dropping the senders lets the workers finish what they run and stop.
        let Driver {
            batches,
            loads,
            lateness,
            events,
            mut preempted,
            aborted,
            ..
        } = d;
        // Preempted batches whose runner had not reported when the run ended.
        preempted.extend(aborted);
        r.map(|stop| (stop, batches, preempted, loads, lateness, events))
    })?;
    let (stop, batches, preempted, loads, lateness, events) = out;
    let (metrics, requests) = server.finish(stop);
    if let Some(p) = progress.as_mut() {
        p(1.0);
    }
    let mut result = RunResult::from_metrics(
        scenario,
        name,
        params,
        metrics,
        events,
        requests,
        wall.elapsed().as_secs_f64(),
    );
    result.cap_concurrency(cap);
    Ok(Replayed {
        result,
        batches,
        preempted,
        loads,
        lateness,
    })
}

/// What the interference model knows of a batch of `model` at `size` on `gpu`.
fn server_runner(
    scenario: &Scenario,
    gpu: GpuId,
    model: ModelId,
    size: u32,
) -> inferfair_sim::interference::Runner {
    let m = &scenario.models[model];
    let util = m
        .profile_on(scenario.cluster.pool_of(gpu))
        .and_then(|p| p.util_for(size))
        .unwrap_or(1.0);
    inferfair_sim::interference::Runner { kind: m.kind, util }
}

struct Driver<'a> {
    scenario: &'a Scenario,
    clock: Clock,
    timers: EventQueue<Timer>,
    arrivals: Arrivals,
    noise: ExecNoise,
    exec_tx: Vec<Sender<Job>>,
    copy_tx: Vec<Sender<Job>>,
    /// Per GPU: stops its preempted batches.
    cancel: Vec<Arc<dyn Cancel>>,
    /// The batches running on each GPU (without their spans yet).
    running: Vec<Vec<BatchRecord>>,
    /// Preempted batches whose runner has not reported yet.
    aborted: Vec<BatchRecord>,
    /// Preempted batches, with the span their runner reported.
    preempted: Vec<BatchRecord>,
    loading: Vec<Option<LoadRecord>>,
    inflight: usize,
    batches: Vec<BatchRecord>,
    loads: Vec<LoadRecord>,
    lateness: Histogram,
    events: u64,
}

const NO_SPAN: Span = Span {
    start: 0,
    finish: 0,
    device_ns: None,
};

impl Driver<'_> {
    /// Runs to the end; returns the time the run stopped.
    fn run(
        &mut self,
        server: &mut Server,
        rx: &Receiver<Done>,
        progress: &mut dyn FnMut(f64),
    ) -> Result<Nanos> {
        let end = self.scenario.duration + self.scenario.drain;
        let timers = &mut self.timers;
        self.arrivals.start(|t, m, src| {
            timers.push(
                t,
                match src {
                    Source::Arrival => Timer::Arrival(m),
                    Source::Send => Timer::Send(m),
                },
            )
        });
        let mut cmds = Vec::new();
        server.init(&mut cmds);
        self.dispatch(&mut cmds, 0)?;
        let mut pending: Vec<Done> = Vec::new();
        let mut last = 0;
        let mut shown = 0;
        loop {
            loop {
                match rx.try_recv() {
                    Ok(d) => pending.push(d),
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => bail!("the backend's workers stopped"),
                }
            }
            let now = self.clock.now().max(last);
            last = now;
            let due = now.min(end);
            // Inputs in time order: completions by measured finish, timers by their time.
            pending.sort_by_key(Done::time);
            let mut any = false;
            let mut i = 0;
            loop {
                let tc = pending.get(i).map(Done::time).filter(|&t| t <= end);
                let tt = self.timers.peek_time().filter(|&t| t <= due);
                match (tc, tt) {
                    (None, None) => break,
                    (Some(c), Some(t)) if t < c => self.timer(server, now, &mut cmds),
                    (Some(_), _) => {
                        self.done(server, now, &pending[i], &mut cmds)?;
                        i += 1;
                    }
                    (None, Some(_)) => self.timer(server, now, &mut cmds),
                }
                // Commands are handed on after each input, in order.
                self.dispatch(&mut cmds, now)?;
                any = true;
            }
            pending.clear();
            if any {
                server.decide(now, &mut cmds);
                self.dispatch(&mut cmds, now)?;
            }
            if now >= end {
                return Ok(end);
            }
            if self.timers.is_empty() && self.inflight == 0 {
                return Ok(now);
            }
            if now >= shown + 100_000_000 {
                shown = now;
                progress(now as f64 / end as f64);
            }
            // Wait for the next deadline or a completion.
            let deadline = self.timers.peek_time().unwrap_or(end).min(end);
            let now = self.clock.now();
            if deadline <= now {
                continue;
            }
            let left = deadline - now;
            if left > SPIN_NS {
                match rx.recv_timeout(Duration::from_nanos(left - SPIN_NS)) {
                    Ok(d) => pending.push(d),
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => bail!("the backend's workers stopped"),
                }
            } else {
                loop {
                    match rx.try_recv() {
                        Ok(d) => {
                            pending.push(d);
                            break;
                        }
                        Err(TryRecvError::Empty) => {}
                        Err(TryRecvError::Disconnected) => bail!("the backend's workers stopped"),
                    }
                    if self.clock.now() >= deadline {
                        break;
                    }
                    std::thread::yield_now();
                }
            }
        }
    }

    fn timer(&mut self, server: &mut Server, now: Nanos, cmds: &mut Vec<Command>) {
        let (t, timer) = self.timers.pop().expect("a due timer");
        self.events += 1;
        self.lateness.record(now - t);
        match timer {
            Timer::Arrival(m) => {
                // A later arrival of the stream is pushed before this one is
                // told, as the engine does.
                let (slo, next) = self.arrivals.take(m);
                server.arrive(now, t, m, slo);
                if let Some(n) = next {
                    self.timers.push(n, Timer::Arrival(m));
                }
            }
            Timer::Send(m) => {
                server.arrive(now, t, m, None);
            }
            Timer::GpuReady(g) => server.gpu_ready(now, g, cmds),
            Timer::Wake(at) => server.wake(at),
        }
    }

    fn done(
        &mut self,
        server: &mut Server,
        now: Nanos,
        d: &Done,
        cmds: &mut Vec<Command>,
    ) -> Result<()> {
        self.events += 1;
        match *d {
            Done::Batch(g, batch, span) => {
                if let Some(i) = self.aborted.iter().position(|r| r.batch == batch) {
                    // Preempted: the core no longer knows it.
                    let mut rec = self.aborted.remove(i);
                    rec.span = span;
                    self.preempted.push(rec);
                    self.inflight -= 1;
                    return Ok(());
                }
                let i = self.running[g]
                    .iter()
                    .position(|r| r.batch == batch)
                    .expect("the batch was running");
                let mut rec = self.running[g].remove(i);
                rec.span = span;
                self.batches.push(rec);
                self.inflight -= 1;
                server.batch_done(now, g, batch, span.start, span.finish, cmds);
            }
            Done::Load(g, span) => {
                let mut rec = self.loading[g].take().expect("a transfer was running");
                rec.span = span;
                self.loads.push(rec);
                self.inflight -= 1;
                server.transfer_done(now, g, span.start, span.finish, cmds);
            }
            Done::Failed(g, ref what) => bail!("GPU {g}: {what}"),
        }
        Ok(())
    }

    fn send(tx: &Sender<Job>, g: GpuId, job: Job) -> Result<()> {
        tx.send(job)
            .map_err(|_| anyhow!("GPU {g}: the backend's worker stopped"))
    }

    /// Hands the core's commands to the workers and the timers.
    fn dispatch(&mut self, cmds: &mut Vec<Command>, now: Nanos) -> Result<()> {
        for c in cmds.drain(..) {
            match c {
                Command::Exec {
                    gpu,
                    batch,
                    model,
                    size,
                    requests,
                    expected_ns,
                } => {
                    let target = self.noise.duration(model, expected_ns);
                    let runner = server_runner(self.scenario, gpu, model, size);
                    self.running[gpu].push(BatchRecord {
                        gpu,
                        batch,
                        model,
                        size,
                        requests,
                        expected_ns,
                        target_ns: target,
                        issued: now,
                        span: NO_SPAN,
                    });
                    self.inflight += 1;
                    Self::send(
                        &self.exec_tx[gpu],
                        gpu,
                        Job::Exec(ExecJob {
                            batch,
                            model,
                            size,
                            target_ns: target,
                            runner,
                        }),
                    )?;
                }
                Command::Transfer {
                    gpu,
                    model,
                    expected_ns,
                } => {
                    self.loading[gpu] = Some(LoadRecord {
                        gpu,
                        model,
                        expected_ns,
                        issued: now,
                        span: NO_SPAN,
                    });
                    self.inflight += 1;
                    Self::send(
                        &self.copy_tx[gpu],
                        gpu,
                        Job::Load {
                            model,
                            target: expected_ns,
                        },
                    )?;
                }
                Command::Abort { gpu, batch } => {
                    let i = self.running[gpu]
                        .iter()
                        .position(|r| r.batch == batch)
                        .expect("a preempted batch was running");
                    self.aborted.push(self.running[gpu].remove(i));
                    self.cancel[gpu].cancel(batch);
                }
                Command::Evict { gpu, model } => {
                    Self::send(&self.copy_tx[gpu], gpu, Job::Evict { model })?
                }
                Command::GpuReady { gpu, at } => self.timers.push(at, Timer::GpuReady(gpu)),
                Command::Wake { at } => self.timers.push(at, Timer::Wake(at)),
                Command::Send { model, at } => self.timers.push(at, Timer::Send(model)),
            }
        }
        Ok(())
    }
}
