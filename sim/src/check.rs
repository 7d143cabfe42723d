//! Invariant checkers over what a run did, shared by the integration tests
//! and the swarm tester (`inferfair swarm`). A [`Recorder`] observes a run;
//! each check returns the first violation found, in words:
//!
//! - every request that arrived ended exactly once, a completed request
//!   started after it arrived and is good exactly when it met its deadline,
//!   a request that never ran has no start, and the result's counters agree
//!   with the ends ([`request_ends`]);
//! - a GPU runs at most as many batches at once as it may (one, unless its
//!   pool runs several), counting preempted ones until their preemption, and
//!   a batch holds at most its padded size, which is one of the model's
//!   batch sizes on that GPU's pool ([`batches`]);
//! - a preempted batch had started, never also finished, and is counted
//!   once in the metrics ([`preemptions`]);
//! - the weights on a GPU never exceed its memory ([`memory`]);
//! - without execution noise, a batch runs exactly its profiled time on a
//!   GPU that runs one at a time, and at least that beside others
//!   ([`exact_times`], the simulator only).

use crate::RunResult;
use crate::engine::Observer;
use crate::scenario::Scenario;
use crate::state::{Batch, GpuId, ModelId, Outcome, RequestEnd, State};
use crate::time::Nanos;

/// Records everything a run does.
#[derive(Clone, Default, Debug)]
pub struct Recorder {
    /// Every request end, in the order they happened (sort by id to compare).
    pub ends: Vec<RequestEnd>,
    /// (GPU, model, requests, padded size, start, finish) of every batch.
    pub batches: Vec<(GpuId, ModelId, usize, u32, Nanos, Nanos)>,
    /// (GPU, model, start, finish) of every weight transfer.
    pub loads: Vec<(GpuId, ModelId, Nanos, Nanos)>,
    /// (GPU, model, time) of every eviction.
    pub evicts: Vec<(GpuId, ModelId, Nanos)>,
    /// When each load and each eviction was observed, counted over both
    /// (orders events at the same time).
    pub load_seq: Vec<u64>,
    /// See `load_seq`.
    pub evict_seq: Vec<u64>,
    /// Every batch start: (GPU, batch id, model, padded size, start).
    pub starts: Vec<(GpuId, u64, ModelId, u32, Nanos)>,
    /// The id of each of `batches`.
    pub batch_ids: Vec<u64>,
    /// Every preempted batch: (GPU, batch id, model, start, preempted at).
    pub preempted: Vec<(GpuId, u64, ModelId, Nanos, Nanos)>,
}

impl Observer for Recorder {
    fn request_end(&mut self, e: &RequestEnd) {
        self.ends.push(*e);
    }
    fn batch_start(&mut self, gpu: GpuId, b: &Batch, now: Nanos) {
        self.starts.push((gpu, b.id, b.model, b.size, now));
    }
    fn batch(&mut self, gpu: GpuId, b: &Batch, start: Nanos, finish: Nanos) {
        self.batches
            .push((gpu, b.model, b.requests.len(), b.size, start, finish));
        self.batch_ids.push(b.id);
    }
    fn preempted(&mut self, gpu: GpuId, b: &Batch, start: Nanos, now: Nanos) {
        self.preempted.push((gpu, b.id, b.model, start, now));
    }
    fn load(&mut self, gpu: GpuId, model: ModelId, start: Nanos, finish: Nanos) {
        self.loads.push((gpu, model, start, finish));
        self.load_seq
            .push((self.load_seq.len() + self.evict_seq.len()) as u64);
    }
    fn evict(&mut self, gpu: GpuId, model: ModelId, now: Nanos) {
        self.evicts.push((gpu, model, now));
        self.evict_seq
            .push((self.load_seq.len() + self.evict_seq.len()) as u64);
    }
}

/// A violation, in words.
pub type Violation = String;

