//! Arrival processes. `ArrivalSpec` is what a scenario file says (per model
//! instance); `Arrival` is its resolved, scaled form in nanoseconds; an
//! `ArrivalStream` draws arrival times from it lazily, one at a time, from its
//! own seeded random stream, so that a trace of any length costs one pending
//! event per model.

use crate::error::{Error, Result};
use crate::limits::{MAX_CLIENTS, MAX_CV, MAX_RATE_RPS, approx, show};
use crate::rng::Rng;
use crate::time::{MAX_TIME, Nanos, Unit, checked};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// An arrival process as written in a scenario (`arrival = { process = ... }`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "process", rename_all = "snake_case", deny_unknown_fields)]
pub enum ArrivalSpec {
    /// Fixed inter-arrival time 1/rate, the first arrival at `start_s`.
    Deterministic {
        /// Requests per second.
        rate_rps: f64,
        /// First arrival (seconds; default 0).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        start_s: Option<f64>,
        /// No arrivals from this time on (seconds; default: the end of the run).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stop_s: Option<f64>,
    },
    /// Poisson arrivals.
    Poisson {
        /// Requests per second.
        rate_rps: f64,
        /// Arrivals start at this time (seconds; default 0).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        start_s: Option<f64>,
        /// No arrivals from this time on (seconds).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stop_s: Option<f64>,
    },
    /// A renewal process with Gamma inter-arrival times of the given
    /// coefficient of variation (shape 1/cv², scale cv²/rate; cv = 1 is Poisson).
    Gamma {
        /// Requests per second.
        rate_rps: f64,
        /// Coefficient of variation of inter-arrival times.
        cv: f64,
        /// Arrivals start at this time (seconds; default 0).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        start_s: Option<f64>,
        /// No arrivals from this time on (seconds).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stop_s: Option<f64>,
    },
    /// On/off bursts: arrivals at `rate_rps` (Poisson, or Gamma with `cv`)
    /// during on periods, none during off periods; period lengths are
    /// exponential with means `on_s` and `off_s`, starting with an on period.
    /// Gaps run in on-time only (what is left of one at the end of an on
    /// period carries over to the next), so the mean rate is
    /// rate_rps * on_s / (on_s + off_s) whatever the CV.
    Onoff {
        /// Requests per second during on periods.
        rate_rps: f64,
        /// Mean length of an on period (seconds).
        on_s: f64,
        /// Mean length of an off period (seconds).
        off_s: f64,
        /// Inter-arrival CV within on periods (default 1: Poisson).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cv: Option<f64>,
        /// Arrivals start at this time (seconds; default 0).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        start_s: Option<f64>,
        /// No arrivals from this time on (seconds).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stop_s: Option<f64>,
    },
    /// A rate that changes over time: `rates_rps[i]` from `times_s[i]` until
    /// the next time (Poisson, or Gamma with `cv`). Before `times_s[0]`: none.
    Piecewise {
        /// Start of each segment (seconds, increasing).
        times_s: Vec<f64>,
        /// Rate of each segment (requests per second; 0 for a pause).
        rates_rps: Vec<f64>,
        /// Inter-arrival CV (default 1: Poisson).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cv: Option<f64>,
    },
    /// Closed loop: `clients` clients, each sends a request, waits for its
    /// response (or its drop), thinks for `think_ms`, and sends the next.
    Closed {
        /// Number of clients.
        clients: u32,
        /// Think time between a response and the next request (ms).
        think_ms: f64,
    },
    /// Request-level trace file (CSV `arrival_ms,model[,slo_ms]`): the rows
    /// whose `model` is `model` (default: this instance's name).
    Trace {
        /// The trace file, relative to the scenario file.
        path: PathBuf,
        /// Which `model` column value to take (default: the instance name).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        model: Option<String>,
    },
    /// Azure Functions 2019 per-minute counts (MAF1 day files, plain or
    /// gzip): the functions are mapped to the model instances that use this
    /// file with the same mapping knobs, in scenario order, and each minute's
    /// (or interval's) count becomes Poisson or Gamma arrivals. Scenario time
    /// 0 is minute `start_min` of the trace. See `docs/traces.md`.
    Azure {
        /// The first day file, relative to the scenario file.
        path: PathBuf,
        /// Files of the following days, concatenated after `path`.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        next_days: Vec<PathBuf>,
        /// `clockwork` (sort by total invocations, contiguous blocks; the
        /// default) or `alpaserve` (drop idle functions, file order, stripe).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mapping: Option<crate::trace::mapping::Style>,
        /// `block` or `stripe`: overrides the mapping's default.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        assign: Option<crate::trace::mapping::Assign>,
        /// Leave out functions with no invocation in the slice (overrides the mapping's default).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        drop_idle: Option<bool>,
        /// First minute of the trace to replay (default 0).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        start_min: Option<u64>,
        /// End minute (exclusive) of the slice used for mapping and replay (default: the end of the files).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        end_min: Option<u64>,
        /// Counts are summed over intervals of this many minutes and spread
        /// evenly over each (default 1).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        interval_min: Option<u64>,
        /// Inter-arrival CV within an interval (default 1: Poisson; else Gamma).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cv: Option<f64>,
        /// Expected arrivals per counted invocation (default 1).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rate_scale: Option<f64>,
        /// Time compression: a trace minute lasts 60 / time_scale seconds (default 1).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        time_scale: Option<f64>,
        /// Scale the counts so that all instances sharing the file together
        /// receive this mean rate over the slice (replaces rate_scale).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        total_rps: Option<f64>,
    },
}

