//! Clockwork's `WorkerTracker`: the controller's view of when a GPU (or its
//! weight-transfer link) will be free, from the estimates of the actions it
//! sent and the measured completion of the last one that finished. Actions
//! finish in the order they were sent, so only the front is ever completed.

use crate::time::Nanos;
use std::collections::VecDeque;

/// Outstanding work on one resource.
#[derive(Clone, Debug)]
pub struct WorkerTracker {
    work_begin: Nanos,
    outstanding: VecDeque<Nanos>,
    /// The oldest outstanding action's size (0 when none).
    front: Nanos,
    total: Nanos,
    lag: Nanos,
    future: Nanos,
}

impl WorkerTracker {
    /// Nothing outstanding; `lag` and `future` as in Clockwork.
    pub fn new(lag: Nanos, future: Nanos) -> Self {
        WorkerTracker {
            work_begin: 0,
            outstanding: VecDeque::new(),
            front: 0,
            total: 0,
            lag,
            future,
        }
    }

    /// `available()`: when the outstanding work is expected to be done, never
    /// before now + future. If the running action is overdue by more than
    /// `lag`, its start is assumed to be later than measured.
    pub fn available(&self, now: Nanos) -> Nanos {
        let mut begin = self.work_begin;
        let front = self.front;
        if !self.outstanding.is_empty() && begin + front + self.lag < now {
            begin = now - self.lag - front;
        }
        (begin + self.total).max(now + self.future)
    }

    /// Whether the running action is overdue by more than `lag` at `now`:
    /// then `available(now)` moves with `now`, and only its completion (or
    /// new work) changes when the resource may be planned again.
    pub fn overdue(&self, now: Nanos) -> bool {
        !self.outstanding.is_empty() && self.work_begin + self.front + self.lag < now
    }

    /// An action of expected duration `size` was sent at `now`.
    pub fn add(&mut self, size: Nanos, now: Nanos) {
        if self.outstanding.is_empty() {
            self.work_begin = now;
            self.front = size;
        }
        self.outstanding.push_back(size);
        self.total += size;
    }

    /// The oldest action finished (or failed) at `t`.
    pub fn done(&mut self, t: Nanos) {
        let size = self.outstanding.pop_front().expect("an outstanding action");
        self.front = self.outstanding.front().copied().unwrap_or(0);
        self.total -= size;
        self.work_begin = t;
    }

    /// Number of outstanding actions.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.outstanding.len()
    }

    /// Whether nothing is outstanding.
    pub fn is_idle(&self) -> bool {
        self.outstanding.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn plans_back_to_back_and_never_before_now_plus_future() {
        let mut w = WorkerTracker::new(10 * MS, MS);
        assert_eq!(w.available(5 * MS), 6 * MS);
        w.add(3 * MS, 5 * MS);
        w.add(2 * MS, 5 * MS);
        assert_eq!(w.available(5 * MS), 10 * MS);
        // The first finished late, at 9 ms: the second is expected at 11 ms.
        w.done(9 * MS);
        assert_eq!(w.available(9 * MS), 11 * MS);
        w.done(10 * MS);
        assert_eq!(w.available(10 * MS), 11 * MS);
        assert!(w.is_idle());
    }

    #[test]
    fn an_overdue_action_pushes_the_estimate_out() {
        let mut w = WorkerTracker::new(10 * MS, MS);
        w.add(3 * MS, 0);
        // Expected done at 3 ms; at 20 ms it is 17 ms overdue (> lag): assume it began at 20 - 10 - 3.
        assert_eq!(w.available(12 * MS), 13 * MS);
        assert_eq!(w.available(20 * MS), 21 * MS);
        assert_eq!(w.len(), 1);
        // Overdue by more than lag (3 + 10 ms) from just after 13 ms.
        assert!(!w.overdue(13 * MS));
        assert!(w.overdue(13 * MS + 1));
        w.done(21 * MS);
        assert!(!w.overdue(30 * MS));
    }
}
