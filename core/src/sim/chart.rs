//! The report's figures (SVG, plotters): the busiest day and a typical week
//! per strategy, cumulative replica-hours, attainment and cost per day, and
//! the predictive decisions around the busiest spike. `chart.svg` is the
//! busiest-day figure; `report.html` holds them all (see `html`). The
//! drawing rules are in `crate::figure`.

use chrono::{DateTime, Datelike, NaiveTime, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use plotters::prelude::*;

use super::report::fmt_wait;
use super::{FINE_SECS, Report, StrategyResult, TraceEntry};
use crate::figure::{
    self, LEGEND_ROW, LegendItem, Mark, Result, TimeAxis, err, headroom, legend, legend_rows,
    palette, panel, step_points, strategy_colour, strategy_width, title,
};

/// Figure width (px).
const WIDTH: u32 = 1400;

/// A span of the measured window in fine samples (minutes from its start).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Span {
    pub start: DateTime<Utc>,
    /// First and one-past-last minute ([`FINE_SECS`]) of the window.
    pub from: usize,
    pub to: usize,
}

impl Span {
    pub fn minutes(&self) -> usize {
        self.to - self.from
    }
}

/// The report's time zone: the policy's schedule zone, else UTC.
pub fn zone(r: &Report) -> Tz {
    r.settings.schedule.as_ref().map_or(Tz::UTC, |s| s.tz())
}

/// Minutes in the window.
fn window_minutes(r: &Report) -> usize {
    (r.demand_steps.len() as i64 * r.step_seconds / FINE_SECS) as usize
}

fn minute_of(r: &Report, t: DateTime<Utc>) -> i64 {
    (t - r.grid_start).num_seconds().div_euclid(FINE_SECS)
}

/// The whole local days inside the window.
pub fn days(r: &Report) -> Vec<Span> {
    let tz = zone(r);
    let n = window_minutes(r) as i64;
    let mut date = r.grid_start.with_timezone(&tz).date_naive();
    let midnight = |d: chrono::NaiveDate| {
        tz.from_local_datetime(&d.and_time(NaiveTime::MIN))
            .earliest()
            .map(|t| t.with_timezone(&Utc))
    };
    let mut out = Vec::new();
    while let (Some(a), Some(b)) = (midnight(date), date.succ_opt().and_then(midnight)) {
        let (from, to) = (minute_of(r, a), minute_of(r, b));
        if from >= n {
            break;
        }
        if from >= 0 && to <= n {
            out.push(Span {
                start: a,
                from: from as usize,
                to: to as usize,
            });
        }
        let Some(next) = date.succ_opt() else { break };
        date = next;
    }
    out
}

/// The recording steps that hold a span's minutes: first and one past the last.
fn steps_of(r: &Report, s: &Span) -> (usize, usize) {
    let step = r.step_seconds.max(1) as usize;
    let n = r.demand_steps.len();
    let secs = FINE_SECS as usize;
    (
        (s.from * secs / step).min(n),
        (s.to * secs).div_ceil(step).min(n),
    )
}

/// Work arriving in a span (demand units).
pub fn work(r: &Report, s: &Span) -> f64 {
    let (a, b) = steps_of(r, s);
    r.demand_steps[a..b].iter().sum::<f64>() * r.step_seconds as f64 / 60.0
}

/// The local day with the most work (the first of equals).
pub fn busiest_day(r: &Report) -> Option<Span> {
    days(r)
        .into_iter()
        .fold(None, |best: Option<(Span, f64)>, d| {
            let w = work(r, &d);
            match best {
                Some((_, bw)) if bw >= w => best,
                _ => Some((d, w)),
            }
        })
        .map(|(d, _)| d)
}

/// A typical week: of the whole Monday-to-Sunday weeks in the window, the
/// one with the median work; without a whole week, the first seven days.
pub fn typical_week(r: &Report) -> Option<Span> {
    let days = days(r);
    let mut weeks: Vec<(f64, Span)> = days
        .windows(7)
        .filter(|w| w[0].start.with_timezone(&zone(r)).weekday() == chrono::Weekday::Mon)
        .map(|w| {
            let s = Span {
                start: w[0].start,
                from: w[0].from,
                to: w[6].to,
            };
            (work(r, &s), s)
        })
        .collect();
    if weeks.is_empty() {
        let first = days.first()?;
        let last = days.iter().take(7).next_back()?;
        return Some(Span {
            start: first.start,
            from: first.from,
            to: last.to,
        });
    }
    weeks.sort_by(|a, b| a.0.total_cmp(&b.0));
    Some(weeks[(weeks.len() - 1) / 2].1)
}

