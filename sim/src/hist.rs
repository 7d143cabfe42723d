//! A log-linear latency histogram (HDR-style): constant memory whatever the
//! number of samples, quantiles within a stated relative error. Values are
//! nanoseconds; each power-of-two range is split into 2^SUB_BITS buckets, so a
//! reported quantile is within 1/2^SUB_BITS (0.8%) of a sample of that rank.
//! Only the buckets from the octave of the smallest sample to that of the
//! largest are stored, two bytes each (a few KB for latencies from a
//! millisecond to a second), so that thousands of models cost little memory
//! and, recorded into at random, stay in the cache: a bucket keeps its count
//! modulo 2^16 and, in a short side list, how many times it wrapped.

use crate::time::Nanos;

const SUB_BITS: u32 = 7;
const SUB: u64 = 1 << SUB_BITS;

/// Bits of a bucket's count kept in `counts` (the rest in `wraps`).
const LOW_BITS: u32 = u16::BITS;

/// Relative error bound of quantiles.
pub const RELATIVE_ERROR: f64 = 1.0 / SUB as f64;

/// A latency histogram.
#[derive(Clone, Debug, Default)]
pub struct Histogram {
    /// Counts of the buckets from `first` on, modulo 2^16.
    counts: Vec<u16>,
    /// The buckets whose count reached 2^16: (bucket, count / 2^16), by bucket.
    wraps: Vec<(usize, u64)>,
    first: usize,
    n: u64,
    sum: u128,
    min: Nanos,
    max: Nanos,
}

/// Equal when they hold the same samples (whatever the buckets stored).
impl PartialEq for Histogram {
    fn eq(&self, other: &Self) -> bool {
        (self.n, self.sum, self.min, self.max) == (other.n, other.sum, other.min, other.max)
            && self.buckets().eq(other.buckets())
    }
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

/// The first bucket of the octave of bucket `i` (whole octaves are stored).
fn octave_start(i: usize) -> usize {
    i - i % SUB as usize
}

impl Histogram {
    /// An empty histogram.
    pub fn new() -> Self {
        Self::default()
    }

    /// The nonzero buckets: (index, count), ascending.
    fn buckets(&self) -> impl Iterator<Item = (usize, u64)> + '_ {
        let mut wraps = self.wraps.iter().peekable();
        self.counts.iter().enumerate().filter_map(move |(j, &low)| {
            let i = self.first + j;
            let high = wraps.next_if(|w| w.0 == i).map_or(0, |w| w.1);
            let c = (high << LOW_BITS) + low as u64;
            (c > 0).then_some((i, c))
        })
    }

    /// Adds `c` to the count of bucket `i` (stored).
    fn add(&mut self, i: usize, c: u64) {
        let low = &mut self.counts[i - self.first];
        let sum = *low as u64 + c;
        *low = sum as u16;
        let high = sum >> LOW_BITS;
        if high > 0 {
            match self.wraps.binary_search_by_key(&i, |w| w.0) {
                Ok(k) => self.wraps[k].1 += high,
                Err(k) => self.wraps.insert(k, (i, high)),
            }
        }
    }

    /// Makes room for bucket `i`, a whole octave at a time.
    fn cover(&mut self, i: usize) {
        if self.counts.is_empty() {
            self.first = octave_start(i);
            self.counts = vec![0; SUB as usize];
        } else if i < self.first {
            let start = octave_start(i);
            let mut counts = vec![0; self.first - start + self.counts.len()];
            counts[self.first - start..].copy_from_slice(&self.counts);
            self.counts = counts;
            self.first = start;
        }
        let end = self.first + self.counts.len();
        if i >= end {
            let new_end = octave_start(i) + SUB as usize;
            self.counts.reserve_exact(new_end - end);
            self.counts.resize(new_end - self.first, 0);
        }
    }

