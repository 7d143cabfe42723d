//! Drawing a `Figure` on a plotters backend: a title strip, a legend strip
//! (wrapped to the width), then the panels in a grid. Every size is in SVG
//! pixels times a scale, so the PNG is the SVG at a higher resolution.

use crate::palette::{Shape, color, shape};
use crate::{BarPanel, Figure, LegendEntry, LinePanel, Panel, PlotError};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

const PANEL: (u32, u32) = (520, 380);
const GRID: RGBColor = RGBColor(226, 226, 226);
const GREY: RGBColor = RGBColor(110, 110, 110);

fn err<E: std::fmt::Display>(e: E) -> PlotError {
    PlotError(format!("drawing failed: {e}"))
}

/// Sizes scaled for one backend.
#[derive(Clone, Copy)]
struct Sz(f64);

impl Sz {
    fn px(self, v: f64) -> i32 {
        (v * self.0).round() as i32
    }
    fn upx(self, v: f64) -> u32 {
        (v * self.0).round().max(1.0) as u32
    }
    fn font(self, size: f64) -> FontDesc<'static> {
        FontDesc::new(FontFamily::SansSerif, size * self.0, FontStyle::Normal)
    }
}

fn legend_entries(fig: &Figure) -> Vec<LegendEntry> {
    if !fig.legend.is_empty() {
        return fig.legend.clone();
    }
    let mut out: Vec<LegendEntry> = Vec::new();
    let mut add = |e: LegendEntry| {
        if !out.iter().any(|o| o.label == e.label && o.color == e.color) {
            out.push(e);
        }
    };
    for p in &fig.panels {
        match p {
            Panel::Lines(l) => {
                for s in &l.series {
                    if !s.label.is_empty() && !s.unlisted {
                        add(LegendEntry {
                            label: s.label.clone(),
                            color: s.color,
                            boxed: false,
                            dashed: s.dashed,
                        });
                    }
                }
            }
            Panel::Bars(b) => {
                for s in &b.bars {
                    add(LegendEntry {
                        label: s.label.clone(),
                        color: s.color,
                        boxed: true,
                        dashed: false,
                    });
                }
            }
        }
    }
    out
}

/// Legend entries laid out in rows: (entry, x) per row.
fn legend_rows(entries: &[LegendEntry], width: u32, z: Sz) -> Vec<Vec<(usize, i32)>> {
    let font = z.font(17.0);
    let mut rows: Vec<Vec<(usize, i32)>> = vec![];
    let mut x = z.px(12.0);
    let mut row = vec![];
    for (i, e) in entries.iter().enumerate() {
        let tw = font
            .box_size(&e.label)
            .map(|b| b.0 as i32)
            .unwrap_or(8 * e.label.len() as i32);
        let w = z.px(40.0) + tw + z.px(22.0);
        if !row.is_empty() && x + w > width as i32 - z.px(12.0) {
            rows.push(std::mem::take(&mut row));
            x = z.px(12.0);
        }
        row.push((i, x));
        x += w;
    }
    if !row.is_empty() {
        rows.push(row);
    }
    rows
}

struct Layout {
    width: u32,
    height: u32,
    title_h: u32,
    legend_h: u32,
    rows: usize,
    cols: usize,
    entries: Vec<LegendEntry>,
    legend_rows: Vec<Vec<(usize, i32)>>,
}

fn layout(fig: &Figure, z: Sz) -> Layout {
    let cols = fig.columns.max(1).min(fig.panels.len().max(1));
    let rows = fig.panels.len().div_ceil(cols).max(1);
    let (pw, ph) = fig.panel_size.unwrap_or(PANEL);
    let width = z.upx(pw as f64).saturating_mul(cols as u32);
    let entries = legend_entries(fig);
    let legend_rows = legend_rows(&entries, width, z);
    let title_h = if fig.title.is_some() { z.upx(34.0) } else { 0 };
    let legend_h = if entries.is_empty() {
        0
    } else {
        z.upx(8.0)
            .saturating_add(z.upx(26.0).saturating_mul(legend_rows.len() as u32))
    };
    Layout {
        width,
        height: title_h
            .saturating_add(legend_h)
            .saturating_add(z.upx(ph as f64).saturating_mul(rows as u32)),
        title_h,
        legend_h,
        rows,
        cols,
        entries,
        legend_rows,
    }
}

