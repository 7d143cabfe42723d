//! The canonical request-level trace format that every trace source converts
//! to and that the simulator and the replay read: CSV with the header
//! `arrival_ms,model` and an optional third column `slo_ms`.

use crate::error::{Error, Result};
use crate::time::{Nanos, from_ms};
use crate::workload::TraceEntry;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

/// A request-level trace, split by model, each model's requests sorted by time.
#[derive(Clone, Debug, Default)]
pub struct Trace {
    /// Requests per model name.
    pub models: BTreeMap<String, Arc<Vec<TraceEntry>>>,
}

impl Trace {
    /// Reads a canonical trace file.
    pub fn load(path: &Path) -> Result<Trace> {
        let text = crate::error::read_to_string(path)?;
        Trace::parse(&text, path)
    }

    /// Parses canonical trace CSV text; `path` names the source in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Trace> {
        let mut rdr = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .comment(Some(b'#'))
            .from_reader(text.as_bytes());
        let headers = rdr
            .headers()
            .map_err(|e| Error::parse(path, Some(1), e.to_string()))?
            .clone();
        let cols: Vec<&str> = headers.iter().collect();
        let has_slo = match cols.as_slice() {
            ["arrival_ms", "model"] => false,
            ["arrival_ms", "model", "slo_ms"] => true,
            _ => {
                return Err(Error::parse(
                    path,
                    Some(1),
                    format!(
                        "expected the header `arrival_ms,model` or `arrival_ms,model,slo_ms`, found `{}`",
                        cols.join(",")
                    ),
                ));
            }
        };
        let mut models: BTreeMap<String, Vec<TraceEntry>> = BTreeMap::new();
        for rec in rdr.records() {
            let rec =
                rec.map_err(|e| Error::parse(path, e.position().map(|p| p.line()), e.to_string()))?;
            let line = rec.position().map(|p| p.line());
            let t = parse_ms(&rec[0], "arrival_ms", path, line, true)?;
            let slo = if has_slo && !rec[2].is_empty() {
                Some(parse_ms(&rec[2], "slo_ms", path, line, false)?)
            } else {
                None
            };
            if rec[1].is_empty() {
                return Err(Error::parse(path, line, "empty `model`"));
            }
            models
                .entry(rec[1].to_string())
                .or_default()
                .push(TraceEntry { t, slo });
        }
        let models = models
            .into_iter()
            .map(|(k, mut v)| {
                v.sort();
                (k, Arc::new(v))
            })
            .collect();
        Ok(Trace { models })
    }
}

fn parse_ms(s: &str, field: &str, path: &Path, line: Option<u64>, zero_ok: bool) -> Result<Nanos> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && (v > 0.0 || (zero_ok && v == 0.0)) => Ok(from_ms(v)),
        _ => Err(Error::parse(
            path,
            line,
            format!(
                "`{field}` must be a {} number of milliseconds, found `{s}`",
                if zero_ok { "non-negative" } else { "positive" }
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_sorts_per_model() {
        let t = Trace::parse(
            "arrival_ms,model,slo_ms\n5,a,\n1.5,a,20\n2,b,\n",
            Path::new("t.csv"),
        )
        .unwrap();
        let a = &t.models["a"];
        assert_eq!(a.len(), 2);
        assert_eq!(
            a[0],
            TraceEntry {
                t: 1_500_000,
                slo: Some(20_000_000)
            }
        );
        assert_eq!(a[1].t, 5_000_000);
        assert_eq!(t.models["b"].len(), 1);
    }

    #[test]
    fn malformed_rows_name_the_line() {
        for (text, want) in [
            ("t,model\n", "t.csv:1"),
            ("arrival_ms,model\n1,a\nx,a\n", "t.csv:3"),
            ("arrival_ms,model\n-1,a\n", "non-negative"),
            ("arrival_ms,model,slo_ms\n1,a,0\n", "positive"),
            ("arrival_ms,model\n1,a,3\n", "t.csv:2"),
        ] {
            let e = Trace::parse(text, Path::new("t.csv"))
                .unwrap_err()
                .to_string();
            assert!(e.contains(want), "{e:?} should contain {want:?}");
        }
    }
}
