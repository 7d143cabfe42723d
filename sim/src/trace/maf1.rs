//! Reader of the Azure Functions 2019 invocation counts (MAF1):
//! `invocations_per_function_md.anon.dNN.csv`, one file per day, with the
//! columns `HashOwner,HashApp,HashFunction,Trigger,1,...,1440` (the number of
//! invocations of each function in each minute of the day).
//!
//! The reader streams: it holds one line at a time (a few kilobytes), so a
//! 139 MB day file is read in bounded memory, at the speed of a byte scanner
//! rather than of a general CSV parser. Errors name the file, the line and,
//! for a bad count, the column.

use crate::error::{Error, Result};
use std::collections::HashMap;
use std::io::BufRead;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// Minutes in one day file.
pub const MINUTES_PER_DAY: usize = 1440;
/// The identifier columns that come before the counts.
pub const ID_COLUMNS: [&str; 4] = ["HashOwner", "HashApp", "HashFunction", "Trigger"];

/// One function's row: its identifiers and its 1,440 per-minute counts.
#[derive(Clone, Copy, Debug)]
pub struct Row<'a> {
    /// 1-based line in the file.
    pub line: u64,
    /// `HashOwner`.
    pub owner: &'a str,
    /// `HashApp`.
    pub app: &'a str,
    /// `HashFunction`.
    pub function: &'a str,
    /// `Trigger` (http, timer, event, queue, storage, orchestration, others).
    pub trigger: &'a str,
    /// Invocations in minutes 1 to 1440.
    pub counts: &'a [u32],
}

impl Row<'_> {
    /// Invocations over the whole day.
    pub fn total(&self) -> u64 {
        self.counts.iter().map(|&c| c as u64).sum()
    }
}

/// A streaming reader of one MAF1 day file.
pub struct Reader {
    src: Box<dyn BufRead>,
    path: PathBuf,
    line: u64,
    buf: Vec<u8>,
    ids: [Range<usize>; 4],
    counts: Vec<u32>,
    bytes: u64,
}

fn header_text() -> String {
    format!("{},1,2,...,{MINUTES_PER_DAY}", ID_COLUMNS.join(","))
}

/// Strips a final `\n` or `\r\n`.
fn trim_eol(mut b: &[u8]) -> &[u8] {
    if let [rest @ .., b'\n'] = b {
        b = rest;
    }
    if let [rest @ .., b'\r'] = b {
        b = rest;
    }
    b
}

fn shorten(s: &str) -> String {
    if s.chars().count() > 60 {
        format!("{}...", s.chars().take(60).collect::<String>())
    } else {
        s.to_string()
    }
}

impl Reader {
    /// Opens a day file (plain or gzip) and checks its header.
    pub fn open(path: &Path) -> Result<Reader> {
        Reader::new(super::open(path)?, path)
    }

    /// Reads from `src`; `path` names the source in errors. Checks the header.
    pub fn new(src: Box<dyn BufRead>, path: &Path) -> Result<Reader> {
        let mut r = Reader {
            src,
            path: path.to_path_buf(),
            line: 0,
            buf: Vec::with_capacity(1 << 14),
            ids: Default::default(),
            counts: Vec::with_capacity(MINUTES_PER_DAY),
            bytes: 0,
        };
        if !r.read_line()? {
            return Err(Error::parse(
                path,
                Some(1),
                format!(
                    "the file is empty: expected the MAF1 header `{}`",
                    header_text()
                ),
            ));
        }
        let mut text = trim_eol(&r.buf);
        if let [0xef, 0xbb, 0xbf, rest @ ..] = text {
            text = rest;
        }
        let text = String::from_utf8_lossy(text);
        let cols: Vec<&str> = text.split(',').map(str::trim).collect();
        let ids_ok = cols.len() >= 4 && cols[..4] == ID_COLUMNS;
        let minutes_ok = cols.len() == 4 + MINUTES_PER_DAY
            && cols[4..]
                .iter()
                .enumerate()
                .all(|(i, c)| c.parse::<usize>() == Ok(i + 1));
        if !(ids_ok && minutes_ok) {
            let what = if !ids_ok {
                format!("found `{}`", shorten(&text))
            } else {
                format!(
                    "found {} columns (`{}`)",
                    cols.len(),
                    shorten(&cols[cols.len().saturating_sub(3)..].join(","))
                )
            };
            return Err(Error::parse(
                path,
                Some(1),
                format!(
                    "expected the MAF1 header `{}` ({} columns), {what}",
                    header_text(),
                    4 + MINUTES_PER_DAY
                ),
            ));
        }
        Ok(r)
    }

