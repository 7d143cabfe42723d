//! Execution-time and weight-transfer estimates, as Clockwork keeps them:
//! seeded from the profile, then the chosen percentile (0.99, in effect the
//! maximum) of a sliding window of the last measured durations
//! (`SlidingWindow::get_percentile`, `Model::add_measurement`).

use crate::time::Nanos;

/// The last `size` measurements.
#[derive(Clone, Debug)]
pub struct SlidingWindow {
    size: usize,
    /// Values held (at most `size`).
    len: usize,
    /// Once full, where the oldest value is in the ring.
    next: usize,
    /// The values in arrival order, as a ring (`buf[..size]`), then the
    /// same values ascending (`buf[size..size + len]`): one allocation.
    buf: Vec<Nanos>,
}

impl SlidingWindow {
    /// An empty window of `size` values (at least 1).
    pub fn new(size: usize) -> Self {
        SlidingWindow {
            size: size.max(1),
            len: 0,
            next: 0,
            buf: Vec::new(),
        }
    }

    fn sorted(&self) -> &[Nanos] {
        if self.len == 0 {
            return &[];
        }
        &self.buf[self.size..self.size + self.len]
    }

    /// Adds a measurement, forgetting the oldest one when full.
    pub fn insert(&mut self, v: Nanos) {
        if self.buf.is_empty() {
            self.buf = vec![0; 2 * self.size];
        }
        let (ring, sorted) = self.buf.split_at_mut(self.size);
        let mut i = if self.len < self.size {
            ring[self.len] = v;
            self.len += 1;
            // A new last place, then moved to its rank below.
            self.len - 1
        } else {
            let old = std::mem::replace(&mut ring[self.next], v);
            self.next = (self.next + 1) % self.size;
            // `v` takes the place of `old`, then moves to its rank.
            sorted[..self.len]
                .binary_search(&old)
                .expect("in the window")
        };
        let s = &mut sorted[..self.len];
        while i + 1 < s.len() && s[i + 1] < v {
            s[i] = s[i + 1];
            i += 1;
        }
        while i > 0 && s[i - 1] > v {
            s[i] = s[i - 1];
            i -= 1;
        }
        s[i] = v;
    }

    /// Number of measurements held.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Clockwork's percentile: linear interpolation between the two ranks
    /// around p * (n - 1), truncated to whole nanoseconds. None when empty.
    pub fn percentile(&self, p: f64) -> Option<Nanos> {
        let sorted = self.sorted();
        let n = sorted.len();
        if n == 0 {
            return None;
        }
        let pos = p * (n - 1) as f64;
        let (up, down) = (pos.ceil() as usize, pos.floor() as usize);
        if up == down {
            return Some(sorted[up]);
        }
        let v = sorted[up] as f64 * (pos - down as f64) + sorted[down] as f64 * (up as f64 - pos);
        Some(v as Nanos)
    }
}

/// One model's estimates (on one GPU, or model-wide): per allowed batch size,
/// and for loading its weights. On a GPU whose pool cannot run the larger
/// allowed sizes, only a prefix of them has estimates ([`Estimates::sizes`]).
#[derive(Clone, Debug)]
pub struct Estimates {
    exec: Vec<Nanos>,
    windows: Vec<SlidingWindow>,
    weights: Nanos,
    weights_window: SlidingWindow,
    percentile: f64,
}

impl Estimates {
    /// Seeded from profiled times (one per allowed batch size) and the profiled load time.
    pub fn new(exec: Vec<Nanos>, weights: Nanos, window: usize, percentile: f64) -> Self {
        Estimates {
            windows: vec![SlidingWindow::new(window); exec.len()],
            exec,
            weights,
            weights_window: SlidingWindow::new(window),
            percentile,
        }
    }

    /// How many of the allowed batch sizes (the smallest ones) can run.
    pub fn sizes(&self) -> usize {
        self.exec.len()
    }

    /// Estimated execution time of the `i`-th allowed batch size.
    pub fn exec(&self, i: usize) -> Nanos {
        self.exec[i]
    }

    /// Estimated weight-transfer time.
    pub fn weights(&self) -> Nanos {
        self.weights
    }

    /// A batch of the `i`-th allowed size ran for `duration`.
    pub fn measured_exec(&mut self, i: usize, duration: Nanos) {
        let w = &mut self.windows[i];
        w.insert(duration);
        self.exec[i] = w.percentile(self.percentile).expect("not empty");
    }

    /// A weight transfer took `duration`.
    pub fn measured_weights(&mut self, duration: Nanos) {
        self.weights_window.insert(duration);
        self.weights = self
            .weights_window
            .percentile(self.percentile)
            .expect("not empty");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_keeps_the_last_measurements() {
        let mut w = SlidingWindow::new(3);
        assert_eq!(w.percentile(0.99), None);
        for v in [10, 40, 20, 30] {
            w.insert(v);
        }
        // 10 fell out: {20, 30, 40}.
        assert_eq!(w.len(), 3);
        assert_eq!(w.percentile(0.0), Some(20));
        assert_eq!(w.percentile(0.5), Some(30));
        assert_eq!(w.percentile(1.0), Some(40));
        w.insert(20);
        // {20, 30, 20}: a duplicate value leaves correctly later.
        assert_eq!(w.percentile(1.0), Some(30));
    }

    #[test]
    fn window_holds_exactly_the_last_values_sorted() {
        let mut w = SlidingWindow::new(7);
        let mut all = vec![];
        let mut x: u64 = 12345;
        for _ in 0..2000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let v = (x >> 33) % 50; // many duplicates
            w.insert(v);
            all.push(v);
            let mut want: Vec<Nanos> = all[all.len().saturating_sub(7)..].to_vec();
            want.sort_unstable();
            assert_eq!(w.sorted(), want);
        }
    }

    #[test]
    fn p99_of_ten_interpolates_the_two_largest() {
        let mut w = SlidingWindow::new(10);
        for v in 1..=10u64 {
            w.insert(v * 1000);
        }
        // position 0.99 * 9 = 8.91: 9000 * 0.09 + 10000 * 0.91 = 9910.
        assert_eq!(w.percentile(0.99), Some(9910));
        // One value: that value.
        let mut one = SlidingWindow::new(10);
        one.insert(1234);
        assert_eq!(one.percentile(0.99), Some(1234));
    }

    #[test]
    fn estimates_start_from_the_profile_and_follow_measurements() {
        let mut e = Estimates::new(vec![1_000, 1_500], 8_000, 10, 0.99);
        assert_eq!((e.exec(0), e.exec(1), e.weights()), (1_000, 1_500, 8_000));
        // The first measurement replaces the profiled value.
        e.measured_exec(0, 1_200);
        assert_eq!(e.exec(0), 1_200);
        e.measured_exec(0, 1_100);
        // {1100, 1200}: 0.99 of the way from 1100 to 1200.
        assert_eq!(e.exec(0), 1_199);
        assert_eq!(e.exec(1), 1_500);
        e.measured_weights(9_000);
        assert_eq!(e.weights(), 9_000);
    }
}
