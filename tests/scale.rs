//! InferFair at scale and on per-request SLOs (issues 10 and 11): the mix of
//! issue 10's shape on four GPUs, the period record, and a trace whose
//! requests carry their own SLOs.

use crate::common::{bin, check_request_ends, record, root, scenario, tmp};
use inferfair_sim::policy::inferfair::{InferFair, InferFairConfig};
use inferfair_sim::policy::{Decision, Notice, Policy, View};
use inferfair_sim::run::{self, RunOptions, RunResult};
use inferfair_sim::state::Outcome;
use inferfair_sim::time::from_ms;

/// A 3 s trace of ResNet-50 at 1500 req/s (about 2x one V100), half of the
/// requests with a 40 ms SLO and half with 1000 ms, in random order.
fn mixed_slo_trace() -> inferfair_sim::Scenario {
    let dir = tmp("mixed-slo");
    let mut state: u64 = 12345;
    let mut uniform = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    };
    let mut text = String::from("arrival_ms,model,slo_ms\n");
    let mut t = 0.0;
    loop {
        t += -uniform().ln() / 1.5; // ms, mean 1/1500 s
        if t >= 3000.0 {
            break;
        }
        let slo = if uniform() < 0.5 { 40 } else { 1000 };
        text.push_str(&format!("{t:.4},resnet50,{slo}\n"));
    }
    std::fs::write(dir.join("trace.csv"), text).unwrap();
    let profile = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles/v100.csv");
    scenario(&format!(
        r#"
name = "mixed-slo"
duration_s = 3.0
warmup_s = 0.0
drain_s = 1.0
profile = "{}"
[cluster]
gpus = 1
[[models]]
model = "resnet50"
slo_ms = 100
arrival = {{ process = "trace", path = "{}" }}
"#,
        profile.display(),
        dir.join("trace.csv").display()
    ))
}

#[test]
fn per_request_slos_are_served_in_deadline_order() {
    let s = mixed_slo_trace();
    let (r, rec) = record(&s, "inferfair");
    check_request_ends(&s, &r, &rec);
    let (cw, _) = record(&s, "clockwork");
    let m = &r.models[0];
    // Before the fix: 443 late (expired requests batched) and 1016 requests
    // dropped with plenty of slack.
    assert_eq!(
        m.late, 0,
        "late {} (clockwork: {})",
        m.late, cw.models[0].late
    );
    // A request is given up only when it cannot finish in time in the
    // largest batch started now (21.7 ms): none with more slack is dropped.
    let longest = from_ms(21.729);
    let needless = rec
        .ends
        .iter()
        .filter(|e| e.outcome == Outcome::Dropped && e.req.deadline > e.finish + longest)
        .count();
    assert_eq!(needless, 0, "{needless} requests dropped with slack");
    assert!(
        m.goodput_rps >= cw.models[0].goodput_rps,
        "{} vs {}",
        m.goodput_rps,
        cw.models[0].goodput_rps
    );
}

/// Issue 10's mix (`scenarios/scale/issue-mix.toml`) on `gpus` GPUs at `load`, shortened.
fn issue_mix(gpus: u32, load: f64) -> inferfair_sim::Scenario {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/scale/issue-mix.toml");
    inferfair_sim::Scenario::load_with(&path, |f| {
        f.cluster.gpus = Some(gpus);
        f.rate_scale = gpus as f64 * load;
        f.duration_s = 12.0;
        f.warmup_s = 3.0;
    })
    .unwrap()
}

fn isolated(s: &inferfair_sim::Scenario, policy: &str) -> RunResult {
    run::simulate_isolated(s, policy, RunOptions::default()).unwrap()
}

