//! GPU memory as Clockwork's weights cache sees it: fixed-size pages (16 MiB
//! by default). A GPU has floor(capacity / page) pages (its pool's capacity);
//! a model takes ceil(weights / page) of them (its weights on that pool). Free pages are counted per GPU, signed as in
//! Clockwork (`std::atomic_int free_pages`), so that a preloaded GPU whose
//! bytes fit but whose pages do not starts below zero and evicts first.

use crate::state::{GpuId, ModelId};

/// Page accounting of every GPU.
#[derive(Clone, Debug)]
pub struct PageCache {
    /// Pages per GPU.
    total: Vec<i64>,
    /// Free pages per GPU.
    free: Vec<i64>,
    /// Pool of each GPU.
    pool: Vec<usize>,
    /// Pages per model and pool (`pools` per model; 0 where it cannot run).
    pages: Vec<i64>,
    pools: usize,
}

/// Pages needed for `bytes` of weights.
pub fn pages_for(bytes: u64, page: u64) -> i64 {
    bytes.div_ceil(page) as i64
}

impl PageCache {
    /// GPUs given as (pool, bytes for weights); `weights[model * pools + pool]`
    /// the bytes of each model on each of the `pools` pools.
    pub fn new(
        gpus: impl Iterator<Item = (usize, u64)>,
        page_bytes: u64,
        pools: usize,
        weights: impl Iterator<Item = u64>,
    ) -> Self {
        let (pool, total): (Vec<usize>, Vec<i64>) = gpus
            .map(|(p, bytes)| (p, (bytes / page_bytes) as i64))
            .unzip();
        PageCache {
            free: total.clone(),
            total,
            pool,
            pages: weights.map(|b| pages_for(b, page_bytes)).collect(),
            pools,
        }
    }

    /// Pages of `gpu`.
    pub fn total(&self, gpu: GpuId) -> i64 {
        self.total[gpu]
    }

    /// Free pages of `gpu`.
    pub fn free(&self, gpu: GpuId) -> i64 {
        self.free[gpu]
    }

    /// Pages of `model` on `gpu`.
    pub fn pages(&self, gpu: GpuId, model: ModelId) -> i64 {
        self.pages[model * self.pools + self.pool[gpu]]
    }

    /// `model` takes its pages on `gpu`.
    pub fn take(&mut self, gpu: GpuId, model: ModelId) {
        self.free[gpu] -= self.pages(gpu, model);
    }

    /// `model` gives its pages on `gpu` back.
    pub fn give(&mut self, gpu: GpuId, model: ModelId) {
        self.free[gpu] += self.pages(gpu, model);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    #[test]
    fn pages_round_up_and_capacity_rounds_down() {
        assert_eq!(pages_for(16 * MIB, 16 * MIB), 1);
        assert_eq!(pages_for(16 * MIB + 1, 16 * MIB), 2);
        assert_eq!(pages_for(100 * MIB, 16 * MIB), 7);
        // ResNet-50 (97.7 MiB) takes 7 pages; a 21.5 GiB cache has 1376 pages.
        let resnet = (97.7 * MIB as f64).round() as u64;
        let mut c = PageCache::new(
            [(0, 23_085_449_216); 2].into_iter(),
            16 * MIB,
            1,
            [resnet, 1000 * MIB].into_iter(),
        );
        assert_eq!(c.total(0), 1376);
        assert_eq!((c.pages(0, 0), c.pages(0, 1)), (7, 63));
        c.take(1, 1);
        c.take(1, 0);
        assert_eq!((c.free(0), c.free(1)), (1376, 1376 - 70));
        c.give(1, 1);
        assert_eq!(c.free(1), 1369);
    }

    #[test]
    fn pages_can_be_stricter_than_bytes() {
        // 250 MiB hold 15 pages. Two 120 MiB models are 240 MiB of bytes, which
        // fit, but 2 x 8 pages do not: after one, 7 pages are free.
        let mut c = PageCache::new(
            [(0, 250 * MIB)].into_iter(),
            16 * MIB,
            1,
            [120 * MIB].into_iter(),
        );
        assert_eq!((c.total(0), c.pages(0, 0)), (15, 8));
        c.take(0, 0);
        assert_eq!(c.free(0), 7);
        assert!(c.free(0) < c.pages(0, 0));
    }

    #[test]
    fn each_gpu_counts_its_pool_pages() {
        // GPU 0 of pool 0 (160 MiB), GPU 1 of pool 1 (320 MiB); a model of
        // 40 MiB on pool 0 and 70 MiB on pool 1.
        let c = PageCache::new(
            [(0, 160 * MIB), (1, 320 * MIB)].into_iter(),
            16 * MIB,
            2,
            [40 * MIB, 70 * MIB].into_iter(),
        );
        assert_eq!((c.total(0), c.total(1)), (10, 20));
        assert_eq!((c.pages(0, 0), c.pages(1, 0)), (3, 5));
    }
}
