//! Models ordered by a key that mostly grows: a GPU's loaded models by last
//! use (Clockwork's load tracker files them by sequence number, the
//! policies that load on demand by last-use time, [`super::lru`]). The
//! entries (key, model) are kept sorted, each model live under one key.
//! Filing a model again leaves its older entry stale and removing one only
//! marks it; stale entries are skipped when read, dropped from the front,
//! and compacted away once they outnumber the live ones. A key larger than
//! every entry's is appended (constant time, amortized), a smaller one is
//! inserted by a binary search, near the back when keys are recent times:
//! where an ordered set would remove and insert down a tree.

use crate::state::ModelId;

/// Not listed.
const NONE: u64 = u64::MAX;

/// Models by (key, model) (see the module's doc).
#[derive(Clone, Debug, Default)]
pub struct Recency {
    /// (key, model), increasing from `head` on; those before `head` are gone.
    entries: Vec<(u64, ModelId)>,
    head: usize,
    /// Per model: the key of its live entry (`NONE`: not listed).
    at: Vec<u64>,
    live: usize,
}

impl Recency {
    /// Files `m` under `key` (below `u64::MAX`), in place of its entry if
    /// it has one.
    pub fn file(&mut self, key: u64, m: ModelId) {
        debug_assert!(key != NONE, "the key {NONE} is reserved");
        if self.at.len() <= m {
            self.at.resize(m + 1, NONE);
        }
        if self.at[m] == NONE {
            self.live += 1;
        }
        self.at[m] = key;
        let e = (key, m);
        if self.entries.len() == self.head || self.entries.last().is_some_and(|&l| l < e) {
            self.entries.push(e);
        } else if let Err(i) = self.entries[self.head..].binary_search(&e) {
            self.entries.insert(self.head + i, e);
        }
        // (Found: a stale entry with the same key, live again.)
        self.tidy();
    }

    /// `m` is no longer listed (it was).
    pub fn removed(&mut self, m: ModelId) {
        debug_assert!(self.at[m] != NONE, "model {m} was not listed");
        self.at[m] = NONE;
        self.live -= 1;
        self.tidy();
    }

    /// The key `m` is listed under, if it is.
    pub fn key(&self, m: ModelId) -> Option<u64> {
        self.at.get(m).copied().filter(|&k| k != NONE)
    }

    /// The listed models, by (key, model).
    pub fn iter(&self) -> impl Iterator<Item = ModelId> + '_ {
        self.entries[self.head..]
            .iter()
            .filter(|&&(s, m)| self.at[m] == s)
            .map(|e| e.1)
    }

    fn tidy(&mut self) {
        while let Some(&(s, m)) = self.entries.get(self.head)
            && self.at[m] != s
        {
            self.head += 1;
        }
        let rest = self.entries.len() - self.head;
        if rest > 2 * self.live + 16 {
            let at = &self.at;
            self.entries.drain(..self.head);
            self.entries.retain(|&(s, m)| at[m] == s);
            self.head = 0;
        } else if self.head > rest + 16 {
            // Mostly gone from the front (the least recent are evicted):
            // the entries before `head` are dropped too, not only skipped.
            self.entries.drain(..self.head);
            self.head = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Recency;

    #[test]
    fn keeps_the_order_of_last_use_through_uses_and_removals() {
        // The truth: per model, its last use if loaded.
        let mut last: Vec<Option<u64>> = vec![None; 12];
        let mut r = Recency::default();
        let mut x = 99u64;
        for seq in 0..5000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let m = (x % 12) as usize;
            if (x >> 8) % 3 < 2 {
                last[m] = Some(seq);
                r.file(seq, m);
            } else if last[m].is_some() {
                last[m] = None;
                r.removed(m);
            }
            let mut want: Vec<usize> = (0..12).filter(|&m| last[m].is_some()).collect();
            want.sort_by_key(|&m| last[m]);
            assert_eq!(r.iter().collect::<Vec<_>>(), want);
            assert!(r.entries.len() - r.head <= 2 * r.live + 16);
            assert!(r.entries.len() <= 4 * r.live + 48);
        }
    }
    #[test]
    fn keeps_the_order_of_an_ordered_set_when_keys_come_out_of_order() {
        // The truth: an ordered set of (key, model), as the loading
        // policies kept it. Keys from a small range, so that a model is
        // refiled under a key it had before (a stale twin comes back).
        use std::collections::BTreeSet;
        let mut set: BTreeSet<(u64, usize)> = BTreeSet::new();
        let mut key: Vec<Option<u64>> = vec![None; 9];
        let mut r = Recency::default();
        let mut x = 7u64;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let m = (x % 9) as usize;
            let k = (x >> 16) % 24;
            if (x >> 8) % 4 < 3 {
                if let Some(old) = key[m] {
                    set.remove(&(old, m));
                }
                set.insert((k, m));
                key[m] = Some(k);
                r.file(k, m);
            } else if let Some(old) = key[m].take() {
                set.remove(&(old, m));
                r.removed(m);
            }
            assert!(set.iter().map(|e| e.1).eq(r.iter()));
            assert!((0..9).all(|m| r.key(m) == key[m]));
            assert!(r.entries.len() <= 4 * r.live + 48);
        }
    }

    #[test]
    fn removals_from_the_front_do_not_pile_up() {
        // The least recent model goes, a new one comes: the front is
        // always stale, nothing in the middle is.
        let mut r = Recency::default();
        for m in 0..10 {
            r.file(m as u64, m);
        }
        for k in 10..100_000usize {
            r.removed(k - 10);
            r.file(k as u64, k);
            assert!(
                r.entries.len() <= 4 * r.live + 48,
                "{} entries",
                r.entries.len()
            );
        }
        assert!(r.iter().eq(99_990..100_000));
    }
}
