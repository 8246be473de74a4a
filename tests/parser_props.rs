//! Property tests of the three metric parsers: the recording CSV reader, the
//! Prometheus `query_range` JSON readers (the `.json` recording reader and the
//! live client's answer decoder) and the text exposition parser of the scrape
//! source. Arbitrary input and structured mutations of valid input never
//! panic; an error names the file (and the line where the format has lines);
//! what the writers write (or a generator writes in the format) reads back to
//! the same values. They run in CI (`PROPTEST_CASES=N` for more); the longer
//! coverage-guided runs are `fuzz/` (docs/FUZZING.md).

#[path = "support/mutate.rs"]
mod mutate;

use chrono::{DateTime, Utc};
use mutate::{apply, edit};
use planscale::recording::{Error as RecordingError, Recording};
use planscale::series::Grid;
use planscale::sources::http::Answer;
use planscale::sources::prometheus::parse_query_range;
use planscale::sources::scrape::{Exposition, Selector};
use proptest::prelude::*;

/// 2026-03-02T00:00:00Z.
const T0: i64 = 1_772_409_600;
const URL: &str = "http://prometheus:9090/api/v1/query_range";

fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(T0, 0).unwrap()
}

/// A value as the writers see it: finite (of any size) or missing.
fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        4 => -1e6f64..1e6,
        1 => any::<f64>().prop_filter("finite", |v| v.is_finite()),
        1 => Just(f64::NAN),
        1 => Just(0.0),
    ]
}

fn same(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()))
}

/// A recording: 2..60 points on a step of 1 s to 1 d, 1..4 distinct columns.
fn recording() -> impl Strategy<Value = Recording> {
    (
        -1_000_000_000i64..4_000_000_000,
        1i64..86_400,
        2usize..60,
        prop::collection::btree_set("[a-z_][a-z0-9_:{}=\" ,.-]{0,12}[a-z0-9]", 1..4),
    )
        .prop_flat_map(|(start, step, len, names)| {
            let cols: Vec<_> = names
                .into_iter()
                .map(|n| (Just(n), prop::collection::vec(value(), len)))
                .collect();
            (
                Just(Grid::new(
                    DateTime::from_timestamp(start, 0).unwrap(),
                    step,
                    len,
                )),
                cols,
            )
        })
        .prop_map(|(grid, columns)| Recording { grid, columns })
}

fn csv_of(r: &Recording) -> String {
    let mut out = Vec::new();
    r.write_csv(&mut out).unwrap();
    String::from_utf8(out).unwrap()
}

/// A recording CSV error names the file and, for a line error, a line of the text.
fn clear_csv_error(e: &RecordingError, text: &str) -> Result<(), TestCaseError> {
    prop_assert!(e.to_string().starts_with("prop.csv"), "{}", e);
    if let RecordingError::Line { line, .. } = e {
        let lines = text.lines().count().max(1) as u64;
        prop_assert!(
            *line >= 1 && *line <= lines,
            "line {} of {}: {}",
            line,
            lines,
            e
        );
    }
    Ok(())
}

/// What every parsed recording satisfies.
fn well_formed(r: &Recording) -> Result<(), TestCaseError> {
    prop_assert!(r.grid.len >= 1 && r.grid.step_secs >= 1, "{:?}", r.grid);
    prop_assert!(r.columns.iter().all(|(_, v)| v.len() == r.grid.len));
    Ok(())
}

/// Fragments the recording and Prometheus parsers care about, and noise.
fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("timestamp,a,b".to_string()),
        Just("9999-12-31T23:59:59Z,1,2".to_string()),
        Just("0001-01-01T00:00:00Z,1,2".to_string()),
        Just("2026-03-02T00:00:00.5Z,1,2".to_string()),
        Just("2026-03-02T00:00:00+14:00,NaN,inf".to_string()),
        Just("\"unterminated,quote".to_string()),
        Just("[-1e300,\"1\"],[1e300,\"NaN\"]".to_string()),
        Just("[9007199254740993,\"+Inf\"]".to_string()),
        Just("{\"__name__\":\"x\",\"job\":7}".to_string()),
        Just("\"resultType\":\"vector\"".to_string()),
        Just("x{le=\"+Inf\"} 1e309".to_string()),
        Just("# TYPE x histogram".to_string()),
        Just("x_bucket{le=\"0.5\",a=\"b,c=d\"} 3".to_string()),
        Just("x{quantile=\"0.9\"} NaN 1772409600000".to_string()),
        "[ -~]{0,40}",
        any::<String>(),
    ]
}

