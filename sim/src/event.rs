//! The event queue: events ordered by (time, sequence number), so events at
//! the same time are taken first-in first-out. This is the one place that
//! order is defined.
//!
//! Keys are distinct (every push takes the next sequence number), so any
//! correct priority queue takes them in the same order: the heap below is a
//! matter of speed, not of results.

use crate::time::Nanos;

const SLOT_BITS: u32 = 24;
const SEQ_BITS: u32 = 40;

/// A priority queue of events by time, FIFO among equal times.
///
/// Each pending event is one `u128` key in a four-ary heap: time in the high 64
/// bits, then a 40-bit sequence number, then a 24-bit slot of the payload
/// table. Comparing keys is comparing (time, sequence): the earliest first,
/// the first pushed among equals. Small keys keep the heap fast; payloads stay
/// put in their slots.
pub struct EventQueue<E> {
    heap: Heap4,
    slots: Vec<Option<E>>,
    free: Vec<u32>,
    seq: u64,
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        EventQueue {
            heap: Heap4::default(),
            slots: Vec::new(),
            free: Vec::new(),
            seq: 0,
        }
    }
}

impl<E> EventQueue<E> {
    /// An empty queue.
    pub fn new() -> Self {
        Self::default()
    }

    /// Schedules `event` at `time`.
    pub fn push(&mut self, time: Nanos, event: E) {
        let slot = match self.free.pop() {
            Some(i) => {
                self.slots[i as usize] = Some(event);
                i
            }
            None => {
                self.slots.push(Some(event));
                (self.slots.len() - 1) as u32
            }
        };
        assert!(slot < 1 << SLOT_BITS, "more than 2^24 pending events");
        assert!(self.seq < 1 << SEQ_BITS, "more than 2^40 events in one run");
        let key = ((time as u128) << 64) | ((self.seq as u128) << SLOT_BITS) | slot as u128;
        self.heap.push(key);
        self.seq += 1;
    }

    /// Takes the earliest event (the first pushed among equals).
    pub fn pop(&mut self) -> Option<(Nanos, E)> {
        let key = self.heap.pop()?;
        let slot = (key as u32) & ((1 << SLOT_BITS) - 1);
        self.free.push(slot);
        let event = self.slots[slot as usize]
            .take()
            .expect("a pending event's slot is full");
        Some(((key >> 64) as Nanos, event))
    }

    /// Time of the earliest event.
    pub fn peek_time(&self) -> Option<Nanos> {
        self.heap.peek().map(|k| (k >> 64) as Nanos)
    }

    /// Number of pending events.
    pub fn len(&self) -> usize {
        self.heap.len
    }

    /// Whether no event is pending.
    pub fn is_empty(&self) -> bool {
        self.heap.len == 0
    }
}

/// A min-heap of distinct keys with four children per node.
///
/// Half the levels of a binary heap, and a node's children next to each
/// other in memory: with thousands of models (one pending arrival each) the
/// heap outgrows the first-level cache, and a binary heap's pop then waits
/// on a cache miss at twice as many levels. `keys[..len]` is the heap;
/// `keys[len..]` holds at least three `u128::MAX`, so the last node with
/// children still has four to compare, and the least of four is found
/// without a branch. A padding key is never moved into the heap: when the
/// least child is `u128::MAX`, the sinking key (no larger) stops above it.
struct Heap4 {
    keys: Vec<u128>,
    len: usize,
}

impl Default for Heap4 {
    fn default() -> Self {
        Heap4 {
            keys: vec![u128::MAX; 3],
            len: 0,
        }
    }
}

impl Heap4 {
    fn peek(&self) -> Option<u128> {
        (self.len > 0).then(|| self.keys[0])
    }

    fn push(&mut self, key: u128) {
        let mut i = self.len;
        self.len += 1;
        if self.keys.len() < self.len + 3 {
            self.keys.push(u128::MAX);
        }
        while i > 0 {
            let parent = (i - 1) / 4;
            let p = self.keys[parent];
            if p <= key {
                break;
            }
            self.keys[i] = p;
            i = parent;
        }
        self.keys[i] = key;
    }