/// The busiest spike: the 15-minute bucket of highest demand; returns the
/// span from two hours before it to one hour after, inside the window.
pub fn busiest_spike(r: &Report) -> Option<(DateTime<Utc>, Span)> {
    let (i, _) = r
        .demand
        .iter()
        .enumerate()
        .fold(None, |best: Option<(usize, f64)>, (i, v)| match best {
            Some((_, b)) if b >= *v => best,
            _ => Some((i, *v)),
        })?;
    let per_bucket = (super::BUCKET_SECS / FINE_SECS) as usize;
    let peak = i * per_bucket;
    let from = peak.saturating_sub(120);
    let to = (peak + per_bucket + 60).min(window_minutes(r));
    let at = r.grid_start + TimeDelta::seconds(peak as i64 * FINE_SECS);
    Some((
        at,
        Span {
            start: r.grid_start + TimeDelta::seconds(from as i64 * FINE_SECS),
            from,
            to,
        },
    ))
}

/// A strategy's name as a reader knows it.
pub fn describe(name: &str) -> String {
    match name.split_once(':') {
        _ if name == "predictive" => "predictive (planscale)".into(),
        _ if name == "hpa" => "hpa (Kubernetes HPA)".into(),
        _ if name == "oracle" => "oracle (perfect foresight)".into(),
        Some(("static", n)) => format!("static:{n} ({n} replicas always)"),
        _ => name.into(),
    }
}

/// Strategies in drawing order: planscale last, so it is on top.
fn drawing_order(r: &Report) -> Vec<(usize, &StrategyResult)> {
    let mut v: Vec<(usize, &StrategyResult)> = r.strategies.iter().enumerate().collect();
    v.sort_by_key(|(_, s)| s.name == "predictive");
    v
}

/// Per-bucket aggregate of a strategy's minutes: mean requested, mean ready,
/// longest wait (minutes).
fn aggregate(s: &StrategyResult, span: &Span, bucket: usize) -> Vec<(f64, f64, f64)> {
    let to = span.to.min(s.fine.len());
    s.fine[span.from.min(to)..to]
        .chunks(bucket)
        .map(|c| {
            let n = c.len() as f64;
            (
                c.iter().map(|x| x.requested).sum::<f64>() / n,
                c.iter().map(|x| x.ready).sum::<f64>() / n,
                c.iter().map(|x| x.wait_secs).fold(0.0, f64::max) / 60.0,
            )
        })
        .collect()
}

/// Demand over a span in replicas' worth (demand ÷ one replica's rate), per
/// recording step: the replicas that would just keep up.
fn demand_replicas(r: &Report, span: &Span) -> (f64, Vec<f64>) {
    let (a, b) = steps_of(r, span);
    let per = r.capacity_per_replica_per_minute.max(1e-12);
    let x0 = (a as i64 * r.step_seconds - span.from as i64 * FINE_SECS) as f64;
    (
        x0 / 3600.0,
        r.demand_steps[a..b].iter().map(|v| v / per).collect(),
    )
}

/// Totals of a strategy over a span: replica-hours, attainment (None without
/// work), longest wait (s).
pub fn totals(s: &StrategyResult, span: &Span) -> (f64, Option<f64>, f64) {
    let to = span.to.min(s.fine.len());
    let f = &s.fine[span.from.min(to)..to];
    let hours = f.iter().map(|x| x.requested).sum::<f64>() * FINE_SECS as f64 / 3600.0;
    let work: f64 = f.iter().map(|x| x.work).sum();
    let on_time: f64 = f.iter().map(|x| x.on_time).sum();
    let wait = f.iter().map(|x| x.wait_secs).fold(0.0, f64::max);
    (hours, (work > 1e-9).then(|| on_time / work), wait)
}

fn percent(a: Option<f64>) -> String {
    a.map_or("no work".into(), |a| format!("{:.1} %", a * 100.0))
}

