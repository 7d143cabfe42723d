//! A GPU's loaded models in order of last use there, oldest first (the load
//! tracker's eviction order). Every use takes a sequence number larger than
//! all before it, so a use appends the model and its older entry goes
//! stale; stale entries are skipped when read, dropped from the front, and
//! compacted away once they outnumber the live ones. Constant time per use
//! (amortized), where an ordered set would remove and insert.

use crate::state::ModelId;

/// Not listed.
const NONE: u64 = u64::MAX;

/// Loaded models by last use (see the module's doc).
#[derive(Clone, Debug, Default)]
pub struct Recency {
    /// (sequence number, model), increasing; those before `head` are gone.
    entries: Vec<(u64, ModelId)>,
    head: usize,
    /// Per model: the sequence number of its live entry (`NONE`: not listed).
    at: Vec<u64>,
    live: usize,
}

impl Recency {
    /// `m` was used (or loaded) at `seq`, later than every entry's.
    pub fn used(&mut self, seq: u64, m: ModelId) {
        debug_assert!(self.entries.last().is_none_or(|e| e.0 < seq));
        if self.at.len() <= m {
            self.at.resize(m + 1, NONE);
        }
        if self.at[m] == NONE {
            self.live += 1;
        }
        self.at[m] = seq;
        self.entries.push((seq, m));
        self.tidy();
    }

    /// `m` is no longer loaded (it was listed).
    pub fn removed(&mut self, m: ModelId) {
        debug_assert!(self.at[m] != NONE, "model {m} was not listed");
        self.at[m] = NONE;
        self.live -= 1;
        self.tidy();
    }

    /// The listed models, least recently used first.
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
        if self.entries.len() - self.head > 2 * self.live + 16 {
            let at = &self.at;
            self.entries.drain(..self.head);
            self.entries.retain(|&(s, m)| at[m] == s);
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
                r.used(seq, m);
            } else if last[m].is_some() {
                last[m] = None;
                r.removed(m);
            }
            let mut want: Vec<usize> = (0..12).filter(|&m| last[m].is_some()).collect();
            want.sort_by_key(|&m| last[m]);
            assert_eq!(r.iter().collect::<Vec<_>>(), want);
            assert!(r.entries.len() - r.head <= 2 * r.live + 16);
        }
    }
}