    /// Reads the next line into `buf`; false at the end of the file.
    fn read_line(&mut self) -> Result<bool> {
        self.buf.clear();
        let n = self.src.read_until(b'\n', &mut self.buf).map_err(|e| {
            Error::parse(&self.path, Some(self.line + 1), format!("cannot read: {e}"))
        })?;
        self.bytes += n as u64;
        if n > 0 {
            self.line += 1;
        }
        Ok(n > 0)
    }

    /// Bytes read so far (after decompression).
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The file being read.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The next function's row, or `None` at the end of the file. Blank lines are skipped.
    pub fn next_row(&mut self) -> Result<Option<Row<'_>>> {
        loop {
            if !self.read_line()? {
                return Ok(None);
            }
            if !trim_eol(&self.buf).iter().all(|b| b.is_ascii_whitespace()) {
                break;
            }
        }
        self.parse_line()?;
        let text = trim_eol(&self.buf);
        // The id fields were checked to be UTF-8 by parse_line.
        let s = |r: &Range<usize>| std::str::from_utf8(&text[r.clone()]).unwrap_or("");
        Ok(Some(Row {
            line: self.line,
            owner: s(&self.ids[0]),
            app: s(&self.ids[1]),
            function: s(&self.ids[2]),
            trigger: s(&self.ids[3]),
            counts: &self.counts,
        }))
    }

    fn err(&self, msg: String) -> Error {
        Error::parse(&self.path, Some(self.line), msg)
    }

    fn column_count_error(&self, text: &[u8]) -> Error {
        let n = text.iter().filter(|&&b| b == b',').count() + 1;
        self.err(format!(
            "expected {} columns (4 ids and {MINUTES_PER_DAY} per-minute counts), found {n}",
            4 + MINUTES_PER_DAY
        ))
    }

    fn parse_line(&mut self) -> Result<()> {
        let text = trim_eol(&self.buf);
        let mut pos = 0;
        for i in 0..4 {
            let Some(off) = text[pos..].iter().position(|&b| b == b',') else {
                return Err(self.column_count_error(text));
            };
            self.ids[i] = pos..pos + off;
            pos += off + 1;
        }
        for (i, r) in self.ids.iter().enumerate() {
            if std::str::from_utf8(&text[r.clone()]).is_err() {
                return Err(self.err(format!(
                    "column {} ({}) is not UTF-8 text",
                    i + 1,
                    ID_COLUMNS[i]
                )));
            }
        }
        let bytes = &text[pos..];
        let mut counts = std::mem::take(&mut self.counts);
        counts.clear();
        counts.resize(MINUTES_PER_DAY, 0);
        let (outcome, k) = parse_counts(bytes, &mut counts);
        let result = match outcome {
            Ok(()) if k == MINUTES_PER_DAY => Ok(()),
            Ok(()) | Err(None) => Err(self.column_count_error(text)),
            Err(Some((start, expected))) => {
                // A wrong number of columns explains more than a bad field.
                if text.iter().filter(|&&b| b == b',').count() != 3 + MINUTES_PER_DAY {
                    Err(self.column_count_error(text))
                } else {
                    Err(self.bad_count(k, start, bytes, expected))
                }
            }
        };
        self.counts = counts;
        result
    }

    fn bad_count(&self, field: usize, start: usize, bytes: &[u8], expected: &str) -> Error {
        let minute = field + 1;
        let end = bytes[start..]
            .iter()
            .position(|&b| b == b',')
            .map_or(bytes.len(), |p| start + p);
        let field = String::from_utf8_lossy(&bytes[start..end]);
        self.err(format!(
            "column {} (minute {minute}): expected {expected}, found `{}`",
            minute + 4,
            shorten(&field)
        ))
    }
}

