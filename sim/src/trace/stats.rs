//! Summaries of traces: rate, CV of inter-arrival times, per-model (or
//! per-function) shares, peak-to-mean of the rate per bin and a small text
//! histogram of the rate over time. For per-minute counts (MAF1), which carry
//! no inter-arrival times, the CV reported is that of the per-minute totals.

use crate::error::Result;
use crate::time::Nanos;
use serde::Serialize;
use std::fmt::Write as _;

/// One model's (or function's) line of a summary.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Group {
    /// Model instance name or function key.
    pub name: String,
    /// Requests (invocations).
    pub requests: u64,
    /// Its share of all requests.
    pub share: f64,
    /// Requests per second over the trace's span.
    pub rate_rps: f64,
    /// CV of its inter-arrival times (None with fewer than 3 requests or per-minute counts).
    pub cv: Option<f64>,
}

/// A summary of a trace.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Summary {
    /// `canonical`, `maf1` or `maf2`.
    pub format: String,
    /// Requests (invocations).
    pub requests: u64,
    /// What a group is: `model` (canonical traces) or `function` (MAF).
    pub group_kind: String,
    /// Models (canonical) or functions (MAF).
    pub groups: usize,
    /// Of those, the ones without any request.
    pub idle_groups: usize,
    /// Start of the span (s): the first arrival, or 0 for per-minute counts.
    pub start_s: f64,
    /// End of the span (s): the last arrival, or the end of the last minute.
    pub end_s: f64,
    /// requests / (end_s - start_s).
    pub rate_rps: f64,
    /// CV of all inter-arrival times (merged over models).
    pub cv: Option<f64>,
    /// Bin of the rate over time (s).
    pub bin_s: f64,
    /// Largest bin count over the mean bin count.
    pub peak_to_mean: f64,
    /// CV of the bin counts.
    pub bin_cv: f64,
    /// Share of requests of the most popular 1% and 10% of groups (at least one).
    pub top1pct_share: f64,
    /// See `top1pct_share`.
    pub top10pct_share: f64,
    /// The most popular groups, most popular first.
    pub top: Vec<Group>,
    /// (trigger, functions, invocations) for MAF1.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub triggers: Vec<(String, u64, u64)>,
    /// (start s, end s, mean rate) rows of the histogram of the rate over time.
    pub histogram: Vec<(f64, f64, f64)>,
}

/// Mean and CV of a sequence (Welford).
#[derive(Clone, Copy, Debug, Default)]
pub struct Moments {
    n: u64,
    mean: f64,
    m2: f64,
}

impl Moments {
    /// Adds a value.
    pub fn push(&mut self, x: f64) {
        self.n += 1;
        let d = x - self.mean;
        self.mean += d / self.n as f64;
        self.m2 += d * (x - self.mean);
    }
    /// Values added.
    pub fn count(&self) -> u64 {
        self.n
    }
    /// Mean.
    pub fn mean(&self) -> f64 {
        self.mean
    }
    /// Coefficient of variation (sample standard deviation over mean); None below 2 values or for mean 0.
    pub fn cv(&self) -> Option<f64> {
        (self.n >= 2 && self.mean > 0.0).then(|| (self.m2 / (self.n - 1) as f64).sqrt() / self.mean)
    }
}

fn gaps_cv(times: &[Nanos]) -> Option<f64> {
    if times.len() < 3 {
        return None;
    }
    let mut m = Moments::default();
    for w in times.windows(2) {
        m.push((w[1] - w[0]) as f64);
    }
    m.cv()
}

fn top_shares(mut counts: Vec<u64>) -> (f64, f64) {
    counts.sort_unstable_by(|a, b| b.cmp(a));
    let total: u64 = counts.iter().sum();
    let share = |frac: f64| {
        let k = ((counts.len() as f64 * frac).ceil() as usize)
            .max(1)
            .min(counts.len());
        if total == 0 {
            0.0
        } else {
            counts[..k].iter().sum::<u64>() as f64 / total as f64
        }
    };
    (share(0.01), share(0.10))
}

