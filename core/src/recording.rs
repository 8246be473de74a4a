//! Recordings: regular time series per application on disk, what `simulate`
//! and `forecast` replay and what `record` writes.
//!
//! CSV: header `timestamp,<series>...`; RFC 3339 timestamps on a regular
//! step; one column per series; an empty cell (or `NaN`) is a missing value.
//! Rows may skip grid points (the gap is filled with missing values), but
//! unsorted, duplicate or off-step timestamps and non-numeric cells are errors
//! that name the line.
//!
//! Prometheus `query_range` JSON responses (result type `matrix`) are read too.

use std::io::Write;
use std::path::Path;

use chrono::{DateTime, SecondsFormat, Utc};

use crate::series::{Grid, Series};

/// Errors reading or writing a recording; each names the file and, where it
/// applies, the line.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{file}: {source}")]
    Io {
        file: String,
        source: std::io::Error,
    },
    #[error("{file}:{line}: {message}")]
    Line {
        file: String,
        line: u64,
        message: String,
    },
    #[error("{file}: {message}")]
    Format { file: String, message: String },
}

impl Error {
    /// A short, bounded label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Io { .. } => "io",
            Error::Line { .. } => "line",
            Error::Format { .. } => "format",
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// The most values (points × columns) a recording may hold: 80 MB of
/// `f64`, e.g. 19 years of one series at 1-minute steps, or a year of ten.
/// Beyond it one wrong timestamp (a year 9999 among 2026's rows) would make
/// the reader allocate terabytes and abort the process instead of naming
/// the line.
pub const MAX_VALUES: i64 = 10_000_000;

/// Columns of values on one regular grid.
#[derive(Debug, Clone, PartialEq)]
pub struct Recording {
    pub grid: Grid,
    /// `(series name, values)`, in file order; every vector has `grid.len` values.
    pub columns: Vec<(String, Vec<f64>)>,
}

impl Recording {
    /// Read a recording: `.json` files as a Prometheus `query_range` response,
    /// anything else as CSV.
    pub fn read(path: &Path) -> Result<Recording> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            file: file.clone(),
            source,
        })?;
        if path.extension().and_then(|e| e.to_str()) == Some("json") {
            let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("value");
            Recording::parse_prometheus_json(&text, &file, stem)
        } else {
            Recording::parse_csv(&text, &file)
        }
    }

    /// The named column as a series, if present.
    pub fn series(&self, name: &str) -> Option<Series> {
        self.columns
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| Series::new(self.grid, v.clone()))
    }

    /// Names of the columns, in order.
    pub fn names(&self) -> Vec<&str> {
        self.columns.iter().map(|(n, _)| n.as_str()).collect()
    }

    /// Parse CSV text; `file` names it in errors.
    pub fn parse_csv(text: &str, file: &str) -> Result<Recording> {
        let line_err = |line: u64, message: String| Error::Line {
            file: file.to_string(),
            line,
            message,
        };
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(false)
            .trim(csv::Trim::All)
            .flexible(true)
            .from_reader(text.as_bytes());
        let mut records = rdr.records();
        let header = match records.next() {
            None => {
                return Err(Error::Format {
                    file: file.into(),
                    message: "empty file: expected a header `timestamp,<series>...`".into(),
                });
            }
            Some(r) => r.map_err(|e| line_err(1, csv_message(&e)))?,
        };
        if header.get(0).map(|h| h.trim_start_matches('\u{feff}')) != Some("timestamp") {
            return Err(line_err(
                1,
                "expected the header to start with the column `timestamp`".into(),
            ));
        }
        let names: Vec<String> = header.iter().skip(1).map(str::to_string).collect();
        if names.is_empty() {
            return Err(line_err(
                1,
                "expected at least one series column after `timestamp`".into(),
            ));
        }
        for (i, n) in names.iter().enumerate() {
            if n.is_empty() {
                return Err(line_err(1, format!("column {} has an empty name", i + 2)));
            }
            if names[..i].contains(n) {
                return Err(line_err(1, format!("column name {n:?} appears twice")));
            }
        }
        let width = names.len() + 1;
        let mut rows: Vec<(u64, DateTime<Utc>, Vec<f64>)> = Vec::new();
        for rec in records {
            let rec = rec.map_err(|e| {
                line_err(e.position().map(|p| p.line()).unwrap_or(0), csv_message(&e))
            })?;
            let line = rec.position().map(|p| p.line()).unwrap_or(0);
            if rec.len() == 1 && rec.get(0) == Some("") {
                continue; // blank line
            }
            if rec.len() != width {
                return Err(line_err(
                    line,
                    format!("expected {width} fields, found {}", rec.len()),
                ));
            }
            let ts = rec.get(0).unwrap_or_default();
            let t = DateTime::parse_from_rfc3339(ts)
                .map_err(|_| {
                    line_err(
                        line,
                        format!(
                            "expected an RFC 3339 timestamp such as 2026-03-02T08:00:00Z, found {:?}",
                            truncate(ts)
                        ),
                    )
                })?
                .with_timezone(&Utc);
            // A grid is whole seconds of Unix time, which has no leap second:
            // `:60` (which chrono reads as a leap second) or a fraction would
            // be off every step, and written back as another instant.
            if t.timestamp_subsec_nanos() != 0 {
                return Err(line_err(
                    line,
                    format!(
                        "expected a timestamp on a whole second (no fraction, no leap second :60), found {:?}",
                        truncate(ts)
                    ),
                ));
            }
            let mut values = Vec::with_capacity(names.len());
            for (k, cell) in rec.iter().skip(1).enumerate() {
                values.push(parse_cell(cell).ok_or_else(|| {
                    line_err(
                        line,
                        format!(
                            "column {:?}: expected a finite number or an empty cell, found {:?}",
                            names[k],
                            truncate(cell)
                        ),
                    )
                })?);
            }
            rows.push((line, t, values));
        }
        if rows.is_empty() {
            return Err(Error::Format {
                file: file.into(),
                message: "no data rows after the header".into(),
            });
        }
        // Order checks come first, so that an unsorted or duplicate row is
        // reported as such rather than as an odd step.
        for w in rows.windows(2) {
            let ((pl, pt), (l, t)) = ((w[0].0, w[0].1), (w[1].0, w[1].1));
            if t == pt {
                return Err(line_err(
                    l,
                    format!("duplicate timestamp (same as line {pl})"),
                ));
            }
            if t < pt {
                return Err(line_err(
                    l,
                    format!("timestamps are not sorted (earlier than line {pl})"),
                ));
            }
        }
        let start = rows[0].1;
        let step = if rows.len() >= 2 {
            let d = rows[1].1 - rows[0].1;
            if d.subsec_nanos() != 0 {
                return Err(line_err(
                    rows[1].0,
                    "the step must be a whole number of seconds".into(),
                ));
            }
            d.num_seconds()
        } else {
            60
        };
        let (last_line, last) = (rows[rows.len() - 1].0, rows[rows.len() - 1].1);
        let points = (last - start).num_seconds() / step + 1;
        if points.saturating_mul(names.len() as i64) > MAX_VALUES {
            return Err(line_err(
                last_line,
                format!(
                    "the rows from {} to {} span {points} points of {step}s in {} columns; at most {MAX_VALUES} values are read (is this timestamp wrong?)",
                    start.to_rfc3339_opts(SecondsFormat::Secs, true),
                    last.to_rfc3339_opts(SecondsFormat::Secs, true),
                    names.len()
                ),
            ));
        }
        let len = points as usize;
        let grid = Grid::new(start, step, len);
        let mut columns: Vec<(String, Vec<f64>)> = names
            .into_iter()
            .map(|n| (n, vec![f64::NAN; len]))
            .collect();
        for (line, t, values) in rows {
            let i = match grid.index_of(t) {
                Some(i) if grid.is_aligned(t) => i,
                _ => {
                    return Err(line_err(
                        line,
                        format!(
                            "timestamp is off the {step}s step that starts at {}",
                            start.to_rfc3339_opts(SecondsFormat::Secs, true)
                        ),
                    ));
                }
            };
            for (k, v) in values.into_iter().enumerate() {
                columns[k].1[i] = v;
            }
        }
        Ok(Recording { grid, columns })
    }

    /// Parse a Prometheus `query_range` response (`resultType: matrix`). Each
    /// series becomes a column named by its `__name__` label, by its labels, or
    /// (for a single unnamed series) by `name_hint`.
    pub fn parse_prometheus_json(text: &str, file: &str, name_hint: &str) -> Result<Recording> {
        let fmt_err = |message: String| Error::Format {
            file: file.to_string(),
            message,
        };
        let v: serde_json::Value = serde_json::from_str(text).map_err(|e| Error::Line {
            file: file.into(),
            line: e.line() as u64,
            message: format!("invalid JSON: {e}"),
        })?;
        if v.get("status").and_then(|s| s.as_str()) == Some("error") {
            return Err(fmt_err(format!(
                "Prometheus returned an error: {}: {}",
                v.get("errorType")
                    .and_then(|s| s.as_str())
                    .unwrap_or("unknown"),
                v.get("error").and_then(|s| s.as_str()).unwrap_or("")
            )));
        }
        let data = v.get("data").unwrap_or(&v);
        let rt = data.get("resultType").and_then(|s| s.as_str());
        if rt != Some("matrix") {
            return Err(fmt_err(format!(
                "expected a query_range response with data.resultType \"matrix\", found {}",
                rt.map(|s| format!("{s:?}"))
                    .unwrap_or_else(|| "none".into())
            )));
        }
        let result = data
            .get("result")
            .and_then(|r| r.as_array())
            .ok_or_else(|| fmt_err("expected data.result to be an array".into()))?;
        if result.is_empty() {
            return Err(fmt_err("the response holds no series".into()));
        }
        let mut parsed: Vec<(String, Vec<(i64, f64)>)> = Vec::new();
        for (si, s) in result.iter().enumerate() {
            let labels = s.get("metric").and_then(|m| m.as_object());
            let name = match labels {
                Some(l) if l.len() == 1 && l.contains_key("__name__") => {
                    l["__name__"].as_str().unwrap_or(name_hint).to_string()
                }
                Some(l) if !l.is_empty() => {
                    let base = l.get("__name__").and_then(|n| n.as_str()).unwrap_or("");
                    let rest: Vec<String> = l
                        .iter()
                        .filter(|(k, _)| *k != "__name__")
                        .map(|(k, v)| format!("{k}={:?}", v.as_str().unwrap_or("")))
                        .collect();
                    format!("{base}{{{}}}", rest.join(","))
                }
                _ if result.len() == 1 => name_hint.to_string(),
                _ => format!("{name_hint}_{si}"),
            };
            let values = s
                .get("values")
                .and_then(|v| v.as_array())
                .ok_or_else(|| fmt_err(format!("series {si}: expected a `values` array")))?;
            let mut points = Vec::with_capacity(values.len());
            for (pi, p) in values.iter().enumerate() {
                let ts = p.get(0).and_then(|t| t.as_f64());
                let val = p.get(1).and_then(|x| x.as_str()).and_then(parse_prom_value);
                match (ts, val) {
                    (Some(ts), Some(val)) if ts.fract() == 0.0 && ts.abs() < 1e11 => {
                        points.push((ts as i64, val))
                    }
                    _ => {
                        return Err(fmt_err(format!(
                            "series {name}: point {pi}: expected [unix seconds, \"value\"]"
                        )));
                    }
                }
            }
            parsed.push((name, points));
        }
        let times: Vec<i64> = parsed
            .iter()
            .flat_map(|(_, p)| p.iter().map(|(t, _)| *t))
            .collect();
        let (Some(&t0), Some(&t1)) = (times.iter().min(), times.iter().max()) else {
            return Err(fmt_err("the response holds no samples".into()));
        };
        let step = parsed
            .iter()
            .flat_map(|(_, p)| p.windows(2).map(|w| w[1].0 - w[0].0))
            .filter(|d| *d > 0)
            .min()
            .unwrap_or(60);
        let start = DateTime::from_timestamp(t0, 0)
            .ok_or_else(|| fmt_err(format!("timestamp {t0} is out of range")))?;
        let points = (t1 - t0) / step + 1;
        if points.saturating_mul(parsed.len() as i64) > MAX_VALUES {
            return Err(fmt_err(format!(
                "the samples from {t0} to {t1} s span {points} points of {step}s in {} series; at most {MAX_VALUES} values are read",
                parsed.len()
            )));
        }
        let grid = Grid::new(start, step, points as usize);
        let mut columns = Vec::new();
        for (name, points) in parsed {
            let mut vals = vec![f64::NAN; grid.len];
            for (t, v) in points {
                if (t - t0) % step != 0 {
                    return Err(fmt_err(format!(
                        "series {name}: timestamp {t} is off the {step}s step"
                    )));
                }
                vals[((t - t0) / step) as usize] = v;
            }
            columns.push((name, vals));
        }
        Ok(Recording { grid, columns })
    }

    /// Write as CSV (`timestamp,<series>...`, missing values as empty cells).
    pub fn write_csv(&self, w: &mut dyn Write) -> std::io::Result<()> {
        let mut out = csv::Writer::from_writer(w);
        let mut header = vec!["timestamp".to_string()];
        header.extend(self.columns.iter().map(|(n, _)| n.clone()));
        out.write_record(&header)?;
        let mut row: Vec<String> = Vec::with_capacity(header.len());
        for i in 0..self.grid.len {
            row.clear();
            row.push(self.grid.time(i).to_rfc3339_opts(SecondsFormat::Secs, true));
            for (_, v) in &self.columns {
                let x = v[i];
                row.push(if x.is_finite() {
                    format!("{x}")
                } else {
                    String::new()
                });
            }
            out.write_record(&row)?;
        }
        out.flush()
    }
}

