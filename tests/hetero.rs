//! Heterogeneous clusters: GPUs of several pools, each with its own profile
//! and memory. Hand-computed throughput on two pools, placement constraints
//! under every policy, the one-pool form as one pool, outputs that name the
//! pool, and clear errors for bad pool tables.

use crate::common::{bin, check_request_ends, data, policies, record, scenario, tmp};
use crate::invariants::check_invariants;
use inferfair_sim::Scenario;

/// One model with batch size 1 only, 4 ms on pool `fast` and 8 ms on pool
/// `slow`, fed far past capacity: `drain_s` after the last arrival.
fn saturated(drain_s: f64) -> Scenario {
    scenario(&format!(
        r#"
name = "two-pools"
duration_s = 1.0
drain_s = {drain_s}
[cluster]
preload = true
[[cluster.pools]]
name = "fast"
profile = "one-4ms.csv"
[[cluster.pools]]
name = "slow"
profile = "one-8ms.csv"
[[models]]
model = "m"
slo_ms = 10000
arrival = {{ process = "deterministic", rate_rps = 1000 }}
"#
    ))
}

#[test]
fn fifo_keeps_both_pools_busy_at_their_own_speed() {
    // Requests arrive every 1 ms from 0. GPU 0 (4 ms) takes request 0 at 0
    // and runs back to back: starts 0, 4, 8, ...; GPU 1 (8 ms) takes request 1
    // at 1 ms: starts 1, 9, 17, ... So each second of saturation completes
    // 1/4ms + 1/8ms = 375 requests: 250 + 125 batches start in [0, 1 s).
    let s = saturated(0.1);
    let (_, rec) = record(&s, "fifo");
    let ms = 1_000_000u64;
    let starts = |g: usize| -> Vec<u64> {
        rec.batches
            .iter()
            .filter(|b| b.0 == g && b.4 < 1000 * ms)
            .map(|b| b.4)
            .collect()
    };
    assert_eq!(starts(0), (0..250).map(|k| 4 * k * ms).collect::<Vec<_>>());
    assert_eq!(
        starts(1),
        (0..125).map(|k| (1 + 8 * k) * ms).collect::<Vec<_>>()
    );
    for b in &rec.batches {
        assert_eq!(b.5 - b.4, if b.0 == 0 { 4 * ms } else { 8 * ms }, "{b:?}");
    }
    // Requests are served in arrival order, whichever GPU frees first.
    let mut order: Vec<_> = rec
        .ends
        .iter()
        .filter_map(|e| e.start.map(|t| (t, e.req.id)))
        .collect();
    order.sort();
    assert!(order.windows(2).all(|w| w[0].1 < w[1].1), "FIFO order");
    // Those ending within the first second: 250 on GPU 0, 124 on GPU 1 (its 125th ends at 1001 ms).
    let done = rec
        .ends
        .iter()
        .filter(|e| e.start.is_some() && e.finish <= 1000 * ms)
        .count();
    assert_eq!(done, 374);
}

/// The toy models on two pools: `old` (twice as slow; no `big`) and `new`
/// (twice as fast).
fn old_and_new(gpus_old: u32, gpus_new: u32, rate_scale: f64) -> Scenario {
    scenario(&format!(
        r#"
name = "old-and-new"
seed = 3
duration_s = 3.0
warmup_s = 0.5
rate_scale = {rate_scale}
[[cluster.pools]]
name = "old"
count = {gpus_old}
profile = "toy-old.csv"
[[cluster.pools]]
name = "new"
count = {gpus_new}
profile = "toy-fast.csv"
[[models]]
model = "small"
slo_ms = 20
arrival = {{ process = "poisson", rate_rps = 900 }}
[[models]]
model = "big"
slo_ms = 100
arrival = {{ process = "gamma", rate_rps = 60, cv = 2 }}
"#
    ))
}

