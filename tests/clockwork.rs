//! The Clockwork policy: tiny scenarios with hand-computed, exact results
//! (on tests/data/toy.csv: small = 1 / 1.5 / 2 ms at batch 1 / 2 / 4, 100 MiB,
//! 10 ms to load; big = 10 / 16 ms at batch 1 / 2, 1000 MiB, 50 ms to load),
//! the paper's isolation claim against FIFO, and its request log.
//!
//! Reminders for the hand computations: a request's internal deadline is
//! arrival + SLO - 5 ms; a GPU is planned up to 10 ms ahead and never before
//! now + 1 ms; a strategy's priority is the front request's internal deadline
//! minus the estimated time of its batch size.

use crate::common::{data, record, record_with, scenario};
use inferfair_sim::state::Outcome;
use std::process::Command;

const MS: u64 = 1_000_000;
const US: u64 = 1_000;

#[test]
fn picks_the_largest_batch_its_queue_fills() {
    // Seven requests of `small` at once on an idle GPU: batch 4 (0..2 ms); then
    // three are left, the batch-4 queue is not full and batch 2 is the largest
    // that is (2..3.5 ms); then the last alone (3.5..4.5 ms). FIFO would run 4 + 3 padded to 4.
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
        arrival = { process = "trace", path = "clockwork_batch.csv" }
        "#,
    );
    let (r, rec) = record(&s, "clockwork");
    assert_eq!(
        rec.batches,
        vec![
            (0, 0, 4, 4, 0, 2 * MS),
            (0, 0, 2, 2, 2 * MS, 3500 * US),
            (0, 0, 1, 1, 3500 * US, 4500 * US)
        ]
    );
    let ids: Vec<_> = rec
        .ends
        .iter()
        .map(|e| (e.req.id, e.batch_size, e.outcome))
        .collect();
    assert_eq!(
        ids,
        vec![
            (0, 4, Outcome::Good),
            (1, 4, Outcome::Good),
            (2, 4, Outcome::Good),
            (3, 4, Outcome::Good),
            (4, 2, Outcome::Good),
            (5, 2, Outcome::Good),
            (6, 1, Outcome::Good)
        ]
    );
    assert_eq!(r.models[0].good, 7);
}

#[test]
fn the_drop_step_drops_what_cannot_make_it_and_times_it_out() {
    // Two `big` requests at 0 run as a batch of 2 (0..16 ms); the GPU is booked
    // until 16 ms, so nothing more is planned before 6 ms. `small` requests
    // arrive at 1 and 2 ms (SLO 20: internal deadlines 16 and 17 ms) and 3 ms
    // (SLO 40: 38 ms). At 6 ms + 1 ns the best strategy is small's batch 4;
    // try_dequeue at 16 ms drops the 1 ms request from every queue (16 < 16 + 1),
    // keeps the 2 ms one in the batch-1 queue (17 < 17 is false) and fails (one
    // request per queue); the model's strategies come back capped at 3, then the
    // batch-1 strategy dispatches the 2 ms request to run at 16..17 ms. The 3 ms
    // request follows at 17..18 ms. The dropped request times out at its
    // internal deadline, 16 ms.
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
        arrival = { process = "trace", path = "clockwork_drop.csv" }
        [[models]]
        model = "big"
        arrival = { process = "trace", path = "clockwork_drop.csv" }
        "#,
    );
    let (r, rec) = record(&s, "clockwork");
    let got: Vec<_> = rec
        .ends
        .iter()
        .map(|e| {
            (
                e.req.id,
                e.req.model,
                e.req.arrival,
                e.start,
                e.finish,
                e.outcome,
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (0, 1, 0, Some(0), 16 * MS, Outcome::Good),
            (1, 1, 0, Some(0), 16 * MS, Outcome::Good),
            (2, 0, MS, None, 16 * MS, Outcome::Dropped),
            (3, 0, 2 * MS, Some(16 * MS), 17 * MS, Outcome::Good),
            (4, 0, 3 * MS, Some(17 * MS), 18 * MS, Outcome::Good),
        ]
    );
    assert_eq!((r.models[0].dropped, r.models[0].good), (1, 2));
}