/// Peak-to-mean and CV of bin counts, and the histogram rows (at most `rows`).
fn bins_summary(
    bins: &[u64],
    bin_s: f64,
    start_s: f64,
    rows: usize,
) -> (f64, f64, Vec<(f64, f64, f64)>) {
    let mut m = Moments::default();
    for &b in bins {
        m.push(b as f64);
    }
    let peak = bins.iter().copied().max().unwrap_or(0) as f64;
    let ptm = if m.mean() > 0.0 { peak / m.mean() } else { 0.0 };
    let per_row = bins.len().div_ceil(rows.max(1)).max(1);
    let hist = if rows == 0 { &[][..] } else { bins };
    let hist = hist
        .chunks(per_row)
        .enumerate()
        .map(|(i, c)| {
            let a = start_s + (i * per_row) as f64 * bin_s;
            let b = a + c.len() as f64 * bin_s;
            (a, b, c.iter().sum::<u64>() as f64 / (b - a))
        })
        .collect();
    (ptm, m.cv().unwrap_or(0.0), hist)
}

/// Summarizes per-group sorted arrival times (canonical traces and MAF2).
/// Refuses (before allocating them) more than [`crate::limits::MAX_BINS`] bins.
pub fn from_times(
    format: &str,
    groups: &[(String, &[Nanos])],
    bin_s: f64,
    top: usize,
    rows: usize,
) -> Result<Summary> {
    let mut all: Vec<Nanos> = groups.iter().flat_map(|g| g.1.iter().copied()).collect();
    all.sort_unstable();
    let n = all.len() as u64;
    let (first, last) = (
        all.first().copied().unwrap_or(0),
        all.last().copied().unwrap_or(0),
    );
    let span_s = (last - first) as f64 / 1e9;
    let rate = if span_s > 0.0 { n as f64 / span_s } else { 0.0 };
    let bin_ns = (bin_s * 1e9).max(1.0);
    let b0 = (first as f64 / bin_ns).floor() as u64;
    let nb = if n == 0 {
        0
    } else {
        (last as f64 / bin_ns).floor() as u64 - b0 + 1
    };
    if nb > crate::limits::MAX_BINS {
        return Err(crate::error::Error::invalid(
            "--bin-s",
            format!(
                "bins of {} s over the trace's {:.3} s make {nb} bins, more than {}: use wider bins",
                crate::limits::show(bin_s),
                span_s,
                crate::limits::MAX_BINS
            ),
        ));
    }
    let mut bins = vec![0u64; nb as usize];
    for &t in &all {
        bins[((t as f64 / bin_ns).floor() as u64 - b0) as usize] += 1;
    }
    let (ptm, bin_cv, histogram) = bins_summary(&bins, bin_s, b0 as f64 * bin_s, rows);
    let mut order: Vec<usize> = (0..groups.len()).collect();
    order.sort_by(|&a, &b| groups[b].1.len().cmp(&groups[a].1.len()));
    let top_groups = order
        .iter()
        .take(top)
        .map(|&i| {
            let (name, ts) = &groups[i];
            Group {
                name: name.clone(),
                requests: ts.len() as u64,
                share: if n > 0 {
                    ts.len() as f64 / n as f64
                } else {
                    0.0
                },
                rate_rps: if span_s > 0.0 {
                    ts.len() as f64 / span_s
                } else {
                    0.0
                },
                cv: gaps_cv(ts),
            }
        })
        .collect();
    let (t1, t10) = top_shares(groups.iter().map(|g| g.1.len() as u64).collect());
    Ok(Summary {
        format: format.into(),
        requests: n,
        group_kind: kind_of(format).into(),
        groups: groups.len(),
        idle_groups: groups.iter().filter(|g| g.1.is_empty()).count(),
        start_s: first as f64 / 1e9,
        end_s: last as f64 / 1e9,
        rate_rps: rate,
        cv: gaps_cv(&all),
        bin_s,
        peak_to_mean: ptm,
        bin_cv,
        top1pct_share: t1,
        top10pct_share: t10,
        top: top_groups,
        triggers: vec![],
        histogram,
    })
}