/// Parses the comma-separated counts of a row into `counts` (zeroed, 1440
/// long). Returns the outcome and the number of fields parsed: `Err(None)`
/// for too many fields, `Err(Some((start, expected)))` for a bad field.
#[allow(clippy::type_complexity)]
fn parse_counts(
    bytes: &[u8],
    counts: &mut [u32],
) -> (
    std::result::Result<(), Option<(usize, &'static str)>>,
    usize,
) {
    let n = bytes.len();
    let (mut i, mut k) = (0, 0);
    loop {
        if k == counts.len() {
            return (Err(None), k);
        }
        // Fast path: one digit, then a comma or the end of the line (most counts are 0).
        if let Some(&b) = bytes.get(i) {
            let d = b.wrapping_sub(b'0');
            if d < 10 && (i + 1 == n || bytes[i + 1] == b',') {
                counts[k] = d as u32;
                k += 1;
                i += 2;
                if i > n {
                    return (Ok(()), k);
                }
                // Runs of zeros, eight at a time (`counts` is zeroed already).
                if d == 0 {
                    while k + 8 <= counts.len()
                        && i + 16 <= n
                        && u128::from_ne_bytes(bytes[i..i + 16].try_into().unwrap()) == ZEROS
                    {
                        i += 16;
                        k += 8;
                    }
                }
                continue;
            }
        }
        // Plain digits up to the comma.
        let mut j = i;
        let mut v: u64 = 0;
        while j < n && j < i + 10 {
            let d = bytes[j].wrapping_sub(b'0');
            if d >= 10 {
                break;
            }
            v = v * 10 + d as u64;
            j += 1;
        }
        if j > i && v <= u32::MAX as u64 && (j == n || bytes[j] == b',') {
            counts[k] = v as u32;
            k += 1;
            if j == n {
                return (Ok(()), k);
            }
            i = j + 1;
            continue;
        }
        match parse_field(bytes, i) {
            Ok((v, end)) => {
                counts[k] = v;
                k += 1;
                if end >= n {
                    return (Ok(()), k);
                }
                i = end + 1;
            }
            Err(expected) => return (Err(Some((i, expected))), k),
        }
    }
}

/// Eight zero counts and their commas.
const ZEROS: u128 = u128::from_ne_bytes(*b"0,0,0,0,0,0,0,0,");

/// Parses the count field starting at `start`: digits, optionally `.0...`
/// (some tools write counts as floats), spaces tolerated. Returns the value
/// and the index of the comma after it (or the end of the line), or what was
/// expected.
fn parse_field(bytes: &[u8], start: usize) -> std::result::Result<(u32, usize), &'static str> {
    let end = bytes[start.min(bytes.len())..]
        .iter()
        .position(|&b| b == b',')
        .map_or(bytes.len(), |p| start + p);
    let field = std::str::from_utf8(&bytes[start.min(end)..end])
        .unwrap_or("")
        .trim();
    let digits = field.split_once('.').map_or(field, |(w, f)| {
        if !w.is_empty() && f.bytes().all(|b| b == b'0') {
            w
        } else {
            field
        }
    });
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err("a non-negative integer count");
    }
    match digits.parse::<u32>() {
        Ok(v) => Ok((v, end)),
        Err(_) => Err("a count that fits in 32 bits"),
    }
}

/// One or several MAF1 day files read as one trace: day k's minute m is minute
/// k * 1440 + m. A function is identified by (HashOwner, HashApp,
/// HashFunction) across days; functions are numbered in order of first
/// appearance. Each pass reads the files again from disk.
pub struct Days {
    paths: Vec<PathBuf>,
    index: HashMap<Box<str>, u32>,
    triggers: Vec<Box<str>>,
    bytes: u64,
}

impl Days {
    /// The trace made of these day files, in order. Checks that each can be opened.
    pub fn new(paths: Vec<PathBuf>) -> Result<Days> {
        if paths.is_empty() {
            return Err(Error::invalid("MAF1 trace", "needs at least one day file"));
        }
        for p in &paths {
            Reader::open(p)?;
        }
        Ok(Days {
            paths,
            index: HashMap::new(),
            triggers: Vec::new(),
            bytes: 0,
        })
    }

    /// The day files.
    pub fn paths(&self) -> &[PathBuf] {
        &self.paths
    }

    /// Trigger of each function seen so far, by function number.
    pub fn triggers(&self) -> &[Box<str>] {
        &self.triggers
    }

    /// Bytes read by all passes so far.
    pub fn bytes_read(&self) -> u64 {
        self.bytes
    }
}