/// The largest image drawn: 2 x 10^8 pixels (600 MB as RGB), at most 10^5 on a side.
const MAX_PIXELS: u64 = 200_000_000;
const MAX_SIDE: u32 = 100_000;

fn check_size(l: &Layout) -> Result<(), PlotError> {
    if l.width > MAX_SIDE || l.height > MAX_SIDE || l.width as u64 * l.height as u64 > MAX_PIXELS {
        return Err(PlotError(format!(
            "the figure would be {} x {} pixels, more than the {MAX_SIDE} per side and {MAX_PIXELS} in all that are drawn: lower the scale or the panel size",
            l.width, l.height
        )));
    }
    Ok(())
}

pub fn svg(fig: &Figure) -> Result<String, PlotError> {
    let z = Sz(1.0);
    let l = layout(fig, z);
    check_size(&l)?;
    let mut s = String::new();
    {
        let root = SVGBackend::with_string(&mut s, (l.width, l.height)).into_drawing_area();
        draw(&root, fig, &l, z)?;
        root.present().map_err(err)?;
    }
    Ok(s)
}

pub fn png(fig: &Figure, path: &std::path::Path, scale: f64) -> Result<(), PlotError> {
    if !(scale.is_finite() && scale > 0.0) {
        return Err(PlotError(format!(
            "the PNG scale must be a positive number, found {scale}"
        )));
    }
    let z = Sz(scale.max(0.25));
    let l = layout(fig, z);
    check_size(&l)?;
    let root = BitMapBackend::new(path, (l.width, l.height)).into_drawing_area();
    draw(&root, fig, &l, z)?;
    root.present().map_err(err)
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    fig: &Figure,
    l: &Layout,
    z: Sz,
) -> Result<(), PlotError> {
    root.fill(&WHITE).map_err(err)?;
    let (top, rest) = root.split_vertically(l.title_h + l.legend_h);
    if let Some(t) = &fig.title {
        top.draw(&Text::new(
            t.clone(),
            (l.width as i32 / 2, z.px(8.0)),
            z.font(22.0)
                .into_text_style(&top)
                .pos(Pos::new(HPos::Center, VPos::Top)),
        ))
        .map_err(err)?;
    }
    for (r, row) in l.legend_rows.iter().enumerate() {
        let yc = l.title_h as i32 + z.px(8.0) + z.px(26.0) * r as i32 + z.px(13.0);
        for &(i, x) in row {
            legend_entry(&top, &l.entries[i], x, yc, z)?;
        }
    }
    let areas = rest.split_evenly((l.rows, l.cols));
    for (p, area) in fig.panels.iter().zip(&areas) {
        match p {
            Panel::Lines(lp) => line_panel(area, lp, z)?,
            Panel::Bars(bp) => bar_panel(area, bp, z)?,
        }
    }
    Ok(())
}

fn legend_entry<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    e: &LegendEntry,
    x: i32,
    yc: i32,
    z: Sz,
) -> Result<(), PlotError> {
    let c = color(e.color);
    if e.boxed {
        area.draw(&Rectangle::new(
            [
                (x + z.px(6.0), yc - z.px(8.0)),
                (x + z.px(30.0), yc + z.px(8.0)),
            ],
            c.filled(),
        ))
        .map_err(err)?;
    } else {
        let style = c.stroke_width(z.upx(2.5));
        if e.dashed {
            for k in 0..3 {
                let a = x + z.px(k as f64 * 12.0);
                area.draw(&PathElement::new(vec![(a, yc), (a + z.px(7.0), yc)], style))
                    .map_err(err)?;
            }
        } else {
            area.draw(&PathElement::new(
                vec![(x, yc), (x + z.px(34.0), yc)],
                style,
            ))
            .map_err(err)?;
        }
        marker(area, (x + z.px(17.0), yc), e.color, z)?;
    }
    area.draw(&Text::new(
        e.label.clone(),
        (x + z.px(40.0), yc),
        z.font(17.0)
            .into_text_style(area)
            .pos(Pos::new(HPos::Left, VPos::Center)),
    ))
    .map_err(err)
}

