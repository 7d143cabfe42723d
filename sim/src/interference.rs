//! Concurrent execution on one GPU: how much batches that run at the same
//! time slow each other down, and how a GPU's running batches progress.
//!
//! A GPU of a pool with `max_concurrent = k` runs up to k batches at once.
//! Progress is fluid: a running batch has remaining work measured in its solo
//! time (its profiled time on that GPU, with the scenario's noise); while the
//! set S of running batches does not change, batch i progresses at rate
//! 1 / s_i(S), where the slowdown s_i(S) >= 1 comes from the pool's
//! interference model:
//!
//! - `utilization` (default): s_i(S) = max(1, sum of util over S) *
//!   (1 + contention * (|S| - 1)), where util in (0, 1] is the fraction of
//!   the GPU one batch of that size keeps busy alone (the profile's `util`
//!   column, default 1) and `contention` a penalty per co-runner (cache and
//!   memory-bandwidth pressure beyond sharing the SMs; default 0). With util 1
//!   and contention 0 this is exact processor sharing; batches whose utils sum
//!   to at most 1 run at full speed.
//! - `pairwise`: a measured table of `victim,aggressor,slowdown` (the victim's
//!   slowdown beside that one aggressor); with several co-runners
//!   s_i = 1 + sum over j of (slowdown_ij - 1). Pairs missing from the file
//!   take the utilization model's slowdown for that pair.
//!
//! With one batch running, the slowdown is 1: `max_concurrent = 1` is the
//! exclusive execution of every earlier version, event for event.

use crate::error::{Error, Result};
use crate::time::Nanos;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// `[cluster.interference]` (or a pool's `interference`) as written.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InterferenceSpec {
    /// `utilization` (default) or `pairwise`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Slowdown per co-runner beyond sharing the SMs (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contention: Option<f64>,
    /// The pairwise table (CSV `victim,aggressor,slowdown`), relative to the
    /// scenario file; only with `model = "pairwise"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
}

/// A resolved interference model.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Interference {
    /// Slowdown per co-runner.
    pub contention: f64,
    /// Measured pairs, by (victim, aggressor) profile model name, as read.
    pub named: BTreeMap<(String, String), f64>,
    /// The same by (victim, aggressor) kind: the index of the profile model
    /// among the scenario's (see [`Interference::bind`]).
    pub pairs: BTreeMap<(u32, u32), f64>,
}

/// One running batch as the interference model sees it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Runner {
    /// Its profile model, as a kind (an index into the scenario's profile models).
    pub kind: u32,
    /// The fraction of the GPU it keeps busy alone.
    pub util: f64,
}

impl Interference {
    /// Keys the measured pairs by kind: `kinds` are the scenario's profile
    /// model names, sorted (a pair of models the scenario lacks is dropped).
    pub fn bind(&mut self, kinds: &[String]) {
        let kind = |n: &str| kinds.binary_search_by(|k| k.as_str().cmp(n)).ok();
        self.pairs = self
            .named
            .iter()
            .filter_map(|((v, a), &s)| Some(((kind(v)? as u32, kind(a)? as u32), s)))
            .collect();
    }

    /// The slowdown of `running[i]` while exactly `running` run together.
    pub fn slowdown(&self, running: &[Runner], i: usize) -> f64 {
        if running.len() <= 1 {
            return 1.0;
        }
        if self.named.is_empty() {
            return self.utilization(running);
        }
        let me = running[i];
        let extra: f64 = running
            .iter()
            .enumerate()
            .filter(|&(j, _)| j != i)
            .map(|(_, other)| match self.pairs.get(&(me.kind, other.kind)) {
                Some(&s) => s - 1.0,
                None => self.utilization(&[me, *other]) - 1.0,
            })
            .sum();
        1.0 + extra
    }

    fn utilization(&self, running: &[Runner]) -> f64 {
        let util: f64 = running.iter().map(|r| r.util).sum();
        util.max(1.0) * (1.0 + self.contention * (running.len() - 1) as f64)
    }
}

/// Resolves an interference table; `base` resolves its path, `at` names
/// its fields in errors; `models` are the profile models that exist.
pub(crate) fn resolve(
    spec: &mut InterferenceSpec,
    base: &Path,
    prefix: &str,
    at: &dyn Fn(&str) -> String,
    models: &dyn Fn(&str) -> bool,
) -> Result<Interference> {
    let field = |k: &str| at(&format!("{prefix}{k}"));
    let contention = spec.contention.unwrap_or(0.0);
    if !(contention.is_finite() && contention >= 0.0) {
        return Err(Error::invalid(
            field("contention"),
            format!("must be a non-negative number, found {contention}"),
        ));
    }
    let kind = spec.model.clone().unwrap_or_else(|| "utilization".into());
    let pairs = match (kind.as_str(), &spec.path) {
        ("utilization", None) => BTreeMap::new(),
        ("utilization", Some(_)) => {
            return Err(Error::invalid(
                field("path"),
                "a pairwise table needs model = \"pairwise\"",
            ));
        }
        ("pairwise", None) => {
            return Err(Error::invalid(
                field("path"),
                "model = \"pairwise\" needs the path of its table (victim,aggressor,slowdown)",
            ));
        }
        ("pairwise", Some(p)) => {
            let abs = std::path::absolute(base.join(p)).unwrap_or_else(|_| base.join(p));
            let pairs = load_pairs(&abs, models)?;
            spec.path = Some(abs);
            pairs
        }
        (other, _) => {
            return Err(Error::invalid(
                field("model"),
                format!("unknown interference model `{other}` (known: utilization, pairwise)"),
            ));
        }
    };
    spec.model = Some(kind);
    spec.contention = Some(contention);
    Ok(Interference {
        contention,
        named: pairs,
        pairs: BTreeMap::new(),
    })
}

