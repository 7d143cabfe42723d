//! Sim-vs-real comparison: the simulator's prediction against what the
//! replay measured on identical requests, per policy and model and overall.
//!
//! Errors are signed, of the simulator relative to the replay: SLO
//! attainment as a difference in points (sim - real, x 100), goodput,
//! mean latency and latency quantiles in percent ((sim - real) / real x 100). MAPE is the
//! mean absolute percentage error over the per-model pairs whose real value
//! is positive.
//!
//! Isolation metrics need every model's goodput alone. By default both
//! sides use the simulator's (the replay's normalized goodput is its shared
//! goodput over the simulated alone goodput), so that a validation costs one
//! real-time run per policy; `real_alone` replays every model alone too
//! (one more real-time run per model and policy).

use crate::backend::Backend;
use crate::driver::{ReplayOptions, Replayed, replay};
use anyhow::Result;
use inferfair_sim::RunResult;
use inferfair_sim::run::{self, apply_isolation};
use inferfair_sim::scenario::Scenario;

/// The outcome of a validation.
pub struct Validation {
    /// The simulator's results, per policy (with isolation runs).
    pub sim: Vec<RunResult>,
    /// The replays, per policy.
    pub real: Vec<Replayed>,
    /// Sim vs real rows.
    pub rows: Vec<Row>,
    /// Agreement.
    pub summary: Summary,
}

/// Runs the simulator, then the replay on `backend`, for every policy of
/// `policies` on `scenario` (identical requests). `progress` is told what
/// runs and how far it is: `(what, fraction of it done)`, with fraction 0
/// when a run starts; the simulator (`"simulator"`) comes first, then the
/// real-time runs in order.
pub fn validate(
    scenario: &Scenario,
    policies: &[String],
    backend: &dyn Backend,
    real_alone: bool,
    progress: &mut dyn FnMut(&str, f64),
) -> Result<Validation> {
    for p in policies {
        inferfair_sim::policy::build(p, scenario)?;
    }
    progress("simulator", 0.0);
    let sim = run::compare(scenario, policies)?;
    let mut real = Vec::new();
    let mut timed = |what: &str, s: &Scenario, p: &str| -> Result<Replayed> {
        progress(what, 0.0);
        let mut policy = inferfair_sim::policy::build(p, s)?;
        let mut tick = |f: f64| progress(what, f);
        let opts = ReplayOptions {
            progress: Some(&mut tick),
            ..Default::default()
        };
        replay(s, policy.as_mut(), backend, opts)
    };
    for (p, s) in policies.iter().zip(&sim) {
        let mut r = timed(p, scenario, p)?;
        let alone: Vec<f64> = if real_alone {
            let mut v = Vec::new();
            for i in 0..scenario.models.len() {
                let what = format!("{p} alone: {}", scenario.models[i].name);
                v.push(timed(&what, &scenario.only(i), p)?.result.models[0].goodput_rps);
            }
            v
        } else {
            s.models
                .iter()
                .map(|m| m.alone_goodput_rps.unwrap_or(0.0))
                .collect()
        };
        apply_isolation(&mut r.result, &alone);
        real.push(r);
    }
    let results: Vec<RunResult> = real.iter().map(|r| r.result.clone()).collect();
    let rows = rows(&sim, &results);
    let summary = summarize(&rows);
    Ok(Validation {
        sim,
        real,
        rows,
        summary,
    })
}

/// One side of a comparison.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Point {
    /// Fraction of requests within their SLO.
    pub slo_attainment: Option<f64>,
    /// Good requests per second.
    pub goodput_rps: f64,
    /// Mean latency (ms).
    pub mean_ms: Option<f64>,
    /// Median latency (ms).
    pub p50_ms: Option<f64>,
    /// 99th-percentile latency (ms).
    pub p99_ms: Option<f64>,
    /// Isolation gap (overall rows, with isolation runs).
    pub isolation_gap: Option<f64>,
}

/// One policy and model (or all models: `model` is [`ALL`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// Policy.
    pub policy: String,
    /// Model instance, or [`ALL`].
    pub model: String,
    /// The simulator's prediction.
    pub sim: Point,
    /// The replay's measurement.
    pub real: Point,
}

/// The `model` of per-policy overall rows: `*`, as in a sweep's `results.csv`.
pub const ALL: &str = "*";

fn pct(sim: f64, real: f64) -> Option<f64> {
    (real > 0.0).then(|| (sim - real) / real * 100.0)
}

fn opt_pct(sim: Option<f64>, real: Option<f64>) -> Option<f64> {
    pct(sim?, real?)
}

