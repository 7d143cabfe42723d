//! Paired comparison of two policies over a sweep (`inferfair sweep report`,
//! and the `ratio` panels of figures): every point of policy A is paired
//! with the point of policy B that has the same axes and seed (the same
//! mix, load and cluster), and the pairs are summarized per cell of the
//! axes kept (e.g. GPUs x load), over the axes left out (e.g. `mix_seed`):
//! - the fraction of pairs where A's isolation gap is smaller than B's
//!   (and where it is smaller or equal), and where A's STP is at least B's;
//! - the distribution of the ratio A / B of a metric (raw goodput, gap):
//!   minimum, quartiles and median (the `(n-1)p` interpolation);
//! - the SLO attainment of A and B (minimum and median), and how often A
//!   reaches 99%, beside how often it could: the attainment its models get
//!   alone (their alone goodputs over their offered loads), an upper bound
//!   that bursts beyond the cluster's capacity or SLOs shorter than a batch
//!   keep below 99% whatever the sharing.

use super::merge::{Results, metric_index};
use anyhow::{Result, bail};
use std::collections::BTreeMap;

/// One paired point: the overall metrics of A and B.
#[derive(Clone, Debug, PartialEq)]
pub struct Pair {
    /// The values of the kept axes (formatted).
    pub cell: Vec<String>,
    /// A's overall metrics, in the order of `merge::metric_names()`.
    pub a: Vec<Option<f64>>,
    /// B's.
    pub b: Vec<Option<f64>>,
    /// A's models alone: the sum of their alone goodputs over the sum of
    /// their offered loads (with isolation runs).
    pub alone_a: Option<f64>,
}

/// What pairs two points: scenario, axis values, seed.
type PairKey = (String, Vec<String>, u64);
/// One side of a pair: its point's index and its overall metrics.
type Side = (usize, Vec<Option<f64>>);

/// The pairs of policy labels `a` and `b`, with the cell of each pair given
/// by the axes `by` (names of `results.csv` axis columns).
pub fn pairs(r: &Results, a: &str, b: &str, by: &[String]) -> Result<Vec<Pair>> {
    let names = r.grid.axis_names();
    let keep: Vec<usize> = by
        .iter()
        .map(|n| {
            names.iter().position(|x| x == n).ok_or_else(|| {
                anyhow::anyhow!("no axis `{n}` in the sweep (axes: {})", names.join(", "))
            })
        })
        .collect::<Result<_>>()?;
    let fmt = |v: &Option<toml::Value>| v.as_ref().map(super::spec::fmt_value).unwrap_or_default();
    // (scenario, axes, seed) -> overall values, for each policy.
    let mut of: [BTreeMap<PairKey, Side>; 2] = Default::default();
    let (alone, offered) = (
        metric_index("alone_goodput_rps").expect("a metric"),
        metric_index("offered_rps").expect("a metric"),
    );
    // Per point: the sums of alone goodput and offered load over its models.
    let mut sums: BTreeMap<usize, (f64, f64, bool)> = BTreeMap::new();
    for row in r.rows.iter().filter(|row| row.model != "*") {
        let e = sums.entry(row.point).or_insert((0.0, 0.0, true));
        match (row.values[alone], row.values[offered]) {
            (Some(a), Some(o)) => {
                e.0 += a;
                e.1 += o;
            }
            _ => e.2 = false,
        }
    }
    for row in r.rows.iter().filter(|row| row.model == "*") {
        let p = &r.grid.points[row.point];
        let side = if p.policy == a {
            0
        } else if p.policy == b {
            1
        } else {
            continue;
        };
        let key = (p.scenario.clone(), p.axes.iter().map(fmt).collect(), p.seed);
        of[side].insert(key, (row.point, row.values.clone()));
    }
    if of[0].is_empty() || of[1].is_empty() {
        bail!("the sweep has no results of policy `{a}` or of `{b}`");
    }
    let mut out: Vec<(usize, Pair)> = Vec::new();
    for (key, (point, va)) in &of[0] {
        let Some((_, vb)) = of[1].get(key) else {
            continue;
        };
        let axes = &r.grid.points[*point].axes;
        let alone_a = sums
            .get(point)
            .filter(|s| s.2 && s.1 > 0.0)
            .map(|s| s.0 / s.1);
        out.push((
            *point,
            Pair {
                cell: keep.iter().map(|&i| fmt(&axes[i])).collect(),
                a: va.clone(),
                b: vb.clone(),
                alone_a,
            },
        ));
    }
    out.sort_by_key(|(p, _)| *p);
    Ok(out.into_iter().map(|(_, p)| p).collect())
}