/// Reads a pairwise table: CSV `victim,aggressor,slowdown` (`#` comments),
/// every model known, every slowdown a number >= 1, no pair twice.
pub fn load_pairs(
    path: &Path,
    known: &dyn Fn(&str) -> bool,
) -> Result<BTreeMap<(String, String), f64>> {
    let text = crate::error::read_to_string(path)?;
    let mut rdr = csv::ReaderBuilder::new()
        .comment(Some(b'#'))
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers = rdr
        .headers()
        .map_err(|e| Error::parse(path, None, format!("cannot read the header: {e}")))?
        .clone();
    let col = |name: &str| {
        headers.iter().position(|h| h == name).ok_or_else(|| {
            Error::parse(
                path,
                Some(1),
                format!(
                    "missing column `{name}`: a pairwise table needs victim,aggressor,slowdown"
                ),
            )
        })
    };
    let (v, a, s) = (col("victim")?, col("aggressor")?, col("slowdown")?);
    let mut pairs = BTreeMap::new();
    for rec in rdr.records() {
        let rec =
            rec.map_err(|e| Error::parse(path, e.position().map(|p| p.line()), e.to_string()))?;
        let line = rec.position().map(|p| p.line());
        let get = |i: usize| rec.get(i).unwrap_or("");
        for name in [get(v), get(a)] {
            if !known(name) {
                return Err(Error::parse(
                    path,
                    line,
                    format!("unknown model `{name}`: no pool's profile has it"),
                ));
            }
        }
        let slowdown: f64 = match get(s).parse::<f64>() {
            Ok(x) if x.is_finite() && x >= 1.0 => x,
            _ => {
                return Err(Error::parse(
                    path,
                    line,
                    format!(
                        "`slowdown` must be a number >= 1 (a co-runner never speeds a batch up), found `{}`",
                        get(s)
                    ),
                ));
            }
        };
        if pairs
            .insert((get(v).to_string(), get(a).to_string()), slowdown)
            .is_some()
        {
            return Err(Error::parse(
                path,
                line,
                format!("the pair ({}, {}) is given twice", get(v), get(a)),
            ));
        }
    }
    Ok(pairs)
}

/// One batch running on a [`Fluid`] GPU.
#[derive(Clone, Debug, PartialEq)]
struct Running {
    id: u64,
    kind: u32,
    util: f64,
    /// Solo work left (ns) at `Fluid::at`.
    left: f64,
    /// Current slowdown.
    slowdown: f64,
}

/// The running batches of one GPU and their fluid progress. Each change (a
/// batch starts or ends) first advances everyone's remaining work to now at
/// the old rates, then recomputes every slowdown; [`Fluid::ends`] gives the
/// resulting end of each running batch if nothing else changes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Fluid {
    running: Vec<Running>,
    at: Nanos,
}

impl Fluid {
    /// Number of running batches.
    pub fn len(&self) -> usize {
        self.running.len()
    }

    /// Whether nothing runs.
    pub fn is_empty(&self) -> bool {
        self.running.is_empty()
    }

    fn advance(&mut self, now: Nanos) {
        let dt = now.saturating_sub(self.at) as f64;
        for r in &mut self.running {
            r.left = (r.left - dt / r.slowdown).max(0.0);
        }
        self.at = self.at.max(now);
    }

    fn retime(&mut self, model: &Interference) {
        let runners: Vec<Runner> = self
            .running
            .iter()
            .map(|r| Runner {
                kind: r.kind,
                util: r.util,
            })
            .collect();
        let s: Vec<f64> = (0..runners.len())
            .map(|i| model.slowdown(&runners, i).max(1.0))
            .collect();
        for (r, s) in self.running.iter_mut().zip(s) {
            r.slowdown = s;
        }
    }

    /// Batch `id` (keeping `util` of the GPU busy alone) starts at `now`
    /// with `work` ns of solo work.
    pub fn start(&mut self, now: Nanos, id: u64, r: Runner, work: Nanos, m: &Interference) {
        self.advance(now);
        self.running.push(Running {
            id,
            kind: r.kind,
            util: r.util,
            left: work as f64,
            slowdown: 1.0,
        });
        self.retime(m);
    }

