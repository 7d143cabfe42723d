//! Helpers shared by the integration tests (both test binaries include this
//! file; each uses part of it).
#![allow(dead_code)]

use inferfair_sim::Scenario;
use std::path::{Path, PathBuf};

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

/// The files of a folder, by name, with their bytes.
pub fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

/// The implemented policies (the registry's names that accept default parameters).
pub fn policies() -> Vec<&'static str> {
    inferfair_sim::policy::NAMES
        .iter()
        .copied()
        .filter(|n| inferfair_sim::policy::check_params(n, &Default::default()).is_ok())
        .collect()
}

/// What holds of the recorded request ends of any run, simulated or replayed:
/// every request that arrived ended exactly once; a completed request started
/// after it arrived and is good exactly when it met its deadline; a request
/// that never ran has no start; the result's counters agree with the ends
/// (`inferfair_sim::check::request_ends`, which the swarm tester runs too).
pub fn check_request_ends(s: &Scenario, r: &inferfair_sim::RunResult, rec: &Recorder) {
    if let Err(e) = inferfair_sim::check::request_ends(s, r, rec) {
        panic!("{e}");
    }
}
