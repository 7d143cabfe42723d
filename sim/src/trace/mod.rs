//! Workload traces. The canonical request-level format, which every trace
//! source converts to and which the simulator and the replay read, is CSV with
//! the header `arrival_ms,model` and an optional third column `slo_ms`, plain
//! or gzip-compressed (recognized by its first bytes, whatever the file name).
//! The sources: the Azure Functions 2019 per-minute counts ([`maf1`]), the
//! Azure Functions 2021 per-invocation records ([`maf2`]) and a synthetic
//! Azure-like generator ([`generate`]); [`mapping`] turns functions into model
//! instances; [`stats`] summarizes any of them. Formats and knobs: `docs/traces.md`.

pub mod generate;
pub mod maf1;
pub mod maf2;
pub mod mapping;
pub mod stats;

use crate::error::{Error, Result};
use crate::time::{NS_PER_MS, Nanos};
use crate::workload::TraceEntry;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::sync::Arc;

/// The header of a canonical trace without and with per-request SLOs.
pub const HEADER: &str = "arrival_ms,model";
/// The header of a canonical trace with per-request SLOs.
pub const HEADER_SLO: &str = "arrival_ms,model,slo_ms";

/// A request-level trace, split by model, each model's requests sorted by time.
#[derive(Clone, Debug, Default)]
pub struct Trace {
    /// Requests per model name.
    pub models: BTreeMap<String, Arc<Vec<TraceEntry>>>,
}

/// One row of a canonical trace, as read.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Request<'a> {
    /// Arrival time.
    pub t: Nanos,
    /// The `model` column: a model instance name.
    pub model: &'a str,
    /// The request's own SLO, if the row gives one.
    pub slo: Option<Nanos>,
    /// 1-based line of the row in the file.
    pub line: u64,
}

impl Trace {
    /// Reads a canonical trace file (plain or gzip).
    pub fn load(path: &Path) -> Result<Trace> {
        Trace::from_reader(open(path)?, path)
    }

    /// Parses canonical trace CSV text; `path` names the source in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Trace> {
        Trace::from_reader(text.as_bytes(), path)
    }

    /// Reads canonical trace CSV from `r`; `path` names the source in errors.
    pub fn from_reader(r: impl Read, path: &Path) -> Result<Trace> {
        let mut models: BTreeMap<String, Vec<TraceEntry>> = BTreeMap::new();
        read_requests(r, path, |q| {
            let e = TraceEntry { t: q.t, slo: q.slo };
            match models.get_mut(q.model) {
                Some(v) => v.push(e),
                None => {
                    models.insert(q.model.to_string(), vec![e]);
                }
            }
            Ok(())
        })?;
        let models = models
            .into_iter()
            .map(|(k, mut v)| {
                v.sort();
                (k, Arc::new(v))
            })
            .collect();
        Ok(Trace { models })
    }

    /// Number of requests.
    pub fn len(&self) -> usize {
        self.models.values().map(|v| v.len()).sum()
    }

    /// Whether the trace has no request.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Opens a file for reading, decompressing it when it is gzip (by its magic bytes).
pub fn open(path: &Path) -> Result<Box<dyn BufRead>> {
    let f = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut r = BufReader::with_capacity(1 << 18, f);
    let magic = r.fill_buf().map_err(|e| Error::io(path, e))?;
    if magic.starts_with(&[0x1f, 0x8b]) {
        let gz = flate2::bufread::MultiGzDecoder::new(r);
        Ok(Box::new(BufReader::with_capacity(1 << 18, gz)))
    } else {
        Ok(Box::new(r))
    }
}

/// Whether `path` names a gzip file to write (it ends in `.gz`).
pub fn is_gz_name(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gz"))
}