/// The per-minute table of a MAF1 source and this instance's row in it.
pub type AzureRow = (Arc<crate::trace::mapping::MinuteTable>, usize);

/// Where `resolve` gets the data of trace-driven arrival processes.
pub trait Sources {
    /// The entries of the canonical trace at `path` for model `model`.
    fn trace(&mut self, path: &Path, model: &str) -> Result<Arc<Vec<TraceEntry>>>;
    /// The per-minute table of the Azure source `key` and the current instance's row.
    fn azure(&mut self, key: &AzureKey) -> Result<AzureRow>;
}

/// No trace data: for arrival processes that need none.
pub struct NoSources;

impl Sources for NoSources {
    fn trace(&mut self, path: &Path, _: &str) -> Result<Arc<Vec<TraceEntry>>> {
        Err(Error::invalid(
            path.display().to_string(),
            "no trace files here",
        ))
    }
    fn azure(&mut self, key: &AzureKey) -> Result<AzureRow> {
        Err(Error::invalid(
            key.paths[0].display().to_string(),
            "no trace files here",
        ))
    }
}

/// What decides an Azure source's table: instances that share a key share its functions.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AzureKey {
    /// Day files in order.
    pub paths: Vec<PathBuf>,
    /// The mapping rule.
    pub mapping: crate::trace::mapping::Mapping,
    /// The slice.
    pub slice: crate::trace::mapping::Slice,
}

impl ArrivalSpec {
    /// The table key of an Azure process (None for other processes).
    pub fn azure_key(&self) -> Option<AzureKey> {
        match self {
            ArrivalSpec::Azure {
                path,
                next_days,
                mapping,
                assign,
                drop_idle,
                start_min,
                end_min,
                ..
            } => Some(AzureKey {
                paths: std::iter::once(path).chain(next_days).cloned().collect(),
                mapping: crate::trace::mapping::Mapping::new(
                    mapping.unwrap_or(crate::trace::mapping::Style::Clockwork),
                    *assign,
                    *drop_idle,
                ),
                slice: crate::trace::mapping::Slice {
                    start: start_min.unwrap_or(0) as usize,
                    end: end_min.map(|e| e as usize),
                },
            }),
            _ => None,
        }
    }
}

/// One request of a trace: arrival time and an optional per-request SLO.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct TraceEntry {
    /// Arrival time.
    pub t: Nanos,
    /// The request's own SLO, overriding the model's.
    pub slo: Option<Nanos>,
}

/// A resolved arrival process, scaled, in nanoseconds.
#[derive(Clone, Debug)]
pub enum Arrival {
    /// Renewal process: gaps with mean `mean_gap_ns` and CV `cv` (0 = fixed, 1 = exponential).
    Renewal {
        /// Mean inter-arrival time.
        mean_gap_ns: f64,
        /// Coefficient of variation of the gaps.
        cv: f64,
        /// First possible arrival.
        start: Nanos,
        /// End of arrivals.
        stop: Nanos,
    },
    /// On/off modulated renewal process.
    OnOff {
        /// Mean gap during on periods.
        mean_gap_ns: f64,
        /// CV of gaps during on periods.
        cv: f64,
        /// Mean on period.
        on_ns: f64,
        /// Mean off period.
        off_ns: f64,
        /// First possible arrival.
        start: Nanos,
        /// End of arrivals.
        stop: Nanos,
    },
    /// Piecewise-constant rate.
    Piecewise {
        /// Segment starts.
        times: Vec<Nanos>,
        /// Mean gap per segment (infinite for rate 0).
        mean_gaps_ns: Vec<f64>,
        /// CV of gaps.
        cv: f64,
    },
    /// Closed loop.
    Closed {
        /// Number of clients.
        clients: u32,
        /// Think time.
        think_ns: Nanos,
    },
    /// Trace replay.
    Trace {
        /// Arrivals sorted by time.
        entries: Arc<Vec<TraceEntry>>,
    },
    /// Counts per interval (row `row` of a per-minute table): the arrivals
    /// of a stationary renewal process (Gamma gaps of mean 1 and CV `cv`) in
    /// "operational time", where interval k lasts as long as its expected
    /// number of arrivals, `per_count` times its count. So the expected
    /// number of arrivals in each interval is exactly that, spread evenly
    /// over it, with no bias at interval boundaries; cv = 1 is a Poisson
    /// process with a piecewise-constant rate.
    Binned {
        /// The counts.
        table: Arc<crate::trace::mapping::MinuteTable>,
        /// This instance's row.
        row: usize,
        /// Minutes per interval.
        bin_minutes: usize,
        /// Length of an interval.
        bin_ns: f64,
        /// Expected arrivals per count.
        per_count: f64,
        /// CV of the gaps in operational time (0: evenly spaced).
        cv: f64,
        /// End of the last interval.
        stop: Nanos,
    },
}

