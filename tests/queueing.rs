//! Agreement with queueing theory.

use crate::common::scenario;

fn md1_mean_wait_ms(rate_rps: f64) -> (f64, f64) {
    let s = scenario(&format!(
        r#"
        name = "md1"
        seed = 11
        duration_s = 1500.0
        warmup_s = 10.0
        profile = "md1.csv"
        [cluster]
        gpus = 1
        [[models]]
        model = "d"
        slo_ms = 10000
        arrival = {{ process = "poisson", rate_rps = {rate_rps} }}
        "#
    ));
    let r = inferfair_sim::simulate(&s, "fifo", Default::default()).unwrap();
    let d = 1.0; // ms
    let rho = rate_rps * d / 1000.0;
    let theory = rho * d / (2.0 * (1.0 - rho));
    (r.models[0].latency_ms.mean.unwrap() - d, theory)
}

#[test]
fn fifo_matches_md1_mean_waiting_time() {
    for rate in [500.0, 800.0] {
        let (sim, theory) = md1_mean_wait_ms(rate);
        let err = (sim - theory).abs() / theory;
        assert!(
            err < 0.04,
            "rho {}: Wq simulated {sim:.4} ms vs M/D/1 {theory:.4} ms ({:.1}% off)",
            rate / 1000.0,
            err * 100.0
        );
    }
}
