//! `report.html`: the whole report in one self-contained file — inline CSS,
//! the figures as inline SVG, no scripts, fonts, images or links to
//! anything outside it — for the medical-physics lead who must trust
//! planscale before it touches production.

use std::fmt::Write as _;

use chrono::TimeDelta;

use super::chart::{self, Figures};
use super::explain::explain;
use super::report::fmt_wait;
use super::{FINE_SECS, Report};

/// Escape text for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif;\
max-width:1200px;margin:2em auto;padding:0 1em;color:#111;line-height:1.45}\
h1{font-size:1.6em}h2{margin-top:2em;border-bottom:1px solid #ccc}\
table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #ccc;padding:.3em .6em;vertical-align:top}\
th{background:#f3f3f3;text-align:left}td.n{text-align:right;font-variant-numeric:tabular-nums}\
figure{margin:1em 0}figure svg{width:100%;height:auto;border:1px solid #ddd}\
figcaption{color:#333;margin-top:.4em}.note{color:#444}";

/// A figure with its caption, the SVG inline (labelled for screen readers).
fn figure(out: &mut String, id: &str, label: &str, svg: &str, caption: &str) {
    let svg = svg.replacen(
        "<svg ",
        &format!("<svg role=\"img\" aria-label=\"{}\" ", escape(label)),
        1,
    );
    let _ = write!(
        out,
        "<figure id=\"{id}\">\n{svg}\n<figcaption>{caption}</figcaption>\n</figure>\n"
    );
}

/// Render the report and its figures as one HTML document.
pub fn render(r: &Report, f: &Figures) -> String {
    let tz = chart::zone(r);
    let slo = fmt_wait(r.slo_max_wait_seconds as f64);
    let mut o = String::new();
    let title = format!("planscale simulation: {}", r.policy);
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{t}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>{t}</h1>\n",
        t = escape(&title)
    );
    let _ = writeln!(
        o,
        "<p>Replayed {from} to {to} ({days} days after the warm-up; times below in {tz}). \
         The goal (SLO): work starts within {slo}. One replica does {per:.3} {unit}/min and needs {start} \
         from being asked for to being ready. {work:.0} {unit} arrived in the window.</p>",
        from = escape(&r.window.from),
        to = escape(&r.window.to),
        days = r.window.days,
        tz = escape(tz.name()),
        per = r.capacity_per_replica_per_minute,
        unit = escape(&r.demand_unit),
        start = fmt_wait(r.startup_seconds as f64),
        work = r.work_total,
    );

    o.push_str("<h2>Summary</h2>\n<table>\n<tr>");
    for h in Report::HEADER {
        let _ = write!(o, "<th>{}</th>", escape(h));
    }
    o.push_str("</tr>\n");
    for (row, s) in r.rows().iter().zip(&r.strategies) {
        let _ = write!(o, "<tr><td>{}</td>", escape(&chart::describe(&s.name)));
        for c in &row[1..] {
            let _ = write!(o, "<td class=\"n\">{}</td>", escape(c));
        }
        o.push_str("</tr>\n");
    }
    let _ = write!(
        o,
        "</table>\n<ul>\n<li><b>SLO met</b>: the share of the work that started within {slo}.</li>\n\
         <li><b>replica-h</b>: requested replicas × hours; a replica costs from the moment it is asked for.</li>\n\
         <li><b>vs oracle</b>: replica-hours ÷ those of the oracle, which knows every future arrival \
         (the lower bound; the gap is the price of not knowing the future).</li>\n\
         <li><b>static:N</b> is the smallest constant count that reaches planscale's attainment.</li>\n</ul>\n"
    );
    for s in &r.strategies {
        if !s.decisions_by_term.is_empty() {
            let terms: Vec<String> = s
                .decisions_by_term
                .iter()
                .map(|(k, v)| format!("{} {v}", escape(k)))
                .collect();
            let _ = writeln!(
                o,
                "<p class=\"note\">{} decisions by the signal that decided them: {}.</p>",
                escape(&s.name),
                terms.join(", ")
            );
        }
    }

    let day = chart::busiest_day(r);
    o.push_str("<h2>1. The busiest day</h2>\n");
    figure(
        &mut o,
        "busiest-day",
        "the busiest day per strategy",
        &f.busiest_day,
        &format!(
            "Minute by minute. One panel per strategy: the grey area is the work arriving, shown as the replicas \
             that would just keep up with it; the solid line is the replicas asked for, the dashed line those \
             ready to work (a replica needs {} to start). The bottom panel is the longest time any work waited, \
             against the {slo} SLO (dashed). planscale is drawn on top.",
            fmt_wait(r.startup_seconds as f64)
        ),
    );
    if let Some(d) = day {
        o.push_str("<table>\n<tr><th>strategy</th><th>replica-h that day</th><th>work started within the SLO</th><th>longest wait</th></tr>\n");
        for s in &r.strategies {
            let (h, a, w) = chart::totals(s, &d);
            let _ = writeln!(
                o,
                "<tr><td>{}</td><td class=\"n\">{h:.1}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
                escape(&chart::describe(&s.name)),
                a.map_or("no work".into(), |a| format!("{:.2} %", a * 100.0)),
                fmt_wait(w)
            );
        }
        o.push_str("</table>\n");
    }

    o.push_str("<h2>2. A typical week</h2>\n");
    figure(
        &mut o,
        "typical-week",
        "a typical week per strategy",
        &f.typical_week,
        "The week (Monday to Sunday) whose total work is the median of the whole weeks replayed, per 15 minutes: \
         mean replicas asked for and ready, and the longest wait in each 15 minutes.",
    );

    o.push_str("<h2>3. Cost over the window</h2>\n");
    figure(
        &mut o,
        "replica-hours",
        "cumulative replica-hours per strategy",
        &f.cumulative,
        "Replica-hours summed from the start of the window: the steeper the line, the more replicas were running. \
         The number at each line's end is its total.",
    );

    o.push_str("<h2>4. Each day</h2>\n");
    figure(
        &mut o,
        "daily",
        "replica-hours and SLO attainment per day",
        &f.daily,
        &format!(
            "Top: replica-hours per day. Bottom: the share of each day's work that started within {slo} (by the day \
             it arrived); weekends and holidays without work are left out."
        ),
    );
    daily_table(&mut o, r);

    o.push_str("<h2>5. Why planscale decided what it did, around the busiest spike</h2>\n");
    match (&f.decisions, chart::busiest_spike(r)) {
        (Some(svg), Some((peak, span))) => {
            figure(
                &mut o,
                "decisions",
                "planscale's decisions around the busiest spike",
                svg,
                "Two hours before the busiest 15 minutes of the window and one hour after: planscale's replicas \
                 against the work arriving; orange dots are the forecast each decision provisioned for, drawn at the \
                 moment a replica asked for then is ready; black dots mark the decisions that changed the count, \
                 each listed below. The bottom panel is the queue each decision saw.",
            );
            decision_table(&mut o, r, &span, peak);
        }
        _ => o.push_str(
            "<p>No predictive decisions were kept for this report (the predictive strategy was not run).</p>\n",
        ),
    }

    let notes: Vec<String> = r
        .strategies
        .iter()
        .flat_map(|s| s.notes.iter().map(move |n| format!("{}: {n}", s.name)))
        .collect();
    if !notes.is_empty() {
        o.push_str("<h2>Notes</h2>\n<ul>\n");
        for n in notes {
            let _ = writeln!(o, "<li>{}</li>", escape(&n));
        }
        o.push_str("</ul>\n");
    }
    o.push_str("<p class=\"note\">Written by <code>planscale simulate</code>; report.json holds the same figures for machines.</p>\n</body>\n</html>\n");
    o
}

fn daily_table(o: &mut String, r: &Report) {
    let tz = chart::zone(r);
    o.push_str("<details>\n<summary>The figures per day, as a table</summary>\n<table>\n<tr><th>day</th><th>work</th>");
    for s in &r.strategies {
        let _ = write!(
            o,
            "<th>{n}: replica-h</th><th>{n}: within SLO</th>",
            n = escape(&s.name)
        );
    }
    o.push_str("</tr>\n");
    for d in chart::days(r) {
        let _ = write!(
            o,
            "<tr><td>{}</td><td class=\"n\">{:.0}</td>",
            d.start.with_timezone(&tz).format("%a %Y-%m-%d"),
            chart::work(r, &d)
        );
        for s in &r.strategies {
            let (h, a, _) = chart::totals(s, &d);
            let _ = write!(
                o,
                "<td class=\"n\">{h:.1}</td><td class=\"n\">{}</td>",
                a.map_or("-".into(), |a| format!("{:.2} %", a * 100.0))
            );
        }
        o.push_str("</tr>\n");
    }
    o.push_str("</table>\n</details>\n");
}

fn decision_table(
    o: &mut String,
    r: &Report,
    span: &chart::Span,
    peak: chrono::DateTime<chrono::Utc>,
) {
    let tz = chart::zone(r);
    let entries = chart::decisions_in(r, span);
    let changes: Vec<_> = entries.iter().filter(|e| e.decision.is_change()).collect();
    let end = r.grid_start + TimeDelta::seconds(span.to as i64 * FINE_SECS);
    let q = entries.first().map_or(0.0, |e| e.decision.quantile * 100.0);
    let _ = writeln!(
        o,
        "<p>From {} to {} planscale decided {} times (every {}); the {} decisions that changed the count are listed. \
         The busiest 15 minutes began at {}. Every other decision kept the count.</p>",
        span.start.with_timezone(&tz).format("%H:%M"),
        end.with_timezone(&tz).format("%H:%M"),
        entries.len(),
        r.settings.scaling.interval,
        changes.len(),
        peak.with_timezone(&tz).format("%H:%M"),
    );
    let unit = escape(&r.demand_unit);
    let _ = write!(
        o,
        "<table>\n<tr><th>time</th><th>what planscale did</th><th>why</th>\
         <th>p{q:.0} forecast used ({unit}/min)</th><th>queue seen ({unit})</th><th>ready / requested</th></tr>\n"
    );
    for e in changes {
        let x = explain(e, &r.settings);
        let _ = writeln!(
            o,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{:.1}</td><td class=\"n\">{} / {}</td></tr>",
            e.at.with_timezone(&tz).format("%H:%M"),
            escape(&x.action),
            escape(&x.why),
            e.decision
                .forecast_rate
                .map_or("none".into(), |f| format!("{:.2}", f * 60.0)),
            e.queue_depth,
            e.ready,
            e.current
        );
    }
    o.push_str("</table>\n");
}
