//! `chart.svg`: demand, requested replicas per strategy and the longest queue
//! wait over time, in three stacked panels (plotters' SVG backend: no fonts
//! or system libraries needed).

use chrono::TimeDelta;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use super::{BUCKET_SECS, Report};

/// Colours per strategy, in report order.
const COLOURS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(127, 127, 127),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(255, 127, 14),
];

type Panel<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// One panel: caption, axes from 0 to `days` and 0 to `ymax`, dates on x.
fn panel<'a, 'b>(
    area: &'a DrawingArea<SVGBackend<'b>, plotters::coord::Shift>,
    caption: &str,
    days: f64,
    ymax: f64,
    label_x: &dyn Fn(&f64) -> String,
) -> Result<Panel<'a, 'b>, String> {
    let mut c = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 18))
        .margin(8)
        .x_label_area_size(24)
        .y_label_area_size(50)
        .build_cartesian_2d(0.0..days, 0.0..ymax)
        .map_err(|e| e.to_string())?;
    c.configure_mesh()
        .x_label_formatter(label_x)
        .draw()
        .map_err(|e| e.to_string())?;
    Ok(c)
}

/// Render the chart as an SVG document.
pub fn render_svg(report: &Report) -> Result<String, String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (1400, 900)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let panels = root.split_evenly((3, 1));
        let bucket_h = BUCKET_SECS as f64 / 3600.0;
        let n = report.demand.len();
        let days = n as f64 * bucket_h / 24.0;
        let x = |i: usize| i as f64 * bucket_h / 24.0;
        let start = report.grid_start;
        let label_x = move |d: &f64| {
            (start + TimeDelta::seconds((d * 86_400.0) as i64))
                .format("%m-%d")
                .to_string()
        };

        // Demand.
        let dmax = report.demand.iter().copied().fold(0.0, f64::max).max(1e-9) * 1.1;
        let mut c = panel(
            &panels[0],
            &format!("{}: demand ({}/min)", report.policy, report.demand_unit),
            days,
            dmax,
            &label_x,
        )?;
        c.draw_series(LineSeries::new(
            report.demand.iter().enumerate().map(|(i, v)| (x(i), *v)),
            BLACK.stroke_width(1),
        ))
        .map_err(|e| e.to_string())?;

        // Replicas.
        let rmax = report
            .strategies
            .iter()
            .flat_map(|s| s.timeline.iter().map(|(r, _)| *r))
            .fold(1.0, f64::max)
            * 1.1;
        let mut c = panel(
            &panels[1],
            "requested replicas (15-minute mean)",
            days,
            rmax,
            &label_x,
        )?;
        for (k, s) in report.strategies.iter().enumerate() {
            let colour = COLOURS[k % COLOURS.len()];
            c.draw_series(LineSeries::new(
                s.timeline.iter().enumerate().map(|(i, (r, _))| (x(i), *r)),
                colour.stroke_width(1),
            ))
            .map_err(|e| e.to_string())?
            .label(s.name.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], colour));
        }
        c.configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(|e| e.to_string())?;

        // Longest wait.
        let wmax = report
            .strategies
            .iter()
            .flat_map(|s| s.timeline.iter().map(|(_, w)| *w / 60.0))
            .fold(report.slo_max_wait_seconds as f64 / 60.0, f64::max)
            * 1.1;
        let mut c = panel(
            &panels[2],
            "longest queue wait (minutes, 15-minute max; dashed: SLO)",
            days,
            wmax,
            &label_x,
        )?;
        for (k, s) in report.strategies.iter().enumerate() {
            let colour = COLOURS[k % COLOURS.len()];
            c.draw_series(LineSeries::new(
                s.timeline
                    .iter()
                    .enumerate()
                    .map(|(i, (_, w))| (x(i), *w / 60.0)),
                colour.stroke_width(1),
            ))
            .map_err(|e| e.to_string())?;
        }
        let slo = report.slo_max_wait_seconds as f64 / 60.0;
        c.draw_series(DashedLineSeries::new(
            [(0.0, slo), (days, slo)],
            6,
            4,
            BLACK.stroke_width(1),
        ))
        .map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}