impl Arrival {
    /// About how many requests arrive before `end`: what progress bars
    /// weigh runs by (closed loops count one request per think time and
    /// client, Azure counts every minute of the slice).
    pub fn expected_requests(&self, end: Nanos) -> f64 {
        let span = |start: Nanos, stop: Nanos| stop.min(end).saturating_sub(start) as f64;
        match self {
            Arrival::Renewal {
                mean_gap_ns,
                start,
                stop,
                ..
            } => span(*start, *stop) / mean_gap_ns,
            Arrival::OnOff {
                mean_gap_ns,
                on_ns,
                off_ns,
                start,
                stop,
                ..
            } => span(*start, *stop) / mean_gap_ns * on_ns / (on_ns + off_ns),
            Arrival::Piecewise {
                times,
                mean_gaps_ns,
                ..
            } => (0..times.len())
                .map(|i| {
                    let to = times.get(i + 1).copied().unwrap_or(Nanos::MAX);
                    span(times[i], to) / mean_gaps_ns[i]
                })
                .sum(),
            Arrival::Closed { clients, think_ns } => {
                *clients as f64 * end as f64 / (*think_ns).max(crate::time::NS_PER_MS) as f64
            }
            Arrival::Trace { entries } => entries.partition_point(|e| e.t < end) as f64,
            Arrival::Binned {
                table,
                row,
                per_count,
                ..
            } => table.row(*row).iter().map(|&c| c as f64).sum::<f64>() * per_count,
        }
    }
}

fn positive(place: &str, field: &str, v: f64) -> Result<f64> {
    if v.is_finite() && v > 0.0 {
        Ok(v)
    } else {
        Err(Error::invalid(
            format!("{place}.{field}"),
            format!(
                "must be a positive number, found {}",
                crate::limits::show(v)
            ),
        ))
    }
}

fn non_negative(place: &str, field: &str, v: f64) -> Result<f64> {
    if v.is_finite() && v >= 0.0 {
        Ok(v)
    } else {
        Err(Error::invalid(
            format!("{place}.{field}"),
            format!(
                "must be a non-negative number, found {}",
                crate::limits::show(v)
            ),
        ))
    }
}

/// A configured time, checked (see [`crate::time::checked`]); the error names `place.field`.
pub fn time(place: &str, field: &str, v: f64, unit: Unit, positive: bool) -> Result<Nanos> {
    checked(v, unit, positive).map_err(|m| Error::invalid(format!("{place}.{field}"), m))
}

fn check_cv(place: &str, field: &str, cv: f64) -> Result<f64> {
    if cv > MAX_CV {
        return Err(Error::invalid(
            format!("{place}.{field}"),
            format!(
                "an inter-arrival CV of {} (after cv_scale) is more than {MAX_CV}: Gamma gaps that variable put thousands of arrivals at the same nanosecond",
                show(cv)
            ),
        ));
    }
    Ok(cv)
}

/// A trace's entries with times divided by the rate scale and own SLOs
/// multiplied by the SLO scale, each checked.
fn scale_trace(
    place: &str,
    path: &Path,
    entries: &[TraceEntry],
    scales: Scales,
) -> Result<Vec<TraceEntry>> {
    let mut out = Vec::with_capacity(entries.len());
    for e in entries {
        let t = if scales.rate == 1.0 {
            e.t as f64
        } else {
            (e.t as f64 / scales.rate).round()
        };
        if t > MAX_TIME as f64 {
            return Err(Error::invalid(
                format!("{place}.path"),
                format!(
                    "{}: the request at {} ms divided by rate_scale {} comes after the simulator's longest time ({} s)",
                    path.display(),
                    crate::time::ms(e.t),
                    scales.rate,
                    approx(MAX_TIME as f64 / 1e9)
                ),
            ));
        }
        let slo = match e.slo {
            Some(s) if scales.slo == 1.0 => Some(s),
            Some(s) => Some(
                checked(crate::time::ms(s) * scales.slo, Unit::Ms, true).map_err(|m| {
                    Error::invalid(
                        format!("{place}.path"),
                        format!(
                            "{}: a request's slo_ms times slo_scale {}: {m}",
                            path.display(),
                            scales.slo
                        ),
                    )
                })?,
            ),
            None => None,
        };
        let t = if scales.rate == 1.0 { e.t } else { t as Nanos };
        out.push(TraceEntry { t, slo });
    }
    Ok(out)
}

fn window(place: &str, start_s: Option<f64>, stop_s: Option<f64>) -> Result<(Nanos, Nanos)> {
    let start = time(place, "start_s", start_s.unwrap_or(0.0), Unit::S, false)?;
    let stop = match stop_s {
        Some(s) => time(place, "stop_s", s, Unit::S, true)?,
        None => Nanos::MAX,
    };
    if stop <= start {
        return Err(Error::invalid(
            format!("{place}.stop_s"),
            format!(
                "must be after start_s ({}), found {}",
                start_s.unwrap_or(0.0),
                stop_s.unwrap_or(0.0)
            ),
        ));
    }
    Ok((start, stop))
}

/// Scaling knobs applied when resolving (sweeps set them).
#[derive(Clone, Copy, Debug)]
pub struct Scales {
    /// Multiplies every rate (divides think times and trace timestamps).
    pub rate: f64,
    /// Multiplies every inter-arrival CV.
    pub cv: f64,
    /// Multiplies the SLOs a trace gives its requests.
    pub slo: f64,
}

