//! Reader of the Azure Functions 2021 invocation trace (MAF2,
//! `AzureFunctionsInvocationTraceForTwoWeeksJan2021.txt`): one row per
//! invocation with the columns `app,func,end_timestamp,duration` (seconds
//! from the start of the trace; other columns are ignored). A request
//! arrives at end_timestamp - duration, so the trace replays "as is".
//!
//! The whole trace has about two million invocations; `load` keeps the
//! arrivals of a slice in memory (12 bytes each), sorted by time.

use crate::error::{Error, Result};
use crate::time::Nanos;
use std::collections::HashMap;
use std::path::Path;

/// The columns a MAF2 file must have.
pub const COLUMNS: [&str; 4] = ["app", "func", "end_timestamp", "duration"];

/// Whether a header line (its column names) is MAF2's.
pub fn is_header(cols: &[&str]) -> bool {
    ["func", "end_timestamp", "duration"]
        .iter()
        .all(|c| cols.contains(c))
}

/// The arrivals of a MAF2 slice.
#[derive(Clone, Debug, Default)]
pub struct Maf2 {
    /// Function keys (`app/func`), numbered in order of first appearance.
    pub functions: Vec<String>,
    /// Invocations per function in the slice.
    pub totals: Vec<u64>,
    /// (arrival relative to the slice start, function) sorted by time.
    pub arrivals: Vec<(Nanos, u32)>,
    /// Rows that arrive before the slice or at or after its end.
    pub outside: u64,
}

/// Reads the invocations of `path` (plain or gzip) that arrive in
/// `[start_s, end_s)` seconds of the trace.
pub fn load(path: &Path, start_s: f64, end_s: Option<f64>) -> Result<Maf2> {
    let mut rdr = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .buffer_capacity(1 << 16)
        .from_reader(super::open(path)?);
    let headers = rdr
        .headers()
        .map_err(|e| Error::parse(path, Some(1), e.to_string()))?
        .clone();
    let cols: Vec<&str> = headers.iter().collect();
    let col = |name: &str| cols.iter().position(|c| *c == name);
    let (Some(fc), Some(ec), Some(dc)) = (col("func"), col("end_timestamp"), col("duration"))
    else {
        return Err(Error::parse(
            path,
            Some(1),
            format!(
                "expected a MAF2 header with the columns `{}` (app optional), found `{}`",
                COLUMNS.join(","),
                cols.join(",")
            ),
        ));
    };
    let ac = col("app");
    let mut out = Maf2::default();
    let mut index: HashMap<String, u32> = HashMap::new();
    let mut rec = csv::StringRecord::new();
    let mut key = String::new();
    let end_s = end_s.unwrap_or(f64::INFINITY);
    loop {
        match rdr.read_record(&mut rec) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                let line = e.position().map(|p| p.line());
                return Err(Error::parse(path, line, e.to_string()));
            }
        }
        let line = rec.position().map_or(0, |p| p.line());
        let num = |c: usize, name: &str| -> Result<f64> {
            let s = &rec[c];
            match s.parse::<f64>() {
                Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
                _ => Err(Error::parse(
                    path,
                    Some(line),
                    format!("`{name}` must be a non-negative number of seconds, found `{s}`"),
                )),
            }
        };
        let end = num(ec, "end_timestamp")?;
        let dur = num(dc, "duration")?;
        let arrival = end - dur;
        if rec[fc].is_empty() {
            return Err(Error::parse(path, Some(line), "empty `func`"));
        }
        key.clear();
        if let Some(a) = ac {
            key.push_str(&rec[a]);
            key.push('/');
        }
        key.push_str(&rec[fc]);
        let id = match index.get(&key) {
            Some(&id) => id,
            None => {
                let id = out.functions.len() as u32;
                index.insert(key.clone(), id);
                out.functions.push(key.clone());
                out.totals.push(0);
                id
            }
        };
        if arrival < start_s || arrival >= end_s {
            out.outside += 1;
            continue;
        }
        let at =
            crate::time::checked(arrival - start_s, crate::time::Unit::S, false).map_err(|m| {
                Error::parse(
                    path,
                    Some(line),
                    format!("the arrival (end_timestamp - duration - start): {m}"),
                )
            })?;
        out.totals[id as usize] += 1;
        out.arrivals.push((at, id));
    }
    out.arrivals.sort_unstable();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(name: &str, text: &str) -> std::path::PathBuf {
        let p = std::env::temp_dir().join(format!("inferfair-maf2-{}-{name}", std::process::id()));
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn arrival_is_end_minus_duration_and_sorted() {
        let p = write(
            "ok.csv",
            "app,func,end_timestamp,duration\na1,f1,10.5,0.5\na1,f2,3.0,2.0\na2,f1,12.25,0.25\na1,f1,1.0,1.0\n",
        );
        let t = load(&p, 0.0, None).unwrap();
        assert_eq!(t.functions, vec!["a1/f1", "a1/f2", "a2/f1"]);
        assert_eq!(t.totals, vec![2, 1, 1]);
        assert_eq!(
            t.arrivals,
            vec![
                (0, 0),
                (1_000_000_000, 1),
                (10_000_000_000, 0),
                (12_000_000_000, 2)
            ]
        );
        let s = load(&p, 1.0, Some(11.0)).unwrap();
        assert_eq!(s.arrivals, vec![(0, 1), (9_000_000_000, 0)]);
        assert_eq!(s.outside, 2);
        std::fs::remove_file(p).ok();
    }

    #[test]
    fn bad_rows_name_the_line() {
        let p = write(
            "bad.csv",
            "app,func,end_timestamp,duration\na,f,1,0\na,f,x,0\n",
        );
        let e = load(&p, 0.0, None).unwrap_err().to_string();
        assert!(e.contains("bad.csv:3: `end_timestamp`"), "{e}");
        let p2 = write("hdr.csv", "a,b,c\n");
        let e = load(&p2, 0.0, None).unwrap_err().to_string();
        assert!(e.contains(":1: expected a MAF2 header"), "{e}");
        std::fs::remove_file(p).ok();
        std::fs::remove_file(p2).ok();
    }
}
