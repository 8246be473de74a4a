//! FHIR Bundle parser: arbitrary bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use planscale::schedule::{Options, ParseMode, fhir};

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let mut opts = Options::new(chrono_tz::Europe::Berlin);
    if sel & 1 != 0 {
        opts.mode = ParseMode::Strict;
    }
    opts.type_map.insert("ct-sim".into(), "CT-SIM".into());
    let _ = fhir::parse_bundle(&text, "fuzz.json", &opts);
});