impl ArrivalSpec {
    /// Validates and resolves. `place` names the field in errors;
    /// `load_trace` returns the entries of a trace for a model name.
    pub fn resolve(
        &self,
        place: &str,
        scales: Scales,
        rate_factor: f64,
        sources: &mut dyn Sources,
        instance: &str,
    ) -> Result<Arrival> {
        let too_fast = |field: &str, v: f64, r: f64| {
            Error::invalid(
                format!("{place}.{field}"),
                format!(
                    "{} requests/s (scaled: {}) is more than {} per second for one instance: arrivals would be less than 1 ns apart",
                    show(v),
                    approx(r),
                    approx(MAX_RATE_RPS)
                ),
            )
        };
        let rate = |v: f64| -> Result<f64> {
            let r = positive(place, "rate_rps", v)? * scales.rate * rate_factor;
            if r > MAX_RATE_RPS {
                return Err(too_fast("rate_rps", v, r));
            }
            Ok(r)
        };
        let gap = |r: f64| 1e9 / r;
        let cv_of = |c: Option<f64>| -> Result<f64> {
            let cv = positive(place, "cv", c.unwrap_or(1.0))? * scales.cv;
            check_cv(place, "cv", cv)
        };
        Ok(match self {
            ArrivalSpec::Deterministic {
                rate_rps,
                start_s,
                stop_s,
            } => {
                let (start, stop) = window(place, *start_s, *stop_s)?;
                Arrival::Renewal {
                    mean_gap_ns: gap(rate(*rate_rps)?),
                    cv: 0.0,
                    start,
                    stop,
                }
            }
            ArrivalSpec::Poisson {
                rate_rps,
                start_s,
                stop_s,
            } => {
                let (start, stop) = window(place, *start_s, *stop_s)?;
                Arrival::Renewal {
                    mean_gap_ns: gap(rate(*rate_rps)?),
                    cv: check_cv(place, "cv", scales.cv)?,
                    start,
                    stop,
                }
            }
            ArrivalSpec::Gamma {
                rate_rps,
                cv,
                start_s,
                stop_s,
            } => {
                let (start, stop) = window(place, *start_s, *stop_s)?;
                Arrival::Renewal {
                    mean_gap_ns: gap(rate(*rate_rps)?),
                    cv: cv_of(Some(*cv))?,
                    start,
                    stop,
                }
            }
            ArrivalSpec::Onoff {
                rate_rps,
                on_s,
                off_s,
                cv,
                start_s,
                stop_s,
            } => {
                let (start, stop) = window(place, *start_s, *stop_s)?;
                Arrival::OnOff {
                    mean_gap_ns: gap(rate(*rate_rps)?),
                    cv: cv_of(*cv)?,
                    on_ns: positive(place, "on_s", *on_s)? * 1e9,
                    off_ns: positive(place, "off_s", *off_s)? * 1e9,
                    start,
                    stop,
                }
            }
            ArrivalSpec::Piecewise {
                times_s,
                rates_rps,
                cv,
            } => {
                if times_s.is_empty() || times_s.len() != rates_rps.len() {
                    return Err(Error::invalid(
                        format!("{place}.rates_rps"),
                        format!(
                            "needs one rate per entry of times_s (and at least one), found {} times and {} rates",
                            times_s.len(),
                            rates_rps.len()
                        ),
                    ));
                }
                let mut times = Vec::with_capacity(times_s.len());
                for (i, &t) in times_s.iter().enumerate() {
                    let t = time(place, &format!("times_s[{i}]"), t, Unit::S, false)?;
                    if let Some(&last) = times.last()
                        && t <= last
                    {
                        return Err(Error::invalid(
                            format!("{place}.times_s"),
                            "must be strictly increasing",
                        ));
                    }
                    times.push(t);
                }
                let mut mean_gaps_ns = Vec::with_capacity(rates_rps.len());
                for (i, &r) in rates_rps.iter().enumerate() {
                    let field = format!("rates_rps[{i}]");
                    let v = r;
                    let r = non_negative(place, &field, r)? * scales.rate * rate_factor;
                    if r > MAX_RATE_RPS {
                        return Err(too_fast(&field, v, r));
                    }
                    mean_gaps_ns.push(if r > 0.0 { gap(r) } else { f64::INFINITY });
                }
                Arrival::Piecewise {
                    times,
                    mean_gaps_ns,
                    cv: cv_of(*cv)?,
                }
            }
            ArrivalSpec::Closed { clients, think_ms } => {
                if *clients == 0 || *clients as u64 > MAX_CLIENTS {
                    return Err(Error::invalid(
                        format!("{place}.clients"),
                        format!("must be from 1 to {MAX_CLIENTS}, found {clients}"),
                    ));
                }
                let think = non_negative(place, "think_ms", *think_ms)?;
                Arrival::Closed {
                    clients: *clients,
                    think_ns: time(place, "think_ms", think / scales.rate, Unit::Ms, false)?,
                }
            }
            ArrivalSpec::Trace { path, model } => {
                let key = model.as_deref().unwrap_or(instance);
                let entries = sources.trace(path, key)?;
                if entries.is_empty() {
                    return Err(Error::invalid(
                        format!("{place}.model"),
                        format!(
                            "the trace {} has no requests for model `{key}`",
                            path.display()
                        ),
                    ));
                }
                let entries = if scales.rate == 1.0 && scales.slo == 1.0 {
                    entries
                } else {
                    Arc::new(scale_trace(place, path, &entries, scales)?)
                };
                Arrival::Trace { entries }
            }
            ArrivalSpec::Azure {
                interval_min,
                cv,
                rate_scale,
                time_scale,
                total_rps,
                ..
            } => {
                let key = self.azure_key().expect("an azure process");
                let replay = crate::trace::mapping::Replay {
                    interval_min: interval_min.unwrap_or(1) as usize,
                    rate_scale: rate_scale.unwrap_or(1.0),
                    time_scale: time_scale.unwrap_or(1.0),
                    total_rps: *total_rps,
                    cv: cv.unwrap_or(1.0) * scales.cv,
                };
                replay.check(place)?;
                check_cv(place, "cv", replay.cv)?;
                let (table, row) = sources.azure(&key).map_err(|e| match e {
                    Error::Invalid { place: p, msg } if p == "mapping" || p == "slice" => {
                        Error::invalid(
                            format!("{place}.path"),
                            format!("{}: {msg}", key.paths[0].display()),
                        )
                    }
                    e => e,
                })?;
                replay.check_span(&table, place)?;
                replay.arrival(&table, row, scales.rate * rate_factor)
            }
        })
    }