impl super::mapping::MinuteSource for Days {
    fn minutes(&self) -> usize {
        self.paths.len() * MINUTES_PER_DAY
    }

    fn pass(&mut self, f: &mut super::mapping::RowFn<'_>) -> crate::Result<usize> {
        let mut key = String::new();
        for (day, p) in self.paths.iter().enumerate() {
            let mut r = Reader::open(p)?;
            while let Some(row) = r.next_row()? {
                key.clear();
                for s in [row.owner, row.app, row.function] {
                    key.push_str(s);
                    key.push(',');
                }
                let id = match self.index.get(key.as_str()) {
                    Some(&id) => id,
                    None => {
                        let id = self.triggers.len() as u32;
                        self.index.insert(key.as_str().into(), id);
                        self.triggers.push(row.trigger.into());
                        id
                    }
                };
                f(id as usize, day * MINUTES_PER_DAY, row.counts)?;
            }
            self.bytes += r.bytes();
        }
        Ok(self.triggers.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> String {
        let mut h = ID_COLUMNS.join(",");
        for m in 1..=MINUTES_PER_DAY {
            h.push_str(&format!(",{m}"));
        }
        h
    }

    fn row(id: &str, f: impl Fn(usize) -> String) -> String {
        let mut s = format!("o{id},a{id},f{id},http");
        for m in 0..MINUTES_PER_DAY {
            s.push(',');
            s.push_str(&f(m));
        }
        s
    }

    fn read(text: String) -> Result<Vec<(String, u64, Vec<u32>)>> {
        let mut r = Reader::new(
            Box::new(std::io::Cursor::new(text.into_bytes())),
            Path::new("d.csv"),
        )?;
        let mut v = vec![];
        while let Some(row) = r.next_row()? {
            v.push((row.function.to_string(), row.line, row.counts.to_vec()));
        }
        Ok(v)
    }

    #[test]
    fn reads_rows_with_crlf_floats_and_blank_lines() {
        let text = format!(
            "\u{feff}{}\r\n{}\r\n\r\n{}\n",
            header(),
            row("1", |m| (m % 3).to_string()),
            row("2", |m| if m == 5 { "7.0".into() } else { " 0".into() })
        );
        let v = read(text).unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].0, "f1");
        assert_eq!(v[0].1, 2);
        assert_eq!(&v[0].2[..4], &[0, 1, 2, 0]);
        assert_eq!(v[1].1, 4);
        assert_eq!(v[1].2.iter().map(|&c| c as u64).sum::<u64>(), 7);
        assert_eq!(v[1].2[5], 7);
    }

    #[test]
    fn errors_name_line_and_column() {
        let cases = [
            (String::new(), "d.csv:1: the file is empty"),
            (
                "HashOwner,HashApp\n".to_string(),
                "d.csv:1: expected the MAF1 header",
            ),
            (
                format!("{}\n", &header()[..header().len() - 5]),
                "found 1443 columns",
            ),
            (
                format!("{}\n{}\n", header(), &row("1", |_| "1".into())[..40]),
                "d.csv:2: expected 1444 columns",
            ),
            (
                format!("{}\n{},9\n", header(), row("1", |_| "1".into())),
                "found 1445",
            ),
            (
                format!(
                    "{}\n{}\n",
                    header(),
                    row("1", |m| if m == 9 { "x".into() } else { "1".into() })
                ),
                "d.csv:2: column 14 (minute 10): expected a non-negative integer count, found `x`",
            ),
            (
                format!(
                    "{}\n{}\n",
                    header(),
                    row("1", |m| if m == 0 { "-1".into() } else { "1".into() })
                ),
                "found `-1`",
            ),
            (
                format!(
                    "{}\n{}\n",
                    header(),
                    row("1", |m| if m == 3 {
                        "99999999999".into()
                    } else {
                        "1".into()
                    })
                ),
                "fits in 32 bits",
            ),
            (
                format!(
                    "{}\n{}\n",
                    header(),
                    row("1", |m| if m == 3 { String::new() } else { "1".into() })
                ),
                "column 8 (minute 4)",
            ),
        ];
        for (text, want) in cases {
            let e = read(text).unwrap_err().to_string();
            assert!(e.contains(want), "{e:?} should contain {want:?}");
        }
    }
}