fn parse_cell(cell: &str) -> Option<f64> {
    if cell.is_empty() || cell.eq_ignore_ascii_case("nan") {
        return Some(f64::NAN);
    }
    cell.parse::<f64>().ok().filter(|v| v.is_finite())
}

fn parse_prom_value(s: &str) -> Option<f64> {
    match s {
        "NaN" => Some(f64::NAN),
        _ => s.parse::<f64>().ok().filter(|v| v.is_finite()),
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(40).collect()
}

fn csv_message(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::Utf8 { .. } => "invalid UTF-8".into(),
        csv::ErrorKind::Io(err) => format!("read error: {err}"),
        _ => "malformed CSV".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "timestamp,arrivals,queue\n\
        2026-03-02T08:00:00Z,1.5,0\n\
        2026-03-02T08:05:00Z,,2\n\
        2026-03-02T08:15:00Z,3,NaN\n";

    #[test]
    fn reads_a_regular_csv_with_gaps_and_empty_cells() {
        let r = Recording::parse_csv(GOOD, "r.csv").unwrap();
        assert_eq!(r.grid.step_secs, 300);
        assert_eq!(r.grid.len, 4);
        assert_eq!(r.names(), vec!["arrivals", "queue"]);
        let a = r.series("arrivals").unwrap();
        assert_eq!(a.values[0], 1.5);
        assert!(a.values[1].is_nan() && a.values[2].is_nan());
        assert_eq!(a.values[3], 3.0);
        assert!(r.series("nope").is_none());
    }

    #[test]
    fn round_trips_through_csv() {
        let r = Recording::parse_csv(GOOD, "r.csv").unwrap();
        let mut buf = Vec::new();
        r.write_csv(&mut buf).unwrap();
        let again = Recording::parse_csv(std::str::from_utf8(&buf).unwrap(), "w.csv").unwrap();
        assert_eq!(again.grid, r.grid);
        assert_eq!(format!("{:?}", again.columns), format!("{:?}", r.columns));
    }

    fn err(text: &str) -> String {
        Recording::parse_csv(text, "r.csv").unwrap_err().to_string()
    }

    #[test]
    fn malformed_input_names_the_line() {
        let h = "timestamp,a\n";
        let t0 = "2026-03-02T08:00:00Z";
        let t1 = "2026-03-02T08:05:00Z";
        let cases = [
            (
                format!("{h}{t0},1\n{t1},x\n"),
                "r.csv:3: column \"a\": expected a finite number",
            ),
            (format!("{h}{t0},1\n{t1},1\n{t1},1\n"), "r.csv:4: duplicate"),
            (
                format!("{h}{t0},1\n{t1},1\n{t0},1\n"),
                "r.csv:4: timestamps are not sorted",
            ),
            (
                format!("{h}{t0},1\n{t1},1\n2026-03-02T08:07:00Z,1\n"),
                "r.csv:4: timestamp is off",
            ),
            (format!("{h}{t0},1\n{t0},1\n"), "r.csv:3: duplicate"),
            (
                format!("{h}{t1},1\n{t0},1\n"),
                "r.csv:3: timestamps are not sorted",
            ),
            (format!("{h}yesterday,1\n"), "r.csv:2: expected an RFC 3339"),
            (format!("{h}{t0},1,2\n"), "r.csv:2: expected 2 fields"),
            (format!("{h}{t0},inf\n"), "r.csv:2: column"),
            ("time,a\n".to_string(), "r.csv:1: expected the header"),
            ("timestamp,a,a\n".to_string(), "r.csv:1: column name"),
            ("timestamp\n".to_string(), "r.csv:1: expected at least one"),
            (h.to_string(), "r.csv: no data rows"),
            (String::new(), "r.csv: empty file"),
        ];
        for (text, want) in cases {
            let e = err(&text);
            assert!(e.starts_with(want), "{text:?}\n  got: {e}\n want: {want}");
        }
    }

    #[test]
    fn reads_a_query_range_matrix() {
        let text = r#"{"status":"success","data":{"resultType":"matrix","result":[
            {"metric":{"__name__":"jobs"},"values":[[1772438400,"1"],[1772438460,"2"],[1772438580,"4"]]},
            {"metric":{"queue":"dose"},"values":[[1772438460,"7"]]}]}}"#;
        let r = Recording::parse_prometheus_json(text, "q.json", "x").unwrap();
        assert_eq!(r.grid.step_secs, 60);
        assert_eq!(r.grid.len, 4);
        assert_eq!(r.names(), vec!["jobs", "{queue=\"dose\"}"]);
        let jobs = &r.columns[0].1;
        assert_eq!(jobs[1], 2.0);
        assert!(jobs[2].is_nan());
        assert!(r.columns[1].1[0].is_nan());
        assert_eq!(r.columns[1].1[1], 7.0);
    }

    #[test]
    fn query_range_errors_are_clear() {
        let e = Recording::parse_prometheus_json(
            r#"{"status":"error","errorType":"bad_data","error":"parse error"}"#,
            "q.json",
            "x",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("bad_data: parse error"), "{e}");
        let e = Recording::parse_prometheus_json(
            r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#,
            "q.json",
            "x",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("\"vector\""), "{e}");
        let e = Recording::parse_prometheus_json("{", "q.json", "x")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("q.json:1: invalid JSON"), "{e}");
    }
}
