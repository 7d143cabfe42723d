//! Models kept in the order of a key each, refiled only when a model's key
//! changes: EDF's backlog by the deadline of each model's next request,
//! fair queuing's by counter. (Shepherd's pending counts, small integers
//! that change at nearly every event, are bucketed instead: `counts.rs`.)
//!
//! A decision wants the first model in that order that some GPU can take,
//! and a model that none can take stays so until the decision ends (GPUs'
//! free slots only shrink within it). So the order is a binary heap that
//! knows each model's place in it (a refiled key moves its model up or
//! down): the least is on top, and a model passed over is set aside until
//! the decision ends ([`Keyed::set_aside`], [`Keyed::restore`]). Cheaper
//! than an ordered set where a key changes at nearly every batch.

use crate::state::ModelId;

/// `pos` of a model that is not in the heap.
const OUT: u32 = u32::MAX;

/// Models ordered by (key, model), and each one's key (see the module's doc).
#[derive(Debug)]
pub struct Keyed<K> {
    /// A binary min-heap of (key, model) over the filed models not set aside.
    heap: Vec<(K, ModelId)>,
    /// Per model: its index in `heap`, or `OUT`.
    pos: Vec<u32>,
    /// Per model: its key, if filed (set aside or not).
    filed: Vec<Option<K>>,
    /// Models set aside until `restore`.
    aside: Vec<ModelId>,
}

impl<K> Default for Keyed<K> {
    fn default() -> Self {
        Keyed {
            heap: Vec::new(),
            pos: Vec::new(),
            filed: Vec::new(),
            aside: Vec::new(),
        }
    }
}

impl<K: Ord + Copy> Keyed<K> {
    /// Files `m` under `key`, or takes it out of the order (`None`). A
    /// model set aside stays aside, under its new key.
    pub fn file(&mut self, m: ModelId, key: Option<K>) {
        if self.filed.len() <= m {
            self.filed.resize(m + 1, None);
            self.pos.resize(m + 1, OUT);
        }
        if self.filed[m] == key {
            return;
        }
        let aside = self.filed[m].is_some() && self.pos[m] == OUT;
        self.filed[m] = key;
        if aside {
            return;
        }
        match (self.pos[m], key) {
            (OUT, Some(k)) => {
                self.heap.push((k, m));
                self.up(self.heap.len() - 1);
            }
            (OUT, None) => {}
            (i, Some(k)) => {
                let i = i as usize;
                let old = self.heap[i];
                self.heap[i] = (k, m);
                if (k, m) < old {
                    self.up(i);
                } else {
                    self.down(i);
                }
            }
            (i, None) => self.remove_at(i as usize),
        }
    }

    /// `m`'s key, if it is filed.
    pub fn key(&self, m: ModelId) -> Option<K> {
        self.filed.get(m).copied().flatten()
    }

    /// The least (key, model) not set aside.
    pub fn first(&self) -> Option<(K, ModelId)> {
        self.heap.first().copied()
    }

    /// Takes filed `m` out of the order until [`Keyed::restore`].
    pub fn set_aside(&mut self, m: ModelId) {
        let i = self.pos[m];
        assert!(i != OUT, "model {m} is not in the order");
        self.remove_at(i as usize);
        self.aside.push(m);
    }

    /// Puts the models set aside back, those still filed under their keys.
    pub fn restore(&mut self) {
        for i in 0..self.aside.len() {
            let m = self.aside[i];
            if let Some(k) = self.filed[m] {
                self.heap.push((k, m));
                self.up(self.heap.len() - 1);
            }
        }
        self.aside.clear();
    }

    fn remove_at(&mut self, i: usize) {
        let m = self.heap[i].1;
        self.pos[m] = OUT;
        let last = self.heap.pop().expect("a heap entry");
        if i < self.heap.len() {
            self.heap[i] = last;
            self.pos[last.1] = i as u32;
            if i > 0 && last < self.heap[(i - 1) / 2] {
                self.up(i);
            } else {
                self.down(i);
            }
        }
    }

    fn up(&mut self, mut i: usize) {
        let e = self.heap[i];
        while i > 0 {
            let parent = (i - 1) / 2;
            if self.heap[parent] <= e {
                break;
            }
            self.heap[i] = self.heap[parent];
            self.pos[self.heap[i].1] = i as u32;
            i = parent;
        }
        self.heap[i] = e;
        self.pos[e.1] = i as u32;
    }

    fn down(&mut self, mut i: usize) {
        let e = self.heap[i];
        let n = self.heap.len();
        loop {
            let left = 2 * i + 1;
            if left >= n {
                break;
            }
            let right = left + 1;
            let child = if right < n && self.heap[right] < self.heap[left] {
                right
            } else {
                left
            };
            if e <= self.heap[child] {
                break;
            }
            self.heap[i] = self.heap[child];
            self.pos[self.heap[i].1] = i as u32;
            i = child;
        }
        self.heap[i] = e;
        self.pos[e.1] = i as u32;
    }
}

#[cfg(test)]
mod tests {
    use super::Keyed;
    use crate::rng::Rng;
    use std::collections::BTreeSet;

    #[test]
    fn refiling_moves_a_model_and_none_takes_it_out() {
        let mut k = Keyed::default();
        k.file(3, Some(5));
        k.file(1, Some(5));
        k.file(0, Some(9));
        assert_eq!(k.first(), Some((5, 1)));
        k.file(0, Some(2));
        k.file(3, None);
        assert_eq!(k.first(), Some((2, 0)));
        k.set_aside(0);
        assert_eq!(k.first(), Some((5, 1)));
        k.file(0, Some(7));
        assert_eq!(k.first(), Some((5, 1)));
        k.restore();
        assert_eq!((k.key(0), k.key(3), k.key(7)), (Some(7), None, None));
        assert_eq!(k.first(), Some((5, 1)));
        k.file(1, None);
        assert_eq!(k.first(), Some((7, 0)));
    }

    /// The least model found by setting aside those a test rejects is the
    /// first that passes it in an ordered set, through random filings.
    #[test]
    fn agrees_with_an_ordered_set() {
        let mut rng = Rng::new(7);
        let mut k: Keyed<u64> = Keyed::default();
        let mut set: BTreeSet<(u64, usize)> = BTreeSet::new();
        let mut key: Vec<Option<u64>> = vec![None; 50];
        for round in 0..2_000 {
            for _ in 0..10 {
                let m = rng.below(50) as usize;
                let new = (rng.below(4) > 0).then(|| rng.below(30));
                if let Some(old) = key[m] {
                    set.remove(&(old, m));
                }
                if let Some(n) = new {
                    set.insert((n, m));
                }
                key[m] = new;
                k.file(m, new);
            }
            // A "decision": models with an odd key + round are passed over.
            let pass = |e: &(u64, usize)| (e.0 + round) % 3 != 0;
            let want = set.iter().find(|e| pass(e)).copied();
            let got = loop {
                match k.first() {
                    Some(e) if !pass(&e) => k.set_aside(e.1),
                    other => break other,
                }
            };
            assert_eq!(got, want, "round {round}");
            if let Some((_, m)) = got.filter(|_| round % 2 == 0) {
                // The chosen model is charged within the decision.
                let n = rng.below(30);
                set.remove(&(key[m].unwrap(), m));
                set.insert((n, m));
                key[m] = Some(n);
                k.file(m, Some(n));
            }
            k.restore();
            assert_eq!(k.first(), set.first().copied(), "round {round}");
            assert_eq!(k.heap.len(), set.len());
        }
    }
}
