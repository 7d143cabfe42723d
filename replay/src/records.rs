//! The replay's own files: `batches.csv` (every batch: when it was issued,
//! its measured span and its profiled duration) and `loads.csv` (every
//! weight transfer, likewise), and a summary of how far measured durations
//! were from the profile's.

use crate::driver::{BatchRecord, LoadRecord};
use inferfair_sim::text::csv_field;
use inferfair_sim::time::Nanos;

/// Header of `batches.csv`.
pub const BATCHES_HEADER: &str = "policy,gpu,model,batch_size,requests,issued_ns,start_ns,finish_ns,expected_ns,target_ns,measured_ns,device_ns,error_pct";

/// Header of `loads.csv`.
pub const LOADS_HEADER: &str =
    "policy,gpu,model,issued_ns,start_ns,finish_ns,expected_ns,measured_ns,device_ns,error_pct";

fn err_pct(measured: Nanos, expected: Nanos) -> String {
    if expected == 0 {
        return String::new();
    }
    format!(
        "{:.3}",
        (measured as f64 - expected as f64) / expected as f64 * 100.0
    )
}

fn opt(v: Option<Nanos>) -> String {
    v.map(|x| x.to_string()).unwrap_or_default()
}

/// Rows of `batches.csv` for one policy's replay; `names` are the model instances'.
pub fn batch_rows(policy: &str, names: &[String], batches: &[BatchRecord], out: &mut String) {
    for b in batches {
        let measured = b.span.finish - b.span.start;
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{},{measured},{},{}\n",
            csv_field(policy),
            b.gpu,
            csv_field(&names[b.model]),
            b.size,
            b.requests,
            b.issued,
            b.span.start,
            b.span.finish,
            b.expected_ns,
            b.target_ns,
            opt(b.span.device_ns),
            err_pct(measured, b.expected_ns)
        ));
    }
}

/// Rows of `loads.csv` for one policy's replay.
pub fn load_rows(policy: &str, names: &[String], loads: &[LoadRecord], out: &mut String) {
    for l in loads {
        let measured = l.span.finish - l.span.start;
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{measured},{},{}\n",
            csv_field(policy),
            l.gpu,
            csv_field(&names[l.model]),
            l.issued,
            l.span.start,
            l.span.finish,
            l.expected_ns,
            opt(l.span.device_ns),
            err_pct(measured, l.expected_ns)
        ));
    }
}

/// How measured batch durations compare with the profile's.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct DurationError {
    /// Batches.
    pub count: usize,
    /// Median of (measured - expected) / expected, %.
    pub median_pct: f64,
    /// Mean of |measured - expected| / expected, %.
    pub mean_abs_pct: f64,
    /// 99th percentile of |measured - expected| / expected, %.
    pub p99_abs_pct: f64,
    /// Median of the issue delay (start - issued): the worker's reaction time.
    pub median_issue_ns: Nanos,
}

fn quantile(v: &mut [f64], q: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1]
}

/// The duration error of `batches` (None if there are none).
pub fn duration_error(batches: &[BatchRecord]) -> Option<DurationError> {
    if batches.is_empty() {
        return None;
    }
    let mut e: Vec<f64> = batches
        .iter()
        .map(|b| {
            ((b.span.finish - b.span.start) as f64 - b.expected_ns as f64)
                / b.expected_ns.max(1) as f64
                * 100.0
        })
        .collect();
    let mut a: Vec<f64> = e.iter().map(|x| x.abs()).collect();
    let mut issue: Vec<f64> = batches
        .iter()
        .map(|b| b.span.start.saturating_sub(b.issued) as f64)
        .collect();
    Some(DurationError {
        count: batches.len(),
        median_pct: quantile(&mut e, 0.5),
        mean_abs_pct: a.iter().sum::<f64>() / a.len() as f64,
        p99_abs_pct: quantile(&mut a, 0.99),
        median_issue_ns: quantile(&mut issue, 0.5) as Nanos,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Span;

    fn b(expected: Nanos, start: Nanos, finish: Nanos) -> BatchRecord {
        BatchRecord {
            gpu: 0,
            batch: 0,
            model: 1,
            size: 4,
            requests: 3,
            expected_ns: expected,
            target_ns: expected,
            issued: start - 10,
            span: Span {
                start,
                finish,
                device_ns: None,
            },
        }
    }

    #[test]
    fn rows_and_errors_by_hand() {
        let v = vec![b(1000, 100, 1110), b(2000, 2000, 3900), b(1000, 5000, 6000)];
        let mut s = String::new();
        batch_rows("fifo", &["a".into(), "m".into()], &v, &mut s);
        assert_eq!(
            s.lines().next().unwrap(),
            "fifo,0,m,4,3,90,100,1110,1000,1000,1010,,1.000"
        );
        assert_eq!(s.lines().count(), 3);
        assert_eq!(
            BATCHES_HEADER.split(',').count(),
            s.lines().next().unwrap().split(',').count()
        );
        let e = duration_error(&v).unwrap();
        // Errors: +1%, -5%, 0%.
        assert_eq!(e.count, 3);
        assert!((e.median_pct - 0.0).abs() < 1e-9);
        assert!((e.mean_abs_pct - 2.0).abs() < 1e-9);
        assert!((e.p99_abs_pct - 5.0).abs() < 1e-9);
        assert_eq!(e.median_issue_ns, 10);
        assert_eq!(duration_error(&[]), None);
    }
}