/// Calls `f` on every request of the canonical trace at `path`, in file order.
/// Returns whether the file has the `slo_ms` column.
pub fn for_each_request(path: &Path, f: impl FnMut(Request<'_>) -> Result<()>) -> Result<bool> {
    read_requests(open(path)?, path, f)
}

/// Calls `f` on every request of canonical trace CSV read from `r`, in order;
/// `path` names the source in errors. Returns whether it has the `slo_ms` column.
pub fn read_requests(
    r: impl Read,
    path: &Path,
    mut f: impl FnMut(Request<'_>) -> Result<()>,
) -> Result<bool> {
    let mut rdr = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .comment(Some(b'#'))
        .buffer_capacity(1 << 16)
        .from_reader(r);
    let csv_err = |e: csv::Error| {
        let line = e.position().map(|p| p.line());
        match e.kind() {
            csv::ErrorKind::Io(_) => Error::parse(path, line, format!("cannot read: {e}")),
            _ => Error::parse(path, line, e.to_string()),
        }
    };
    let headers = rdr.headers().map_err(csv_err)?.clone();
    let cols: Vec<&str> = headers.iter().collect();
    let has_slo = match cols.as_slice() {
        ["arrival_ms", "model"] => false,
        ["arrival_ms", "model", "slo_ms"] => true,
        _ => {
            return Err(Error::parse(
                path,
                Some(1),
                format!(
                    "expected the header `{HEADER}` or `{HEADER_SLO}`, found `{}`",
                    cols.join(",")
                ),
            ));
        }
    };
    let mut rec = csv::StringRecord::new();
    while rdr.read_record(&mut rec).map_err(csv_err)? {
        let line = rec.position().map_or(0, |p| p.line());
        let t = parse_ms(&rec[0], "arrival_ms", path, line, true)?;
        let slo = if has_slo && !rec[2].is_empty() {
            Some(parse_ms(&rec[2], "slo_ms", path, line, false)?)
        } else {
            None
        };
        if rec[1].is_empty() {
            return Err(Error::parse(path, Some(line), "empty `model`"));
        }
        f(Request {
            t,
            model: &rec[1],
            slo,
            line,
        })?;
    }
    Ok(has_slo)
}

fn parse_ms(s: &str, field: &str, path: &Path, line: u64, zero_ok: bool) -> Result<Nanos> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && (v > 0.0 || (zero_ok && v == 0.0)) => {
            crate::time::checked(v, crate::time::Unit::Ms, !zero_ok)
                .map_err(|m| Error::parse(path, Some(line), format!("`{field}`: {m}")))
        }
        _ => Err(Error::parse(
            path,
            Some(line),
            format!(
                "`{field}` must be a {} number of milliseconds, found `{s}`",
                if zero_ok { "non-negative" } else { "positive" }
            ),
        )),
    }
}

/// Appends `t` in milliseconds, exactly (up to six decimals, no trailing zeros).
pub fn push_ms(out: &mut String, t: Nanos) {
    use std::fmt::Write as _;
    let (whole, frac) = (t / NS_PER_MS, t % NS_PER_MS);
    if frac == 0 {
        let _ = write!(out, "{whole}");
    } else {
        let s = format!("{frac:06}");
        let _ = write!(out, "{whole}.{}", s.trim_end_matches('0'));
    }
}

/// Writes a canonical trace: the header, then one row per request. Times are
/// written in milliseconds with nanosecond precision, so reading the file
/// back gives exactly the times written.
pub struct Writer<W: Write> {
    w: W,
    with_slo: bool,
    line: String,
    rows: u64,
}

impl<W: Write> Writer<W> {
    /// Starts a trace on `w`, with the `slo_ms` column if `with_slo`.
    pub fn new(mut w: W, with_slo: bool) -> std::io::Result<Self> {
        writeln!(w, "{}", if with_slo { HEADER_SLO } else { HEADER })?;
        Ok(Writer {
            w,
            with_slo,
            line: String::with_capacity(64),
            rows: 0,
        })
    }

    /// Writes one request (a model name with a comma or a quote is quoted).
    pub fn write(&mut self, t: Nanos, model: &str, slo: Option<Nanos>) -> std::io::Result<()> {
        self.line.clear();
        push_ms(&mut self.line, t);
        self.line.push(',');
        self.line.push_str(&crate::text::csv_field(model));
        if self.with_slo {
            self.line.push(',');
            if let Some(s) = slo {
                push_ms(&mut self.line, s);
            }
        }
        self.line.push('\n');
        self.rows += 1;
        self.w.write_all(self.line.as_bytes())
    }

    /// Rows written so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// The underlying writer.
    pub fn into_inner(self) -> W {
        self.w
    }
}

/// Writes the arrivals of several streams before `until`, merged in time
/// order (ties: in stream order), each row named by its stream; `slo` fills
/// the `slo_ms` column of requests that have no SLO of their own.
pub fn write_streams<W: Write>(
    streams: Vec<(String, crate::workload::ArrivalStream)>,
    until: Nanos,
    slo: Option<Nanos>,
    w: &mut Writer<W>,
) -> std::io::Result<()> {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;
    let (names, mut streams): (Vec<String>, Vec<_>) = streams.into_iter().unzip();
    let mut heap = BinaryHeap::with_capacity(streams.len());
    let mut pending: Vec<Option<Nanos>> = vec![None; streams.len()];
    for (i, s) in streams.iter_mut().enumerate() {
        if let Some((t, own)) = s.next().filter(|a| a.0 < until) {
            pending[i] = own.or(slo);
            heap.push(Reverse((t, i)));
        }
    }
    while let Some(Reverse((t, i))) = heap.pop() {
        w.write(t, &names[i], pending[i])?;
        if let Some((t2, own)) = streams[i].next().filter(|a| a.0 < until) {
            pending[i] = own.or(slo);
            heap.push(Reverse((t2, i)));
        }
    }
    Ok(())
}

