//! One model's requests as Clockwork's `Model` holds them: one FIFO queue per
//! allowed batch size, every request appended to all of them
//! (`pull_incoming_requests`); strategies from the queue fronts
//! (`new_strategies`); and `try_dequeue` with its drop step, largest feasible
//! batch, and catching up of the other queues.
//!
//! Every queue only ever loses requests at its front, so each is a suffix of
//! the model's arrival sequence: it is stored as the sequence number of its
//! front (`heads`) over one shared list of requests. Requests no queue holds
//! any more are forgotten all at once when every queue is empty (most
//! batches), else once they are half the list: a request is then read by
//! plain indexing, without a ring's wrap-around.

use super::estimates::Estimates;
use crate::state::RequestId;
use crate::time::Nanos;

/// A request as the scheduler tracks it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The request.
    pub id: RequestId,
    /// Internal deadline: arrival + exec_slo.
    pub deadline: Nanos,
    /// Its execution demand in the load tracker.
    pub exec_demand: i64,
    /// Its weight-load demand in the load tracker.
    pub load_demand: i64,
    /// Timed out already (still in a queue, never to be dispatched).
    pub gone: bool,
}

/// What `try_dequeue` took for a batch (its requests go to a list of the caller's).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Taken {
    /// Index of the batch size in the model's allowed sizes.
    pub size_index: usize,
    /// Their execution demand.
    pub exec_demand: i64,
    /// Their weight-load demand.
    pub load_demand: i64,
}

/// The per-batch-size queues of one model.
#[derive(Clone, Debug)]
pub struct ModelQueues {
    /// Allowed batch sizes, ascending.
    sizes: Vec<u32>,
    entries: Vec<Entry>,
    /// Sequence number of `entries[0]`.
    base: u64,
    /// Sequence number of the first request a queue holds (the least of `heads`).
    start: u64,
    /// Sequence number of the next request.
    next: u64,
    /// Per queue: sequence number of its front.
    heads: Vec<u64>,
}

impl ModelQueues {
    /// Empty queues for these allowed batch sizes (ascending).
    pub fn new(sizes: Vec<u32>) -> Self {
        ModelQueues {
            heads: vec![0; sizes.len()],
            sizes,
            entries: Vec::new(),
            base: 0,
            start: 0,
            next: 0,
        }
    }

    /// Appends a request to every queue.
    pub fn push(&mut self, e: Entry) {
        debug_assert!(self.entries.last().is_none_or(|b| b.id < e.id));
        self.entries.push(e);
        self.next += 1;
    }

    /// Whether every queue is empty.
    pub fn is_empty(&self) -> bool {
        self.start == self.next
    }

    /// Index of the smallest allowed batch size that holds `n` requests: the
    /// size a batch of `n` runs as (the engine pads it to that size).
    pub fn padded_index(&self, n: usize) -> usize {
        self.sizes
            .iter()
            .position(|&b| b as usize >= n)
            .unwrap_or(self.sizes.len() - 1)
    }

    /// Requests in queue `q`.
    pub fn len(&self, q: usize) -> usize {
        (self.next - self.heads[q]) as usize
    }

    /// Whether queue `q` holds at least a full batch (`ModelQueue::has_demand`).
    fn has_demand(&self, q: usize) -> bool {
        self.len(q) >= self.sizes[q] as usize
    }

    fn at(&self, seq: u64) -> &Entry {
        &self.entries[(seq - self.base) as usize]
    }

    /// The front of queue `q`.
    #[cfg(test)]
    pub fn front(&self, q: usize) -> Option<&Entry> {
        (self.len(q) > 0).then(|| self.at(self.heads[q]))
    }

    /// Marks a timed-out request, if any queue still holds it.
    pub fn mark_gone(&mut self, id: RequestId) {
        let held = &mut self.entries[(self.start - self.base) as usize..];
        if let Ok(i) = held.binary_search_by_key(&id, |e| e.id) {
            held[i].gone = true;
        }
    }

    /// The strategies of `new_strategies`: (priority = front deadline - estimate,
    /// batch size) for every non-empty queue whose size is at most `max_batch`
    /// (and that has an estimate: the sizes the GPU can run).
    #[cfg(test)]
    pub fn strategies(&self, est: &Estimates, max_batch: u32) -> impl Iterator<Item = (i64, u32)> {
        (0..self.sizes.len().min(est.sizes()))
            .filter(move |&q| self.sizes[q] <= max_batch)
            .filter_map(move |q| {
                self.front(q)
                    .map(|front| (front.deadline as i64 - est.exec(q) as i64, self.sizes[q]))
            })
    }

