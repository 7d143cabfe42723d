//! From functions to model instances. A per-minute trace (MAF1 files or the
//! generator) is read twice: once for each function's total over the slice,
//! which decides the mapping, once to add each function's counts to its
//! instance. Memory: one total per function and one count per instance and
//! minute, never a list of requests.
//!
//! Two ways, as the peers do it:
//! - Clockwork: sort functions by total invocations over the whole trace read
//!   (descending; ties in file order) and give rank i to instance `n * i / f`
//!   (contiguous blocks) or `i % n` (stripe); every function counts, idle ones included.
//! - AlpaServe: drop the functions with no invocation in the slice and assign
//!   the others in file order, `i % n` (their "stripe"), or in blocks.
//!
//! [`Replay`] then scales the counts (rate, time, a target total rate) and
//! turns them into an arrival process per instance: within each interval the
//! arrivals are Poisson or Gamma with the chosen CV (see `docs/traces.md`).

use crate::error::{Error, Result};
use crate::time::Nanos;
use crate::workload::Arrival;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// What a pass calls for each row: `(function, first_minute, counts)`.
pub type RowFn<'a> = dyn FnMut(usize, usize, &[u32]) -> Result<()> + 'a;

/// A trace of per-minute invocation counts per function that can be read
/// several times, in the same order each time.
pub trait MinuteSource {
    /// Minutes the trace covers.
    fn minutes(&self) -> usize;
    /// Reads the whole trace once, calling `f(function, first_minute, counts)`
    /// for each row: `counts[j]` is the count in minute `first_minute + j`.
    /// Functions are numbered from 0 in order of first appearance, the same
    /// in every pass. Returns the number of functions.
    fn pass(&mut self, f: &mut RowFn<'_>) -> Result<usize>;
}

/// Whose way of mapping functions to instances.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Style {
    /// Sort by total invocations over the whole trace, keep idle functions; default assignment: blocks.
    Clockwork,
    /// File order, idle functions dropped; default assignment: stripe.
    Alpaserve,
}

/// How ranked functions are dealt to instances.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Assign {
    /// Function of rank i goes to instance `n * i / f`: contiguous blocks.
    Block,
    /// Function of rank i goes to instance `i % n`.
    Stripe,
}

/// A complete mapping rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Mapping {
    /// Rank functions by total invocations over the whole trace (descending) rather than file order.
    pub sort: bool,
    /// How ranks become instances.
    pub assign: Assign,
    /// Leave out the functions with no invocation in the slice.
    pub drop_idle: bool,
}

impl Mapping {
    /// The mapping of `style`, with its defaults overridden where given.
    pub fn new(style: Style, assign: Option<Assign>, drop_idle: Option<bool>) -> Mapping {
        match style {
            Style::Clockwork => Mapping {
                sort: true,
                assign: assign.unwrap_or(Assign::Block),
                drop_idle: drop_idle.unwrap_or(false),
            },
            Style::Alpaserve => Mapping {
                sort: false,
                assign: assign.unwrap_or(Assign::Stripe),
                drop_idle: drop_idle.unwrap_or(true),
            },
        }
    }
}