    fn pop(&mut self) -> Option<u128> {
        if self.len == 0 {
            return None;
        }
        self.len -= 1;
        let n = self.len;
        let top = self.keys[0];
        // The last key fills the root's place and sinks.
        let last = std::mem::replace(&mut self.keys[n], u128::MAX);
        if n == 0 {
            return Some(top);
        }
        let mut i = 0;
        loop {
            let f = 4 * i + 1;
            if f >= n {
                break;
            }
            let k = &self.keys[f..f + 4];
            let (ab, iab) = if k[1] < k[0] {
                (k[1], f + 1)
            } else {
                (k[0], f)
            };
            let (cd, icd) = if k[3] < k[2] {
                (k[3], f + 3)
            } else {
                (k[2], f + 2)
            };
            let (least, c) = if cd < ab { (cd, icd) } else { (ab, iab) };
            if last <= least {
                break;
            }
            self.keys[i] = least;
            i = c;
        }
        self.keys[i] = last;
        Some(top)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn earliest_first_and_fifo_among_equals() {
        let mut q = EventQueue::new();
        q.push(5, "c");
        q.push(1, "a");
        q.push(5, "d");
        q.push(1, "b");
        q.push(3, "x");
        q.push(5, "e");
        let order: Vec<_> = std::iter::from_fn(|| q.pop()).collect();
        assert_eq!(
            order,
            vec![(1, "a"), (1, "b"), (3, "x"), (5, "c"), (5, "d"), (5, "e")]
        );
        assert!(q.is_empty());
    }

    #[test]
    fn fifo_holds_across_interleaved_pushes_and_pops() {
        let mut q = EventQueue::new();
        for i in 0..100 {
            q.push(7, i);
        }
        let mut got = vec![];
        for i in 100..200 {
            got.push(q.pop().unwrap().1);
            q.push(7, i);
        }
        got.extend(std::iter::from_fn(|| q.pop().map(|e| e.1)));
        assert_eq!(got, (0..200).collect::<Vec<_>>());
    }

    /// The heap's order, and its padding, through one history of pushes and pops.
    fn check_against_std(ops: &[(bool, u128)]) {
        let mut ours = Heap4::default();
        let mut std = std::collections::BinaryHeap::new();
        for &(push, key) in ops {
            if push {
                ours.push(key);
                std.push(std::cmp::Reverse(key));
            } else {
                assert_eq!(ours.pop(), std.pop().map(|r| r.0));
            }
            assert_eq!(ours.peek(), std.peek().map(|r| r.0));
            assert_eq!(ours.len, std.len());
            assert!(ours.keys.len() >= ours.len + 3);
            assert!(ours.keys[ours.len..].iter().all(|&k| k == u128::MAX));
            for i in 1..ours.len {
                assert!(ours.keys[(i - 1) / 4] < ours.keys[i], "heap order at {i}");
            }
        }
        let rest: Vec<_> = std::iter::from_fn(|| ours.pop()).collect();
        let want: Vec<_> = std::iter::from_fn(|| std.pop().map(|r| r.0)).collect();
        assert_eq!(rest, want);
    }

    #[test]
    fn four_ary_heap_pops_what_a_binary_heap_pops() {
        // Every size from empty to five levels, keys in and out of order.
        let mut ops = vec![];
        for k in (0..400u128).rev() {
            ops.push((true, k * 7 % 401 + (k << 70)));
        }
        for k in 0..400 {
            ops.push((k % 3 != 0, 1_000 + k));
        }
        ops.extend((0..700).map(|_| (false, 0)));
        check_against_std(&ops);
        // A key equal to the padding is still a key.
        let ops = [
            (true, u128::MAX),
            (true, 1),
            (true, u128::MAX - 1),
            (true, 2),
            (true, 0),
        ];
        let mut with_pops = ops.to_vec();
        with_pops.extend([(false, 0), (false, 0), (true, 3), (false, 0)]);
        check_against_std(&with_pops);
    }

    proptest::proptest! {
        #[test]
        fn four_ary_heap_agrees_with_std(
            ops in proptest::collection::vec((proptest::bool::weighted(0.6), 0u128..1 << 100), 0..600)
        ) {
            // Distinct keys, as the queue's are: a key's rank in `ops` in the low bits.
            let ops: Vec<_> = ops.iter().enumerate().map(|(i, &(p, k))| (p, k << 20 | i as u128)).collect();
            check_against_std(&ops);
        }
    }
}
