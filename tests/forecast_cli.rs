//! `planscale forecast` on the bundled clinic example: the library function
//! behind the subcommand, as the binary calls it.

#[path = "support/document.rs"]
mod document;

use chrono::{TimeZone, Utc};
use planscale::cli::forecast::{ForecastArgs, run};

#[test]
fn forecasts_the_bundled_example_with_model_reason_and_replicas() {
    let args = ForecastArgs {
        inputs: Default::default(),
        at: Some(Utc.with_ymd_and_hms(2026, 4, 20, 6, 0, 0).unwrap()),
        json: true,
        out: None,
    };
    let mut out = Vec::new();
    let r = run(&args, &mut out).expect("forecast");
    // 48 hours at 5 minutes, summarised per hour.
    assert_eq!(r.point.len(), 576);
    assert_eq!(r.hours.len(), 48);
    assert!(!r.model.is_empty() && !r.why.is_empty(), "{r:?}");
    assert!(r.quantile.iter().zip(&r.point).all(|(q, p)| q >= p));
    // A Monday morning in working hours needs more than the night.
    let morning = r.hours[2].replicas;
    let night = r.hours[20].replicas;
    assert!(morning > night, "{morning} vs {night}");
    let json: serde_json::Value = serde_json::from_slice(&out).expect("json");
    assert_eq!(json["model"], r.model);
    assert!(json["desired_replicas"].as_u64().is_some());
}

#[test]
fn an_instant_outside_the_recording_is_a_clear_error() {
    let args = ForecastArgs {
        inputs: Default::default(),
        at: Some(Utc.with_ymd_and_hms(2020, 1, 1, 0, 0, 0).unwrap()),
        json: false,
        out: None,
    };
    let err = run(&args, &mut Vec::new()).unwrap_err();
    assert!(
        format!("{err:#}").contains("inside the recording"),
        "{err:#}"
    );
}

#[test]
fn out_draws_history_forecast_band_closed_hours_and_appointments_as_svg() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("forecast.svg");
    let args = ForecastArgs {
        inputs: Default::default(),
        at: Some(Utc.with_ymd_and_hms(2026, 4, 20, 6, 0, 0).unwrap()),
        json: false,
        out: Some(path.clone()),
    };
    let mut out = Vec::new();
    run(&args, &mut out).expect("forecast");
    assert!(String::from_utf8_lossy(&out).contains("wrote "));
    let svg = std::fs::read_to_string(&path).unwrap();
    document::well_formed(&svg, &[]).unwrap();
    assert_eq!(document::external_references(&svg), Vec::<String>::new());
    for legend in [
        "recorded demand (jobs/min)",
        "point forecast",
        "up to the p90 forecast",
        "no appointments booked",
        "booked appointment",
        "Europe/Berlin",
    ] {
        assert!(svg.contains(legend), "{legend} missing");
    }
    // The quantile band is a filled polygon in the band colour.
    assert!(svg.contains("<polygon") && svg.contains("fill=\"#B3DDF5\""));
}