/// A marker of series colour `i` at a pixel position.
fn marker<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    at: (i32, i32),
    i: usize,
    z: Sz,
) -> Result<(), PlotError> {
    let c = color(i);
    let r = z.px(4.5);
    match shape(i) {
        Shape::Circle => area.draw(&Circle::new(at, r, c.filled())),
        Shape::Square => area.draw(&Rectangle::new(
            [(at.0 - r, at.1 - r), (at.0 + r, at.1 + r)],
            c.filled(),
        )),
        Shape::Triangle => area.draw(&TriangleMarker::new(at, r + z.px(1.0), c.filled())),
        Shape::Cross => area.draw(&Cross::new(at, r, c.stroke_width(z.upx(2.0)))),
    }
    .map_err(err)
}

/// The largest font size up to `size` at which `text` fits in `width` pixels.
fn fit(text: &str, size: f64, width: f64, z: Sz) -> f64 {
    let mut size = size;
    while size > 11.0 {
        match z.font(size).box_size(text) {
            Ok((w, _)) if (w as f64) > width => size -= 1.0,
            _ => break,
        }
    }
    size
}

/// A panel's caption: its title, then its note in parentheses.
fn caption(title: &Option<String>, note: &Option<String>) -> Option<String> {
    match (title, note) {
        (Some(t), Some(n)) => Some(format!("{t} ({n})")),
        (Some(t), None) => Some(t.clone()),
        (None, Some(n)) => Some(n.clone()),
        (None, None) => None,
    }
}

/// The number of decimals that tick labels of a range need.
fn decimals(span: f64) -> usize {
    if !(span.is_finite() && span > 0.0) {
        return 2;
    }
    let step = span / 6.0;
    (-(step.log10().floor())).clamp(0.0, 6.0) as usize
}

fn tick(v: f64, d: usize) -> String {
    let s = format!("{v:.d$}");
    if s.starts_with('-') && s.trim_start_matches(['-', '0', '.']).is_empty() {
        s[1..].to_string()
    } else {
        s
    }
}

fn span(lo: f64, hi: f64, from_zero: bool) -> (f64, f64) {
    let (mut lo, mut hi) = (lo, hi);
    if !(lo.is_finite() && hi.is_finite()) {
        return (0.0, 1.0);
    }
    if from_zero && lo >= 0.0 {
        lo = 0.0;
    }
    if hi - lo < 1e-12 {
        let pad = if hi.abs() > 1e-12 {
            hi.abs() * 0.1
        } else {
            1.0
        };
        return (
            lo - if from_zero && lo == 0.0 { 0.0 } else { pad },
            hi + pad,
        );
    }
    let pad = (hi - lo) * 0.06;
    hi += pad;
    if !(from_zero && lo == 0.0) {
        lo -= pad;
    }
    (lo, hi)
}

/// A panel's chart builder: the margins, label areas and caption every panel kind shares.
fn chart_builder<'a, 'b, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>,
    title: &Option<String>,
    note: &Option<String>,
    z: Sz,
) -> ChartBuilder<'a, 'b, DB> {
    let mut b = ChartBuilder::on(area);
    b.margin_top(z.px(8.0))
        .margin_right(z.px(20.0))
        .margin_left(z.px(4.0))
        .margin_bottom(z.px(4.0))
        .x_label_area_size(z.px(56.0))
        .y_label_area_size(z.px(78.0));
    if let Some(t) = caption(title, note) {
        let size = fit(
            &t,
            19.0,
            area.dim_in_pixel().0 as f64 - z.px(12.0) as f64,
            z,
        );
        b.caption(t, z.font(size));
    }
    b
}