    /// The best of those strategies (least priority, then smaller batch).
    pub fn best_strategy(&self, est: &Estimates, max_batch: u32) -> Option<(i64, u32)> {
        if self.is_empty() {
            return None;
        }
        // The sizes ascend: those up to `max_batch` are a prefix. Among equal
        // priorities the first (smaller batch) stays.
        let mut best: Option<(i64, u32)> = None;
        for q in 0..self.sizes.len().min(est.sizes()) {
            let b = self.sizes[q];
            if b > max_batch {
                break;
            }
            if self.len(q) > 0 {
                let s = (
                    self.at(self.heads[q]).deadline as i64 - est.exec(q) as i64,
                    b,
                );
                if best.is_none_or(|x| s < x) {
                    best = Some(s);
                }
            }
        }
        best
    }

    /// `try_dequeue(free_at, min_batchsize)`: drops from every queue the front
    /// requests that cannot complete by their deadline if started at `free_at`;
    /// finds the largest batch size whose queue (and every smaller one) holds a
    /// full batch; fails if that is smaller than `min_batch`; else takes that
    /// batch from its queue and pops the same and older requests from the others.
    /// Only the sizes `est` has estimates for (those the GPU can run) take part.
    /// The batch's requests (timed-out ones left out), in arrival order, are
    /// put in `ids` (emptied first).
    pub fn try_dequeue(
        &mut self,
        est: &Estimates,
        free_at: Nanos,
        min_batch: u32,
        ids: &mut Vec<RequestId>,
    ) -> Option<Taken> {
        ids.clear();
        let usable = self.sizes.len().min(est.sizes());
        for q in 0..usable {
            let completion = free_at + est.exec(q);
            while self.len(q) > 0 && self.at(self.heads[q]).deadline < completion {
                self.heads[q] += 1;
            }
        }
        let mut i = 0;
        while i + 1 < usable && self.has_demand(i + 1) {
            i += 1;
        }
        let result = if self.sizes[i] < min_batch || !self.has_demand(i) {
            None
        } else {
            let mut taken = Taken {
                size_index: i,
                ..Default::default()
            };
            let first = self.heads[i];
            let last = first + self.sizes[i] as u64 - 1;
            for seq in first..=last {
                let e = *self.at(seq);
                if !e.gone {
                    ids.push(e.id);
                    taken.exec_demand += e.exec_demand;
                    taken.load_demand += e.load_demand;
                }
            }
            for h in &mut self.heads {
                *h = (*h).max(last + 1);
            }
            Some(taken)
        };
        self.trim();
        result
    }