/// Request ends and counters (see the module doc). `rec.ends` must be
/// sorted by request id.
pub fn request_ends(s: &Scenario, r: &RunResult, rec: &Recorder) -> Result<(), Violation> {
    if rec.ends.len() as u64 != r.requests
        || rec
            .ends
            .iter()
            .enumerate()
            .any(|(i, e)| e.req.id != i as u64)
    {
        let dup = rec.ends.windows(2).find(|w| w[0].req.id == w[1].req.id);
        return Err(format!(
            "each request must end exactly once: {} requests arrived, {} ends recorded{}",
            r.requests,
            rec.ends.len(),
            dup.map(|w| format!(" (request {} ends twice)", w[0].req.id))
                .unwrap_or_default()
        ));
    }
    for e in &rec.ends {
        match e.outcome {
            Outcome::Good | Outcome::Late => {
                let Some(start) = e.start else {
                    return Err(format!("a completed request has no start: {e:?}"));
                };
                if start < e.req.arrival || e.finish <= start {
                    return Err(format!(
                        "a request ran before it arrived or took no time: {e:?}"
                    ));
                }
                if (e.outcome == Outcome::Good) != (e.finish <= e.req.deadline) {
                    return Err(format!("good is not 'finished by the deadline': {e:?}"));
                }
            }
            Outcome::Dropped | Outcome::Unfinished => {
                if e.start.is_some() {
                    return Err(format!("a request that never ran has a start: {e:?}"));
                }
            }
        }
    }
    for (i, m) in r.models.iter().enumerate() {
        let mut c = [0u64; 4];
        for e in &rec.ends {
            if e.req.model == i && e.req.arrival >= s.warmup && e.req.arrival < s.duration {
                c[e.outcome as usize] += 1;
            }
        }
        if [m.good, m.late, m.dropped, m.unfinished] != c {
            return Err(format!(
                "the counters of {} (good, late, dropped, unfinished) = {:?} disagree with its request ends {c:?}",
                m.model,
                (m.good, m.late, m.dropped, m.unfinished)
            ));
        }
        if m.arrived != c.iter().sum::<u64>() {
            return Err(format!(
                "{}: arrived {} is not good + late + dropped + unfinished = {}",
                m.model,
                m.arrived,
                c.iter().sum::<u64>()
            ));
        }
    }
    Ok(())
}

/// At most as many batches at once on a GPU as it may run; batch sizes
/// within the model's on the GPU's pool (see the module doc).
pub fn batches(s: &Scenario, r: &RunResult, rec: &Recorder) -> Result<(), Violation> {
    for g in 0..s.cluster.gpus {
        let k = r.gpus[g].max_concurrent.max(1) as i64;
        // (time, +1 at a start / -1 at an end): ends first at equal times.
        let mut ev: Vec<(Nanos, i64)> = Vec::new();
        let spans = rec
            .batches
            .iter()
            .filter(|b| b.0 == g)
            .map(|b| (b.4, b.5))
            .chain(
                rec.preempted
                    .iter()
                    .filter(|p| p.0 == g)
                    .map(|p| (p.3, p.4)),
            );
        for (start, end) in spans.filter(|sp| sp.0 < sp.1) {
            ev.push((start, 1));
            ev.push((end, -1));
        }
        ev.sort_unstable();
        let mut running = 0;
        for (t, d) in ev {
            running += d;
            if running > k {
                return Err(format!(
                    "gpu {g} runs {running} batches at once at {t} ns, more than its {k}"
                ));
            }
        }
    }
    for b in &rec.batches {
        let Some(p) = s.models[b.1].profile_on(s.cluster.pool_of(b.0)) else {
            return Err(format!(
                "batch (gpu, model, requests, size, start, finish) = {b:?} runs where model {} cannot",
                s.models[b.1].name
            ));
        };
        if b.2 == 0 || b.2 as u32 > b.3 || !p.batch_sizes.contains(&b.3) {
            return Err(format!(
                "batch (gpu, model, requests, size, start, finish) = {b:?} is not a batch size of {} ({:?})",
                p.name, p.batch_sizes
            ));
        }
    }
    Ok(())
}

