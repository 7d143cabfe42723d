//! From sweep results to chart data: each panel kind selects the rows of its
//! sweep (a model or the overall rows, the axes pinned by `at`), checks that
//! only the axes it draws still vary, and builds `inferfair_plot` panels.
//! Lines and bars show the mean over seeds and its 95% confidence interval;
//! CDFs pool the seeds; timelines show the first seed.

use super::labels;
use super::spec::{PanelKind, PanelSpec};
use crate::sweep::Sweep;
use crate::sweep::merge::{Group, Results, metric_index, metric_names};
use crate::sweep::point;
use crate::sweep::spec::{fmt_value, value_f64};
use anyhow::{Context, Result, anyhow, bail};
use inferfair_plot::{BarPanel, BarSeries, LinePanel, Mark, Panel, Point, Series};
use std::collections::BTreeMap;
use std::path::Path;

/// A sweep's results, ready to draw from.
pub struct Data<'a> {
    /// The sweep.
    pub sweep: &'a Sweep,
    /// Its merged results.
    pub results: Results,
    /// Its rows grouped over seeds.
    pub groups: Vec<Group>,
    /// Where its point files are.
    pub points_dir: &'a Path,
}

/// Colours of policies, the same in every figure: inferfair, clockwork and
/// fifo have fixed colours; other labels (variants) take colours of
/// `VARIANTS` in order of appearance, none close to a policy's. Models (bars,
/// timelines) take colours of their own palette (`palette::model`) in order
/// of appearance in the figure, so a model has one colour in all its panels
/// and never a policy's.
#[derive(Default)]
pub struct Colors {
    variants: BTreeMap<String, usize>,
    models: BTreeMap<String, usize>,
}

impl Colors {
    /// The colour of a policy label.
    pub fn of(&mut self, label: &str) -> usize {
        if let Some(i) = ["inferfair", "clockwork", "fifo"]
            .iter()
            .position(|b| *b == label)
        {
            return i;
        }
        let n = self.variants.len();
        *self
            .variants
            .entry(label.to_string())
            .or_insert(VARIANTS[n % VARIANTS.len()])
    }

    /// The colour of a model instance.
    pub fn of_model(&mut self, name: &str) -> usize {
        let n = self.models.len();
        *self
            .models
            .entry(name.to_string())
            .or_insert(inferfair_plot::palette::model(n))
    }
}

/// Colours of policy variants (indices of `palette::COLORS`): reddish
/// purple, orange, near black, wine, olive, indigo (sky blue, next to
/// InferFair's blue, and the greens are left out).
const VARIANTS: [usize; 6] = [3, 4, 6, 8, 10, 11];

fn same(a: &toml::Value, b: &toml::Value) -> bool {
    match (value_f64(a), value_f64(b)) {
        (Some(x), Some(y)) if !a.is_bool() && !b.is_bool() => {
            (x - y).abs() <= 1e-9 * x.abs().max(1.0)
        }
        _ => fmt_value(a) == fmt_value(b),
    }
}

