//! The baselines on tiny scenarios with hand-computed, exact results: FIFO's
//! drop modes and queue limit, EDF's order and batch rule, fair queuing's
//! counters, weights and lift rule, Shepherd's largest batch, preemption
//! threshold and lost work; preemption in the serving core (one batch at a
//! time and several at once, running and waiting batches) with a scripted
//! policy; and the registry of policies defined outside the crate.

use crate::common::{Recorder, Script, check_request_ends, record, scenario};
use inferfair_sim::Scenario;
use inferfair_sim::policy::{Action, Dispatch, Fair, FairConfig, ShepherdConfig};
use inferfair_sim::state::Outcome;
use inferfair_sim::time::Nanos;
use inferfair_sim::{RunOptions, RunResult};

const MS: u64 = 1_000_000;
const US: u64 = 1_000;

/// `toy.csv` on one GPU (models preloaded): one `big` request at 0 (SLO
/// 100 ms) keeps the GPU busy 0-10 ms while `small` requests arrive every
/// 1 ms from 1 to 9 ms with an SLO of 4.5 ms (deadlines 5.5 .. 13.5 ms).
fn blocked(policy_table: &str) -> Scenario {
    scenario(&format!(
        r#"
name = "blocked"
duration_s = 0.1
profile = "toy.csv"
[cluster]
preload = true
[[models]]
model = "big"
slo_ms = 100
arrival = {{ process = "deterministic", rate_rps = 1, stop_s = 0.0005 }}
[[models]]
model = "small"
slo_ms = 4.5
arrival = {{ process = "deterministic", rate_rps = 1000, start_s = 0.001, stop_s = 0.0095 }}
{policy_table}
"#
    ))
}

/// (arrival, outcome, start, finish) of `model`'s requests, by id.
fn ends(rec: &Recorder, model: usize) -> Vec<(Nanos, Outcome, Option<Nanos>, Nanos)> {
    rec.ends
        .iter()
        .filter(|e| e.req.model == model)
        .map(|e| (e.req.arrival, e.outcome, e.start, e.finish))
        .collect()
}

fn run(s: &Scenario, policy: &str) -> (RunResult, Recorder) {
    let (r, rec) = record(s, policy);
    check_request_ends(s, &r, &rec);
    (r, rec)
}

#[test]
fn fifo_drop_never_runs_everything_late() {
    let s = blocked("");
    let (r, rec) = run(&s, "fifo");
    // 1-4 ms at 10-12, 5-8 ms at 12-14, 9 ms at 14-15: all late.
    let small = ends(&rec, 1);
    assert!(small.iter().all(|e| e.1 == Outcome::Late), "{small:?}");
    assert_eq!(small[8].3, 15 * MS);
    assert_eq!((r.models[1].late, r.models[1].dropped), (9, 0));
}

#[test]
fn fifo_drop_expired_drops_what_is_past_its_deadline_when_reached() {
    let s = blocked("[policy.fifo]\ndrop = \"expired\"");
    let (r, rec) = run(&s, "fifo");
    // At 10 ms the requests of 1-5 ms (deadlines 5.5-9.5) are expired and
    // dropped; those of 6-9 ms run as a batch of 4, 10-12 ms: 6 (10.5) and 7
    // (11.5) are late, 8 and 9 good.
    let small = ends(&rec, 1);
    for (i, e) in small.iter().enumerate() {
        let want = match i {
            0..=4 => (Outcome::Dropped, None, 10 * MS),
            5 | 6 => (Outcome::Late, Some(10 * MS), 12 * MS),
            _ => (Outcome::Good, Some(10 * MS), 12 * MS),
        };
        assert_eq!((e.1, e.2, e.3), want, "request {i}: {e:?}");
    }
    let m = &r.models[1];
    assert_eq!((m.good, m.late, m.dropped), (2, 2, 5));
}