impl Row {
    /// SLO attainment, sim - real, in points.
    pub fn attainment_diff_pts(&self) -> Option<f64> {
        Some((self.sim.slo_attainment? - self.real.slo_attainment?) * 100.0)
    }
    /// Goodput error (%).
    pub fn goodput_err_pct(&self) -> Option<f64> {
        pct(self.sim.goodput_rps, self.real.goodput_rps)
    }
    /// Mean latency error (%).
    pub fn mean_err_pct(&self) -> Option<f64> {
        opt_pct(self.sim.mean_ms, self.real.mean_ms)
    }
    /// Median latency error (%).
    pub fn p50_err_pct(&self) -> Option<f64> {
        opt_pct(self.sim.p50_ms, self.real.p50_ms)
    }
    /// 99th-percentile latency error (%).
    pub fn p99_err_pct(&self) -> Option<f64> {
        opt_pct(self.sim.p99_ms, self.real.p99_ms)
    }
    /// Isolation gap, sim - real.
    pub fn isolation_gap_diff(&self) -> Option<f64> {
        Some(self.sim.isolation_gap? - self.real.isolation_gap?)
    }
}

/// Agreement over all rows.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Summary {
    /// Mean |SLO attainment difference| (points) over the policies' overall rows.
    pub attainment_mean_pts: f64,
    /// Worst |SLO attainment difference| (points) over the policies' overall rows.
    pub attainment_max_pts: f64,
    /// Mean |SLO attainment difference| (points) over the per-model rows.
    pub model_attainment_mean_pts: f64,
    /// Worst |SLO attainment difference| (points) over the per-model rows.
    pub model_attainment_max_pts: f64,
    /// MAPE of goodput over the per-model rows (%).
    pub mape_goodput: f64,
    /// MAPE of mean latency over the per-model rows (%).
    pub mape_mean: f64,
    /// MAPE of median latency over the per-model rows (%).
    pub mape_p50: f64,
    /// MAPE of 99th-percentile latency over the per-model rows (%).
    pub mape_p99: f64,
    /// MAPE over goodput, p50 and p99 together (%).
    pub mape: f64,
    /// Worst |isolation gap difference| over the policies.
    pub isolation_gap_max_diff: Option<f64>,
}

fn point(r: &RunResult, m: Option<usize>) -> Point {
    match m {
        Some(i) => {
            let s = &r.models[i];
            Point {
                slo_attainment: s.slo_attainment,
                goodput_rps: s.goodput_rps,
                mean_ms: s.latency_ms.mean,
                p50_ms: s.latency_ms.p50,
                p99_ms: s.latency_ms.p99,
                isolation_gap: None,
            }
        }
        None => {
            let o = &r.overall;
            Point {
                slo_attainment: o.slo_attainment,
                goodput_rps: o.goodput_rps,
                mean_ms: o.latency_ms.mean,
                p50_ms: o.latency_ms.p50,
                p99_ms: o.latency_ms.p99,
                isolation_gap: o.isolation.map(|i| i.isolation_gap),
            }
        }
    }
}

/// The rows of a comparison: for each policy (`sim[i]` and `real[i]` are
/// the same policy on the same scenario), its overall row then one per model.
pub fn rows(sim: &[RunResult], real: &[RunResult]) -> Vec<Row> {
    let mut out = Vec::new();
    for (s, r) in sim.iter().zip(real) {
        assert_eq!(s.policy, r.policy, "results of the same policy");
        out.push(Row {
            policy: s.policy.clone(),
            model: ALL.into(),
            sim: point(s, None),
            real: point(r, None),
        });
        for (i, m) in s.models.iter().enumerate() {
            out.push(Row {
                policy: s.policy.clone(),
                model: m.model.clone(),
                sim: point(s, Some(i)),
                real: point(r, Some(i)),
            });
        }
    }
    out
}

fn mean_max(v: &[f64]) -> (f64, f64) {
    if v.is_empty() {
        return (0.0, 0.0);
    }
    let a: Vec<f64> = v.iter().map(|x| x.abs()).collect();
    (
        a.iter().sum::<f64>() / a.len() as f64,
        a.iter().copied().fold(0.0, f64::max),
    )
}

/// Agreement over `rows`.
pub fn summarize(rows: &[Row]) -> Summary {
    let overall: Vec<&Row> = rows.iter().filter(|r| r.model == ALL).collect();
    let models: Vec<&Row> = rows.iter().filter(|r| r.model != ALL).collect();
    let att: Vec<f64> = overall
        .iter()
        .filter_map(|r| r.attainment_diff_pts())
        .collect();
    let matt: Vec<f64> = models
        .iter()
        .filter_map(|r| r.attainment_diff_pts())
        .collect();
    let g: Vec<f64> = models.iter().filter_map(|r| r.goodput_err_pct()).collect();
    let mean: Vec<f64> = models.iter().filter_map(|r| r.mean_err_pct()).collect();
    let p50: Vec<f64> = models.iter().filter_map(|r| r.p50_err_pct()).collect();
    let p99: Vec<f64> = models.iter().filter_map(|r| r.p99_err_pct()).collect();
    let all: Vec<f64> = g.iter().chain(&p50).chain(&p99).copied().collect();
    let iso: Vec<f64> = overall
        .iter()
        .filter_map(|r| r.isolation_gap_diff())
        .collect();
    let (attainment_mean_pts, attainment_max_pts) = mean_max(&att);
    let (model_attainment_mean_pts, model_attainment_max_pts) = mean_max(&matt);
    Summary {
        attainment_mean_pts,
        attainment_max_pts,
        model_attainment_mean_pts,
        model_attainment_max_pts,
        mape_goodput: mean_max(&g).0,
        mape_mean: mean_max(&mean).0,
        mape_p50: mean_max(&p50).0,
        mape_p99: mean_max(&p99).0,
        mape: mean_max(&all).0,
        isolation_gap_max_diff: (!iso.is_empty()).then(|| mean_max(&iso).1),
    }
}