    /// Forgets requests no queue holds any more: all of them once every
    /// queue is empty, else once they are at least half of those kept.
    fn trim(&mut self) {
        self.start = self.heads.iter().copied().min().unwrap_or(self.next);
        let gone = (self.start - self.base) as usize;
        if self.start == self.next {
            self.entries.clear();
            self.base = self.start;
        } else if gone > 0 && 2 * gone >= self.entries.len() {
            self.entries.drain(..gone);
            self.base = self.start;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    fn entry(id: u64, deadline_ms: u64) -> Entry {
        Entry {
            id,
            deadline: deadline_ms * MS,
            exec_demand: 10,
            load_demand: 1,
            gone: false,
        }
    }

    fn est() -> Estimates {
        // Batch 1: 1 ms, 2: 2 ms, 4: 3 ms.
        Estimates::new(vec![MS, 2 * MS, 3 * MS], 10 * MS, 10, 0.99)
    }

    #[test]
    fn strategies_cover_every_nonempty_queue_up_to_the_cap() {
        let mut q = ModelQueues::new(vec![1, 2, 4]);
        assert_eq!(q.best_strategy(&est(), u32::MAX), None);
        q.push(entry(7, 50));
        let all: Vec<_> = q.strategies(&est(), u32::MAX).collect();
        assert_eq!(
            all,
            vec![
                (49 * MS as i64, 1),
                (48 * MS as i64, 2),
                (47 * MS as i64, 4)
            ]
        );
        assert_eq!(q.best_strategy(&est(), u32::MAX), Some((47 * MS as i64, 4)));
        assert_eq!(q.best_strategy(&est(), 3), Some((48 * MS as i64, 2)));
        assert_eq!(q.best_strategy(&est(), 0), None);
    }

    #[test]
    fn takes_the_largest_full_batch_and_catches_up() {
        let mut q = ModelQueues::new(vec![1, 2, 4]);
        for id in 0..7 {
            q.push(entry(id, 100));
        }
        // 7 requests: batch 4, then 3 left: batch 2 is the largest full one.
        let ids = &mut vec![];
        let t = q.try_dequeue(&est(), 0, 4, ids).unwrap();
        assert_eq!((t.size_index, ids.clone()), (2, vec![0, 1, 2, 3]));
        assert_eq!((t.exec_demand, t.load_demand), (40, 4));
        assert_eq!(q.try_dequeue(&est(), 0, 4, ids), None);
        let t = q.try_dequeue(&est(), 0, 2, ids).unwrap();
        assert_eq!((t.size_index, ids.clone()), (1, vec![4, 5]));
        // A larger batch than asked for is taken when available.
        assert!(q.try_dequeue(&est(), 0, 1, ids).is_some());
        assert_eq!(*ids, vec![6]);
        assert_eq!(q.try_dequeue(&est(), 0, 1, ids), None);
        assert!(q.entries.is_empty());
    }

    #[test]
    fn drop_step_is_per_queue_and_catch_up_pops_the_rest() {
        let mut q = ModelQueues::new(vec![1, 2, 4]);
        // Deadlines 5, 6, 20, 20, 20 ms; start at 4 ms:
        // queue 1 (1 ms) keeps all but the first (5 < 5 is false: all kept),
        // queue 2 (2 ms) drops the first (5 < 6), queue 4 (3 ms) the first two.
        for (id, d) in [(0, 5), (1, 6), (2, 20), (3, 20), (4, 20)] {
            q.push(entry(id, d));
        }
        let ids = &mut vec![];
        let t = q.try_dequeue(&est(), 4 * MS, 1, ids).unwrap();
        // Queue 2 holds 4 and queue 4 holds 3 (< 4): batch 2 from queue 2's front.
        assert_eq!((t.size_index, ids.clone()), (1, vec![1, 2]));
        // Catch-up removed request 0 from queue 1: it is never dispatched.
        assert_eq!(q.front(0).unwrap().id, 3);
        assert_eq!(q.len(0), 2);
    }

    #[test]
    fn the_best_strategy_is_the_least_of_them_as_requests_come_and_go() {
        // Random arrivals, tries and timeouts: the best strategy stays the
        // least of every queue's, and each queue keeps its requests while
        // the list forgets those no queue holds.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut rand = move |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        let mut q = ModelQueues::new(vec![1, 2, 4, 8]);
        let est = Estimates::new(vec![MS, 2 * MS, 3 * MS, 5 * MS], 10 * MS, 10, 0.99);
        let (mut id, mut now) = (0, 0);
        let ids = &mut vec![];
        for _ in 0..20_000 {
            now += rand(2 * MS);
            match rand(4) {
                0 | 1 => {
                    q.push(entry(id, now / MS + 5 + rand(20)));
                    id += 1;
                }
                2 => {
                    let min_batch = [1, 2, 4, 8][rand(4) as usize];
                    let _ = q.try_dequeue(&est, now, min_batch, ids);
                }
                _ => q.mark_gone(rand(id.max(1))),
            }
            for cap in [0, 1, 3, 4, 8, u32::MAX] {
                let least = q.strategies(&est, cap).min_by_key(|&(p, b)| (p, b));
                assert_eq!(q.best_strategy(&est, cap), least);
            }
            assert_eq!(q.is_empty(), (0..4).all(|i| q.len(i) == 0));
            // Request ids are their sequence numbers here.
            for i in 0..4 {
                assert_eq!(
                    q.front(i).map(|f| f.id),
                    (q.len(i) > 0).then_some(q.heads[i])
                );
            }
            assert!(q.entries.len() as u64 >= q.next - q.start);
        }
    }

    #[test]
    fn timed_out_requests_are_left_out_of_a_batch() {
        let mut q = ModelQueues::new(vec![1, 2]);
        q.push(entry(0, 100));
        q.push(entry(1, 100));
        q.mark_gone(0);
        let ids = &mut vec![];
        let t = q.try_dequeue(&est(), 0, 2, ids).unwrap();
        assert_eq!((t.size_index, ids.clone(), t.exec_demand), (1, vec![1], 10));
    }
}