#[test]
fn fifo_drop_hopeless_also_drops_what_cannot_finish_if_started_now() {
    let s = blocked("[policy.fifo]\ndrop = \"hopeless\"");
    let (r, rec) = run(&s, "fifo");
    // At 10 ms, 6 ms's request (deadline 10.5) cannot finish either (a batch
    // takes 1 ms at least): dropped too. 7-9 ms run as a batch (padded to 4)
    // 10-12: 7 (11.5) late, 8 and 9 good.
    let small = ends(&rec, 1);
    assert!(small[..6].iter().all(|e| e.1 == Outcome::Dropped));
    assert_eq!(small[6].1, Outcome::Late);
    assert!(small[7..].iter().all(|e| e.1 == Outcome::Good));
    assert!(rec.batches.contains(&(0, 1, 3, 4, 10 * MS, 12 * MS)));
    let m = &r.models[1];
    assert_eq!((m.good, m.late, m.dropped), (2, 1, 6));
}

#[test]
fn fifo_max_queue_drops_arrivals_that_find_the_queue_full() {
    let s = blocked("[policy.fifo]\nmax_queue = 3");
    let (r, rec) = run(&s, "fifo");
    // 1, 2, 3 ms queue; 4-9 ms find it full and are dropped on arrival;
    // 1-3 ms run 10-12 ms, all late.
    let small = ends(&rec, 1);
    for (i, e) in small.iter().enumerate() {
        if i < 3 {
            assert_eq!((e.1, e.2, e.3), (Outcome::Late, Some(10 * MS), 12 * MS));
        } else {
            assert_eq!((e.1, e.3), (Outcome::Dropped, e.0), "dropped on arrival");
        }
    }
    assert_eq!(r.models[1].dropped, 6);
}

#[test]
fn bad_policy_parameters_are_clear_errors() {
    let bad = |table: &str| {
        Scenario::parse(
            &format!(
                "name = \"bad\"\nduration_s = 1.0\nprofile = \"toy.csv\"\n[cluster]\n\
                 [[models]]\nmodel = \"small\"\narrival = {{ process = \"poisson\", rate_rps = 10 }}\n{table}"
            ),
            &crate::common::data().join("bad.toml"),
        )
        .err()
        .unwrap_or_else(|| panic!("accepted: {table}"))
        .to_string()
    };
    let cases = [
        (
            "[policy.fifo]\ndrop = \"sometimes\"",
            "unknown variant `sometimes`",
        ),
        (
            "[policy.fifo]\nmax_queue = 0",
            "max_queue: must be at least 1",
        ),
        (
            "[policy.edf]\nmax_batch = 0",
            "policy.edf: max_batch: must be at least 1",
        ),
        (
            "[policy.fair]\nweights = { small = 0.0 }",
            "weights.small: must be a positive number",
        ),
        ("[policy.fair]\nquantum = 3", "unknown field `quantum`"),
        (
            "[policy.shepherd]\npreempt_factor = 1.0",
            "preempt_factor: must be a number above 1",
        ),
        ("[policy.lottery]\ntickets = 3", "unknown policy `lottery`"),
    ];
    for (table, want) in cases {
        let e = bad(table);
        assert!(e.contains(want), "{e:?} should contain {want:?}");
    }
    // A weight for a model the scenario lacks is found when the policy is built.
    let s = blocked("[policy.fair]\nweights = { tiny = 2.0 }");
    let e = inferfair_sim::policy::build("fair", &s)
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("weights: unknown model instance `tiny` (the scenario's: big, small)"),
        "{e}"
    );
}

/// One GPU busy with `big` 0-10 ms; `x` (small, SLO 11.5 ms) arrives at
/// 2 ms after `y` (small, SLO 20 ms) at 1 ms; four `z` (small, SLO `z_slo`
/// ms) at 3, 4, 5, 6 ms.
fn three_small(z_slo: f64, table: &str) -> Scenario {
    scenario(&format!(
        r#"
name = "three"
duration_s = 0.1
profile = "toy.csv"
[cluster]
preload = true
[[models]]
model = "big"
slo_ms = 100
arrival = {{ process = "deterministic", rate_rps = 1, stop_s = 0.0005 }}
[[models]]
model = "small"
name = "y"
slo_ms = 20
arrival = {{ process = "deterministic", rate_rps = 1, start_s = 0.001, stop_s = 0.0015 }}
[[models]]
model = "small"
name = "x"
slo_ms = 11.5
arrival = {{ process = "deterministic", rate_rps = 1, start_s = 0.002, stop_s = 0.0025 }}
[[models]]
model = "small"
name = "z"
slo_ms = {z_slo}
arrival = {{ process = "deterministic", rate_rps = 1000, start_s = 0.003, stop_s = 0.0065 }}
{table}
"#
    ))
}

