//! Concurrent execution on one GPU: the fluid model's exact limits
//! (processor sharing, utils that fit, a measured pair) on hand-computed
//! runs, the invariants of random runs at random concurrency, and clear
//! errors for impossible settings.

use crate::common::{Recorder, check_request_ends, data, policies, record, scenario};
use crate::invariants::check_invariants;
use inferfair_sim::Scenario;
use inferfair_sim::interference::Fluid;
use proptest::prelude::*;

const MS: u64 = 1_000_000;

/// One GPU with `k` slots on `conc.csv`; each model of `models` (name,
/// first arrival in ms) gets exactly one request.
fn one_each(k: u32, interference: &str, models: &[(&str, f64)]) -> Scenario {
    let mut t = format!(
        "name = \"conc\"\nduration_s = 0.5\nprofile = \"conc.csv\"\n[cluster]\npreload = true\nmax_concurrent = {k}\n{interference}\n"
    );
    for (i, (m, at)) in models.iter().enumerate() {
        t.push_str(&format!(
            "[[models]]\nmodel = \"{m}\"\nname = \"m{i}\"\nslo_ms = 1000\n\
             arrival = {{ process = \"deterministic\", rate_rps = 1, start_s = {} }}\n",
            at / 1000.0
        ));
    }
    scenario(&t)
}

/// (model, start, finish) of every batch, by start.
fn spans(rec: &Recorder) -> Vec<(usize, u64, u64)> {
    let mut v: Vec<_> = rec.batches.iter().map(|b| (b.1, b.4, b.5)).collect();
    v.sort();
    v
}

#[test]
fn util_one_without_contention_is_processor_sharing() {
    // Two 10 ms batches at once on k = 2: each at half speed, both end at 20 ms.
    let s = one_each(2, "", &[("full", 0.0), ("other", 0.0)]);
    let (r, rec) = record(&s, "fifo");
    assert_eq!(spans(&rec), vec![(0, 0, 20 * MS), (1, 0, 20 * MS)]);
    assert_eq!(r.gpus[0].concurrency, Some(2.0));
    // Staggered by 4 ms: the first runs alone for 4 ms (6 ms left), then both
    // at half speed: it ends at 16 ms, the second has 4 ms left: 20 ms.
    let s = one_each(2, "", &[("full", 0.0), ("other", 4.0)]);
    let (r, rec) = record(&s, "fifo");
    assert_eq!(spans(&rec), vec![(0, 0, 16 * MS), (1, 4 * MS, 20 * MS)]);
    // Busy 0-20 ms (the union), batch time 16 + 16 ms: 1.6 at once.
    assert_eq!(r.gpus[0].concurrency, Some(1.6));
    // k = 1: one after the other.
    let s = one_each(1, "", &[("full", 0.0), ("other", 0.0)]);
    let (_, rec) = record(&s, "fifo");
    assert_eq!(spans(&rec), vec![(0, 0, 10 * MS), (1, 10 * MS, 20 * MS)]);
}

#[test]
fn utils_that_fit_run_at_full_speed_and_contention_slows_them() {
    let s = one_each(2, "", &[("half", 0.0), ("six", 0.0)]);
    let (_, rec) = record(&s, "fifo");
    assert_eq!(spans(&rec), vec![(0, 0, 10 * MS), (1, 0, 6 * MS)]);
    // Contention 0.25: both at 1/1.25 while together: six ends at 7.5 ms
    // with half 6 ms done; half alone then: 7.5 + 4 = 11.5 ms.
    let s = one_each(
        2,
        "[cluster.interference]\ncontention = 0.25",
        &[("half", 0.0), ("six", 0.0)],
    );
    let (_, rec) = record(&s, "fifo");
    assert_eq!(spans(&rec), vec![(0, 0, 11_500_000), (1, 0, 7_500_000)]);
}

#[test]
fn a_measured_pair_slows_each_as_measured() {
    // half beside six: x1.5; six beside half: x1.2. six ends at 7.2 ms, half
    // has done 4.8 ms of 10 and runs alone after: 7.2 + 5.2 = 12.4 ms.
    let table = format!(
        "[cluster.interference]\nmodel = \"pairwise\"\npath = {:?}",
        data().join("conc-pairs.csv")
    );
    let s = one_each(2, &table, &[("half", 0.0), ("six", 0.0)]);
    let (_, rec) = record(&s, "fifo");
    assert_eq!(spans(&rec), vec![(0, 0, 12_400_000), (1, 0, 7_200_000)]);
    // A pair missing from the table falls back to the utilization model:
    // full and other (util 1) share the GPU.
    let s = one_each(2, &table, &[("full", 0.0), ("other", 0.0)]);
    let (_, rec) = record(&s, "fifo");
    assert_eq!(spans(&rec), vec![(0, 0, 20 * MS), (1, 0, 20 * MS)]);
}