fn line_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    p: &LinePanel,
    z: Sz,
) -> Result<(), PlotError> {
    let xs = p.series.iter().flat_map(|s| s.points.iter().map(|q| q.x));
    let ys = p.series.iter().flat_map(|s| {
        s.points.iter().flat_map(|q| {
            let (lo, hi) = q.band.unwrap_or((q.y, q.y));
            [q.y, lo, hi]
        })
    });
    let fold = |it: &mut dyn Iterator<Item = f64>| {
        it.filter(|v| v.is_finite())
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
                (a.min(v), b.max(v))
            })
    };
    let (x0, x1) = p.x_range.unwrap_or_else(|| {
        let (a, b) = fold(&mut xs.chain(p.vlines.iter().map(|m| m.at)));
        if !(a.is_finite() && b.is_finite()) {
            (0.0, 1.0)
        } else if b - a < 1e-12 {
            (a - 0.5, b + 0.5)
        } else {
            let pad = (b - a) * 0.03;
            (a - pad, b + pad)
        }
    });
    let (y0, y1) = p.y_range.unwrap_or_else(|| {
        let (a, b) = fold(&mut ys.chain(p.hlines.iter().map(|m| m.at)));
        span(a, b, true)
    });
    let mut b = chart_builder(area, &p.title, &p.note, z);
    let mut chart = b.build_cartesian_2d(x0..x1, y0..y1).map_err(err)?;
    let (dx, dy) = (decimals(x1 - x0), decimals(y1 - y0));
    // Whole-number axes (GPUs, batch sizes): a tick at every whole number when few.
    let whole = p
        .series
        .iter()
        .all(|s| s.points.iter().all(|q| q.x.fract() == 0.0))
        && p.x_range.is_none()
        && (x1 - x0) <= 12.0;
    let x_ticks = if whole {
        ((x1 - x0).floor() as usize + 1).max(2)
    } else {
        7
    };
    let fx = |v: &f64| {
        if !whole {
            tick(*v, dx)
        } else if (v - v.round()).abs() < 1e-9 {
            tick(*v, 0)
        } else {
            String::new()
        }
    };
    let fy = |v: &f64| tick(*v, dy);
    chart
        .configure_mesh()
        .x_desc(p.x_label.as_str())
        .y_desc(p.y_label.as_str())
        .axis_desc_style(z.font(18.0))
        .label_style(z.font(15.5))
        .x_labels(x_ticks)
        .y_labels(7)
        .x_label_formatter(&fx)
        .y_label_formatter(&fy)
        .bold_line_style(GRID.stroke_width(z.upx(1.0)))
        .light_line_style(WHITE.mix(0.0))
        .axis_style(BLACK.stroke_width(z.upx(1.2)))
        .draw()
        .map_err(err)?;

    for m in &p.hlines {
        let c = m.color.map(color).unwrap_or(GREY);
        dashed(&mut chart, vec![(x0, m.at), (x1, m.at)], c, m.dotted, z)?;
        if let Some(t) = &m.label {
            // A dotted level (a threshold) is labelled below its left end,
            // a dashed one (a reference) above its right end.
            let (at, off, pos) = if m.dotted {
                (x0, (z.px(4.0), z.px(3.0)), Pos::new(HPos::Left, VPos::Top))
            } else {
                (
                    x1,
                    (-z.px(4.0), -z.px(4.0)),
                    Pos::new(HPos::Right, VPos::Bottom),
                )
            };
            chart
                .draw_series(std::iter::once(
                    EmptyElement::at((at, m.at))
                        + Text::new(t.clone(), off, z.font(14.0).color(&c).pos(pos)),
                ))
                .map_err(err)?;
        }
    }
    for s in &p.series {
        let c = color(s.color);
        // The band: the upper ends left to right, then the lower ends back.
        let banded: Vec<_> = s
            .points
            .iter()
            .filter_map(|q| q.band.map(|b| (q.x, b)))
            .collect();
        if banded.len() >= 2 {
            let mut poly: Vec<(f64, f64)> = banded.iter().map(|&(x, (_, hi))| (x, hi)).collect();
            poly.extend(banded.iter().rev().map(|&(x, (lo, _))| (x, lo)));
            chart
                .draw_series(std::iter::once(Polygon::new(poly, c.mix(0.18).filled())))
                .map_err(err)?;
        } else if let Some(&(x, (lo, hi))) = banded.first() {
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(x, lo), (x, hi)],
                    c.stroke_width(z.upx(1.5)),
                )))
                .map_err(err)?;
        }
    }
    let mut placed: Vec<(i32, i32, i32, i32)> = Vec::new();
    let area = {
        let (xr, yr) = chart.plotting_area().get_pixel_range();
        (xr.start, yr.start, xr.end, yr.end)
    };
    let dots: Vec<(i32, i32)> = p
        .series
        .iter()
        .filter(|s| s.markers)
        .flat_map(|s| s.points.iter().map(|q| (q.x, q.y)))
        .map(|pt| chart.backend_coord(&pt))
        .collect();
    for s in &p.series {
        let c = color(s.color);
        let pts: Vec<(f64, f64)> = s.points.iter().map(|q| (q.x, q.y)).collect();
        if s.line && pts.len() >= 2 {
            if s.dashed {
                dashed(&mut chart, pts.clone(), c, false, z)?;
            } else {
                solid(&mut chart, &pts, c, z)?;
            }
        }
        if s.markers || pts.len() == 1 {
            data_markers(&mut chart, &pts, s.color, z)?;
        }
        // Point labels: points of the series that (nearly) coincide share one
        // label ("0.5, 1"); each label goes to the first place around its
        // point (right or left of it, above or below, then further away)
        // where it stays in the plot and overlaps neither a label already
        // drawn nor another point.
        let mut groups: Vec<((i32, i32), Vec<String>)> = Vec::new();
        for q in s.points.iter().filter(|q| q.label.is_some()) {
            let at = chart.backend_coord(&(q.x, q.y));
            let text = q.label.clone().unwrap_or_default();
            let near = z.px(10.0);
            match groups
                .iter_mut()
                .find(|g| (g.0.0 - at.0).abs() <= near && (g.0.1 - at.1).abs() <= near)
            {
                Some(g) => g.1.push(text),
                None => groups.push((at, vec![text])),
            }
        }
        for (at, texts) in groups {
            let text = texts.join(", ");
            let font = z.font(14.0);
            let (w, h) = font
                .box_size(&text)
                .map(|(w, h)| (w as i32, h as i32))
                .unwrap_or((20, 14));
            let (gap, step) = (z.px(7.0), z.px(16.0));
            let mut best = None;
            'search: for k in 0..4 {
                for right in [true, false] {
                    for up in [true, false] {
                        let x0 = if right { at.0 + gap } else { at.0 - gap - w };
                        let bottom = if up {
                            at.1 - gap - k * step
                        } else {
                            at.1 + gap + h + k * step
                        };
                        let r = (x0, bottom - h, x0 + w, bottom);
                        let inside =
                            r.0 >= area.0 && r.2 <= area.2 && r.1 >= area.1 && r.3 <= area.3;
                        let free = placed.iter().all(|p| !overlap(*p, r))
                            && dots
                                .iter()
                                .all(|&(x, y)| !overlap((x - 3, y - 3, x + 3, y + 3), r));
                        if inside && free {
                            best = Some(r);
                            break 'search;
                        }
                    }
                }
            }
            let r = best.unwrap_or((at.0 + gap, at.1 - gap - h, at.0 + gap + w, at.1 - gap));
            placed.push(r);
            chart
                .plotting_area()
                .strip_coord_spec()
                .draw(&Text::new(
                    text,
                    (r.0 - area.0, r.3 - area.1),
                    font.color(&c).pos(Pos::new(HPos::Left, VPos::Bottom)),
                ))
                .map_err(err)?;
        }
    }
    // Marks at the same x are drawn side by side, a few pixels apart, each
    // over the full height, so that all of them show.
    let x_per_px = (x1 - x0) / (area.2 - area.0).max(1) as f64;
    for (k, m) in p.vlines.iter().enumerate() {
        let c = m.color.map(color).unwrap_or(GREY);
        let same: Vec<usize> = (0..p.vlines.len())
            .filter(|&j| p.vlines[j].at == m.at)
            .collect();
        let (i, n) = (
            same.iter().position(|&j| j == k).unwrap_or(0) as f64,
            same.len() as f64,
        );
        let x = m.at + (i - (n - 1.0) / 2.0) * z.px(5.0) as f64 * x_per_px;
        dashed(&mut chart, vec![(x, y0), (x, y1)], c, m.dotted, z)?;
        if let Some(t) = &m.label {
            chart
                .draw_series(std::iter::once(
                    EmptyElement::at((x, y1))
                        + Text::new(
                            t.clone(),
                            (z.px(4.0), z.px(4.0)),
                            z.font(14.0).color(&c).pos(Pos::new(HPos::Left, VPos::Top)),
                        ),
                ))
                .map_err(err)?;
        }
    }
    Ok(())
}