#[test]
fn on_four_gpus_the_issue_mix_is_no_worse_than_clockwork() {
    let s = issue_mix(4, 1.5);
    let cw = isolated(&s, "clockwork");
    let inf = isolated(&s, "inferfair");
    let (ci, ii) = (
        cw.overall.isolation.unwrap(),
        inf.overall.isolation.unwrap(),
    );
    assert!(
        ii.isolation_gap <= ci.isolation_gap,
        "gap {} vs {}",
        ii.isolation_gap,
        ci.isolation_gap
    );
    assert!(ii.stp >= ci.stp, "STP {} vs {}", ii.stp, ci.stp);
    assert!(inf.overall.goodput_rps >= cw.overall.goodput_rps);
    // The small high-rate model keeps batching (it collapsed to batch 1.3 before the fix).
    let small = inf.models.iter().find(|m| m.model == "small-cnn").unwrap();
    assert!(
        small.mean_batch.unwrap() >= 8.0,
        "small-cnn batch {:?}",
        small.mean_batch
    );
    assert!(
        small.normalized_goodput.unwrap() > 0.7,
        "{:?}",
        small.normalized_goodput
    );
}

#[test]
fn the_period_record_shows_the_overload_and_the_large_model_kept_apart() {
    let s = issue_mix(4, 1.5);
    let mut p = InferFair::new(InferFairConfig::default());
    p.record_periods();
    run::simulate_with(&s, &mut p, RunOptions::default()).unwrap();
    let periods = p.periods();
    assert_eq!(periods.len(), 12 * 10 + 2); // every 100 ms until the drain (200 ms) ends
    // From 2 s to the end of arrivals (12 s).
    let later = &periods[20..120];
    // The cluster is overloaded: the ETR is capped by what a model could serve on all four GPUs.
    assert!(later.iter().filter(|r| r.overloaded).count() > later.len() * 9 / 10);
    let (small, large) = (0, 1);
    for r in later {
        let on = |m: usize| -> Vec<usize> {
            r.models[m]
                .parts
                .iter()
                .filter(|p| p.share > 0.0)
                .map(|p| p.gpu)
                .collect()
        };
        // The large model's 70 ms batches never share a GPU with the small model (50 ms SLO).
        assert!(
            on(small).iter().all(|g| !on(large).contains(g)),
            "{:?} / {:?} at {}",
            on(small),
            on(large),
            r.at
        );
        let share: f64 = r.models.iter().map(|m| m.share).sum();
        assert!((3.9..=4.0).contains(&share), "{share}");
        // The large model's ETR is more than one GPU could serve within its SLO (4 / 70 ms = 57/s).
        assert!(
            r.models[large].etr > 100.0,
            "{} {} at {}",
            r.models[large].etr,
            r.models[large].rate,
            r.at
        );
    }
}

