//! A set of GPUs, one bit each, iterated in id order: the GPUs with a free
//! slot, as FIFO and the slot mirror of EDF and fair keep them.

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