    /// Batch `id` ends at `now`.
    pub fn finish(&mut self, now: Nanos, id: u64, m: &Interference) {
        self.advance(now);
        let i = self
            .running
            .iter()
            .position(|r| r.id == id)
            .expect("the batch is running");
        self.running.remove(i);
        self.retime(m);
    }

    /// (id, end) of every running batch, in start order, if nothing else
    /// starts or ends: now plus its remaining work times its slowdown,
    /// rounded to the nanosecond (and never before now).
    pub fn ends(&self) -> impl Iterator<Item = (u64, Nanos)> + '_ {
        self.running
            .iter()
            .map(move |r| (r.id, self.at + (r.left * r.slowdown).round() as Nanos))
    }

    /// The current slowdown of batch `id`.
    pub fn slowdown_of(&self, id: u64) -> Option<f64> {
        self.running.iter().find(|r| r.id == id).map(|r| r.slowdown)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Nanos = 1_000_000;

    fn ends(f: &Fluid) -> Vec<(u64, Nanos)> {
        f.ends().collect()
    }

    fn run(kind: u32, util: f64) -> Runner {
        Runner { kind, util }
    }

    #[test]
    fn util_one_and_no_contention_is_processor_sharing() {
        let m = Interference::default();
        // Two 10 ms batches started together finish together at 20 ms.
        let mut f = Fluid::default();
        f.start(0, 1, run(0, 1.0), 10 * MS, &m);
        f.start(0, 2, run(0, 1.0), 10 * MS, &m);
        assert_eq!(ends(&f), vec![(1, 20 * MS), (2, 20 * MS)]);
        // Staggered: A alone 0-4 ms (6 ms left), then both at half speed: A
        // ends at 4 + 12 = 16 ms with B 6 ms done; B alone then: 16 + 4 = 20 ms.
        let mut f = Fluid::default();
        f.start(0, 1, run(0, 1.0), 10 * MS, &m);
        f.start(4 * MS, 2, run(1, 1.0), 10 * MS, &m);
        assert_eq!(ends(&f), vec![(1, 16 * MS), (2, 24 * MS)]);
        f.finish(16 * MS, 1, &m);
        assert_eq!(ends(&f), vec![(2, 20 * MS)]);
        // Three at once: each at a third of the speed.
        let mut f = Fluid::default();
        for id in 0..3 {
            f.start(0, id, run(0, 1.0), 3 * MS, &m);
        }
        assert!(ends(&f).iter().all(|e| e.1 == 9 * MS));
    }

    #[test]
    fn utils_within_one_run_at_full_speed_and_contention_adds_up() {
        let m = Interference::default();
        let mut f = Fluid::default();
        f.start(0, 1, run(0, 0.4), 10 * MS, &m);
        f.start(2 * MS, 2, run(1, 0.6), 5 * MS, &m);
        assert_eq!(ends(&f), vec![(1, 10 * MS), (2, 7 * MS)]);
        // Over 1: utils 0.6 + 0.8 = 1.4; contention 0.1 per co-runner: s = 1.4 * 1.1 = 1.54.
        let m = Interference {
            contention: 0.1,
            ..Default::default()
        };
        let two = [run(0, 0.6), run(1, 0.8)];
        assert!((m.slowdown(&two, 0) - 1.54).abs() < 1e-12);
        assert_eq!(m.slowdown(&two[..1], 0), 1.0);
    }

    #[test]
    fn pairwise_slowdowns_add_their_excess_and_missing_pairs_fall_back() {
        let mut named = BTreeMap::new();
        named.insert(("a".to_string(), "b".to_string()), 1.5);
        named.insert(("b".to_string(), "a".to_string()), 1.2);
        named.insert(("a".to_string(), "zz".to_string()), 3.0);
        let mut m = Interference {
            contention: 0.0,
            named,
            pairs: BTreeMap::new(),
        };
        m.bind(&["a".into(), "b".into(), "c".into()]);
        assert_eq!(
            m.pairs.len(),
            2,
            "a pair of a model the scenario lacks is dropped"
        );
        let (a, b, c) = (run(0, 0.5), run(1, 0.5), run(2, 0.7));
        assert_eq!(m.slowdown(&[a, b], 0), 1.5);
        assert_eq!(m.slowdown(&[a, b], 1), 1.2);
        // a beside b and c: 1 + 0.5 + (utilization of {a, c}: 1.2 - 1) = 1.7.
        assert!((m.slowdown(&[a, b, c], 0) - 1.7).abs() < 1e-12);
        // Hand-computed two-batch run: a (10 ms) and b (6 ms) start together.
        // a at 1/1.5, b at 1/1.2: b ends at 7.2 ms, a has done 4.8 ms; a alone
        // then: 7.2 + 5.2 = 12.4 ms.
        let mut f = Fluid::default();
        f.start(0, 1, a, 10 * MS, &m);
        f.start(0, 2, b, 6 * MS, &m);
        assert_eq!(ends(&f)[1], (2, 7_200_000));
        f.finish(7_200_000, 2, &m);
        assert_eq!(ends(&f), vec![(1, 12_400_000)]);
    }
}