#[test]
fn a_model_runs_only_on_the_pools_that_profile_it() {
    for (scale, old, new) in [(0.5, 2, 1), (2.0, 1, 1), (3.0, 3, 2)] {
        let s = old_and_new(old, new, scale);
        let big = s.model_index("big").unwrap();
        for p in policies() {
            let (r, rec) = record(&s, p);
            check_invariants(&s, &r, &rec);
            let on_old = rec
                .batches
                .iter()
                .filter(|b| b.1 == big && s.cluster.pool_of(b.0) == 0)
                .count();
            assert_eq!(on_old, 0, "{p}: `big` ran on the old pool");
            assert!(
                rec.batches.iter().any(|b| b.1 == big),
                "{p}: `big` never ran"
            );
            // Nothing of `big` is ever loaded on an old GPU.
            assert!(
                rec.loads
                    .iter()
                    .all(|l| !(l.1 == big && l.0 < old as usize))
            );
            // The small model uses both pools.
            assert!(rec.batches.iter().any(|b| b.1 != big && b.0 < old as usize));
        }
    }
}

#[test]
fn the_one_pool_form_is_one_pool() {
    let text = std::fs::read_to_string(data().join("toy.toml")).unwrap();
    let plain = scenario(&text.replace("gpus = 1", "gpus = 2"));
    let pooled = scenario(
        &text
            .replace("profile = \"toy.csv\"\n", "")
            .replace(
                "[cluster]\ngpus = 1\ngpu_memory_gib = 32\n",
                "[cluster]\ngpu_memory_gib = 32\n[[cluster.pools]]\nname = \"gpu\"\ncount = 2\nprofile = \"toy.csv\"\n",
            ),
    );
    assert_eq!(pooled.cluster.pools.len(), 1);
    for p in policies() {
        let (a, ra) = record(&plain, p);
        let (b, rb) = record(&pooled, p);
        check_request_ends(&pooled, &b, &rb);
        assert_eq!(format!("{:?}", ra.ends), format!("{:?}", rb.ends), "{p}");
        assert_eq!(a.overall, b.overall, "{p}");
    }
}