/// The quantile `q` of sorted values ((n-1)q, linear between neighbours).
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    assert!(!sorted.is_empty(), "quantile of nothing");
    let pos = q * (sorted.len() - 1) as f64;
    let (i, f) = (pos.floor() as usize, pos - pos.floor());
    if f == 0.0 || i + 1 >= sorted.len() {
        sorted[i]
    } else if sorted[i + 1].is_infinite() {
        sorted[i + 1]
    } else {
        sorted[i] + f * (sorted[i + 1] - sorted[i])
    }
}

/// Minimum, first quartile, median, third quartile of values (`None` when empty).
pub fn spread(values: &[f64]) -> Option<[f64; 4]> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| !x.is_nan()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    Some([
        v[0],
        quantile(&v, 0.25),
        quantile(&v, 0.5),
        quantile(&v, 0.75),
    ])
}

/// a / b, with 0 / 0 = 1 (e.g. two isolation gaps of 0) and x / 0 = infinity.
pub fn ratio(a: f64, b: f64) -> f64 {
    if b == 0.0 {
        if a == 0.0 { 1.0 } else { f64::INFINITY }
    } else {
        a / b
    }
}

/// The ratio A / B of metric `metric` in each pair that has both values.
pub fn ratios(pairs: &[&Pair], metric: &str) -> Vec<f64> {
    let k = metric_index(metric).expect("a metric column");
    pairs
        .iter()
        .filter_map(|p| Some(ratio(p.a[k]?, p.b[k]?)))
        .collect()
}

/// One cell of the report.
#[derive(Clone, Debug, PartialEq)]
pub struct CellSummary {
    /// The values of the kept axes.
    pub cell: Vec<String>,
    /// Pairs in it.
    pub n: usize,
    /// Fraction of pairs where A's gap < B's.
    pub gap_smaller: f64,
    /// ... A's gap <= B's.
    pub gap_not_larger: f64,
    /// ... A's STP >= B's.
    pub stp_not_smaller: f64,
    /// ... both: gap smaller and STP at least.
    pub both: f64,
    /// Raw goodput A / B: min, q1, median, q3.
    pub goodput_ratio: [f64; 4],
    /// Isolation gap A / B: min, q1, median, q3.
    pub gap_ratio: [f64; 4],
    /// STP A / B: min, q1, median, q3.
    pub stp_ratio: [f64; 4],
    /// SLO attainment of A: min and median.
    pub attainment_a: [f64; 2],
    /// ... of B.
    pub attainment_b: [f64; 2],
    /// Fraction of pairs where A's SLO attainment is at least 99%.
    pub a_99: f64,
    /// Fraction of pairs where A's models alone reach 99% (see the module doc).
    pub alone_99: f64,
}