/// Preempted batches: each started and was not also reported done, was
/// preempted no earlier than its start, and is counted once in the metrics;
/// wasted GPU time is part of the busy time.
pub fn preemptions(s: &Scenario, r: &RunResult, rec: &Recorder) -> Result<(), Violation> {
    let mut done = rec.batch_ids.clone();
    done.sort_unstable();
    for p in &rec.preempted {
        if !rec
            .starts
            .iter()
            .any(|st| st.1 == p.1 && st.0 == p.0 && st.4 == p.3)
        {
            return Err(format!(
                "preempted batch (gpu, id, model, start, at) = {p:?} never started"
            ));
        }
        if done.binary_search(&p.1).is_ok() {
            return Err(format!("batch {} both preempted and done", p.1));
        }
        if p.4 < p.3 {
            return Err(format!("batch {p:?} preempted before it started"));
        }
    }
    let in_window = |t: Nanos| t >= s.warmup && t < s.duration;
    let counted = rec.preempted.iter().filter(|p| in_window(p.3)).count() as u64;
    let per_gpu: u64 = r.gpus.iter().map(|g| g.preemptions).sum();
    let per_model: u64 = r.models.iter().map(|m| m.preempted).sum();
    if (r.overall.preemptions, per_gpu, per_model) != (counted, counted, counted) {
        return Err(format!(
            "{counted} batches preempted in the window, but the results count {} overall, {per_gpu} over GPUs and {per_model} over models",
            r.overall.preemptions
        ));
    }
    for g in &r.gpus {
        // (A batch that started before the window is not counted, but the
        // time it lost inside the window is.)
        let any = rec.preempted.iter().any(|p| p.0 == g.gpu);
        if !(g.wasted >= 0.0 && g.wasted <= g.utilization + 1e-12) || (!any && g.wasted != 0.0) {
            return Err(format!(
                "gpu {}: wasted time {} against utilization {} with {} preemptions",
                g.gpu, g.wasted, g.utilization, g.preemptions
            ));
        }
    }
    if let Some(m) = r
        .models
        .iter()
        .find(|m| m.wasted_share > m.gpu_share + 1e-12)
    {
        return Err(format!(
            "model {}: wasted share {} above its GPU share {}",
            m.model, m.wasted_share, m.gpu_share
        ));
    }
    Ok(())
}

/// Weights never exceed a GPU's memory: models are counted from the start
/// of their transfer (or from time 0 if preloaded) to their eviction.
pub fn memory(s: &Scenario, rec: &Recorder) -> Result<(), Violation> {
    let initial = State::new(s);
    for (g, gpu) in initial.gpus.iter().enumerate() {
        // (time, when observed, 0 = evict / 1 = load, model)
        let mut events: Vec<(Nanos, u64, u8, ModelId)> = Vec::new();
        for (l, &q) in rec.loads.iter().zip(&rec.load_seq) {
            if l.0 == g {
                events.push((l.2, q, 1, l.1));
            }
        }
        for (e, &q) in rec.evicts.iter().zip(&rec.evict_seq) {
            if e.0 == g {
                events.push((e.2, q, 0, e.1));
            }
        }
        events.sort_unstable();
        let mut resident: Vec<bool> = (0..s.models.len()).map(|m| gpu.is_resident(m)).collect();
        let mut used: u64 = gpu.used_bytes;
        let pool = s.cluster.pool_of(g);
        for (t, _, kind, m) in events {
            let Some(p) = s.models[m].profile_on(pool) else {
                return Err(format!(
                    "gpu {g} moves the weights of model {m} at {t} ns, which its pool cannot run"
                ));
            };
            let bytes = p.weights_bytes;
            if kind == 0 {
                if !resident[m] {
                    return Err(format!(
                        "gpu {g} evicts model {m} at {t} ns, which is not on it"
                    ));
                }
                resident[m] = false;
                used -= bytes;
            } else {
                if resident[m] {
                    return Err(format!(
                        "gpu {g} loads model {m} at {t} ns, which is already on it"
                    ));
                }
                resident[m] = true;
                used += bytes;
                if used > gpu.capacity_bytes {
                    return Err(format!(
                        "gpu {g} holds {used} bytes of weights at {t} ns, more than its {} bytes",
                        gpu.capacity_bytes
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Without noise (`exec_cv` 0), every completed request ran exactly its
/// batch's profiled time on a GPU that runs one batch at a time, and at
/// least that long beside other batches.
pub fn exact_times(s: &Scenario, r: &RunResult, rec: &Recorder) -> Result<(), Violation> {
    for e in &rec.ends {
        let m = &s.models[e.req.model];
        if let (Some(start), Some(g), 0.0) = (e.start, e.gpu, m.exec_cv) {
            let want = m
                .profile_on(s.cluster.pool_of(g))
                .and_then(|p| p.exec_exact(e.batch_size));
            let took = e.finish - start;
            let ok = match want {
                Some(w) if r.gpus[g].max_concurrent <= 1 => took == w,
                Some(w) => took + 1 >= w,
                None => false,
            };
            if !ok {
                return Err(format!(
                    "request ran {took} ns in a batch of {} on gpu {g}, whose profiled time is {want:?}: {e:?}",
                    e.batch_size
                ));
            }
        }
    }
    Ok(())
}

/// Every check of a simulated run.
pub fn simulated(s: &Scenario, r: &RunResult, rec: &Recorder) -> Result<(), Violation> {
    request_ends(s, r, rec)?;
    preemptions(s, r, rec)?;
    batches(s, r, rec)?;
    memory(s, rec)?;
    exact_times(s, r, rec)
}