fn svg_of(
    height: u32,
    draw: impl FnOnce(&DrawingArea<SVGBackend<'_>, plotters::coord::Shift>) -> Result<()>,
) -> Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        draw(&root)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

fn strategy_items(r: &Report) -> Vec<LegendItem> {
    r.strategies
        .iter()
        .enumerate()
        .map(|(k, s)| {
            LegendItem::new(
                describe(&s.name),
                strategy_colour(&s.name, k),
                Mark::Line(strategy_width(&s.name)),
            )
        })
        .collect()
}

/// One strategy per panel (demand in replicas' worth as a grey area,
/// requested replicas solid, ready dashed), then every strategy's longest
/// wait against the SLO. `bucket` minutes per plotted value.
/// The panel captions total `whole` (the day or week); `span` is what is drawn.
fn period_svg(
    r: &Report,
    heading: &str,
    whole: &Span,
    span: &Span,
    bucket: usize,
    format: &'static str,
    x_labels: usize,
) -> Result<String> {
    let per = r.capacity_per_replica_per_minute;
    let slo = r.slo_max_wait_seconds as f64 / 60.0;
    let mut items = strategy_items(r);
    items.extend([
        LegendItem::new("solid: requested replicas", palette::INK, Mark::Line(2)),
        LegendItem::new("dashed: ready replicas", palette::INK, Mark::Dashed(2)),
        LegendItem::new(
            format!(
                "grey: work arriving, in replicas needed to keep up ({per:.2} {}/min each)",
                r.demand_unit
            ),
            palette::DEMAND,
            Mark::Fill,
        ),
    ]);
    let rows = legend_rows(&items, WIDTH);
    let n = r.strategies.len() as u32;
    let (panel_h, wait_h) = (200u32, 240u32);
    let height = 44 + rows * LEGEND_ROW + 8 + n * panel_h + wait_h;
    let tz = zone(r);
    let axis = TimeAxis {
        origin: span.start,
        tz,
        format,
    };
    let hours = span.minutes() as f64 / 60.0;
    let dx = bucket as f64 / 60.0;
    let (d0, demand) = demand_replicas(r, span);
    let series: Vec<Vec<(f64, f64, f64)>> = r
        .strategies
        .iter()
        .map(|s| aggregate(s, span, bucket))
        .collect();
    let ymax = headroom(
        series
            .iter()
            .flatten()
            .map(|(q, y, _)| q.max(*y))
            .chain(demand.iter().copied())
            .fold(1.0, f64::max),
        2.0,
    );
    let wmax = headroom(
        series
            .iter()
            .flatten()
            .map(|(_, _, w)| *w)
            .fold(slo, f64::max),
        slo * 1.25,
    );
    svg_of(height, |root| {
        let (head, rest) = root.split_vertically(44);
        title(&head, heading)?;
        let (strip, rest) = rest.split_vertically(rows * LEGEND_ROW + 8);
        legend(&strip, &items)?;
        let (panels, wait_area) = rest.split_vertically(n * panel_h);
        let areas = panels.split_evenly((n as usize, 1));
        for ((k, s), area) in r.strategies.iter().enumerate().zip(&areas) {
            let (hours_used, attain, wait) = totals(s, whole);
            let caption = format!(
                "{}: {:.1} replica-h, {} of work started within {}, longest wait {}",
                describe(&s.name),
                hours_used,
                percent(attain),
                fmt_wait(r.slo_max_wait_seconds as f64),
                fmt_wait(wait)
            );
            let mut c = panel(
                area,
                &caption,
                0.0..hours,
                0.0..ymax,
                &axis,
                x_labels,
                "replicas",
            )?;
            let step_h = r.step_seconds as f64 / 3600.0;
            c.draw_series(AreaSeries::new(
                step_points(d0, step_h, demand.iter().copied()),
                0.0,
                palette::DEMAND.filled(),
            ))
            .map_err(err)?;
            let colour = strategy_colour(&s.name, k);
            let w = strategy_width(&s.name);
            let ser = &series[k];
            c.draw_series(DashedLineSeries::new(
                step_points(0.0, dx, ser.iter().map(|x| x.1)),
                7,
                5,
                colour.stroke_width(w.saturating_sub(1).max(1)),
            ))
            .map_err(err)?;
            c.draw_series(LineSeries::new(
                step_points(0.0, dx, ser.iter().map(|x| x.0)),
                colour.stroke_width(w),
            ))
            .map_err(err)?;
        }
        let mut c = panel(
            &wait_area,
            &format!(
                "longest wait of queued work (minutes); black dashes: the SLO, {}",
                fmt_wait(r.slo_max_wait_seconds as f64)
            ),
            0.0..hours,
            0.0..wmax,
            &axis,
            x_labels,
            "minutes",
        )?;
        for (k, s) in drawing_order(r) {
            c.draw_series(LineSeries::new(
                step_points(0.0, dx, series[k].iter().map(|x| x.2)),
                strategy_colour(&s.name, k).stroke_width(strategy_width(&s.name)),
            ))
            .map_err(err)?;
        }
        c.draw_series(DashedLineSeries::new(
            [(0.0, slo), (hours, slo)],
            10,
            6,
            palette::INK.stroke_width(2),
        ))
        .map_err(err)?;
        Ok(())
    })
}

/// The whole hours of `day` from an hour before anything happened (work
/// arriving, waiting, or a strategy above its first count) to an hour after.
fn active_hours(r: &Report, day: &Span) -> Span {
    let busy = |m: usize| {
        let i = (m as i64 * FINE_SECS / r.step_seconds.max(1)) as usize;
        r.demand_steps.get(i).is_some_and(|v| *v > 0.0)
            || r.strategies.iter().any(|s| {
                let base = s.fine.get(day.from).map_or(0.0, |x| x.requested);
                s.fine
                    .get(m)
                    .is_some_and(|x| x.wait_secs > 0.0 || x.requested != base)
            })
    };
    let first = (day.from..day.to).find(|m| busy(*m));
    let last = (day.from..day.to).rev().find(|m| busy(*m));
    let (Some(first), Some(last)) = (first, last) else {
        return *day;
    };
    let from = day.from + ((first - day.from) / 60).saturating_sub(1) * 60;
    let to = (day.from + ((last - day.from) / 60 + 2) * 60).min(day.to);
    Span {
        start: r.grid_start + TimeDelta::seconds(from as i64 * FINE_SECS),
        from,
        to,
    }
}

/// The busiest day, minute by minute.
pub fn busiest_day_svg(r: &Report) -> Result<String> {
    let day = busiest_day(r).unwrap_or(Span {
        start: r.grid_start,
        from: 0,
        to: window_minutes(r).min(1440),
    });
    let shown = active_hours(r, &day);
    let tz = zone(r);
    let at =
        |m: usize| (r.grid_start + TimeDelta::seconds(m as i64 * FINE_SECS)).with_timezone(&tz);
    let heading = format!(
        "{}: the busiest day, {} ({:.0} {}; {}–{} {}, quiet before and after)",
        r.policy,
        day.start.with_timezone(&tz).format("%a %d %b %Y"),
        work(r, &day),
        r.demand_unit,
        at(shown.from).format("%H:%M"),
        at(shown.to).format("%H:%M"),
        tz.name()
    );
    let hours = shown.minutes().div_ceil(60);
    period_svg(r, &heading, &day, &shown, 1, "%H:%M", hours + 1)
}

/// A typical week, per 15 minutes.
pub fn typical_week_svg(r: &Report) -> Result<String> {
    let Some(week) = typical_week(r) else {
        return busiest_day_svg(r);
    };
    let tz = zone(r);
    let heading = format!(
        "{}: a typical week, {} to {} (15-minute means; longest wait per 15 minutes)",
        r.policy,
        week.start.with_timezone(&tz).format("%a %d %b"),
        (week.start + TimeDelta::seconds((week.minutes() as i64 - 1) * FINE_SECS))
            .with_timezone(&tz)
            .format("%a %d %b %Y"),
    );
    period_svg(r, &heading, &week, &week, 15, "%a %d %b", 8)
}

/// Replica-hours summed from the window's start, per strategy.
pub fn cumulative_svg(r: &Report) -> Result<String> {
    let items = strategy_items(r);
    let rows = legend_rows(&items, WIDTH);
    let height = 44 + rows * LEGEND_ROW + 8 + 520;
    let total = window_minutes(r);
    let axis = TimeAxis {
        origin: r.grid_start,
        tz: zone(r),
        format: "%d %b",
    };
    let hours = total as f64 / 60.0;
    let step = 15usize;
    let curves: Vec<Vec<(f64, f64)>> = r
        .strategies
        .iter()
        .map(|s| {
            let mut acc = 0.0;
            let mut pts = vec![(0.0, 0.0)];
            for (i, c) in s.fine.chunks(step).enumerate() {
                acc += c.iter().map(|x| x.requested).sum::<f64>() / 60.0;
                pts.push((((i * step) + c.len()) as f64 / 60.0, acc));
            }
            pts
        })
        .collect();
    let ymax = headroom(
        curves
            .iter()
            .filter_map(|c| c.last().map(|p| p.1))
            .fold(1.0, f64::max),
        1.0,
    );
    svg_of(height, |root| {
        let (head, rest) = root.split_vertically(44);
        title(
            &head,
            &format!(
                "{}: replica-hours used since the window's start (lower is cheaper)",
                r.policy
            ),
        )?;
        let (strip, body) = rest.split_vertically(rows * LEGEND_ROW + 8);
        legend(&strip, &items)?;
        let mut c = panel(
            &body,
            "replica-hours (requested replicas × hours), summed",
            0.0..hours * 1.12,
            0.0..ymax,
            &axis,
            10,
            "replica-hours",
        )?;
        for (k, s) in drawing_order(r) {
            let colour = strategy_colour(&s.name, k);
            c.draw_series(LineSeries::new(
                curves[k].iter().copied(),
                colour.stroke_width(strategy_width(&s.name)),
            ))
            .map_err(err)?;
        }
        // End labels, moved apart where totals are close (4 % of the axis).
        let mut ends: Vec<(f64, f64, usize)> = curves
            .iter()
            .enumerate()
            .filter_map(|(k, c)| c.last().map(|p| (p.1, p.1, k)))
            .collect();
        ends.sort_by(|a, b| a.0.total_cmp(&b.0));
        let gap = ymax * 0.04;
        for i in 1..ends.len() {
            ends[i].1 = ends[i].1.max(ends[i - 1].1 + gap);
        }
        for (total, y, k) in ends {
            let s = &r.strategies[k];
            c.draw_series(std::iter::once(Text::new(
                format!("{total:.0} {}", s.name),
                (hours * 1.005, y),
                ("sans-serif", figure::LABEL)
                    .into_font()
                    .color(&strategy_colour(&s.name, k)),
            )))
            .map_err(err)?;
        }
        Ok(())
    })
}

/// Strategy `k` of `n`'s place in a day's group (start and width, hours):
/// the group fills the middle 80 % of the day.
fn slot(d: &Span, k: usize, n: f64) -> (f64, f64) {
    let day = d.minutes() as f64 / 60.0;
    let w = day * 0.8 / n;
    (d.from as f64 / 60.0 + day * 0.1 + k as f64 * w, w)
}

/// Each day: replica-hours (bars) and the share of its work started within
/// the SLO (dots), per strategy.
pub fn daily_svg(r: &Report) -> Result<String> {
    let items = strategy_items(r);
    let rows = legend_rows(&items, WIDTH);
    let height = 44 + rows * LEGEND_ROW + 8 + 300 + 300;
    let days = days(r);
    let axis = TimeAxis {
        origin: r.grid_start,
        tz: zone(r),
        format: "%a %d %b",
    };
    let hours = window_minutes(r) as f64 / 60.0;
    let n = r.strategies.len().max(1) as f64;
    let per_day: Vec<Vec<(f64, Option<f64>)>> = r
        .strategies
        .iter()
        .map(|s| {
            days.iter()
                .map(|d| {
                    let (h, a, _) = totals(s, d);
                    (h, a)
                })
                .collect()
        })
        .collect();
    let cost_max = headroom(
        per_day.iter().flatten().map(|x| x.0).fold(1.0, f64::max),
        1.0,
    );
    let lowest = per_day
        .iter()
        .flatten()
        .filter_map(|x| x.1)
        .fold(1.0, f64::min);
    let floor = ((lowest * 100.0 - 1.0) / 5.0).floor() * 5.0;
    let floor = floor.clamp(0.0, 95.0);
    svg_of(height, |root| {
        let (head, rest) = root.split_vertically(44);
        title(
            &head,
            &format!("{}: each day's cost and SLO attainment", r.policy),
        )?;
        let (strip, body) = rest.split_vertically(rows * LEGEND_ROW + 8);
        legend(&strip, &items)?;
        let (top, bottom) = body.split_vertically(300);
        let mut c = panel(
            &top,
            "replica-hours per day",
            0.0..hours,
            0.0..cost_max,
            &axis,
            12,
            "replica-hours",
        )?;
        for (k, s) in r.strategies.iter().enumerate() {
            let colour = strategy_colour(&s.name, k);
            c.draw_series(days.iter().zip(&per_day[k]).map(|(d, (h, _))| {
                let (a, w) = slot(d, k, n);
                Rectangle::new([(a, 0.0), (a + w * 0.9, *h)], colour.filled())
            }))
            .map_err(err)?;
        }
        let mut c = panel(
            &bottom,
            &format!(
                "share of each day's work that started within the SLO ({}), %; days without work are left out",
                fmt_wait(r.slo_max_wait_seconds as f64)
            ),
            0.0..hours,
            floor..100.5,
            &axis,
            12,
            "% within SLO",
        )?;
        for (k, s) in drawing_order(r) {
            let colour = strategy_colour(&s.name, k);
            c.draw_series(days.iter().zip(&per_day[k]).filter_map(|(d, (_, a))| {
                let (x, w) = slot(d, k, n);
                a.map(|a| Circle::new((x + w * 0.45, a * 100.0), 5, colour.filled()))
            }))
            .map_err(err)?;
        }
        Ok(())
    })
}

/// The predictive decisions in `span` (those inside it).
pub fn decisions_in<'a>(r: &'a Report, span: &Span) -> Vec<&'a TraceEntry> {
    let a = r.grid_start + TimeDelta::seconds(span.from as i64 * FINE_SECS);
    let b = r.grid_start + TimeDelta::seconds(span.to as i64 * FINE_SECS);
    r.decisions
        .iter()
        .filter(|e| e.at >= a && e.at < b)
        .collect()
}

