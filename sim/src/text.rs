//! Text output helpers shared by every writer: CSV fields quoted as RFC 4180
//! says, and padding to a column width (Rust's `{:<w$}` panics above 65,535,
//! and a name may be longer).

use std::borrow::Cow;

/// A CSV field: quoted (with inner quotes doubled) when it holds a comma, a
/// quote, a line break, or leading or trailing spaces; as is otherwise.
pub fn csv_field(s: &str) -> Cow<'_, str> {
    let needs = s.contains([',', '"', '\n', '\r'])
        || s.starts_with([' ', '\t'])
        || s.ends_with([' ', '\t']);
    if needs {
        Cow::Owned(format!("\"{}\"", s.replace('"', "\"\"")))
    } else {
        Cow::Borrowed(s)
    }
}

/// `s` padded with spaces to `width` characters, on the right (`left`
/// aligned) or on the left.
pub fn pad(s: &str, width: usize, left: bool) -> String {
    let n = s.chars().count();
    let fill = " ".repeat(width.saturating_sub(n));
    if left {
        format!("{s}{fill}")
    } else {
        format!("{fill}{s}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_only_what_needs_it() {
        assert_eq!(csv_field("resnet50-1"), "resnet50-1");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("two\nlines"), "\"two\nlines\"");
        assert_eq!(csv_field(" x"), "\" x\"");
        let mut r = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader("\"a,b\",\"say \"\"hi\"\"\"\n".as_bytes());
        let rec = r.records().next().unwrap().unwrap();
        assert_eq!((&rec[0], &rec[1]), ("a,b", "say \"hi\""));
    }

    #[test]
    fn pads_beyond_what_format_allows() {
        assert_eq!(pad("ab", 4, true), "ab  ");
        assert_eq!(pad("ab", 4, false), "  ab");
        assert_eq!(pad("abc", 2, true), "abc");
        assert_eq!(pad("x", 70_000, true).len(), 70_000);
    }
}