/// Replays the recorded starts and ends of every GPU through a fresh fluid
/// model: each batch must end exactly when its solo work, at the rates the
/// model gives, is done (work conservation), never more than k run at
/// once, and busy time never exceeds the window.
pub fn check_concurrency(s: &Scenario, r: &inferfair_sim::RunResult, rec: &Recorder) {
    for g in 0..s.cluster.gpus {
        let pool = &s.cluster.pools[s.cluster.pool_of(g)];
        let k = r.gpus[g].max_concurrent as usize;
        assert!(k <= pool.max_concurrent as usize);
        // Every start, and the end of those that ended; ends before starts
        // at the same time, as the engine does them.
        let mut ev: Vec<(u64, u8, u64)> = Vec::new();
        // A batch preempted as it started ran for no time: left out.
        let instant = |id: u64| rec.preempted.iter().any(|p| p.1 == id && p.3 == p.4);
        for st in rec.starts.iter().filter(|st| st.0 == g && !instant(st.1)) {
            ev.push((st.4, 1, st.1));
        }
        for (b, &id) in rec.batches.iter().zip(&rec.batch_ids) {
            if b.0 == g {
                ev.push((b.5, 0, id));
            }
        }
        // A preempted batch leaves at its preemption (its work is not checked).
        let preempted = |id: u64| rec.preempted.iter().any(|p| p.1 == id);
        for p in rec.preempted.iter().filter(|p| p.0 == g && p.3 < p.4) {
            ev.push((p.4, 0, p.1));
        }
        ev.sort();
        let mut f = Fluid::default();
        let mut running = 0usize;
        for &(t, kind, id) in &ev {
            let st = rec.starts.iter().find(|st| st.1 == id).expect("it started");
            let (m, size) = (st.2, st.3);
            let exact = s.models[m].exec_cv == 0.0;
            if kind == 1 {
                running += 1;
                assert!(
                    running <= k,
                    "gpu {g}: more than {k} batches at once at {t}"
                );
                if exact {
                    let p = s.models[m].profile_on(s.cluster.pool_of(g)).unwrap();
                    let runner = inferfair_sim::interference::Runner {
                        kind: s.models[m].kind,
                        util: p.util_for(size).unwrap(),
                    };
                    f.start(
                        t,
                        id,
                        runner,
                        p.exec_exact(size).unwrap(),
                        &pool.interference,
                    );
                }
            } else {
                running -= 1;
                if exact && preempted(id) {
                    f.finish(t, id, &pool.interference);
                } else if exact {
                    let want = f.ends().find(|e| e.0 == id).unwrap().1;
                    assert!(
                        want.abs_diff(t) <= 1,
                        "gpu {g}: batch {id} ends at {t}, its work is done at {want}"
                    );
                    f.finish(t, id, &pool.interference);
                }
            }
        }
        assert!(
            r.gpus[g].utilization <= 1.0 + 1e-12,
            "gpu {g}: {:?}",
            r.gpus[g]
        );
        assert!(
            r.gpus[g]
                .concurrency
                .is_none_or(|c| c >= 1.0 - 1e-12 && c <= k as f64 + 1e-12)
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    #[test]
    fn random_concurrent_runs_keep_every_invariant(
        seed in 0u64..1000,
        gpus in 1u32..3,
        k in 1u32..5,
        contention in prop::sample::select(vec![0.0, 0.2]),
        models in prop::collection::vec(crate::invariants::model_strategy(), 1..5),
    ) {
        let mut s = crate::invariants::random_scenario(seed, gpus, 20.0, 0.0, &models);
        let text = s.to_toml().replace("max_concurrent = 1\n", &format!("max_concurrent = {k}\n"));
        let text = format!("{text}\n[cluster.interference]\ncontention = {contention}\n");
        s = scenario(&text);
        for p in policies() {
            let (r, rec) = record(&s, p);
            check_invariants(&s, &r, &rec);
            check_request_ends(&s, &r, &rec);
            check_concurrency(&s, &r, &rec);
        }
    }
}

#[test]
fn clockwork_runs_one_batch_at_a_time_whatever_the_cluster_allows() {
    let s = one_each(4, "", &[("full", 0.0), ("other", 0.0)]);
    let (r, rec) = record(&s, "clockwork");
    assert_eq!(r.gpus[0].max_concurrent, 1);
    check_concurrency(&s, &r, &rec);
    let (r, _) = record(&s, "fifo");
    assert_eq!(r.gpus[0].max_concurrent, 4);
}

#[test]
fn impossible_concurrency_settings_are_clear_errors() {
    let base = |extra: &str| {
        format!(
            "name = \"bad\"\nduration_s = 1.0\nprofile = \"conc.csv\"\n[cluster]\n{extra}\n\
             [[models]]\nmodel = \"full\"\narrival = {{ process = \"poisson\", rate_rps = 10 }}\n"
        )
    };
    let pairs = |text: &str| {
        let p = std::env::temp_dir().join(format!(
            "inferfair-pairs-{}-{}.csv",
            std::process::id(),
            text.len()
        ));
        std::fs::write(&p, text).unwrap();
        format!("max_concurrent = 2\n[cluster.interference]\nmodel = \"pairwise\"\npath = {p:?}")
    };
    let cases = [
        (
            base("max_concurrent = 0"),
            "cluster.max_concurrent: must be at least 1".to_string(),
        ),
        (
            base("max_concurrent = 2\n[cluster.interference]\ncontention = -0.1"),
            "cluster.interference.contention: must be a non-negative number".into(),
        ),
        (
            base("[cluster.interference]\nmodel = \"magic\""),
            "unknown interference model `magic`".into(),
        ),
        (
            base("[cluster.interference]\nmodel = \"pairwise\""),
            "cluster.interference.path: model = \"pairwise\" needs".into(),
        ),
        (
            base(&pairs("victim,aggressor,slowdown\nfull,nosuch,1.2\n")),
            ":2: unknown model `nosuch`".into(),
        ),
        (
            base(&pairs("victim,aggressor,slowdown\nfull,half,0.9\n")),
            ":2: `slowdown` must be a number >= 1".into(),
        ),
        (
            base(&pairs("victim,aggressor\nfull,half\n")),
            "missing column `slowdown`".into(),
        ),
        (
            base(&pairs(
                "victim,aggressor,slowdown\nfull,half,1.2\nfull,half,1.3\n",
            )),
            ":3: the pair (full, half) is given twice".into(),
        ),
    ];
    for (text, want) in cases {
        let e = Scenario::parse(&text, &data().join("bad.toml"))
            .err()
            .unwrap_or_else(|| panic!("accepted:\n{text}"))
            .to_string();
        assert!(e.contains(&want), "{e:?} should contain {want:?}");
    }
    // With pools, each pool has its own.
    let text = "name = \"bad\"\nduration_s = 1.0\n[[cluster.pools]]\nname = \"a\"\nprofile = \"conc.csv\"\nmax_concurrent = 0\n\
         [[models]]\nmodel = \"full\"\narrival = { process = \"poisson\", rate_rps = 10 }\n";
    let e = Scenario::parse(text, &data().join("bad.toml"))
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("cluster.pools[0].max_concurrent: must be at least 1"),
        "{e}"
    );
}

/// InferFair on GPUs that run two batches at once (mix-1gpu, k = 2, 2x
/// load, a short run): it uses the second slot, keeps every deadline it
/// admits (no request finishes late), and isolates better than Clockwork
/// (one batch at a time) with more goodput; without its admission rule it
/// fills slots as FIFO does and finishes requests late.
#[test]
fn inferfair_runs_batches_together_only_where_they_keep_their_deadlines() {
    let path = crate::common::root().join("scenarios/concurrent/mix-1gpu-k2.toml");
    let load = |admission: bool| {
        Scenario::load_with(&path, |f| {
            f.duration_s = 8.0;
            f.warmup_s = 2.0;
            f.rate_scale = 2.0;
            let mut t = toml::Table::new();
            t.insert("corun_admission".into(), admission.into());
            f.policy.insert("inferfair".into(), t);
        })
        .unwrap()
    };
    let s = load(true);
    let run =
        |s: &Scenario, p: &str| inferfair_sim::simulate_isolated(s, p, Default::default()).unwrap();
    let (cw, inf) = (run(&s, "clockwork"), run(&s, "inferfair"));
    assert_eq!(inf.overall.late, 0);
    assert!(
        inf.overall.gpu_concurrency.unwrap() > 1.5,
        "{:?}",
        inf.overall.gpu_concurrency
    );
    let iso = |r: &inferfair_sim::RunResult| r.overall.isolation.unwrap();
    assert!(iso(&inf).isolation_gap < iso(&cw).isolation_gap);
    assert!(inf.overall.goodput_rps > cw.overall.goodput_rps);
    let (r, rec) = record(&load(false), "inferfair");
    check_concurrency(&load(false), &r, &rec);
    assert!(r.overall.late > 0, "filling every slot makes requests late");
}