/// Whether two pixel rectangles (x0, y0, x1, y1) overlap.
fn overlap(a: (i32, i32, i32, i32), b: (i32, i32, i32, i32)) -> bool {
    a.0 < b.2 && b.0 < a.2 && a.1 < b.3 && b.1 < a.3
}

/// A solid line drawn segment by segment with round joins: plotters' bitmap
/// backend strokes wide polylines with miter joins that spike out at sharp
/// turns (plotters issue #549).
fn solid<DB: DrawingBackend>(
    chart: &mut Chart<'_, DB>,
    pts: &[(f64, f64)],
    c: RGBColor,
    z: Sz,
) -> Result<(), PlotError> {
    let w = z.upx(2.5);
    chart
        .draw_series(
            pts.windows(2)
                .map(|s| PathElement::new(vec![s[0], s[1]], c.stroke_width(w))),
        )
        .map_err(err)?;
    let r = (w as f64 / 2.0).round() as i32;
    if r >= 1 {
        chart
            .draw_series(
                pts[1..pts.len() - 1]
                    .iter()
                    .map(|&p| Circle::new(p, r, c.filled())),
            )
            .map_err(err)?;
    }
    Ok(())
}

/// Markers of series colour `i` at data points.
fn data_markers<DB: DrawingBackend>(
    chart: &mut Chart<'_, DB>,
    pts: &[(f64, f64)],
    i: usize,
    z: Sz,
) -> Result<(), PlotError> {
    let c = color(i);
    let r = z.px(4.5);
    let at = pts.iter().map(|&p| EmptyElement::at(p));
    match shape(i) {
        Shape::Circle => chart
            .draw_series(at.map(|e| e + Circle::new((0, 0), r, c.filled())))
            .map(|_| ()),
        Shape::Square => chart
            .draw_series(at.map(|e| e + Rectangle::new([(-r, -r), (r, r)], c.filled())))
            .map(|_| ()),
        Shape::Triangle => chart
            .draw_series(at.map(|e| e + TriangleMarker::new((0, 0), r + z.px(1.0), c.filled())))
            .map(|_| ()),
        Shape::Cross => chart
            .draw_series(at.map(|e| e + Cross::new((0, 0), r, c.stroke_width(z.upx(2.0)))))
            .map(|_| ()),
    }
    .map_err(err)
}