    /// Records one value.
    pub fn record(&mut self, v: Nanos) {
        let i = index(v);
        if i < self.first || i - self.first >= self.counts.len() {
            self.cover(i);
        }
        let low = &mut self.counts[i - self.first];
        match low.checked_add(1) {
            Some(c) => *low = c,
            None => self.add(i, 1),
        }
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
        self.cover(other.first);
        self.cover(other.first + other.counts.len() - 1);
        for (i, c) in other.buckets() {
            self.add(i, c);
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
        self.quantiles([q])[0]
    }

    /// Several quantiles, ascending, in one pass (see [`Histogram::quantile`]).
    pub fn quantiles<const N: usize>(&self, qs: [f64; N]) -> [Option<Nanos>; N] {
        let mut out = [None; N];
        if self.n == 0 {
            return out;
        }
        let mut buckets = self.buckets();
        let mut seen = 0;
        let mut bucket = None;
        for (k, q) in qs.into_iter().enumerate() {
            debug_assert!(k == 0 || q >= qs[k - 1], "quantiles ascending");
            let rank = ((q.clamp(0.0, 1.0) * self.n as f64).ceil() as u64).max(1);
            while seen < rank {
                let Some((i, c)) = buckets.next() else {
                    bucket = None;
                    break;
                };
                seen += c;
                bucket = Some(i);
            }
            out[k] = Some(match bucket {
                Some(i) => {
                    let (lo, hi) = bounds(i);
                    (lo + (hi - lo) / 2).clamp(self.min, self.max)
                }
                None => self.max,
            });
        }
        out
    }

    /// The fraction of samples at most `v` (to bucket resolution): for CDFs.
    pub fn cdf_points(&self) -> Vec<(Nanos, f64)> {
        let mut out = Vec::new();
        let mut seen = 0;
        for (i, c) in self.buckets() {
            seen += c;
            out.push((bounds(i).1.min(self.max), seen as f64 / self.n as f64));
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
    fn stored_range_follows_the_samples_and_merge_matches_one_histogram() {
        let mut a = Histogram::new();
        let mut b = Histogram::new();
        let mut all = Histogram::new();
        // Samples that extend the range upwards and downwards, in both halves.
        for (k, v) in [5_000_000u64, 40, 900_000_000, 3_000, 7, 1 << 40, 5_000_000]
            .into_iter()
            .enumerate()
        {
            if k % 2 == 0 {
                a.record(v)
            } else {
                b.record(v)
            }
            all.record(v);
        }
        let mut m = a.clone();
        m.merge(&b);
        assert_eq!(m, all);
        let mut m2 = b.clone();
        m2.merge(&a);
        assert_eq!(m2, all);
        assert_eq!(
            m.quantiles([0.0, 0.5, 1.0]),
            [Some(7), m.quantile(0.5), Some(1 << 40)]
        );
        for q in [0.0, 0.2, 0.5, 0.9, 1.0] {
            assert_eq!(m.quantile(q), all.quantile(q));
        }
        assert_eq!(m.cdf_points(), all.cdf_points());
        assert_eq!(Histogram::new().quantiles([0.5, 0.9]), [None, None]);
        // Latencies from 1 ms to 1 s: 11 octaves are stored, not the 30 from 0.
        let mut h = Histogram::new();
        h.record(1_000_000_000);
        h.record(1_000_000);
        assert_eq!(h.counts.len(), 11 * SUB as usize);
    }

    #[test]
    fn counts_past_two_bytes_are_exact_in_record_and_merge() {
        // 3 x 2^16 + 5 samples in one bucket, 2^16 - 1 in the next: the
        // first wraps three times, the second never.
        let x = 1_000_000u64;
        let y = bounds(index(x) + 1).0;
        let mut a = Histogram::new();
        for _ in 0..(3 << 16) + 5 {
            a.record(x);
        }
        for _ in 0..(1 << 16) - 1 {
            a.record(y);
        }
        assert_eq!(a.wraps, vec![(index(x), 3)]);
        let buckets: Vec<_> = a.buckets().collect();
        assert_eq!(
            buckets,
            vec![(index(x), (3 << 16) + 5), (index(y), (1 << 16) - 1)]
        );
        let n = a.count() as f64;
        assert_eq!(a.cdf_points()[0].1, ((3 << 16) + 5) as f64 / n);
        let (lo, hi) = bounds(index(x));
        assert_eq!(a.quantile(0.74), Some(lo + (hi - lo) / 2));
        assert_eq!(a.quantile(0.76), Some(y)); // the midpoint, clamped to the largest sample
        // Merging carries across the wrap: (2^16 - 1) + 1 in bucket y, and
        // exactly 2^16 (all wrapped, nothing left below) is still a bucket.
        let mut b = Histogram::new();
        b.record(y);
        let mut ab = a.clone();
        ab.merge(&b);
        assert_eq!(ab.wraps, vec![(index(x), 3), (index(y), 1)]);
        assert_eq!(ab.counts[index(y) - ab.first], 0);
        assert_eq!(ab.buckets().nth(1), Some((index(y), 1 << 16)));
        let mut all = a.clone();
        all.record(y);
        assert_eq!(ab, all);
        // Twice the same: wraps add.
        let mut aa = a.clone();
        aa.merge(&a);
        assert_eq!(aa.buckets().next(), Some((index(x), (6 << 16) + 10)));
        assert_eq!(aa.count(), 2 * a.count());
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