/// Checks that a model instance name can be written to a canonical trace.
pub fn check_model_name(name: &str) -> std::result::Result<(), String> {
    if name.is_empty() || name.trim() != name || name.contains([',', '"', '\n', '\r', '#']) {
        Err(format!(
            "model name `{name}` cannot be written to a trace: it must be non-empty, without surrounding spaces, commas, quotes or `#`"
        ))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::from_ms;

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
        assert_eq!(t.len(), 3);
    }

    #[test]
    fn malformed_rows_name_the_line() {
        for (text, want) in [
            ("t,model\n", "t.csv:1"),
            ("arrival_ms,model\n1,a\nx,a\n", "t.csv:3"),
            ("arrival_ms,model\n-1,a\n", "non-negative"),
            ("arrival_ms,model,slo_ms\n1,a,0\n", "positive"),
            ("arrival_ms,model\n1,a,3\n", "t.csv:2"),
            ("arrival_ms,model\n1,\n", "t.csv:2: empty `model`"),
            (
                "arrival_ms,model\n1e300,a\n",
                "t.csv:2: `arrival_ms`: 1e300 ms is longer than the simulator's longest time",
            ),
            (
                "arrival_ms,model,slo_ms\n1,a,0.0000001\n",
                "t.csv:2: `slo_ms`: 1e-7 ms rounds to 0 ns",
            ),
        ] {
            let e = Trace::parse(text, Path::new("t.csv"))
                .unwrap_err()
                .to_string();
            assert!(e.contains(want), "{e:?} should contain {want:?}");
        }
    }

    #[test]
    fn milliseconds_are_written_exactly() {
        let mut s = String::new();
        for t in [0, 1, 1_000_000, 1_500_000, 86_399_999_999_999, 123_456_789] {
            s.clear();
            push_ms(&mut s, t);
            assert_eq!(from_ms(s.parse::<f64>().unwrap()), t, "{s}");
        }
        s.clear();
        push_ms(&mut s, 1_500_000);
        assert_eq!(s, "1.5");
        s.clear();
        push_ms(&mut s, 2_000_000);
        assert_eq!(s, "2");
        s.clear();
        push_ms(&mut s, 7);
        assert_eq!(s, "0.000007");
    }

    #[test]
    fn writer_round_trips() {
        let mut w = Writer::new(Vec::new(), true).unwrap();
        w.write(1_234_567, "a", None).unwrap();
        w.write(9_000_000_001, "b", Some(25_000_000)).unwrap();
        assert_eq!(w.rows(), 2);
        let bytes = w.into_inner();
        assert_eq!(
            String::from_utf8(bytes.clone()).unwrap(),
            "arrival_ms,model,slo_ms\n1.234567,a,\n9000.000001,b,25\n"
        );
        let t = Trace::from_reader(&bytes[..], Path::new("w.csv")).unwrap();
        assert_eq!(
            t.models["a"][0],
            TraceEntry {
                t: 1_234_567,
                slo: None
            }
        );
        assert_eq!(
            t.models["b"][0],
            TraceEntry {
                t: 9_000_000_001,
                slo: Some(25_000_000)
            }
        );
    }

    #[test]
    fn names_with_commas_and_quotes_round_trip() {
        let mut w = Writer::new(Vec::new(), false).unwrap();
        w.write(1_000_000, "a,b", None).unwrap();
        w.write(2_000_000, "say \"hi\"", None).unwrap();
        let t = Trace::from_reader(&w.into_inner()[..], Path::new("w.csv")).unwrap();
        assert_eq!(t.models["a,b"].len(), 1);
        assert_eq!(t.models["say \"hi\""][0].t, 2_000_000);
    }

    #[test]
    fn model_names_are_checked() {
        assert!(check_model_name("resnet50-3").is_ok());
        for bad in ["", " a", "a,b", "a\"", "#a"] {
            assert!(check_model_name(bad).is_err(), "{bad:?}");
        }
    }
}