impl Data<'_> {
    fn names(&self) -> Vec<String> {
        self.results.grid.axis_names()
    }

    fn axis(&self, name: &str, place: &str) -> Result<usize> {
        let names = self.names();
        names.iter().position(|n| n == name).ok_or_else(|| {
            anyhow!(
                "{place}: no axis `{name}` in sweep `{}` (axes: {})",
                self.sweep.spec.name,
                names.join(", ")
            )
        })
    }

    fn metric(&self, name: &str, place: &str) -> Result<usize> {
        metric_index(name).ok_or_else(|| {
            anyhow!(
                "{place}: unknown metric `{name}` (metrics: {})",
                metric_names().join(", ")
            )
        })
    }

    fn pins(&self, at: &toml::Table, place: &str) -> Result<Vec<(usize, toml::Value)>> {
        at.iter()
            .map(|(k, v)| Ok((self.axis(k, &format!("{place}.at"))?, v.clone())))
            .collect()
    }

    fn point_axes(&self, g: &Group) -> &[Option<toml::Value>] {
        &self.results.grid.points[self.results.rows[g.first].point].axes
    }

    fn label(&self, g: &Group) -> &str {
        &self.results.grid.points[self.results.rows[g.first].point].policy
    }

    /// Groups of model `model` (or `*`) at the pinned axes.
    fn select(&self, model: Option<&str>, pins: &[(usize, toml::Value)]) -> Vec<&Group> {
        self.groups
            .iter()
            .filter(|g| {
                let r = &self.results.rows[g.first];
                let m_ok = match model {
                    Some(m) => r.model == m,
                    None => r.model != "*",
                };
                let axes = self.point_axes(g);
                m_ok && pins
                    .iter()
                    .all(|(i, v)| axes[*i].as_ref().is_none_or(|a| same(a, v)))
            })
            .collect()
    }

    /// Fails if an axis other than `free` takes several values in `sel`.
    fn check_single(&self, sel: &[&Group], free: &[usize], place: &str) -> Result<()> {
        let names = self.names();
        for (i, name) in names.iter().enumerate() {
            if free.contains(&i) {
                continue;
            }
            let mut vals: Vec<String> = sel
                .iter()
                .filter_map(|g| self.point_axes(g)[i].as_ref().map(fmt_value))
                .collect();
            vals.sort();
            vals.dedup();
            if vals.len() > 1 {
                bail!(
                    "{place}: axis `{name}` takes several values here ({}): pin it with at = {{ \"{name}\" = ... }}",
                    vals.join(", ")
                );
            }
        }
        Ok(())
    }

    /// The note of a panel: the axes pinned by `at` and the sweep's
    /// single-valued axes, except those the panel draws along (`free`).
    fn fixed_note(&self, pins: &[(usize, toml::Value)], free: &[usize]) -> Option<String> {
        let names = self.names();
        let mut parts: Vec<(usize, String)> =
            pins.iter().map(|(i, v)| (*i, fmt_value(v))).collect();
        for a in &self.sweep.spec.axes {
            if let (Some(i), [v]) = (names.iter().position(|n| *n == a.name), a.values.as_slice())
                && !free.contains(&i)
                && !parts.iter().any(|p| p.0 == i)
            {
                parts.push((i, fmt_value(v)));
            }
        }
        parts.sort_by_key(|p| p.0);
        (!parts.is_empty()).then(|| {
            parts
                .iter()
                .map(|(i, v)| format!("{} = {v}", names[*i]))
                .collect::<Vec<_>>()
                .join(", ")
        })
    }

    /// A panel's note with the scenario's name in front, unless its title
    /// already names it: every panel says what it ran.
    fn with_scenario(&self, title: &Option<String>, note: Option<String>) -> Option<String> {
        let name = &self.sweep.spec.base.name;
        if title.as_ref().is_some_and(|t| t.contains(name.as_str())) {
            return note;
        }
        Some(match note {
            Some(n) => format!("{name}; {n}"),
            None => name.clone(),
        })
    }

    /// The default value of a policy parameter axis (`policy.NAME.KEY`):
    /// what the policy reports with no `[policy.NAME]` table.
    fn param_default(&self, axis: &str) -> Option<f64> {
        let (policy, key) = axis.strip_prefix("policy.")?.split_once('.')?;
        let mut s = self.sweep.points.first()?.scenario.clone();
        s.file.policy.remove(policy);
        let params = inferfair_sim::policy::build(policy, &s).ok()?.params();
        value_f64(params.get(key)?)
    }

    fn read_point(&self, id: &str) -> Result<point::PointFile> {
        point::read(&point::path(self.points_dir, id))
    }
}

/// A confidence band (lo, hi), if there is one.
type Band = Option<(f64, f64)>;

fn scale(v: f64, percent: bool) -> f64 {
    if percent { v * 100.0 } else { v }
}