/// The instance of each function (`None`: left out). `rank` holds the totals
/// that order functions when the mapping sorts (Clockwork ranks by the whole
/// trace it loaded), `slice` the totals in the replayed slice, which decide
/// which functions are idle (AlpaServe slices first, then drops idle ones).
pub fn assign(
    rank: &[u64],
    slice: &[u64],
    instances: usize,
    m: Mapping,
) -> Result<Vec<Option<u32>>> {
    assert_eq!(
        rank.len(),
        slice.len(),
        "one total of each kind per function"
    );
    if instances == 0 {
        return Err(Error::invalid(
            "mapping",
            "needs at least one model instance",
        ));
    }
    let mut ranked: Vec<usize> = (0..slice.len())
        .filter(|&f| !(m.drop_idle && slice[f] == 0))
        .collect();
    if m.sort {
        // Stable: ties keep file order.
        ranked.sort_by(|&a, &b| rank[b].cmp(&rank[a]));
    }
    let f = ranked.len();
    if f < instances {
        return Err(Error::invalid(
            "mapping",
            format!(
                "the trace has {f} functions{} for {instances} model instances: every instance needs at least one (use fewer instances{})",
                if m.drop_idle {
                    " with invocations in the slice"
                } else {
                    ""
                },
                if m.drop_idle {
                    ""
                } else {
                    ", or a longer trace"
                }
            ),
        ));
    }
    let mut out = vec![None; slice.len()];
    for (i, &func) in ranked.iter().enumerate() {
        let inst = match m.assign {
            Assign::Block => (instances as u128 * i as u128 / f as u128) as usize,
            Assign::Stripe => i % instances,
        };
        out[func] = Some(inst as u32);
    }
    Ok(out)
}

/// The number of model instances for `models` models when each is copied
/// `memory_factor` times (Clockwork's memory factor), at least one each.
pub fn instances(models: usize, memory_factor: f64) -> usize {
    ((models as f64 * memory_factor).round() as usize).max(models.min(1))
}

/// A time range of a per-minute trace, in minutes: `[start, end)`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Slice {
    /// First minute.
    pub start: usize,
    /// End (exclusive); `None`: the end of the trace.
    pub end: Option<usize>,
}

/// Per-minute invocation counts of each model instance over a slice.
#[derive(Clone, Debug, PartialEq)]
pub struct MinuteTable {
    /// Number of instances (rows).
    pub instances: usize,
    /// Minutes per row.
    pub minutes: usize,
    /// First minute of the slice in the source trace.
    pub start_minute: usize,
    /// Functions mapped to each instance.
    pub functions: Vec<u32>,
    /// Functions in the source, and those with no invocation in the slice.
    pub source_functions: usize,
    /// Functions of the source with no invocation in the slice.
    pub idle_functions: usize,
    counts: Vec<u32>,
}

impl MinuteTable {
    /// A table from rows of counts (for tests and hand-made inputs).
    pub fn from_rows(rows: &[Vec<u32>]) -> MinuteTable {
        let minutes = rows.first().map_or(0, |r| r.len());
        assert!(
            rows.iter().all(|r| r.len() == minutes),
            "rows of equal length"
        );
        MinuteTable {
            instances: rows.len(),
            minutes,
            start_minute: 0,
            functions: vec![1; rows.len()],
            source_functions: rows.len(),
            idle_functions: 0,
            counts: rows.concat(),
        }
    }

    /// Instance `i`'s count in each minute of the slice.
    pub fn row(&self, i: usize) -> &[u32] {
        &self.counts[i * self.minutes..(i + 1) * self.minutes]
    }

    /// Instance `i`'s invocations over the slice.
    pub fn total(&self, i: usize) -> u64 {
        self.row(i).iter().map(|&c| c as u64).sum()
    }

    /// All invocations over the slice.
    pub fn grand_total(&self) -> u64 {
        self.counts.iter().map(|&c| c as u64).sum()
    }
}

