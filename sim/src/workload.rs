//! Arrival processes. `ArrivalSpec` is what a scenario file says (per model
//! instance); `Arrival` is its resolved, scaled form in nanoseconds; an
//! `ArrivalStream` draws arrival times from it lazily, one at a time, from its
//! own seeded random stream, so that a trace of any length costs one pending
//! event per model.

use crate::error::{Error, Result};
use crate::rng::Rng;
use crate::time::{Nanos, from_ms, from_secs};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
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
    /// The mean rate is rate_rps * on_s / (on_s + off_s).
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
}

fn positive(place: &str, field: &str, v: f64) -> Result<f64> {
    if v.is_finite() && v > 0.0 {
        Ok(v)
    } else {
        Err(Error::invalid(
            format!("{place}.{field}"),
            format!("must be a positive number, found {v}"),
        ))
    }
}

fn non_negative(place: &str, field: &str, v: f64) -> Result<f64> {
    if v.is_finite() && v >= 0.0 {
        Ok(v)
    } else {
        Err(Error::invalid(
            format!("{place}.{field}"),
            format!("must be a non-negative number, found {v}"),
        ))
    }
}

fn window(place: &str, start_s: Option<f64>, stop_s: Option<f64>) -> Result<(Nanos, Nanos)> {
    let start = non_negative(place, "start_s", start_s.unwrap_or(0.0))?;
    let stop = match stop_s {
        Some(s) => positive(place, "stop_s", s)?,
        None => f64::INFINITY,
    };
    if stop <= start {
        return Err(Error::invalid(
            format!("{place}.stop_s"),
            format!("must be after start_s ({start}), found {stop}"),
        ));
    }
    let stop = if stop.is_finite() {
        from_secs(stop)
    } else {
        Nanos::MAX
    };
    Ok((from_secs(start), stop))
}

/// Scaling knobs applied when resolving (sweeps set them).
#[derive(Clone, Copy, Debug)]
pub struct Scales {
    /// Multiplies every rate (divides think times and trace timestamps).
    pub rate: f64,
    /// Multiplies every inter-arrival CV.
    pub cv: f64,
}

impl ArrivalSpec {
    /// Validates and resolves. `place` names the field in errors;
    /// `load_trace` returns the entries of a trace for a model name.
    pub fn resolve(
        &self,
        place: &str,
        scales: Scales,
        rate_factor: f64,
        load_trace: &mut dyn FnMut(&PathBuf, &str) -> Result<Arc<Vec<TraceEntry>>>,
        instance: &str,
    ) -> Result<Arrival> {
        let rate = |v: f64| -> Result<f64> {
            Ok(positive(place, "rate_rps", v)? * scales.rate * rate_factor)
        };
        let gap = |r: f64| 1e9 / r;
        let cv_of = |c: Option<f64>| -> Result<f64> {
            Ok(positive(place, "cv", c.unwrap_or(1.0))? * scales.cv)
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
                    cv: scales.cv,
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
                    let t = non_negative(place, &format!("times_s[{i}]"), t)?;
                    let t = from_secs(t);
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
                    let r = non_negative(place, &format!("rates_rps[{i}]"), r)?
                        * scales.rate
                        * rate_factor;
                    mean_gaps_ns.push(if r > 0.0 { gap(r) } else { f64::INFINITY });
                }
                Arrival::Piecewise {
                    times,
                    mean_gaps_ns,
                    cv: cv_of(*cv)?,
                }
            }
            ArrivalSpec::Closed { clients, think_ms } => {
                if *clients == 0 {
                    return Err(Error::invalid(
                        format!("{place}.clients"),
                        "must be at least 1",
                    ));
                }
                let think = non_negative(place, "think_ms", *think_ms)?;
                Arrival::Closed {
                    clients: *clients,
                    think_ns: from_ms(think / scales.rate),
                }
            }
            ArrivalSpec::Trace { path, model } => {
                let key = model.as_deref().unwrap_or(instance);
                let entries = load_trace(path, key)?;
                if entries.is_empty() {
                    return Err(Error::invalid(
                        format!("{place}.model"),
                        format!(
                            "the trace {} has no requests for model `{key}`",
                            path.display()
                        ),
                    ));
                }
                let entries = if scales.rate == 1.0 {
                    entries
                } else {
                    let r = scales.rate;
                    Arc::new(
                        entries
                            .iter()
                            .map(|e| TraceEntry {
                                t: (e.t as f64 / r).round() as Nanos,
                                slo: e.slo,
                            })
                            .collect(),
                    )
                };
                Arrival::Trace { entries }
            }
        })
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
        }
        ArrivalStream {
            arrival,
            rng,
            t,
            k: 0,
            phase_end,
            segment: 0,
            initial,
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
                let next = self.t + Self::gap(&mut self.rng, *mean_gap_ns, *cv);
                if next < self.phase_end {
                    self.t = next;
                    let t = next.round();
                    return (t < *stop as f64).then_some((t as Nanos, None));
                }
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
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(spec: &ArrivalSpec) -> Arrival {
        spec.resolve(
            "m",
            Scales { rate: 1.0, cv: 1.0 },
            1.0,
            &mut |_, _| unreachable!(),
            "x",
        )
        .unwrap()
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

    #[test]
    fn bad_values_name_the_field() {
        let e = ArrivalSpec::Poisson {
            rate_rps: 0.0,
            start_s: None,
            stop_s: None,
        }
        .resolve(
            "s.toml: models[1].arrival",
            Scales { rate: 1.0, cv: 1.0 },
            1.0,
            &mut |_, _| unreachable!(),
            "x",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("models[1].arrival.rate_rps"), "{e}");
    }
}