#[test]
fn outputs_name_each_gpus_pool() {
    let dir = tmp("hetero-out");
    let file = dir.join("s.toml");
    std::fs::write(
        &file,
        format!(
            "name = \"p\"\nduration_s = 1.0\n[[cluster.pools]]\nname = \"old\"\nprofile = {:?}\n\
             [[cluster.pools]]\nname = \"new\"\ncount = 2\nprofile = {:?}\n\
             [[models]]\nmodel = \"small\"\nslo_ms = 20\narrival = {{ process = \"poisson\", rate_rps = 500 }}\n",
            data().join("toy-old.csv"),
            data().join("toy-fast.csv")
        ),
    )
    .unwrap();
    let out = bin()
        .args([
            "simulate",
            file.to_str().unwrap(),
            "--format",
            "json",
            "--requests",
            "--out",
        ])
        .arg(dir.join("out"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let gpus = &v["results"][0]["gpus"];
    let pools: Vec<&str> = (0..3).map(|g| gpus[g]["pool"].as_str().unwrap()).collect();
    assert_eq!(pools, ["old", "new", "new"]);
    let per_gpu = std::fs::read_to_string(dir.join("out/per_gpu.csv")).unwrap();
    assert!(
        per_gpu
            .starts_with("policy,gpu,pool,utilization,concurrency,preemptions,wasted\nfifo,0,old,"),
        "{per_gpu}"
    );
    let reqs = std::fs::read_to_string(dir.join("out/requests.csv")).unwrap();
    let header: Vec<&str> = reqs.lines().next().unwrap().split(',').collect();
    let (gi, pi) = (
        header.iter().position(|c| *c == "gpu").unwrap(),
        header.iter().position(|c| *c == "pool").unwrap(),
    );
    for line in reqs.lines().skip(1) {
        let cells: Vec<&str> = line.split(',').collect();
        let want = match cells[gi] {
            "" => "",
            "0" => "old",
            _ => "new",
        };
        assert_eq!(cells[pi], want, "{line}");
    }
    // The resolved scenario runs again as it is.
    let again = bin()
        .args([
            "simulate",
            dir.join("out/scenario.toml").to_str().unwrap(),
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn bad_pool_tables_are_clear_errors() {
    let base = |cluster: &str, models: &str| {
        format!(
            "name = \"bad\"\nduration_s = 1.0\n{cluster}\n[[models]]\nmodel = \"{models}\"\narrival = {{ process = \"poisson\", rate_rps = 10 }}\n"
        )
    };
    let pool = |name: &str, count: u32, profile: &str| {
        format!("[[cluster.pools]]\nname = \"{name}\"\ncount = {count}\nprofile = \"{profile}\"\n")
    };
    let cases = [
        (
            base(
                &format!("{}color = \"red\"\n", pool("a", 1, "toy.csv")),
                "small",
            ),
            "unknown field `color`",
        ),
        (
            base(&pool("a", 0, "toy.csv"), "small"),
            "cluster.pools[0].count: must be at least 1",
        ),
        (
            base(
                &(pool("a", 1, "toy.csv") + &pool("a", 1, "toy-old.csv")),
                "small",
            ),
            "cluster.pools[1].name: pool name `a` is already used by cluster.pools[0]",
        ),
        (base(&pool("a", 1, "nope.csv"), "small"), "nope.csv"),
        (
            base(
                &format!("[cluster]\ngpus = 2\n{}", pool("a", 1, "toy.csv")),
                "small",
            ),
            "cluster.gpus: give either `gpus`",
        ),
        (
            base(
                &(pool("a", 1, "toy-old.csv") + &pool("b", 1, "toy-old.csv")),
                "big",
            ),
            "models[0].model: unknown model `big`: no pool's profile has it",
        ),
        (
            base("[[cluster.pools]]\nname = \"a\"\n", "small"),
            "cluster.pools[0].profile: missing",
        ),
        (
            base(
                &format!(
                    "{}weights_memory_gib = 0.5\n{}",
                    pool("a", 1, "toy.csv"),
                    pool("b", 1, "toy-old.csv")
                ),
                "big",
            ),
            "`big` does not fit on any pool that profiles it",
        ),
        (
            base(
                &format!("{}gpu_memory_gib = -1\n", pool("a", 1, "toy.csv")),
                "small",
            ),
            "cluster.pools[0].gpu_memory_gib: must be a positive number",
        ),
    ];
    for (text, want) in cases {
        let e = Scenario::parse(&text, &data().join("bad.toml"))
            .err()
            .unwrap_or_else(|| panic!("accepted:\n{text}"))
            .to_string();
        assert!(e.contains(want), "{e:?} should contain {want:?}");
        assert!(e.contains("bad.toml"), "{e:?} should name the file");
    }
}

/// InferFair against Clockwork on the old-plus-new pair under overload, and
/// what its pricing of GPU time per pool buys (a short run of the shipped
/// scenario).
#[test]
fn inferfair_prices_gpu_time_per_pool() {
    let path = crate::common::root().join("scenarios/hetero/old-new-gptj.toml");
    let load = |edit: &dyn Fn(&mut inferfair_sim::scenario::ScenarioFile)| {
        Scenario::load_with(&path, |f| {
            f.duration_s = 8.0;
            f.warmup_s = 2.0;
            f.rate_scale = 2.5;
            edit(f);
        })
        .unwrap()
    };
    let s = load(&|_| {});
    let run =
        |s: &Scenario, p: &str| inferfair_sim::simulate_isolated(s, p, Default::default()).unwrap();
    let (cw, inf) = (run(&s, "clockwork"), run(&s, "inferfair"));
    let iso = |r: &inferfair_sim::RunResult| r.overall.isolation.unwrap();
    assert!(
        iso(&inf).isolation_gap < iso(&cw).isolation_gap,
        "{:?} vs {:?}",
        iso(&inf),
        iso(&cw)
    );
    assert!(iso(&inf).stp >= iso(&cw).stp);
    assert!(inf.overall.goodput_rps > cw.overall.goodput_rps);
    // Without pricing, a second of a V100 counts as a second of an H100.
    let flat = load(&|f| {
        let mut t = toml::Table::new();
        t.insert("pool_pricing".into(), false.into());
        f.policy.insert("inferfair".into(), t);
    });
    let flat = run(&flat, "inferfair");
    assert!(iso(&inf).isolation_gap < iso(&flat).isolation_gap);
    assert!(inf.overall.goodput_rps > flat.overall.goodput_rps);
}