#[test]
fn serves_models_by_least_slack_not_arrival_order() {
    // a (small, SLO 60), b (small, SLO 30) and c (big, SLO 100) each get one
    // request at 0. Best strategies: b 25 - 2 = 23 ms, a 55 - 2 = 53 ms,
    // c 95 - 16 = 79 ms; each fails at its largest batch size and is dispatched
    // at batch 1. So b runs first (0..1 ms), then a (1..2 ms), then c (2..12 ms),
    // although a's request is the oldest (id 0).
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
        name = "a"
        arrival = { process = "trace", path = "clockwork_slack.csv" }
        [[models]]
        model = "small"
        name = "b"
        arrival = { process = "trace", path = "clockwork_slack.csv" }
        [[models]]
        model = "big"
        name = "c"
        arrival = { process = "trace", path = "clockwork_slack.csv" }
        "#,
    );
    let (_, rec) = record(&s, "clockwork");
    assert_eq!(
        rec.batches,
        vec![
            (0, 1, 1, 1, 0, MS),
            (0, 0, 1, 1, MS, 2 * MS),
            (0, 2, 1, 1, 2 * MS, 12 * MS)
        ]
    );
    let (_, fifo) = record(&s, "fifo");
    assert_eq!(
        fifo.batches.iter().map(|b| b.1).collect::<Vec<_>>(),
        vec![0, 1, 2]
    );
}

#[test]
fn a_cold_start_that_makes_its_deadline() {
    // Nothing loaded: the request's demand makes the GPU load `small` (0..10 ms);
    // when the load is done the request is planned at 10 + 1 ms and runs at
    // once, 10..11 ms: within its SLO of 100 ms.
    let s = scenario(
        r#"
        name = "t"
        duration_s = 0.2
        profile = "toy.csv"
        [cluster]
        gpus = 1
        [[models]]
        model = "small"
        arrival = { process = "deterministic", rate_rps = 1, stop_s = 0.5 }
        "#,
    );
    let (r, rec) = record(&s, "clockwork");
    assert_eq!(rec.loads, vec![(0, 0, 0, 10 * MS)]);
    let e = rec.ends[0];
    assert_eq!(
        (e.start, e.finish, e.outcome, e.coldstart),
        (Some(10 * MS), 11 * MS, Outcome::Good, true)
    );
    assert_eq!(r.overall.coldstarts, 1);
}

#[test]
fn a_cold_start_that_cannot_make_it_is_dropped() {
    // `big` with a 50 ms SLO: internal deadline 45 ms, but its load takes
    // 0..50 ms. The request times out (is dropped) at 45 ms, before the load is done.
    let s = scenario(
        r#"
        name = "t"
        duration_s = 0.2
        profile = "toy.csv"
        [cluster]
        gpus = 1
        [[models]]
        model = "big"
        slo_ms = 50
        arrival = { process = "deterministic", rate_rps = 1, stop_s = 0.5 }
        "#,
    );
    let (r, rec) = record(&s, "clockwork");
    assert_eq!(rec.loads, vec![(0, 0, 0, 50 * MS)]);
    let e = rec.ends[0];
    assert_eq!(
        (e.start, e.finish, e.outcome),
        (None, 45 * MS, Outcome::Dropped)
    );
    assert!(rec.batches.is_empty());
    assert_eq!(r.models[0].dropped, 1);
}