/// (model, requests, size, start, finish) of every batch, in order of end.
fn batches(rec: &Recorder) -> Vec<(usize, usize, u32, Nanos, Nanos)> {
    rec.batches
        .iter()
        .map(|b| (b.1, b.2, b.3, b.4, b.5))
        .collect()
}

#[test]
fn edf_runs_the_earliest_deadline_and_the_largest_batch_that_meets_it() {
    let s = three_small(8.6, "");
    let (r, rec) = run(&s, "edf");
    // At 10 ms: z's deadlines are 11.6, 12.6, 13.6, 14.6; x's 13.5; y's 21.
    // z first: 4 would end at 12 > 11.6, 2 end at 11.5: a batch of 2,
    // 10-11.5. Then x (13.5, before z's 13.6): 11.5-12.5. Then z (13.6): 2
    // would end at 14 > 13.6, 1 at 13.5: 12.5-13.5; z (14.6): 13.5-14.5;
    // y last: 14.5-15.5. Everything in time (FIFO would run y first).
    assert_eq!(
        batches(&rec),
        vec![
            (0, 1, 1, 0, 10 * MS),
            (3, 2, 2, 10 * MS, 11_500 * US),
            (2, 1, 1, 11_500 * US, 12_500 * US),
            (3, 1, 1, 12_500 * US, 13_500 * US),
            (3, 1, 1, 13_500 * US, 14_500 * US),
            (1, 1, 1, 14_500 * US, 15_500 * US),
        ]
    );
    assert_eq!(r.overall.good, 7);
    assert_eq!(r.overall.late + r.overall.dropped, 0);
}

#[test]
fn edf_drops_what_cannot_finish_even_if_started_now() {
    // z's SLO 5.6 ms: deadlines 8.6 .. 11.6: at 10 ms 8.6 and 9.6 are past,
    // 10.6 cannot make it (1 ms at least), 11.6 can alone: 10-11.
    let s = three_small(5.6, "");
    let (r, rec) = run(&s, "edf");
    let z = ends(&rec, 3);
    assert_eq!(
        z.iter().map(|e| e.1).collect::<Vec<_>>(),
        vec![
            Outcome::Dropped,
            Outcome::Dropped,
            Outcome::Dropped,
            Outcome::Good
        ]
    );
    assert_eq!(z[3].2, Some(10 * MS));
    assert_eq!(r.models[3].dropped, 3);
}

/// Two `small` models with 1 ms batches of one (`max_batch = 1`) on one GPU:
/// `a` with requests every 0.5 ms from 0 to 100 ms (always backlogged),
/// `b` the same from `b_start_s`. SLOs far away: nothing is dropped.
fn two_tenants(b_start_s: f64, table: &str) -> Scenario {
    scenario(&format!(
        r#"
name = "tenants"
duration_s = 0.1
profile = "toy.csv"
[cluster]
preload = true
[[models]]
model = "small"
name = "a"
slo_ms = 10000
arrival = {{ process = "deterministic", rate_rps = 2000 }}
[[models]]
model = "small"
name = "b"
slo_ms = 10000
arrival = {{ process = "deterministic", rate_rps = 2000, start_s = {b_start_s} }}
[policy.fair]
max_batch = 1
{table}
"#
    ))
}

/// Runs fair queuing on `s` and returns the run, its record and the counters.
fn fair(s: &Scenario) -> (RunResult, Recorder, Vec<f64>) {
    let cfg: FairConfig = inferfair_sim::policy::parse_params(&s.file.policy["fair"]).unwrap();
    let mut p = Fair::new(cfg, s).unwrap();
    let mut rec = Recorder::default();
    let r = inferfair_sim::run::simulate_with(
        s,
        &mut p,
        RunOptions {
            observer: Some(&mut rec),
            ..Default::default()
        },
    )
    .unwrap();
    rec.ends.sort_by_key(|e| e.req.id);
    check_request_ends(s, &r, &rec);
    (r, rec, p.counters().to_vec())
}

/// The model of each batch started before `t`, in order.
fn order_before(rec: &Recorder, t: Nanos) -> String {
    let mut v: Vec<_> = rec.starts.iter().filter(|st| st.4 < t).collect();
    v.sort_by_key(|st| st.4);
    v.iter().map(|st| ["a", "b"][st.2]).collect()
}