/// The 95% interval of a mean, kept within the metric's possible values
/// (every metric is non-negative; fractions are at most 1), then scaled.
fn band(s: &crate::sweep::stats::MeanCi, metric: &str, pct: bool) -> Band {
    s.half_width.map(|_| {
        let (lo, hi) = s.bounds();
        let top = if labels::is_fraction(metric) {
            1.0
        } else {
            f64::INFINITY
        };
        (scale(lo.max(0.0), pct), scale(hi.min(top), pct))
    })
}

/// Builds the panels of one panel spec (a timeline spec may give several).
pub fn panels(d: &Data, p: &PanelSpec, place: &str, colors: &mut Colors) -> Result<Vec<Panel>> {
    match p.kind {
        PanelKind::Lines => lines(d, p, place, colors).map(|x| vec![x]),
        PanelKind::Bars => bars(d, p, place, colors).map(|x| vec![x]),
        PanelKind::Cdf => cdf(d, p, place, colors).map(|x| vec![x]),
        PanelKind::Timeline => timeline(d, p, place, colors),
        PanelKind::Tradeoff => tradeoff(d, p, place, colors).map(|x| vec![x]),
        PanelKind::Ratio => ratio(d, p, place, colors).map(|x| vec![x]),
    }
}

fn range(r: Option<[f64; 2]>) -> Option<(f64, f64)> {
    r.map(|[a, b]| (a, b))
}

fn lines(d: &Data, p: &PanelSpec, place: &str, colors: &mut Colors) -> Result<Panel> {
    let xname = p.x.as_deref().expect("checked when read");
    let xi = d.axis(xname, &format!("{place}.x"))?;
    let yname = p.y.as_deref().unwrap_or("slo_attainment");
    let mi = d.metric(yname, &format!("{place}.y"))?;
    let pct = p.percent.unwrap_or(labels::percent_by_default(yname));
    let pins = d.pins(&p.at, place)?;
    let model = p.model.as_deref().unwrap_or("*");
    let sel = d.select(Some(model), &pins);
    if sel.is_empty() {
        bail!("{place}: no results for model `{model}` at the pinned axes");
    }
    d.check_single(&sel, &[xi], place)?;
    let mut series = Vec::new();
    let mut refs = Vec::new();
    let mut marks = Vec::new();
    for v in &d.sweep.spec.policies {
        let mine: Vec<&&Group> = sel.iter().filter(|g| d.label(g) == v.label).collect();
        if mine.is_empty() {
            continue;
        }
        // (x, mean, band)
        let mut pts: Vec<(f64, f64, Band)> = Vec::new();
        for g in &mine {
            let Some(s) = g.stats[mi] else { continue };
            let band = band(&s, yname, pct);
            match d.point_axes(g)[xi].as_ref().and_then(value_f64) {
                Some(x) => pts.push((x, s.mean, band)),
                None => refs.push((v.label.clone(), colors.of(&v.label), scale(s.mean, pct))),
            }
        }
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
        let color = colors.of(&v.label);
        if let Some(t) = p.mark
            && let Some(x) = first_reach(&pts.iter().map(|q| (q.0, q.1)).collect::<Vec<_>>(), t)
        {
            marks.push(Mark {
                at: x,
                color: Some(color),
                dotted: true,
                label: None,
            });
        }
        if !pts.is_empty() {
            series.push(Series {
                label: v.label.clone(),
                color,
                points: pts
                    .into_iter()
                    .map(|(x, y, band)| Point {
                        band,
                        ..Point::new(x, scale(y, pct))
                    })
                    .collect(),
                line: true,
                markers: true,
                dashed: false,
                unlisted: false,
            });
        }
    }
    // The level the marks are about, and a parameter's default value.
    let mut hlines = Vec::new();
    if let Some(t) = p.mark {
        hlines.push(Mark {
            at: scale(t, pct),
            color: None,
            dotted: true,
            label: Some(if pct {
                format!("{}%", t * 100.0)
            } else {
                format!("{t}")
            }),
        });
    }
    if let Some(v) = d.param_default(xname) {
        marks.push(Mark {
            at: v,
            color: None,
            dotted: false,
            label: Some("default".into()),
        });
    }
    // Policies without the x axis (a parameter of another policy): a dashed level.
    let xs = series.iter().flat_map(|s| s.points.iter().map(|q| q.x));
    let (x0, x1) = xs.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| {
        (a.min(x), b.max(x))
    });
    for (label, color, y) in refs {
        if x0.is_finite() {
            series.push(Series {
                label,
                color,
                points: vec![Point::new(x0, y), Point::new(x1, y)],
                line: true,
                markers: false,
                dashed: true,
                unlisted: false,
            });
        }
    }
    Ok(Panel::Lines(LinePanel {
        title: p.title.clone(),
        x_label: p.x_label.clone().unwrap_or_else(|| labels::axis(xname)),
        y_label: p
            .y_label
            .clone()
            .unwrap_or_else(|| labels::metric(yname, pct)),
        series,
        x_range: range(p.x_range),
        y_range: range(p.y_range),
        vlines: marks,
        hlines,
        note: d.with_scenario(&p.title, d.fixed_note(&pins, &[xi])),
    }))
}

