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

/// The policy's calendar in the horizon: the forecast from Saturday before
/// Easter Monday lists that Monday (a German public holiday) with its local
/// day in UTC, in the table and in JSON, and every model the engine scored.
#[test]
fn forecast_lists_the_closed_days_in_the_horizon_and_the_scored_models() {
    let at = Utc.with_ymd_and_hms(2026, 4, 4, 12, 0, 0).unwrap();
    let mut table = Vec::new();
    let args = |json| ForecastArgs {
        inputs: Default::default(),
        at: Some(at),
        json,
        out: None,
    };
    let r = run(&args(false), &mut table).expect("forecast");
    let dates: Vec<String> = r.closures.iter().map(|c| c.date.to_string()).collect();
    assert_eq!(dates, ["2026-04-06"], "{:?}", r.closures);
    assert_eq!(
        r.closures[0].start,
        Utc.with_ymd_and_hms(2026, 4, 5, 22, 0, 0).unwrap()
    );
    assert_eq!(
        r.closures[0].end,
        Utc.with_ymd_and_hms(2026, 4, 6, 22, 0, 0).unwrap()
    );
    let text = String::from_utf8(table).unwrap();
    assert!(
        text.contains(
            "closed in the horizon (Europe/Berlin): Mon 2026-04-06 (04-05 22:00 to 04-06 22:00 UTC)"
        ),
        "{text}"
    );
    assert!(r.candidates.len() > 1, "{:?}", r.candidates);
    assert_eq!(r.candidates[0].model, r.model);
    assert!(
        text.contains(&format!("backtest MAE per step: {} ", r.model)),
        "{text}"
    );
    let mut out = Vec::new();
    run(&args(true), &mut out).expect("forecast");
    let json: serde_json::Value = serde_json::from_slice(&out).expect("json");
    assert_eq!(json["closures"][0]["date"], "2026-04-06");
    assert_eq!(json["calendar_timezone"], "Europe/Berlin");
    assert_eq!(json["candidates"][0]["model"], r.model);
}