#[test]
fn fair_serves_the_smallest_counter_and_weights_scale_the_charge() {
    let s = two_tenants(0.0, "");
    let (_, rec, _) = fair(&s);
    // Equal counters: a (lower id), then b, and so on: 1 ms each.
    assert_eq!(order_before(&rec, 8 * MS), "abababab");
    // a's weight 2: a batch costs it 0.5 ms of counter. (0,0) a (.5,0) b
    // (.5,1) a (1,1) a (1.5,1) b (1.5,2) a (2,2) a (2.5,2) b ...
    let s = two_tenants(0.0, "weights = { a = 2.0 }");
    let (_, rec, counters) = fair(&s);
    assert_eq!(order_before(&rec, 11 * MS), "abaabaabaab");
    let count = |m: usize, before: Nanos| {
        rec.starts
            .iter()
            .filter(|st| st.2 == m && st.4 < before)
            .count() as f64
    };
    // Both stay backlogged until arrivals end at 100 ms: 2 to 1 until then.
    let (a, b) = (count(0, 99 * MS), count(1, 99 * MS));
    assert!((a / b - 2.0).abs() < 0.05, "{a} {b}");
    let (a, b) = (count(0, Nanos::MAX), count(1, Nanos::MAX));
    assert_eq!(counters, vec![a * 0.5 * MS as f64, b * MS as f64]);
}

#[test]
fn fair_lifts_a_newly_backlogged_model_so_that_idle_time_is_not_banked() {
    // a alone for 50 ms: 50 batches, counter 50 ms. b arrives at 50 ms and
    // is lifted to 50 ms: from then on they alternate (a first on the tie).
    let s = two_tenants(0.05, "");
    let (_, rec, counters) = fair(&s);
    let order = order_before(&rec, 60 * MS);
    assert_eq!(&order[..50], "a".repeat(50));
    assert_eq!(&order[50..], "ababababab");
    // Each charged 1 ms per batch; b's counter started at a's 50 ms.
    let b_batches = rec.starts.iter().filter(|st| st.2 == 1).count() as f64;
    assert_eq!(counters[1], (50.0 + b_batches) * MS as f64);
}

/// `big` alone on the GPU from 0 (10 ms, SLO 100 ms); two `small` requests
/// (SLO 10 ms) arrive at 2 and 2.25 ms.
fn big_then_two_small(table: &str) -> Scenario {
    scenario(&format!(
        r#"
name = "preempt"
duration_s = 0.1
profile = "toy.csv"
[cluster]
preload = true
[[models]]
model = "big"
slo_ms = 100
arrival = {{ process = "deterministic", rate_rps = 1, stop_s = 0.0005 }}
[[models]]
model = "small"
slo_ms = 10
arrival = {{ process = "deterministic", rate_rps = 4000, start_s = 0.002, stop_s = 0.0025 }}
{table}
"#
    ))
}

#[test]
fn shepherd_preempts_for_a_batch_preempt_factor_times_larger_and_loses_the_work() {
    let s = big_then_two_small("");
    let (r, rec) = run(&s, "shepherd");
    // At 2 ms a batch of 1 is not 2x the running 1; at 2.25 ms a batch of 2
    // is: big is preempted after 2.25 ms of work, the two small run
    // 2.25-3.75 ms, then big again from the start: 3.75-13.75 ms.
    assert_eq!(rec.preempted, vec![(0, 0, 0, 0, 2_250 * US)]);
    assert_eq!(
        batches(&rec),
        vec![
            (1, 2, 2, 2_250 * US, 3_750 * US),
            (0, 1, 1, 3_750 * US, 13_750 * US)
        ]
    );
    let big = &rec.ends[0];
    assert_eq!(
        (big.outcome, big.start, big.finish),
        (Outcome::Good, Some(3_750 * US), 13_750 * US)
    );
    // The lost 2.25 ms: 2.25% of the 100 ms window, within the 13.75 ms busy.
    let g = &r.gpus[0];
    assert_eq!(g.preemptions, 1);
    assert!((g.wasted - 0.0225).abs() < 1e-12, "{g:?}");
    assert!((g.utilization - 0.1375).abs() < 1e-12, "{g:?}");
    assert_eq!((r.models[0].preempted, r.models[1].preempted), (1, 0));
    assert!((r.models[0].wasted_share - 0.0225).abs() < 1e-12);
    assert_eq!(r.overall.preemptions, 1);
    assert!((r.overall.gpu_wasted - 0.0225).abs() < 1e-12);
    assert_eq!(r.overall.good, 3);
}

