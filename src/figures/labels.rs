//! Axis labels with units, for axes of the grid and metrics of the results.

/// The label of a grid axis.
pub fn axis(name: &str) -> String {
    match name {
        "rate_scale" => "Offered load (rate scale, ×)".into(),
        "cv_scale" => "Burstiness (CV scale, ×)".into(),
        "slo_scale" => "SLO scale (×)".into(),
        "gpus" => "Number of GPUs".into(),
        "models" => "Number of model instances".into(),
        "mix_seed" => "Random mix (seed)".into(),
        "policy.inferfair.period_ms" => "InferFair period (ms)".into(),
        "policy.inferfair.fairness" => "InferFair fairness knob".into(),
        other => match other
            .strip_prefix("policy.")
            .and_then(|r| r.split_once('.'))
        {
            Some((p, k)) => match k.strip_suffix("_ms") {
                Some(k) => format!("{p} {} (ms)", k.replace('_', " ")),
                None => format!("{p} {}", k.replace('_', " ")),
            },
            None => other.into(),
        },
    }
}

/// A short name of a grid axis, for legends.
pub fn short_axis(name: &str) -> &str {
    match name {
        "rate_scale" => "load",
        "gpus" => "GPUs",
        other => other,
    }
}

/// The label of a metric (`percent`: shown as a percentage).
pub fn metric(name: &str, percent: bool) -> String {
    let l = match name {
        "goodput_rps" => "Raw goodput (req/s)",
        "offered_rps" => "Offered load (req/s)",
        "alone_goodput_rps" => "Goodput alone (req/s)",
        "stp" => "STP (sum of normalized goodputs)",
        "isolation_gap" => "Isolation gap (max N − min N)",
        "normalized_goodput" => "Normalized goodput N (shared / alone)",
        "min_normalized_goodput" => "Worst-off model's N",
        "jain" => "Jain's index over N",
        "disparity" => "Disparity (max N / min N)",
        "slo_attainment" if percent => "SLO attainment (%)",
        "slo_attainment" => "SLO attainment (fraction)",
        "latency_mean_ms" => "Mean latency (ms)",
        "latency_p50_ms" => "Median latency (ms)",
        "latency_p90_ms" => "p90 latency (ms)",
        "latency_p99_ms" => "p99 latency (ms)",
        "latency_p999_ms" => "p99.9 latency (ms)",
        "gpu_utilization" if percent => "GPU utilization (%)",
        "gpu_utilization" => "GPU utilization (fraction)",
        "gpu_share" => "Share of GPU time",
        "mean_batch" => "Mean batch size (requests)",
        "dropped" => "Dropped requests",
        "late" => "Late requests",
        other => {
            return if percent {
                format!("{other} (%)")
            } else {
                other.to_string()
            };
        }
    };
    l.to_string()
}

/// Whether a metric is shown as a percentage by default.
pub fn percent_by_default(name: &str) -> bool {
    name == "slo_attainment"
}

/// Whether a metric is a fraction in [0, 1].
pub fn is_fraction(name: &str) -> bool {
    matches!(
        name,
        "slo_attainment" | "jain" | "gpu_utilization" | "gpu_share"
    )
}
