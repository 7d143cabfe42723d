//! `profile measure`: runs every model of a profile at every batch size on a
//! backend (warm-up, then many repetitions: median and 99th percentile) and
//! its weight transfers, and writes a profile in the simulator's format.
//! Times are the host's view of each synchronised operation, as the replay
//! sees them, so the simulator run on the measured profile is an
//! apples-to-apples prediction of the replay.

use crate::backend::{Backend, ExecJob, Slots, Span};
use crate::clock::Clock;
use crate::sizing::NetPlan;
use anyhow::{Context, Result};
use inferfair_sim::interference::Runner;
use inferfair_sim::profile::Profile;
use inferfair_sim::time::Nanos;

/// Repetitions.
#[derive(Clone, Copy, Debug)]
pub struct MeasureOptions {
    /// Untimed runs of each batch size first.
    pub warmup: u32,
    /// Timed runs of each batch size.
    pub reps: u32,
    /// Timed loads of each model.
    pub load_reps: u32,
}

impl Default for MeasureOptions {
    fn default() -> Self {
        MeasureOptions {
            warmup: 5,
            reps: 30,
            load_reps: 5,
        }
    }
}

/// The statistics of one measured quantity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stat {
    /// Median.
    pub median_ns: Nanos,
    /// 99th percentile (nearest rank).
    pub p99_ns: Nanos,
}

impl Stat {
    /// Of some samples (at least one).
    pub fn of(mut v: Vec<Nanos>) -> Stat {
        assert!(!v.is_empty(), "at least one sample");
        v.sort_unstable();
        let rank = |q: f64| v[((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1];
        Stat {
            median_ns: rank(0.5),
            p99_ns: rank(0.99),
        }
    }
}

/// One model at one batch size.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BatchMeasure {
    /// Batch size.
    pub size: u32,
    /// Host-observed time of one batch.
    pub exec: Stat,
    /// Device time (CUDA events), median.
    pub device_median_ns: Option<Nanos>,
}

/// One measured model.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelMeasure {
    /// Its name.
    pub name: String,
    /// Weight bytes (as in the source profile).
    pub weights_bytes: u64,
    /// Compute per sample the kernels were sized for.
    pub gflops: f64,
    /// Whether that was estimated (no `gflops` in the source profile).
    pub estimated: bool,
    /// Per batch size.
    pub batches: Vec<BatchMeasure>,
    /// Loading its weights.
    pub load: Stat,
}

/// Measures `models` (all when empty) of `profile` on GPU `0` of `backend`;
/// `progress` gets each model's name as it starts.
pub fn measure(
    backend: &dyn Backend,
    profile: &Profile,
    models: &[String],
    opts: MeasureOptions,
    progress: &mut dyn FnMut(&str),
) -> Result<Vec<ModelMeasure>> {
    for m in models {
        if profile.get(m).is_none() {
            anyhow::bail!(
                "unknown model `{m}` (the profile has: {})",
                profile.names().join(", ")
            );
        }
    }
    let chosen: Vec<_> = profile
        .models
        .iter()
        .filter(|m| models.is_empty() || models.contains(&m.name))
        .cloned()
        .collect();
    let mut gpu = backend.open(
        0,
        &chosen,
        &[],
        &Slots {
            k: 1,
            ..Default::default()
        },
    )?;
    let clock = Clock::start();
    let mut out = Vec::new();
    for (i, m) in chosen.iter().enumerate() {
        progress(&m.name);
        let mut loads = Vec::new();
        for r in 0..opts.load_reps.max(1) {
            if r > 0 {
                gpu.copier.evict(i)?;
            }
            let s = gpu
                .copier
                .load(&clock, i, m.load_ns)
                .with_context(|| format!("loading {}", m.name))?;
            loads.push(s.finish - s.start);
        }
        let mut batches = Vec::new();
        for (k, &b) in m.batch_sizes.iter().enumerate() {
            let job = ExecJob {
                batch: 0,
                model: i,
                size: b,
                target_ns: m.exec_ns[k],
                runner: Runner {
                    kind: 0,
                    util: m.util[k],
                },
            };
            let mut run = || -> Result<Span> {
                gpu.execs[0]
                    .run(&clock, &job)
                    .with_context(|| format!("running {} at batch size {b}", m.name))
            };
            for _ in 0..opts.warmup {
                run()?;
            }
            let mut host = Vec::new();
            let mut device = Vec::new();
            for _ in 0..opts.reps.max(1) {
                let s = run()?;
                host.push(s.finish - s.start);
                device.extend(s.device_ns);
            }
            batches.push(BatchMeasure {
                size: b,
                exec: Stat::of(host),
                device_median_ns: (!device.is_empty()).then(|| Stat::of(device).median_ns),
            });
        }
        gpu.copier.evict(i)?;
        let plan = NetPlan::new(m);
        out.push(ModelMeasure {
            name: m.name.clone(),
            weights_bytes: m.weights_bytes,
            gflops: plan.gflops,
            estimated: plan.estimated,
            batches,
            load: Stat::of(loads),
        });
    }
    Ok(out)
}

/// The civil date (year, month, day) of a day count since 1970-01-01.
pub fn civil_date(days: i64) -> (i64, u32, u32) {
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Today's date (UTC), `YYYY-MM-DD`.
pub fn today() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let (y, m, d) = civil_date(secs.div_euclid(86_400));
    format!("{y:04}-{m:02}-{d:02}")
}