/// One series of a `query_range` body: labels and `(unix seconds, value)` points.
type BodySeries = (Vec<(String, String)>, Vec<(f64, f64)>);
/// Named series on a grid, a value or a missing point at each step.
type GridSeries = Vec<(String, Vec<Option<f64>>)>;
/// Exposition samples: metric name, labels, value.
type Samples = Vec<(String, Vec<(String, String)>, f64)>;

/// A Prometheus `query_range` body: one series per `(labels, points)`.
fn matrix_body(series: &[BodySeries]) -> String {
    let result: Vec<serde_json::Value> = series
        .iter()
        .map(|(labels, points)| {
            let metric: serde_json::Map<String, serde_json::Value> = labels
                .iter()
                .map(|(k, v)| (k.clone(), v.clone().into()))
                .collect();
            let values: Vec<serde_json::Value> = points
                .iter()
                .map(|(t, v)| {
                    let v = if v.is_nan() {
                        "NaN".to_string()
                    } else {
                        format!("{v}")
                    };
                    serde_json::json!([t, v])
                })
                .collect();
            serde_json::json!({"metric": metric, "values": values})
        })
        .collect();
    serde_json::json!({"status": "success", "data": {"resultType": "matrix", "result": result}})
        .to_string()
}

/// `series` as `query_range` series named by `__name__`, their points on
/// the grid from T0 every `step` seconds (missing points left out).
fn on_grid(series: &GridSeries, step: i64) -> Vec<BodySeries> {
    series
        .iter()
        .map(|(name, values)| {
            let points = values
                .iter()
                .enumerate()
                .filter_map(|(i, v)| v.map(|v| ((T0 + step * i as i64) as f64, v)))
                .collect();
            (vec![("__name__".to_string(), name.clone())], points)
        })
        .collect()
}

/// Series on `grid`: each a `__name__` and a subset of the grid's points.
fn matrix_on(len: usize) -> impl Strategy<Value = GridSeries> {
    prop::collection::btree_map(
        "[a-z_][a-z0-9_]{0,8}",
        prop::collection::vec(prop::option::weighted(0.8, value()), len),
        1..4,
    )
    .prop_map(|m| m.into_iter().collect())
}

/// An exposition page: samples of metrics with safe label values.
fn page() -> impl Strategy<Value = Samples> {
    prop::collection::vec(
        (
            "[a-z_][a-z0-9_]{0,8}",
            prop::collection::btree_map("[a-z][a-z0-9_]{0,5}", "[a-zA-Z0-9 ._/-]{0,10}", 0..3),
            prop_oneof![-1e9f64..1e9, Just(0.0), (0i64..1000).prop_map(|v| v as f64)],
        ),
        1..12,
    )
    .prop_map(|v| {
        v.into_iter()
            .map(|(n, l, x)| (n, l.into_iter().collect(), x))
            .collect()
    })
}

