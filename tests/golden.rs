//! Golden results: every shipped scenario under every policy gives exactly
//! the results recorded in `tests/data/golden.txt` (each run cut to its first
//! few seconds so that CI stays fast). A line holds the overall counters and
//! a 64-bit FNV-1a digest of every request end (id, outcome, start, finish,
//! GPU, batch size) and every batch (GPU, model, size, start, finish), in the
//! order the run produced them: any change of behaviour changes the line.
//!
//! A change that is meant to change results regenerates the file with
//! `INFERFAIR_BLESS=1 cargo test --test tests golden` and says why in its
//! commit; `git diff tests/data/golden.txt` then shows which runs moved.
//! `golden_full` (ignored by default; run it in release:
//! `cargo test --release --test tests golden_full -- --ignored`) does the
//! same on the scenarios' full lengths against `tests/data/golden-full.txt`.

use crate::common::policies;
use inferfair_sim::Scenario;
use inferfair_sim::engine::Observer;
use inferfair_sim::state::{Batch, GpuId, RequestEnd};
use inferfair_sim::time::Nanos;
use std::path::{Path, PathBuf};

/// FNV-1a, 64 bits: stable across platforms and Rust versions.
#[derive(Default)]
struct Digest {
    ends: u64,
    batches: u64,
    h: u64,
}

impl Digest {
    fn new() -> Self {
        Digest {
            h: 0xcbf2_9ce4_8422_2325,
            ..Default::default()
        }
    }
    fn eat(&mut self, v: u64) {
        for b in v.to_le_bytes() {
            self.h ^= b as u64;
            self.h = self.h.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

impl Observer for Digest {
    fn request_end(&mut self, e: &RequestEnd) {
        self.ends += 1;
        self.eat(e.req.id);
        self.eat(e.outcome as u64);
        self.eat(e.start.unwrap_or(u64::MAX));
        self.eat(e.finish);
        self.eat(e.gpu.map_or(u64::MAX, |g| g as u64));
        self.eat(e.batch_size as u64);
    }
    fn batch(&mut self, gpu: GpuId, b: &Batch, start: Nanos, finish: Nanos) {
        self.batches += 1;
        self.eat(gpu as u64);
        self.eat(b.model as u64);
        self.eat(b.size as u64);
        self.eat(start);
        self.eat(finish);
    }
}

/// Every scenario file under `scenarios/`, sorted.
fn shipped() -> Vec<PathBuf> {
    fn walk(d: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "toml") {
                out.push(p);
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut v = Vec::new();
    walk(&root.join("scenarios"), &mut v);
    v.sort();
    v
}

/// The golden lines of every shipped scenario under every policy; `cut_s`
/// shortens each run to that many seconds of arrivals.
fn lines(cut_s: Option<f64>) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = String::new();
    for path in shipped() {
        let s = Scenario::load_with(&path, |f| {
            if let Some(cut) = cut_s {
                f.duration_s = f.duration_s.min(cut);
                f.warmup_s = f.warmup_s.min(cut / 4.0);
            }
        })
        .unwrap_or_else(|e| panic!("{e}"));
        let rel = path.strip_prefix(root).unwrap().display().to_string();
        for p in policies() {
            let mut d = Digest::new();
            let r = inferfair_sim::simulate(
                &s,
                p,
                inferfair_sim::RunOptions {
                    observer: Some(&mut d),
                    ..Default::default()
                },
            )
            .unwrap_or_else(|e| panic!("{rel} {p}: {e}"));
            let o = &r.overall;
            out.push_str(&format!(
                "{rel} {p}: arrived {} good {} late {} dropped {} unfinished {} ends {} batches {} digest {:016x}\n",
                o.arrived, o.good, o.late, o.dropped, o.unfinished, d.ends, d.batches, d.h
            ));
        }
    }
    out
}

fn check(file: &str, cut_s: Option<f64>) {
    let path = crate::common::data().join(file);
    let got = lines(cut_s);
    if std::env::var_os("INFERFAIR_BLESS").is_some() {
        std::fs::write(&path, &got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_default();
    if got != want {
        let diff: Vec<String> = got
            .lines()
            .filter(|l| !want.lines().any(|w| w == *l))
            .map(|l| format!("  now: {l}"))
            .chain(
                want.lines()
                    .filter(|w| !got.lines().any(|l| l == *w))
                    .map(|w| format!("  was: {w}")),
            )
            .collect();
        panic!(
            "results differ from {}:\n{}\nIf the change is meant, rerun with INFERFAIR_BLESS=1 and say why in the commit.",
            path.display(),
            diff.join("\n")
        );
    }
}

#[test]
fn golden() {
    check("golden.txt", Some(3.0));
}

#[test]
#[ignore = "full-length runs: use a release build"]
fn golden_full() {
    check("golden-full.txt", None);
}
