//! Which batches InferFair runs together on a GPU that allows several at
//! once (`max_concurrent` > 1): a batch starts beside the running ones only
//! if the pool's interference model predicts that (a) it meets the earliest
//! deadline of its requests, (b) no running batch that meets its earliest
//! deadline now misses it because of the newcomer, and (c) the GPU does more
//! solo work per second with it than without it (the sum over batches of
//! 1 / slowdown grows). Under processor sharing (util 1, no contention) (c)
//! never holds, so InferFair runs one batch at a time there; batches that
//! leave SMs idle (small batches of small models) run side by side.
//!
//! A batch refused beside others could wait for ever on a GPU that keeps
//! admitting smaller ones. So under overload the first model (in InferFair's
//! order) whose batch is refused reserves the GPU, as EASY backfilling
//! reserves a machine for the first job in its queue: until the running
//! batches have drained ([`drained`]), another batch starts there only if
//! the GPU still drains by then with it ([`delays`] is false).

use crate::interference::{Interference, Runner};
use crate::time::Nanos;

/// A batch running (or about to run) on the GPU, as the admission sees it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Running {
    /// What the interference model knows of it.
    pub runner: Runner,
    /// Solo work left (ns of its profiled time).
    pub work: f64,
    /// The earliest deadline of its requests.
    pub deadline: Nanos,
}

/// The running batches of a GPU as the admission sees them: their solo work
/// left, from their expected ends at the slowdown they run at now.
pub(super) fn running(
    model: &Interference,
    batches: &[(Runner, Nanos, Nanos)],
    now: Nanos,
) -> Vec<Running> {
    let runners: Vec<Runner> = batches.iter().map(|b| b.0).collect();
    batches
        .iter()
        .enumerate()
        .map(|(i, &(runner, end, deadline))| Running {
            runner,
            work: end.saturating_sub(now) as f64 / model.slowdown(&runners, i).max(1.0),
            deadline,
        })
        .collect()
}

/// Whether `cand` (solo time `exec`, earliest deadline `deadline`) may start
/// at `now` beside `running` under `model`.
pub(super) fn admit(
    model: &Interference,
    running: &[Running],
    cand: Runner,
    exec: Nanos,
    deadline: Nanos,
    now: Nanos,
) -> bool {
    if running.is_empty() {
        return true;
    }
    let before: Vec<Runner> = running.iter().map(|r| r.runner).collect();
    let mut after = before.clone();
    after.push(cand);
    let s_before: Vec<f64> = (0..before.len())
        .map(|i| model.slowdown(&before, i))
        .collect();
    let s_after: Vec<f64> = (0..after.len())
        .map(|i| model.slowdown(&after, i))
        .collect();
    // (c) more work per second.
    let rate = |s: &[f64]| s.iter().map(|x| 1.0 / x.max(1.0)).sum::<f64>();
    if rate(&s_after) <= rate(&s_before) * (1.0 + 1e-9) {
        return false;
    }
    // (a) the newcomer meets its deadline at its slowdown.
    let mine = (exec as f64 * s_after[before.len()]).ceil() as Nanos;
    if now.saturating_add(mine) > deadline {
        return false;
    }
    // (b) nobody on time now is made late.
    running.iter().enumerate().all(|(i, r)| {
        let wall = |s: f64| (r.work * s).ceil() as Nanos;
        let on_time = now.saturating_add(wall(s_before[i])) <= r.deadline;
        !on_time || now.saturating_add(wall(s_after[i])) <= r.deadline
    })
}

/// When every batch of `running` is predicted to have ended, at the
/// slowdowns they run at together (`now` if none runs).
pub(super) fn drained(model: &Interference, running: &[Running], now: Nanos) -> Nanos {
    let runners: Vec<Runner> = running.iter().map(|r| r.runner).collect();
    running
        .iter()
        .enumerate()
        .map(|(i, r)| {
            now.saturating_add((r.work * model.slowdown(&runners, i).max(1.0)).ceil() as Nanos)
        })
        .max()
        .unwrap_or(now)
}