#[test]
fn mix_gen_is_deterministic_and_writes_a_scenario_that_loads() {
    let dir = tmp("mix-gen");
    let profile = crate::common::data().join("toy.csv");
    let make = |out: &str, seed: &str| {
        let o = bin()
            .args([
                "mix", "gen", "--seed", seed, "--models", "2", "--gpus", "4", "--load", "1.5",
            ])
            .arg("--profile")
            .arg(&profile)
            .arg("--out")
            .arg(dir.join(out))
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        std::fs::read_to_string(dir.join(out)).unwrap()
    };
    let a = make("a.toml", "5");
    assert_eq!(a, make("b.toml", "5"));
    assert_ne!(a, make("c.toml", "6"));
    assert!(
        a.contains("rate_scale = 1.5") && a.contains("gpus = 4"),
        "{a}"
    );
    assert!(
        a.contains("GPU-time demand at rate_scale 1: 4.00 GPUs"),
        "{a}"
    );
    let s = inferfair_sim::Scenario::load(&dir.join("a.toml")).unwrap();
    assert_eq!((s.models.len(), s.cluster.gpus), (2, 4));
    let bad = bin()
        .args(["mix", "gen", "--seed", "1", "--models", "3-2"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("models"));
}

#[test]
fn a_sweep_over_random_mixes_runs_and_reports_pairs() {
    let dir = tmp("mix-sweep");
    let file = dir.join("mixes.toml");
    std::fs::write(
        &file,
        format!(
            r#"
policies = ["fifo", {{ label = "fifo-b1", policy = "fifo", params = {{ max_batch = 1 }} }}]
duration_s = 1
warmup_s = 0.2
[mix]
profile = "{}"
models = "1-2"
[grid]
mix_seed = "1-3"
gpus = [1, 2]
rate_scale = 1.5
"#,
            crate::common::data().join("toy.csv").display()
        ),
    )
    .unwrap();
    let out = dir.join("out");
    let o = bin()
        .arg("sweep")
        .arg(&file)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let csv = std::fs::read_to_string(out.join("results.csv")).unwrap();
    let header = csv.lines().next().unwrap();
    assert!(header.contains("models,mix_seed,policy"), "{header}");
    // 3 mixes x 2 GPU counts x 2 policies, one overall row each and one per model.
    assert_eq!(csv.lines().filter(|l| l.contains(",*,")).count(), 12);
    let r = bin()
        .args(["sweep", "report"])
        .arg(&out)
        .args(["--policies", "fifo-b1,fifo", "--csv"])
        .arg(dir.join("report.csv"))
        .output()
        .unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let text = String::from_utf8_lossy(&r.stdout);
    assert!(
        text.contains("6 pairs") && text.contains("| 2 | 1.5 | 3 |"),
        "{text}"
    );
    let report = std::fs::read_to_string(dir.join("report.csv")).unwrap();
    assert_eq!(report.lines().count(), 3, "{report}");
    // The same mix seed draws the same mix however the sweep is run.
    let again = dir.join("again");
    let o = bin()
        .arg("sweep")
        .arg(&file)
        .arg("--out")
        .arg(&again)
        .output()
        .unwrap();
    assert!(o.status.success());
    assert_eq!(
        csv,
        std::fs::read_to_string(again.join("results.csv")).unwrap()
    );
}

#[test]
fn mix_sweeps_are_checked() {
    let dir = tmp("mix-sweep-errors");
    let toy = crate::common::data().join("toy.csv");
    let err = |text: &str| {
        let f = dir.join("s.toml");
        std::fs::write(&f, text).unwrap();
        let o = bin()
            .arg("sweep")
            .arg(&f)
            .arg("--out")
            .arg(dir.join("o"))
            .arg("--dry-run")
            .output()
            .unwrap();
        assert!(!o.status.success(), "{text}");
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    let mix = format!("[mix]\nprofile = \"{}\"\n", toy.display());
    let e = err(&format!("policies = [\"fifo\"]\n{mix}[grid]\ngpus = [1]\n"));
    assert!(e.contains("needs a `mix_seed` axis"), "{e}");
    let e = err(&format!(
        "scenario = \"{}\"\npolicies = [\"fifo\"]\n[grid]\nmix_seed = [1]\n",
        crate::common::data().join("toy.toml").display()
    ));
    assert!(e.contains("needs a `[mix]` table"), "{e}");
    let e = err(&format!(
        "policies = [\"fifo\"]\n{mix}[grid]\nmix_seed = \"5-2\"\n"
    ));
    assert!(e.contains("mix_seed") && e.contains("LO-HI"), "{e}");
    let e = err("policies = [\"fifo\"]\n[grid]\nrate_scale = [1]\n");
    assert!(e.contains("give either `scenario`"), "{e}");
}

#[test]
fn with_guest_cover_a_light_mix_on_sixteen_gpus_is_served_in_full() {
    // docs/inferfair.md, "Light load on many GPUs": mix seed 15 at 0.5x on
    // 16 GPUs, where grouping kept the bursty models to their own GPUs.
    let dir = tmp("guest-cover");
    let o = bin()
        .args([
            "mix", "gen", "--seed", "15", "--models", "3-8", "--gpus", "16",
        ])
        .args(["--load", "0.5", "--duration-s", "12", "--warmup-s", "3"])
        .arg("--profile")
        .arg(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles/v100.csv"))
        .arg("--out")
        .arg(dir.join("m15.toml"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let run = |cover: bool| {
        let s = inferfair_sim::Scenario::load_with(&dir.join("m15.toml"), |f| {
            f.policy.insert(
                "inferfair".into(),
                toml::from_str(&format!("guest_cover = {cover}")).unwrap(),
            );
        })
        .unwrap();
        inferfair_sim::simulate(&s, "inferfair", RunOptions::default()).unwrap()
    };
    let (off, on) = (run(false), run(true));
    let att = |r: &RunResult| r.overall.slo_attainment.unwrap();
    assert!(
        att(&on) >= 0.99 && att(&on) > att(&off),
        "attainment {} with guest_cover, {} without",
        att(&on),
        att(&off)
    );
    // The tight models that own the GPUs the guests used are still served.
    for m in &on.models {
        let a = m.slo_attainment.unwrap();
        assert!(a >= 0.99, "{}: {a}", m.model);
    }
}

/// Runs InferFair and checks, at every decision, that each model's
/// `loaded_on` lists exactly the GPUs where it is loaded (the index its
/// dispatch uses to skip GPUs without candidates).
struct LoadedOnChecked {
    inner: InferFair,
    decisions: u64,
}

impl Policy for LoadedOnChecked {
    fn name(&self) -> &'static str {
        "inferfair"
    }
    fn params(&self) -> toml::Table {
        self.inner.params()
    }
    fn init(&mut self, view: &View, out: &mut Decision) {
        self.inner.init(view, out)
    }
    fn notify(&mut self, view: &View, notice: &Notice) {
        self.inner.notify(view, notice)
    }
    fn decide(&mut self, view: &View, out: &mut Decision) {
        for m in view.models {
            let mut on = m.loaded_on.clone();
            on.sort_unstable();
            let truth: Vec<usize> = view
                .gpus
                .iter()
                .filter(|g| g.is_loaded(m.id))
                .map(|g| g.id)
                .collect();
            assert_eq!(on, truth, "model {} at {} ns", m.id, view.now);
        }
        self.decisions += 1;
        self.inner.decide(view, out)
    }
}

#[test]
fn loaded_on_follows_loads_and_evictions() {
    let path = root().join("scenarios/paper/tight-memory.toml");
    let s = inferfair_sim::Scenario::load(&path).unwrap();
    let mut p = LoadedOnChecked {
        inner: InferFair::new(InferFairConfig::default()),
        decisions: 0,
    };
    let r = run::simulate_with(&s, &mut p, RunOptions::default()).unwrap();
    assert!(p.decisions > 1000);
    // The scenario swaps weights: loads completed after the preload.
    assert!(r.models.iter().map(|m| m.coldstarts).sum::<u64>() > 0);
}

/// Many models, most of them idle most of the time, more than the GPUs
/// hold (after the profile line): InferFair's quiet models (whose
/// estimates only decay) are brought up to date when next read or woken.
const SPARSE_MANY: &str = r#"
name = "sparse-many"
duration_s = 30.0
warmup_s = 0.0
models = [
  { model = "resnet50", count = 300, zipf_alpha = 1.0, arrival = { process = "poisson", rate_rps = 0.4 } },
  { model = "bert-base", count = 100, zipf_alpha = 1.0, arrival = { process = "poisson", rate_rps = 0.4 } },
]
cluster = { gpus = 3, gpu_memory_gib = 2 }
"#;

#[test]
fn quiet_models_catch_up_exactly() {
    // The period record reads every model at every period's end, so every
    // quiet model is brought up to date one period at a time; without it,
    // several periods at once when next read. Both must give the same run.
    let v100 = root().join("profiles/v100.csv");
    let s = scenario(&format!("profile = \"{}\"{SPARSE_MANY}", v100.display()));
    let run = |record: bool| {
        let mut p = InferFair::new(InferFairConfig::default());
        if record {
            p.record_periods();
        }
        let mut r = run::simulate_with(&s, &mut p, RunOptions::default()).unwrap();
        r.wall_s = 0.0;
        (serde_json::to_string(&r).unwrap(), r)
    };
    let ((lazy, r), (eager, _)) = (run(false), run(true));
    assert_eq!(lazy, eager);
    // Weights were swapped (evictions read the quiet models' rates).
    assert!(r.models.iter().map(|m| m.coldstarts).sum::<u64>() > 100);
    assert!(r.models.iter().filter(|m| m.arrived == 0).count() < 100);
}
