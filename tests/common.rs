//! Helpers shared by the integration tests (both test binaries include this
//! file; each uses part of it).
#![allow(dead_code)]

use inferfair_sim::Scenario;
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

/// Records everything a run does (shared with the swarm tester).
pub use inferfair_sim::check::Recorder;

/// Runs `s` under `policy` and records everything (request ends by id).
pub fn record(s: &Scenario, policy: &str) -> (inferfair_sim::RunResult, Recorder) {
    let mut p = inferfair_sim::policy::build(policy, s).unwrap();
    record_with(s, p.as_mut())
}

/// Runs `s` under a policy object and records everything (request ends by id).
pub fn record_with(
    s: &Scenario,
    policy: &mut dyn inferfair_sim::policy::Policy,
) -> (inferfair_sim::RunResult, Recorder) {
    let mut rec = Recorder::default();
    let r = inferfair_sim::run::simulate_with(
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
/// that never ran has no start; the result's counters agree with the ends;
/// preempted batches had started, did not also finish and are counted once
/// (`inferfair_sim::check::request_ends` and `preemptions`, which the swarm
/// tester runs too).
pub fn check_request_ends(s: &Scenario, r: &inferfair_sim::RunResult, rec: &Recorder) {
    let checks = inferfair_sim::check::request_ends(s, r, rec)
        .and_then(|()| inferfair_sim::check::preemptions(s, r, rec));
    if let Err(e) = checks {
        panic!("{e}");
    }
}

/// The repository's root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}