/// Whether starting `cand` (solo time `exec`) beside `running` at `now`
/// makes the GPU drain later than `by`.
pub(super) fn delays(
    model: &Interference,
    running: &[Running],
    cand: Runner,
    exec: Nanos,
    now: Nanos,
    by: Nanos,
) -> bool {
    let mut all = running.to_vec();
    all.push(Running {
        runner: cand,
        work: exec as f64,
        deadline: Nanos::MAX,
    });
    drained(model, &all, now) > by
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Nanos = 1_000_000;

    /// A batch alone on the GPU with `left_ms` of solo work left.
    fn run(util: f64, left_ms: u64, deadline_ms: u64) -> Running {
        Running {
            runner: Runner { kind: 0, util },
            work: (left_ms * MS) as f64,
            deadline: deadline_ms * MS,
        }
    }

    #[test]
    fn work_left_comes_from_the_expected_end_at_the_current_slowdown() {
        // Two util-1 batches share the GPU: each at half speed; 10 ms to their
        // expected end is 5 ms of solo work.
        let m = Interference::default();
        let r = Runner { kind: 0, util: 1.0 };
        let v = running(&m, &[(r, 10 * MS, 50 * MS), (r, 4 * MS, 50 * MS)], 0);
        assert_eq!((v[0].work, v[1].work), ((5 * MS) as f64, (2 * MS) as f64));
    }

    #[test]
    fn processor_sharing_never_pays() {
        // util 1 each: the GPU does the same work per second with one or two batches.
        let m = Interference::default();
        let cand = Runner { kind: 0, util: 1.0 };
        assert!(!admit(&m, &[run(1.0, 5, 100)], cand, 5 * MS, 100 * MS, 0));
        assert!(admit(&m, &[], cand, 5 * MS, 100 * MS, 0));
    }

    #[test]
    fn small_batches_that_fit_side_by_side_are_admitted_unless_someone_would_be_late() {
        let m = Interference::default();
        let cand = Runner { kind: 0, util: 0.3 };
        // 0.3 + 0.4 <= 1: no slowdown, twice the work per second.
        assert!(admit(&m, &[run(0.4, 5, 100)], cand, 5 * MS, 100 * MS, 0));
        // 0.8 + 0.7 = 1.5: both at 1/1.5, 2/1.5 > 1 pays, but the running
        // batch (6 ms of work left, deadline 8 ms) would take 9 ms: refused.
        let cand = Runner { kind: 0, util: 0.7 };
        assert!(!admit(&m, &[run(0.8, 6, 8)], cand, 5 * MS, 100 * MS, 0));
        assert!(admit(&m, &[run(0.8, 6, 10)], cand, 5 * MS, 100 * MS, 0));
        // ... and the newcomer itself must make it: 5 ms x 1.5 = 7.5 > 7.
        assert!(!admit(&m, &[run(0.8, 6, 10)], cand, 5 * MS, 7 * MS, 0));
        // With contention 0.5 two batches do 2/(1.5*1.5) < 1 of the work: refused.
        let m = Interference {
            contention: 0.5,
            ..Default::default()
        };
        assert!(!admit(&m, &[run(0.8, 6, 100)], cand, 5 * MS, 100 * MS, 0));
    }

    #[test]
    fn the_gpu_drains_when_its_slowest_batch_ends() {
        let m = Interference::default();
        // Alone: 10 ms of work left ends in 10 ms.
        assert_eq!(drained(&m, &[run(1.0, 10, 100)], 0), 10 * MS);
        // Two util-1 batches share the GPU: each runs at half speed.
        assert_eq!(
            drained(&m, &[run(1.0, 10, 100), run(1.0, 4, 100)], 0),
            20 * MS
        );
        // Nothing runs: free now.
        assert_eq!(drained(&m, &[], 7), 7);
    }

    #[test]
    fn a_batch_that_ends_before_the_drain_does_not_delay_it() {
        let m = Interference::default();
        let small = Runner { kind: 0, util: 0.3 };
        // A util-0.5 batch with 10 ms left: the GPU drains at 10 ms. A
        // util-0.3 batch of 2 ms fits beside it without slowing anyone.
        let running = [run(0.5, 10, 100)];
        let by = drained(&m, &running, 0);
        assert!(!delays(&m, &running, small, 2 * MS, 0, by));
        // One of 12 ms would end after the drain.
        assert!(delays(&m, &running, small, 12 * MS, 0, by));
        // A util-1 batch slows the running one past 10 ms.
        assert!(delays(
            &m,
            &running,
            Runner { kind: 0, util: 1.0 },
            2 * MS,
            0,
            by
        ));
    }
}