    /// Writes out the defaults of its optional keys (for the resolved
    /// scenario file); keys whose default is "none" (`stop_s`, `end_min`,
    /// `total_rps`, a trace's `model`) stay absent.
    pub fn fill_defaults(&mut self) {
        match self {
            ArrivalSpec::Deterministic { start_s, .. }
            | ArrivalSpec::Poisson { start_s, .. }
            | ArrivalSpec::Gamma { start_s, .. } => {
                start_s.get_or_insert(0.0);
            }
            ArrivalSpec::Onoff { cv, start_s, .. } => {
                cv.get_or_insert(1.0);
                start_s.get_or_insert(0.0);
            }
            ArrivalSpec::Piecewise { cv, .. } => {
                cv.get_or_insert(1.0);
            }
            ArrivalSpec::Closed { .. } | ArrivalSpec::Trace { .. } => {}
            ArrivalSpec::Azure { .. } => {
                let key = self.azure_key().expect("an azure process");
                let ArrivalSpec::Azure {
                    mapping,
                    assign,
                    drop_idle,
                    start_min,
                    interval_min,
                    cv,
                    rate_scale,
                    time_scale,
                    total_rps,
                    ..
                } = self
                else {
                    unreachable!()
                };
                mapping.get_or_insert(crate::trace::mapping::Style::Clockwork);
                assign.get_or_insert(key.mapping.assign);
                drop_idle.get_or_insert(key.mapping.drop_idle);
                start_min.get_or_insert(0);
                interval_min.get_or_insert(1);
                cv.get_or_insert(1.0);
                time_scale.get_or_insert(1.0);
                if total_rps.is_none() {
                    rate_scale.get_or_insert(1.0);
                }
            }
        }
    }

    /// The long-run mean request rate of an open-loop process (None for closed loop and traces).
    pub fn mean_rate_rps(&self) -> Option<f64> {
        match self {
            ArrivalSpec::Deterministic { rate_rps, .. }
            | ArrivalSpec::Poisson { rate_rps, .. }
            | ArrivalSpec::Gamma { rate_rps, .. } => Some(*rate_rps),
            ArrivalSpec::Onoff {
                rate_rps,
                on_s,
                off_s,
                ..
            } => Some(rate_rps * on_s / (on_s + off_s)),
            _ => None,
        }
    }
}

impl Arrival {
    /// The same process with no arrival from `end` on (the end of a run):
    /// an on/off process whose on periods rarely hold an arrival would
    /// otherwise keep switching forever looking for the next one.
    pub fn until(self, end: Nanos) -> Arrival {
        match self {
            Arrival::Renewal {
                mean_gap_ns,
                cv,
                start,
                stop,
            } => Arrival::Renewal {
                mean_gap_ns,
                cv,
                start,
                stop: stop.min(end),
            },
            Arrival::OnOff {
                mean_gap_ns,
                cv,
                on_ns,
                off_ns,
                start,
                stop,
            } => Arrival::OnOff {
                mean_gap_ns,
                cv,
                on_ns,
                off_ns,
                start,
                stop: stop.min(end),
            },
            other => other,
        }
    }

    /// What drawing this process costs over [0, `duration`): the expected
    /// number of arrivals and of on/off switches. A closed loop's clients
    /// each send at most once per `min_cycle` (their think time or the
    /// fastest possible response, whichever is longer).
    pub fn expected_work(&self, duration: Nanos, min_cycle: Nanos) -> (f64, f64) {
        let d = duration as f64;
        let span = |start: Nanos, stop: Nanos| (stop.min(duration) as f64 - start as f64).max(0.0);
        match self {
            Arrival::Renewal {
                mean_gap_ns,
                start,
                stop,
                ..
            } => (span(*start, *stop) / mean_gap_ns, 0.0),
            Arrival::OnOff {
                mean_gap_ns,
                on_ns,
                off_ns,
                start,
                stop,
                ..
            } => {
                let s = span(*start, *stop);
                let cycle = on_ns + off_ns;
                (s * on_ns / cycle / mean_gap_ns, s / cycle)
            }
            Arrival::Piecewise {
                times,
                mean_gaps_ns,
                ..
            } => {
                let mut n = 0.0;
                for (i, &t) in times.iter().enumerate() {
                    let end = times.get(i + 1).copied().unwrap_or(Nanos::MAX);
                    n += span(t, end) / mean_gaps_ns[i];
                }
                (n, 0.0)
            }
            Arrival::Closed { clients, think_ns } => {
                let cycle = (*think_ns).max(min_cycle).max(1) as f64;
                (*clients as f64 * (d / cycle + 1.0), 0.0)
            }
            Arrival::Trace { entries } => (entries.partition_point(|e| e.t < duration) as f64, 0.0),
            Arrival::Binned {
                table,
                row,
                per_count,
                ..
            } => (table.total(*row) as f64 * per_count, 0.0),
        }
    }
}