/// Reads `source` twice and maps its functions to `instances` instances over `slice`.
pub fn build(
    source: &mut dyn MinuteSource,
    mapping: Mapping,
    instances: usize,
    slice: Slice,
) -> Result<MinuteTable> {
    let total_minutes = source.minutes();
    let end = slice.end.unwrap_or(total_minutes);
    if slice.start >= end || end > total_minutes {
        return Err(Error::invalid(
            "slice",
            format!(
                "minutes [{}, {end}) are not a non-empty range within the trace's {total_minutes} minutes",
                slice.start
            ),
        ));
    }
    let (start, minutes) = (slice.start, end - slice.start);
    // The part of a row [first, first + len) that falls in the slice, as (row offset, slice offset, len).
    let overlap = move |first: usize, len: usize| -> Option<(usize, usize, usize)> {
        let a = first.max(start);
        let b = (first + len).min(end);
        (a < b).then(|| (a - first, a - start, b - a))
    };
    // Totals over the whole trace (to rank) and over the slice (to find idle functions).
    let mut whole: Vec<u64> = Vec::new();
    let mut totals: Vec<u64> = Vec::new();
    let n_functions = source.pass(&mut |f, first, counts| {
        if f >= totals.len() {
            totals.resize(f + 1, 0);
            whole.resize(f + 1, 0);
        }
        whole[f] += counts.iter().map(|&c| c as u64).sum::<u64>();
        if let Some((r, _, len)) = overlap(first, counts.len()) {
            totals[f] += counts[r..r + len].iter().map(|&c| c as u64).sum::<u64>();
        }
        Ok(())
    })?;
    totals.resize(n_functions, 0);
    whole.resize(n_functions, 0);
    let map = assign(&whole, &totals, instances, mapping)?;
    let mut counts = vec![0u32; instances * minutes];
    let mut functions = vec![0u32; instances];
    for inst in map.iter().flatten() {
        functions[*inst as usize] += 1;
    }
    source.pass(&mut |f, first, row| {
        let Some(inst) = map.get(f).copied().flatten() else {
            return Ok(());
        };
        if let Some((r, s, len)) = overlap(first, row.len()) {
            let dst = &mut counts[inst as usize * minutes + s..][..len];
            for (d, &c) in dst.iter_mut().zip(&row[r..r + len]) {
                *d = d.saturating_add(c);
            }
        }
        Ok(())
    })?;
    Ok(MinuteTable {
        instances,
        minutes,
        start_minute: start,
        functions,
        source_functions: n_functions,
        idle_functions: totals.iter().filter(|&&t| t == 0).count(),
        counts,
    })
}

/// How per-minute counts become arrivals.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Replay {
    /// Length of an interval in minutes: counts are summed per interval and
    /// spread evenly over it (AlpaServe's interval; 1: Clockwork's minute).
    pub interval_min: usize,
    /// Expected arrivals per counted invocation (Clockwork's load factor).
    pub rate_scale: f64,
    /// Time compression: a trace minute lasts 60 / time_scale seconds.
    pub time_scale: f64,
    /// If given, replaces `rate_scale` so that the whole table's mean total
    /// rate (all instances, over the slice, after time scaling) is this.
    pub total_rps: Option<f64>,
    /// CV of inter-arrival times within an interval (1: Poisson).
    pub cv: f64,
}

impl Default for Replay {
    fn default() -> Self {
        Replay {
            interval_min: 1,
            rate_scale: 1.0,
            time_scale: 1.0,
            total_rps: None,
            cv: 1.0,
        }
    }
}

