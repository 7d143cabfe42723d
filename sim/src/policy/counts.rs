//! Models bucketed by a count (Shepherd's pending requests per model), for
//! walks from the largest count down. Refiling a model is a constant-time
//! move between buckets (a request arriving changes its model's count, so
//! this happens at nearly every event), and a walk skips the empty buckets
//! with a bit set instead of descending a tree.
//!
//! Counts at or above the *clamp* share its bucket, so that the buckets stay
//! few; choose the clamp at least as large as anything a walk compares a
//! count with (Shepherd: the largest batch), and a walk can stop at the
//! first exact bucket below its threshold.

use crate::state::ModelId;

/// Models by count (see the module's doc).
#[derive(Debug)]
pub struct Counts {
    clamp: usize,
    /// Per bucket (a count below the clamp, or the clamp): its models, in no
    /// particular order.
    buckets: Vec<Vec<ModelId>>,
    /// Bit b set: bucket b is not empty.
    full: Vec<u64>,
    /// Per model: its count and its index in its bucket (count 0: not filed).
    at: Vec<(usize, usize)>,
    filed: usize,
    /// The highest non-empty bucket (0: none).
    top: usize,
}

impl Default for Counts {
    fn default() -> Self {
        Counts::new(64)
    }
}

impl Counts {
    /// Empty, with counts at or above `clamp` (at least 1) sharing a bucket.
    pub fn new(clamp: usize) -> Self {
        let clamp = clamp.max(1);
        Counts {
            clamp,
            buckets: vec![Vec::new(); clamp + 1],
            full: vec![0; clamp / 64 + 1],
            at: Vec::new(),
            filed: 0,
            top: 0,
        }
    }

    /// The clamp: counts at or above it share a bucket.
    pub fn clamp(&self) -> usize {
        self.clamp
    }

    /// Whether no model is filed.
    pub fn is_empty(&self) -> bool {
        self.filed == 0
    }

    /// Files `m` under `count` (0: takes it out).
    pub fn file(&mut self, m: ModelId, count: usize) {
        if self.at.len() <= m {
            self.at.resize(m + 1, (0, 0));
        }
        let (old, i) = self.at[m];
        let (from, to) = (old.min(self.clamp), count.min(self.clamp));
        if from == to {
            self.at[m].0 = count;
            return;
        }
        if from > 0 {
            let b = &mut self.buckets[from];
            b.swap_remove(i);
            if let Some(&moved) = b.get(i) {
                self.at[moved].1 = i;
            }
            if b.is_empty() {
                self.full[from / 64] &= !(1 << (from % 64));
                if from == self.top {
                    self.top = self.at_or_below(from - 1).unwrap_or(0);
                }
            }
            self.filed -= 1;
        }
        if to > 0 {
            let b = &mut self.buckets[to];
            self.at[m] = (count, b.len());
            b.push(m);
            self.full[to / 64] |= 1 << (to % 64);
            self.top = self.top.max(to);
            self.filed += 1;
        } else {
            self.at[m] = (0, 0);
        }
    }

    /// The highest non-empty bucket at or below `b` (at most the clamp).
    pub fn at_or_below(&self, b: usize) -> Option<usize> {
        let b = b.min(self.clamp);
        let mut w = b / 64;
        let mut bits = self.full[w] & (u64::MAX >> (63 - b % 64));
        loop {
            if bits != 0 {
                return Some(w * 64 + 63 - bits.leading_zeros() as usize);
            }
            if w == 0 {
                return None;
            }
            w -= 1;
            bits = self.full[w];
        }
    }

    /// No filed model's count is above this: the highest count below the
    /// clamp, `usize::MAX` if the clamp's bucket has models, 0 if none is filed.
    pub fn bound(&self) -> usize {
        debug_assert_eq!(self.top, self.at_or_below(self.clamp).unwrap_or(0));
        if self.top == self.clamp {
            usize::MAX
        } else {
            self.top
        }
    }

    /// The models of bucket `b`, in no particular order.
    pub fn bucket(&self, b: usize) -> &[ModelId] {
        &self.buckets[b]
    }

    /// `m`'s count (0 if it is not filed).
    pub fn count(&self, m: ModelId) -> usize {
        self.at.get(m).map_or(0, |a| a.0)
    }

    /// The filed models with their counts, from the highest bucket down
    /// (within a bucket in no particular order): a walk by `at_or_below` and
    /// `bucket`, for tests and callers that do not stop early.
    #[cfg(test)]
    fn down(&self) -> Vec<(usize, ModelId)> {
        let mut out = Vec::new();
        let mut b = self.at_or_below(self.clamp);
        while let Some(k) = b {
            out.extend(self.bucket(k).iter().map(|&m| (self.count(m), m)));
            b = k.checked_sub(1).and_then(|k| self.at_or_below(k));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::Counts;

    #[test]
    fn walks_from_the_largest_count_and_refiles() {
        let mut c = Counts::new(70);
        c.file(3, 5);
        c.file(1, 200);
        c.file(0, 69);
        c.file(4, 70);
        c.file(2, 1);
        let walk = c.down();
        // 1 and 4 share the clamp's bucket, in no particular order.
        assert_eq!(walk[2..], [(69, 0), (5, 3), (1, 2)]);
        assert_eq!(
            {
                let mut top = walk[..2].to_vec();
                top.sort();
                top
            },
            [(70, 4), (200, 1)]
        );
        c.file(1, 0);
        c.file(0, 2);
        c.file(4, 300);
        c.file(2, 0);
        assert_eq!(c.down(), [(300, 4), (5, 3), (2, 0)]);
        assert_eq!((c.count(4), c.count(1), c.count(9)), (300, 0, 0));
        for m in [0, 3, 4] {
            c.file(m, 0);
        }
        assert!(c.is_empty());
        assert!(c.down().is_empty());
    }

    #[test]
    fn any_clamp_gives_the_same_walk_by_count() {
        // Filing and refiling at random, the walk is the models by count
        // (descending) up to the order within a bucket.
        let mut x = 12345u64;
        let mut rnd = |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        for clamp in [1, 3, 63, 64, 65, 130] {
            let mut c = Counts::new(clamp);
            let mut truth = vec![0usize; 40];
            for _ in 0..2000 {
                let (m, n) = (rnd(40) as usize, rnd(150) as usize);
                c.file(m, n.saturating_sub(50));
                truth[m] = n.saturating_sub(50);
                let walk = c.down();
                let mut want: Vec<_> = (0..40)
                    .filter(|&m| truth[m] > 0)
                    .map(|m| (truth[m], m))
                    .collect();
                want.sort();
                let mut got = walk.clone();
                got.sort();
                assert_eq!(got, want);
                let most = want.last().map_or(0, |w| w.0);
                assert!(c.bound() >= most && (most >= clamp || c.bound() == most));
                let buckets: Vec<_> = walk.iter().map(|w| w.0.min(clamp)).collect();
                assert!(buckets.windows(2).all(|p| p[0] >= p[1]), "{buckets:?}");
            }
        }
    }
}
