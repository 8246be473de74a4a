//! Figures for people: the drawing rules shared by the simulation report
//! (`sim::chart`) and `planscale forecast --out` (plotters' SVG backend: no
//! fonts, scripts or system libraries; the SVG names only the generic
//! `sans-serif` family, so it references nothing outside itself).
//!
//! The rules (docs/ARCHITECTURE.md, "Report"): the Okabe–Ito colour-blind-safe
//! palette, one colour per strategy everywhere; step lines for quantities
//! that hold between samples; planscale drawn last (on top) and thicker;
//! legends in their own strip above the panels, never over data; times in
//! the clinic's time zone.

use chrono::{DateTime, TimeDelta, Utc};
use chrono_tz::Tz;
use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

/// A figure could not be drawn (plotters' error, as text).
#[derive(Debug, thiserror::Error)]
#[error("cannot draw the figure: {0}")]
pub struct Error(pub String);

pub type Result<T> = std::result::Result<T, Error>;

/// Turns any drawing error into [`Error`].
pub fn err<E: std::fmt::Display>(e: E) -> Error {
    Error(e.to_string())
}

/// Okabe & Ito (2008), "Color Universal Design": distinguishable with every
/// common colour-vision deficiency.
pub mod palette {
    use plotters::style::RGBColor;
    pub const BLUE: RGBColor = RGBColor(0, 114, 178);
    pub const VERMILLION: RGBColor = RGBColor(213, 94, 0);
    pub const PURPLE: RGBColor = RGBColor(204, 121, 167);
    pub const GREEN: RGBColor = RGBColor(0, 158, 115);
    pub const ORANGE: RGBColor = RGBColor(230, 159, 0);
    pub const SKY: RGBColor = RGBColor(86, 180, 233);
    /// Demand (work arriving): a neutral fill behind the lines.
    pub const DEMAND: RGBColor = RGBColor(200, 200, 200);
    pub const INK: RGBColor = RGBColor(0, 0, 0);
    pub const GRID: RGBColor = RGBColor(235, 235, 235);
    /// SKY at 45 % on white: the forecast's quantile band.
    pub const BAND: RGBColor = RGBColor(179, 221, 245);
    /// Periods without booked appointments.
    pub const CLOSED: RGBColor = RGBColor(238, 238, 238);
}

/// The colour of a strategy by name: planscale blue, the HPA vermillion,
/// static purple, the oracle green; anything else orange, then sky blue.
pub fn strategy_colour(name: &str, index: usize) -> RGBColor {
    match name.split(':').next().unwrap_or(name) {
        "predictive" => palette::BLUE,
        "hpa" => palette::VERMILLION,
        "static" => palette::PURPLE,
        "oracle" => palette::GREEN,
        _ if index % 2 == 0 => palette::ORANGE,
        _ => palette::SKY,
    }
}

/// Line width of a strategy: planscale's line is the one to read.
pub fn strategy_width(name: &str) -> u32 {
    if name == "predictive" { 3 } else { 2 }
}

/// Font sizes (px), chosen to stay readable when a 1400-px figure is shown
/// at page width.
pub const TITLE: u32 = 25;
pub const CAPTION: u32 = 21;
pub const LABEL: u32 = 17;

/// x in hours since `origin`, labelled in the clinic's time zone.
#[derive(Debug, Clone, Copy)]
pub struct TimeAxis {
    pub origin: DateTime<Utc>,
    pub tz: Tz,
    /// chrono format of a label, e.g. `%H:%M` or `%a %d %b`.
    pub format: &'static str,
}

impl TimeAxis {
    /// The instant `hours` after the origin.
    pub fn at(&self, hours: f64) -> DateTime<Utc> {
        self.origin + TimeDelta::seconds((hours * 3600.0).round() as i64)
    }

    pub fn label(&self, hours: &f64) -> String {
        self.at(*hours)
            .with_timezone(&self.tz)
            .format(self.format)
            .to_string()
    }

    /// Hours from the origin to `t`.
    pub fn hours(&self, t: DateTime<Utc>) -> f64 {
        (t - self.origin).num_seconds() as f64 / 3600.0
    }
}