impl Replay {
    /// Checks the knobs; `place` names them in errors.
    pub fn check(&self, place: &str) -> Result<()> {
        let pos = |field: &str, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(Error::invalid(
                    format!("{place}.{field}"),
                    format!(
                        "must be a positive number, found {}",
                        crate::limits::show(v)
                    ),
                ))
            }
        };
        if self.interval_min == 0 {
            return Err(Error::invalid(
                format!("{place}.interval_min"),
                "must be at least 1",
            ));
        }
        pos("rate_scale", self.rate_scale)?;
        pos("time_scale", self.time_scale)?;
        if let Some(r) = self.total_rps {
            pos("total_rps", r)?;
        }
        if !(self.cv.is_finite() && self.cv >= 0.0) {
            return Err(Error::invalid(
                format!("{place}.cv"),
                format!("must be a non-negative number, found {}", self.cv),
            ));
        }
        Ok(())
    }

    /// Checks that `table`'s slice, once time-scaled, fits in the simulator's
    /// longest time; `place` names the knob in errors.
    pub fn check_span(&self, table: &MinuteTable, place: &str) -> Result<()> {
        let span_ns = table.minutes as f64 * 60e9 / self.time_scale;
        if span_ns > crate::time::MAX_TIME as f64 {
            return Err(Error::invalid(
                format!("{place}.time_scale"),
                format!(
                    "{} trace minutes at time_scale {} last {} s, longer than the simulator's longest time ({} s)",
                    table.minutes,
                    crate::limits::show(self.time_scale),
                    crate::limits::approx(span_ns / 1e9),
                    crate::limits::approx(crate::time::MAX_TIME as f64 / 1e9)
                ),
            ));
        }
        Ok(())
    }

    /// Length of the table's slice once time-scaled, in seconds.
    pub fn span_s(&self, table: &MinuteTable) -> f64 {
        table.minutes as f64 * 60.0 / self.time_scale
    }

    /// Expected arrivals per counted invocation for `table`.
    pub fn per_count(&self, table: &MinuteTable) -> f64 {
        match self.total_rps {
            Some(r) => {
                let total = table.grand_total();
                if total == 0 {
                    0.0
                } else {
                    r * self.span_s(table) / total as f64
                }
            }
            None => self.rate_scale,
        }
    }

    /// The arrival process of instance `row` of `table`, starting at time 0;
    /// `rate_factor` multiplies the rate (the scenario's scales).
    pub fn arrival(&self, table: &Arc<MinuteTable>, row: usize, rate_factor: f64) -> Arrival {
        let bin_ns = self.interval_min as f64 * 60e9 / self.time_scale;
        Arrival::Binned {
            table: table.clone(),
            row,
            bin_minutes: self.interval_min,
            bin_ns,
            per_count: self.per_count(table) * rate_factor,
            cv: self.cv,
            stop: (table.minutes as f64 * 60e9 / self.time_scale).round() as Nanos,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Rows(Vec<(usize, usize, Vec<u32>)>, usize);
    impl MinuteSource for Rows {
        fn minutes(&self) -> usize {
            self.1
        }
        fn pass(&mut self, f: &mut RowFn<'_>) -> Result<usize> {
            let mut n = 0;
            for (id, first, c) in &self.0 {
                f(*id, *first, c)?;
                n = n.max(id + 1);
            }
            Ok(n)
        }
    }

    #[test]
    fn clockwork_sorts_and_blocks() {
        // Totals: f0 5, f1 9, f2 0, f3 7, f4 1 -> ranks f1, f3, f0, f4, f2.
        let totals = [5, 9, 0, 7, 1];
        let m = Mapping::new(Style::Clockwork, None, None);
        // n = 2, f = 5: rank i -> 2 * i / 5: 0, 0, 0, 1, 1.
        assert_eq!(
            assign(&totals, &totals, 2, m).unwrap(),
            vec![Some(0), Some(0), Some(1), Some(0), Some(1)]
        );
        let stripe = Mapping::new(Style::Clockwork, Some(Assign::Stripe), None);
        // rank i -> i % 2: f1 0, f3 1, f0 0, f4 1, f2 0.
        assert_eq!(
            assign(&totals, &totals, 2, stripe).unwrap(),
            vec![Some(0), Some(0), Some(0), Some(1), Some(1)]
        );
    }

    #[test]
    fn alpaserve_drops_idle_and_stripes_in_file_order() {
        let totals = [5, 9, 0, 7, 1];
        let m = Mapping::new(Style::Alpaserve, None, None);
        // Kept in file order: f0, f1, f3, f4 -> 0, 1, 0, 1.
        assert_eq!(
            assign(&totals, &totals, 2, m).unwrap(),
            vec![Some(0), Some(1), None, Some(0), Some(1)]
        );
        let block = Mapping::new(Style::Alpaserve, Some(Assign::Block), None);
        // 3 * i / 4: 0, 0, 1, 2.
        assert_eq!(
            assign(&totals, &totals, 3, block).unwrap(),
            vec![Some(0), Some(0), None, Some(1), Some(2)]
        );
        let e = assign(&totals, &totals, 5, m).unwrap_err().to_string();
        assert!(
            e.contains("4 functions with invocations in the slice for 5"),
            "{e}"
        );
    }

    #[test]
    fn clockwork_ranks_by_the_whole_trace_alpaserve_drops_idle_in_the_slice() {
        // Whole-trace totals rank f2 first; in the slice only f0 and f1 are busy.
        let whole = [3, 2, 9];
        let slice = [3, 2, 0];
        let cw = Mapping::new(Style::Clockwork, Some(Assign::Stripe), None);
        // Ranks f2, f0, f1 -> 0, 1, 0.
        assert_eq!(
            assign(&whole, &slice, 2, cw).unwrap(),
            vec![Some(1), Some(0), Some(0)]
        );
        let cw_drop = Mapping::new(Style::Clockwork, Some(Assign::Stripe), Some(true));
        // f2 is idle in the slice: ranks f0, f1 -> 0, 1.
        assert_eq!(
            assign(&whole, &slice, 2, cw_drop).unwrap(),
            vec![Some(0), Some(1), None]
        );
    }

    #[test]
    fn memory_factor_multiplies_instances() {
        assert_eq!(instances(10, 1.0), 10);
        assert_eq!(instances(10, 2.5), 25);
        assert_eq!(instances(3, 0.1), 1);
        assert_eq!(instances(0, 2.0), 0);
    }

    #[test]
    fn build_sums_functions_per_instance_over_the_slice() {
        // Two days of 3 minutes; function 1 missing on day 2 and function 2 new on day 2.
        let mut src = Rows(
            vec![
                (0, 0, vec![1, 2, 3]),
                (1, 0, vec![10, 0, 0]),
                (0, 3, vec![4, 5, 6]),
                (2, 3, vec![0, 0, 1]),
            ],
            6,
        );
        let m = Mapping::new(Style::Clockwork, None, None);
        // Slice minutes [1, 5): totals f0 2+3+4+5 = 14, f1 0, f2 0 -> ranks f0, f1, f2.
        let t = build(
            &mut src,
            m,
            3,
            Slice {
                start: 1,
                end: Some(5),
            },
        )
        .unwrap();
        assert_eq!(t.minutes, 4);
        assert_eq!(t.row(0), &[2, 3, 4, 5]);
        assert_eq!(t.row(1), &[0, 0, 0, 0]);
        assert_eq!(t.row(2), &[0, 0, 0, 0]);
        assert_eq!(t.source_functions, 3);
        assert_eq!(t.idle_functions, 2);
        // Whole trace, 2 instances: totals 21, 10, 1 -> blocks 2*i/3: f0 0, f1 0, f2 1.
        let t = build(&mut src, m, 2, Slice::default()).unwrap();
        assert_eq!(t.row(0), &[11, 2, 3, 4, 5, 6]);
        assert_eq!(t.row(1), &[0, 0, 0, 0, 0, 1]);
        assert_eq!(t.functions, vec![2, 1]);
        assert_eq!(t.grand_total(), 32);
        let e = build(
            &mut src,
            m,
            2,
            Slice {
                start: 4,
                end: Some(9),
            },
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("6 minutes"), "{e}");
    }

    #[test]
    fn total_rps_sets_the_scale() {
        let t = MinuteTable::from_rows(&[vec![30, 90], vec![0, 0]]);
        let r = Replay {
            total_rps: Some(2.0),
            time_scale: 2.0,
            ..Replay::default()
        };
        // 120 invocations over 2 minutes compressed to 60 s at 2 r/s: 120 arrivals, 1 per count.
        assert_eq!(r.span_s(&t), 60.0);
        assert_eq!(r.per_count(&t), 1.0);
        assert!(
            Replay {
                interval_min: 0,
                ..r
            }
            .check("x")
            .is_err()
        );
        assert!(
            Replay { cv: -1.0, ..r }
                .check("x")
                .unwrap_err()
                .to_string()
                .contains("x.cv")
        );
    }
}
