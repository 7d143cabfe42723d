//! `profile measure --pairs` and `--util`: how much batches that run at once
//! on one GPU slow each other down, measured on a backend with two batch
//! runners (two CUDA streams on the cuda backend).
//!
//! - Pairs: for every (victim, aggressor) pair of the chosen models, at one
//!   representative batch size, the victim is timed alone, then again while
//!   the aggressor runs in a loop on the other runner; the slowdown is the
//!   ratio of the medians (at least 1). The result is the simulator's
//!   pairwise interference table (`victim,aggressor,slowdown`).
//! - Util: for every model and batch size, two copies run at once in a loop;
//!   with the utilization model and no contention, s = max(1, 2 util), so
//!   util = s / 2 (0.5 when they do not slow each other at all: "at most 0.5").
//!
//! On the cpu backend both reproduce the simulator's own model (it emulates
//! the GPU from it): useful to test the command, not to learn anything.

use crate::backend::{Backend, Exec, ExecJob, Slots};
use crate::clock::Clock;
use crate::measure::{MeasureOptions, Stat};
use anyhow::{Context, Result, bail};
use inferfair_sim::interference::Runner;
use inferfair_sim::profile::{ModelProfile, Profile};
use inferfair_sim::time::Nanos;
use std::sync::atomic::{AtomicBool, Ordering};

/// One measured pair.
#[derive(Clone, Debug, PartialEq)]
pub struct Pair {
    /// The model timed.
    pub victim: String,
    /// The model running beside it.
    pub aggressor: String,
    /// Victim time beside the aggressor over victim time alone (>= 1).
    pub slowdown: f64,
}

/// One model's estimated utils, per batch size.
#[derive(Clone, Debug, PartialEq)]
pub struct Utils {
    /// The model.
    pub name: String,
    /// (batch size, util).
    pub utils: Vec<(u32, f64)>,
}

fn job(i: usize, m: &ModelProfile, size: u32, batch: u64) -> ExecJob {
    let k = m.padded_index(size).expect("an allowed size");
    ExecJob {
        batch,
        model: i,
        size: m.batch_sizes[k],
        target_ns: m.exec_ns[k],
        runner: Runner {
            kind: i as u32,
            util: m.util[k],
        },
    }
}

/// Runs `aggressor` in a loop on `other` while `f` runs.
fn beside<T>(
    clock: &Clock,
    other: &mut Box<dyn Exec>,
    aggressor: ExecJob,
    f: impl FnOnce() -> Result<T>,
) -> Result<T> {
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        let h = s.spawn(|| -> Result<()> {
            let mut job = aggressor;
            while !stop.load(Ordering::Relaxed) {
                other.run(clock, &job)?;
                job.batch += 2;
            }
            Ok(())
        });
        // Let the aggressor get going first.
        std::thread::sleep(std::time::Duration::from_millis(2));
        let r = f();
        stop.store(true, Ordering::Relaxed);
        h.join().expect("the aggressor's thread")?;
        r
    })
}

fn chosen(profile: &Profile, models: &[String]) -> Result<Vec<ModelProfile>> {
    for m in models {
        if profile.get(m).is_none() {
            bail!(
                "unknown model `{m}` (the profile has: {})",
                profile.names().join(", ")
            );
        }
    }
    Ok(profile
        .models
        .iter()
        .filter(|m| models.is_empty() || models.contains(&m.name))
        .cloned()
        .collect())
}

fn timed(
    exec: &mut Box<dyn Exec>,
    clock: &Clock,
    j: &mut ExecJob,
    opts: MeasureOptions,
) -> Result<Nanos> {
    for _ in 0..opts.warmup {
        exec.run(clock, j)?;
        j.batch += 2;
    }
    let mut v = Vec::new();
    for _ in 0..opts.reps.max(1) {
        let s = exec.run(clock, j)?;
        v.push(s.finish - s.start);
        j.batch += 2;
    }
    Ok(Stat::of(v).median_ns)
}

