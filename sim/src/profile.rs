//! Execution profiles: per model and batch size, how long one batch runs, and
//! per model how large its weights are and how long loading them takes. Read
//! from plain CSV (`model,batch_size,exec_us,weights_mib,load_us`, extra
//! columns ignored, `#` lines are comments); documented in `profiles/README.md`.
//! An optional `gflops` column gives a model's compute per sample (floating-
//! point operations, a multiply-add counting 2, in units of 10^9); it may be
//! empty, and must be the same on every row of a model. The real-GPU replay
//! sizes its kernels from it (`docs/validation.md`); the simulator ignores it.
//! An optional `util` column gives, per batch size, the fraction of the GPU
//! one batch keeps busy when it runs alone, in (0, 1] (default 1): the
//! utilization interference model of concurrent execution uses it
//! (`crate::interference`).

use crate::error::{Error, Result};
use crate::time::{Nanos, Unit, checked};
use std::path::{Path, PathBuf};

/// One model of a profile.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelProfile {
    /// The model's name, as scenarios refer to it.
    pub name: String,
    /// Allowed batch sizes, ascending: exactly those the profile has rows for.
    pub batch_sizes: Vec<u32>,
    /// Execution time of one batch of each allowed size, in the same order.
    pub exec_ns: Vec<Nanos>,
    /// Fraction of the GPU one batch of each allowed size keeps busy alone, in the same order.
    pub util: Vec<f64>,
    /// Size of the weights on the GPU, in bytes.
    pub weights_bytes: u64,
    /// Time to copy the weights from host to GPU memory.
    pub load_ns: Nanos,
    /// Compute per sample in GFLOPs (10^9 floating-point operations, a
    /// multiply-add counting 2), from the optional `gflops` column.
    pub gflops: Option<f64>,
}

#[cfg(test)]
impl ModelProfile {
    /// A profile for tests: these batch sizes (ascending) and times, full
    /// utilization, one byte of weights loaded in one nanosecond.
    pub(crate) fn for_tests(batch_sizes: Vec<u32>, exec_ns: Vec<Nanos>) -> ModelProfile {
        ModelProfile {
            name: "m".into(),
            util: vec![1.0; batch_sizes.len()],
            batch_sizes,
            exec_ns,
            weights_bytes: 1,
            load_ns: 1,
            gflops: None,
        }
    }
}

impl ModelProfile {
    /// The largest allowed batch size.
    pub fn max_batch(&self) -> u32 {
        *self
            .batch_sizes
            .last()
            .expect("a model has at least one batch size")
    }

    /// The smallest allowed batch size.
    pub fn min_batch(&self) -> u32 {
        self.batch_sizes[0]
    }

    /// Execution time of the smallest batch: the fastest a request can be served.
    pub fn min_exec_ns(&self) -> Nanos {
        self.exec_ns[0]
    }

    /// Index of the smallest allowed batch size that holds `n` requests
    /// (a batch of `n` runs padded to that size), or `None` if `n` exceeds the largest.
    pub fn padded_index(&self, n: u32) -> Option<usize> {
        self.batch_sizes.iter().position(|&b| b >= n)
    }

    /// Execution time of a batch of `n` requests (padded to an allowed size).
    pub fn exec_for(&self, n: u32) -> Option<Nanos> {
        self.padded_index(n).map(|i| self.exec_ns[i])
    }

    /// Fraction of the GPU a batch of `n` requests keeps busy alone (padded to an allowed size).
    pub fn util_for(&self, n: u32) -> Option<f64> {
        self.padded_index(n).map(|i| self.util[i])
    }

    /// Execution time of an allowed batch size, if it is one.
    pub fn exec_exact(&self, b: u32) -> Option<Nanos> {
        self.batch_sizes
            .iter()
            .position(|&x| x == b)
            .map(|i| self.exec_ns[i])
    }
}

/// A set of model profiles, sorted by name.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Profile {
    /// Where it was read from, if from a file.
    pub path: Option<PathBuf>,
    /// The `#` comment lines at the top of the file (e.g. the GPU it was measured on).
    pub comments: Vec<String>,
    /// The models, sorted by name.
    pub models: Vec<ModelProfile>,
}

/// The largest weights a profile may give a model, MiB (1 PiB).
const MAX_WEIGHTS_MIB: f64 = 1_073_741_824.0;

