//! `inferfair-plot`: paper-style figures, drawn with plotters to PNG and SVG
//! with an embedded font (DejaVu Sans, `fonts/`), so no system font is
//! needed. A [`Figure`] is plain data (panels of lines with confidence bands,
//! or grouped bars): this crate knows nothing of the simulator; the
//! `inferfair figures` command turns sweep results into figures.
#![warn(missing_docs)]

mod draw;
pub mod palette;

use std::path::Path;

/// A figure: a title, a shared legend, and panels laid out in a grid.
#[derive(Clone, Debug, Default)]
pub struct Figure {
    /// Title above everything (optional: papers put it in the caption).
    pub title: Option<String>,
    /// Panels per row (at least 1).
    pub columns: usize,
    /// The panels, row by row.
    pub panels: Vec<Panel>,
    /// The legend above the panels; empty: every distinct series or bar
    /// label of the panels, in order of appearance.
    pub legend: Vec<LegendEntry>,
    /// Size of one panel in SVG pixels (PNG: times the scale); default 520 x 380.
    pub panel_size: Option<(u32, u32)>,
}

/// One entry of the legend.
#[derive(Clone, Debug, PartialEq)]
pub struct LegendEntry {
    /// Text.
    pub label: String,
    /// Palette index (`palette::color`).
    pub color: usize,
    /// Drawn as a filled box (bars) instead of a line with a marker.
    pub boxed: bool,
    /// Dashed line.
    pub dashed: bool,
}

/// A panel of a figure.
#[derive(Clone, Debug)]
pub enum Panel {
    /// Lines (with optional bands and markers) over a numeric x axis.
    Lines(LinePanel),
    /// Grouped bars over named groups.
    Bars(BarPanel),
}

/// Lines over a numeric x axis.
#[derive(Clone, Debug, Default)]
pub struct LinePanel {
    /// Panel title (e.g. "(a) vs rate scale").
    pub title: Option<String>,
    /// X axis label, with its unit.
    pub x_label: String,
    /// Y axis label, with its unit.
    pub y_label: String,
    /// The lines.
    pub series: Vec<Series>,
    /// X range (default: the data's).
    pub x_range: Option<(f64, f64)>,
    /// Y range (default: the data's, from 0 when all values are non-negative).
    pub y_range: Option<(f64, f64)>,
    /// Vertical marks.
    pub vlines: Vec<Mark>,
    /// Horizontal marks (reference levels).
    pub hlines: Vec<Mark>,
    /// A short text shown after the title, in parentheses (e.g. the fixed parameters).
    pub note: Option<String>,
}

/// A vertical or horizontal reference line.
#[derive(Clone, Debug, PartialEq)]
pub struct Mark {
    /// Position on its axis.
    pub at: f64,
    /// Palette index, or `None` for grey.
    pub color: Option<usize>,
    /// Dotted (true) or dashed.
    pub dotted: bool,
    /// A short text next to it.
    pub label: Option<String>,
}

/// One line of a line panel.
#[derive(Clone, Debug, Default)]
pub struct Series {
    /// Legend text.
    pub label: String,
    /// Palette index.
    pub color: usize,
    /// The points, in drawing order.
    pub points: Vec<Point>,
    /// Join the points with a line.
    pub line: bool,
    /// Draw a marker at each point.
    pub markers: bool,
    /// Dashed line.
    pub dashed: bool,
    /// Left out of the legend (e.g. a reference drawn beside a listed series).
    pub unlisted: bool,
}

/// A point of a series, with an optional confidence band and label.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Point {
    /// X.
    pub x: f64,
    /// Y.
    pub y: f64,
    /// Lower and upper ends of the band at x (drawn as a shaded area).
    pub band: Option<(f64, f64)>,
    /// A short text next to the point.
    pub label: Option<String>,
}

impl Point {
    /// A plain point.
    pub fn new(x: f64, y: f64) -> Self {
        Point {
            x,
            y,
            ..Default::default()
        }
    }
}

/// Grouped bars: one group per name, one bar per bar series in each group.
#[derive(Clone, Debug, Default)]
pub struct BarPanel {
    /// Panel title.
    pub title: Option<String>,
    /// Label under the groups.
    pub x_label: String,
    /// Y axis label, with its unit.
    pub y_label: String,
    /// Group names (x axis).
    pub groups: Vec<String>,
    /// The bar series: one bar in every group each.
    pub bars: Vec<BarSeries>,
    /// Y range (default: from 0 to the data's maximum).
    pub y_range: Option<(f64, f64)>,
    /// Horizontal marks (e.g. 1 = as good as alone).
    pub hlines: Vec<Mark>,
    /// A short text shown after the title, in parentheses.
    pub note: Option<String>,
}

/// One bar series: its value in each group.
#[derive(Clone, Debug, Default)]
pub struct BarSeries {
    /// Legend text.
    pub label: String,
    /// Palette index.
    pub color: usize,
    /// Per group: the bar, or `None` for no bar.
    pub values: Vec<Option<BarValue>>,
}

