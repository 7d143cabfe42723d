//! Kernel sizing of the cuda backend, as plain arithmetic (no GPU needed).
//!
//! A model runs as a chain of `layers` identical fully connected layers:
//! each is one matrix product (cuBLAS SGEMM) of the batch's activations
//! (`rows` x `dim`) by the layer's weights (`dim` x `dim`, a slice of the
//! model's weight buffer), followed by one memory-bound kernel over its
//! output (an inference batch-norm and ReLU, `x = max(a x + c, 0)`).
//!
//! - The weight buffer has the model's weight bytes (fp32), and the layers
//!   together read (almost) all of it: `layers * dim^2 <= weights / 4`, so
//!   each batch streams the model's weights from GPU memory once, as a real
//!   network does.
//! - The compute follows the model's GFLOPs per sample (`gflops` column of
//!   the profile): a batch of `b` does `2 * rows * layers * dim^2` FLOPs,
//!   `rows` chosen so that this is `gflops * 1e9 * b` (at least one row).
//!   `rows / b` is then the network's reuse of each weight per sample (its
//!   spatial positions or tokens), e.g. about 160 for ResNet-50.
//! - Without a `gflops` column, the compute per sample is estimated from the
//!   profiled execution time of the largest batch at [`NOMINAL_TFLOPS`]; the
//!   estimate is written into measured profiles so that a later replay on
//!   them runs exactly the kernels that were measured.

use inferfair_sim::profile::ModelProfile;

/// Number of layers (matrix products) of every model.
pub const LAYERS: u64 = 24;
/// Smallest layer width when a model's weights allow it.
pub const MIN_DIM: u64 = 64;
/// Throughput assumed to estimate a model's compute from its profiled time
/// when the profile has no `gflops` column: roughly what fp32 networks
/// sustain on a V100 at large batches (ResNet-50, 8.2 GFLOPs per image,
/// batch 16 in 21.7 ms: 6.0 TFLOP/s).
pub const NOMINAL_TFLOPS: f64 = 6.0;

/// How one model runs.
#[derive(Clone, Debug, PartialEq)]
pub struct NetPlan {
    /// Matrix products per batch.
    pub layers: u64,
    /// Width of each layer (its weights are `dim` x `dim`).
    pub dim: u64,
    /// Floats of the weight buffer (the model's weight bytes / 4, at least
    /// what the layers read).
    pub weight_floats: u64,
    /// Compute per sample (GFLOPs) the kernels are sized for.
    pub gflops: f64,
    /// Whether `gflops` was estimated from the profiled time.
    pub estimated: bool,
}

/// How one batch of a model runs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BatchPlan {
    /// Rows of the activations.
    pub rows: u64,
    /// FLOPs of the batch (matrix products).
    pub flops: f64,
    /// Floats of each of the two activation buffers.
    pub act_floats: u64,
    /// Bytes the batch reads and writes: weights, plus the activations of
    /// every product (read, written) and memory-bound kernel (read, written).
    pub bytes: u64,
}

/// Compute per sample (GFLOPs) estimated from a model's profiled time.
pub fn estimate_gflops(m: &ModelProfile) -> f64 {
    let i = m.batch_sizes.len() - 1;
    m.exec_ns[i] as f64 * 1e-9 * NOMINAL_TFLOPS * 1e12 / m.batch_sizes[i] as f64 / 1e9
}

fn isqrt(n: u64) -> u64 {
    let mut r = (n as f64).sqrt() as u64;
    while r * r > n {
        r -= 1;
    }
    while (r + 1) * (r + 1) <= n {
        r += 1;
    }
    r
}

impl NetPlan {
    /// The plan of a profiled model.
    pub fn new(m: &ModelProfile) -> NetPlan {
        let floats = m.weights_bytes / 4;
        let layers = (floats / (MIN_DIM * MIN_DIM)).clamp(1, LAYERS);
        let dim = isqrt(floats / layers).max(1);
        let (gflops, estimated) = match m.gflops {
            Some(g) => (g, false),
            None => (estimate_gflops(m), true),
        };
        NetPlan {
            layers,
            dim,
            weight_floats: floats.max(layers * dim * dim),
            gflops,
            estimated,
        }
    }

    /// Offset (in floats) of layer `l`'s weights in the weight buffer.
    pub fn weight_offset(&self, l: u64) -> u64 {
        l * self.dim * self.dim
    }