/// Summaries per cell, in order of first appearance.
pub fn summarize(pairs: &[Pair]) -> Vec<CellSummary> {
    let mut cells: Vec<Vec<String>> = Vec::new();
    for p in pairs {
        if !cells.contains(&p.cell) {
            cells.push(p.cell.clone());
        }
    }
    let gap = metric_index("isolation_gap").expect("a metric");
    let stp = metric_index("stp").expect("a metric");
    let att = metric_index("slo_attainment").expect("a metric");
    cells
        .into_iter()
        .map(|cell| {
            let ps: Vec<&Pair> = pairs.iter().filter(|p| p.cell == cell).collect();
            let n = ps.len();
            let frac = |f: &dyn Fn(&Pair) -> bool| {
                ps.iter().filter(|p| f(p)).count() as f64 / n.max(1) as f64
            };
            let v = |x: &[Option<f64>], k: usize| x[k].unwrap_or(f64::NAN);
            let gap_lt = |p: &Pair| v(&p.a, gap) < v(&p.b, gap);
            let stp_ge = |p: &Pair| v(&p.a, stp) >= v(&p.b, stp);
            let nan4 = [f64::NAN; 4];
            let atts = |side: bool| -> [f64; 2] {
                let vals: Vec<f64> = ps
                    .iter()
                    .map(|p| v(if side { &p.a } else { &p.b }, att))
                    .collect();
                spread(&vals).map_or([f64::NAN; 2], |s| [s[0], s[2]])
            };
            CellSummary {
                n,
                gap_smaller: frac(&gap_lt),
                gap_not_larger: frac(&|p| v(&p.a, gap) <= v(&p.b, gap)),
                stp_not_smaller: frac(&stp_ge),
                both: frac(&|p| gap_lt(p) && stp_ge(p)),
                goodput_ratio: spread(&ratios(&ps, "goodput_rps")).unwrap_or(nan4),
                gap_ratio: spread(&ratios(&ps, "isolation_gap")).unwrap_or(nan4),
                stp_ratio: spread(&ratios(&ps, "stp")).unwrap_or(nan4),
                attainment_a: atts(true),
                attainment_b: atts(false),
                a_99: frac(&|p| v(&p.a, att) >= 0.99),
                alone_99: frac(&|p| p.alone_a.is_some_and(|x| x >= 0.99)),
                cell,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_interpolate_and_ratios_handle_zero() {
        let v = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(spread(&v), Some([1.0, 2.0, 3.0, 4.0]));
        assert_eq!(quantile(&[1.0, 2.0], 0.5), 1.5);
        assert_eq!(quantile(&[1.0, f64::INFINITY], 0.5), f64::INFINITY);
        assert_eq!(ratio(0.0, 0.0), 1.0);
        assert_eq!(ratio(1.0, 0.0), f64::INFINITY);
        assert_eq!(ratio(1.0, 4.0), 0.25);
        assert_eq!(spread(&[]), None);
    }

    #[test]
    fn summaries_count_per_cell() {
        let k = |name: &str| metric_index(name).unwrap();
        let n = crate::sweep::merge::metric_names().len();
        let row = |gap: f64, stp: f64, good: f64| {
            let mut v = vec![None; n];
            v[k("isolation_gap")] = Some(gap);
            v[k("stp")] = Some(stp);
            v[k("goodput_rps")] = Some(good);
            v[k("slo_attainment")] = Some(0.9);
            v
        };
        let pairs = vec![
            Pair {
                cell: vec!["1".into()],
                a: row(0.1, 3.0, 110.0),
                b: row(0.2, 2.5, 100.0),
                alone_a: Some(1.0),
            },
            Pair {
                cell: vec!["1".into()],
                a: row(0.3, 2.0, 90.0),
                b: row(0.2, 2.5, 100.0),
                alone_a: Some(0.9),
            },
            Pair {
                cell: vec!["2".into()],
                a: row(0.0, 4.0, 100.0),
                b: row(0.0, 4.0, 100.0),
                alone_a: None,
            },
        ];
        let s = summarize(&pairs);
        assert_eq!(s.len(), 2);
        assert_eq!(
            (s[0].n, s[0].gap_smaller, s[0].stp_not_smaller),
            (2, 0.5, 0.5)
        );
        assert_eq!(s[0].both, 0.5);
        assert_eq!((s[0].a_99, s[0].alone_99, s[1].alone_99), (0.0, 0.5, 0.0));
        assert!((s[0].goodput_ratio[2] - 1.0).abs() < 1e-12);
        assert_eq!((s[1].gap_smaller, s[1].gap_not_larger), (0.0, 1.0));
        assert_eq!(s[1].gap_ratio, [1.0; 4]);
    }
}
