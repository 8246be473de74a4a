//! The policy's calendar from an iCalendar URL, against a loopback HTTP
//! server: fetched with the schedule's client, its closures merged into the
//! calendar the policy resolved at load, the last good closures kept while
//! the server fails, the static parts only while it never answered — and
//! neither the controller's logs nor `planscale forecast` ever show an
//! event's text (only counts, dates and the redacted URL).

mod schedule_common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use chrono::{NaiveDate, TimeDelta, TimeZone, Utc};
use planscale::controller::calendar::{CalendarFeed, CalendarUse};
use planscale::policy::Policy;
use planscale::sources::schedule_http::Http;
use schedule_common::{Route, TestServer, patient_text_in};

/// Closures as a hospital's calendar exports them: a yearly all-day event
/// from years back, a two-day works closure, a timed staff day, a
/// cancelled one; the texts are names the privacy check looks for.
const CLOSURES_ICS: &str = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\n\
BEGIN:VEVENT\r\nUID:founding\r\nSUMMARY:Kunigunde Fensterkitt memorial day\r\nDESCRIPTION:Leopoldine arrive early\r\nDTSTART;VALUE=DATE:20180421\r\nDTEND;VALUE=DATE:20180422\r\nRRULE:FREQ=YEARLY\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:works\r\nSUMMARY:Rhabarber works\r\nDTSTART;VALUE=DATE:20260506\r\nDTEND;VALUE=DATE:20260508\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:staff-day\r\nSUMMARY:Gottlieb staff day\r\nDTSTART;TZID=Europe/Berlin:20260312T090000\r\nDTEND;TZID=Europe/Berlin:20260312T160000\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:gone\r\nSTATUS:CANCELLED\r\nSUMMARY:Adalbert cancelled\r\nDTSTART;VALUE=DATE:20260313\r\nEND:VEVENT\r\n\
END:VCALENDAR\r\n";

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn server(status: u16) -> TestServer {
    TestServer::start(|_| {
        vec![Route {
            prefix: "/cal/".into(),
            status,
            body: if status == 200 {
                CLOSURES_ICS.into()
            } else {
                "unavailable".into()
            },
        }]
    })
}

fn policy(url: &str) -> Policy {
    let mut p = Policy::test();
    p.name = "dose".into();
    p.calendar = Some(
        serde_yaml::from_str(&format!(
            "timezone: Europe/Berlin\nhours: {{mon-fri: \"08:00-17:00\"}}\nholidays: [DE]\nclosures: [2026-03-20]\nsource: {{type: ics, url: '{url}', refresh: 10m, stale_after: 1h}}\n"
        ))
        .unwrap(),
    );
    assert!(p.resolve_calendar(std::path::Path::new(".")).is_empty());
    p
}

/// Log lines (text format, every level) written while `f` runs.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

#[tokio::test]
async fn a_calendar_url_is_merged_kept_while_down_and_never_logged_by_its_text() {
    let logs = Logs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let up = server(200);
    let url = format!("{}/cal/secret-token-4711/closures.ics", up.base);
    let p = policy(&url);
    let t0 = Utc.with_ymd_and_hms(2026, 3, 2, 8, 0, 0).unwrap();
    let mut feed = CalendarFeed::new(&p);
    assert_eq!(feed.refresh(&p, &Http, t0).await, CalendarUse::Fresh);
    let c = feed.calendar().unwrap().clone();
    // The yearly event in 2026 (a Tuesday), the works, the timed staff day;
    // the cancelled day and the days around stay open; the policy's own
    // closure and the region's holidays are still there.
    for s in [
        "2026-04-21",
        "2026-05-06",
        "2026-05-07",
        "2026-03-12",
        "2026-03-20",
        "2026-04-06",
    ] {
        assert!(c.is_exceptional_closure(d(s)), "{s}");
    }
    for s in ["2026-03-13", "2026-05-08", "2026-04-22"] {
        assert!(!c.is_exceptional_closure(d(s)), "{s}");
    }
    assert_eq!(up.requests().len(), 1);
    // Not due again within the refresh period: no request.
    feed.refresh(&p, &Http, t0 + TimeDelta::minutes(5)).await;
    assert_eq!(up.requests().len(), 1);
    drop(up);

    // The server answers 503 at the same address: the last good closures.
    let t1 = t0 + TimeDelta::hours(2);
    let down = server(503);
    let p_down = policy(&format!("{}/cal/secret-token-4711/closures.ics", down.base));
    let mut feed_down = feed.clone();
    assert_eq!(
        feed_down.refresh(&p_down, &Http, t1).await,
        CalendarUse::LastGood { since: t0 }
    );
    assert!(
        feed_down
            .calendar()
            .unwrap()
            .is_exceptional_closure(d("2026-04-21"))
    );

    // A feed that never answered: the static parts, said once.
    let mut fresh = CalendarFeed::new(&p_down);
    assert_eq!(
        fresh.refresh(&p_down, &Http, t1).await,
        CalendarUse::StaticOnly
    );
    assert_eq!(
        fresh
            .refresh(&p_down, &Http, t1 + TimeDelta::minutes(10))
            .await,
        CalendarUse::StaticOnly
    );
    let st = fresh.calendar().unwrap();
    assert!(
        st.is_exceptional_closure(d("2026-03-20")) && !st.is_exceptional_closure(d("2026-04-21"))
    );

    let text = logs.text();
    assert!(
        text.contains("calendar closures fetched") && text.contains("closed_dates=85"),
        "{text}"
    );
    assert!(
        text.contains("keeping the closures fetched at") && text.contains("policy=dose"),
        "{text}"
    );
    assert!(text.contains("stale"), "{text}");
    assert_eq!(
        text.matches("calendar source has not loaded").count(),
        1,
        "{text}"
    );
    assert!(
        !text.contains("secret-token"),
        "the URL's path is redacted: {text}"
    );
    assert_eq!(patient_text_in(&text), Vec::<&str>::new(), "{text}");
}

/// `planscale forecast` with a policy whose calendar is a URL: the feed's
/// closure in the horizon is listed; with every log at trace, nothing of the
/// events' text is printed.
#[test]
fn forecast_lists_a_fetched_closure_and_prints_no_event_text() {
    let up = server(200);
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    let schedule = root.join("examples/clinic/schedule.csv");
    let bundled = std::fs::read_to_string(root.join("policies/auto-contouring.yaml")).unwrap();
    let (head, _) = bundled.split_once("calendar:").unwrap();
    let text = format!(
        "{}calendar:\n  hours: {{ mon-fri: \"08:00-17:00\" }}\n  holidays: [DE]\n  source: {{ type: ics, url: '{}/cal/secret-token-4711/c.ics' }}\n",
        head.replace(
            "../examples/clinic/schedule.csv",
            &schedule.display().to_string()
        ),
        up.base
    );
    let policy = dir.path().join("p.yaml");
    std::fs::write(&policy, text).unwrap();
    for format in ["text", "json"] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_planscale"))
            .args(["forecast", "--at", "2026-04-20T06:00:00Z", "--policy"])
            .arg(&policy)
            .arg("--recording")
            .arg(root.join("examples/clinic/recording.csv"))
            .env("PLANSCALE_LOG", "trace")
            .env("PLANSCALE_LOG_FORMAT", format)
            .output()
            .unwrap();
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "{all}");
        assert!(
            all.contains("closed in the horizon (Europe/Berlin): Tue 2026-04-21"),
            "{all}"
        );
        assert_eq!(patient_text_in(&all), Vec::<&str>::new(), "{all}");
        assert!(!all.contains("secret-token"), "{all}");
    }
}