/// Summarizes MAF1 day files; `bin_min` minutes per bin.
pub fn from_maf1(
    days: &mut super::maf1::Days,
    bin_min: usize,
    top: usize,
    rows: usize,
) -> Result<Summary> {
    use super::mapping::MinuteSource;
    let minutes = days.minutes();
    let mut per_minute = vec![0u64; minutes];
    let mut totals: Vec<u64> = Vec::new();
    let n_functions = days.pass(&mut |f, first, counts| {
        if f >= totals.len() {
            totals.resize(f + 1, 0);
        }
        for (j, &c) in counts.iter().enumerate() {
            per_minute[first + j] += c as u64;
            totals[f] += c as u64;
        }
        Ok(())
    })?;
    totals.resize(n_functions, 0);
    let n: u64 = totals.iter().sum();
    let bin_min = bin_min.max(1);
    let bins: Vec<u64> = per_minute.chunks(bin_min).map(|c| c.iter().sum()).collect();
    let bin_s = bin_min as f64 * 60.0;
    let (ptm, bin_cv, histogram) = bins_summary(&bins, bin_s, 0.0, rows);
    let span_s = minutes as f64 * 60.0;
    let triggers_of = days.triggers().to_vec();
    let mut triggers: std::collections::BTreeMap<String, (u64, u64)> = Default::default();
    for (f, t) in triggers_of.iter().enumerate() {
        let e = triggers.entry(t.to_string()).or_default();
        e.0 += 1;
        e.1 += totals[f];
    }
    let mut order: Vec<usize> = (0..n_functions).collect();
    order.sort_by(|&a, &b| totals[b].cmp(&totals[a]));
    let top_groups = order
        .iter()
        .take(top)
        .map(|&f| Group {
            name: format!("function {f} ({})", triggers_of[f]),
            requests: totals[f],
            share: if n > 0 {
                totals[f] as f64 / n as f64
            } else {
                0.0
            },
            rate_rps: totals[f] as f64 / span_s,
            cv: None,
        })
        .collect();
    let (t1, t10) = top_shares(totals.clone());
    Ok(Summary {
        format: "maf1".into(),
        requests: n,
        group_kind: kind_of("maf1").into(),
        groups: n_functions,
        idle_groups: totals.iter().filter(|&&t| t == 0).count(),
        start_s: 0.0,
        end_s: span_s,
        rate_rps: n as f64 / span_s,
        cv: None,
        bin_s,
        peak_to_mean: ptm,
        bin_cv,
        top1pct_share: t1,
        top10pct_share: t10,
        top: top_groups,
        triggers: triggers.into_iter().map(|(k, (f, i))| (k, f, i)).collect(),
        histogram,
    })
}

/// The kind of group of a trace format: models for canonical traces, functions for MAF.
fn kind_of(format: &str) -> &'static str {
    if format == "canonical" {
        "model"
    } else {
        "function"
    }
}

fn hms(s: f64) -> String {
    let s = s.max(0.0).round() as u64;
    format!("{:02}:{:02}:{:02}", s / 3600, s % 3600 / 60, s % 60)
}