type Chart<'a, DB> = ChartContext<
    'a,
    DB,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

fn dashed<DB: DrawingBackend>(
    chart: &mut Chart<'_, DB>,
    pts: Vec<(f64, f64)>,
    c: RGBColor,
    dotted: bool,
    z: Sz,
) -> Result<(), PlotError> {
    let (size, gap, w) = if dotted {
        (3.0, 4.0, 2.5)
    } else {
        (9.0, 6.0, 2.0)
    };
    chart
        .draw_series(DashedLineSeries::new(
            pts,
            z.upx(size),
            z.upx(gap),
            c.stroke_width(z.upx(w)),
        ))
        .map_err(err)?;
    Ok(())
}

fn bar_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    p: &BarPanel,
    z: Sz,
) -> Result<(), PlotError> {
    let n = p.groups.len().max(1);
    let nb = p.bars.len().max(1);
    let top = p
        .bars
        .iter()
        .flat_map(|b| {
            b.values
                .iter()
                .flatten()
                .map(|&(v, e)| e.map_or(v, |e| e.1.max(v)))
        })
        .chain(p.hlines.iter().map(|m| m.at))
        .filter(|v| v.is_finite())
        .fold(0.0f64, f64::max);
    let (y0, y1) = p.y_range.unwrap_or_else(|| span(0.0, top, true));
    let mut b = chart_builder(area, &p.title, &p.note, z);
    let (x0, x1) = (-0.5, n as f64 - 0.5);
    let mut chart = b.build_cartesian_2d(x0..x1, y0..y1).map_err(err)?;
    let dy = decimals(y1 - y0);
    let groups = p.groups.clone();
    let fx = move |v: &f64| {
        let i = v.round();
        if (v - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < groups.len() {
            groups[i as usize].clone()
        } else {
            String::new()
        }
    };
    let fy = |v: &f64| tick(*v, dy);
    chart
        .configure_mesh()
        .x_desc(p.x_label.as_str())
        .y_desc(p.y_label.as_str())
        .axis_desc_style(z.font(18.0))
        .label_style(z.font(15.5))
        .x_labels(n)
        .y_labels(7)
        .x_label_formatter(&fx)
        .y_label_formatter(&fy)
        .disable_x_mesh()
        .bold_line_style(GRID.stroke_width(z.upx(1.0)))
        .light_line_style(WHITE.mix(0.0))
        .axis_style(BLACK.stroke_width(z.upx(1.2)))
        .draw()
        .map_err(err)?;
    let slot = 0.8 / nb as f64;
    for (bi, s) in p.bars.iter().enumerate() {
        let c = color(s.color);
        for (g, v) in s.values.iter().enumerate().take(n) {
            let Some((v, e)) = *v else { continue };
            let xa = g as f64 - 0.4 + bi as f64 * slot + slot * 0.06;
            let xb = g as f64 - 0.4 + (bi + 1) as f64 * slot - slot * 0.06;
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(xa, 0.0f64.max(y0)), (xb, v.min(y1))],
                    c.filled(),
                )))
                .map_err(err)?;
            if let Some((lo, hi)) = e {
                let xm = (xa + xb) / 2.0;
                let cap = (xb - xa) * 0.3;
                let style = BLACK.stroke_width(z.upx(1.4));
                let (lo, hi) = (lo.max(y0), hi.min(y1));
                chart
                    .draw_series([
                        PathElement::new(vec![(xm, lo), (xm, hi)], style),
                        PathElement::new(vec![(xm - cap, lo), (xm + cap, lo)], style),
                        PathElement::new(vec![(xm - cap, hi), (xm + cap, hi)], style),
                    ])
                    .map_err(err)?;
            }
        }
    }
    for m in &p.hlines {
        let c = m.color.map(color).unwrap_or(GREY);
        chart
            .draw_series(DashedLineSeries::new(
                vec![(x0, m.at), (x1, m.at)],
                z.upx(9.0),
                z.upx(6.0),
                c.stroke_width(z.upx(2.0)),
            ))
            .map_err(err)?;
        if let Some(t) = &m.label {
            chart
                .draw_series(std::iter::once(
                    EmptyElement::at((x1, m.at))
                        + Text::new(
                            t.clone(),
                            (-z.px(4.0), -z.px(4.0)),
                            z.font(14.0)
                                .color(&c)
                                .pos(Pos::new(HPos::Right, VPos::Bottom)),
                        ),
                ))
                .map_err(err)?;
        }
    }
    Ok(())
}