#[test]
fn evicts_the_least_recently_used_model() {
    // 256 MiB of weights memory = 16 pages of 16 MiB; `small` takes 7, so two
    // copies fit and a third does not. a, b, c: a at 0 (load 0..10, run 10..11),
    // b at 20 (load 20..30, run 30..31), a at 40 (loaded: 40..41), c at 60: b was
    // used least recently, so b goes (load c 60..70, run 70..71); a at 80 is still
    // loaded (80..81); b at 100: now c is the least recently used (load b 100..110).
    let s = scenario(
        r#"
        name = "t"
        duration_s = 0.2
        profile = "toy.csv"
        [cluster]
        gpus = 1
        weights_memory_gib = 0.25
        [[models]]
        model = "small"
        name = "a"
        arrival = { process = "trace", path = "clockwork_lru.csv" }
        [[models]]
        model = "small"
        name = "b"
        arrival = { process = "trace", path = "clockwork_lru.csv" }
        [[models]]
        model = "small"
        name = "c"
        arrival = { process = "trace", path = "clockwork_lru.csv" }
        "#,
    );
    let (r, rec) = record(&s, "clockwork");
    assert_eq!(
        rec.loads,
        vec![
            (0, 0, 0, 10 * MS),
            (0, 1, 20 * MS, 30 * MS),
            (0, 2, 60 * MS, 70 * MS),
            (0, 1, 100 * MS, 110 * MS)
        ]
    );
    assert_eq!(rec.evicts, vec![(0, 1, 60 * MS), (0, 2, 100 * MS)]);
    let runs: Vec<_> = rec
        .ends
        .iter()
        .map(|e| (e.req.model, e.start.unwrap(), e.finish))
        .collect();
    assert_eq!(
        runs,
        vec![
            (0, 10 * MS, 11 * MS),
            (1, 30 * MS, 31 * MS),
            (0, 40 * MS, 41 * MS),
            (2, 70 * MS, 71 * MS),
            (0, 80 * MS, 81 * MS),
            (1, 110 * MS, 111 * MS)
        ]
    );
    assert_eq!(r.overall.good, 6);
}

/// Good / arrived over the models whose name starts with `prefix`.
fn attainment(r: &inferfair_sim::RunResult, prefix: &str) -> f64 {
    let (good, arrived) = r
        .models
        .iter()
        .filter(|m| m.model.starts_with(prefix))
        .fold((0, 0), |(g, a), m| (g + m.good, a + m.arrived));
    assert!(
        arrived > 1000,
        "{prefix}: too few requests ({arrived}) to judge 99.9%"
    );
    good as f64 / arrived as f64
}

#[test]
fn isolates_the_foreground_where_fifo_does_not() {
    // The paper's claim on (a shortened copy of) scenarios/clockwork-isolation.toml:
    // with closed-loop background clients saturating the GPU, Clockwork still
    // meets the SLO of at least 99.9% of the moderate foreground load; FIFO does not.
    let s = inferfair_sim::Scenario::load(&data().join("clockwork-isolation-short.toml")).unwrap();
    let (cw, _) = record(&s, "clockwork");
    let (fifo, _) = record(&s, "fifo");
    assert!(
        fifo.gpus[0].utilization > 0.99 && cw.gpus[0].utilization > 0.99,
        "the background saturates the GPU"
    );
    let (cw_fg, fifo_fg) = (attainment(&cw, "fg"), attainment(&fifo, "fg"));
    assert!(cw_fg >= 0.999, "clockwork foreground attainment {cw_fg}");
    assert!(fifo_fg < 0.999, "fifo foreground attainment {fifo_fg}");
}

#[test]
fn invalid_parameters_are_clear_errors() {
    let bad = |table: &str| {
        let text = format!(
            "name = \"t\"\nduration_s = 1.0\nprofile = \"toy.csv\"\n[cluster]\n[[models]]\nmodel = \"small\"\n\
             arrival = {{ process = \"poisson\", rate_rps = 1 }}\n[policy.clockwork]\n{table}\n"
        );
        inferfair_sim::Scenario::parse(&text, &data().join("inline.toml"))
            .unwrap_err()
            .to_string()
    };
    assert!(bad("schedule_ahead = 10").contains("unknown field `schedule_ahead`"));
    assert!(bad("max_batch = 0").contains("max_batch"));
    assert!(bad("buffer_ms = -1").contains("policy.clockwork"));
}