#[test]
fn shepherd_keeps_the_running_batch_below_the_threshold() {
    for table in [
        "[policy.shepherd]\npreempt_factor = 2.5",
        "[policy.shepherd]\npreempt = false",
    ] {
        let s = big_then_two_small(table);
        let (r, rec) = run(&s, "shepherd");
        assert!(rec.preempted.is_empty(), "{table}");
        assert_eq!(
            batches(&rec),
            vec![(0, 1, 1, 0, 10 * MS), (1, 2, 2, 10 * MS, 11_500 * US)],
            "{table}"
        );
        assert_eq!((r.overall.preemptions, r.overall.gpu_wasted), (0, 0.0));
    }
    let cfg: ShepherdConfig = inferfair_sim::policy::parse_params(&toml::Table::new()).unwrap();
    assert_eq!((cfg.preempt_factor, cfg.preempt), (2.0, true));
}

#[test]
fn shepherd_runs_the_largest_batch_first() {
    // At 10 ms (preemption off): z's four requests fit as a batch of 2 by
    // their earliest deadline (11.6), x and y as 1: z's 2, 10-11.5. At 11.5
    // z's other two (13.6, 14.6) fit as 2 (ends at 13), x as 1: z again,
    // 11.5-13, where EDF ran x. At 13, x (13.5) cannot make it: dropped; y
    // 13-14.
    let s = three_small(8.6, "[policy.shepherd]\npreempt = false");
    let (r, rec) = run(&s, "shepherd");
    assert_eq!(
        batches(&rec),
        vec![
            (0, 1, 1, 0, 10 * MS),
            (3, 2, 2, 10 * MS, 11_500 * US),
            (3, 2, 2, 11_500 * US, 13 * MS),
            (1, 1, 1, 13 * MS, 14 * MS),
        ]
    );
    assert_eq!(
        ends(&rec, 2),
        vec![(2 * MS, Outcome::Dropped, None, 13 * MS)]
    );
    assert_eq!((r.overall.good, r.overall.dropped), (6, 1));
}

fn scripted(s: &Scenario, steps: Vec<(Nanos, Vec<Action>)>) -> (RunResult, Recorder) {
    let mut p = Script::new(steps);
    let mut rec = Recorder::default();
    let r = inferfair_sim::run::simulate_with(
        s,
        &mut p,
        RunOptions {
            observer: Some(&mut rec),
            ..Default::default()
        },
    )
    .unwrap();
    rec.ends.sort_by_key(|e| e.req.id);
    check_request_ends(s, &r, &rec);
    (r, rec)
}

fn dispatch(model: usize, ids: &[u64]) -> Action {
    Action::Dispatch(Dispatch::new(0, model, ids.to_vec()))
}

/// One request of `full` (m0) and one of `other` (m1) at 0, on `conc.csv`
/// (10 ms each, util 1) with `k` slots.
fn two_at_zero(k: u32) -> Scenario {
    scenario(&format!(
        "name = \"two\"\nduration_s = 0.1\nprofile = \"conc.csv\"\n[cluster]\npreload = true\nmax_concurrent = {k}\n\
         [[models]]\nmodel = \"full\"\nslo_ms = 1000\narrival = {{ process = \"deterministic\", rate_rps = 1, stop_s = 0.001 }}\n\
         [[models]]\nmodel = \"other\"\nslo_ms = 1000\narrival = {{ process = \"deterministic\", rate_rps = 1, stop_s = 0.001 }}\n"
    ))
}