/// Draws the arrivals of one model instance, lazily and in time order.
#[derive(Clone, Debug)]
pub struct ArrivalStream {
    arrival: Arrival,
    rng: Rng,
    /// Current time in ns as a float, to accumulate gaps without drift.
    t: f64,
    /// Arrivals drawn so far (deterministic process and traces index by it).
    k: usize,
    /// End of the current on period (on/off) or segment index (piecewise).
    phase_end: f64,
    segment: usize,
    /// Pending initial sends of a closed loop, in time order.
    initial: Vec<Nanos>,
    /// Expected arrivals in the current interval of a binned process (negative: not computed yet).
    seg_mass: f64,
    /// On-time left of an on/off process's gap from earlier on periods (negative: none).
    carry: f64,
}

impl ArrivalStream {
    /// A stream over `arrival`, drawing from `rng`.
    pub fn new(arrival: Arrival, mut rng: Rng) -> Self {
        let mut initial = Vec::new();
        let mut t = 0.0;
        let mut phase_end = 0.0;
        match &arrival {
            Arrival::Closed { clients, think_ns } => {
                // Stagger the clients' first sends over one think time (at least 1 ms).
                let spread = (*think_ns).max(crate::time::NS_PER_MS) as f64;
                initial = (0..*clients)
                    .map(|_| (rng.uniform() * spread) as Nanos)
                    .collect();
                initial.sort_unstable_by(|a, b| b.cmp(a));
            }
            Arrival::Renewal { start, .. } => t = *start as f64,
            Arrival::OnOff { start, on_ns, .. } => {
                t = *start as f64;
                phase_end = t + rng.exp(*on_ns);
            }
            Arrival::Piecewise { times, .. } => t = times[0] as f64,
            Arrival::Trace { .. } => {}
            Arrival::Binned { cv, .. } => {
                // The forward recurrence time of a stationary renewal process:
                // U times a length-biased gap, Gamma(shape + 1) (exponential for cv = 1).
                phase_end = if *cv == 0.0 {
                    0.5
                } else {
                    let shape = 1.0 / (cv * cv);
                    rng.uniform_pos() * rng.gamma(shape + 1.0, 1.0 / shape)
                };
            }
        }
        ArrivalStream {
            arrival,
            rng,
            t,
            k: 0,
            phase_end,
            segment: 0,
            initial,
            seg_mass: -1.0,
            carry: -1.0,
        }
    }

    /// Whether requests of this stream are sent by closed-loop clients.
    pub fn closed_think(&self) -> Option<Nanos> {
        match self.arrival {
            Arrival::Closed { think_ns, .. } => Some(think_ns),
            _ => None,
        }
    }

    fn gap(rng: &mut Rng, mean: f64, cv: f64) -> f64 {
        if cv == 0.0 {
            mean
        } else if cv == 1.0 {
            rng.exp(mean)
        } else {
            mean * rng.unit_mean(cv)
        }
    }