/// Where a curve first reaches `t`, read from the side where it is met:
/// for a falling curve (e.g. attainment against load) the largest x up to
/// which every point is at least `t`; for a rising one (e.g. against the
/// number of GPUs) the smallest x from which every point is at least `t`.
pub fn first_reach(pts: &[(f64, f64)], t: f64) -> Option<f64> {
    let (first, last) = (pts.first()?, pts.last()?);
    if first.1 >= last.1 {
        let k = pts.iter().take_while(|q| q.1 >= t).count();
        (k > 0).then(|| pts[k - 1].0)
    } else {
        let k = pts.iter().rev().take_while(|q| q.1 >= t).count();
        (k > 0).then(|| pts[pts.len() - k].0)
    }
}

fn bars(d: &Data, p: &PanelSpec, place: &str, colors: &mut Colors) -> Result<Panel> {
    let yname = p.y.as_deref().unwrap_or("normalized_goodput");
    let mi = d.metric(yname, &format!("{place}.y"))?;
    let pct = p.percent.unwrap_or(labels::percent_by_default(yname));
    let pins = d.pins(&p.at, place)?;
    let sel = d.select(None, &pins);
    if sel.is_empty() {
        bail!("{place}: no per-model results at the pinned axes");
    }
    d.check_single(&sel, &[], place)?;
    let groups: Vec<String> = d
        .sweep
        .spec
        .policies
        .iter()
        .map(|v| v.label.clone())
        .filter(|l| sel.iter().any(|g| d.label(g) == l))
        .collect();
    let mut models: Vec<String> = Vec::new();
    for g in &sel {
        let m = &d.results.rows[g.first].model;
        if !models.contains(m) {
            models.push(m.clone());
        }
    }
    let bars = models
        .iter()
        .map(|m| BarSeries {
            label: m.clone(),
            color: colors.of_model(m),
            values: groups
                .iter()
                .map(|l| {
                    let g = sel
                        .iter()
                        .find(|g| d.label(g) == l && &d.results.rows[g.first].model == m)?;
                    let s = g.stats[mi]?;
                    Some((scale(s.mean, pct), band(&s, yname, pct)))
                })
                .collect(),
        })
        .collect();
    Ok(Panel::Bars(BarPanel {
        title: p.title.clone(),
        x_label: p.x_label.clone().unwrap_or_else(|| "Policy".into()),
        y_label: p
            .y_label
            .clone()
            .unwrap_or_else(|| labels::metric(yname, pct)),
        groups,
        bars,
        y_range: range(p.y_range),
        note: d.with_scenario(&p.title, d.fixed_note(&pins, &[])),
        hlines: if yname == "normalized_goodput" {
            vec![Mark {
                at: 1.0,
                color: None,
                dotted: false,
                label: Some("as alone".into()),
            }]
        } else {
            vec![]
        },
    }))
}