/// A bar: its value and an optional error interval (lo, hi).
pub type BarValue = (f64, Option<(f64, f64)>);

/// A drawing error (plotters' or the file system's).
#[derive(Debug)]
pub struct PlotError(pub String);

impl std::fmt::Display for PlotError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PlotError {}

/// The embedded font.
static FONT: &[u8] = include_bytes!("../fonts/DejaVuSans.ttf");

/// Registers the embedded font as "sans-serif" (once; later calls do nothing).
pub fn register_font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if plotters::style::register_font("sans-serif", plotters::style::FontStyle::Normal, FONT)
            .is_err()
        {
            panic!("the embedded DejaVu Sans font is valid");
        }
    });
}

/// The figure as an SVG document.
pub fn render_svg(fig: &Figure) -> Result<String, PlotError> {
    register_font();
    draw::svg(fig)
}

/// The figure as a PNG file written directly at `path` (whose name must end
/// in `.png`), `scale` pixels per SVG pixel. A figure larger than 2 x 10^8
/// pixels is an error.
pub fn render_png_file(fig: &Figure, path: &Path, scale: f64) -> Result<(), PlotError> {
    register_font();
    draw::png(fig, path, scale)
}

/// The figure as a PNG file at `path`, `scale` pixels per SVG pixel (2 gives
/// print resolution). Written whole or not at all (a temporary file renamed).
pub fn render_png(fig: &Figure, path: &Path, scale: f64) -> Result<(), PlotError> {
    register_font();
    let name = path
        .file_name()
        .ok_or_else(|| PlotError(format!("{}: not a file name", path.display())))?
        .to_string_lossy()
        .into_owned();
    let tmp = path.with_file_name(format!(".{name}.{}.tmp.png", std::process::id()));
    let r = draw::png(fig, &tmp, scale).and_then(|_| {
        std::fs::rename(&tmp, path).map_err(|e| {
            PlotError(format!(
                "cannot rename {} to {}: {e}",
                tmp.display(),
                path.display()
            ))
        })
    });
    if r.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Figure {
        let series = |label: &str, color: usize, f: fn(f64) -> f64| Series {
            label: label.into(),
            color,
            points: (0..8)
                .map(|i| {
                    let x = 0.25 * (i + 1) as f64;
                    Point {
                        band: Some((f(x) - 3.0, f(x) + 3.0)),
                        ..Point::new(x, f(x))
                    }
                })
                .collect(),
            line: true,
            markers: true,
            dashed: false,
            unlisted: false,
        };
        Figure {
            title: Some("Sample".into()),
            columns: 2,
            panels: vec![
                Panel::Lines(LinePanel {
                    title: Some("(a) lines".into()),
                    x_label: "Rate scale (×)".into(),
                    y_label: "Goodput (req/s)".into(),
                    series: vec![
                        series("fifo", 0, |x| 100.0 * x.min(1.0)),
                        series("clockwork", 1, |x| 90.0 * x.min(1.2)),
                    ],
                    vlines: vec![Mark {
                        at: 1.0,
                        color: Some(0),
                        dotted: true,
                        label: Some("99%".into()),
                    }],
                    note: Some("seed 1".into()),
                    ..Default::default()
                }),
                Panel::Bars(BarPanel {
                    title: Some("(b) bars".into()),
                    x_label: "Policy".into(),
                    y_label: "Normalized goodput".into(),
                    groups: vec!["fifo".into(), "clockwork".into()],
                    bars: vec![
                        BarSeries {
                            label: "small".into(),
                            color: 2,
                            values: vec![Some((0.5, Some((0.4, 0.6)))), Some((0.9, None))],
                        },
                        BarSeries {
                            label: "big".into(),
                            color: 3,
                            values: vec![Some((1.0, None)), None],
                        },
                    ],
                    hlines: vec![Mark {
                        at: 1.0,
                        color: None,
                        dotted: false,
                        label: Some("alone".into()),
                    }],
                    ..Default::default()
                }),
            ],
            ..Default::default()
        }
    }

    #[test]
    fn renders_svg_and_png() {
        let fig = sample();
        let svg = render_svg(&fig).unwrap();
        assert!(
            svg.starts_with("<svg") && svg.contains("Goodput (req/s)") && svg.contains("clockwork")
        );
        let dir = std::env::temp_dir().join(format!("inferfair-plot-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let png = dir.join("sample.png");
        render_png(&fig, &png, 2.0).unwrap();
        let bytes = std::fs::read(&png).unwrap();
        assert_eq!(&bytes[1..4], b"PNG");
        assert!(bytes.len() > 10_000);
        if std::env::var_os("INFERFAIR_KEEP_PLOT").is_none() {
            std::fs::remove_dir_all(&dir).unwrap();
        }
    }
}
