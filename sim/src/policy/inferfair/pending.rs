//! A model's pending requests as InferFair sees them, in deadline order.
//!
//! A model's queue is in arrival order. When every request of the model has
//! the model's SLO, that is also deadline order, and the requests this
//! decision has already consumed (dispatched or dropped) are a prefix of the
//! queue: `Fifo` only counts them. Requests with their own SLOs (a trace's
//! `slo_ms` column) break that order; from the first arrival whose deadline
//! is earlier than the one before it, the model's pending requests are kept
//! in a `BTreeSet` by (deadline, id) (`Edf`) until its queue is empty again,
//! so that "the requests that can no longer make it", "the earliest
//! deadline" and "the requests a batch of b can include in time" are found
//! without scanning the whole queue.

use crate::state::{Request, RequestId};
use crate::time::Nanos;
use std::collections::{BTreeSet, VecDeque};

/// One model's pending requests in deadline order.
#[derive(Clone, Debug, Default)]
pub(super) struct Pending {
    /// `None`: the queue is in deadline order and `skip` requests at its
    /// front are consumed in this decision. `Some`: the pending requests by
    /// (deadline, id).
    edf: Option<BTreeSet<(Nanos, RequestId)>>,
    skip: usize,
}

impl Pending {
    /// Whether the queue is out of deadline order (per-request SLOs).
    #[cfg(test)]
    pub(super) fn is_edf(&self) -> bool {
        self.edf.is_some()
    }

    /// The start of a decision: the queue holds exactly the pending requests.
    pub(super) fn reset(&mut self, q: &VecDeque<Request>) {
        self.skip = 0;
        if q.is_empty() {
            self.edf = None;
        }
    }

    /// The request at the back of `q` has just arrived.
    pub(super) fn arrived(&mut self, q: &VecDeque<Request>) {
        let Some(r) = q.back() else { return };
        match &mut self.edf {
            Some(set) => {
                set.insert((r.deadline, r.id));
            }
            None => {
                let n = q.len();
                if n >= 2 && q[n - 1].deadline < q[n - 2].deadline {
                    self.edf = Some(q.iter().map(|r| (r.deadline, r.id)).collect());
                    self.skip = 0;
                }
            }
        }
    }

    /// Pending requests not consumed in this decision.
    #[inline]
    pub(super) fn len(&self, q: &VecDeque<Request>) -> usize {
        match &self.edf {
            Some(set) => set.len(),
            None => q.len() - self.skip,
        }
    }

    /// The deadline of the `k`-th pending request in deadline order.
    #[inline]
    pub(super) fn deadline(&self, q: &VecDeque<Request>, k: usize) -> Nanos {
        match &self.edf {
            Some(set) => set.iter().nth(k).expect("k < len").0,
            None => q[self.skip + k].deadline,
        }
    }

    /// The latest deadline of the pending requests.
    pub(super) fn last_deadline(&self, q: &VecDeque<Request>) -> Option<Nanos> {
        match &self.edf {
            Some(set) => set.last().map(|e| e.0),
            None => (q.len() > self.skip).then(|| q[q.len() - 1].deadline),
        }
    }

    /// How many pending requests have a deadline earlier than `t`.
    #[inline]
    pub(super) fn before(&self, q: &VecDeque<Request>, t: Nanos) -> usize {
        match &self.edf {
            Some(set) => set.range(..(t, 0)).count(),
            // Most often none is due: the first pending request says so.
            None if q.get(self.skip).is_none_or(|r| r.deadline >= t) => 0,
            None => q.partition_point(|r| r.deadline < t).max(self.skip) - self.skip,
        }
    }

    /// Consumes the first `k` pending requests in deadline order; their ids,
    /// increasing, in `ids` (an empty list, given for reuse).
    pub(super) fn take(
        &mut self,
        q: &VecDeque<Request>,
        k: usize,
        mut ids: Vec<RequestId>,
    ) -> Vec<RequestId> {
        match &mut self.edf {
            Some(set) => {
                ids.extend((0..k).map(|_| set.pop_first().expect("k <= len").1));
                ids.sort_unstable();
            }
            None => {
                ids.extend(q.range(self.skip..self.skip + k).map(|r| r.id));
                self.skip += k;
            }
        }
        ids
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(id: u64, deadline: Nanos) -> Request {
        Request {
            id,
            model: 0,
            arrival: id,
            deadline,
        }
    }

    fn arrive(p: &mut Pending, q: &mut VecDeque<Request>, r: Request) {
        q.push_back(r);
        p.arrived(q);
    }

    #[test]
    fn in_order_arrivals_stay_a_prefix() {
        let (mut p, mut q) = (Pending::default(), VecDeque::new());
        for (i, d) in [10, 20, 20, 30].into_iter().enumerate() {
            arrive(&mut p, &mut q, req(i as u64, d));
        }
        assert!(!p.is_edf());
        assert_eq!(p.before(&q, 20), 1);
        assert_eq!(p.before(&q, 21), 3);
        assert_eq!(p.take(&q, 2, Vec::new()), vec![0, 1]);
        assert_eq!((p.len(&q), p.deadline(&q, 0), p.before(&q, 21)), (2, 20, 1));
        assert_eq!(p.last_deadline(&q), Some(30));
    }

    #[test]
    fn out_of_order_deadlines_switch_to_deadline_order() {
        let (mut p, mut q) = (Pending::default(), VecDeque::new());
        // Half loose (1000), half tight (40), interleaved: arrival order is not deadline order.
        arrive(&mut p, &mut q, req(0, 1000));
        arrive(&mut p, &mut q, req(1, 41));
        arrive(&mut p, &mut q, req(2, 1002));
        arrive(&mut p, &mut q, req(3, 43));
        assert!(p.is_edf());
        assert_eq!(p.len(&q), 4);
        assert_eq!(p.deadline(&q, 0), 41);
        assert_eq!(p.before(&q, 100), 2);
        assert_eq!(p.last_deadline(&q), Some(1002));
        // The two tight ones first, ids increasing.
        assert_eq!(p.take(&q, 2, Vec::new()), vec![1, 3]);
        assert_eq!(p.take(&q, 1, Vec::new()), vec![0]);
        // The engine removes them from the queue; once it is empty, back to the prefix form.
        q.retain(|r| r.id == 2);
        p.reset(&q);
        assert!(p.is_edf());
        q.clear();
        p.reset(&q);
        assert!(!p.is_edf());
    }
}
