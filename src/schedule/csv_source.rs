//! CSV schedule exports: header `start,end,type[,resource]`, RFC 3339 times.

use std::path::Path;

use chrono::{DateTime, Utc};

use super::{Appointment, Error, Result};

/// Read appointments from a CSV file with columns `start,end,type[,resource]`
/// (any order, extra columns ignored and never kept).
pub fn read_csv(path: &Path) -> Result<Vec<Appointment>> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        file: file.clone(),
        source,
    })?;
    parse_csv(&text, &file)
}

/// Parse CSV text; `file` names it in errors.
pub fn parse_csv(text: &str, file: &str) -> Result<Vec<Appointment>> {
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers = rdr
        .headers()
        .map_err(|e| Error::File {
            file: file.into(),
            message: format!("cannot read the header: {}", csv_kind(&e)),
        })?
        .clone();
    let col = |name: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(name));
    let (Some(start), Some(end), Some(kind)) = (col("start"), col("end"), col("type")) else {
        return Err(Error::Line {
            file: file.into(),
            line: 1,
            message: "expected a header with the columns start, end and type".into(),
        });
    };
    let resource = col("resource");
    let mut out = Vec::new();
    for rec in rdr.records() {
        let rec = rec.map_err(|e| Error::Line {
            file: file.into(),
            line: e.position().map(|p| p.line()).unwrap_or(0),
            message: csv_kind(&e),
        })?;
        let line = rec.position().map(|p| p.line()).unwrap_or(0);
        let field = |i: usize, name: &str| {
            rec.get(i)
                .filter(|s| !s.is_empty())
                .ok_or_else(|| Error::Line {
                    file: file.into(),
                    line,
                    message: format!("missing value in column {name}"),
                })
        };
        let time = |i: usize, name: &str| -> Result<DateTime<Utc>> {
            let s = field(i, name)?;
            DateTime::parse_from_rfc3339(s)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| Error::Line {
                    file: file.into(),
                    line,
                    message: format!(
                        "column {name}: expected an RFC 3339 time with offset (2026-03-02T08:00:00+01:00)"
                    ),
                })
        };
        let a = Appointment {
            start: time(start, "start")?,
            end: time(end, "end")?,
            kind: field(kind, "type")?.to_string(),
            resource: resource
                .and_then(|i| rec.get(i))
                .filter(|s| !s.is_empty())
                .map(str::to_string),
        };
        if a.end < a.start {
            return Err(Error::Line {
                file: file.into(),
                line,
                message: "end is before start".into(),
            });
        }
        out.push(a);
    }
    out.sort();
    Ok(out)
}

/// The kind of a CSV error without echoing the record's content.
fn csv_kind(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::Utf8 { .. } => "invalid UTF-8".into(),
        csv::ErrorKind::Io(err) => format!("read error: {err}"),
        _ => "malformed CSV".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_columns_in_any_order_and_drops_extras() {
        let text = "patient,type,end,start,resource\n\
                    Erika Mustermann,CT-SIM,2026-03-02T08:30:00+01:00,2026-03-02T08:00:00+01:00,CT1\n";
        let a = parse_csv(text, "s.csv").unwrap();
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].kind, "CT-SIM");
        assert_eq!(a[0].resource.as_deref(), Some("CT1"));
        assert_eq!(a[0].start.to_rfc3339(), "2026-03-02T07:00:00+00:00");
        assert!(!format!("{a:?}").contains("Mustermann"));
    }

    #[test]
    fn errors_name_the_line_not_the_content() {
        let text = "start,end,type\n\
                    2026-03-02T08:00:00Z,2026-03-02T08:30:00Z,CT\n\
                    Max Mustermann,2026-03-02T08:30:00Z,CT\n";
        let e = parse_csv(text, "s.csv").unwrap_err().to_string();
        assert!(e.starts_with("s.csv:3: column start"), "{e}");
        assert!(!e.contains("Mustermann"));
        let e = parse_csv("when,what\n", "s.csv").unwrap_err().to_string();
        assert!(e.contains("s.csv:1"), "{e}");
    }
}