/// The single point (all seeds) of each policy at the pinned axes.
fn points_at<'a>(
    d: &'a Data,
    pins: &[(usize, toml::Value)],
    place: &str,
) -> Result<Vec<(String, Vec<&'a str>)>> {
    let sel = d.select(Some("*"), pins);
    if sel.is_empty() {
        bail!("{place}: no results at the pinned axes");
    }
    d.check_single(&sel, &[], place)?;
    let grid = &d.results.grid;
    Ok(d.sweep
        .spec
        .policies
        .iter()
        .filter_map(|v| {
            let ids: Vec<&str> = grid
                .points
                .iter()
                .filter(|q| {
                    q.policy == v.label
                        && pins
                            .iter()
                            .all(|(i, val)| q.axes[*i].as_ref().is_none_or(|a| same(a, val)))
                })
                .map(|q| q.id.as_str())
                .collect();
            (!ids.is_empty()).then(|| (v.label.clone(), ids))
        })
        .collect())
}

fn model_index(f: &point::PointFile, name: &str, place: &str) -> Result<usize> {
    let models = f.result["models"]
        .as_array()
        .context("a result with models")?;
    models
        .iter()
        .position(|m| m["model"] == name)
        .ok_or_else(|| {
            anyhow!(
                "{place}.model: no model instance `{name}` (there are: {})",
                models
                    .iter()
                    .filter_map(|m| m["model"].as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
}

fn cdf(d: &Data, p: &PanelSpec, place: &str, colors: &mut Colors) -> Result<Panel> {
    let pins = d.pins(&p.at, place)?;
    let pct = p.percent.unwrap_or(true);
    let per_policy = points_at(d, &pins, place)?;
    let mut series = Vec::new();
    let mut slo = None;
    let mut model_name = p.model.clone();
    let mut x_hi: f64 = 0.0;
    for (label, ids) in per_policy {
        // Pool the seeds: F(x) = sum_i n_i F_i(x) / sum_i n_i.
        let mut curves = Vec::new();
        for id in ids {
            let f = d.read_point(id)?;
            let name = model_name.get_or_insert_with(|| {
                f.result["models"][0]["model"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            });
            let mi = model_index(&f, name, place)?;
            let m = &f.result["models"][mi];
            slo = m["slo_ms"].as_f64();
            let n = m["good"].as_f64().unwrap_or(0.0) + m["late"].as_f64().unwrap_or(0.0);
            let c = f.latency_cdf.as_ref().ok_or_else(|| {
                anyhow!(
                    "{place}: sweep `{}` has no latency CDFs: set latency_cdf = true in it",
                    d.sweep.spec.name
                )
            })?;
            curves.push((n, c[mi].clone()));
        }
        let total: f64 = curves.iter().map(|c| c.0).sum();
        if total == 0.0 {
            continue;
        }
        let mut xs: Vec<f64> = curves
            .iter()
            .flat_map(|c| c.1.iter().map(|q| q.0))
            .collect();
        xs.sort_by(f64::total_cmp);
        xs.dedup();
        let at = |c: &[(f64, f64)], x: f64| -> f64 {
            let k = c.partition_point(|q| q.0 <= x);
            if k == 0 { 0.0 } else { c[k - 1].1 }
        };
        let mut pts: Vec<Point> = Vec::new();
        let mut prev = 0.0;
        for x in xs {
            let f: f64 = curves.iter().map(|(n, c)| n * at(c, x)).sum::<f64>() / total;
            pts.push(Point::new(x, scale(prev, pct)));
            pts.push(Point::new(x, scale(f, pct)));
            if prev < 0.999 {
                x_hi = x_hi.max(x);
            }
            prev = f;
        }
        series.push(Series {
            label: label.clone(),
            color: colors.of(&label),
            points: pts,
            line: true,
            markers: false,
            dashed: false,
            unlisted: false,
        });
    }
    let slo_mark = slo.map(|s| Mark {
        at: s,
        color: None,
        dotted: false,
        label: Some("SLO".into()),
    });
    let x_max = x_hi.max(slo.unwrap_or(0.0) * 1.15);
    let note = match (&model_name, d.fixed_note(&pins, &[])) {
        (Some(m), Some(n)) => Some(format!("model {m}; {n}")),
        (Some(m), None) => Some(format!("model {m}")),
        (None, n) => n,
    };
    let note = d.with_scenario(&p.title, note);
    Ok(Panel::Lines(LinePanel {
        title: p.title.clone(),
        x_label: p.x_label.clone().unwrap_or_else(|| "Latency (ms)".into()),
        y_label: p.y_label.clone().unwrap_or_else(|| {
            if pct {
                "Requests completed within x (%)".into()
            } else {
                "Fraction of requests completed within x".into()
            }
        }),
        series,
        x_range: range(p.x_range).or(Some((0.0, x_max))),
        y_range: range(p.y_range).or(Some((0.0, scale(1.02, pct)))),
        vlines: slo_mark.into_iter().collect(),
        hlines: vec![],
        note,
    }))
}

fn timeline(d: &Data, p: &PanelSpec, place: &str, colors: &mut Colors) -> Result<Vec<Panel>> {
    let pins = d.pins(&p.at, place)?;
    let per_policy = points_at(d, &pins, place)?;
    let seed = d.sweep.spec.seeds[0];
    let mut out = Vec::new();
    for (label, ids) in per_policy {
        if p.policy.as_ref().is_some_and(|want| *want != label) {
            continue;
        }
        let grid = &d.results.grid;
        let id = ids
            .iter()
            .find(|id| {
                grid.points
                    .iter()
                    .any(|q| q.id == **id && q.seed == seed && q.policy == label)
            })
            .unwrap_or(&ids[0]);
        let f = d.read_point(id)?;
        let t = f.timeline.as_ref().ok_or_else(|| {
            anyhow!(
                "{place}: sweep `{}` has no timelines: set timeline_bin_s in it",
                d.sweep.spec.name
            )
        })?;
        let names: Vec<String> = f.result["models"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|m| m["model"].as_str().unwrap_or_default().to_string())
                    .collect()
            })
            .unwrap_or_default();
        let at = |g: &[f64]| -> Vec<Point> {
            g.iter()
                .enumerate()
                .map(|(k, &y)| Point::new(t.start_s + (k as f64 + 0.5) * t.bin_s, y))
                .collect()
        };
        // Offered load first, dashed and unlabelled: it shows where goodput falls short of it.
        let mut series: Vec<Series> = t
            .offered_rps
            .iter()
            .zip(&names)
            .map(|(g, name)| Series {
                label: format!("{name} offered"),
                color: colors.of_model(name),
                points: at(g),
                line: true,
                markers: false,
                dashed: true,
                unlisted: true,
            })
            .collect();
        series.extend(t.goodput_rps.iter().zip(&names).map(|(g, name)| Series {
            label: name.clone(),
            color: colors.of_model(name),
            points: at(g),
            line: true,
            markers: false,
            dashed: false,
            unlisted: false,
        }));
        let title = match &p.title {
            Some(t) => format!("{t}: {label}"),
            None => label.clone(),
        };
        let mut note = format!("seed {seed}, {} s bins", t.bin_s);
        if let Some(n) = d.fixed_note(&pins, &[]) {
            note = format!("{n}; {note}");
        }
        let offered = !t.offered_rps.is_empty();
        if offered {
            note.push_str("; dashed: offered");
        }
        let note = d.with_scenario(&p.title, Some(note)).unwrap_or_default();
        out.push(Panel::Lines(LinePanel {
            title: Some(title),
            x_label: p.x_label.clone().unwrap_or_else(|| "Time (s)".into()),
            y_label: p
                .y_label
                .clone()
                .unwrap_or_else(|| "Goodput (req/s)".into()),
            series,
            x_range: range(p.x_range),
            y_range: range(p.y_range),
            vlines: vec![],
            hlines: vec![],
            note: Some(note),
        }));
    }
    if out.is_empty() {
        bail!(
            "{place}.policy: no policy `{}` in the sweep",
            p.policy.clone().unwrap_or_default()
        );
    }
    // One y scale for every policy's panel, so that they compare at a glance.
    if p.y_range.is_none() {
        let top = out
            .iter()
            .flat_map(|panel| match panel {
                Panel::Lines(l) => l
                    .series
                    .iter()
                    .flat_map(|s| s.points.iter().map(|q| q.y))
                    .collect(),
                Panel::Bars(_) => Vec::new(),
            })
            .filter(|y| y.is_finite())
            .fold(0.0f64, f64::max);
        for panel in &mut out {
            if let Panel::Lines(l) = panel {
                l.y_range = Some((0.0, if top > 0.0 { top * 1.06 } else { 1.0 }));
            }
        }
    }
    Ok(out)
}

fn tradeoff(d: &Data, p: &PanelSpec, place: &str, colors: &mut Colors) -> Result<Panel> {
    let knob = p.knob.as_deref().expect("checked when read");
    let ki = d.axis(knob, &format!("{place}.knob"))?;
    let xname = p.x_metric.as_deref().unwrap_or("goodput_rps");
    let yname = p.y.as_deref().unwrap_or("isolation_gap");
    let (xm, ym) = (
        d.metric(xname, &format!("{place}.x_metric"))?,
        d.metric(yname, &format!("{place}.y"))?,
    );
    let (xp, yp) = (
        labels::percent_by_default(xname),
        labels::percent_by_default(yname),
    );
    let pins = d.pins(&p.at, place)?;
    let sel = d.select(Some("*"), &pins);
    if sel.is_empty() {
        bail!("{place}: no results at the pinned axes");
    }
    d.check_single(&sel, &[ki], place)?;
    let default = d.param_default(knob);
    let stp = metric_index("stp");
    let mut series = Vec::new();
    for v in &d.sweep.spec.policies {
        let mut pts: Vec<(Option<f64>, String, f64, f64)> = sel
            .iter()
            .filter(|g| d.label(g) == v.label)
            .filter_map(|g| {
                let k = d.point_axes(g)[ki].clone();
                let (x, y) = (g.stats[xm]?, g.stats[ym]?);
                let kv = k.as_ref().and_then(value_f64);
                let mut label = k.as_ref().map(fmt_value).unwrap_or_default();
                if kv.is_some() && kv == default {
                    label.push_str(" (default)");
                }
                // A policy that serves no model has no gap: say so, lest 0 read as isolation.
                let starved = stp.and_then(|i| g.stats[i]).is_some_and(|s| s.mean < 0.01);
                if starved {
                    label = "every model starved".into();
                }
                Some((kv, label, scale(x.mean, xp), scale(y.mean, yp)))
            })
            .collect();
        if pts.is_empty() {
            continue;
        }
        pts.sort_by(|a, b| a.0.unwrap_or(0.0).total_cmp(&b.0.unwrap_or(0.0)));
        let traced = pts.len() > 1;
        series.push(Series {
            label: if traced {
                format!(
                    "{} (labels: {})",
                    v.label,
                    knob.rsplit('.').next().unwrap_or(knob)
                )
            } else {
                v.label.clone()
            },
            color: colors.of(&v.label),
            points: pts
                .into_iter()
                .map(|(_, k, x, y)| Point {
                    label: (traced || k == "every model starved").then_some(k),
                    ..Point::new(x, y)
                })
                .collect(),
            line: traced,
            markers: true,
            dashed: false,
            unlisted: false,
        });
    }

    Ok(Panel::Lines(LinePanel {
        title: p.title.clone(),
        x_label: p
            .x_label
            .clone()
            .unwrap_or_else(|| labels::metric(xname, xp)),
        y_label: p
            .y_label
            .clone()
            .unwrap_or_else(|| labels::metric(yname, yp)),
        series,
        x_range: range(p.x_range),
        y_range: range(p.y_range),
        vlines: vec![],
        hlines: vec![],
        note: d.with_scenario(&p.title, d.fixed_note(&pins, &[ki])),
    }))
}

/// Ratio panels: the median over the other axes (e.g. `mix_seed`) of the
/// ratio of metric `y` between two policies (`sweep::paired`), per value of
/// `x` (groups) and of `series` (bars), with the quartiles as error bars.
/// An infinite ratio (the second policy's value is 0) is drawn at the top of
/// the panel's y range.
fn ratio(d: &Data, p: &PanelSpec, place: &str, colors: &mut Colors) -> Result<Panel> {
    use crate::sweep::paired;
    let xname = p.x.as_deref().expect("checked when read");
    let yname = p.y.as_deref().unwrap_or("isolation_gap");
    d.metric(yname, &format!("{place}.y"))?;
    let pols = p.policies.as_ref().expect("checked when read");
    let pins = d.pins(&p.at, place)?;
    let xi = d.axis(xname, &format!("{place}.x"))?;
    let si = match &p.series {
        Some(n) => Some(d.axis(n, &format!("{place}.series"))?),
        None => None,
    };
    // Every pair, its cell the values of all axes; keep those at the pinned
    // axes and key them by (x, series).
    let all = paired::pairs(&d.results, &pols[0], &pols[1], &d.names())
        .map_err(|e| anyhow!("{place}: {e}"))?;
    let kept: Vec<paired::Pair> = all
        .into_iter()
        .filter(|q| pins.iter().all(|(i, v)| q.cell[*i] == fmt_value(v)))
        .map(|q| paired::Pair {
            alone_a: q.alone_a,
            cell: vec![
                q.cell[xi].clone(),
                si.map(|i| q.cell[i].clone()).unwrap_or_default(),
            ],
            ..q
        })
        .collect();
    if kept.is_empty() {
        bail!(
            "{place}: no pairs of {} and {} at the pinned axes",
            pols[0],
            pols[1]
        );
    }
    let mut groups: Vec<String> = Vec::new();
    let mut bars: Vec<String> = Vec::new();
    for q in &kept {
        if !groups.contains(&q.cell[0]) {
            groups.push(q.cell[0].clone());
        }
        if !bars.contains(&q.cell[1]) {
            bars.push(q.cell[1].clone());
        }
    }
    let num = |s: &String| s.parse::<f64>().unwrap_or(f64::NAN);
    groups.sort_by(|a, b| num(a).total_cmp(&num(b)));
    bars.sort_by(|a, b| num(a).total_cmp(&num(b)));
    let top = p.y_range.map(|r| r[1]);
    let clip = |v: f64| match top {
        Some(t) if v > t => t,
        _ if v.is_infinite() => f64::MAX,
        _ => v,
    };
    let series_name = p.series.as_deref().unwrap_or("");
    let bar_series = bars
        .iter()
        .map(|b| BarSeries {
            label: if series_name.is_empty() {
                format!("{} / {}", pols[0], pols[1])
            } else {
                format!("{} = {b}", labels::short_axis(series_name))
            },
            color: colors.of_model(&format!("{series_name}={b}")),
            values: groups
                .iter()
                .map(|g| {
                    let cell: Vec<&paired::Pair> = kept
                        .iter()
                        .filter(|q| &q.cell[0] == g && &q.cell[1] == b)
                        .collect();
                    let s = paired::spread(&paired::ratios(&cell, yname))?;
                    Some((clip(s[2]), Some((clip(s[1]), clip(s[3])))))
                })
                .collect(),
        })
        .collect();
    Ok(Panel::Bars(BarPanel {
        title: p.title.clone(),
        x_label: p.x_label.clone().unwrap_or_else(|| labels::axis(xname)),
        y_label: p.y_label.clone().unwrap_or_else(|| {
            format!(
                "{} / {}: {}",
                pols[0],
                pols[1],
                labels::metric(yname, false)
            )
        }),
        groups,
        bars: bar_series,
        y_range: range(p.y_range),
        note: d.fixed_note(&pins, &[xi]),
        hlines: vec![Mark {
            at: 1.0,
            color: None,
            dotted: false,
            label: Some("equal".into()),
        }],
    }))
}