#[test]
fn a_preempted_batch_frees_its_gpu_at_once_and_its_requests_run_again() {
    // One at a time: batch 0 runs 0-3 ms, is preempted and its request runs
    // again at once as batch 1, 3-13 ms; batch 0's end at 10 ms never comes.
    let s = two_at_zero(1);
    let (r, rec) = scripted(
        &s,
        vec![
            (0, vec![dispatch(0, &[0])]),
            (
                3 * MS,
                vec![Action::Preempt { gpu: 0, batch: 0 }, dispatch(0, &[0])],
            ),
        ],
    );
    assert_eq!(rec.preempted, vec![(0, 0, 0, 0, 3 * MS)]);
    assert_eq!(rec.batches, vec![(0, 0, 1, 1, 3 * MS, 13 * MS)]);
    assert_eq!(rec.batch_ids, vec![1]);
    assert_eq!(
        (rec.ends[0].start, rec.ends[0].finish),
        (Some(3 * MS), 13 * MS)
    );
    assert!((r.gpus[0].wasted - 0.03).abs() < 1e-12);
    assert!((r.gpus[0].utilization - 0.13).abs() < 1e-12);
    // The other request never ran: unfinished at the end.
    assert_eq!(rec.ends[1].outcome, Outcome::Unfinished);
}

#[test]
fn preempting_a_waiting_batch_loses_nothing() {
    // Batch 1 (m1) waits behind batch 0; preempted at 2 ms, its request is
    // pending again, dispatched at 4 ms as batch 2: it runs 10-20 ms.
    let s = two_at_zero(1);
    let (r, rec) = scripted(
        &s,
        vec![
            (0, vec![dispatch(0, &[0]), dispatch(1, &[1])]),
            (2 * MS, vec![Action::Preempt { gpu: 0, batch: 1 }]),
            (4 * MS, vec![dispatch(1, &[1])]),
        ],
    );
    assert!(rec.preempted.is_empty());
    assert_eq!(rec.batch_ids, vec![0, 2]);
    assert_eq!(
        rec.batches,
        vec![(0, 0, 1, 1, 0, 10 * MS), (0, 1, 1, 1, 10 * MS, 20 * MS)]
    );
    assert_eq!((r.overall.preemptions, r.gpus[0].wasted), (0, 0.0));
}

#[test]
fn a_preempted_batch_leaves_the_others_to_run_faster() {
    // Two slots, processor sharing: both at half speed from 0. Batch 1 is
    // preempted at 4 ms (2 ms of 10 done by each): batch 0 alone, 8 ms left:
    // its end moves from 20 to 12 ms... until m1's request is dispatched
    // again at 5 ms (batch 2): batch 0 has 7 ms left, at half speed: 19 ms;
    // batch 2 has done 7 of 10 by then, alone: 22 ms.
    let s = two_at_zero(2);
    let (r, rec) = scripted(
        &s,
        vec![
            (0, vec![dispatch(0, &[0]), dispatch(1, &[1])]),
            (4 * MS, vec![Action::Preempt { gpu: 0, batch: 1 }]),
            (5 * MS, vec![dispatch(1, &[1])]),
        ],
    );
    assert_eq!(rec.preempted, vec![(0, 1, 1, 0, 4 * MS)]);
    assert_eq!(
        rec.batches,
        vec![(0, 0, 1, 1, 0, 19 * MS), (0, 1, 1, 1, 5 * MS, 22 * MS)]
    );
    crate::concurrent::check_concurrency(&s, &r, &rec);
    // Busy 0-22 ms, of which 4 ms lost.
    assert!((r.gpus[0].utilization - 0.22).abs() < 1e-12);
    assert!((r.gpus[0].wasted - 0.04).abs() < 1e-12);
}

#[test]
fn compare_all_runs_every_policy_and_the_table_shows_preemptions() {
    let dir = crate::common::tmp("compare-all");
    let path = dir.join("s.toml");
    std::fs::write(&path, big_then_two_small("").to_toml()).unwrap();
    let o = crate::common::bin()
        .args([
            "compare",
            path.to_str().unwrap(),
            "--policies",
            "all",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let names: Vec<&str> = doc["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["policy"].as_str().unwrap())
        .collect();
    assert_eq!(names, inferfair_sim::policy::NAMES);
    let shepherd = &doc["results"][5]["overall"];
    assert_eq!(shepherd["preemptions"], 1);
    let o = crate::common::bin()
        .args([
            "compare",
            path.to_str().unwrap(),
            "--policies",
            "fifo,shepherd",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("preempted") && text.contains("wasted"),
        "{text}"
    );
}