/// Around the busiest spike: what planscale asked for and had ready against
/// the work arriving and the forecast it provisioned for; below, the queue
/// it saw at each decision. `None` without a predictive run kept for it.
pub fn decisions_svg(r: &Report) -> Result<Option<String>> {
    let Some((peak, span)) = busiest_spike(r) else {
        return Ok(None);
    };
    let Some((k, s)) = r
        .strategies
        .iter()
        .enumerate()
        .find(|(_, s)| s.name == "predictive")
    else {
        return Ok(None);
    };
    let entries = decisions_in(r, &span);
    if entries.is_empty() {
        return Ok(None);
    }
    let tz = zone(r);
    let per = r.capacity_per_replica_per_minute.max(1e-12);
    let q = entries[0].decision.quantile * 100.0;
    let colour = strategy_colour(&s.name, k);
    let items = vec![
        LegendItem::new("requested replicas", colour, Mark::Line(3)),
        LegendItem::new("ready replicas", colour, Mark::Dashed(2)),
        LegendItem::new(
            format!(
                "p{q:.0} forecast it provisioned for, in replicas' worth, drawn when a replica asked for then is ready"
            ),
            palette::ORANGE,
            Mark::Dot,
        ),
        LegendItem::new(
            "work arriving, in replicas needed to keep up",
            palette::DEMAND,
            Mark::Fill,
        ),
        LegendItem::new("a change of the requested count", palette::INK, Mark::Dot),
    ];
    let rows = legend_rows(&items, WIDTH);
    let height = 44 + rows * LEGEND_ROW + 8 + 420 + 240;
    let axis = TimeAxis {
        origin: span.start,
        tz,
        format: "%H:%M",
    };
    let hours = span.minutes() as f64 / 60.0;
    let (d0, demand) = demand_replicas(r, &span);
    let fine = aggregate(s, &span, 1);
    let startup_h = r.startup_seconds as f64 / 3600.0;
    let forecast: Vec<(f64, f64)> = entries
        .iter()
        .filter_map(|e| {
            e.decision
                .forecast_rate
                .map(|f| (axis.hours(e.at) + startup_h, f * 60.0 / per))
        })
        .filter(|(x, _)| *x <= hours)
        .collect();
    let ymax = headroom(
        fine.iter()
            .map(|x| x.0.max(x.1))
            .chain(demand.iter().copied())
            .chain(forecast.iter().map(|x| x.1))
            .fold(1.0, f64::max),
        2.0,
    );
    let qmax = headroom(
        entries.iter().map(|e| e.queue_depth).fold(0.0, f64::max),
        1.0,
    );
    let heading = format!(
        "{}: planscale's decisions around the busiest spike ({} {}, times in {})",
        r.policy,
        peak.with_timezone(&tz).format("%a %d %b %Y"),
        peak.with_timezone(&tz).format("%H:%M"),
        tz.name()
    );
    svg_of(height, |root| {
        let (head, rest) = root.split_vertically(44);
        title(&head, &heading)?;
        let (strip, body) = rest.split_vertically(rows * LEGEND_ROW + 8);
        legend(&strip, &items)?;
        let (top, bottom) = body.split_vertically(420);
        let mut c = panel(
            &top,
            "replicas",
            0.0..hours,
            0.0..ymax,
            &axis,
            13,
            "replicas",
        )?;
        c.draw_series(AreaSeries::new(
            step_points(d0, r.step_seconds as f64 / 3600.0, demand.iter().copied()),
            0.0,
            palette::DEMAND.filled(),
        ))
        .map_err(err)?;
        c.draw_series(
            forecast
                .iter()
                .map(|p| Circle::new(*p, 3, palette::ORANGE.filled())),
        )
        .map_err(err)?;
        c.draw_series(DashedLineSeries::new(
            step_points(0.0, 1.0 / 60.0, fine.iter().map(|x| x.1)),
            7,
            5,
            colour.stroke_width(2),
        ))
        .map_err(err)?;
        c.draw_series(LineSeries::new(
            step_points(0.0, 1.0 / 60.0, fine.iter().map(|x| x.0)),
            colour.stroke_width(3),
        ))
        .map_err(err)?;
        c.draw_series(entries.iter().filter(|e| e.decision.is_change()).map(|e| {
            Circle::new(
                (axis.hours(e.at), f64::from(e.decision.desired)),
                4,
                palette::INK.filled(),
            )
        }))
        .map_err(err)?;
        let mut c = panel(
            &bottom,
            &format!(
                "{} waiting in the queue when planscale decided",
                r.demand_unit
            ),
            0.0..hours,
            0.0..qmax,
            &axis,
            13,
            &r.demand_unit,
        )?;
        let dx = (r.settings.scaling.interval.secs_i64() as f64 / 3600.0).max(1e-6);
        c.draw_series(AreaSeries::new(
            entries.iter().flat_map(|e| {
                let x = axis.hours(e.at);
                [(x, e.queue_depth), (x + dx, e.queue_depth)]
            }),
            0.0,
            palette::SKY.filled(),
        ))
        .map_err(err)?;
        Ok(())
    })
    .map(Some)
}

