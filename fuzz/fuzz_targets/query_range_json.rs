//! Prometheus `query_range` JSON: the recording reader (`.json` recordings)
//! and the live client's answer decoder, on arbitrary bytes. The first byte
//! picks the HTTP status and the requested grid; neither parser may panic,
//! and what parses is well-formed.
#![no_main]

use chrono::DateTime;
use libfuzzer_sys::fuzz_target;
use planscale::recording::Recording;
use planscale::series::Grid;
use planscale::sources::http::Answer;
use planscale::sources::prometheus::parse_query_range;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let body = String::from_utf8_lossy(rest).into_owned();
    if let Ok(r) = Recording::parse_prometheus_json(&body, "fuzz.json", "value") {
        assert!(r.grid.len >= 1 && r.grid.step_secs >= 1, "{:?}", r.grid);
        assert!(r.columns.iter().all(|(_, v)| v.len() == r.grid.len));
    }
    let status = [200, 200, 400, 422, 503, 200, 500, 204][usize::from(sel & 7)];
    let step = [1, 15, 60, 300][usize::from((sel >> 3) & 3)];
    let len = [0, 1, 7, 100][usize::from(sel >> 6)];
    // 2026-03-02T00:00:00Z, the fixtures' first day.
    let start = DateTime::from_timestamp(1_772_409_600, 0).unwrap();
    let grid = Grid::new(start, step, len);
    let answer = Answer { status, body };
    if let Ok(series) = parse_query_range("http://prometheus:9090/api/v1/query_range", "q", answer, grid) {
        assert!(series.iter().all(|(_, v)| v.len() == len));
    }
});