    /// The next arrival time and the request's own SLO if it has one;
    /// `None` when the process has no more arrivals. For a closed loop these
    /// are the clients' first sends; the engine schedules later ones.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Option<(Nanos, Option<Nanos>)> {
        match &self.arrival {
            Arrival::Closed { .. } => self.initial.pop().map(|t| (t, None)),
            Arrival::Renewal {
                mean_gap_ns,
                cv,
                start,
                stop,
            } => {
                let t = if *cv == 0.0 {
                    // Fixed rate: t_k = start + k * gap, exactly.
                    *start as f64 + self.k as f64 * mean_gap_ns
                } else {
                    self.t += Self::gap(&mut self.rng, *mean_gap_ns, *cv);
                    self.t
                };
                self.k += 1;
                let t = t.round();
                (t < *stop as f64).then_some((t as Nanos, None))
            }
            Arrival::OnOff {
                mean_gap_ns,
                cv,
                on_ns,
                off_ns,
                stop,
                ..
            } => loop {
                // The gap runs in on-time only: what is left of it when an on
                // period ends carries over to the next (for Poisson gaps,
                // memoryless, a fresh gap is the same and is drawn instead).
                let gap = if *cv == 1.0 || self.carry < 0.0 {
                    Self::gap(&mut self.rng, *mean_gap_ns, *cv)
                } else {
                    self.carry
                };
                let next = self.t + gap;
                if next < self.phase_end {
                    self.t = next;
                    self.carry = -1.0;
                    let t = next.round();
                    return (t < *stop as f64).then_some((t as Nanos, None));
                }
                self.carry = gap - (self.phase_end - self.t);
                // The on period ends first: skip the off period and start a new on period.
                self.t = self.phase_end + self.rng.exp(*off_ns);
                self.phase_end = self.t + self.rng.exp(*on_ns);
                if self.t >= *stop as f64 {
                    return None;
                }
            },
            Arrival::Piecewise {
                times,
                mean_gaps_ns,
                cv,
            } => loop {
                let seg_end = times
                    .get(self.segment + 1)
                    .map_or(f64::INFINITY, |&t| t as f64);
                let mean = mean_gaps_ns[self.segment];
                let next = if mean.is_finite() {
                    self.t + Self::gap(&mut self.rng, mean, *cv)
                } else {
                    f64::INFINITY
                };
                if next < seg_end {
                    self.t = next;
                    return Some((next.round() as Nanos, None));
                }
                if !seg_end.is_finite() {
                    return None;
                }
                // Memoryless restart at the segment boundary (exact for Poisson).
                self.t = seg_end;
                self.segment += 1;
            },
            Arrival::Trace { entries } => {
                let e = entries.get(self.k)?;
                self.k += 1;
                Some((e.t, e.slo))
            }
            Arrival::Binned {
                table,
                row,
                bin_minutes,
                bin_ns,
                per_count,
                cv,
                stop,
            } => {
                // `segment` is the current interval, `t` the operational time
                // used in it, `phase_end` the operational time to the next arrival.
                let counts = table.row(*row);
                let n_bins = counts.len().div_ceil(*bin_minutes);
                let mut need = if self.k == 0 {
                    self.phase_end
                } else {
                    Self::gap(&mut self.rng, 1.0, *cv)
                };
                self.k += 1;
                while self.segment < n_bins {
                    let lo = self.segment * bin_minutes;
                    let hi = (lo + bin_minutes).min(counts.len());
                    if self.seg_mass < 0.0 {
                        self.seg_mass =
                            counts[lo..hi].iter().map(|&c| c as f64).sum::<f64>() * per_count;
                    }
                    let mass = self.seg_mass;
                    let left = mass - self.t;
                    if need <= left && mass > 0.0 {
                        self.t += need;
                        // A partial last interval is shorter.
                        let len = bin_ns * (hi - lo) as f64 / *bin_minutes as f64;
                        let at = (self.segment as f64 * bin_ns + len * self.t / mass).round();
                        return (at < *stop as f64).then_some((at as Nanos, None));
                    }
                    need -= left.max(0.0);
                    self.segment += 1;
                    self.t = 0.0;
                    self.seg_mass = -1.0;
                }
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `spec` resolved with unit scales, `at` naming it in errors.
    fn resolve_at(spec: &ArrivalSpec, at: &str) -> Result<Arrival> {
        let unit = Scales {
            rate: 1.0,
            cv: 1.0,
            slo: 1.0,
        };
        spec.resolve(at, unit, 1.0, &mut NoSources, "x")
    }

    fn resolve(spec: &ArrivalSpec) -> Arrival {
        resolve_at(spec, "m").unwrap()
    }

    fn draw(spec: &ArrivalSpec, until: Nanos) -> Vec<Nanos> {
        let mut s = ArrivalStream::new(resolve(spec), Rng::new(3));
        let mut v = vec![];
        while let Some((t, _)) = s.next() {
            if t >= until {
                break;
            }
            v.push(t);
        }
        v
    }

    fn rate_and_cv(ts: &[Nanos]) -> (f64, f64) {
        let gaps: Vec<f64> = ts.windows(2).map(|w| (w[1] - w[0]) as f64).collect();
        let n = gaps.len() as f64;
        let m = gaps.iter().sum::<f64>() / n;
        let v = gaps.iter().map(|g| (g - m) * (g - m)).sum::<f64>() / (n - 1.0);
        (1e9 / m, v.sqrt() / m)
    }

    #[test]
    fn deterministic_is_exact() {
        let ts = draw(
            &ArrivalSpec::Deterministic {
                rate_rps: 3.0,
                start_s: Some(1.0),
                stop_s: Some(2.0),
            },
            u64::MAX,
        );
        assert_eq!(ts, vec![1_000_000_000, 1_333_333_333, 1_666_666_667]);
    }

    #[test]
    fn poisson_and_gamma_have_their_rate_and_cv() {
        for cv in [1.0, 2.0, 4.0] {
            let spec = ArrivalSpec::Gamma {
                rate_rps: 500.0,
                cv,
                start_s: None,
                stop_s: None,
            };
            let ts = draw(&spec, 400 * crate::time::NS_PER_S);
            let (r, c) = rate_and_cv(&ts);
            assert!((r / 500.0 - 1.0).abs() < 0.03, "rate {r} at cv {cv}");
            assert!((c / cv - 1.0).abs() < 0.05, "cv {c} vs {cv}");
        }
    }

    #[test]
    fn onoff_mean_rate() {
        let spec = ArrivalSpec::Onoff {
            rate_rps: 400.0,
            on_s: 0.5,
            off_s: 1.5,
            cv: None,
            start_s: None,
            stop_s: None,
        };
        let ts = draw(&spec, 20_000 * crate::time::NS_PER_S);
        let r = ts.len() as f64 / 20_000.0;
        assert!((r / 100.0 - 1.0).abs() < 0.05, "mean rate {r}");
        let (_, c) = rate_and_cv(&ts);
        assert!(c > 1.5, "bursty: cv {c}");
    }

    #[test]
    fn onoff_mean_rate_holds_whatever_the_cv() {
        // Gaps (mean 1 s, CV 0.3) far longer than an on period (mean 5 ms):
        // each on period used to draw a fresh gap, which almost never fit,
        // so the stream sent nearly nothing and, with no stop, looked for
        // its next arrival forever. Gaps now run in on-time: 0.25 r/s.
        for cv in [0.3, 3.0] {
            let spec = ArrivalSpec::Onoff {
                rate_rps: 1.0,
                on_s: 0.005,
                off_s: 0.015,
                cv: Some(cv),
                start_s: None,
                stop_s: None,
            };
            let ts = draw(&spec, 40_000 * crate::time::NS_PER_S);
            let r = ts.len() as f64 / 40_000.0;
            assert!((r / 0.25 - 1.0).abs() < 0.1, "mean rate {r} at cv {cv}");
        }
        // A stream cut at the end of a run stops there.
        let a = ArrivalSpec::Onoff {
            rate_rps: 1e-3,
            on_s: 0.001,
            off_s: 0.001,
            cv: Some(0.1),
            start_s: None,
            stop_s: None,
        };
        let mut s = ArrivalStream::new(resolve(&a).until(crate::time::NS_PER_S), Rng::new(1));
        assert_eq!(s.next(), None);
    }

    #[test]
    fn piecewise_follows_its_segments() {
        let spec = ArrivalSpec::Piecewise {
            times_s: vec![10.0, 20.0, 30.0],
            rates_rps: vec![100.0, 0.0, 300.0],
            cv: None,
        };
        let ts = draw(&spec, 40 * crate::time::NS_PER_S);
        let count = |a: u64, b: u64| {
            ts.iter()
                .filter(|&&t| t >= a * 1_000_000_000 && t < b * 1_000_000_000)
                .count()
        };
        assert_eq!(count(0, 10), 0);
        assert!((count(10, 20) as f64 - 1000.0).abs() < 120.0);
        assert_eq!(count(20, 30), 0);
        assert!((count(30, 40) as f64 - 3000.0).abs() < 200.0);
    }

    #[test]
    fn closed_loop_initial_sends_are_sorted_and_bounded() {
        let mut s = ArrivalStream::new(
            Arrival::Closed {
                clients: 5,
                think_ns: 2_000_000,
            },
            Rng::new(1),
        );
        let v: Vec<Nanos> = std::iter::from_fn(|| s.next().map(|x| x.0)).collect();
        assert_eq!(v.len(), 5);
        assert!(v.windows(2).all(|w| w[0] <= w[1]));
        assert!(v.iter().all(|&t| t < 2_000_000));
        assert_eq!(s.closed_think(), Some(2_000_000));
    }

    fn binned(rows: &[Vec<u32>], replay: crate::trace::mapping::Replay) -> Vec<Nanos> {
        let table = Arc::new(crate::trace::mapping::MinuteTable::from_rows(rows));
        let mut s = ArrivalStream::new(replay.arrival(&table, 0, 1.0), Rng::new(9));
        std::iter::from_fn(|| s.next().map(|x| x.0)).collect()
    }

    #[test]
    fn binned_evenly_spaced_by_hand() {
        use crate::trace::mapping::Replay;
        let s = crate::time::NS_PER_S;
        // cv 0: arrivals at operational times 0.5, 1.5, 2.5: minute 0 holds 2
        // (at 15 s and 45 s), minute 1 none, minute 2 one (at 150 s).
        let r = Replay {
            cv: 0.0,
            ..Replay::default()
        };
        assert_eq!(binned(&[vec![2, 0, 1]], r), vec![15 * s, 45 * s, 150 * s]);
        // Intervals of 2 minutes: 2 arrivals spread over [0, 120 s), then 1 over [120, 180 s).
        let r = Replay {
            cv: 0.0,
            interval_min: 2,
            ..Replay::default()
        };
        assert_eq!(binned(&[vec![2, 0, 1]], r), vec![30 * s, 90 * s, 150 * s]);
        // Time scale 2 halves every time; rate scale 2 doubles the arrivals.
        let r = Replay {
            cv: 0.0,
            time_scale: 2.0,
            rate_scale: 2.0,
            ..Replay::default()
        };
        assert_eq!(
            binned(&[vec![1, 0, 1]], r),
            vec![
                7_500_000_000,
                22_500_000_000,
                67_500_000_000,
                82_500_000_000
            ]
        );
        // Nothing at all.
        assert!(binned(&[vec![0, 0]], Replay::default()).is_empty());
    }

    #[test]
    fn binned_has_the_counts_rate_and_cv() {
        use crate::trace::mapping::Replay;
        for cv in [1.0, 3.0] {
            // Ten minutes at 600 and ten at 60 per minute: 6600 expected arrivals.
            let mut row = vec![600; 10];
            row.extend([60; 10]);
            let ts = binned(
                &[row],
                Replay {
                    cv,
                    ..Replay::default()
                },
            );
            let n = ts.len() as f64;
            // Gamma counts have variance about cv^2 times the mean.
            assert!(
                (n - 6600.0).abs() < 4.0 * cv * 6600f64.sqrt(),
                "{n} arrivals at cv {cv}"
            );
            let first: Vec<Nanos> = ts
                .iter()
                .copied()
                .filter(|&t| t < 600 * crate::time::NS_PER_S)
                .collect();
            let (r, c) = rate_and_cv(&first);
            assert!((r / 10.0 - 1.0).abs() < 0.1 * cv, "rate {r} at cv {cv}");
            assert!((c / cv - 1.0).abs() < 0.1, "cv {c} vs {cv}");
            assert!(ts.windows(2).all(|w| w[0] <= w[1]));
        }
    }

    #[test]
    fn bad_values_name_the_field() {
        let spec = ArrivalSpec::Poisson {
            rate_rps: 0.0,
            start_s: None,
            stop_s: None,
        };
        let e = resolve_at(&spec, "s.toml: models[1].arrival")
            .unwrap_err()
            .to_string();
        assert!(e.contains("models[1].arrival.rate_rps"), "{e}");
    }
}