/// Every figure of the report, as SVG documents.
#[derive(Debug, Clone)]
pub struct Figures {
    pub busiest_day: String,
    pub typical_week: String,
    pub cumulative: String,
    pub daily: String,
    /// Without the predictive strategy's decisions: none.
    pub decisions: Option<String>,
}

/// Figures one above the other in one SVG, each under its title (a
/// pipeline's stages): every figure keeps its own size and drawing.
pub fn stack(figures: &[(String, String)]) -> String {
    const TITLE: u32 = 28;
    let attr = |tag: &str, name: &str| -> u32 {
        let key = format!(" {name}=\"");
        tag.find(&key)
            .and_then(|i| {
                let rest = &tag[i + key.len()..];
                rest[..rest.find('"')?].parse().ok()
            })
            .unwrap_or(0)
    };
    let mut body = String::new();
    let (mut width, mut y) = (0u32, 0u32);
    for (title, svg) in figures {
        let Some(start) = svg.find("<svg") else {
            continue;
        };
        let svg = &svg[start..];
        let tag = &svg[..svg.find('>').unwrap_or(svg.len())];
        let (w, h) = (attr(tag, "width"), attr(tag, "height"));
        width = width.max(w);
        let escaped = title
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;");
        body.push_str(&format!(
            "<text x=\"12\" y=\"{}\" font-family=\"sans-serif\" font-size=\"18\" font-weight=\"bold\">{escaped}</text>\n",
            y + 20
        ));
        y += TITLE;
        body.push_str(&format!("<svg x=\"0\" y=\"{y}\"{}\n", &svg[4..]));
        y += h;
    }
    format!(
        "<svg width=\"{width}\" height=\"{y}\" viewBox=\"0 0 {width} {y}\" xmlns=\"http://www.w3.org/2000/svg\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n{body}</svg>\n"
    )
}