#[test]
fn writes_the_request_log_in_clockworks_columns() {
    let dir = std::env::temp_dir().join(format!("inferfair-test-{}-cwlog", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let scen = dir.join("s.toml");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        &scen,
        format!(
            "name = \"t\"\nduration_s = 0.2\nprofile = \"{}\"\n[cluster]\ngpus = 1\n[[models]]\nmodel = \"small\"\n\
             arrival = {{ process = \"deterministic\", rate_rps = 1, stop_s = 0.5 }}\n\
             [[models]]\nmodel = \"big\"\nslo_ms = 50\narrival = {{ process = \"deterministic\", rate_rps = 1, stop_s = 0.5 }}\n",
            data().join("toy.csv").display()
        ),
    )
    .unwrap();
    let out_dir = dir.join("out");
    let out = Command::new(env!("CARGO_BIN_EXE_inferfair"))
        .args([
            "simulate",
            scen.to_str().unwrap(),
            "--policy",
            "clockwork",
            "--out",
            out_dir.to_str().unwrap(),
            "--clockwork-log",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(out_dir.join("clockwork_requests.tsv")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "t\trequest_id\tresult\tuser_id\tmodel_id\tslo_factor\tlatency\tdeadline\tdeadline_met\tarrival_count\tdeparture_count\tis_coldstart"
    );
    // Both arrive at 0 on an empty GPU. big's load demand is higher, so it loads
    // first (0..50 ms) and times out at 45 ms, a cold request; small loads next
    // (50..60 ms), runs 60..61 ms, a cold start that succeeds.
    assert_eq!(
        &lines[1..],
        &[
            "45000000\t1\t4\t1\t1\t0\t45000000\t50000000\t0\t0\t0\t0",
            "61000000\t0\t0\t0\t0\t0\t61000000\t100000000\t1\t0\t1\t1",
        ]
    );
    let again = dir.join("again");
    let out = Command::new(env!("CARGO_BIN_EXE_inferfair"))
        .args(["simulate", scen.to_str().unwrap(), "--clockwork-log"])
        .output()
        .unwrap();
    assert!(!out.status.success(), "--clockwork-log needs --out");
    assert!(!again.exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn which_gpus_a_decision_visits_changes_nothing() {
    // 80 GPUs with room for 9 of the 10 models each (preloaded, spread): each
    // model is on 72 GPUs, more than Clockwork watches directly, so a
    // decision walks an arrived model's holders and stops where its queue
    // empties. Bursts queue requests on busy GPUs, and the model missing
    // from a GPU is loaded there (evicting another) when its demand grows.
    // Walking every arrived model's holders, watching them all, or visiting
    // every GPU in every decision must give the same run, to the nanosecond.
    use inferfair_sim::policy::clockwork::{Clockwork, ClockworkConfig};
    let s = scenario(
        r#"
        name = "visits"
        duration_s = 0.4
        warmup_s = 0.0
        profile = "../../profiles/v100.csv"
        [cluster]
        gpus = 80
        weights_memory_gib = 0.9
        preload = true
        [[models]]
        model = "resnet50"
        count = 10
        zipf_alpha = 1.0
        slo_ms = 60
        arrival = { process = "gamma", rate_rps = 9000, cv = 3 }
        "#,
    );
    let run = |visiting: Option<(usize, usize)>| {
        let mut p = Clockwork::new(ClockworkConfig::default());
        if let Some((dense, few)) = visiting {
            p = p.visiting(dense, few);
        }
        record_with(&s, &mut p).1
    };
    let walked = run(None);
    assert!(walked.batches.len() > 2000, "{}", walked.batches.len());
    assert!(!walked.loads.is_empty() && !walked.evicts.is_empty());
    for v in [(0, 0), (0, usize::MAX), (usize::MAX, 0)] {
        let other = run(Some(v));
        assert_eq!(walked.batches, other.batches, "{v:?}");
        assert_eq!(walked.loads, other.loads, "{v:?}");
        assert_eq!(walked.evicts, other.evicts, "{v:?}");
    }
}
