//! Invariants on random scenarios (proptest): every arrived request ends
//! exactly once, GPUs never run two batches at once, latency is at least the
//! profiled execution time, batches never exceed a model's largest size, and
//! the same seed gives the same results.

use crate::common::{Recorder, policies, record, scenario};
use inferfair_sim::Scenario;
use proptest::prelude::*;

fn arrival(kind: u8, rate: f64, cv: f64) -> String {
    match kind {
        0 => format!("{{ process = \"poisson\", rate_rps = {rate} }}"),
        1 => format!("{{ process = \"gamma\", rate_rps = {rate}, cv = {cv} }}"),
        2 => format!("{{ process = \"deterministic\", rate_rps = {rate} }}"),
        3 => format!("{{ process = \"onoff\", rate_rps = {rate}, on_s = 0.05, off_s = 0.1 }}"),
        _ => format!(
            "{{ process = \"closed\", clients = {}, think_ms = {} }}",
            1 + (rate as u32 % 8),
            cv
        ),
    }
}

/// A random scenario on the toy profile.
pub fn random_scenario(
    seed: u64,
    gpus: u32,
    memory_gib: f64,
    exec_cv: f64,
    models: &[(bool, u8, f64, f64, f64)],
) -> Scenario {
    let cluster = format!(
        "profile = \"toy.csv\"\n[cluster]\ngpus = {gpus}\nweights_memory_gib = {memory_gib}\nexec_cv = {exec_cv}\n"
    );
    random_models(seed, &cluster, models)
}

/// The toy profiles of the pools of random heterogeneous clusters: as is,
/// twice as fast, and twice as slow without `big`.
const TOY_POOLS: [&str; 3] = ["toy.csv", "toy-fast.csv", "toy-old.csv"];

/// A random scenario on a heterogeneous cluster: pools of (count, profile
/// index into the toy pools, weights memory).
pub fn random_pools_scenario(
    seed: u64,
    pools: &[(u32, usize, f64)],
    exec_cv: f64,
    models: &[(bool, u8, f64, f64, f64)],
) -> Scenario {
    let mut cluster = format!("[cluster]\nexec_cv = {exec_cv}\n");
    for (i, &(count, kind, memory)) in pools.iter().enumerate() {
        cluster.push_str(&format!(
            "[[cluster.pools]]\nname = \"p{i}\"\ncount = {count}\nprofile = \"{}\"\nweights_memory_gib = {memory}\n",
            TOY_POOLS[kind]
        ));
    }
    random_models(seed, &cluster, models)
}

fn random_models(seed: u64, cluster: &str, models: &[(bool, u8, f64, f64, f64)]) -> Scenario {
    let mut t =
        format!("name = \"random\"\nseed = {seed}\nduration_s = 2.0\nwarmup_s = 0.2\n{cluster}");
    for (i, &(big, kind, rate, cv, slo)) in models.iter().enumerate() {
        let model = if big { "big" } else { "small" };
        t.push_str(&format!(
            "[[models]]\nmodel = \"{model}\"\nname = \"m{i}\"\nslo_ms = {}\narrival = {}\n",
            if big { slo * 10.0 } else { slo },
            arrival(kind, rate, cv)
        ));
    }
    scenario(&t)
}

/// Every invariant of a simulated run (`inferfair_sim::check::simulated`,
/// which the swarm tester runs too): request ends and counters, no GPU
/// overlap, batch sizes, memory, exact execution times without noise.
pub fn check_invariants(s: &Scenario, r: &inferfair_sim::RunResult, rec: &Recorder) {
    if let Err(e) = inferfair_sim::check::simulated(s, r, rec) {
        panic!("{e}");
    }
}

pub fn model_strategy() -> impl Strategy<Value = (bool, u8, f64, f64, f64)> {
    (
        any::<bool>(),
        0u8..5,
        5.0f64..600.0,
        0.5f64..4.0,
        15.0f64..80.0,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn random_scenarios_keep_every_invariant(
        seed in 0u64..1000,
        gpus in 1u32..4,
        tight_memory in any::<bool>(),
        noisy in any::<bool>(),
        models in prop::collection::vec(model_strategy(), 1..5),
    ) {
        let memory = if tight_memory { 1.0 } else { 20.0 };
        let s = random_scenario(seed, gpus, memory, if noisy { 0.3 } else { 0.0 }, &models);
        for p in policies() {
            let (r, rec) = record(&s, p);
            check_invariants(&s, &r, &rec);
            let (r2, rec2) = record(&s, p);
            prop_assert_eq!(format!("{:?}", rec.ends), format!("{:?}", rec2.ends));
            prop_assert_eq!(r.events, r2.events);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    #[test]
    fn random_heterogeneous_clusters_keep_every_invariant(
        seed in 0u64..1000,
        pools in prop::collection::vec((1u32..3, 0usize..3, prop::sample::select(vec![1.0, 20.0])), 1..4),
        noisy in any::<bool>(),
        models in prop::collection::vec(model_strategy(), 1..5),
    ) {
        // `big` (1000 MiB) must fit on some pool that profiles it.
        let runs_big = pools.iter().any(|p| p.1 != 2 && p.2 >= 1.0);
        let models: Vec<_> = models.into_iter().map(|m| (m.0 && runs_big, m.1, m.2, m.3, m.4)).collect();
        let s = random_pools_scenario(seed, &pools, if noisy { 0.3 } else { 0.0 }, &models);
        for p in policies() {
            let (r, rec) = record(&s, p);
            check_invariants(&s, &r, &rec);
            let (_, rec2) = record(&s, p);
            prop_assert_eq!(format!("{:?}", rec.ends), format!("{:?}", rec2.ends));
        }
    }
}

#[test]
fn adding_a_model_does_not_change_the_others_arrivals() {
    let one = random_scenario(5, 1, 20.0, 0.0, &[(false, 1, 100.0, 2.0, 50.0)]);
    let two = random_scenario(
        5,
        1,
        20.0,
        0.0,
        &[(false, 1, 100.0, 2.0, 50.0), (true, 0, 50.0, 1.0, 50.0)],
    );
    let arrivals = |s: &Scenario| {
        let (_, rec) = record(s, "fifo");
        let mut a: Vec<u64> = rec
            .ends
            .iter()
            .filter(|e| e.req.model == 0)
            .map(|e| e.req.arrival)
            .collect();
        a.sort();
        a
    };
    assert_eq!(arrivals(&one), arrivals(&two));
}