/// Points of a step line: `values[i]` holds from `x0 + i·dx` to `x0 + (i+1)·dx`.
/// Runs of equal values become one segment (smaller files, same picture).
pub fn step_points(x0: f64, dx: f64, values: impl IntoIterator<Item = f64>) -> Vec<(f64, f64)> {
    let mut pts: Vec<(f64, f64)> = Vec::new();
    let mut last = None;
    let mut n = 0usize;
    for (i, v) in values.into_iter().enumerate() {
        let x = x0 + i as f64 * dx;
        if last != Some(v) {
            if let Some(prev) = last {
                pts.push((x, prev));
            }
            pts.push((x, v));
            last = Some(v);
        }
        n = i + 1;
    }
    if let Some(prev) = last {
        pts.push((x0 + n as f64 * dx, prev));
    }
    pts
}

/// How a legend entry is drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mark {
    Line(u32),
    Dashed(u32),
    Fill,
    Dot,
}

/// One legend entry.
#[derive(Debug, Clone)]
pub struct LegendItem {
    pub label: String,
    pub colour: RGBColor,
    pub mark: Mark,
}

impl LegendItem {
    pub fn new(label: impl Into<String>, colour: RGBColor, mark: Mark) -> Self {
        LegendItem {
            label: label.into(),
            colour,
            mark,
        }
    }
}

/// Height (px) of a legend strip of one row.
pub const LEGEND_ROW: u32 = 30;

/// Draw `items` left to right in `area` (a strip above the panels), wrapping
/// to a new row when the width runs out.
pub fn legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    items: &[LegendItem],
) -> Result<()> {
    let (width, _) = area.dim_in_pixel();
    let font = TextStyle::from(("sans-serif", LABEL).into_font());
    let (mut x, mut y) = (60i32, (LEGEND_ROW / 2) as i32);
    for it in items {
        let text_w = area
            .estimate_text_size(&it.label, &font)
            .map(|(w, _)| w as i32)
            .unwrap_or(8 * it.label.len() as i32);
        let w = 34 + text_w + 28;
        if x + w > width as i32 && x > 60 {
            x = 60;
            y += LEGEND_ROW as i32;
        }
        let c = it.colour;
        match it.mark {
            Mark::Line(s) => area
                .draw(&PathElement::new(
                    vec![(x, y), (x + 26, y)],
                    c.stroke_width(s),
                ))
                .map_err(err)?,
            Mark::Dashed(s) => {
                for d in [0, 10, 20] {
                    area.draw(&PathElement::new(
                        vec![(x + d, y), (x + d + 6, y)],
                        c.stroke_width(s),
                    ))
                    .map_err(err)?;
                }
            }
            Mark::Fill => area
                .draw(&Rectangle::new([(x, y - 7), (x + 26, y + 7)], c.filled()))
                .map_err(err)?,
            Mark::Dot => area
                .draw(&Circle::new((x + 13, y), 5, c.filled()))
                .map_err(err)?,
        }
        area.draw(&Text::new(
            it.label.clone(),
            (x + 34, y - (LABEL as i32) / 2),
            font.clone(),
        ))
        .map_err(err)?;
        x += w;
    }
    Ok(())
}

/// Rows a legend of `items` needs in a figure `width` px wide (for sizing the strip).
pub fn legend_rows(items: &[LegendItem], width: u32) -> u32 {
    // A text width estimate of 9 px per character at LABEL size (sans-serif averages ~0.53 em).
    let (mut x, mut rows) = (60u32, 1u32);
    for it in items {
        let w = 34 + (it.label.chars().count() as f64 * 9.0) as u32 + 28;
        if x + w > width && x > 60 {
            x = 60;
            rows += 1;
        }
        x += w;
    }
    rows
}

pub type Panel<'a, 'b> =
    ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// One panel with a caption above it, a y description, light grid lines and
/// x labelled by `axis`.
pub fn panel<'a, 'b>(
    area: &'a DrawingArea<SVGBackend<'b>, Shift>,
    caption: &str,
    x: std::ops::Range<f64>,
    y: std::ops::Range<f64>,
    axis: &TimeAxis,
    x_labels: usize,
    y_desc: &str,
) -> Result<Panel<'a, 'b>> {
    let mut c = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", CAPTION))
        .margin_left(10)
        .margin_right(30)
        .margin_top(4)
        .margin_bottom(4)
        .x_label_area_size(28)
        .y_label_area_size(70)
        .build_cartesian_2d(x, y)
        .map_err(err)?;
    let label_x = |h: &f64| axis.label(h);
    c.configure_mesh()
        .x_labels(x_labels)
        .y_labels(6)
        .x_label_formatter(&label_x)
        .y_label_formatter(&|v: &f64| format_number(*v))
        .y_desc(y_desc)
        .label_style(("sans-serif", LABEL))
        .axis_desc_style(("sans-serif", LABEL))
        .bold_line_style(palette::GRID)
        .light_line_style(TRANSPARENT)
        .draw()
        .map_err(err)?;
    Ok(c)
}