const REQUIRED: [&str; 5] = ["model", "batch_size", "exec_us", "weights_mib", "load_us"];

impl Profile {
    /// Reads a profile CSV file.
    pub fn load(path: &Path) -> Result<Profile> {
        let text = crate::error::read_to_string(path)?;
        let mut p = Profile::parse(&text, path)?;
        p.path = Some(path.to_path_buf());
        Ok(p)
    }

    /// Parses profile CSV text; `path` names the source in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Profile> {
        let comments = text
            .lines()
            .take_while(|l| l.trim_start().starts_with('#') || l.trim().is_empty())
            .filter(|l| l.trim_start().starts_with('#'))
            .map(|l| l.trim_start().trim_start_matches('#').trim().to_string())
            .collect();
        let mut rdr = csv::ReaderBuilder::new()
            .comment(Some(b'#'))
            .trim(csv::Trim::All)
            .from_reader(text.as_bytes());
        let headers = rdr
            .headers()
            .map_err(|e| Error::parse(path, csv_line(&e), format!("cannot read the header: {e}")))?
            .clone();
        for (i, h) in headers.iter().enumerate() {
            if headers.iter().take(i).any(|p| p == h) {
                return Err(Error::parse(
                    path,
                    Some(1),
                    format!("column `{h}` appears twice in the header"),
                ));
            }
        }
        let mut col = [0usize; 5];
        for (i, name) in REQUIRED.iter().enumerate() {
            col[i] = headers.iter().position(|h| h == *name).ok_or_else(|| {
                Error::parse(
                    path,
                    Some(1),
                    format!(
                        "missing column `{name}`: a profile needs the columns {}",
                        REQUIRED.join(",")
                    ),
                )
            })?;
        }
        let gflops_col = headers.iter().position(|h| h == "gflops");
        let util_col = headers.iter().position(|h| h == "util");
        let mut models: Vec<ModelProfile> = Vec::new();
        let mut by_name: std::collections::BTreeMap<String, usize> = Default::default();
        for rec in rdr.records() {
            let rec = rec.map_err(|e| Error::parse(path, csv_line(&e), e.to_string()))?;
            let line = rec.position().map(|p| p.line());
            let field = |i: usize| rec.get(col[i]).unwrap_or("");
            let num = |i: usize| -> Result<f64> {
                let s = field(i);
                match s.parse::<f64>() {
                    Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
                    _ => Err(Error::parse(
                        path,
                        line,
                        format!(
                            "`{}` must be a non-negative number, found `{s}`",
                            REQUIRED[i]
                        ),
                    )),
                }
            };
            let name = field(0).to_string();
            if name.is_empty() {
                return Err(Error::parse(path, line, "empty `model` name"));
            }
            let batch: u32 = field(1).parse().ok().filter(|&b| b > 0).ok_or_else(|| {
                Error::parse(
                    path,
                    line,
                    format!(
                        "`batch_size` must be a positive integer, found `{}`",
                        field(1)
                    ),
                )
            })?;
            let exec_us = num(2)?;
            if exec_us <= 0.0 {
                return Err(Error::parse(path, line, "`exec_us` must be positive"));
            }
            let exec_ns = checked(exec_us, Unit::Us, true)
                .map_err(|m| Error::parse(path, line, format!("`exec_us`: {m}")))?;
            let weights_mib = num(3)?;
            if weights_mib > MAX_WEIGHTS_MIB {
                return Err(Error::parse(
                    path,
                    line,
                    format!(
                        "`weights_mib` must be at most {MAX_WEIGHTS_MIB} (1 PiB), found {weights_mib}"
                    ),
                ));
            }
            let load_us = num(4)?;
            let weights_bytes = (weights_mib * 1024.0 * 1024.0).round() as u64;
            let load_ns = checked(load_us, Unit::Us, false)
                .map_err(|m| Error::parse(path, line, format!("`load_us`: {m}")))?;
            let gflops = match gflops_col.map(|c| rec.get(c).unwrap_or("")) {
                None | Some("") => None,
                Some(s) => match s.parse::<f64>() {
                    Ok(v) if v.is_finite() && v > 0.0 && v <= 1e6 => Some(v),
                    _ => {
                        return Err(Error::parse(
                            path,
                            line,
                            format!(
                                "`gflops` must be a positive number (at most 1e6) or empty, found `{s}`"
                            ),
                        ));
                    }
                },
            };
            let util = match util_col.map(|c| rec.get(c).unwrap_or("")) {
                None | Some("") => 1.0,
                Some(s) => match s.parse::<f64>() {
                    Ok(v) if v > 0.0 && v <= 1.0 => v,
                    _ => {
                        return Err(Error::parse(
                            path,
                            line,
                            format!(
                                "`util` must be in (0, 1] (the fraction of the GPU one batch keeps busy alone) or empty, found `{s}`"
                            ),
                        ));
                    }
                },
            };
            let idx = *by_name.entry(name.clone()).or_insert_with(|| {
                models.push(ModelProfile {
                    name: name.clone(),
                    batch_sizes: vec![],
                    exec_ns: vec![],
                    util: vec![],
                    weights_bytes,
                    load_ns,
                    gflops,
                });
                models.len() - 1
            });
            let m = &mut models[idx];
            if m.gflops != gflops {
                return Err(Error::parse(
                    path,
                    line,
                    format!("model `{name}`: `gflops` must be the same on every row of a model"),
                ));
            }
            if m.weights_bytes != weights_bytes || m.load_ns != load_ns {
                return Err(Error::parse(
                    path,
                    line,
                    format!(
                        "model `{name}`: `weights_mib` and `load_us` must be the same on every row of a model"
                    ),
                ));
            }
            if m.batch_sizes.contains(&batch) {
                return Err(Error::parse(
                    path,
                    line,
                    format!("model `{name}` has two rows for batch size {batch}"),
                ));
            }
            m.batch_sizes.push(batch);
            m.exec_ns.push(exec_ns);
            m.util.push(util);
        }
        if models.is_empty() {
            return Err(Error::parse(path, None, "the profile has no rows"));
        }
        for m in &mut models {
            let mut rows: Vec<(u32, Nanos, f64)> = (0..m.batch_sizes.len())
                .map(|i| (m.batch_sizes[i], m.exec_ns[i], m.util[i]))
                .collect();
            rows.sort_unstable_by_key(|r| r.0);
            m.batch_sizes = rows.iter().map(|r| r.0).collect();
            m.exec_ns = rows.iter().map(|r| r.1).collect();
            m.util = rows.iter().map(|r| r.2).collect();
            if let Some(w) = rows.windows(2).find(|w| w[1].1 < w[0].1) {
                return Err(Error::parse(
                    path,
                    None,
                    format!(
                        "model `{}`: batch size {} runs in {} us, faster than batch size {} ({} us): execution time must not fall as the batch grows (a batch runs padded to a larger size)",
                        m.name,
                        w[1].0,
                        crate::time::ms(w[1].1) * 1e3,
                        w[0].0,
                        crate::time::ms(w[0].1) * 1e3
                    ),
                ));
            }
        }
        models.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(Profile {
            path: None,
            comments,
            models,
        })
    }

    /// The model called `name`.
    pub fn get(&self, name: &str) -> Option<&ModelProfile> {
        self.models
            .binary_search_by(|m| m.name.as_str().cmp(name))
            .ok()
            .map(|i| &self.models[i])
    }

    /// The names of all models, sorted.
    pub fn names(&self) -> Vec<&str> {
        self.models.iter().map(|m| m.name.as_str()).collect()
    }
}