    /// The plan of a batch of (padded) size `size`.
    pub fn batch(&self, size: u32) -> BatchPlan {
        let per_row = 2.0 * (self.layers * self.dim * self.dim) as f64;
        let rows = ((self.gflops * 1e9 * size as f64 / per_row).round() as u64).max(1);
        let act = rows * self.dim;
        BatchPlan {
            rows,
            flops: per_row * rows as f64,
            act_floats: act,
            bytes: 4 * (self.layers * self.dim * self.dim + self.layers * 4 * act),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(weights_mib: f64, gflops: Option<f64>) -> ModelProfile {
        ModelProfile {
            name: "m".into(),
            batch_sizes: vec![1, 2, 16],
            exec_ns: vec![3_322_000, 5_271_000, 21_729_000],
            util: vec![1.0; 3],
            weights_bytes: (weights_mib * 1048576.0) as u64,
            load_ns: 1,
            gflops,
        }
    }

    #[test]
    fn resnet50_by_hand() {
        // 97.7 MiB = 102,445,875 B = 25,611,468 floats; 24 layers of
        // floor(sqrt(25,611,468 / 24)) = floor(sqrt(1,067,144)) = 1033.
        let p = NetPlan::new(&model(97.7, Some(8.2)));
        assert_eq!((p.layers, p.dim), (24, 1033));
        assert_eq!(p.weight_floats, 25_611_468);
        assert!(!p.estimated);
        // 2 * 24 * 1033^2 = 51,220,272 FLOPs per row; 8.2e9 / that = 160.09 -> 160 rows.
        let b = p.batch(1);
        assert_eq!(b.rows, 160);
        assert_eq!(b.flops, 160.0 * 51_220_272.0);
        assert_eq!(b.act_floats, 160 * 1033);
        // Batch 16: 2561.5 -> 2561 rows; FLOPs within 0.02% of 16 * 8.2e9.
        let b16 = p.batch(16);
        assert_eq!(b16.rows, 2561);
        assert!((b16.flops / (16.0 * 8.2e9) - 1.0).abs() < 2e-4);
        assert_eq!(b16.bytes, 4 * (24 * 1033 * 1033 + 24 * 4 * 2561 * 1033));
    }

    #[test]
    fn layers_read_almost_all_the_weights() {
        for mib in [4.7, 13.4, 44.6, 97.7, 420.0, 528.0, 1300.0] {
            let p = NetPlan::new(&model(mib, Some(1.0)));
            let used = p.layers * p.dim * p.dim;
            assert!(used <= p.weight_floats);
            assert!(
                used as f64 >= 0.99 * p.weight_floats as f64,
                "{mib} MiB: {used} of {}",
                p.weight_floats
            );
            assert_eq!(p.layers, LAYERS);
        }
    }

    #[test]
    fn tiny_models_get_fewer_narrower_layers() {
        // 40 KiB = 10,240 floats: 10,240 / 64^2 = 2 layers of floor(sqrt(5120)) = 71.
        let p = NetPlan::new(&model(40.0 / 1024.0, Some(0.001)));
        assert_eq!((p.layers, p.dim), (2, 71));
        // No weights at all: one 1x1 layer (2 FLOPs per row), and at least one row.
        let z = NetPlan::new(&model(0.0, Some(1e-12)));
        assert_eq!((z.layers, z.dim, z.weight_floats), (1, 1, 1));
        assert_eq!(z.batch(1).rows, 1);
        let z = NetPlan::new(&model(0.0, Some(1e-6)));
        assert_eq!(z.batch(4).rows, 2000);
    }

    #[test]
    fn without_gflops_the_compute_is_estimated_from_the_largest_batch() {
        // 21.729 ms at 6 TFLOP/s for 16 samples: 8.148 GFLOPs per sample.
        let p = NetPlan::new(&model(97.7, None));
        assert!(p.estimated);
        assert!((p.gflops - 21.729e-3 * 6e12 / 16.0 / 1e9).abs() < 1e-12);
        assert!((p.gflops - 8.148375).abs() < 1e-9);
    }

    #[test]
    fn compute_grows_linearly_with_the_batch() {
        let p = NetPlan::new(&model(420.0, Some(22.0)));
        let r1 = p.batch(1).rows as f64;
        for b in [2, 4, 8, 16, 32] {
            let r = p.batch(b).rows as f64;
            assert!(
                (r / (b as f64 * r1) - 1.0).abs() < 0.02,
                "batch {b}: {r} rows vs {r1}"
            );
        }
    }
}
