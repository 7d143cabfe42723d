//! Invariant checkers over what a run did, shared by the integration tests
//! and the swarm tester (`inferfair swarm`). A [`Recorder`] observes a run;
//! each check returns the first violation found, in words:
//!
//! - every request that arrived ended exactly once, a completed request
//!   started after it arrived and is good exactly when it met its deadline,
//!   a request that never ran has no start, and the result's counters agree
//!   with the ends ([`request_ends`]);
//! - no GPU runs two batches at once, and a batch holds at most its padded
//!   size, which is one of the model's batch sizes ([`batches`]);
//! - the weights on a GPU never exceed its memory ([`memory`]);
//! - without execution noise, a batch runs exactly its profiled time
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
}

impl Observer for Recorder {
    fn request_end(&mut self, e: &RequestEnd) {
        self.ends.push(*e);
    }
    fn batch(&mut self, gpu: GpuId, b: &Batch, start: Nanos, finish: Nanos) {
        self.batches
            .push((gpu, b.model, b.requests.len(), b.size, start, finish));
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

/// No GPU overlap; batch sizes within the model's (see the module doc).
pub fn batches(s: &Scenario, rec: &Recorder) -> Result<(), Violation> {
    for g in 0..s.cluster.gpus {
        let mut spans: Vec<_> = rec
            .batches
            .iter()
            .filter(|b| b.0 == g)
            .map(|b| (b.4, b.5))
            .collect();
        spans.sort_unstable();
        if let Some(w) = spans.windows(2).find(|w| w[0].1 > w[1].0) {
            return Err(format!("gpu {g} runs two batches at once: {w:?}"));
        }
    }
    for b in &rec.batches {
        let p = &s.models[b.1].profile;
        if b.2 == 0 || b.2 as u32 > b.3 || !p.batch_sizes.contains(&b.3) {
            return Err(format!(
                "batch (gpu, model, requests, size, start, finish) = {b:?} is not a batch size of {} ({:?})",
                p.name, p.batch_sizes
            ));
        }
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
        for (t, _, kind, m) in events {
            let bytes = s.models[m].profile.weights_bytes;
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
/// batch's profiled time.
pub fn exact_times(s: &Scenario, rec: &Recorder) -> Result<(), Violation> {
    for e in &rec.ends {
        let m = &s.models[e.req.model];
        if let (Some(start), 0.0) = (e.start, m.exec_cv) {
            let want = m.profile.exec_exact(e.batch_size);
            if want != Some(e.finish - start) {
                return Err(format!(
                    "request ran {} ns in a batch of {}, whose profiled time is {want:?}: {e:?}",
                    e.finish - start,
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
    batches(s, rec)?;
    memory(s, rec)?;
    exact_times(s, rec)
}