/// Draw every figure.
pub fn render_all(r: &Report) -> Result<Figures> {
    Ok(Figures {
        busiest_day: busiest_day_svg(r)?,
        typical_week: typical_week_svg(r)?,
        cumulative: cumulative_svg(r)?,
        daily: daily_svg(r)?,
        decisions: decisions_svg(r)?,
    })
}

impl Figures {
    /// Each figure with the file it is written to beside report.json and what
    /// it shows; `chart.svg` is the busiest day, the report's first figure.
    pub fn files(&self) -> Vec<(&'static str, &'static str, &str)> {
        let mut v = vec![
            (
                "chart.svg",
                "the busiest day, per strategy",
                self.busiest_day.as_str(),
            ),
            (
                "typical-week.svg",
                "a typical week, per strategy",
                self.typical_week.as_str(),
            ),
            (
                "replica-hours.svg",
                "replica-hours used over the window",
                self.cumulative.as_str(),
            ),
            (
                "daily.svg",
                "each day's cost and SLO attainment",
                self.daily.as_str(),
            ),
        ];
        if let Some(d) = &self.decisions {
            v.push((
                "decisions.svg",
                "planscale's decisions around the busiest spike",
                d.as_str(),
            ));
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Policy;
    use crate::series::{Grid, Series};
    use crate::sim::{Scenario, Strategy, simulate};
    use chrono::TimeZone;

    /// Three UTC days of 30-second steps (shorter than a minute): one job per
    /// step from 09:00 to 10:00, two on the second day.
    fn report() -> Report {
        let start = Utc.with_ymd_and_hms(2026, 3, 2, 0, 0, 0).unwrap();
        let values: Vec<f64> = (0..3 * 2880)
            .map(|i| {
                let (day, step) = (i / 2880, i % 2880);
                if (1080..1200).contains(&step) {
                    if day == 1 { 2.0 } else { 1.0 }
                } else {
                    0.0
                }
            })
            .collect();
        let s = Scenario {
            policy: Policy::test().min(1).max(30),
            arrivals: Series::new(Grid::new(start, 30, 0), values),
            schedule: Vec::new(),
            warmup_secs: 0,
            phase_secs: 0,
            upstream: Vec::new(),
        };
        simulate(&s, &[Strategy::Static(4), Strategy::Oracle], &mut |_| {})
    }

    #[test]
    fn days_work_and_the_busiest_day_follow_the_recording_at_any_step() {
        let r = report();
        let days = days(&r);
        assert_eq!(days.len(), 3);
        assert_eq!(days[1].from, 1440);
        let works: Vec<f64> = days.iter().map(|d| work(&r, d)).collect();
        assert_eq!(works, vec![120.0, 240.0, 120.0]);
        assert_eq!(busiest_day(&r), Some(days[1]));
        // Drawn in whole hours from an hour before anything happens (the
        // oracle asks for replicas at 08:58, a start-up ahead of the 09:00
        // work) to an hour after: 07:00 to 12:00.
        let shown = active_hours(&r, &days[1]);
        assert_eq!(
            (shown.from - days[1].from, shown.to - days[1].from),
            (420, 720)
        );
    }

    #[test]
    fn a_strategys_totals_over_a_day_come_from_its_minutes() {
        let r = report();
        let day = days(&r)[0];
        let stat = &r.strategies[0];
        let (hours, attained, _) = totals(stat, &day);
        assert!((hours - 96.0).abs() < 1e-9, "{hours}");
        assert_eq!(attained, Some(1.0));
    }
}