/// Header of `validation.csv`.
pub const CSV_HEADER: &str = "policy,model,sim_slo_attainment,real_slo_attainment,slo_attainment_diff_pts,sim_goodput_rps,real_goodput_rps,goodput_err_pct,sim_mean_ms,real_mean_ms,mean_err_pct,sim_p50_ms,real_p50_ms,p50_err_pct,sim_p99_ms,real_p99_ms,p99_err_pct,sim_isolation_gap,real_isolation_gap,isolation_gap_diff";

fn o(v: Option<f64>) -> String {
    v.map(|x| format!("{x}")).unwrap_or_default()
}

/// `validation.csv`: one line per row.
pub fn csv(rows: &[Row]) -> String {
    let mut s = String::from(CSV_HEADER);
    s.push('\n');
    for r in rows {
        s.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}\n",
            inferfair_sim::text::csv_field(&r.policy),
            inferfair_sim::text::csv_field(&r.model),
            o(r.sim.slo_attainment),
            o(r.real.slo_attainment),
            o(r.attainment_diff_pts()),
            r.sim.goodput_rps,
            r.real.goodput_rps,
            o(r.goodput_err_pct()),
            o(r.sim.mean_ms),
            o(r.real.mean_ms),
            o(r.mean_err_pct()),
            o(r.sim.p50_ms),
            o(r.real.p50_ms),
            o(r.p50_err_pct()),
            o(r.sim.p99_ms),
            o(r.real.p99_ms),
            o(r.p99_err_pct()),
            o(r.sim.isolation_gap),
            o(r.real.isolation_gap),
            o(r.isolation_gap_diff()),
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(model: &str, sim: (f64, f64, f64, f64), real: (f64, f64, f64, f64)) -> Row {
        let p = |(a, g, p50, p99): (f64, f64, f64, f64)| Point {
            slo_attainment: Some(a),
            goodput_rps: g,
            mean_ms: Some(p50 * 1.1),
            p50_ms: Some(p50),
            p99_ms: Some(p99),
            isolation_gap: None,
        };
        Row {
            policy: "fifo".into(),
            model: model.into(),
            sim: p(sim),
            real: p(real),
        }
    }

    #[test]
    fn errors_and_summary_by_hand() {
        let rows = vec![
            row(ALL, (0.95, 100.0, 10.0, 40.0), (0.94, 98.0, 11.0, 40.0)),
            row("a", (0.99, 60.0, 10.0, 20.0), (0.97, 50.0, 8.0, 25.0)),
            row("b", (0.90, 40.0, 12.0, 60.0), (0.91, 48.0, 12.0, 50.0)),
        ];
        let a = &rows[1];
        assert!((a.attainment_diff_pts().unwrap() - 2.0).abs() < 1e-9);
        assert_eq!(a.goodput_err_pct(), Some(20.0));
        assert_eq!(a.p50_err_pct(), Some(25.0));
        assert_eq!(a.p99_err_pct(), Some(-20.0));
        let s = summarize(&rows);
        assert!((s.attainment_mean_pts - 1.0).abs() < 1e-9);
        assert!((s.attainment_max_pts - 1.0).abs() < 1e-9);
        assert!((s.model_attainment_mean_pts - 1.5).abs() < 1e-9);
        assert!((s.model_attainment_max_pts - 2.0).abs() < 1e-9);
        // goodput: |20| and |-16.67|; p50: 25, 0; p99: 20, 20.
        assert!((s.mape_goodput - (20.0 + 100.0 / 6.0) / 2.0).abs() < 1e-9);
        assert!((s.mape_p50 - 12.5).abs() < 1e-9);
        assert!((s.mape_mean - 12.5).abs() < 1e-9);
        assert!((s.mape_p99 - 20.0).abs() < 1e-9);
        assert!((s.mape - (20.0 + 100.0 / 6.0 + 25.0 + 0.0 + 20.0 + 20.0) / 6.0).abs() < 1e-9);
        assert_eq!(s.isolation_gap_max_diff, None);
        let text = csv(&rows);
        assert!(text.starts_with(CSV_HEADER));
        assert_eq!(text.lines().count(), 4);
        assert!(
            text.lines()
                .nth(2)
                .unwrap()
                .starts_with("fifo,a,0.99,0.97,")
        );
    }

    #[test]
    fn zero_real_values_are_left_out_of_mape() {
        let rows = vec![row("a", (0.0, 0.0, 1.0, 1.0), (0.0, 0.0, 1.0, 1.0))];
        assert_eq!(rows[0].goodput_err_pct(), None);
        let s = summarize(&rows);
        assert_eq!(s.mape_goodput, 0.0);
        assert_eq!(s.mape_p50, 0.0);
    }
}
