//! Tiny scenarios with hand-computed, exact per-request times.

use crate::common::{record, scenario};
use inferfair_sim::state::Outcome;

const MS: u64 = 1_000_000;
const US: u64 = 1_000;

#[test]
fn fifo_batches_what_queued_while_the_gpu_was_busy() {
    // small: batch 1 = 1 ms, 2 = 1.5 ms, 4 = 2 ms. Arrivals every 250 us at 0 .. 1 ms.
    let s = scenario(
        r#"
        name = "t"
        duration_s = 0.01
        profile = "toy.csv"
        [cluster]
        gpus = 1
        preload = true
        [[models]]
        model = "small"
        slo_ms = 2.6
        arrival = { process = "deterministic", rate_rps = 4000, stop_s = 0.00125 }
        "#,
    );
    let (r, rec) = record(&s, "fifo");
    // r0 runs alone 0..1 ms; r1..r4 (the last arriving exactly when r0 ends) run as a batch of 4, 1..3 ms.
    let got: Vec<_> = rec
        .ends
        .iter()
        .map(|e| (e.req.arrival, e.start, e.finish, e.batch_size, e.outcome))
        .collect();
    assert_eq!(
        got,
        vec![
            (0, Some(0), MS, 1, Outcome::Good),
            (250 * US, Some(MS), 3 * MS, 4, Outcome::Late),
            (500 * US, Some(MS), 3 * MS, 4, Outcome::Good),
            (750 * US, Some(MS), 3 * MS, 4, Outcome::Good),
            (MS, Some(MS), 3 * MS, 4, Outcome::Good),
        ]
    );
    assert_eq!(
        rec.batches,
        vec![(0, 0, 1, 1, 0, MS), (0, 0, 4, 4, MS, 3 * MS)]
    );
    let m = &r.models[0];
    assert_eq!(
        (m.arrived, m.good, m.late, m.dropped, m.unfinished),
        (5, 4, 1, 0, 0)
    );
    let p50 = m.latency_ms.p50.unwrap();
    assert!(
        (p50 - 2.25).abs() <= 2.25 * inferfair_sim::hist::RELATIVE_ERROR,
        "p50 {p50}"
    );
    assert_eq!(
        m.latency_ms.mean,
        Some((1.0 + 2.75 + 2.5 + 2.25 + 2.0) / 5.0)
    );
}

#[test]
fn fifo_serves_models_in_arrival_order_and_pads_batches() {
    // Both arrive at 0 (small's stream is first, so its request is older); big arrives again at 1 ms.
    let s = scenario(
        r#"
        name = "t"
        duration_s = 0.1
        profile = "toy.csv"
        [cluster]
        gpus = 1
        preload = true
        [[models]]
        model = "small"
        arrival = { process = "deterministic", rate_rps = 1, stop_s = 0.5 }
        [[models]]
        model = "big"
        arrival = { process = "deterministic", rate_rps = 1000, stop_s = 0.0015 }
        "#,
    );
    let (_, rec) = record(&s, "fifo");
    let spans: Vec<_> = rec
        .ends
        .iter()
        .map(|e| (e.req.model, e.req.arrival, e.start.unwrap(), e.finish))
        .collect();
    // small 0..1; then big's two requests (0 and 1 ms) in one batch of 2: 1..17 ms.
    assert_eq!(
        spans,
        vec![(0, 0, 0, MS), (1, 0, MS, 17 * MS), (1, MS, MS, 17 * MS)]
    );
}

#[test]
fn fifo_loads_on_demand_and_evicts_the_least_recently_used() {
    // 1 GiB for weights: small (100 MiB) and big (1000 MiB) do not fit together.
    let s = scenario(
        r#"
        name = "t"
        duration_s = 0.2
        profile = "toy.csv"
        [cluster]
        gpus = 1
        weights_memory_gib = 1.0
        [[models]]
        model = "small"
        arrival = { process = "deterministic", rate_rps = 1, stop_s = 0.5 }
        [[models]]
        model = "big"
        slo_ms = 60
        arrival = { process = "deterministic", rate_rps = 1, start_s = 0.005 }
        "#,
    );
    let (r, rec) = record(&s, "fifo");
    // small: load 0..10 ms, run 10..11. big arrives at 5: evict small, load 11..61, run 61..71.
    assert_eq!(
        rec.loads,
        vec![(0, 0, 0, 10 * MS), (0, 1, 11 * MS, 61 * MS)]
    );
    let e: Vec<_> = rec
        .ends
        .iter()
        .map(|e| (e.start.unwrap(), e.finish, e.coldstart, e.outcome))
        .collect();
    assert_eq!(
        e,
        vec![
            (10 * MS, 11 * MS, true, Outcome::Good),
            (61 * MS, 71 * MS, true, Outcome::Late)
        ]
    );
    assert_eq!(r.overall.coldstarts, 2);
}

#[test]
fn requests_left_at_the_end_are_unfinished() {
    // 10 big requests at once on one GPU, run ends (duration + drain) before all are done.
    let s = scenario(
        r#"
        name = "t"
        duration_s = 0.001
        drain_s = 0.02
        profile = "toy.csv"
        [cluster]
        gpus = 1
        preload = true
        [[models]]
        model = "big"
        arrival = { process = "closed", clients = 3, think_ms = 0 }
        "#,
    );
    let (r, rec) = record(&s, "fifo");
    let m = &r.models[0];
    // 3 requests within the first 1 ms; they run as batch 1 (10 ms) then batch 2 (16 ms): the second ends at 26 > 21 ms.
    assert_eq!(m.arrived, 3);
    assert_eq!(m.good + m.unfinished, 3);
    assert_eq!(m.unfinished, 2);
    assert_eq!(rec.ends.len(), 3);
}
