//! Appointments per local date and type.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use chrono_tz::Tz;
use serde::Serialize;

use super::Appointment;

/// How many appointments of one type start on one local date.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DayCount {
    /// The clinic's local date (`YYYY-MM-DD`).
    pub date: NaiveDate,
    #[serde(rename = "type")]
    pub kind: String,
    pub count: usize,
}

/// Count appointments by their local start date in `tz` and type, sorted by
/// date then type.
pub fn summarize(appointments: &[Appointment], tz: Tz) -> Vec<DayCount> {
    let mut counts: BTreeMap<(NaiveDate, &str), usize> = BTreeMap::new();
    for a in appointments {
        let day = a.start.with_timezone(&tz).date_naive();
        *counts.entry((day, a.kind.as_str())).or_default() += 1;
    }
    counts
        .into_iter()
        .map(|((date, kind), count)| DayCount {
            date,
            kind: kind.to_string(),
            count,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    #[test]
    fn counts_by_local_date() {
        let a = |h: u32, kind: &str| Appointment {
            start: Utc.with_ymd_and_hms(2026, 3, 1, h, 30, 0).unwrap(),
            end: Utc.with_ymd_and_hms(2026, 3, 1, h, 45, 0).unwrap(),
            kind: kind.into(),
            resource: None,
            booked_at: None,
        };
        // 23:30 UTC is already 2 March in Berlin.
        let s = summarize(
            &[a(8, "MR"), a(23, "CT"), a(9, "CT"), a(10, "CT")],
            chrono_tz::Europe::Berlin,
        );
        let got: Vec<(String, &str, usize)> = s
            .iter()
            .map(|d| (d.date.to_string(), d.kind.as_str(), d.count))
            .collect();
        assert_eq!(
            got,
            vec![
                ("2026-03-01".to_string(), "CT", 2),
                ("2026-03-01".to_string(), "MR", 1),
                ("2026-03-02".to_string(), "CT", 1)
            ]
        );
        assert_eq!(
            serde_json::to_string(&s[0]).unwrap(),
            r#"{"date":"2026-03-01","type":"CT","count":2}"#
        );
    }
}
