//! Helpers shared by the integration tests (both test binaries include this
//! file; each uses part of it).
#![allow(dead_code)]

use inferfair_sim::Scenario;
use inferfair_sim::engine::Observer;
use inferfair_sim::state::{Batch, GpuId, ModelId, Outcome, RequestEnd};
use inferfair_sim::time::Nanos;
use std::path::{Path, PathBuf};

/// A policy that does what it is told at given times (and nothing else).
pub struct Script {
    steps: Vec<(Nanos, Vec<inferfair_sim::policy::Action>)>,
    next: usize,
}

impl Script {
    /// Takes each step's actions at its time (steps in time order).
    pub fn new(steps: Vec<(Nanos, Vec<inferfair_sim::policy::Action>)>) -> Self {
        Script { steps, next: 0 }
    }
}

impl inferfair_sim::policy::Policy for Script {
    fn name(&self) -> &'static str {
        "script"
    }
    fn params(&self) -> toml::Table {
        toml::Table::new()
    }
    fn decide(
        &mut self,
        view: &inferfair_sim::policy::View,
        out: &mut inferfair_sim::policy::Decision,
    ) {
        while let Some((t, actions)) = self.steps.get(self.next) {
            if *t > view.now {
                out.wake_at = Some(*t);
                return;
            }
            out.actions.extend(actions.iter().cloned());
            self.next += 1;
        }
    }
}

/// The folder of test data.
pub fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

/// A scenario from TOML text, with paths relative to `tests/data`.
pub fn scenario(text: &str) -> Scenario {
    Scenario::parse(text, &data().join("inline.toml")).unwrap_or_else(|e| panic!("{e}"))
}

/// Records everything a run does.
#[derive(Default, Debug)]
pub struct Recorder {
    pub ends: Vec<RequestEnd>,
    pub batches: Vec<(GpuId, ModelId, usize, u32, Nanos, Nanos)>,
    pub loads: Vec<(GpuId, ModelId, Nanos, Nanos)>,
    pub evicts: Vec<(GpuId, ModelId, Nanos)>,
    /// Every batch start: (gpu, batch id, model, size, start).
    pub starts: Vec<(GpuId, u64, ModelId, u32, Nanos)>,
    /// The id of each of `batches`.
    pub batch_ids: Vec<u64>,
    /// Every preempted batch: (gpu, batch id, model, start, preempted at).
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
    }
    fn evict(&mut self, gpu: GpuId, model: ModelId, now: Nanos) {
        self.evicts.push((gpu, model, now));
    }
}

/// Runs `s` under `policy` and records everything.
pub fn record(s: &Scenario, policy: &str) -> (inferfair_sim::RunResult, Recorder) {
    let mut rec = Recorder::default();
    let r = inferfair_sim::simulate(
        s,
        policy,
        inferfair_sim::RunOptions {
            observer: Some(&mut rec),
            ..Default::default()
        },
    )
    .unwrap();
    rec.ends.sort_by_key(|e| e.req.id);
    (r, rec)
}

/// The `inferfair` binary.
pub fn bin() -> std::process::Command {
    std::process::Command::new(env!("CARGO_BIN_EXE_inferfair"))
}

/// A fresh temporary folder for one test.
pub fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("inferfair-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The files under a folder, by path relative to it, with their bytes.
pub fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                let name = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
                out.push((name, std::fs::read(&p).unwrap()));
            }
        }
    }
    let mut v = Vec::new();
    walk(dir, dir, &mut v);
    v.sort();
    v
}

/// Every policy that can be built (built in or registered) and accepts
/// default parameters: the shared invariant checks run on each.
pub fn policies() -> Vec<&'static str> {
    inferfair_sim::policy::names()
        .into_iter()
        .filter(|n| inferfair_sim::policy::check_params(n, &Default::default()).is_ok())
        .collect()
}

/// What holds of the recorded request ends of any run, simulated or replayed:
/// every request that arrived ended exactly once; a completed request started
/// after it arrived and is good exactly when it met its deadline; a request
/// that never ran has no start; the result's counters agree with the ends.
pub fn check_request_ends(s: &Scenario, r: &inferfair_sim::RunResult, rec: &Recorder) {
    let ids: Vec<u64> = rec.ends.iter().map(|e| e.req.id).collect();
    assert_eq!(
        ids,
        (0..r.requests).collect::<Vec<_>>(),
        "each request ends exactly once"
    );
    for e in &rec.ends {
        match e.outcome {
            Outcome::Good | Outcome::Late => {
                let start = e.start.unwrap();
                assert!(start >= e.req.arrival && e.finish > start, "{e:?}");
                assert_eq!(
                    e.outcome == Outcome::Good,
                    e.finish <= e.req.deadline,
                    "{e:?}"
                );
            }
            Outcome::Dropped | Outcome::Unfinished => assert!(e.start.is_none(), "{e:?}"),
        }
    }
    for (i, m) in r.models.iter().enumerate() {
        let measured = |o: Outcome| {
            rec.ends
                .iter()
                .filter(|e| {
                    e.req.model == i
                        && e.outcome == o
                        && e.req.arrival >= s.warmup
                        && e.req.arrival < s.duration
                })
                .count() as u64
        };
        assert_eq!(
            (m.good, m.late, m.dropped, m.unfinished),
            (
                measured(Outcome::Good),
                measured(Outcome::Late),
                measured(Outcome::Dropped),
                measured(Outcome::Unfinished)
            ),
            "counters of {}",
            m.model
        );
        assert_eq!(m.arrived, m.good + m.late + m.dropped + m.unfinished);
    }
    check_preemptions(s, r, rec);
}

/// What holds of preempted batches: each started (and was not reported as
/// done), was preempted no earlier than its start, and is counted once in
/// the metrics; its lost GPU time is part of the busy time.
pub fn check_preemptions(s: &Scenario, r: &inferfair_sim::RunResult, rec: &Recorder) {
    for p in &rec.preempted {
        assert!(
            rec.starts
                .iter()
                .any(|st| st.1 == p.1 && st.0 == p.0 && st.4 == p.3),
            "preempted batch {p:?} never started"
        );
        assert!(
            !rec.batch_ids.contains(&p.1),
            "batch {} both preempted and done",
            p.1
        );
        assert!(p.4 >= p.3, "{p:?}");
    }
    let in_window = |t: Nanos| t >= s.warmup && t < s.duration;
    let counted = rec.preempted.iter().filter(|p| in_window(p.3)).count() as u64;
    assert_eq!(r.overall.preemptions, counted);
    assert_eq!(r.gpus.iter().map(|g| g.preemptions).sum::<u64>(), counted);
    assert_eq!(r.models.iter().map(|m| m.preempted).sum::<u64>(), counted);
    for g in &r.gpus {
        assert!(
            g.wasted >= 0.0 && g.wasted <= g.utilization + 1e-12,
            "{g:?}"
        );
        assert!(g.preemptions > 0 || g.wasted == 0.0, "{g:?}");
    }
    for m in &r.models {
        assert!(m.wasted_share <= m.gpu_share + 1e-12, "{m:?}");
    }
}

/// The repository's root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}
