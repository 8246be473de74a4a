//! CSV schedule parser: arbitrary bytes, default and mapped columns.
#![no_main]

use libfuzzer_sys::fuzz_target;
use planscale::schedule::{CsvColumns, Options, ParseMode, parse_csv_with};

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let mut opts = Options::new(if sel & 1 == 0 {
        chrono_tz::Europe::Berlin
    } else {
        chrono_tz::America::New_York
    });
    if sel & 2 != 0 {
        opts.mode = ParseMode::Strict;
    }
    let cols = if sel & 4 == 0 {
        CsvColumns::default()
    } else {
        CsvColumns {
            start: "t".into(),
            end: None,
            duration: Some("d".into()),
            kind: "k".into(),
            resource: Some("r".into()),
            booked_at: None,
            date: Some("day".into()),
            format: Some("%d.%m.%Y %H:%M".into()),
            delimiter: ';',
        }
    };
    let _ = parse_csv_with(&text, "fuzz.csv", &opts, &cols);
});