/// A tick label: whole numbers without decimals, others with as few as needed.
pub fn format_number(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{}", v.round() as i64)
    } else if (v * 10.0 - (v * 10.0).round()).abs() < 1e-6 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// A figure title in its own strip.
pub fn title<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, text: &str) -> Result<()> {
    area.draw(&Text::new(
        text.to_string(),
        (20, 8),
        ("sans-serif", TITLE).into_font(),
    ))
    .map_err(err)
}

/// The upper end of a y axis showing values up to `max` (10 % headroom, at
/// least `floor`).
pub fn headroom(max: f64, floor: f64) -> f64 {
    (max * 1.1).max(floor)
}

/// What `planscale forecast --out` draws: recent history, the forecast's
/// point and the policy's quantile as a band above it, the periods without
/// booked appointments, and the appointments as marks.
#[derive(Debug, Clone)]
pub struct ForecastFigure {
    pub title: String,
    pub unit: String,
    pub tz: Tz,
    /// Seconds per value of `history`, `point` and `quantile`.
    pub step_secs: i64,
    /// Start of `history`; the forecast starts where it ends.
    pub history_start: DateTime<Utc>,
    /// Demand units per step.
    pub history: Vec<f64>,
    pub point: Vec<f64>,
    pub quantile: Vec<f64>,
    pub quantile_level: f64,
    /// Intervals with no booked appointment within the policy's lag.
    pub closed: Vec<(DateTime<Utc>, DateTime<Utc>)>,
    /// Appointment starts and types in the figure's span.
    pub appointments: Vec<(DateTime<Utc>, String)>,
}

/// The parts of `[from, to)` that no interval covers, in order.
pub fn uncovered(
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    intervals: &[(DateTime<Utc>, DateTime<Utc>)],
) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    let mut sorted = intervals.to_vec();
    sorted.sort();
    let mut out = Vec::new();
    let mut at = from;
    for (a, b) in sorted {
        if b <= at {
            continue;
        }
        if a >= to {
            break;
        }
        if a > at {
            out.push((at, a));
        }
        at = at.max(b);
    }
    if at < to {
        out.push((at, to));
    }
    out
}

