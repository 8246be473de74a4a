//! Local wall time in the clinic's zone, and type names.

use chrono::{DateTime, LocalResult, NaiveDateTime, Offset, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;

/// The instant a local wall time in `tz` denotes.
///
/// Ambiguous times (the repeated hour when clocks go back) take the earlier
/// instant; times that do not exist (the hour skipped when clocks go forward)
/// are read with the offset in force before the gap, so 02:30 on a spring-
/// forward night becomes 03:30 local — the rule RFC 5545 §3.3.5 gives for
/// iCalendar. `None` only for dates chrono cannot represent.
pub fn local_to_utc(t: NaiveDateTime, tz: Tz) -> Option<DateTime<Utc>> {
    match tz.from_local_datetime(&t) {
        LocalResult::Single(d) => Some(d.with_timezone(&Utc)),
        LocalResult::Ambiguous(a, b) => Some(a.min(b).with_timezone(&Utc)),
        LocalResult::None => {
            let before = t.checked_sub_signed(TimeDelta::days(1))?;
            let offset = tz
                .from_local_datetime(&before)
                .earliest()?
                .offset()
                .fix()
                .local_minus_utc();
            let utc = t.checked_sub_signed(TimeDelta::seconds(i64::from(offset)))?;
            Some(Utc.from_utc_datetime(&utc))
        }
    }
}

/// The end of a local date in `tz` (midnight starting the next day): what a
/// date-only booking time means at the latest. `None` past chrono's range.
pub fn end_of_local_day(day: chrono::NaiveDate, tz: Tz) -> Option<DateTime<Utc>> {
    local_to_utc(day.succ_opt()?.and_hms_opt(0, 0, 0)?, tz)
}

/// The normal form of an appointment type: trimmed, upper-case ASCII, runs of
/// spaces, tabs and underscores replaced by one `-` (`" ct sim "` → `CT-SIM`,
/// `MR_SIM` → `MR-SIM`).
pub fn normalise_type(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut gap = false;
    for c in raw.trim().chars() {
        if c.is_whitespace() || c == '_' {
            gap = true;
            continue;
        }
        if gap && !out.is_empty() {
            out.push('-');
        }
        gap = false;
        out.extend(c.to_uppercase());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn local(y: i32, m: u32, d: u32, h: u32, min: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(y, m, d)
            .unwrap()
            .and_hms_opt(h, min, 0)
            .unwrap()
    }

    #[test]
    fn dst_gap_and_fold_in_berlin() {
        let tz = chrono_tz::Europe::Berlin;
        // Spring gap: 02:30 does not exist on 2026-03-29 → 03:30 CEST = 01:30Z.
        let t = local_to_utc(local(2026, 3, 29, 2, 30), tz).unwrap();
        assert_eq!(t.to_rfc3339(), "2026-03-29T01:30:00+00:00");
        // Autumn fold: 02:30 happens twice on 2026-10-25 → the first, CEST = 00:30Z.
        let t = local_to_utc(local(2026, 10, 25, 2, 30), tz).unwrap();
        assert_eq!(t.to_rfc3339(), "2026-10-25T00:30:00+00:00");
        let t = local_to_utc(local(2026, 7, 1, 7, 30), tz).unwrap();
        assert_eq!(t.to_rfc3339(), "2026-07-01T05:30:00+00:00");
        // The day clocks go forward ends at midnight CEST.
        let d = NaiveDate::from_ymd_opt(2026, 3, 29).unwrap();
        let end = end_of_local_day(d, tz).unwrap();
        assert_eq!(end.to_rfc3339(), "2026-03-29T22:00:00+00:00");
    }

    #[test]
    fn normalises_types() {
        assert_eq!(normalise_type(" ct  sim "), "CT-SIM");
        assert_eq!(normalise_type("MR_SIM"), "MR-SIM");
        assert_eq!(normalise_type("CT-SIM"), "CT-SIM");
        assert_eq!(normalise_type("  "), "");
    }
}
