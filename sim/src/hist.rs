//! A log-linear latency histogram (HDR-style): constant memory whatever the
//! number of samples, quantiles within a stated relative error. Values are
//! nanoseconds; each power-of-two range is split into 2^SUB_BITS buckets, so a
//! reported quantile is within 1/2^SUB_BITS (0.8%) of a sample of that rank.

use crate::time::Nanos;

const SUB_BITS: u32 = 7;
const SUB: u64 = 1 << SUB_BITS;

/// Relative error bound of quantiles.
pub const RELATIVE_ERROR: f64 = 1.0 / SUB as f64;

/// A latency histogram.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Histogram {
    counts: Vec<u64>,
    n: u64,
    sum: u128,
    min: Nanos,
    max: Nanos,
}

fn index(v: Nanos) -> usize {
    if v < SUB {
        v as usize
    } else {
        let exp = 63 - v.leading_zeros(); // >= SUB_BITS
        let shift = exp - SUB_BITS;
        let sub = (v >> shift) - SUB; // in [0, SUB)
        ((shift as u64 + 1) * SUB + sub) as usize
    }
}

/// Lowest and highest value of a bucket.
fn bounds(i: usize) -> (Nanos, Nanos) {
    let i = i as u64;
    if i < SUB {
        (i, i)
    } else {
        let shift = i / SUB - 1;
        let sub = i % SUB;
        let lo = (SUB + sub) << shift;
        (lo, lo + (1 << shift) - 1)
    }
}

impl Histogram {
    /// An empty histogram.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records one value.
    pub fn record(&mut self, v: Nanos) {
        let i = index(v);
        if i >= self.counts.len() {
            self.counts.resize(i + 1, 0);
        }
        self.counts[i] += 1;
        if self.n == 0 || v < self.min {
            self.min = v;
        }
        self.max = self.max.max(v);
        self.n += 1;
        self.sum += v as u128;
    }

    /// Adds all samples of another histogram.
    pub fn merge(&mut self, other: &Histogram) {
        if other.n == 0 {
            return;
        }
        if other.counts.len() > self.counts.len() {
            self.counts.resize(other.counts.len(), 0);
        }
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.min = if self.n == 0 {
            other.min
        } else {
            self.min.min(other.min)
        };
        self.max = self.max.max(other.max);
        self.n += other.n;
        self.sum += other.sum;
    }

    /// Number of samples.
    pub fn count(&self) -> u64 {
        self.n
    }

    /// Exact mean (None when empty).
    pub fn mean(&self) -> Option<f64> {
        (self.n > 0).then(|| self.sum as f64 / self.n as f64)
    }

    /// The value at quantile `q` in [0, 1]: the sample of rank ceil(q n),
    /// within the relative error (bucket midpoint, clamped to the observed range).
    pub fn quantile(&self, q: f64) -> Option<Nanos> {
        if self.n == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.n as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                let (lo, hi) = bounds(i);
                return Some((lo + (hi - lo) / 2).clamp(self.min, self.max));
            }
        }
        Some(self.max)
    }

    /// The fraction of samples at most `v` (to bucket resolution): for CDFs.
    pub fn cdf_points(&self) -> Vec<(Nanos, f64)> {
        let mut out = Vec::new();
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            if c > 0 {
                seen += c;
                out.push((bounds(i).1.min(self.max), seen as f64 / self.n as f64));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_tile_the_range() {
        let mut prev_hi = None;
        for i in 0..5000 {
            let (lo, hi) = bounds(i);
            if let Some(p) = prev_hi {
                assert_eq!(lo, p + 1, "bucket {i}");
            }
            assert_eq!(index(lo), i);
            assert_eq!(index(hi), i);
            prev_hi = Some(hi);
        }
    }

    #[test]
    fn quantiles_within_relative_error() {
        let mut h = Histogram::new();
        let vals: Vec<u64> = (1..=100_000u64)
            .map(|i| i * 997 % 50_000_000 + 1000)
            .collect();
        for &v in &vals {
            h.record(v);
        }
        let mut sorted = vals.clone();
        sorted.sort();
        for q in [0.0, 0.5, 0.9, 0.99, 0.999, 1.0] {
            let rank = ((q * sorted.len() as f64).ceil() as usize).max(1);
            let exact = sorted[rank - 1] as f64;
            let got = h.quantile(q).unwrap() as f64;
            assert!(
                (got - exact).abs() / exact <= RELATIVE_ERROR,
                "q {q}: {got} vs {exact}"
            );
        }
        let mean = vals.iter().sum::<u64>() as f64 / vals.len() as f64;
        assert_eq!(h.mean().unwrap(), mean);
        assert_eq!(h.count(), 100_000);
    }

    #[test]
    fn small_values_are_exact_and_merge_adds() {
        let mut a = Histogram::new();
        let mut b = Histogram::new();
        a.record(5);
        b.record(7);
        b.record(100);
        a.merge(&b);
        assert_eq!(a.count(), 3);
        assert_eq!(a.quantile(0.5), Some(7));
        assert_eq!(a.quantile(1.0), Some(100));
        assert_eq!(a.quantile(0.0), Some(5));
        assert_eq!(Histogram::new().quantile(0.5), None);
    }
}
