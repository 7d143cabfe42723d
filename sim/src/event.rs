//! The event queue: events ordered by (time, sequence number), so events at
//! the same time are taken first-in first-out. This is the one place that
//! order is defined.

use crate::time::Nanos;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

const SLOT_BITS: u32 = 24;
const SEQ_BITS: u32 = 40;

/// A priority queue of events by time, FIFO among equal times.
///
/// Each pending event is one `u128` key in a binary heap: time in the high 64
/// bits, then a 40-bit sequence number, then a 24-bit slot of the payload
/// table. Comparing keys is comparing (time, sequence): the earliest first,
/// the first pushed among equals. Small keys keep the heap fast; payloads stay
/// put in their slots.
pub struct EventQueue<E> {
    heap: BinaryHeap<Reverse<u128>>,
    slots: Vec<Option<E>>,
    free: Vec<u32>,
    seq: u64,
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        EventQueue {
            heap: BinaryHeap::new(),
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
        self.heap.push(Reverse(key));
        self.seq += 1;
    }

    /// Takes the earliest event (the first pushed among equals).
    pub fn pop(&mut self) -> Option<(Nanos, E)> {
        let Reverse(key) = self.heap.pop()?;
        let slot = (key as u32) & ((1 << SLOT_BITS) - 1);
        self.free.push(slot);
        let event = self.slots[slot as usize]
            .take()
            .expect("a pending event's slot is full");
        Some(((key >> 64) as Nanos, event))
    }

    /// Time of the earliest event.
    pub fn peek_time(&self) -> Option<Nanos> {
        self.heap.peek().map(|Reverse(k)| (k >> 64) as Nanos)
    }

    /// Number of pending events.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// Whether no event is pending.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
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
}
