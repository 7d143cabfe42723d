//! A set of GPUs, one bit each, iterated in id order: the GPUs with a free
//! slot, as FIFO and the slot mirror of EDF, fair and InferFair keep them.

use crate::state::GpuId;

/// A set of GPUs, in id order: one bit each.
#[derive(Debug, Default)]
pub(crate) struct GpuSet(Vec<u64>);

impl GpuSet {
    /// An empty set for GPUs 0..n.
    pub(crate) fn with_len(n: usize) -> Self {
        GpuSet(vec![0; n.div_ceil(64)])
    }

    /// Puts `g` in the set (`on`) or takes it out.
    pub(crate) fn set(&mut self, g: GpuId, on: bool) {
        let (w, b) = (g / 64, 1u64 << (g % 64));
        if on {
            self.0[w] |= b;
        } else {
            self.0[w] &= !b;
        }
    }

    /// The first GPU in the set from `g` on.
    pub(crate) fn next_from(&self, g: GpuId) -> Option<GpuId> {
        let mut i = g / 64;
        let mut w = *self.0.get(i)? & (!0u64 << (g % 64));
        loop {
            if w != 0 {
                return Some(i * 64 + w.trailing_zeros() as usize);
            }
            i += 1;
            w = *self.0.get(i)?;
        }
    }

    /// The members among GPUs 64 i .. 64 i + 63, one bit each (none past the end).
    pub(crate) fn word(&self, i: usize) -> u64 {
        self.0.get(i).copied().unwrap_or(0)
    }

    /// The GPUs in the set, in id order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = GpuId> + '_ {
        self.0.iter().enumerate().flat_map(|(i, &w)| {
            let mut w = w;
            std::iter::from_fn(move || {
                (w != 0).then(|| {
                    let b = w.trailing_zeros() as usize;
                    w &= w - 1;
                    i * 64 + b
                })
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::GpuSet;

    #[test]
    fn next_from_finds_the_first_member_at_or_after() {
        let mut s = GpuSet::with_len(200);
        for g in [3, 64, 130, 199] {
            s.set(g, true);
        }
        let walk: Vec<usize> =
            std::iter::successors(s.next_from(0), |&g| s.next_from(g + 1)).collect();
        assert_eq!(walk, vec![3, 64, 130, 199]);
        assert_eq!(s.next_from(4), Some(64));
        assert_eq!(s.next_from(130), Some(130));
        assert_eq!(s.next_from(200), None);
        s.set(199, false);
        assert_eq!(s.next_from(131), None);
        assert_eq!(walk, s.iter().chain([199]).collect::<Vec<_>>());
    }
}