impl Summary {
    /// The summary for people, with a histogram of bars at most `width` wide.
    pub fn render(&self, width: usize) -> String {
        let mut s = String::new();
        let what = if self.format == "canonical" {
            "models"
        } else {
            "functions"
        };
        let _ = writeln!(s, "format        {}", self.format);
        let _ = writeln!(s, "requests      {}", self.requests);
        let _ = writeln!(
            s,
            "{what:<13} {} ({} without requests)",
            self.groups, self.idle_groups
        );
        let _ = writeln!(
            s,
            "span          {} to {} ({:.1} s)",
            hms(self.start_s),
            hms(self.end_s),
            self.end_s - self.start_s
        );
        let _ = writeln!(s, "rate          {:.3} requests/s", self.rate_rps);
        match self.cv {
            Some(cv) => {
                let _ = writeln!(
                    s,
                    "CV            {cv:.3} (inter-arrival times, all {what} merged)"
                );
            }
            None if self.format == "maf1" => {
                let _ = writeln!(
                    s,
                    "CV            n/a (per-minute counts have no inter-arrival times)"
                );
            }
            None => {
                let _ = writeln!(s, "CV            n/a (fewer than 3 requests)");
            }
        }
        let _ = writeln!(
            s,
            "per {:.0} s     peak-to-mean {:.2}, CV of counts {:.3}",
            self.bin_s, self.peak_to_mean, self.bin_cv
        );
        let _ = writeln!(
            s,
            "popularity    top 1% of {what}: {:.1}% of requests, top 10%: {:.1}%",
            self.top1pct_share * 100.0,
            self.top10pct_share * 100.0
        );
        if !self.triggers.is_empty() {
            let _ = writeln!(s, "\ntrigger          functions  invocations");
            for (t, f, i) in &self.triggers {
                let _ = writeln!(s, "{t:<15} {f:>10}  {i:>11}");
            }
        }
        if !self.top.is_empty() {
            let w = self
                .top
                .iter()
                .map(|g| g.name.chars().count())
                .max()
                .unwrap_or(4)
                .max(5);
            let _ = writeln!(
                s,
                "\n{}  {:>10}  {:>7}  {:>11}  {:>6}",
                crate::text::pad("top", w, true),
                "requests",
                "share",
                "rate r/s",
                "CV"
            );
            for g in &self.top {
                let cv = g.cv.map_or("-".to_string(), |c| format!("{c:.2}"));
                let _ = writeln!(
                    s,
                    "{}  {:>10}  {:>6.2}%  {:>11.3}  {:>6}",
                    crate::text::pad(&g.name, w, true),
                    g.requests,
                    g.share * 100.0,
                    g.rate_rps,
                    cv
                );
            }
            if self.groups > self.top.len() {
                let _ = writeln!(s, "... and {} more", self.groups - self.top.len());
            }
        }
        if !self.histogram.is_empty() {
            let max = self.histogram.iter().map(|h| h.2).fold(0.0, f64::max);
            let _ = writeln!(s, "\nrate over time (requests/s)");
            for &(a, b, r) in &self.histogram {
                let bar = if max > 0.0 {
                    (r / max * width as f64).round() as usize
                } else {
                    0
                };
                let _ = writeln!(
                    s,
                    "{} - {}  {:>11.3}  {}",
                    hms(a),
                    hms(b),
                    r,
                    "#".repeat(bar)
                );
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn too_many_bins_are_refused_before_allocating() {
        let a: Vec<Nanos> = vec![0, 3_600_000_000_000];
        let e = from_times("canonical", &[("a".into(), &a)], 1e-9, 2, 10)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("--bin-s") && e.contains("more than 10000000"),
            "{e}"
        );
    }

    #[test]
    fn hand_computed_summary() {
        // a: 0, 1, 2, 3 s; b: 3.5 s. Merged gaps 1, 1, 1, 0.5.
        let a: Vec<Nanos> = vec![0, 1_000_000_000, 2_000_000_000, 3_000_000_000];
        let b: Vec<Nanos> = vec![3_500_000_000];
        let c: Vec<Nanos> = vec![];
        let s = from_times(
            "canonical",
            &[("a".into(), &a), ("b".into(), &b), ("c".into(), &c)],
            2.0,
            2,
            10,
        )
        .unwrap();
        assert_eq!(s.requests, 5);
        assert_eq!(s.groups, 3);
        assert_eq!(s.idle_groups, 1);
        assert_eq!(s.rate_rps, 5.0 / 3.5);
        // gaps mean 0.875, sample sd sqrt(0.1875/3) = 0.25.
        assert!((s.cv.unwrap() - 0.25 / 0.875).abs() < 1e-12);
        // Bins of 2 s: [0,2) 2 requests, [2,4) 3: peak 3 over mean 2.5.
        assert_eq!(s.peak_to_mean, 1.2);
        assert_eq!(s.histogram, vec![(0.0, 2.0, 1.0), (2.0, 4.0, 1.5)]);
        assert_eq!(s.top[0].name, "a");
        assert_eq!(s.top[0].share, 0.8);
        assert_eq!(s.top[0].cv, Some(0.0));
        assert_eq!(s.top.len(), 2);
        assert_eq!(s.top1pct_share, 0.8);
        let text = s.render(20);
        assert!(text.contains("requests      5"), "{text}");
        assert!(
            text.contains("00:00:02 - 00:00:04        1.500  ####################"),
            "{text}"
        );
    }
}
