//! Which batches InferFair runs together on a GPU that allows several at
//! once (`max_concurrent` > 1): a batch starts beside the running ones only
//! if the pool's interference model predicts that (a) it meets the earliest
//! deadline of its requests, (b) no running batch that meets its earliest
//! deadline now misses it because of the newcomer, and (c) the GPU does more
//! solo work per second with it than without it (the sum over batches of
//! 1 / slowdown grows). Under processor sharing (util 1, no contention) (c)
//! never holds, so InferFair runs one batch at a time there; batches that
//! leave SMs idle (small batches of small models) run side by side.

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
}
