//! Candidates taken least first where a choice usually takes only the
//! first: the least is found by one scan, and only when a second is asked
//! for are the others put in a heap (heaping them all first costs more
//! than the scan when one is enough, as it is for most idle GPUs).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::mem;

/// Items taken in increasing order (`pop`); the buffer is given back by
/// `into_vec` for reuse.
#[derive(Debug)]
pub(super) enum Ascending<T: Ord> {
    /// None taken yet: the items, in any order.
    Fresh(Vec<Reverse<T>>),
    /// The least was taken: the others, in any order.
    Rest(Vec<Reverse<T>>),
    /// More were taken: the others, in a heap.
    Heap(BinaryHeap<Reverse<T>>),
}

impl<T: Ord> Ascending<T> {
    /// The items of `items` (any order), none taken.
    pub(super) fn new(items: Vec<Reverse<T>>) -> Self {
        Ascending::Fresh(items)
    }

    /// Takes the least item left (of equal items, any one).
    pub(super) fn pop(&mut self) -> Option<T> {
        match self {
            Ascending::Fresh(items) => {
                let (i, _) = items.iter().enumerate().max_by(|a, b| a.1.cmp(b.1))?;
                let least = items.swap_remove(i).0;
                *self = Ascending::Rest(mem::take(items));
                Some(least)
            }
            Ascending::Rest(items) => {
                *self = Ascending::Heap(BinaryHeap::from(mem::take(items)));
                self.pop()
            }
            Ascending::Heap(heap) => heap.pop().map(|r| r.0),
        }
    }

    /// The items not taken, in any order.
    pub(super) fn into_vec(self) -> Vec<Reverse<T>> {
        match self {
            Ascending::Fresh(items) | Ascending::Rest(items) => items,
            Ascending::Heap(heap) => heap.into_vec(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    #[test]
    fn takes_every_item_in_increasing_order_and_gives_back_the_rest() {
        let mut rng = Rng::new(7);
        for case in 0..500 {
            let n = (rng.next_u64() % 12) as usize;
            let items: Vec<u64> = (0..n).map(|_| rng.next_u64() % 8).collect();
            let mut sorted = items.clone();
            sorted.sort_unstable();
            let take = if case % 2 == 0 {
                n
            } else {
                (rng.next_u64() % (n as u64 + 1)) as usize
            };
            let mut a = Ascending::new(items.iter().map(|&x| Reverse(x)).collect());
            let got: Vec<u64> = (0..take).map(|_| a.pop().expect("an item left")).collect();
            assert_eq!(got, sorted[..take]);
            if take == n {
                assert_eq!(a.pop(), None);
            }
            let mut rest: Vec<u64> = a.into_vec().into_iter().map(|r| r.0).collect();
            rest.sort_unstable();
            assert_eq!(rest, sorted[take..]);
        }
    }
}
