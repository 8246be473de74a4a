//! iCalendar parser and recurrence expansion: arbitrary bytes.
#![no_main]

use chrono::TimeZone;
use libfuzzer_sys::fuzz_target;
use planscale::schedule::{Options, ParseMode, SummaryRule, ics};

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let mut opts = Options::new(chrono_tz::Europe::Berlin);
    if sel & 1 != 0 {
        opts.mode = ParseMode::Strict;
    }
    if sel & 2 != 0 {
        let from = chrono::Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let to = chrono::Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap();
        opts.window = Some((from, to));
    }
    opts.location_as_resource = sel & 4 != 0;
    opts.summary_types = vec![SummaryRule {
        contains: "ct".into(),
        kind: "CT-SIM".into(),
    }];
    let _ = ics::parse(&text, "fuzz.ics", &opts);
});
