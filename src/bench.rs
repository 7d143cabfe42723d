//! What `inferfair bench` measures besides the scenario files: the bare
//! event loop that every policy's speed is compared with, the scenarios of
//! the scaling tables and of the Clockwork-scale day (generated here, in
//! code, so that they cost nothing to ship and never enter the golden
//! results), and the peak memory of a run. Nothing here is timed by tests:
//! the numbers are written in `docs/performance.md`.

use anyhow::{Context, Result};
use inferfair_sim::Scenario;
use inferfair_sim::scenario::ScenarioFile;
use inferfair_sim::time::Nanos;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::path::Path;
use std::time::Instant;

/// What the bare loop did.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BareLoop {
    /// Requests completed.
    pub requests: u64,
    /// Wall-clock seconds.
    pub wall_s: f64,
    /// Sum of the completion times (so that nothing is optimized away).
    pub checksum: u64,
}

/// The least work an event-driven simulator of `models` request streams
/// does for `requests` requests: a `BinaryHeap` of pending events, one
/// pending arrival per stream, and per request the two heap operations it
/// needs at least: its arrival (pop it, push the stream's next arrival) and
/// its completion (push it, pop it). Gaps are drawn from a xorshift
/// generator (uniform, mean `models` x 100 us: 10,000 requests/s in all),
/// and every request is served in 5 ms, so that about 50 completions are
/// pending beside the arrivals, as in a busy simulated cluster. No queues,
/// no policy, no metrics: what every policy is measured against.
pub fn bare_loop(models: usize, requests: u64) -> BareLoop {
    let models = models.max(1) as u64;
    let mean_gap: Nanos = models * 100_000;
    let service: Nanos = 5_000_000;
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut gap = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        1 + x % (2 * mean_gap)
    };
    // An event is (time, stream) for an arrival, (time, models + stream) for a completion.
    let mut heap: BinaryHeap<Reverse<(Nanos, u64)>> = BinaryHeap::new();
    for m in 0..models {
        heap.push(Reverse((gap(), m)));
    }
    let wall = Instant::now();
    let (mut done, mut checksum) = (0, 0u64);
    while done < requests {
        let Reverse((t, e)) = heap.pop().expect("a stream always has a pending arrival");
        if e < models {
            heap.push(Reverse((t + gap(), e)));
            heap.push(Reverse((t + service, models + e)));
        } else {
            done += 1;
            checksum = checksum.wrapping_add(t);
        }
    }
    BareLoop {
        requests: done,
        wall_s: wall.elapsed().as_secs_f64(),
        checksum: std::hint::black_box(checksum),
    }
}

/// A generated scenario: `models` ResNet-50 instances with equal Poisson
/// traffic on `gpus` V100s, 200 requests/s per GPU in all (about 2/3 of a
/// GPU's capacity at batch size 1), long enough for about `requests`
/// requests. Every GPU's weights memory holds every model and every model is
/// preloaded everywhere, so that the run measures the cost of scheduling,
/// not of swapping (the Clockwork-scale day measures that). `root` is the
/// project root (where `profiles/` is).
pub fn scaling(models: usize, gpus: usize, requests: u64, root: &Path) -> Result<Scenario> {
    let rate = 200.0 * gpus as f64;
    let duration_s = (requests as f64 / rate).max(0.05);
    let weights_gib = (models as f64 * 97.7 / 1024.0).ceil() + 1.0;
    let text = format!(
        r#"name = "scale-{models}x{gpus}"
seed = 1
duration_s = {duration_s}
warmup_s = 0.0
profile = "profiles/v100.csv"

[cluster]
gpus = {gpus}
gpu_memory_gib = {weights_gib}
weights_memory_gib = {weights_gib}
preload = true

[[models]]
model = "resnet50"
count = {models}
arrival = {{ process = "poisson", rate_rps = {per_model} }}
"#,
        per_model = rate / models as f64,
    );
    generated(&text, root)
}

/// Clockwork's Azure-scale experiment, with synthetic traffic: 4,000 model
/// instances (ResNet-50, BERT-base, VGG-16 and GPT-2 in the proportions of
/// `scenarios/clockwork-many-models.toml`, Zipf popularity with exponent 1
/// within each) on 24 V100s, 1,200 requests/s in all, for `hours` simulated
/// hours (24: about 100 M requests). Their weights (about 1,100 GiB) are
/// twice the GPUs' weights memory (24 x 21.5 GiB), so models are loaded and
/// evicted on demand all the time. Nothing is preloaded; the first minute is
/// warm-up.
pub fn azure_day(hours: f64, root: &Path) -> Result<Scenario> {
    let mut text = format!(
        r#"name = "azure-day-4000x24"
seed = 1
duration_s = {duration_s}
warmup_s = 60.0
profile = "profiles/v100.csv"

[cluster]
gpus = 24
gpu_memory_gib = 32
"#,
        duration_s = hours * 3600.0,
    );
    for (model, count) in [
        ("resnet50", 2000),
        ("bert-base", 1000),
        ("vgg16", 667),
        ("gpt2", 333),
    ] {
        text.push_str(&format!(
            r#"
[[models]]
model = "{model}"
count = {count}
zipf_alpha = 1.0
arrival = {{ process = "poisson", rate_rps = 0.3 }}
"#
        ));
    }
    generated(&text, root)
}

fn generated(text: &str, root: &Path) -> Result<Scenario> {
    let file = ScenarioFile::parse(text, Path::new("(generated)"))?;
    let label = format!("generated scenario {}", file.name);
    Scenario::resolve(file, root, &label).with_context(|| {
        format!(
            "cannot build the benchmark scenario (run from the project root, where profiles/ is):\n{text}"
        )
    })
}

/// Forgets this process's peak memory so far (Linux; elsewhere nothing).
pub fn reset_peak_memory() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// This process's peak resident memory since the last reset, in MB (Linux's
/// VmHWM; `None` elsewhere).
pub fn peak_memory_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024.0 / 1e6)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_loop_completes_every_request_it_is_asked_for() {
        let a = bare_loop(10, 10_000);
        assert_eq!(a.requests, 10_000);
        // The same work gives the same completions, whatever the wall time.
        assert_eq!(a.checksum, bare_loop(10, 10_000).checksum);
        assert_ne!(a.checksum, bare_loop(11, 10_000).checksum);
    }

    #[test]
    fn generated_scenarios_resolve_with_their_sizes() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let s = scaling(1000, 8, 1_000_000, root).unwrap();
        assert_eq!((s.models.len(), s.cluster.gpus), (1000, 8));
        assert_eq!(s.duration, inferfair_sim::time::from_secs(625.0));
        assert!(s.cluster.preload);
        let d = azure_day(2.0, root).unwrap();
        assert_eq!((d.models.len(), d.cluster.gpus), (4000, 24));
        assert_eq!(d.duration, inferfair_sim::time::from_secs(7200.0));
    }
}