/// Measures every pair of `models` (all when empty) of `profile` at batch
/// size `size` (each model's smallest allowed size that holds it) on GPU 0.
pub fn pairs(
    backend: &dyn Backend,
    profile: &Profile,
    models: &[String],
    size: u32,
    opts: MeasureOptions,
    progress: &mut dyn FnMut(&str),
) -> Result<Vec<Pair>> {
    let ms = chosen(profile, models)?;
    let all: Vec<usize> = (0..ms.len()).collect();
    let mut gpu = backend.open(
        0,
        &ms,
        &all,
        &Slots {
            k: 2,
            ..Default::default()
        },
    )?;
    if gpu.execs.len() < 2 {
        bail!(
            "the {} backend opened fewer than two batch runners",
            backend.name()
        );
    }
    let clock = Clock::start();
    let (first, rest) = gpu.execs.split_at_mut(1);
    let (victim_exec, other) = (&mut first[0], &mut rest[0]);
    let at = |m: &ModelProfile| size.min(m.max_batch());
    let mut out = Vec::new();
    for (v, vm) in ms.iter().enumerate() {
        progress(&vm.name);
        let mut j = job(v, vm, at(vm), 0);
        let alone = timed(victim_exec, &clock, &mut j, opts)
            .with_context(|| format!("running {} alone", vm.name))?;
        for (a, am) in ms.iter().enumerate() {
            let agg = job(a, am, at(am), 1);
            let together = beside(&clock, other, agg, || {
                timed(victim_exec, &clock, &mut j, opts)
            })
            .with_context(|| format!("running {} beside {}", vm.name, am.name))?;
            out.push(Pair {
                victim: vm.name.clone(),
                aggressor: am.name.clone(),
                slowdown: (together as f64 / alone.max(1) as f64).max(1.0),
            });
        }
    }
    Ok(out)
}

/// Estimates the util of every model of `models` (all when empty) at every
/// batch size: two copies at once, util = slowdown / 2.
pub fn utils(
    backend: &dyn Backend,
    profile: &Profile,
    models: &[String],
    opts: MeasureOptions,
    progress: &mut dyn FnMut(&str),
) -> Result<Vec<Utils>> {
    let ms = chosen(profile, models)?;
    let all: Vec<usize> = (0..ms.len()).collect();
    let mut gpu = backend.open(
        0,
        &ms,
        &all,
        &Slots {
            k: 2,
            ..Default::default()
        },
    )?;
    if gpu.execs.len() < 2 {
        bail!(
            "the {} backend opened fewer than two batch runners",
            backend.name()
        );
    }
    let clock = Clock::start();
    let (first, rest) = gpu.execs.split_at_mut(1);
    let (one, other) = (&mut first[0], &mut rest[0]);
    let mut out = Vec::new();
    for (i, m) in ms.iter().enumerate() {
        progress(&m.name);
        let mut utils = Vec::new();
        for &b in &m.batch_sizes {
            let mut j = job(i, m, b, 0);
            let alone = timed(one, &clock, &mut j, opts)?;
            let together = beside(&clock, other, job(i, m, b, 1), || {
                timed(one, &clock, &mut j, opts)
            })?;
            let s = (together as f64 / alone.max(1) as f64).max(1.0);
            utils.push((b, (s / 2.0).clamp(0.05, 1.0)));
        }
        out.push(Utils {
            name: m.name.clone(),
            utils,
        });
    }
    Ok(out)
}

/// The pairwise table as CSV, with `comments` first.
pub fn pairs_csv(comments: &[String], pairs: &[Pair]) -> String {
    let mut s = String::new();
    for c in comments {
        s.push_str(&format!("# {c}\n"));
    }
    s.push_str("victim,aggressor,slowdown\n");
    for p in pairs {
        s.push_str(&format!("{},{},{:.4}\n", p.victim, p.aggressor, p.slowdown));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn the_cpu_backend_reproduces_the_utilization_model() {
        // a keeps 0.4 of the GPU busy, b 0.9: a beside a runs at full speed
        // (0.8), every pair with b is slowed by the sum of utils (1.3, 1.8).
        let text = "model,batch_size,exec_us,weights_mib,load_us,util\n\
                    a,1,30000,1,1,0.4\nb,1,30000,1,1,0.9\n";
        let p = Profile::parse(text, Path::new("p.csv")).unwrap();
        let opts = MeasureOptions {
            warmup: 0,
            reps: 3,
            load_reps: 1,
        };
        let got = pairs(&crate::backend::cpu::Cpu, &p, &[], 1, opts, &mut |_| ()).unwrap();
        let want = [
            ("a", "a", 1.0),
            ("a", "b", 1.3),
            ("b", "a", 1.3),
            ("b", "b", 1.8),
        ];
        for (pair, (v, a, s)) in got.iter().zip(want) {
            assert_eq!((pair.victim.as_str(), pair.aggressor.as_str()), (v, a));
            // Timed waits on a busy machine run a little long, rarely short.
            assert!(
                pair.slowdown > s - 0.15 && pair.slowdown < s + 0.3,
                "{pair:?} should be about {s}"
            );
        }
        let csv = pairs_csv(&["test".into()], &got);
        let back = inferfair_sim::interference::load_pairs(
            &{
                let f = std::env::temp_dir().join(format!("pairs-{}.csv", std::process::id()));
                std::fs::write(&f, &csv).unwrap();
                f
            },
            &|m| m == "a" || m == "b",
        )
        .unwrap();
        assert_eq!(back.len(), 4);
    }
}