fn csv_line(e: &csv::Error) -> Option<u64> {
    e.position().map(|p| p.line())
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: &str = "# measured on a toy\nmodel,batch_size,exec_us,weights_mib,load_us,source\n\
        a,2,150,10,800,derived\na,1,100,10,800,derived\nb,1,1000,100,8000,measured\n";

    #[test]
    fn parses_and_sorts() {
        let p = Profile::parse(OK, Path::new("t.csv")).unwrap();
        assert_eq!(p.comments, vec!["measured on a toy"]);
        assert_eq!(p.names(), vec!["a", "b"]);
        let a = p.get("a").unwrap();
        assert_eq!(a.batch_sizes, vec![1, 2]);
        assert_eq!(a.exec_ns, vec![100_000, 150_000]);
        assert_eq!(a.weights_bytes, 10 * 1024 * 1024);
        assert_eq!(a.load_ns, 800_000);
        assert_eq!(a.exec_for(2), Some(150_000));
        assert_eq!(a.exec_for(3), None);
        assert_eq!(a.padded_index(1), Some(0));
        assert_eq!(a.gflops, None);
        assert_eq!(a.util, vec![1.0, 1.0]);
    }

    #[test]
    fn reads_the_optional_util_column() {
        let text = "model,batch_size,exec_us,weights_mib,load_us,util\n\
            a,2,150,10,800,0.5\na,1,100,10,800,0.25\nb,1,1000,100,8000,\n";
        let p = Profile::parse(text, Path::new("t.csv")).unwrap();
        assert_eq!(p.get("a").unwrap().util, vec![0.25, 0.5]);
        assert_eq!(p.get("a").unwrap().util_for(2), Some(0.5));
        assert_eq!(p.get("b").unwrap().util, vec![1.0]);
        for bad in ["0", "1.5", "-0.1", "x", "NaN"] {
            let text = format!(
                "model,batch_size,exec_us,weights_mib,load_us,util\na,1,100,10,800,{bad}\n"
            );
            let e = Profile::parse(&text, Path::new("t.csv"))
                .unwrap_err()
                .to_string();
            assert!(e.contains("t.csv:2: `util` must be in (0, 1]"), "{e}");
        }
    }

    #[test]
    fn reads_the_optional_gflops_column() {
        let text = "model,batch_size,exec_us,weights_mib,load_us,gflops\n\
            a,1,100,10,800,8.2\na,2,150,10,800,8.2\nb,1,1000,100,8000,\n";
        let p = Profile::parse(text, Path::new("t.csv")).unwrap();
        assert_eq!(p.get("a").unwrap().gflops, Some(8.2));
        assert_eq!(p.get("b").unwrap().gflops, None);
        for (bad, want) in [
            (
                "a,1,100,10,800,8\na,2,150,10,800,9\n",
                "`gflops` must be the same",
            ),
            (
                "a,1,100,10,800,-1\n",
                "t.csv:2: `gflops` must be a positive number",
            ),
            ("a,1,100,10,800,x\n", "found `x`"),
        ] {
            let text = format!("model,batch_size,exec_us,weights_mib,load_us,gflops\n{bad}");
            let e = Profile::parse(&text, Path::new("t.csv"))
                .unwrap_err()
                .to_string();
            assert!(e.contains(want), "{e:?} should contain {want:?}");
        }
    }

    #[test]
    fn errors_name_the_line() {
        let cases = [
            (
                "model,batch_size,exec_us\na,1,2\n",
                "missing column `weights_mib`",
            ),
            (
                "model,batch_size,exec_us,weights_mib,load_us\na,1,x,1,1\n",
                "t.csv:2",
            ),
            (
                "model,batch_size,exec_us,weights_mib,load_us\na,0,1,1,1\n",
                "positive integer",
            ),
            (
                "model,batch_size,exec_us,weights_mib,load_us\na,1,1,1,1\na,1,2,1,1\n",
                "two rows",
            ),
            (
                "model,batch_size,exec_us,weights_mib,load_us\na,1,1,1,1\na,2,2,2,1\n",
                "same on every row",
            ),
            ("model,batch_size,exec_us,weights_mib,load_us\n", "no rows"),
            (
                "model,batch_size,exec_us,exec_us,weights_mib,load_us\na,1,1,1,1,1\n",
                "t.csv:1: column `exec_us` appears twice",
            ),
            (
                "model,batch_size,exec_us,weights_mib,load_us\na,1,0.0001,1,1\n",
                "t.csv:2: `exec_us`: 0.0001 us rounds to 0 ns",
            ),
            (
                "model,batch_size,exec_us,weights_mib,load_us\na,1,1,1,1e300\n",
                "t.csv:2: `load_us`: 1e300 us is longer than the simulator's longest time",
            ),
            (
                "model,batch_size,exec_us,weights_mib,load_us\na,1,1,1e300,1\n",
                "`weights_mib` must be at most",
            ),
            (
                "model,batch_size,exec_us,weights_mib,load_us\na,1,100,1,1\na,4,90,1,1\n",
                "model `a`: batch size 4 runs in 90 us, faster than batch size 1 (100 us)",
            ),
            (
                "model,batch_size,exec_us,weights_mib,load_us\na,1,1,1\n",
                "t.csv:2",
            ),
        ];
        for (text, want) in cases {
            let e = Profile::parse(text, Path::new("t.csv"))
                .unwrap_err()
                .to_string();
            assert!(e.contains(want), "{e:?} should contain {want:?}");
        }
    }
}
