//! Recording CSV parser: arbitrary bytes never panic; an error names the
//! file; what parses is well-formed and survives a write/parse round trip.
#![no_main]

use libfuzzer_sys::fuzz_target;
use planscale::recording::{Error, Recording};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match Recording::parse_csv(&text, "fuzz.csv") {
        Err(e) => {
            assert!(e.to_string().starts_with("fuzz.csv"), "{e}");
            if let Error::Line { line, .. } = e {
                assert!(line >= 1, "line 0 in {text:?}");
            }
        }
        Ok(r) => {
            assert!(r.grid.len >= 1 && r.grid.step_secs >= 1, "{:?}", r.grid);
            assert!(r.columns.iter().all(|(_, v)| v.len() == r.grid.len));
            // Writing and re-reading millions of rows would take most of the
            // run (27-38 s per input seen): round-trip the smaller ones.
            if r.grid.len > 100_000 {
                return;
            }
            let mut csv = Vec::new();
            r.write_csv(&mut csv).unwrap();
            let again = Recording::parse_csv(std::str::from_utf8(&csv).unwrap(), "again.csv")
                .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&csv)));
            assert_eq!(again.grid, r.grid);
            assert_eq!(again.names(), r.names());
            for ((_, a), (_, b)) in again.columns.iter().zip(&r.columns) {
                assert!(a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits()
                    || (x.is_nan() && y.is_nan())));
            }
        }
    }
});