fn page_text(samples: &Samples) -> String {
    let mut text = String::new();
    for (name, labels, v) in samples {
        let l: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
        let set = if l.is_empty() {
            String::new()
        } else {
            format!("{{{}}}", l.join(","))
        };
        text += &format!("# HELP {name} a metric\n{name}{set} {v}\n");
    }
    text
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn recording_csv_round_trips(r in recording()) {
        let csv = csv_of(&r);
        let again = Recording::parse_csv(&csv, "prop.csv").map_err(|e| TestCaseError::fail(format!("{e}\n{csv}")))?;
        prop_assert_eq!(again.grid, r.grid);
        prop_assert_eq!(again.names(), r.names());
        for ((_, a), (_, b)) in again.columns.iter().zip(&r.columns) {
            prop_assert!(same(a, b), "{:?} vs {:?}", a, b);
        }
    }

    #[test]
    fn recording_csv_never_panics_on_arbitrary_text(text in any::<String>()) {
        match Recording::parse_csv(&text, "prop.csv") {
            Ok(r) => well_formed(&r)?,
            Err(e) => clear_csv_error(&e, &text)?,
        }
    }

    #[test]
    fn recording_csv_never_panics_on_mutated_recordings(r in recording(), edits in prop::collection::vec(edit(token()), 1..8)) {
        let text = apply(&csv_of(&r), &edits, "\n");
        match Recording::parse_csv(&text, "prop.csv") {
            Ok(r) => well_formed(&r)?,
            Err(e) => clear_csv_error(&e, &text)?,
        }
    }

    #[test]
    fn query_range_json_recordings_read_back_what_was_written(
        step in 1i64..3600,
        series in (2usize..40).prop_flat_map(matrix_on),
    ) {
        // The reader infers the grid from the samples: the first series has every point.
        let len = series[0].1.len();
        let mut body_series = Vec::new();
        for (k, (name, values)) in series.iter().enumerate() {
            let points: Vec<(f64, f64)> = values
                .iter()
                .enumerate()
                .filter_map(|(i, v)| match (k, v) {
                    (0, None) => Some((i, f64::NAN)),
                    (_, v) => v.map(|v| (i, v)),
                })
                .map(|(i, v)| ((T0 + step * i as i64) as f64, v))
                .collect();
            body_series.push((vec![("__name__".to_string(), name.clone())], points));
        }
        let body = matrix_body(&body_series);
        let r = Recording::parse_prometheus_json(&body, "prop.json", "value")
            .map_err(|e| TestCaseError::fail(format!("{e}\n{body}")))?;
        prop_assert_eq!(r.grid, Grid::new(t0(), step, len));
        for ((name, values), (got_name, got)) in series.iter().zip(&r.columns) {
            prop_assert_eq!(name, got_name);
            let want: Vec<f64> = values.iter().map(|v| v.unwrap_or(f64::NAN)).collect();
            prop_assert!(same(&want, got), "{:?} vs {:?}", want, got);
        }
    }

    #[test]
    fn live_query_range_answers_decode_onto_the_requested_grid(
        step in prop::sample::select(vec![1i64, 15, 60, 300, 3600]),
        series in (1usize..40).prop_flat_map(matrix_on),
    ) {
        let len = series[0].1.len();
        let grid = Grid::new(t0(), step, len);
        let body_series = on_grid(&series, step);
        let body = matrix_body(&body_series);
        let got = parse_query_range(URL, "q", Answer { status: 200, body: body.clone() }, grid)
            .map_err(|e| TestCaseError::fail(format!("{e}\n{body}")))?;
        prop_assert_eq!(got.len(), series.len());
        for ((name, values), (labels, got)) in series.iter().zip(&got) {
            prop_assert_eq!(labels.get("__name__"), Some(name));
            let want: Vec<f64> = values.iter().map(|v| v.unwrap_or(f64::NAN)).collect();
            prop_assert!(same(&want, got), "{:?} vs {:?}", want, got);
        }
    }

    #[test]
    fn query_range_json_never_panics_on_arbitrary_or_mutated_bodies(
        status in prop::sample::select(vec![200u16, 400, 422, 503, 204]),
        step in prop::sample::select(vec![1i64, 60, 300]),
        series in (1usize..20).prop_flat_map(matrix_on),
        noise in any::<String>(),
        edits in prop::collection::vec(edit(token()), 1..8),
    ) {
        let len = series[0].1.len();
        let body_series = on_grid(&series, step);
        // One JSON value a line, so that line edits cut through the structure.
        let pretty = serde_json::to_string_pretty(
            &serde_json::from_str::<serde_json::Value>(&matrix_body(&body_series)).unwrap(),
        )
        .unwrap();
        for body in [apply(&pretty, &edits, "\n"), noise.clone()] {
            match Recording::parse_prometheus_json(&body, "prop.json", "value") {
                Ok(r) => well_formed(&r)?,
                Err(e) => prop_assert!(e.to_string().starts_with("prop.json"), "{}", e),
            }
            let grid = Grid::new(t0(), step, len);
            match parse_query_range(URL, "q", Answer { status, body: body.clone() }, grid) {
                Ok(s) => prop_assert!(s.iter().all(|(_, v)| v.len() == len)),
                Err(e) => {
                    let m = e.to_string();
                    prop_assert!(m.contains("prometheus:9090"), "{}", m);
                }
            }
        }
    }

    #[test]
    fn exposition_pages_read_back_what_was_written(samples in page()) {
        let text = page_text(&samples);
        let page = Exposition::parse(&text, "prop")
            .map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        // Every sample, with its labels, in order; selecting one series by
        // all its labels gives its value.
        prop_assert_eq!(page.samples.len(), samples.len(), "{}", text);
        for (s, (name, labels, v)) in page.samples.iter().zip(&samples) {
            prop_assert_eq!(&s.name, name);
            prop_assert_eq!(s.labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect::<Vec<_>>(), labels.clone());
            prop_assert_eq!(s.value.to_bits(), v.to_bits(), "{}", text);
        }
        let (name, labels, _) = &samples[0];
        let mut sel = Selector::metric(name.as_str());
        for (k, v) in labels {
            sel = sel.label(k, v);
        }
        let want: f64 = samples
            .iter()
            .filter(|(n, l, _)| n == name && labels.iter().all(|kv| l.contains(kv)))
            .map(|(_, _, v)| v)
            .sum();
        let got: f64 = page.select(&sel).map_err(|e| TestCaseError::fail(e.to_string()))?.iter().map(|(_, v)| v).sum();
        prop_assert!((got - want).abs() <= 1e-6 * want.abs().max(1.0), "{} vs {}\n{}", got, want, text);
    }

    #[test]
    fn exposition_never_panics_and_names_the_line(
        samples in page(),
        noise in any::<String>(),
        edits in prop::collection::vec(edit(token()), 1..8),
    ) {
        for text in [apply(&page_text(&samples), &edits, "\n"), noise.clone()] {
            match Exposition::parse(&text, "prop") {
                Err(e) => {
                    let m = e.to_string();
                    prop_assert!(m.contains("prop"), "{}", m);
                }
                Ok(page) => {
                    for s in page.samples.iter().take(4) {
                        let _ = page.select(&Selector::metric(s.name.as_str()));
                        let _ = page.value(&Selector::metric(s.name.as_str()));
                    }
                }
            }
        }
    }
}