/// Render a [`ForecastFigure`] as SVG (1400 × 620 px).
pub fn forecast_svg(f: &ForecastFigure) -> Result<String> {
    let mut svg = String::new();
    {
        let (w, h) = (1400u32, 620u32);
        let root = SVGBackend::with_string(&mut svg, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let (head, rest) = root.split_vertically(40);
        title(&head, &f.title)?;
        let p = f.quantile_level * 100.0;
        let mut items = vec![
            LegendItem::new(
                format!("recorded demand ({}/min)", f.unit),
                palette::INK,
                Mark::Line(2),
            ),
            LegendItem::new("point forecast", palette::BLUE, Mark::Line(3)),
            LegendItem::new(
                format!("up to the p{p:.0} forecast (what planscale provisions for)"),
                palette::BAND,
                Mark::Fill,
            ),
        ];
        if !f.closed.is_empty() {
            items.push(LegendItem::new(
                "no appointments booked",
                palette::CLOSED,
                Mark::Fill,
            ));
        }
        if !f.appointments.is_empty() {
            items.push(LegendItem::new(
                "booked appointment (CT/MR simulation)",
                palette::ORANGE,
                Mark::Line(2),
            ));
        }
        let rows = legend_rows(&items, w);
        let (strip, body) = rest.split_vertically(rows * LEGEND_ROW + 6);
        legend(&strip, &items)?;
        // 15-minute means (of whole steps): the 5-minute values of a
        // schedule-driven forecast flicker too much to read.
        let k = (900 / f.step_secs).max(1) as usize;
        let mean = |v: &[f64]| -> Vec<f64> {
            v.chunks(k)
                .map(|c| {
                    c.iter()
                        .map(|x| if x.is_finite() { *x } else { 0.0 })
                        .sum::<f64>()
                        / c.len() as f64
                })
                .collect()
        };
        let (history, point, quantile) = (mean(&f.history), mean(&f.point), mean(&f.quantile));
        let per_min = 60.0 / f.step_secs as f64;
        let step_h = f.step_secs as f64 / 3600.0;
        let dx = k as f64 * step_h;
        let axis = TimeAxis {
            origin: f.history_start,
            tz: f.tz,
            format: "%a %H:%M",
        };
        let split = f.history.len() as f64 * step_h;
        let end = split + f.point.len() as f64 * step_h;
        let ymax = history
            .iter()
            .chain(&quantile)
            .filter(|v| v.is_finite())
            .fold(0.0f64, |m, v| m.max(*v))
            * per_min;
        let ymax = headroom(ymax, 0.5);
        let (tz_name, unit) = (f.tz.name(), &f.unit);
        let mut c = panel(
            &body,
            &format!(
                "demand, {unit} per minute (15-minute means; times in {tz_name}); the forecast starts at the vertical line"
            ),
            0.0..end,
            0.0..ymax,
            &axis,
            16,
            &format!("{unit}/min"),
        )?;
        let closed_style = palette::CLOSED.filled();
        c.draw_series(f.closed.iter().map(|(a, b)| {
            let (a, b) = (axis.hours(*a).max(0.0), axis.hours(*b).min(end));
            Rectangle::new([(a, 0.0), (b, ymax)], closed_style)
        }))
        .map_err(err)?;
        let band_top = step_points(split, dx, quantile.iter().map(|v| v * per_min));
        let band_bottom = step_points(split, dx, point.iter().map(|v| v * per_min));
        let mut polygon = band_top.clone();
        polygon.extend(band_bottom.iter().rev());
        c.draw_series(std::iter::once(Polygon::new(
            polygon,
            palette::BAND.filled(),
        )))
        .map_err(err)?;
        let hist = history.iter().map(|v| v * per_min);
        c.draw_series(LineSeries::new(
            step_points(0.0, dx, hist),
            palette::INK.stroke_width(2),
        ))
        .map_err(err)?;
        c.draw_series(LineSeries::new(band_bottom, palette::BLUE.stroke_width(3)))
            .map_err(err)?;
        c.draw_series(LineSeries::new(
            [(split, 0.0), (split, ymax)],
            palette::INK.stroke_width(1),
        ))
        .map_err(err)?;
        // Appointments as short marks along the top of the panel, clear of the data.
        let mark = ymax * 0.95;
        c.draw_series(f.appointments.iter().filter_map(|(t, _)| {
            let x = axis.hours(*t);
            (0.0..=end).contains(&x).then(|| {
                PathElement::new(vec![(x, mark), (x, ymax)], palette::ORANGE.stroke_width(2))
            })
        }))
        .map_err(err)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_points_hold_each_value_until_the_next_and_merge_equal_runs() {
        assert_eq!(
            step_points(0.0, 1.0, [1.0, 1.0, 2.0]),
            vec![(0.0, 1.0), (2.0, 1.0), (2.0, 2.0), (3.0, 2.0)]
        );
        assert!(step_points(0.0, 1.0, []).is_empty());
    }

    #[test]
    fn uncovered_is_what_no_interval_reaches() {
        use chrono::TimeZone;
        let t = |h: u32| Utc.with_ymd_and_hms(2026, 4, 20, h, 0, 0).unwrap();
        let booked = [(t(9), t(11)), (t(8), t(10)), (t(14), t(15)), (t(20), t(23))];
        assert_eq!(
            uncovered(t(6), t(22), &booked),
            vec![(t(6), t(8)), (t(11), t(14)), (t(15), t(20))]
        );
        assert_eq!(uncovered(t(6), t(7), &[]), vec![(t(6), t(7))]);
    }

    #[test]
    fn strategies_keep_their_colour_wherever_they_are_listed() {
        assert_eq!(strategy_colour("predictive", 3), palette::BLUE);
        assert_eq!(strategy_colour("static:10", 0), palette::PURPLE);
        assert_ne!(strategy_colour("hpa", 0), strategy_colour("oracle", 0));
    }

    #[test]
    fn a_time_axis_labels_in_the_clinics_zone() {
        use chrono::TimeZone;
        let axis = TimeAxis {
            origin: Utc.with_ymd_and_hms(2026, 3, 15, 23, 0, 0).unwrap(),
            tz: chrono_tz::Europe::Berlin,
            format: "%a %H:%M",
        };
        assert_eq!(axis.label(&8.0), "Mon 08:00");
    }
}