/// MiB with at most 6 decimals (the same bytes when read back).
fn mib(bytes: u64) -> String {
    let s = format!("{:.6}", bytes as f64 / 1048576.0);
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn us(ns: Nanos) -> String {
    format!("{:.1}", ns as f64 / 1e3)
}

/// The measured profile as CSV: `comments` first (one `#` line each), then
/// the simulator's columns, `gflops` (so that a replay on this profile runs
/// the kernels that were measured), the extra columns `exec_p99_us`,
/// `device_exec_us` and `load_p99_us` (which the simulator ignores), and
/// `util` when `utils` were measured too.
pub fn profile_csv(
    comments: &[String],
    models: &[ModelMeasure],
    utils: Option<&[crate::interfere::Utils]>,
) -> String {
    let mut s = String::new();
    for c in comments {
        s.push_str(&format!("# {c}\n"));
    }
    let estimated: Vec<&str> = models
        .iter()
        .filter(|m| m.estimated)
        .map(|m| m.name.as_str())
        .collect();
    if !estimated.is_empty() {
        s.push_str(&format!(
            "# gflops estimated from the source profile's time at the largest batch size and {} TFLOP/s: {}\n",
            crate::sizing::NOMINAL_TFLOPS,
            estimated.join(", ")
        ));
    }
    // A larger batch never runs faster (the simulator refuses a profile whose
    // time falls): a median below the previous size's is raised to it, and said.
    let mut raised = Vec::new();
    for m in models {
        let mut floor = 0;
        for b in &m.batches {
            if b.exec.median_ns < floor {
                raised.push(format!("{} batch {}", m.name, b.size));
            }
            floor = floor.max(b.exec.median_ns);
        }
    }
    if !raised.is_empty() {
        s.push_str(&format!(
            "# exec_us raised to the next smaller batch size's where a larger batch measured faster: {}\n",
            raised.join(", ")
        ));
    }
    s.push_str("model,batch_size,exec_us,weights_mib,load_us,gflops,exec_p99_us,device_exec_us,load_p99_us");
    s.push_str(if utils.is_some() { ",util\n" } else { "\n" });
    for m in models {
        let mut floor = 0;
        for b in &m.batches {
            floor = floor.max(b.exec.median_ns);
            let util = utils.map(|u| {
                let x = u
                    .iter()
                    .find(|u| u.name == m.name)
                    .and_then(|u| u.utils.iter().find(|x| x.0 == b.size))
                    .map_or(1.0, |x| x.1);
                format!(",{x:.3}")
            });
            s.push_str(&format!(
                "{},{},{},{},{},{},{},{},{}{}\n",
                inferfair_sim::text::csv_field(&m.name),
                b.size,
                us(floor),
                mib(m.weights_bytes),
                us(m.load.median_ns),
                m.gflops,
                us(b.exec.p99_ns),
                b.device_median_ns.map(us).unwrap_or_default(),
                us(m.load.p99_ns),
                util.unwrap_or_default(),
            ));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_date(0), (1970, 1, 1));
        assert_eq!(civil_date(59), (1970, 3, 1));
        assert_eq!(civil_date(11_016), (2000, 2, 29));
        assert_eq!(civil_date(20_454), (2026, 1, 1));
        assert_eq!(civil_date(-1), (1969, 12, 31));
    }

    #[test]
    fn weights_in_mib_read_back_to_the_same_bytes() {
        assert_eq!(mib(1572864), "1.5");
        assert_eq!(mib(437_885_338), "417.6");
        for mb in [0.0, 4.7, 13.4, 97.7, 417.6, 1278.5, 2952.7] {
            let bytes = (mb * 1048576.0f64).round() as u64;
            let back: f64 = mib(bytes).parse().unwrap();
            assert_eq!((back * 1048576.0).round() as u64, bytes, "{mb}");
        }
    }

    #[test]
    fn stats_by_nearest_rank() {
        let s = Stat::of((1..=100).rev().collect());
        assert_eq!((s.median_ns, s.p99_ns), (50, 99));
        assert_eq!(
            Stat::of(vec![7]),
            Stat {
                median_ns: 7,
                p99_ns: 7
            }
        );
    }

    #[test]
    fn the_cpu_backend_measures_the_profile_it_was_given_and_the_csv_reads_back() {
        let text = "model,batch_size,exec_us,weights_mib,load_us\na,1,2000,1.5,3000\na,2,3000,1.5,3000\nb,1,1000,0.5,1000\n";
        let p = Profile::parse(text, Path::new("p.csv")).unwrap();
        let opts = MeasureOptions {
            warmup: 1,
            reps: 3,
            load_reps: 2,
        };
        let mut seen = vec![];
        let ms = measure(
            &crate::backend::cpu::Cpu,
            &p,
            &["a".into()],
            opts,
            &mut |m| seen.push(m.to_string()),
        )
        .unwrap();
        assert_eq!(seen, vec!["a"]);
        assert_eq!(ms.len(), 1);
        let a = &ms[0];
        assert!(a.estimated);
        // Timed waits last at least what they are given.
        assert!(
            a.batches[0].exec.median_ns >= 2_000_000 && a.batches[1].exec.median_ns >= 3_000_000
        );
        assert!(a.load.median_ns >= 3_000_000);
        let csv = profile_csv(&["measured on a test".into()], &ms, None);
        let back = Profile::parse(&csv, Path::new("m.csv")).unwrap();
        assert_eq!(back.comments[0], "measured on a test");
        let b = back.get("a").unwrap();
        assert_eq!(b.batch_sizes, vec![1, 2]);
        assert_eq!(b.weights_bytes, p.get("a").unwrap().weights_bytes);
        assert_eq!(b.gflops, Some(a.gflops));
        // The measured profile sizes the same kernels as the source profile.
        assert_eq!(
            NetPlan::new(b).batch(2),
            NetPlan::new(p.get("a").unwrap()).batch(2)
        );
        assert!(
            measure(
                &crate::backend::cpu::Cpu,
                &p,
                &["zz".into()],
                opts,
                &mut |_| ()
            )
            .is_err()
        );
    }
}