// Inputs the property tests and fuzzers above once broke, kept as regression cases.

#[test]
fn a_recording_csv_spanning_millennia_is_an_error_naming_the_line() {
    // Two rows a second apart, then one in the year 9999: 2.5 * 10^11 points
    // (a 2 TB allocation, which aborted the process) before the bound.
    let text =
        "timestamp,a\n0001-01-01T00:00:00Z,1\n0001-01-01T00:00:01Z,2\n9999-12-31T23:59:59Z,3\n";
    let e = Recording::parse_csv(text, "prop.csv")
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("prop.csv:4: "), "{e}");
    assert!(e.contains("points"), "{e}");
}

#[test]
fn a_query_range_json_recording_spanning_millennia_is_an_error() {
    let body = matrix_body(&[(
        vec![("__name__".into(), "a".into())],
        vec![(0.0, 1.0), (1.0, 2.0), (9.9e10, 3.0)],
    )]);
    let e = Recording::parse_prometheus_json(&body, "prop.json", "value")
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("prop.json: "), "{e}");
    assert!(e.contains("points"), "{e}");
}

#[test]
fn a_live_sample_time_far_off_the_grid_is_an_error_not_an_overflow() {
    for t in [-1e300, 1e300, -9.3e15, 9.3e15] {
        let body = matrix_body(&[(vec![("__name__".into(), "a".into())], vec![(t, 1.0)])]);
        let e = parse_query_range(
            URL,
            "q",
            Answer { status: 200, body },
            Grid::new(t0(), 60, 10),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("not on the requested grid"), "{e}");
    }
}

#[test]
fn a_recording_csv_bound_counts_every_column() {
    // 1.2 million one-second points are fine for one column, not for twenty.
    let rows = |cols: usize| {
        let names: Vec<String> = (0..cols).map(|i| format!("c{i}")).collect();
        let ones = vec!["1"; cols].join(",");
        format!(
            "timestamp,{}\n2026-03-02T00:00:00Z,{ones}\n2026-03-02T00:00:01Z,{ones}\n2026-03-16T00:00:00Z,{ones}\n",
            names.join(",")
        )
    };
    let one = Recording::parse_csv(&rows(1), "prop.csv").unwrap();
    assert_eq!(one.grid.len, 14 * 86_400 + 1);
    let e = Recording::parse_csv(&rows(20), "prop.csv")
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("prop.csv:4: ") && e.contains("in 20 columns"),
        "{e}"
    );
}

#[test]
fn a_recording_csv_leap_second_or_fraction_is_an_error_naming_the_line() {
    // Found by cargo-fuzz (recording_csv): `:60` parsed as a leap second and
    // was written back as another instant, so the round trip changed the step.
    for ts in ["2025-03-02T00:01:60Z", "2026-03-02T00:00:00.5Z"] {
        let text = format!("timestamp,a\n2026-03-01T00:00:00Z,1\n{ts},2\n");
        let e = Recording::parse_csv(&text, "prop.csv")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("prop.csv:3: ") && e.contains("whole second"),
            "{e}"
        );
    }
    // The fuzzer's input itself (fuzz/artifacts/recording_csv/crash-98ef122f…).
    let crash = "timestamp,a,b\n2025-03-02T00:01:60Z,NaN,2.\n\n2026-03-02T00:01:00Z,3,-1e5\n";
    let e = Recording::parse_csv(crash, "prop.csv")
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("prop.csv:2: "), "{e}");
}
