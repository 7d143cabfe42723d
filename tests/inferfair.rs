//! InferFair's behaviour on small scenarios: isolation under overload, the
//! fairness knob's trade-off, the ablation switches, light load, and its
//! parameter errors.

use crate::common::{data, scenario};
use inferfair_sim::run::{self, RunOptions, RunResult};
use inferfair_sim::scenario::ScenarioFile;

/// `tests/data/two.toml` (a fast model and a slow one at 1.2x load) with `[policy.inferfair]` settings.
fn two(settings: &str, rate_scale: f64) -> inferfair_sim::Scenario {
    let path = data().join("two.toml");
    let mut file = ScenarioFile::load(&path).unwrap();
    file.rate_scale = rate_scale;
    if !settings.is_empty() {
        file.policy
            .insert("inferfair".into(), toml::from_str(settings).unwrap());
    }
    inferfair_sim::Scenario::resolve(file, &data(), "two.toml").unwrap()
}

fn isolated(s: &inferfair_sim::Scenario, policy: &str) -> RunResult {
    run::simulate_isolated(s, policy, RunOptions::default()).unwrap()
}

#[test]
fn equal_degradation_under_overload() {
    let r = isolated(&two("", 1.0), "inferfair");
    let iso = r.overall.isolation.unwrap();
    // Both models keep about the same fraction of what they get alone.
    assert!(iso.isolation_gap < 0.05, "gap {}", iso.isolation_gap);
    assert!(
        iso.min_normalized_goodput > 0.7,
        "worst {}",
        iso.min_normalized_goodput
    );
    // FIFO lets the queue grow without bound: nobody is served in time.
    let f = isolated(&two("", 1.0), "fifo");
    assert!(f.overall.goodput_rps < 0.1 * r.overall.goodput_rps);
}

#[test]
fn clockwork_starves_the_slow_model_and_inferfair_does_not() {
    let s = inferfair_sim::Scenario::load(&data().join("slow-starved.toml")).unwrap();
    let n = |r: &RunResult, i: usize| r.models[i].normalized_goodput.unwrap();
    let cw = isolated(&s, "clockwork");
    let inf = isolated(&s, "inferfair");
    // models: 0 = small (fast), 1 = big (slow).
    assert!(
        n(&cw, 1) + 0.1 < n(&cw, 0),
        "clockwork: slow {} fast {}",
        n(&cw, 1),
        n(&cw, 0)
    );
    assert!(
        inf.overall.isolation.unwrap().isolation_gap < 0.06,
        "{:?}",
        inf.overall.isolation
    );
    assert!(
        n(&inf, 1) > n(&cw, 1) + 0.1,
        "slow model: inferfair {} clockwork {}",
        n(&inf, 1),
        n(&cw, 1)
    );
    assert!(inf.overall.isolation.unwrap().stp > cw.overall.isolation.unwrap().stp);
}

#[test]
fn the_fairness_knob_trades_isolation_for_raw_goodput() {
    let fair = isolated(&two("fairness = 1.0", 1.0), "inferfair");
    let half = isolated(&two("fairness = 0.5", 1.0), "inferfair");
    let greedy = isolated(&two("fairness = 0.0", 1.0), "inferfair");
    let gap = |r: &RunResult| r.overall.isolation.unwrap().isolation_gap;
    assert!(
        gap(&greedy) > gap(&half) && gap(&half) >= gap(&fair) - 0.01,
        "{} {} {}",
        gap(&greedy),
        gap(&half),
        gap(&fair)
    );
    assert!(gap(&greedy) > 0.1);
    assert!(greedy.overall.goodput_rps > 1.05 * fair.overall.goodput_rps);
    // The throughput end favours the model with the cheaper GPU time per request.
    assert!(greedy.models[0].normalized_goodput > greedy.models[1].normalized_goodput);
}

#[test]
fn without_feedback_isolation_is_worse() {
    let with = isolated(&two("", 1.0), "inferfair");
    let without = isolated(&two("feedback = false", 1.0), "inferfair");
    let gap = |r: &RunResult| r.overall.isolation.unwrap().isolation_gap;
    assert!(
        gap(&without) > gap(&with),
        "{} vs {}",
        gap(&without),
        gap(&with)
    );
}

#[test]
fn ablation_switches_all_run_and_keep_invariants() {
    for s in [
        "estimation = false",
        "batching = false",
        "overload_only = false",
        "min_share = false",
        "replicas = false",
        "period_ms = 20",
        "period_ms = 500",
    ] {
        let sc = two(s, 1.0);
        let (r, rec) = crate::common::record(&sc, "inferfair");
        crate::invariants::check_invariants(&sc, &r, &rec);
        assert!(
            r.overall.goodput_rps > 500.0,
            "{s}: {}",
            r.overall.goodput_rps
        );
    }
}

#[test]
fn light_load_is_served_nearly_as_well_as_alone() {
    // At 0.4x load nothing is scarce. The fast model's 10 ms SLO is shorter
    // than the slow model's 16 ms batch, so a fast request that arrives while
    // a slow batch runs cannot be saved by any non-preemptive policy: the
    // attainment is physics-limited below 100% (FIFO: about 91%).
    let r = isolated(&two("", 0.4), "inferfair");
    let f = isolated(&two("", 0.4), "fifo");
    for (m, fm) in r.models.iter().zip(&f.models) {
        assert!(
            m.normalized_goodput.unwrap() > 0.95,
            "{}: {:?}",
            m.model,
            m.normalized_goodput
        );
        assert!(m.slo_attainment >= fm.slo_attainment, "{}", m.model);
    }
    assert_eq!(r.models[1].slo_attainment, Some(1.0));
}

#[test]
fn loads_on_demand_when_memory_is_short() {
    // Room for one of the two models at a time: InferFair loads on demand and evicts the idle one.
    let s = scenario(
        r#"
        name = "t"
        duration_s = 2.0
        profile = "toy.csv"
        [cluster]
        gpus = 1
        weights_memory_gib = 1.0
        [[models]]
        model = "small"
        arrival = { process = "deterministic", rate_rps = 2, start_s = 0.1 }
        [[models]]
        model = "big"
        slo_ms = 200
        arrival = { process = "deterministic", rate_rps = 2, start_s = 0.35 }
        "#,
    );
    let (r, rec) = crate::common::record(&s, "inferfair");
    crate::invariants::check_invariants(&s, &r, &rec);
    // small at 0.1, 0.6, 1.1, 1.6 s; big at 0.35, 0.85, 1.35, 1.85 s: every
    // request but the first (small was placed at start) waits for a load.
    assert_eq!(rec.loads.len(), 8, "{:?}", rec.loads);
    assert_eq!(r.overall.good, 8);
    assert_eq!(r.overall.coldstarts, 7);
}

#[test]
fn bad_parameters_are_clear_errors() {
    for (settings, want) in [
        ("fairness = 2.0", "`fairness` must be in [0, 1]"),
        ("period_ms = 0", "`period_ms` must be positive"),
        ("feedbak = true", "unknown field `feedbak`"),
        ("weight_min = 2.0", "weight_min"),
    ] {
        let mut file = ScenarioFile::load(&data().join("two.toml")).unwrap();
        file.policy
            .insert("inferfair".into(), toml::from_str(settings).unwrap());
        let e = inferfair_sim::Scenario::resolve(file, &data(), "two.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("policy.inferfair") && e.contains(want), "{e}");
    }
}
